//! The dataplane's side of the admin API: the desired configuration as the
//! admin requests built it, validated, and turned into [`Snapshot`]s.
//!
//! Contract: [`AdminState::handle`] either applies a request whole and says
//! whether a new generation must be published, or returns an error and
//! changes nothing. It runs on the control thread only. Slots: every service
//! and dest holds a stable stats slot; a deleted dest's slot is kept
//! ("in the trash", as IPVS says) while connections on any core still count
//! it, so re-adding the same dest gets it back with its connections, and the
//! slot is reused only once its gauges read zero.
//!
//! The files, by concern: this one holds the state and dispatches each
//! request ([`AdminState::handle`]); `changes` applies the requests that
//! change it, after `validate`'s checks; `listing` answers the read-only
//! ones; `slots` keeps the stats slots, the trash and the local addresses;
//! `network` the director's own network and the way to each next hop;
//! `snapshot` builds the generation the workers get.

#![forbid(unsafe_code)]

mod changes;
mod listing;
mod network;
mod slots;
mod snapshot;
mod validate;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use std::sync::Arc;

use rvs_api::{
    ApiError, DestConfig, DestStatus, ErrorKind, Forward, Info, MarkRule, Prefix, Protocol,
    Request, Response, ServiceConfig, ServiceKey, ServiceStatus, Stats,
};

use crate::classify::{self, Classifier};
use crate::conn::state::{State, Timeouts};
use crate::neigh::Resolver;
use crate::sched::{self, BuildParams, DestView, SchedFlags, Scheduler};
use crate::service::{Dest, Persistence, PortInfo, Service, ServiceAddr, Snapshot};
use crate::stats::{self, CoreStats, Counter, OverloadFlags, SlotTotals};

pub use rvs_api::{PERSISTENT_TIMEOUT_DEFAULT_S, PERSISTENT_TIMEOUT_MAX_S};

/// The most dests one service holds (scheduler tables index them in 16 bits).
pub const DESTS_PER_SERVICE_MAX: usize = 65_535;

/// How the dataplane was sized at start-up, and the settings that shape
/// its schedulers.
#[derive(Clone, Debug)]
pub struct AdminSetup {
    pub ports: Vec<PortInfo>,
    /// The ports' names (`[[ports]] name`), as `SetNetwork` names them.
    pub port_names: Vec<String>,
    pub slots_max: u32,
    pub neigh_slots_max: u32,
    pub workers: u32,
    /// What ipvsadm's banner shows as `size=`.
    pub conn_table_size: u32,
    pub overload: Arc<OverloadFlags>,
    /// Maglev table size (a prime).
    pub mh_table_size: u32,
    /// Locality caches each worker has (services using lblc or lblcr).
    pub locality_caches: u16,
}

impl AdminSetup {
    /// A setup for tests and tools: `slots_max` slots, one worker, the
    /// default scheduler settings.
    pub fn new(ports: Vec<PortInfo>, slots_max: u32) -> Self {
        AdminSetup {
            port_names: (0..ports.len()).map(|i| format!("port{i}")).collect(),
            ports,
            slots_max,
            neigh_slots_max: 16,
            workers: 1,
            conn_table_size: 4096,
            overload: Arc::new(OverloadFlags::new(slots_max as usize)),
            mh_table_size: BuildParams::default().mh_table_size,
            locality_caches: 4,
        }
    }
}

/// IPVS 1.2.1, as ipvsadm's banner prints it.
pub const IPVS_VERSION: u32 = 0x010201;

#[derive(Clone, Debug)]
struct DestEntry {
    config: DestConfig,
    /// The last non-zero weight (Maglev builds from it).
    last_weight: u32,
    addr: IpAddr,
    slot: u32,
    neigh_slot: u32,
    /// What `neigh_slot` resolves (the dest, or its gateway).
    hop: IpAddr,
    port_id: u16,
    baseline: SlotTotals,
    est: stats::Estimator,
}

