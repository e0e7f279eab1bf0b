//! The scheduling and persistence tests' services (`scheduling.rs`,
//! `persistence.rs`): TCP, UDP and fwmark keys, scheduler and persistent
//! configurations, and a director with one TCP service.

use std::net::Ipv4Addr;

use rvs_api::{MarkRule, PortRange, Protocol, ServiceConfig, ServiceKey};
use rvs_dataplane::pipeline::ConnPolicy;

use super::director::{Director, Sent};
use super::{RS1, RS2, VIP};

pub fn tcp_svc(port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: (VIP, port).into(),
    }
}

pub fn udp_svc(port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: (VIP, port).into(),
    }
}

pub fn fwm(mark: u32) -> ServiceKey {
    ServiceKey::Fwmark { mark, ipv6: false }
}

pub fn sched(name: &str) -> ServiceConfig {
    ServiceConfig::new(name)
}

pub fn persistent(name: &str, timeout_s: u32) -> ServiceConfig {
    ServiceConfig {
        persistent_timeout_s: Some(timeout_s),
        ..ServiceConfig::new(name)
    }
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A director with `config` on TCP VIP:80 and dests added in `order`.
pub fn with_service(
    policy: ConnPolicy,
    config: ServiceConfig,
    order: &[(Ipv4Addr, u32)],
) -> Director {
    let mut d = Director::new(policy);
    d.add_service(tcp_svc(80), config);
    for &(rs, w) in order {
        d.add_dest(tcp_svc(80), rs, 80, w);
    }
    d
}

pub const V80: (Ipv4Addr, u16) = (VIP, 80);

/// A TCP mark rule: `mark` on `dst` (a prefix) and `ports`.
pub fn mark_rule(mark: u32, dst: &str, ports: &[u16]) -> MarkRule {
    MarkRule {
        mark,
        protocol: Some(Protocol::Tcp),
        dst: dst.parse().unwrap(),
        dst_ports: ports
            .iter()
            .map(|&p| PortRange { first: p, last: p })
            .collect(),
        src: None,
    }
}

/// rr over rs1 and rs2 (weight 1) on TCP VIP:80, and the client
/// 198.51.100.9 whose SYN from port 1000 at 1 s went to rs2.
pub fn rr_with_a_client(policy: ConnPolicy) -> (Director, Ipv4Addr) {
    let mut d = with_service(policy, sched("rr"), &[(RS1, 1), (RS2, 1)]);
    let a = ip("198.51.100.9");
    assert_eq!(d.syn(a, 1000, V80, 1), Sent::To(RS2));
    (d, a)
}
