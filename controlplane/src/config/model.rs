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

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use rvs_api::{
    DestConfig, Forward, MarkRule, Prefix, Protocol, Request, ServiceConfig, ServiceKey, Timeouts,
    Tunnel,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::forms;

pub use rvs_api::{PERSISTENT_TIMEOUT_DEFAULT_S, PERSISTENT_TIMEOUT_MAX_S};
/// The largest real server weight keepalived takes.
pub const WEIGHT_MAX: u32 = i32::MAX as u32;
/// keepalived's scheduler when none is given (`IPVS_DEF_SCHED`).
pub const SCHEDULER_DEFAULT: &str = "wlc";
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Global {
    /// The node's name in alerts; keepalived uses the host name when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_email: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_email_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_server: Option<SmtpServer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_helo_name: Option<String>,
    #[serde(rename = "smtp_connect_timeout")]
    pub smtp_connect_timeout_s: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert_vrrp: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert_checker: Option<bool>,
    /// `lvs_timeouts`: `ipvsadm --set`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lvs_timeouts: Option<LvsTimeouts>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_interface: Option<String>,
    /// The top-level `SSL` block: the checkers' TLS context.
    #[serde(skip_serializing_if = "Option::is_none")]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncDaemon {
    pub interface: String,
    /// The VRRP instance whose state selects master or backup; without one
    /// both daemons run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The sync id; `None`: the instance's virtual_router_id (0 without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_id: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxlen: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ssl {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
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

/// One health checker of a dest, every timing resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub kind: CheckKind,
    /// The address probed; `None`: the dest's.
    pub connect_ip: Option<IpAddr>,
    /// The port probed; `None`: the dest's port in the dataplane (for a
    /// direct-routing or tunnelled dest of an address service, the
    /// service's port).
    pub connect_port: Option<u16>,
    /// `bindto`: the source address.
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    /// Firewall mark set on the probes.
    pub fwmark: Option<u32>,
    pub connect_timeout: Duration,
    /// Failures after the first before an up checker goes down.
    pub retry: u32,
    pub delay_before_retry: Duration,
    /// The interval between checks.
    pub delay_loop: Duration,
    /// The longest random delay before the first check.
    pub warmup: Duration,
    /// Start down until the first success.
    pub alpha: bool,
    pub log_all_failures: bool,
}

/// A checker and its own settings.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckKind {
    /// `TCP_CHECK`: up when a connection succeeds.
    Tcp,
    /// `HTTP_GET`.
    Http(HttpCheck),
    /// `SSL_GET`: HTTP over TLS.
    Ssl(HttpCheck),
    /// `MISC_CHECK`: a script's exit status.
    Misc(MiscCheck),
    /// `SMTP_CHECK`.
    Smtp(SmtpCheck),
    /// `DNS_CHECK`.
    Dns(DnsCheck),
    /// `PING_CHECK`: ICMP echo.
    Ping,
    /// `UDP_CHECK`.
    Udp(UdpCheck),
    /// An ldirectord negotiate check keepalived has no checker for.
    Negotiate(NegotiateCheck),
}

impl CheckKind {
    /// keepalived's keyword for this checker.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http(_) => "HTTP_GET",
            CheckKind::Ssl(_) => "SSL_GET",
            CheckKind::Misc(_) => "MISC_CHECK",
            CheckKind::Smtp(_) => "SMTP_CHECK",
            CheckKind::Dns(_) => "DNS_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::Udp(_) => "UDP_CHECK",
            CheckKind::Negotiate(_) => "NEGOTIATE_CHECK",
        }
    }
}

/// `HTTP_GET` / `SSL_GET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    /// At least one; all must pass.
    pub urls: Vec<Url>,
    pub http_protocol: HttpProtocol,
    /// The Host header (from the checker, else the real server, else the
    /// virtual server); `None`: the address.
    pub virtualhost: Option<String>,
    pub fast_recovery: bool,
    pub enable_sni: bool,
    pub sni_name: Option<String>,
    pub tls_compliant: bool,
}

