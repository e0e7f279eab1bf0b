//! The validated model of a director's desired state, whatever dialect it
//! was written in, and the admin requests that create it.
//!
//! Contract:
//! - every value is resolved: defaults are filled in and inherited values
//!   copied down (keepalived's `virtual_server` → `real_server` → checker
//!   chain), so a consumer never re-implements an inheritance rule;
//! - the invariants [`super::resolve`] checks hold: a service has at least
//!   one key (exactly one unless it came from a group) and at least one
//!   dest; its address keys share one protocol; all its keys share one
//!   address family; no key belongs to two services; no dest appears twice
//!   in a service; a dest's family is its service's unless it is tunnelled;
//!   `laddr_pool` names a pool of [`Network::local_address_pools`];
//! - [`Model::requests`] is pure: the requests that build this state on an
//!   empty dataplane, in order, as keepalived would at start-up with every
//!   checker in its initial state (up, or down with `alpha`).
//!
//! Vocabulary (IPVS's, see ARCHITECTURE.md): a *service* is keepalived's
//! `virtual_server` (one per key: a group gives several), a *dest* its
//! `real_server`, *forward* its `lb_kind`, *scheduler* its `lb_algo`, a
//! *check* one of a real server's checker blocks.
//!
//! The services, dests and globals are here; a dest's checks in `check`,
//! the network (addresses, routes, local address pools) in `network`,
//! VRRP in `vrrp`, all re-exported from here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rvs_api::{
    DestConfig, Forward, Protocol, Request, ServiceConfig, ServiceKey, Timeouts, Tunnel,
};
use serde::{Deserialize, Serialize};

use super::forms;

pub use rvs_api::{PERSISTENT_TIMEOUT_DEFAULT_S, PERSISTENT_TIMEOUT_MAX_S};

mod check;
mod network;
mod vrrp;

pub use check::{
    Check, CheckKind, DnsCheck, DnsType, HttpCheck, HttpProtocol, MiscCheck, NegotiateCheck,
    NegotiateService, SmtpCheck, StatusRange, UdpCheck, Url,
};
pub use network::{IfAddr, LaddrPool, LocalAddress, Network, PortAddress, Route};
pub use vrrp::{
    Auth, AuthType, SyncGroup, Track, UnicastPeer, VirtualIp, Vrrp, VrrpInstance, VrrpScript,
    VrrpState,
};

/// The largest real server weight keepalived takes.
pub const WEIGHT_MAX: u32 = i32::MAX as u32;
/// keepalived's scheduler when none is given (`IPVS_DEF_SCHED`).
pub use rvs_api::SCHEDULER_DEFAULT;
/// The schedulers keepalived's `lb_algo` accepts.
pub const SCHEDULERS: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
];
/// A checker's interval when none is given (`KEEPALIVED_DEFAULT_DELAY`).
pub const DELAY_LOOP_DEFAULT: Duration = Duration::from_secs(60);
/// A checker's connect timeout when none is given.
pub const CONNECT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);

/// A director's desired state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    pub global: Global,
    /// Services in the order they were written.
    pub services: Vec<Service>,
    /// The dataplane's network settings (native dialect; keepalived for
    /// DPVS gives local address pools).
    pub network: Network,
    /// VRRP instances, sync groups and scripts, for the VRRP engine.
    pub vrrp: Vrrp,
    /// Routes announced through BIRD ([`crate::bgp`]).
    pub bgp: Option<super::bgp::Bgp>,
    /// A `bgp` block was left out in error: a reload keeps the running
    /// one rather than withdraw every VIP over a typo.
    pub bgp_in_error: bool,
}

impl Model {
    /// The admin requests that create this state on an empty dataplane:
    /// `SetTimeouts` (when `lvs_timeouts` is given), the classifier rules in
    /// order, then per service key `AddService`, its dests' `AddDest` and its
    /// pool's `AddLaddr`. Dests are added as keepalived adds them at
    /// start-up: a dest with `alpha` starts down (not added, or added with
    /// weight 0 when it has `inhibit_on_failure`); when the live weight is
    /// below `quorum + hysteresis` and there is a sorry server, the sorry
    /// server is added instead of the dests (inhibited dests stay, weight 0).
    /// Direct-routing and tunnelled dests of an address service take its
    /// port, as ipvsadm gives them: they cannot map ports.
    pub fn requests(&self) -> Vec<Request> {
        self.requests_with(&StartingHealth(self))
    }

