//! The configuration generation workers forward with: an immutable
//! [`Snapshot`] of ports, services, dests and their schedulers.
//!
//! Contract: the control thread builds and validates a snapshot, then hands
//! the same `Arc<Snapshot>` to every worker; a worker switches between
//! bursts, so it never sees half an update. Stats slots (services and dests)
//! and neighbour slots are stable across generations: a dest keeps its slot
//! while it exists, so its counters and its connections outlive edits.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use rvs_api::Forward;

use crate::conn::state::Timeouts;
use crate::sched::{DestView, Scheduler};
use crate::wire::ethernet::MacAddr;

/// One dataplane port, as the pipeline needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub mac: MacAddr,
    /// The director's own address on this segment (it lives on the
    /// exception interface; the pipeline uses it as the ARP source).
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

/// A dest in a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dest {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub weight: u32,
    pub forward: Forward,
    pub slot: u32,
    pub neigh_slot: u32,
    /// The dataplane port the dest is reached through.
    pub port_id: u16,
}

/// (protocol number, VIP, port): an address service's key.
pub type ServiceAddr = (u8, Ipv4Addr, u16);

/// A service in a generation.
#[derive(Debug)]
pub struct Service {
    /// Unique for the dataplane's lifetime (slots are reused, ids are not).
    pub id: u64,
    pub key: ServiceAddr,
    pub slot: u32,
    pub scheduler: Box<dyn Scheduler>,
    /// Kernel order: newest first.
    pub dests: Vec<Dest>,
    /// What the scheduler sees, index for index with `dests`.
    pub views: Vec<DestView>,
}

/// One configuration generation.
#[derive(Debug)]
pub struct Snapshot {
    pub generation: u64,
    pub timeouts: Timeouts,
    pub ports: Vec<PortInfo>,
    services: Vec<Service>,
    index: HashMap<ServiceAddr, usize, ahash::RandomState>,
    vips: HashSet<Ipv4Addr, ahash::RandomState>,
    /// Addresses of dests: the neighbours whose ARP the control thread wants.
    neighbours: HashSet<Ipv4Addr, ahash::RandomState>,
    /// By dest slot: the dest, when it exists in this generation.
    dests_by_slot: Vec<Option<Dest>>,
}

impl Snapshot {
    /// Build a generation. `slots_max` bounds the slot numbers.
    pub fn new(
        generation: u64,
        timeouts: Timeouts,
        ports: Vec<PortInfo>,
        services: Vec<Service>,
        slots_max: usize,
    ) -> Self {
        let mut index = HashMap::with_hasher(ahash::RandomState::new());
        let mut vips = HashSet::with_hasher(ahash::RandomState::new());
        let mut neighbours = HashSet::with_hasher(ahash::RandomState::new());
        let mut dests_by_slot = vec![None; slots_max];
        for (i, s) in services.iter().enumerate() {
            index.insert(s.key, i);
            vips.insert(s.key.1);
            for d in &s.dests {
                assert!((d.slot as usize) < slots_max, "dest slot within bounds");
                dests_by_slot[d.slot as usize] = Some(*d);
                neighbours.insert(d.addr);
            }
        }
        Snapshot {
            generation,
            timeouts,
            ports,
            services,
            index,
            vips,
            neighbours,
            dests_by_slot,
        }
    }

    /// An empty generation for `ports`.
    pub fn empty(ports: Vec<PortInfo>, slots_max: usize) -> Self {
        Snapshot::new(0, Timeouts::default(), ports, vec![], slots_max)
    }

    #[inline]
    pub fn service(&self, key: &ServiceAddr) -> Option<&Service> {
        self.index.get(key).map(|&i| &self.services[i])
    }

    #[inline]
    pub fn is_vip(&self, addr: Ipv4Addr) -> bool {
        self.vips.contains(&addr)
    }

    /// A dest's address: a next hop whose ARP matters.
    #[inline]
    pub fn is_neighbour(&self, addr: Ipv4Addr) -> bool {
        self.neighbours.contains(&addr)
    }

    /// The dest with stats slot `slot`, if it exists in this generation
    /// (a deleted dest's connections find nothing here).
    #[inline]
    pub fn dest(&self, slot: u32) -> Option<&Dest> {
        self.dests_by_slot.get(slot as usize)?.as_ref()
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }
}