/// A `url { }` block of an HTTP checker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Url {
    pub path: String,
    /// MD5 of the body, 32 lower-case hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Accepted statuses. keepalived's default (no status, digest nor
    /// regex given: 200-299) is filled in; empty: any status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_code: Vec<StatusRange>,
    /// The Host header for this URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// A regular expression the body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// HTTP statuses `first..=last` (100..599); one status has `first == last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatusRange {
    pub first: u16,
    pub last: u16,
}

impl StatusRange {
    /// keepalived's default: 200-299.
    pub const SUCCESS: StatusRange = StatusRange {
        first: 200,
        last: 299,
    };
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl FromStr for StatusRange {
    type Err = String;

    /// `NNN` or `NNN-MMM`, 100..599.
    fn from_str(s: &str) -> Result<Self, String> {
        let code = |t: &str| {
            t.parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| format!("'{s}' is not an HTTP status or range 100..599"))
        };
        let (first, last) = match s.split_once('-') {
            Some((a, b)) => (code(a)?, code(b)?),
            None => {
                let c = code(s)?;
                (c, c)
            }
        };
        if first > last {
            return Err(format!("status range '{s}' is empty"));
        }
        Ok(StatusRange { first, last })
    }
}

impl Serialize for StatusRange {
    /// One status as an integer, a range as `"300-399"`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.first == self.last {
            s.serialize_u16(self.first)
        } else {
            s.collect_str(self)
        }
    }
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StatusRange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status (200) or range (\"300-399\")")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StatusRange, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StatusRange, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StatusRange, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// `http_protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpProtocol {
    /// HTTP/1.0 (the default).
    #[default]
    #[serde(rename = "1.0")]
    Http10,
    /// HTTP/1.0 with `Connection: close`.
    #[serde(rename = "1.0C")]
    Http10Close,
    #[serde(rename = "1.1")]
    Http11,
}

/// `MISC_CHECK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiscCheck {
    /// `misc_path`: the command line.
    pub path: String,
    /// `misc_timeout` (default: the checker's delay_loop).
    pub timeout: Duration,
    /// `misc_dynamic`: exit 2..255 sets the weight to exit - 2.
    pub dynamic: bool,
    pub user: Option<String>,
}

/// `SMTP_CHECK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpCheck {
    /// `helo_name`; `None`: the host name.
    pub helo_name: Option<String>,
}

/// `DNS_CHECK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsCheck {
    /// `type` (default SOA).
    pub query_type: DnsType,
    /// `name` (default `.`).
    pub name: String,
}

/// The query type of a `DNS_CHECK`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsType {
    A,
    Ns,
    Cname,
    #[default]
    Soa,
    Mx,
    Txt,
    Aaaa,
}

impl FromStr for DnsType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "A" => DnsType::A,
            "NS" => DnsType::Ns,
            "CNAME" => DnsType::Cname,
            "SOA" => DnsType::Soa,
            "MX" => DnsType::Mx,
            "TXT" => DnsType::Txt,
            "AAAA" => DnsType::Aaaa,
            _ => {
                return Err(format!(
                    "'{s}' is not a DNS type (A NS CNAME SOA MX TXT AAAA)"
                ))
            }
        })
    }
}

/// `UDP_CHECK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpCheck {
    /// `payload`: hex digits.
    pub payload: Option<String>,
    /// `require_reply [HEX]`: hex digits with `x` nibble wildcards; `Some("")`
    /// requires any reply.
    pub require_reply: Option<String>,
    pub min_reply_length: u32,
    pub max_reply_length: u32,
}

/// An ldirectord `checktype=negotiate` check of a protocol keepalived has
/// no checker for (`service=ftp|pop|pops|imap|imaps|nntp|sip`, a DNS check
/// that compares `receive`, HTTP with `httpmethod=HEAD`); the probes are
/// [`crate::health::negotiate`]'s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegotiateCheck {
    pub service: NegotiateService,
    /// `login` (ftp, pop, imap; sip's OPTIONS URI); `None`: no login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// `passwd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passwd: Option<String>,
    /// `request`: the file an FTP check fetches, the name a DNS check asks
    /// for, the path of an HTTP check.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request: String,
    /// `receive`: a regular expression the answer must match; empty: none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub receive: String,
    /// Over UDP rather than TCP (sip, dns: the virtual service's protocol).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub udp: bool,
    /// The Host header of an HTTP check; `None`: the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
}

