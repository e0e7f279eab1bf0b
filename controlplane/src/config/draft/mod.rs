//! A configuration as written, whatever its dialect: every setting that
//! has a default or inherits one is optional. The keepalived and ldirectord
//! parsers build a [`Draft`]; its serde form *is* the native TOML format
//! (documented in `configs/rvs.toml`); [`super::resolve`] turns it into the
//! [`super::Model`].
//!
//! Contract: values are checked where they are read (an address is an
//! address, a weight is in range); relations between values (inheritance,
//! defaults, duplicates, references by name) are [`super::resolve`]'s.
//!
//! The items (services, dests, groups) are here; the values they are
//! written with in `values`, checkers in `check`, the network in
//! `network`, VRRP in `vrrp`, the positions in `positions`, all
//! re-exported from here.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::forms;
use super::model::Global;

mod check;
mod network;
mod positions;
mod values;
mod vrrp;

pub use check::{CheckDraft, CheckKindName};
pub use network::{LaddrRange, MarkRuleDraft, NetworkDraft, PoolDraft};
pub use positions::{Locus, Positions};
use values::is_default;
pub use values::{
    parse_port, parse_range, AddrPort, CsumName, Family, ForwardName, Granularity, GroupMember,
    Method, ProtocolName, TunnelDraft, TunnelKindName, RANGE_ADDRS_MAX,
};
pub use vrrp::{VrrpDraft, VrrpInstanceDraft, VrrpScriptDraft};

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    #[serde(default, skip_serializing_if = "is_default")]
    pub global: Global,
    #[serde(default, skip_serializing_if = "NetworkDraft::is_empty")]
    pub network: NetworkDraft,
    /// `virtual_server_group`s.
    #[serde(
        default,
        rename = "service_group",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<GroupDraft>,
    /// `virtual_server`s.
    #[serde(default, rename = "service", skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceDraft>,
    #[serde(default, skip_serializing_if = "VrrpDraft::is_empty")]
    pub vrrp: VrrpDraft,
    /// `bgp { ... }` / `[bgp]`: routes announced through BIRD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<super::bgp::Bgp>,
    /// A `bgp` block was left out in error (keepalived.conf).
    #[serde(skip)]
    pub bgp_in_error: bool,
}

/// `virtual_server_group NAME { ... }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDraft {
    pub name: String,
    #[serde(default, with = "forms::as_str_vec")]
    pub members: Vec<GroupMember>,
}

/// `virtual_server`: the service and its defaults for its dests.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDraft {
    /// `virtual_server IP PORT`: exactly one of `address`, `fwmark`, `group`.
    #[serde(default, with = "forms::as_str_opt")]
    pub address: Option<AddrPort>,
    pub fwmark: Option<u32>,
    pub group: Option<String>,
    pub protocol: Option<ProtocolName>,
    pub ip_family: Option<Family>,
    pub scheduler: Option<String>,
    /// By name: `flag-1`..`flag-3`, `sh-fallback`, `sh-port`, `mh-fallback`,
    /// `mh-port` (an `sh-`/`mh-` flag is its scheduler's `flag-1`/`flag-2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sched_flags: Vec<String>,
    pub one_packet: Option<bool>,
    pub forward: Option<ForwardName>,
    pub tunnel: Option<TunnelDraft>,
    pub persistence_timeout: Option<u32>,
    pub persistence_netmask: Option<Granularity>,
    pub persistence_engine: Option<String>,
    pub proxy_protocol: Option<bool>,
    /// `sloppy_tcp` (an rvs extension): IPVS's sysctl for this service.
    pub sloppy_tcp: Option<bool>,
    pub synproxy: Option<bool>,
    pub laddr_pool: Option<String>,
    #[serde(default, with = "forms::secs_opt")]
    pub delay_loop: Option<Duration>,
    #[serde(default, with = "forms::secs_opt")]
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    #[serde(default, with = "forms::secs_opt")]
    pub delay_before_retry: Option<Duration>,
    #[serde(default, with = "forms::secs_opt")]
    pub warmup: Option<Duration>,
    pub alpha: Option<bool>,
    pub omega: Option<bool>,
    pub inhibit_on_failure: Option<bool>,
    pub ha_suspend: Option<bool>,
    pub quorum: Option<u32>,
    pub hysteresis: Option<u32>,
    pub quorum_up: Option<String>,
    pub quorum_down: Option<String>,
    pub virtualhost: Option<String>,
    /// The default weight of the dests.
    pub weight: Option<u32>,
    pub smtp_alert: Option<bool>,
    pub sorry_server: Option<SorryDraft>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dest: Vec<DestDraft>,
    /// `bgp_community`: added to the communities of this service's VIPs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bgp_communities: Vec<super::bgp::Community>,
}

/// `sorry_server IP [PORT]` + `sorry_server_inhibit` + `sorry_server_lvs_method`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SorryDraft {
    #[serde(with = "forms::as_str")]
    pub address: AddrPort,
    pub forward: Option<ForwardName>,
    pub tunnel: Option<TunnelDraft>,
    pub inhibit: Option<bool>,
}

/// `real_server IP [PORT] { ... }`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestDraft {
    #[serde(with = "forms::as_str")]
    pub address: AddrPort,
    pub forward: Option<ForwardName>,
    pub tunnel: Option<TunnelDraft>,
    pub weight: Option<u32>,
    pub inhibit_on_failure: Option<bool>,
    pub u_threshold: Option<u32>,
    pub l_threshold: Option<u32>,
    pub alpha: Option<bool>,
    pub notify_up: Option<String>,
    pub notify_down: Option<String>,
    pub smtp_alert: Option<bool>,
    #[serde(default, with = "forms::secs_opt")]
    pub delay_loop: Option<Duration>,
    #[serde(default, with = "forms::secs_opt")]
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    #[serde(default, with = "forms::secs_opt")]
    pub delay_before_retry: Option<Duration>,
    #[serde(default, with = "forms::secs_opt")]
    pub warmup: Option<Duration>,
    pub virtualhost: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check: Vec<CheckDraft>,
}

impl DestDraft {
    /// A dest at `addr` with nothing else set.
    pub fn new(addr: SocketAddr) -> Self {
        DestDraft {
            address: AddrPort(addr),
            forward: None,
            tunnel: None,
            weight: None,
            inhibit_on_failure: None,
            u_threshold: None,
            l_threshold: None,
            alpha: None,
            notify_up: None,
            notify_down: None,
            smtp_alert: None,
            delay_loop: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            virtualhost: None,
            check: Vec::new(),
        }
    }
}