#[derive(Clone, Debug)]
struct ServiceEntry {
    id: u64,
    key: ServiceKey,
    addr: ServiceAddr,
    config: ServiceConfig,
    slot: u32,
    /// Newest first.
    dests: Vec<DestEntry>,
    baseline: SlotTotals,
    /// The scheduler built for the current dests and config; `None` after
    /// a change, rebuilt when the next generation is made.
    built: Option<Arc<dyn Scheduler>>,
    /// The locality cache index (lblc, lblcr).
    locality_cache: Option<u16>,
    /// FullNAT local addresses, in the order they were added.
    laddrs: Vec<IpAddr>,
    est: stats::Estimator,
}

/// A FullNAT local address slot: its address and how many services have it.
#[derive(Clone, Copy, Debug)]
struct LaddrSlot {
    addr: IpAddr,
    services: u32,
    /// When the last service let go of it: the first generation without it.
    since_generation: u64,
    /// The slot's exhaustion count when this address got it (the counters
    /// are the workers', never reset).
    exhausted_base: u64,
}

/// A deleted dest whose slot may still have connections.
#[derive(Clone, Debug)]
struct Trashed {
    service: ServiceKey,
    dest: DestEntry,
    /// The first generation without it.
    since_generation: u64,
}

/// What the admin requests built.
#[derive(Clone)]
pub struct AdminState {
    services: Vec<ServiceEntry>,
    trash: Vec<Trashed>,
    /// Slots of deleted services: (slot, first generation without it).
    retiring_service_slots: Vec<(u32, u64)>,
    free_slots: Vec<u32>,
    next_slot: u32,
    slots_max: u32,
    ports: Vec<PortInfo>,
    port_names: Vec<String>,
    /// Extra addresses and static routes (`SetNetwork`).
    network: rvs_api::Network,
    /// Addresses not owned now (`ReleaseVips`).
    released: Vec<IpAddr>,
    /// A sync master daemon runs (the control thread's sockets say so).
    sync_master: bool,
    /// IPVS's defence strategies.
    defense: rvs_api::Defense,
    /// Neighbour slots a re-routed dest left: (slot, first generation
    /// without it); released once no worker forwards with an older one.
    retiring_neigh: Vec<(u32, u64)>,
    timeouts: Timeouts,
    generation: u64,
    next_service_id: u64,
    workers: u32,
    conn_table_size: u32,
    overload: Arc<OverloadFlags>,
    mh_table_size: u32,
    free_locality_caches: Vec<u16>,
    mark_rules: Vec<MarkRule>,
    /// By local-address slot (`stats::LADDR_SLOTS_MAX` of them).
    laddr_slots: Vec<Option<LaddrSlot>>,
    pub resolver: Resolver,
}

fn err(kind: ErrorKind, message: impl Into<String>) -> ApiError {
    ApiError::new(kind, message)
}