/// The protocol of a [`NegotiateCheck`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NegotiateService {
    Ftp,
    Pop,
    /// POP3 over TLS.
    Pops,
    Imap,
    /// IMAP over TLS.
    Imaps,
    Nntp,
    Sip,
    Dns,
    /// HTTP with the HEAD method.
    HttpHead,
    /// HTTPS with the HEAD method.
    HttpsHead,
}

impl NegotiateService {
    /// ldirectord's `service=` name.
    pub fn name(self) -> &'static str {
        match self {
            NegotiateService::Ftp => "ftp",
            NegotiateService::Pop => "pop",
            NegotiateService::Pops => "pops",
            NegotiateService::Imap => "imap",
            NegotiateService::Imaps => "imaps",
            NegotiateService::Nntp => "nntp",
            NegotiateService::Sip => "sip",
            NegotiateService::Dns => "dns",
            NegotiateService::HttpHead => "http",
            NegotiateService::HttpsHead => "https",
        }
    }
}

/// The dataplane's network settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Network {
    /// The director's own addresses, per dataplane port, beyond the one the
    /// dataplane's configuration gives it (`SetNetwork`: on the port's
    /// exception interface, and directly connected for the dataplane).
    pub addresses: Vec<PortAddress>,
    /// Static routes, for the dataplane and the kernel (`SetNetwork`).
    pub routes: Vec<Route>,
    /// FullNAT local address pools, by name.
    pub local_address_pools: Vec<LaddrPool>,
    /// Firewall-mark classifier rules, in match order.
    pub mark_rules: Vec<MarkRule>,
}

impl Network {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
            && self.routes.is_empty()
            && self.local_address_pools.is_empty()
            && self.mark_rules.is_empty()
    }

    /// The pool called `name`.
    pub fn pool(&self, name: &str) -> Option<&LaddrPool> {
        self.local_address_pools.iter().find(|p| p.name == name)
    }
}

/// An address of the director on a dataplane port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortAddress {
    /// The port's name (`[[ports]] name` of the dataplane's configuration).
    pub port: String,
    #[serde(with = "forms::as_str")]
    pub address: IfAddr,
}

/// A static route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(with = "forms::as_str")]
    pub dst: Prefix,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

/// A FullNAT local address pool (keepalived for DPVS: `local_address_group`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaddrPool {
    pub name: String,
    /// Ranges expanded, in order, no address twice.
    pub addresses: Vec<LocalAddress>,
}

/// One local address and the port it lives on (DPVS's `ADDR IFNAME`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LocalAddress {
    pub addr: IpAddr,
    pub port: Option<String>,
}

/// An interface address: `addr/prefix_len`, host bits kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for IfAddr {
    type Err = String;

    /// `ADDR[/LEN]`; no length is /32 (/128).
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("'{a}' is not an IP address"))?;
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match l {
            None => full,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= full)
                .ok_or_else(|| format!("'{l}' is not a prefix length 0..{full}"))?,
        };
        Ok(IfAddr { addr, prefix_len })
    }
}

/// VRRP: what `vrrp_script`, `vrrp_sync_group` and `vrrp_instance` say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vrrp {
    pub scripts: Vec<VrrpScript>,
    pub sync_groups: Vec<SyncGroup>,
    pub instances: Vec<VrrpInstance>,
}

impl Vrrp {
    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty() && self.sync_groups.is_empty() && self.instances.is_empty()
    }
}

/// `vrrp_script NAME { }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpScript {
    pub name: String,
    pub script: String,
    pub interval: Duration,
    /// Default: the interval.
    pub timeout: Duration,
    /// -253..253; 0 puts a tracking instance in FAULT while the script fails.
    pub weight: i32,
    pub reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub user: Option<String>,
    pub init_fail: bool,
}

