//! What the sections' tests share: keepalived.conf text in, the resolved
//! model and its warnings out (all or nothing, as `config::parse`), and
//! the warnings as the lines `--check` prints.

use std::net::SocketAddr;
use std::path::Path;

pub(super) use crate::config::error::{ConfigError, Warning};
pub(super) use crate::config::model::{self, CheckKind, DnsType, Model, VrrpState};
pub(super) use rvs_api::{Forward, Protocol, Request, ServiceKey};
pub(super) use std::time::Duration;

use crate::config::draft::{Draft, Positions};
use crate::config::preprocess::Options;
use crate::config::resolve::resolve_items;

const PATH: &str = "/nonexistent/test.conf";

/// The draft resolved: the model, or the first error (the reader's, then
/// the resolver's).
fn resolved(
    (draft, pos): (Draft, Positions),
    mut warnings: Vec<Warning>,
    mut errors: Vec<ConfigError>,
) -> Result<(Model, Vec<Warning>), ConfigError> {
    let (model, more, bad) = resolve_items(&draft, &pos);
    warnings.extend(more);
    errors.extend(bad);
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok((model, warnings)),
    }
}

pub(super) fn parse(text: &str) -> Result<(Model, Vec<Warning>), ConfigError> {
    let (mut warnings, mut errors) = (Vec::new(), Vec::new());
    let read = super::parse_text(
        text,
        Path::new(PATH),
        &Options::default(),
        &mut warnings,
        &mut errors,
    )?;
    resolved(read, warnings, errors)
}

pub(super) fn parse_ok(text: &str) -> (Model, Vec<Warning>) {
    parse(text).unwrap_or_else(|e| panic!("{e}"))
}

/// rvs's TOML, for the round trip of what keepalived.conf gave.
pub(super) fn from_toml(text: &str) -> (Model, Vec<Warning>) {
    let read = crate::config::toml::parse(text, Path::new(PATH)).unwrap_or_else(|e| panic!("{e}"));
    resolved(read, Vec::new(), Vec::new()).unwrap_or_else(|e| panic!("{e}"))
}

/// Warnings as the lines `--check` prints.
pub(super) fn messages(w: &[Warning]) -> Vec<String> {
    w.iter().map(ToString::to_string).collect()
}

pub(super) fn sa(text: &str) -> SocketAddr {
    text.parse().expect("test address")
}

pub(super) fn udp(addr: &str) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: sa(addr),
    }
}