    /// The requests that build this model's state from nothing with the
    /// dests' health as `health` says (up or down, and their weights) and
    /// each service's quorum: a dest that is down is left out, or kept at
    /// weight 0 with `inhibit_on_failure`; a service without quorum that
    /// has a sorry server gets it instead of its real servers.
    pub fn requests_with(&self, health: &dyn HealthView) -> Vec<Request> {
        let mut out = Vec::new();
        if let Some(t) = self.global.lvs_timeouts {
            out.push(Request::SetTimeouts(Timeouts {
                tcp_s: t.tcp_s,
                tcpfin_s: t.tcpfin_s,
                udp_s: t.udp_s,
            }));
        }
        out.push(Request::SetNetwork(rvs_api::Network {
            addresses: self
                .network
                .addresses
                .iter()
                .map(|a| rvs_api::NetAddress {
                    port: a.port.clone(),
                    addr: a.address.addr,
                    prefix_len: a.address.prefix_len,
                })
                .collect(),
            routes: self
                .network
                .routes
                .iter()
                .map(|r| rvs_api::NetRoute {
                    dst: r.dst,
                    via: r.via,
                    port: r.port.clone(),
                })
                .collect(),
        }));
        for rule in &self.network.mark_rules {
            out.push(Request::AddMarkRule(rule.clone()));
        }
        for (si, service) in self.services.iter().enumerate() {
            let pool = service
                .laddr_pool
                .as_deref()
                .and_then(|name| self.network.pool(name));
            for key in &service.keys {
                out.push(Request::AddService {
                    key: *key,
                    config: service.service_config(),
                });
                let quorum = health.quorum(si);
                for dest in service.dests_with(key, &|j| health.dest(si, j), quorum) {
                    out.push(Request::AddDest {
                        service: *key,
                        dest,
                    });
                }
                for laddr in pool.iter().flat_map(|p| &p.addresses) {
                    out.push(Request::AddLaddr {
                        service: *key,
                        addr: laddr.addr,
                    });
                }
            }
        }
        out
    }
}

/// The health of a model's dests and services, as the requests see it.
pub trait HealthView {
    /// Dest `dest` of service `service`: (up, its weight when up).
    fn dest(&self, service: usize, dest: usize) -> (bool, u32);
    /// Whether service `service` has its quorum.
    fn quorum(&self, service: usize) -> bool;
}

/// The health a model starts with: `alpha` dests down, the others up.
struct StartingHealth<'a>(&'a Model);

impl HealthView for StartingHealth<'_> {
    fn dest(&self, service: usize, dest: usize) -> (bool, u32) {
        let d = &self.0.services[service].dests[dest];
        (d.starts_up(), d.weight)
    }

    fn quorum(&self, service: usize) -> bool {
        self.0.services[service].starts_with_quorum()
    }
}

