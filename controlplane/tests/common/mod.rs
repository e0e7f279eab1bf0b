//! Helpers the configuration tests share (each test binary uses its own
//! part of them).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rvs_api::{Protocol, ServiceKey};
use rvs_controlplane::config::{self, ConfigError, Dialect, Model, Warning};

/// Warnings as the lines `--check` prints.
pub fn messages(w: &[Warning]) -> Vec<String> {
    w.iter().map(ToString::to_string).collect()
}

pub fn sa(text: &str) -> SocketAddr {
    text.parse().expect("test address")
}

pub fn tcp(addr: &str) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: sa(addr),
    }
}

pub fn udp(addr: &str) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: sa(addr),
    }
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

pub fn load(name: &str) -> (Model, Vec<Warning>) {
    match config::load(&fixture(name)) {
        Ok(x) => x,
        Err(e) => panic!("{name}: {e}"),
    }
}

/// `text` as a file named `/nonexistent/test.conf`, all or nothing.
pub fn parse(text: &str, dialect: Dialect) -> Result<(Model, Vec<Warning>), ConfigError> {
    config::parse(text, Path::new("/nonexistent/test.conf"), dialect)
}

pub fn parse_ok(text: &str, dialect: Dialect) -> (Model, Vec<Warning>) {
    parse(text, dialect).unwrap_or_else(|e| panic!("{e}"))
}
