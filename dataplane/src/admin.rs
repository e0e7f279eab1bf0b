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

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use rvs_api::{
    ApiError, DestConfig, DestStatus, ErrorKind, Forward, Info, Request, Response, ServiceConfig,
    ServiceKey, ServiceStatus, Stats,
};

use crate::conn::state::Timeouts;
use crate::neigh::Resolver;
use crate::sched::{self, DestView};
use crate::service::{Dest, PortInfo, Service, ServiceAddr, Snapshot};
use crate::stats::{self, CoreStats, Counter, SlotTotals};

/// IPVS 1.2.1, as ipvsadm's banner prints it.
pub const IPVS_VERSION: u32 = 0x010201;

#[derive(Clone, Debug)]
struct DestEntry {
    config: DestConfig,
    addr: Ipv4Addr,
    slot: u32,
    neigh_slot: u32,
    port_id: u16,
    baseline: SlotTotals,
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
}

/// A deleted dest whose slot may still have connections.
#[derive(Clone, Debug)]
struct Trashed {
    service: ServiceAddr,
    dest: DestEntry,
    /// The first generation without it.
    since_generation: u64,
}

/// What the admin requests built.
pub struct AdminState {
    services: Vec<ServiceEntry>,
    trash: Vec<Trashed>,
    /// Slots of deleted services: (slot, first generation without it).
    retiring_service_slots: Vec<(u32, u64)>,
    free_slots: Vec<u32>,
    next_slot: u32,
    slots_max: u32,
    ports: Vec<PortInfo>,
    timeouts: Timeouts,
    generation: u64,
    next_service_id: u64,
    workers: u32,
    conn_table_size: u32,
    pub resolver: Resolver,
}

fn err(kind: ErrorKind, message: impl Into<String>) -> ApiError {
    ApiError::new(kind, message)
}

