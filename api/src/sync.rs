//! Connection synchronisation daemons (`--start-daemon`), as ipvsadm
//! configures and lists them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Which side of connection sync a daemon is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum SyncRole {
    Master,
    Backup,
}

impl SyncRole {
    pub fn name(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
        }
    }
}

/// A sync daemon's settings, ipvsadm's options and defaults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SyncDaemon {
    pub role: SyncRole,
    /// `--mcast-interface`: the director's interface the datagrams use (on
    /// rvs, a port's exception interface; `None`: the first port's).
    pub interface: Option<String>,
    /// `--syncid` 0..255; a backup with 0 takes any.
    pub syncid: u8,
    /// `--sync-maxlen`: the largest datagram (default: the interface's MTU
    /// less 28).
    pub maxlen: Option<u16>,
    /// `--mcast-group` (default 224.0.0.81) or a unicast peer.
    pub group: Option<IpAddr>,
    /// `--mcast-port` (default 8848).
    pub port: Option<u16>,
    /// `--mcast-ttl` (default 1).
    pub ttl: Option<u8>,
}

/// A running sync daemon and what it did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SyncDaemonStatus {
    pub config: SyncDaemon,
    /// The values in use (defaults filled in).
    pub interface: String,
    pub maxlen: u16,
    pub group: IpAddr,
    pub port: u16,
    pub ttl: u8,
    /// Master: datagrams and entries sent, and send errors. Backup:
    /// datagrams and entries received, entries installed, and datagrams
    /// refused (bad, or another syncid).
    pub datagrams: u64,
    pub entries: u64,
    pub errors: u64,
}
