//! What listings report: counters, rates, per-service and per-dest status,
//! the dataplane's counters and cores, local addresses and connections.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::*;

/// Traffic counters, as ipvsadm's `--stats` shows them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub conns: u64,
    pub in_pkts: u64,
    pub out_pkts: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
}

/// A dest as listed: its settings, its connection counts and its counters.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DestStatus {
    pub config: DestConfig,
    pub active_conns: u64,
    pub inactive_conns: u64,
    pub persist_conns: u64,
    pub stats: Stats,
    #[serde(default)]
    pub rates: Rates,
}

/// A service as listed. `dests` are in scheduling order: newest first, as the
/// kernel keeps them; listing tools sort for display.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ServiceStatus {
    pub key: ServiceKey,
    pub config: ServiceConfig,
    pub stats: Stats,
    /// The estimated rates (`--rate`).
    #[serde(default)]
    pub rates: Rates,
    pub dests: Vec<DestStatus>,
}

/// Rates as IPVS's estimator gives them (`-L --rate`): connections, packets
/// and bytes per second, a moving average over about 8 s sampled every 2 s.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rates {
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

/// What the dataplane says about itself.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// rvs's own version.
    pub version: String,
    /// The IPVS version ipvsadm's banner shows (`0x010201` = 1.2.1).
    pub ipvs_version: u32,
    /// Connection hash buckets, shown by ipvsadm as `size=`.
    pub conn_table_size: u32,
    /// Number of worker cores.
    pub workers: u32,
    /// The configuration generation the control thread last published.
    pub generation: u64,
}

/// One named counter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    pub name: String,
    pub value: u64,
}

/// Dataplane-wide counters: packets by verdict and drops by reason, summed
/// over the workers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub counters: Vec<Counter>,
}

impl Counters {
    /// The value of the counter called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.counters
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value)
    }
}

/// One worker core's load: the cycles of its poll loop and how many of them
/// were spent on iterations that had work, and its inbound hand-off ring.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreStatus {
    pub core: u32,
    /// Time-stamp counter cycles of the poll loop since start.
    pub cycles: u64,
    /// Of those, the cycles of iterations that received or sent something.
    pub busy_cycles: u64,
    /// The busy share of the last estimator interval (about 2 s), in
    /// millionths.
    pub busy_ppm: u32,
    /// Frames waiting in the ring of frames other cores hand to this one.
    pub handoff_depth: u32,
    pub handoff_capacity: u32,
}

/// A local address of a service's FullNAT pool, as listed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LaddrStatus {
    pub service: ServiceKey,
    pub addr: IpAddr,
    /// Connections using one of its ports now.
    pub conns: u64,
    /// New connections that found every port of it taken (DPVS's
    /// CONFLICTS): a pool too small for the load shows here.
    pub exhausted: u64,
}

/// A connection entry as `ipvsadm -Lnc` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ConnStatus {
    /// `None` for a firewall-mark persistence template (IPVS's protocol 0,
    /// shown as `IP`).
    pub protocol: Option<Protocol>,
    pub client: SocketAddr,
    pub virtual_addr: SocketAddr,
    pub dest: SocketAddr,
    /// IPVS's state name (`ESTABLISHED`, ..., `UDP`, `NONE` for templates).
    pub state: String,
    pub expires_s: u64,
}
