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
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpScriptDraft {
    pub name: String,
    pub script: Option<String>,
    #[serde(default, with = "forms::secs_opt")]
    pub interval: Option<Duration>,
    #[serde(default, with = "forms::secs_opt")]
    pub timeout: Option<Duration>,
    pub weight: Option<i32>,
    pub reverse: Option<bool>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
    pub user: Option<String>,
    pub init_fail: Option<bool>,
}

/// `vrrp_instance NAME { }`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpInstanceDraft {
    pub name: String,
    pub state: Option<VrrpState>,
    pub interface: Option<String>,
    pub virtual_router_id: Option<u8>,
    pub priority: Option<u8>,
    #[serde(default, with = "forms::secs_opt")]
    pub advert_int: Option<Duration>,
    pub version: Option<u8>,
    pub nopreempt: Option<bool>,
    #[serde(default, with = "forms::secs_opt")]
    pub preempt_delay: Option<Duration>,
    pub authentication: Option<Auth>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress: Vec<VirtualIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress_excluded: Vec<VirtualIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interface: Vec<Track>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_script: Vec<Track>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    pub notify_stop: Option<String>,
    pub notify: Option<String>,
    pub unicast_src_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peer: Vec<UnicastPeer>,
    pub mcast_src_ip: Option<IpAddr>,
    pub garp_master_delay: Option<u32>,
    pub garp_master_repeat: Option<u32>,
    pub garp_master_refresh: Option<u32>,
    pub dont_track_primary: Option<bool>,
    pub accept: Option<bool>,
    pub smtp_alert: Option<bool>,
}
