//! Helpers the configuration tests share.

use std::net::SocketAddr;

use rvs_api::{Protocol, ServiceKey};
use rvs_controlplane::config::Warning;

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