/// `global_defs`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Global {
    /// The node's name in alerts; keepalived uses the host name when absent.
    pub router_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<SmtpServer>,
    pub smtp_helo_name: Option<String>,
    #[serde(rename = "smtp_connect_timeout")]
    pub smtp_connect_timeout_s: u32,
    pub smtp_alert: Option<bool>,
    pub smtp_alert_vrrp: Option<bool>,
    pub smtp_alert_checker: Option<bool>,
    /// `lvs_timeouts`: `ipvsadm --set`.
    pub lvs_timeouts: Option<LvsTimeouts>,
    pub lvs_sync_daemon: Option<SyncDaemon>,
    /// Flush the dataplane's services at start.
    pub lvs_flush: bool,
    pub lvs_flush_on_stop: FlushOnStop,
    pub vrrp_version: u8,
    pub vrrp_mcast_group4: Ipv4Addr,
    pub vrrp_mcast_group6: Ipv6Addr,
    #[serde(rename = "vrrp_garp_master_delay")]
    pub vrrp_garp_master_delay_s: u32,
    pub vrrp_garp_master_repeat: u32,
    #[serde(rename = "vrrp_garp_master_refresh")]
    pub vrrp_garp_master_refresh_s: u32,
    #[serde(with = "forms::secs")]
    pub vrrp_garp_interval: Duration,
    #[serde(with = "forms::secs")]
    pub vrrp_gna_interval: Duration,
    pub vrrp_min_garp: bool,
    pub vrrp_strict: bool,
    pub vrrp_skip_check_adv_addr: bool,
    pub vrrp_check_unicast_src: bool,
    pub enable_script_security: bool,
    /// `USER [GROUP]`.
    pub script_user: Option<String>,
    pub default_interface: Option<String>,
    /// The top-level `SSL` block: the checkers' TLS context.
    pub ssl: Option<Ssl>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            router_id: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout_s: 30,
            smtp_alert: None,
            smtp_alert_vrrp: None,
            smtp_alert_checker: None,
            lvs_timeouts: None,
            lvs_sync_daemon: None,
            lvs_flush: false,
            lvs_flush_on_stop: FlushOnStop::No,
            vrrp_version: 2,
            vrrp_mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            vrrp_mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            vrrp_garp_master_delay_s: 5,
            vrrp_garp_master_repeat: 5,
            vrrp_garp_master_refresh_s: 0,
            vrrp_garp_interval: Duration::ZERO,
            vrrp_gna_interval: Duration::ZERO,
            vrrp_min_garp: false,
            vrrp_strict: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_check_unicast_src: false,
            enable_script_security: false,
            script_user: None,
            default_interface: None,
            ssl: None,
        }
    }
}

/// `smtp_server IP-or-name [PORT]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpServer {
    pub host: String,
    #[serde(default = "smtp_port")]
    pub port: u16,
}

fn smtp_port() -> u16 {
    25
}

/// `lvs_timeouts [tcp S] [tcpfin S] [udp S]`: seconds, 0 leaves that one as
/// the dataplane has it (ipvsadm `--set`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LvsTimeouts {
    #[serde(rename = "tcp", skip_serializing_if = "is_zero")]
    pub tcp_s: u32,
    #[serde(rename = "tcpfin", skip_serializing_if = "is_zero")]
    pub tcpfin_s: u32,
    #[serde(rename = "udp", skip_serializing_if = "is_zero")]
    pub udp_s: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// `lvs_sync_daemon IFNAME [inst VRRP_INSTANCE] [id 0..255] [maxlen N]
/// [port N] [ttl N] [group ADDR]`, kept for the connection-sync work.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncDaemon {
    pub interface: String,
    /// The VRRP instance whose state selects master or backup; without one
    /// both daemons run.
    pub instance: Option<String>,
    /// The sync id; `None`: the instance's virtual_router_id (0 without one).
    pub sync_id: Option<u8>,
    pub maxlen: Option<u16>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
}

/// `lvs_flush_on_stop [VS]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlushOnStop {
    #[default]
    No,
    /// Flush every service.
    All,
    /// Flush only the services this configuration made.
    Vs,
}

/// The `SSL` block.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ssl {
    pub password: Option<String>,
    pub ca: Option<String>,
    pub certificate: Option<String>,
    pub key: Option<String>,
}