impl AdminState {
    pub fn new(
        ports: Vec<PortInfo>,
        slots_max: u32,
        neigh_slots_max: u32,
        workers: u32,
        conn_table_size: u32,
    ) -> Self {
        AdminState {
            services: vec![],
            trash: vec![],
            retiring_service_slots: vec![],
            free_slots: vec![],
            next_slot: 0,
            slots_max,
            ports,
            timeouts: Timeouts::default(),
            generation: 0,
            next_service_id: 0,
            workers,
            conn_table_size,
            resolver: Resolver::new(neigh_slots_max),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn alloc_slot(&mut self) -> Result<u32, ApiError> {
        if let Some(s) = self.free_slots.pop() {
            return Ok(s);
        }
        if self.next_slot < self.slots_max {
            self.next_slot += 1;
            return Ok(self.next_slot - 1);
        }
        Err(err(
            ErrorKind::NoMemory,
            format!(
                "all {} service and dest slots are in use (stats_slots_max)",
                self.slots_max
            ),
        ))
    }

    /// Free the slots nothing can use any more, and return the neighbour
    /// slots that lost their last user (the caller clears them in the shared
    /// table). `workers_generation` is the oldest generation any worker still
    /// forwards with: a slot deleted in a later generation may still be
    /// counted by a worker, so it waits. A trashed dest's slot also waits
    /// until no connection on any core counts it. A reused slot's traffic
    /// counters are not reset: its next owner takes a baseline.
    pub fn collect_trash(&mut self, cores: &[Arc<CoreStats>], workers_generation: u64) -> Vec<u32> {
        let mut released = vec![];
        let mut i = 0;
        while i < self.trash.len() {
            let t = &self.trash[i];
            let gauges = stats::slot_total(cores, t.dest.slot);
            if t.since_generation <= workers_generation
                && gauges.active == 0
                && gauges.inactive == 0
            {
                let gone = self.trash.swap_remove(i);
                self.free_slots.push(gone.dest.slot);
                if self.resolver.unwant(gone.dest.neigh_slot) {
                    released.push(gone.dest.neigh_slot);
                }
            } else {
                i += 1;
            }
        }
        let free = &mut self.free_slots;
        self.retiring_service_slots.retain(|&(slot, since)| {
            let done = since <= workers_generation;
            if done {
                free.push(slot);
            }
            !done
        });
        released
    }

    fn find_service(&self, key: &ServiceKey) -> Option<usize> {
        self.services.iter().position(|s| s.key == *key)
    }

    /// (service index, dest index) of a dest, or the error ipvsadm expects.
    fn find_dest(
        &self,
        service: &ServiceKey,
        addr: SocketAddr,
    ) -> Result<(usize, usize), ApiError> {
        let i = self
            .find_service(service)
            .ok_or_else(|| err(ErrorKind::NoService, "service not defined"))?;
        let j = self.services[i]
            .dests
            .iter()
            .position(|d| d.config.addr == addr)
            .ok_or_else(|| err(ErrorKind::NotFound, "no such destination"))?;
        Ok((i, j))
    }

    fn service_addr(key: &ServiceKey) -> Result<ServiceAddr, ApiError> {
        match key {
            ServiceKey::Inet { protocol, addr } => match addr.ip() {
                IpAddr::V4(v4) => Ok((protocol.number(), v4, addr.port())),
                IpAddr::V6(_) => Err(err(
                    ErrorKind::NotSupported,
                    "IPv6 services are not supported by this rvs version yet",
                )),
            },
            ServiceKey::Fwmark { .. } => Err(err(
                ErrorKind::NotSupported,
                "firewall-mark services are not supported by this rvs version yet",
            )),
        }
    }

    fn check_service_config(key: &ServiceKey, c: &ServiceConfig) -> Result<(), ApiError> {
        if let Err(sched::BuildError::Unknown) =
            sched::build(&c.scheduler, &[], &sched::BuildParams::default())
        {
            return Err(err(
                ErrorKind::NotFound,
                format!(
                    "scheduler {:?} is not available (this version has: {})",
                    c.scheduler,
                    sched::NAMES.join(", ")
                ),
            ));
        }
        if c.persistent_timeout_s.is_some() || c.netmask.is_some() || c.persistence_engine.is_some()
        {
            return Err(err(
                ErrorKind::NotSupported,
                "persistence is not supported by this rvs version yet",
            ));
        }
        if !c.sched_flags.is_empty() {
            return Err(err(
                ErrorKind::NotSupported,
                "scheduler flags are not supported by this rvs version yet",
            ));
        }
        if c.one_packet {
            return Err(err(
                ErrorKind::NotSupported,
                "one-packet scheduling is not supported by this rvs version yet",
            ));
        }
        if let ServiceKey::Inet { addr, .. } = key {
            if addr.port() == 0 {
                return Err(err(
                    ErrorKind::Invalid,
                    "zero port specified for non-persistent service",
                ));
            }
            let ip = addr.ip();
            if ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() {
                return Err(err(
                    ErrorKind::Invalid,
                    format!("{ip} is not a unicast VIP"),
                ));
            }
        }
        Ok(())
    }

    fn port_for(&self, addr: Ipv4Addr) -> Option<u16> {
        self.ports
            .iter()
            .position(|p| {
                let bits = u32::from(p.prefix_len.min(32));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(addr) & mask == u32::from(p.addr) & mask
            })
            .map(|i| i as u16)
    }

    fn check_dest(&self, svc: &ServiceEntry, d: &DestConfig) -> Result<(Ipv4Addr, u16), ApiError> {
        let IpAddr::V4(addr) = d.addr.ip() else {
            return Err(err(
                ErrorKind::NotSupported,
                "IPv6 real servers are not supported by this rvs version yet",
            ));
        };
        if d.forward != Forward::Route {
            return Err(err(
                ErrorKind::NotSupported,
                format!(
                    "forwarding method {} is not supported by this rvs version yet (only -g, direct routing)",
                    match d.forward {
                        Forward::Masq => "-m (masquerading)",
                        Forward::Tunnel => "-i (tunnelling)",
                        Forward::Route => "-g",
                    }
                ),
            ));
        }
        if d.u_threshold != 0 || d.l_threshold != 0 {
            return Err(err(
                ErrorKind::NotSupported,
                "connection thresholds (-x/-y) are not supported by this rvs version yet",
            ));
        }
        if d.weight > i32::MAX as u32 {
            return Err(err(
                ErrorKind::Invalid,
                format!("weight {} is out of range", d.weight),
            ));
        }
        if d.addr.port() != svc.addr.2 {
            return Err(err(
                ErrorKind::Invalid,
                "direct routing cannot map ports: the real server's port must be the service's",
            ));
        }
        if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() {
            return Err(err(
                ErrorKind::Invalid,
                format!("{addr} is not a unicast address"),
            ));
        }
        let Some(port_id) = self.port_for(addr) else {
            return Err(err(
                ErrorKind::Invalid,
                format!("{addr} is on no directly connected network of the dataplane's ports (direct routing needs one)"),
            ));
        };
        Ok((addr, port_id))
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

    fn apply(
        &mut self,
        req: Request,
        cores: &[Arc<CoreStats>],
        now_ms: u64,
    ) -> Result<(Response, bool), ApiError> {
        match req {
            Request::Info => Ok((Response::Info(self.info()), false)),
            Request::Counters => {
                let counters = Counter::ALL
                    .iter()
                    .map(|&c| rvs_api::Counter {
                        name: c.name().to_string(),
                        value: stats::total(cores, c),
                    })
                    .collect();
                Ok((Response::Counters(rvs_api::Counters { counters }), false))
            }
            Request::List { service } => {
                let list = match service {
                    None => self
                        .services
                        .iter()
                        .map(|s| self.status(s, cores))
                        .collect(),
                    Some(k) => {
                        let i = self
                            .find_service(&k)
                            .ok_or_else(|| err(ErrorKind::NoService, "no such service"))?;
                        vec![self.status(&self.services[i], cores)]
                    }
                };
                Ok((Response::Services(list), false))
            }
            Request::Zero { service } => {
                let targets: Vec<usize> = match service {
                    None => (0..self.services.len()).collect(),
                    Some(k) => vec![self
                        .find_service(&k)
                        .ok_or_else(|| err(ErrorKind::NoService, "no such service"))?],
                };
                for i in targets {
                    let s = &mut self.services[i];
                    s.baseline = stats::slot_total(cores, s.slot);
                    for d in &mut s.dests {
                        d.baseline = stats::slot_total(cores, d.slot);
                    }
                }
                Ok((Response::Ok, false))
            }
            Request::AddService { key, config } => {
                if self.find_service(&key).is_some() {
                    return Err(err(ErrorKind::Exists, "service already exists"));
                }
                let addr = Self::service_addr(&key)?;
                Self::check_service_config(&key, &config)?;
                let slot = self.alloc_slot()?;
                let baseline = stats::slot_total(cores, slot);
                self.next_service_id += 1;
                self.services.push(ServiceEntry {
                    id: self.next_service_id,
                    key,
                    addr,
                    config,
                    slot,
                    dests: vec![],
                    baseline,
                });
                Ok((Response::Ok, true))
            }
            Request::EditService { key, config } => {
                let i = self
                    .find_service(&key)
                    .ok_or_else(|| err(ErrorKind::NoService, "no such service"))?;
                Self::check_service_config(&key, &config)?;
                self.services[i].config = config;
                Ok((Response::Ok, true))
            }
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
            Request::AddDest { service, dest } => {
                let i = self
                    .find_service(&service)
                    .ok_or_else(|| err(ErrorKind::NoService, "service not defined"))?;
                if self.services[i]
                    .dests
                    .iter()
                    .any(|d| d.config.addr == dest.addr)
                {
                    return Err(err(ErrorKind::Exists, "destination already exists"));
                }
                let (addr, port_id) = self.check_dest(&self.services[i], &dest)?;
                let svc_addr = self.services[i].addr;
                // Back from the trash, with its connections, as IPVS does.
                let entry = if let Some(t) = self
                    .trash
                    .iter()
                    .position(|t| t.service == svc_addr && t.dest.config.addr == dest.addr)
                {
                    let mut e = self.trash.swap_remove(t).dest;
                    e.config = dest;
                    e
                } else {
                    let slot = self.alloc_slot()?;
                    let Some(neigh_slot) = self.resolver.want(port_id, addr, now_ms) else {
                        self.free_slots.push(slot);
                        return Err(err(ErrorKind::NoMemory, "the neighbour table is full"));
                    };
                    DestEntry {
                        config: dest,
                        addr,
                        slot,
                        neigh_slot,
                        port_id,
                        baseline: stats::slot_total(cores, slot),
                    }
                };
                self.services[i].dests.insert(0, entry);
                Ok((Response::Ok, true))
            }
            Request::EditDest { service, dest } => {
                let (i, j) = self.find_dest(&service, dest.addr)?;
                self.check_dest(&self.services[i], &dest)?;
                self.services[i].dests[j].config = dest;
                Ok((Response::Ok, true))
            }
            Request::DelDest { service, addr } => {
                let (i, j) = self.find_dest(&service, addr)?;
                let d = self.services[i].dests.remove(j);
                let svc = self.services[i].addr;
                self.trash_dest(svc, d);
                Ok((Response::Ok, true))
            }
        }
    }

    fn trash_dest(&mut self, service: ServiceAddr, dest: DestEntry) {
        let since_generation = self.generation + 1;
        // The neighbour entry stays while the dest is in the trash: its
        // connections may come back to life.
        self.trash.push(Trashed {
            service,
            dest,
            since_generation,
        });
    }

    fn remove_service(&mut self, i: usize) {
        let s = self.services.remove(i);
        for d in s.dests {
            self.trash_dest(s.addr, d);
        }
        // Workers on an older generation may still count it.
        self.retiring_service_slots
            .push((s.slot, self.generation + 1));
    }

    fn info(&self) -> Info {
        Info {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ipvs_version: IPVS_VERSION,
            conn_table_size: self.conn_table_size,
            workers: self.workers,
            generation: self.generation,
        }
    }

    fn status(&self, s: &ServiceEntry, cores: &[Arc<CoreStats>]) -> ServiceStatus {
        let to_stats = |t: SlotTotals| Stats {
            conns: t.conns,
            in_pkts: t.in_pkts,
            out_pkts: t.out_pkts,
            in_bytes: t.in_bytes,
            out_bytes: t.out_bytes,
        };
        let dests = s
            .dests
            .iter()
            .map(|d| {
                let t = stats::slot_total(cores, d.slot).since(&d.baseline);
                DestStatus {
                    config: d.config.clone(),
                    active_conns: t.active,
                    inactive_conns: t.inactive,
                    persist_conns: 0,
                    stats: to_stats(t),
                }
            })
            .collect();
        ServiceStatus {
            key: s.key,
            config: s.config.clone(),
            stats: to_stats(stats::slot_total(cores, s.slot).since(&s.baseline)),
            dests,
        }
    }

    /// The generation to publish now.
    pub fn snapshot(&self) -> Snapshot {
        let services = self
            .services
            .iter()
            .map(|s| {
                let dests: Vec<Dest> = s
                    .dests
                    .iter()
                    .map(|d| Dest {
                        addr: d.addr,
                        port: d.config.addr.port(),
                        weight: d.config.weight,
                        forward: d.config.forward,
                        slot: d.slot,
                        neigh_slot: d.neigh_slot,
                        port_id: d.port_id,
                    })
                    .collect();
                let views: Vec<DestView> = dests
                    .iter()
                    .map(|d| DestView::new(d.slot, IpAddr::V4(d.addr), d.port, d.weight))
                    .collect();
                let scheduler =
                    sched::build(&s.config.scheduler, &views, &sched::BuildParams::default())
                        .expect("schedulers are validated when a service is added or edited");
                Service {
                    id: s.id,
                    key: s.addr,
                    slot: s.slot,
                    scheduler,
                    dests,
                    views,
                }
            })
            .collect();
        Snapshot::new(
            self.generation,
            self.timeouts,
            self.ports.clone(),
            services,
            self.slots_max as usize,
        )
    }
}
