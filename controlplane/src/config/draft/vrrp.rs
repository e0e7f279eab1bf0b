//! VRRP as written: scripts and instances.

use crate::config::forms;
use crate::config::model::{Auth, SyncGroup, Track, UnicastPeer, VirtualIp, VrrpState};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

/// `[vrrp]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpDraft {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub script: Vec<VrrpScriptDraft>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_group: Vec<SyncGroup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance: Vec<VrrpInstanceDraft>,
}

impl VrrpDraft {
    pub fn is_empty(&self) -> bool {
        *self == VrrpDraft::default()
    }
}

/// `vrrp_script NAME { }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpScriptDraft {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_fail: Option<bool>,
}

/// `vrrp_instance NAME { }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpInstanceDraft {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<VrrpState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_router_id: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub advert_int: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nopreempt: Option<bool>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub preempt_delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Auth>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress: Vec<VirtualIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress_excluded: Vec<VirtualIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interface: Vec<Track>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_script: Vec<Track>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast_src_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peer: Vec<UnicastPeer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_src_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_master_delay: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_master_repeat: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_master_refresh: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dont_track_primary: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
}