/// A virtual service: keepalived's `virtual_server`, with the service
/// settings of every key it stands for and the dests they share.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// The `virtual_server_group` this service was written as; `keys` are
    /// then its members, ranges expanded.
    pub group: Option<String>,
    /// The IPVS services this one creates: one, or a group's members.
    pub keys: Vec<ServiceKey>,
    /// `lb_algo` / `lvs_sched`.
    pub scheduler: String,
    /// Scheduler flags by the names ipvsadm gives them for `scheduler`
    /// (`sh-fallback`, `mh-port`, `flag-3` ...), in bit order.
    pub sched_flags: Vec<String>,
    /// `ops`: one-packet scheduling (UDP and firewall-mark services).
    pub one_packet: bool,
    /// `persistence_timeout`; `None`: not persistent.
    pub persistence_timeout_s: Option<u32>,
    /// `persistence_granularity` as `ServiceConfig::netmask` has it: for
    /// IPv4 the mask (host order), for IPv6 the prefix length.
    pub persistence_netmask: Option<u32>,
    pub persistence_engine: Option<String>,
    /// FullNAT dests send the client's address as a PROXY v2 header (an rvs
    /// extension, native dialect).
    pub proxy_protocol: bool,
    /// `sloppy_tcp` (an rvs extension): mid-connection TCP packets without
    /// an entry are adopted whatever the scheduler (decision 45).
    pub sloppy_tcp: bool,
    /// `syn_proxy` (keepalived.conf) / `synproxy` (TOML): the director's
    /// SYN proxy for NAT and FullNAT dests (an rvs extension, DPVS's
    /// `synproxy`).
    pub synproxy: bool,
    /// `laddr_group_name`: the FullNAT local address pool.
    pub laddr_pool: Option<String>,
    /// `lb_kind` / `lvs_method`: the default of the dests (each has its own).
    pub forward: Forward,
    pub tunnel: Tunnel,
    /// `delay_loop`: the checkers' default interval (each check has its own).
    pub delay_loop: Duration,
    /// `alpha`: the dests' default (each dest has its own).
    pub alpha: bool,
    /// `omega`: run the quorum_down and notify_down scripts at shutdown.
    pub omega: bool,
    /// `inhibit_on_failure`: the dests' default (each dest has its own).
    pub inhibit_on_failure: bool,
    /// `ha_suspend`: checkers pause while the VIP is not local.
    pub ha_suspend: bool,
    /// Live weight needed to keep the dests in (clamped to their weights' sum).
    pub quorum: u32,
    /// At most `quorum - 1`.
    pub hysteresis: u32,
    pub quorum_up: Option<String>,
    pub quorum_down: Option<String>,
    pub smtp_alert: bool,
    pub sorry_server: Option<SorryServer>,
    pub dests: Vec<Dest>,
    /// `bgp_community`: added to the communities of this service's VIPs.
    pub bgp_communities: Vec<super::bgp::Community>,
}

impl Service {
    /// The settings of each of this service's keys.
    pub fn service_config(&self) -> ServiceConfig {
        ServiceConfig {
            scheduler: self.scheduler.clone(),
            persistent_timeout_s: self.persistence_timeout_s,
            netmask: self.persistence_netmask,
            sched_flags: self.sched_flags.clone(),
            one_packet: self.one_packet,
            persistence_engine: self.persistence_engine.clone(),
            proxy_protocol: self.proxy_protocol,
            sloppy_tcp: self.sloppy_tcp,
            synproxy: self.synproxy,
        }
    }

    /// Whether the service starts with quorum (keepalived: the live weight
    /// is at least `quorum + hysteresis`).
    pub fn starts_with_quorum(&self) -> bool {
        let live: u64 = self
            .dests
            .iter()
            .filter(|d| d.starts_up())
            .map(|d| u64::from(d.weight))
            .sum();
        live >= u64::from(self.quorum) + u64::from(self.hysteresis)
    }

    /// The dests of `key` when dest `j` is `health(j)` = (up, weight when
    /// up) and the service has `quorum` or not. Without quorum, a sorry
    /// server takes the real servers' place (they go, or stay at weight 0
    /// with `inhibit_on_failure`); with it, the sorry server is absent, or
    /// at weight 0 with `sorry_server_inhibit`.
    pub fn dests_with(
        &self,
        key: &ServiceKey,
        health: &dyn Fn(usize) -> (bool, u32),
        quorum: bool,
    ) -> Vec<DestConfig> {
        let sorry = self.sorry_server.as_ref().filter(|_| !quorum);
        let out: Vec<DestConfig> = self
            .dests
            .iter()
            .enumerate()
            .filter_map(|(j, d)| {
                let (alive, live_weight) = health(j);
                let up = alive && sorry.is_none();
                let weight = if up {
                    live_weight
                } else if d.inhibit_on_failure {
                    0
                } else {
                    return None;
                };
                Some(DestConfig {
                    addr: dest_addr(key, d.addr, d.forward),
                    forward: d.forward,
                    weight,
                    u_threshold: d.u_threshold,
                    l_threshold: d.l_threshold,
                    tunnel: d.tunnel,
                })
            })
            .collect();
        // Real servers that are one dest for the dataplane (DR or TUN ones
        // that differ in port only): one dest, their weights added up, as
        // the kernel's two dests share the traffic.
        let mut merged: Vec<DestConfig> = Vec::with_capacity(out.len());
        for d in out {
            match merged.iter_mut().find(|m| m.addr == d.addr) {
                Some(m) => m.weight = m.weight.saturating_add(d.weight).min(WEIGHT_MAX),
                None => merged.push(d),
            }
        }
        let mut out = merged;
        let sorry_weight = match (&self.sorry_server, sorry) {
            (Some(_), Some(_)) => Some(1),
            (Some(s), None) if s.inhibit => Some(0),
            _ => None,
        };
        if let (Some(s), Some(weight)) = (&self.sorry_server, sorry_weight) {
            // A sorry server that is also a real server stays one dest; in
            // service, the sorry server's weight wins (an inhibited real
            // server at weight 0 would black-hole the service).
            let addr = dest_addr(key, s.addr, s.forward);
            if let Some(d) = out.iter_mut().find(|d| d.addr == addr) {
                if sorry.is_some() {
                    d.weight = weight;
                }
            } else {
                out.push(DestConfig {
                    addr,
                    forward: s.forward,
                    weight,
                    u_threshold: 0,
                    l_threshold: 0,
                    tunnel: s.tunnel,
                });
            }
        }
        out
    }
}

