//! What the sections' tests share: keepalived.conf text in, the resolved
//! model and its warnings out, as the `--check` lines.

use std::net::SocketAddr;
use std::path::Path;

pub(super) use crate::config::Warning;
pub(super) use crate::config::{model, CheckKind, ConfigError, Dialect, DnsType, Model, VrrpState};
pub(super) use rvs_api::{Forward, Protocol, Request, ServiceKey};
pub(super) use std::time::Duration;

pub(super) fn parse(text: &str, dialect: Dialect) -> Result<(Model, Vec<Warning>), ConfigError> {
    crate::config::parse(text, Path::new("/nonexistent/test.conf"), dialect)
}

pub(super) fn parse_ok(text: &str, dialect: Dialect) -> (Model, Vec<Warning>) {
    parse(text, dialect).unwrap_or_else(|e| panic!("{e}"))
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