/// `vrrp_sync_group NAME { }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncGroup {
    pub name: String,
    /// The member instances.
    #[serde(default)]
    pub group: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_master: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_fault: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_stop: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interface: Vec<Track>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_script: Vec<Track>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
}

/// A `track_interface` or `track_script` entry: `NAME [weight W [reverse]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Track {
    pub name: String,
    /// -253..253; `None`: the script's weight (for an interface: down puts
    /// the instance in FAULT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// The initial state of a VRRP instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VrrpState {
    Master,
    Backup,
}

/// `vrrp_instance NAME { }`, with keepalived's derivations applied:
/// priority and state from each other, the protocol version (the
/// instance's, else 3 for IPv6 addresses, else the global one),
/// `advert_int` rounded for that version, authentication dropped where
/// keepalived ignores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpInstance {
    pub name: String,
    pub state: VrrpState,
    pub interface: Option<String>,
    pub virtual_router_id: u8,
    pub priority: u8,
    /// The advertisement interval in centiseconds: whole seconds for v2
    /// (100..=25500), up to 4095 for v3.
    pub advert_int_cs: u32,
    pub version: u8,
    pub nopreempt: bool,
    pub preempt_delay: Duration,
    pub authentication: Option<Auth>,
    pub virtual_ipaddress: Vec<VirtualIp>,
    pub virtual_ipaddress_excluded: Vec<VirtualIp>,
    pub track_interface: Vec<Track>,
    pub track_script: Vec<Track>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    pub notify_stop: Option<String>,
    pub notify: Option<String>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peer: Vec<UnicastPeer>,
    pub mcast_src_ip: Option<IpAddr>,
    pub garp_master_delay_s: u32,
    pub garp_master_repeat: u32,
    pub garp_master_refresh_s: u32,
    pub dont_track_primary: bool,
    /// `accept` / `no_accept` (default: accept unless `vrrp_strict`).
    pub accept: bool,
    pub smtp_alert: Option<bool>,
}

/// `authentication { auth_type PASS|AH auth_pass STRING }` (VRRPv2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    #[serde(rename = "type")]
    pub kind: AuthType,
    /// At most 8 characters (what goes on the wire).
    pub pass: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthType {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "AH")]
    Ah,
}

/// A `virtual_ipaddress` line: `ADDR[/LEN] [brd ADDR] [dev IF] [scope S]
/// [label IF:TAG]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualIp {
    #[serde(with = "forms::as_str")]
    pub address: IfAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brd: Option<IpAddr>,
    /// Default: the instance's interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A `unicast_peer` line: `ADDR [min_ttl N] [max_ttl N]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnicastPeer {
    pub address: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ttl: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl: Option<u8>,
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
            let p = match protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            format!("[{}]:{p}:{}", addr.ip(), addr.port())
        }
        ServiceKey::Fwmark { mark, ipv6: false } => format!("FWM {mark}"),
        ServiceKey::Fwmark { mark, ipv6: true } => format!("FWM {mark} (inet6)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges_parse_and_print() {
        assert_eq!(
            "300-399".parse::<StatusRange>().unwrap(),
            StatusRange {
                first: 300,
                last: 399
            }
        );
        assert_eq!("200".parse::<StatusRange>().unwrap().to_string(), "200");
        for bad in ["99", "600", "400-300", "x", "200-"] {
            assert!(bad.parse::<StatusRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn interface_addresses_keep_host_bits() {
        let a: IfAddr = "192.168.10.100/24".parse().unwrap();
        assert_eq!(a.to_string(), "192.168.10.100/24");
        assert_eq!("10.0.0.1".parse::<IfAddr>().unwrap().prefix_len, 32);
        assert_eq!("2001:db8::1".parse::<IfAddr>().unwrap().prefix_len, 128);
        assert!("10.0.0.1/33".parse::<IfAddr>().is_err());
    }

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