/// The address a dest is given in `key`'s service: direct routing and
/// tunnelling cannot map ports, so an address service's port.
pub fn dest_addr(key: &ServiceKey, addr: SocketAddr, forward: Forward) -> SocketAddr {
    match key {
        ServiceKey::Inet { addr: vip, .. }
            if matches!(forward, Forward::Route | Forward::Tunnel) =>
        {
            SocketAddr::new(addr.ip(), vip.port())
        }
        _ => addr,
    }
}

/// `sorry_server IP [PORT]` and its `sorry_server_*` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SorryServer {
    pub addr: SocketAddr,
    pub forward: Forward,
    pub tunnel: Tunnel,
    /// `sorry_server_inhibit`: set to weight 0 instead of removed when the
    /// quorum is back.
    pub inhibit: bool,
}

/// A real server of a service.
#[derive(Clone, Debug, PartialEq)]
pub struct Dest {
    /// As written; port 0 when none was given.
    pub addr: SocketAddr,
    pub forward: Forward,
    pub tunnel: Tunnel,
    /// 0..=[`WEIGHT_MAX`].
    pub weight: u32,
    /// On failure set weight 0 instead of deleting the dest (health-check
    /// time behaviour).
    pub inhibit_on_failure: bool,
    /// `uthreshold` (ipvsadm `-x`), 0 = none.
    pub u_threshold: u32,
    /// `lthreshold` (ipvsadm `-y`), 0 = none.
    pub l_threshold: u32,
    /// Start down until the first successful check.
    pub alpha: bool,
    pub notify_up: Option<String>,
    pub notify_down: Option<String>,
    pub smtp_alert: bool,
    /// All must be up for the dest to be up; none: always up.
    pub checks: Vec<Check>,
}

impl Dest {
    /// Whether the dest is up at start-up: no checks, or none with `alpha`.
    pub fn starts_up(&self) -> bool {
        !self.checks.iter().any(|c| c.alpha)
    }
}

/// The protocol of an address key.
pub fn key_protocol(key: &ServiceKey) -> Option<Protocol> {
    match key {
        ServiceKey::Inet { protocol, .. } => Some(*protocol),
        ServiceKey::Fwmark { .. } => None,
    }
}

/// A key as keepalived names a virtual server in its messages:
/// `[192.168.10.100]:tcp:80`, `FWM 7`.
pub fn key_text(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Inet { protocol, addr } => {
            format!("[{}]:{}:{}", addr.ip(), protocol.name(), addr.port())
        }
        ServiceKey::Fwmark { mark, ipv6: false } => format!("FWM {mark}"),
        ServiceKey::Fwmark { mark, ipv6: true } => format!("FWM {mark} (inet6)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_routing_dests_take_the_service_port() {
        let key = ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr: "192.168.10.100:53".parse().unwrap(),
        };
        let rs: SocketAddr = "192.168.10.21:0".parse().unwrap();
        assert_eq!(dest_addr(&key, rs, Forward::Route).port(), 53);
        assert_eq!(dest_addr(&key, rs, Forward::Masq).port(), 0);
        let mark = ServiceKey::Fwmark {
            mark: 7,
            ipv6: false,
        };
        assert_eq!(dest_addr(&mark, rs, Forward::Route).port(), 0);
    }
}
