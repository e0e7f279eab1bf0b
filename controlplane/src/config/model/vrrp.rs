//! VRRP as the model holds it: scripts, sync groups, instances with
//! their tracks, authentication, virtual addresses and peers.

use super::network::IfAddr;
use crate::config::forms;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

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
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncGroup {
    pub name: String,
    /// The member instances.
    #[serde(default)]
    pub group: Vec<String>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    pub notify_stop: Option<String>,
    pub notify: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interface: Vec<Track>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_script: Vec<Track>,
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
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualIp {
    #[serde(with = "forms::as_str")]
    pub address: IfAddr,
    pub brd: Option<IpAddr>,
    /// Default: the instance's interface.
    pub dev: Option<String>,
    pub scope: Option<String>,
    pub label: Option<String>,
}

/// A `unicast_peer` line: `ADDR [min_ttl N] [max_ttl N]`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnicastPeer {
    pub address: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}