impl AdminState {
    pub fn new(setup: AdminSetup) -> Self {
        AdminState {
            services: vec![],
            trash: vec![],
            retiring_service_slots: vec![],
            free_slots: vec![],
            next_slot: 0,
            slots_max: setup.slots_max,
            ports: setup.ports,
            port_names: setup.port_names,
            network: rvs_api::Network::default(),
            released: vec![],
            sync_master: false,
            defense: rvs_api::Defense::default(),
            retiring_neigh: vec![],
            timeouts: Timeouts::default(),
            generation: 0,
            next_service_id: 0,
            workers: setup.workers,
            conn_table_size: setup.conn_table_size,
            overload: setup.overload,
            mh_table_size: setup.mh_table_size,
            free_locality_caches: (0..setup.locality_caches).rev().collect(),
            mark_rules: vec![],
            laddr_slots: vec![None; stats::LADDR_SLOTS_MAX],
            resolver: Resolver::new(setup.neigh_slots_max),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Apply one request. Returns the response and whether a new generation
    /// must be published.
    pub fn handle(
        &mut self,
        req: Request,
        cores: &[Arc<CoreStats>],
        now_ms: u64,
    ) -> (Response, bool) {
        match self.apply(req, cores, now_ms) {
            Ok((resp, changed)) => {
                if changed {
                    self.generation += 1;
                }
                (resp, changed)
            }
            Err(e) => (Response::Error(e), false),
        }
    }

    /// A batch: every request applied in order to a copy of the state, the
    /// copy kept only when all succeed (one generation); the first refusal
    /// is the answer, naming its place in the batch, and nothing changes.
    fn apply_batch(
        &mut self,
        batch: Vec<Request>,
        cores: &[Arc<CoreStats>],
        now_ms: u64,
    ) -> Result<(Response, bool), ApiError> {
        let mut trial = self.clone();
        let mut changed = false;
        for (i, req) in batch.into_iter().enumerate() {
            if matches!(req, Request::Batch(_)) {
                return Err(err(ErrorKind::Invalid, "a batch cannot hold a batch"));
            }
            match trial.apply(req, cores, now_ms) {
                Ok((_, c)) => changed |= c,
                Err(e) => {
                    return Err(ApiError::new(
                        e.kind,
                        format!("request {} of the batch: {}", i + 1, e.message),
                    ))
                }
            }
        }
        *self = trial;
        Ok((Response::Ok, changed))
    }

    fn apply(
        &mut self,
        req: Request,
        cores: &[Arc<CoreStats>],
        now_ms: u64,
    ) -> Result<(Response, bool), ApiError> {
        match req {
            Request::Info => Ok((Response::Info(self.info()), false)),
            Request::Counters => self.counters(cores),
            Request::List { service } => self.list(service, cores),
            Request::Zero { service } => self.zero(service, cores),
            Request::AddService { key, config } => self.add_service(key, config, cores),
            Request::EditService { key, config } => self.edit_service(key, config),
            Request::AddLaddr { service, addr } => self.add_laddr(service, addr, cores),
            Request::DelLaddr { service, addr } => self.del_laddr(service, addr),
            Request::ListLaddrs { service } => self.list_laddrs(service, cores),
            Request::Batch(batch) => self.apply_batch(batch, cores, now_ms),
            // The workers hold the entries: the control thread asks them.
            Request::ListConns => Err(err(
                ErrorKind::NotSupported,
                "connection entries are listed by the dataplane's control thread, not the admin state",
            )),
            Request::GetTimeouts => Ok((Response::Timeouts(self.api_timeouts()), false)),
            Request::GetNetwork => Ok((Response::Network(self.network.clone()), false)),
            Request::ReleaseVips(addrs) => self.release_vips(addrs),
            Request::ReleasedVips => Ok((Response::Released(self.released.clone()), false)),
            Request::Announce(_) => Err(err(
                ErrorKind::NotSupported,
                "announcements are sent by the dataplane's control thread, not the admin state",
            )),
            Request::StartDaemon(_) | Request::StopDaemon(_) | Request::Daemons => Err(err(
                ErrorKind::NotSupported,
                "sync daemons are run by the dataplane's control thread, not the admin state",
            )),
            Request::SetNetwork(net) => {
                if net == self.network {
                    return Ok((Response::Ok, false));
                }
                self.set_network(net, now_ms)?;
                Ok((Response::Ok, true))
            }
            Request::Cores => Err(err(
                ErrorKind::NotSupported,
                "core loads are reported by the dataplane's control thread, not the admin state",
            )),
            Request::SetTimeouts(t) => self.set_timeouts(t),
            Request::SetDefense(d) => self.set_defense(d),
            Request::GetDefense => Ok((Response::Defense(self.defense_status(cores)), false)),
            Request::DelService { key } => {
                let i = self
                    .find_service(&key)
                    .ok_or_else(|| err(ErrorKind::NoService, "no such service"))?;
                self.remove_service(i);
                Ok((Response::Ok, true))
            }
            Request::Clear => {
                while !self.services.is_empty() {
                    self.remove_service(self.services.len() - 1);
                }
                Ok((Response::Ok, true))
            }
            Request::AddDest { service, dest } => self.add_dest(service, dest, cores, now_ms),
            Request::EditDest { service, dest } => self.edit_dest(service, dest),
            Request::DelDest { service, addr } => self.del_dest(service, addr),
            Request::AddMarkRule(rule) => self.add_mark_rule(rule),
            Request::DelMarkRule(rule) => self.del_mark_rule(rule),
            Request::DelMarkRules { mark } => self.del_mark_rules(mark),
            Request::ListMarkRules => Ok((Response::MarkRules(self.mark_rules.clone()), false)),
        }
    }
}
