//! What the control thread and the workers share: stop flag, per-core stats,
//! the neighbour table, and the lock-free rings between them.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use rvs_dataplane::neigh::NeighTable;
use rvs_dataplane::pipeline::{ConnRecord, WorkerEvent};
use rvs_dataplane::service::Snapshot;
use rvs_dataplane::stats::CoreStats;
use rvs_dataplane::sync::SyncConn;

use crate::dpdk::{Mbuf, Pool};

/// DPDK port ids of one configured port and its exception TAP.
#[derive(Clone, Copy, Debug)]
pub struct PortIds {
    pub dev: u16,
    pub tap: u16,
}

pub struct Shared {
    pub stop: AtomicBool,
    pub ports: Vec<PortIds>,
    pub cores: Vec<Arc<CoreStats>>,
    pub neigh: Arc<NeighTable>,
    /// The SYN proxy's cookie keys: the workers read them, the control
    /// thread rotates them every `synproxy::ROTATE_MS`.
    pub syn_keys: Arc<rvs_dataplane::synproxy::SynKeys>,
    /// Control → worker w: the newest generation it has not taken yet (a
    /// one-slot mailbox: publishing replaces what is waiting).
    pub cfg_rings: Vec<ArrayQueue<Arc<Snapshot>>>,
    /// Worker w → control: the generation w forwards with.
    pub worker_generations: Vec<AtomicU64>,
    /// Workers → control: generations no longer used, freed by control.
    pub retired: ArrayQueue<Arc<Snapshot>>,
    /// Workers → control: events (neighbours learned).
    pub events: Arc<ArrayQueue<WorkerEvent>>,
    /// Any worker → worker w: frames of flows that w owns.
    pub handoff: Vec<ArrayQueue<(u16, Mbuf)>>,
    /// Control → worker 0: frames to send (ARP requests), by port.
    pub ctl_tx: ArrayQueue<(u16, Mbuf)>,
    /// Control ↔ worker w: connection listings (`-Lnc`).
    pub dumps: Vec<DumpChannel>,
    /// Worker w → control: connections for the sync master to send.
    pub sync_out: Vec<Arc<ArrayQueue<SyncConn>>>,
    /// Control → worker w: connections a sync master sent, to install.
    pub sync_in: Vec<ArrayQueue<SyncConn>>,
    /// The mbuf pool, for the workers' copies of released fragments.
    pub pool: Pool,
}

/// A connection listing between the control thread and one worker: the
/// control thread asks (a one-slot request), the worker walks its tables
/// between bursts, a bounded number of slots per round, and answers with
/// the entries and an end mark; a full answer queue makes it wait for the
/// next round, never block.
pub struct DumpChannel {
    pub requests: ArrayQueue<()>,
    pub replies: ArrayQueue<DumpItem>,
}

impl DumpChannel {
    pub fn new() -> Self {
        DumpChannel {
            requests: ArrayQueue::new(1),
            replies: ArrayQueue::new(4096),
        }
    }
}

/// One item of a worker's answer.
#[derive(Clone, Copy, Debug)]
pub enum DumpItem {
    Conn(ConnRecord),
    End,
}
