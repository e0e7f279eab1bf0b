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

#![forbid(unsafe_code)]

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

/// ipvsadm's default persistence timeout (`-p` without a value): 360 s
/// (`spec/conn.md` §6.4).
pub const PERSISTENT_TIMEOUT_DEFAULT_S: u32 = 360;
/// The longest persistence timeout ipvsadm accepts.
pub const PERSISTENT_TIMEOUT_MAX_S: u32 = 2_678_400;

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

    /// The extra addresses and static routes (`SetNetwork`).
    pub fn network(&self) -> &rvs_api::Network {
        &self.network
    }

    /// The port a route leaves by: its own, or its gateway's.
    pub fn route_port(&self, r: &rvs_api::NetRoute) -> Option<u16> {
        match (&r.port, r.via) {
            (Some(name), _) => self
                .port_names
                .iter()
                .position(|n| n == name)
                .map(|i| i as u16),
            (None, Some(via)) => connected_port(&self.ports, &self.port_names, &self.network, via),
            (None, None) => None,
        }
    }

    /// The port called `name`.
    pub fn port_id(&self, name: &str) -> Option<u16> {
        self.port_names
            .iter()
            .position(|n| n == name)
            .map(|i| i as u16)
    }

    fn alloc_slot(&mut self) -> Result<u32, ApiError> {
        if let Some(s) = self.free_slots.pop() {
            self.overload.set(s, false);
            return Ok(s);
        }
        if self.next_slot < self.slots_max {
            self.next_slot += 1;
            self.overload.set(self.next_slot - 1, false);
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
        let resolver = &mut self.resolver;
        self.retiring_neigh.retain(|&(slot, since)| {
            if since > workers_generation {
                return true;
            }
            if resolver.unwant(slot) {
                released.push(slot);
            }
            false
        });
        let mut i = 0;
        while i < self.trash.len() {
            let t = &self.trash[i];
            let gauges = stats::slot_total(cores, t.dest.slot);
            if t.since_generation <= workers_generation
                && gauges.active == 0
                && gauges.inactive == 0
                && gauges.persist == 0
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
        // A local address no service has any more is forgotten once no
        // worker forwards with a generation that has it and no connection
        // holds one of its ports.
        for (i, l) in self.laddr_slots.iter_mut().enumerate() {
            if let Some(s) = l {
                if s.services == 0
                    && s.since_generation <= workers_generation
                    && stats::laddr_total(cores, i).0 == 0
                {
                    *l = None;
                }
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
            ServiceKey::Inet { protocol, addr } => Ok((protocol.number(), addr.ip(), addr.port())),
            ServiceKey::Fwmark { mark, ipv6 } => {
                if *ipv6 {
                    return Err(err(
                        ErrorKind::NotSupported,
                        "IPv6 firewall-mark services are not supported by this rvs version yet",
                    ));
                }
                if *mark == 0 {
                    return Err(err(ErrorKind::Invalid, "firewall mark 0 is not a mark"));
                }
                Ok((0, IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
            }
        }
    }

    /// The scheduler flags of `c`, checked against its scheduler the way
    /// ipvsadm does (sh-* only with sh, mh-* only with mh). `flag-1`..`flag-3`
    /// (what ipvsadm calls the bits no scheduler names) are kept and listed
    /// but act on nothing, as in IPVS.
    fn sched_flags(c: &ServiceConfig) -> Result<SchedFlags, ApiError> {
        let mut flags = SchedFlags::default();
        for f in &c.sched_flags {
            if matches!(f.as_str(), "flag-1" | "flag-2" | "flag-3") {
                continue;
            }
            let (family, which) = match f.as_str() {
                "sh-fallback" => ("sh", 1),
                "sh-port" => ("sh", 2),
                "mh-fallback" => ("mh", 1),
                "mh-port" => ("mh", 2),
                _ => {
                    return Err(err(
                        ErrorKind::Invalid,
                        format!("unknown scheduler flag {f:?}"),
                    ))
                }
            };
            if c.scheduler != family {
                return Err(err(
                    ErrorKind::Invalid,
                    format!("scheduler flag {f} is only for the {family} scheduler"),
                ));
            }
            if which == 1 {
                flags.fallback = true;
            } else {
                flags.port = true;
            }
        }
        Ok(flags)
    }

    fn build_params(&self, c: &ServiceConfig) -> Result<BuildParams, ApiError> {
        Ok(BuildParams {
            flags: Self::sched_flags(c)?,
            mh_table_size: self.mh_table_size,
        })
    }

    fn check_service_config(&self, key: &ServiceKey, c: &ServiceConfig) -> Result<(), ApiError> {
        let params = self.build_params(c)?;
        match sched::build(&c.scheduler, &[], &params) {
            Ok(_) => {}
            Err(sched::BuildError::Unknown) => {
                return Err(err(
                    ErrorKind::NotFound,
                    format!(
                        "scheduler {:?} is not available (this version has: {})",
                        c.scheduler,
                        sched::NAMES.join(", ")
                    ),
                ))
            }
            Err(sched::BuildError::Invalid(m)) => return Err(err(ErrorKind::Invalid, m)),
        }
        if let Some(pe) = &c.persistence_engine {
            return Err(err(
                ErrorKind::NotSupported,
                format!("persistence engine {pe:?} is not supported by this rvs version yet"),
            ));
        }
        match c.persistent_timeout_s {
            Some(t) if t == 0 || t > PERSISTENT_TIMEOUT_MAX_S => {
                return Err(err(
                    ErrorKind::Invalid,
                    format!("persistence timeout {t} is not 1..{PERSISTENT_TIMEOUT_MAX_S}"),
                ))
            }
            None if c.netmask.is_some() => {
                return Err(err(
                    ErrorKind::Invalid,
                    "a persistence netmask needs a persistent service (-p)",
                ))
            }
            _ => {}
        }
        if c.one_packet {
            if let ServiceKey::Inet {
                protocol: Protocol::Tcp,
                ..
            } = key
            {
                return Err(err(
                    ErrorKind::Invalid,
                    "one-packet scheduling is only for UDP and firewall-mark services",
                ));
            }
        }
        if let ServiceKey::Inet { addr, .. } = key {
            if addr.port() == 0 && c.persistent_timeout_s.is_none() {
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

    /// Whether a service with scheduler `name` may hold `n` dests: the
    /// hash tables index dests in 16 bits, and Maglev needs at least as many
    /// slots as dests.
    fn check_dest_count(&self, name: &str, n: usize) -> Result<(), ApiError> {
        let max = if name == "mh" {
            (self.mh_table_size as usize).min(DESTS_PER_SERVICE_MAX)
        } else {
            DESTS_PER_SERVICE_MAX
        };
        if n > max {
            return Err(err(
                ErrorKind::NoMemory,
                format!("a service with scheduler {name} holds at most {max} real servers"),
            ));
        }
        Ok(())
    }

    /// Whether the scheduler called `name` wants a locality cache.
    fn wants_locality_cache(name: &str) -> bool {
        sched::build(name, &[], &BuildParams::default()).is_ok_and(|s| s.uses_locality_cache())
    }

    /// Give service `i` a locality cache if its scheduler wants one and it
    /// has none, or take it back if it no longer does.
    fn assign_locality_cache(&mut self, i: usize) -> Result<(), ApiError> {
        let wants = Self::wants_locality_cache(&self.services[i].config.scheduler);
        match (wants, self.services[i].locality_cache) {
            (true, None) => {
                let c = self.free_locality_caches.pop().ok_or_else(|| {
                    err(
                        ErrorKind::NoMemory,
                        "every locality cache (for lblc and lblcr services) is in use (locality_caches)",
                    )
                })?;
                self.services[i].locality_cache = Some(c);
            }
            (false, Some(c)) => {
                self.free_locality_caches.push(c);
                self.services[i].locality_cache = None;
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `addr` is one of the director's own (the kernel's) addresses.
    fn is_own_addr(&self, addr: IpAddr) -> bool {
        self.ports.iter().any(|p| match addr {
            IpAddr::V4(a) => p.addr == a,
            IpAddr::V6(a) => p.addr6 == Some(a),
        }) || self.network.addresses.iter().any(|a| a.addr == addr)
    }

    /// Check a dest against its service; returns the next hop to resolve
    /// and the port it is on.
    fn check_dest(&self, svc: &ServiceEntry, d: &DestConfig) -> Result<(IpAddr, u16), ApiError> {
        let addr = d.addr.ip();
        if addr.is_ipv6() != svc.addr.1.is_ipv6() {
            return Err(err(
                ErrorKind::NotSupported,
                "a real server of the other address family (a tunnel between families) is not supported by this rvs version",
            ));
        }
        if matches!(d.forward, Forward::Masq | Forward::FullNat) && svc.config.one_packet {
            // A one-packet datagram leaves no entry, so its reply could not
            // be translated back (`spec/conn.md` §8).
            return Err(err(
                ErrorKind::NotSupported,
                "NAT (-m) and FullNAT real servers are not supported in a one-packet (-o) service: replies need the connection entry",
            ));
        }
        if d.forward == Forward::Tunnel {
            use rvs_api::{TunnelCsum, TunnelKind};
            match (d.tunnel.kind, d.tunnel.csum) {
                (TunnelKind::Gre, _) => {
                    return Err(err(
                        ErrorKind::NotSupported,
                        "--tun-type gre is not supported by this rvs version (ipip and gue are)",
                    ))
                }
                (TunnelKind::Gue, TunnelCsum::RemCsum) => {
                    return Err(err(
                        ErrorKind::NotSupported,
                        "--tun-remcsum is not supported by this rvs version (--tun-nocsum and --tun-csum are)",
                    ))
                }
                (TunnelKind::Gue, _) if d.tunnel.port == 0 => {
                    return Err(err(ErrorKind::Invalid, "a GUE tunnel needs a port (--tun-port)"))
                }
                _ => {}
            }
        }
        if d.l_threshold > d.u_threshold {
            return Err(err(
                ErrorKind::Invalid,
                format!(
                    "lower threshold {} is above upper threshold {}",
                    d.l_threshold, d.u_threshold
                ),
            ));
        }
        if d.weight > i32::MAX as u32 {
            return Err(err(
                ErrorKind::Invalid,
                format!("weight {} is out of range", d.weight),
            ));
        }
        // A fwmark service's dests keep the port the client asked for in DR,
        // whatever port they are given. Only NAT maps ports.
        if matches!(svc.key, ServiceKey::Inet { .. })
            && !matches!(d.forward, Forward::Masq | Forward::FullNat)
            && d.addr.port() != svc.addr.2
        {
            return Err(err(
                ErrorKind::Invalid,
                "direct routing and tunnelling cannot map ports: the real server's port must be the service's",
            ));
        }
        if addr.is_unspecified()
            || addr.is_multicast()
            || matches!(addr, IpAddr::V4(a) if a.is_broadcast())
        {
            return Err(err(
                ErrorKind::Invalid,
                format!("{addr} is not a unicast address"),
            ));
        }
        way_for_dest(&self.ports, &self.port_names, &self.network, d)
    }

    /// `SetNetwork`: check the new settings, then move every dest whose way
    /// changes to its new next hop (the old neighbour slot retires with the
    /// generation).
    fn set_network(&mut self, net: rvs_api::Network, now_ms: u64) -> Result<(), ApiError> {
        let port_id = |name: &str| {
            self.port_names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| {
                    err(
                        ErrorKind::Invalid,
                        format!(
                            "no dataplane port is called {name:?} (the ports are {})",
                            self.port_names.join(", ")
                        ),
                    )
                })
        };
        for (i, a) in net.addresses.iter().enumerate() {
            let p = port_id(&a.port)?;
            let bits = if a.addr.is_ipv4() { 32 } else { 128 };
            if a.prefix_len > bits
                || a.addr.is_unspecified()
                || a.addr.is_multicast()
                || a.addr.is_loopback()
            {
                return Err(err(
                    ErrorKind::Invalid,
                    format!(
                        "{}/{} is not a unicast interface address",
                        a.addr, a.prefix_len
                    ),
                ));
            }
            if net.addresses[..i].iter().any(|b| b.addr == a.addr)
                || self.ports.iter().any(|q| match a.addr {
                    IpAddr::V4(v) => q.addr == v,
                    IpAddr::V6(v) => q.addr6 == Some(v),
                })
            {
                return Err(err(
                    ErrorKind::Exists,
                    format!("{} is given twice (or is a port's own address)", a.addr),
                ));
            }
            if a.addr.is_ipv6() && self.ports[p].addr6.is_none() {
                return Err(err(
                    ErrorKind::Invalid,
                    format!(
                        "port {} has no IPv6 address (address6) to add {} beside",
                        a.port, a.addr
                    ),
                ));
            }
            if self.services.iter().any(|s| s.addr.1 == a.addr)
                || self.services.iter().any(|s| s.laddrs.contains(&a.addr))
            {
                return Err(err(
                    ErrorKind::Invalid,
                    format!(
                        "{} is a virtual or local address of a service, not the director's own",
                        a.addr
                    ),
                ));
            }
        }
        for r in &net.routes {
            if let Some(name) = &r.port {
                port_id(name)?;
            }
            match r.via {
                Some(via) => {
                    if via.is_ipv4() != r.dst.addr.is_ipv4() {
                        return Err(err(
                            ErrorKind::Invalid,
                            format!(
                                "route {}/{}: gateway {via} is of the other family",
                                r.dst.addr, r.dst.len
                            ),
                        ));
                    }
                    let on = connected_port(&self.ports, &self.port_names, &net, via);
                    let wanted = r.port.as_deref().map(port_id).transpose()?;
                    match (on, wanted) {
                        (None, _) => {
                            return Err(err(
                                ErrorKind::Invalid,
                                format!(
                                "route {}/{}: gateway {via} is on no directly connected network",
                                r.dst.addr, r.dst.len
                            ),
                            ))
                        }
                        (Some(on), Some(w)) if usize::from(on) != w => {
                            return Err(err(
                                ErrorKind::Invalid,
                                format!(
                                    "route {}/{}: gateway {via} is not on port {}",
                                    r.dst.addr, r.dst.len, self.port_names[w]
                                ),
                            ))
                        }
                        _ => {}
                    }
                }
                None if r.port.is_none() => {
                    return Err(err(
                        ErrorKind::Invalid,
                        format!(
                            "route {}/{}: needs a gateway (via) or a port",
                            r.dst.addr, r.dst.len
                        ),
                    ))
                }
                None => {}
            }
        }
        // Every dest must keep a way; those whose way changes move.
        let mut moves = vec![];
        for (si, svc) in self.services.iter().enumerate() {
            for (di, d) in svc.dests.iter().enumerate() {
                let (hop, port) = way_for_dest(&self.ports, &self.port_names, &net, &d.config)
                    .map_err(|e| {
                        err(
                            e.kind,
                            format!(
                                "real server {} of a service would lose its way: {}",
                                d.config.addr, e.message
                            ),
                        )
                    })?;
                if (d.port_id, d.hop) != (port, hop) {
                    moves.push((si, di, hop, port));
                }
            }
        }
        let mut wanted = vec![];
        for &(_, _, hop, port) in &moves {
            let Some(slot) = self.resolver.want(port, hop, now_ms) else {
                for s in wanted {
                    self.resolver.unwant(s);
                }
                return Err(err(ErrorKind::NoMemory, "the neighbour table is full"));
            };
            wanted.push(slot);
        }
        let next_generation = self.generation + 1;
        for (&(si, di, hop, port), slot) in moves.iter().zip(wanted) {
            let d = &mut self.services[si].dests[di];
            self.retiring_neigh.push((d.neigh_slot, next_generation));
            d.neigh_slot = slot;
            d.hop = hop;
            d.port_id = port;
            self.services[si].built = None;
        }
        self.network = net;
        Ok(())
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
                    // Counters and rate estimators (`spec/ipvsadm.md` §4).
                    s.baseline = stats::slot_total(cores, s.slot);
                    s.est = stats::Estimator::starting_at(&s.baseline);
                    for d in &mut s.dests {
                        d.baseline = stats::slot_total(cores, d.slot);
                        d.est = stats::Estimator::starting_at(&d.baseline);
                    }
                }
                Ok((Response::Ok, false))
            }
            Request::AddService { key, config } => {
                if self.find_service(&key).is_some() {
                    return Err(err(ErrorKind::Exists, "service already exists"));
                }
                let addr = Self::service_addr(&key)?;
                self.check_service_config(&key, &config)?;
                let wants_cache = Self::wants_locality_cache(&config.scheduler);
                if wants_cache && self.free_locality_caches.is_empty() {
                    return Err(err(
                        ErrorKind::NoMemory,
                        "every locality cache (for lblc and lblcr services) is in use (locality_caches)",
                    ));
                }
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
                    est: stats::Estimator::starting_at(&baseline),
                    built: None,
                    locality_cache: None,
                    laddrs: vec![],
                });
                let i = self.services.len() - 1;
                self.assign_locality_cache(i)
                    .expect("a free cache was checked for above");
                Ok((Response::Ok, true))
            }
            Request::EditService { key, config } => {
                let i = self
                    .find_service(&key)
                    .ok_or_else(|| err(ErrorKind::NoService, "no such service"))?;
                self.check_service_config(&key, &config)?;
                self.check_dest_count(&config.scheduler, self.services[i].dests.len())?;
                if config.one_packet
                    && self.services[i]
                        .dests
                        .iter()
                        .any(|d| matches!(d.config.forward, Forward::Masq | Forward::FullNat))
                {
                    return Err(err(
                        ErrorKind::NotSupported,
                        "one-packet scheduling (-o) is not supported with NAT (-m) or FullNAT real servers: replies need the connection entry",
                    ));
                }
                let old = std::mem::replace(&mut self.services[i].config, config);
                if let Err(e) = self.assign_locality_cache(i) {
                    self.services[i].config = old;
                    return Err(e);
                }
                let s = &mut self.services[i];
                if s.config.scheduler != old.scheduler {
                    // A new scheduler starts afresh on every core (IPVS's
                    // init_service): a new id resets the per-core state and
                    // locality cache entries.
                    self.next_service_id += 1;
                    s.id = self.next_service_id;
                }
                if s.config.scheduler != old.scheduler || s.config.sched_flags != old.sched_flags {
                    s.built = None;
                }
                Ok((Response::Ok, true))
            }
            Request::AddLaddr { service, addr } => {
                let i = self
                    .find_service(&service)
                    .ok_or_else(|| err(ErrorKind::NoService, "service not defined"))?;
                let a = addr;
                if self.services[i].laddrs.contains(&a) {
                    return Err(err(ErrorKind::Exists, "local address already exists"));
                }
                if self.is_own_addr(a) {
                    return Err(err(
                        ErrorKind::Invalid,
                        format!("{a} is the director's own address (the kernel's): a local address must be one of its own"),
                    ));
                }
                if self
                    .services
                    .iter()
                    .any(|s| s.addr.1 == a && !s.addr.1.is_unspecified())
                {
                    return Err(err(
                        ErrorKind::Invalid,
                        format!("{a} is a virtual address: a local address must be another"),
                    ));
                }
                self.take_laddr(a, cores)?;
                self.services[i].laddrs.push(a);
                Ok((Response::Ok, true))
            }
            Request::DelLaddr { service, addr } => {
                let i = self
                    .find_service(&service)
                    .ok_or_else(|| err(ErrorKind::NoService, "service not defined"))?;
                let a = addr;
                let Some(j) = self.services[i].laddrs.iter().position(|&l| l == a) else {
                    return Err(err(ErrorKind::NotFound, "no such local address"));
                };
                self.services[i].laddrs.remove(j);
                self.release_laddr(a);
                Ok((Response::Ok, true))
            }
            Request::ListLaddrs { service } => {
                let list = match service {
                    None => self
                        .services
                        .iter()
                        .flat_map(|s| self.laddr_status(s, cores))
                        .collect(),
                    Some(k) => {
                        let i = self
                            .find_service(&k)
                            .ok_or_else(|| err(ErrorKind::NoService, "no such service"))?;
                        self.laddr_status(&self.services[i], cores)
                    }
                };
                Ok((Response::Laddrs(list), false))
            }
            Request::Batch(batch) => self.apply_batch(batch, cores, now_ms),
            // The workers hold the entries: the control thread asks them.
            Request::ListConns => Err(err(
                ErrorKind::NotSupported,
                "connection entries are listed by the dataplane's control thread, not the admin state",
            )),
            Request::GetTimeouts => Ok((Response::Timeouts(self.api_timeouts()), false)),
            Request::GetNetwork => Ok((Response::Network(self.network.clone()), false)),
            Request::ReleaseVips(mut addrs) => {
                addrs.sort();
                addrs.dedup();
                if addrs == self.released {
                    return Ok((Response::Ok, false));
                }
                self.released = addrs;
                Ok((Response::Ok, true))
            }
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
            Request::SetTimeouts(t) => {
                if [t.tcp_s, t.tcpfin_s, t.udp_s]
                    .iter()
                    .any(|&v| v > rvs_api::TIMEOUT_MAX_S)
                {
                    return Err(err(
                        ErrorKind::Invalid,
                        format!("a timeout is above {} s", rvs_api::TIMEOUT_MAX_S),
                    ));
                }
                // 0 leaves a value as it is (`spec/conn.md` §4); tcpfin is
                // FIN_WAIT's alone.
                if t.tcp_s != 0 {
                    self.timeouts.tcp_s[State::Established as usize] = t.tcp_s;
                }
                if t.tcpfin_s != 0 {
                    self.timeouts.tcp_s[State::FinWait as usize] = t.tcpfin_s;
                }
                if t.udp_s != 0 {
                    self.timeouts.udp_s = t.udp_s;
                }
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
                let (hop, port_id) = self.check_dest(&self.services[i], &dest)?;
                let addr = dest.addr.ip();
                self.check_dest_count(
                    &self.services[i].config.scheduler,
                    self.services[i].dests.len() + 1,
                )?;
                // Back from the trash, with its connections, as IPVS does.
                let mut entry = if let Some(t) = self
                    .trash
                    .iter()
                    .position(|t| t.service == service && t.dest.config.addr == dest.addr)
                {
                    let mut e = self.trash.swap_remove(t).dest;
                    // §15: as for an edit, removing or raising the upper
                    // threshold clears OVERLOAD.
                    if dest.u_threshold == 0 || dest.u_threshold > e.config.u_threshold {
                        self.overload.set(e.slot, false);
                    }
                    e.config = dest;
                    // The network may have changed while it was deleted.
                    if self.resolver.target(e.neigh_slot) != Some((port_id, hop)) {
                        let Some(slot) = self.resolver.want(port_id, hop, now_ms) else {
                            return Err(err(ErrorKind::NoMemory, "the neighbour table is full"));
                        };
                        self.retiring_neigh.push((e.neigh_slot, self.generation + 1));
                        e.neigh_slot = slot;
                        e.hop = hop;
                        e.port_id = port_id;
                    }
                    e
                } else {
                    let slot = self.alloc_slot()?;
                    let Some(neigh_slot) = self.resolver.want(port_id, hop, now_ms) else {
                        self.free_slots.push(slot);
                        return Err(err(ErrorKind::NoMemory, "the neighbour table is full"));
                    };
                    DestEntry {
                        config: dest,
                        last_weight: 0,
                        addr,
                        slot,
                        neigh_slot,
                        hop,
                        port_id,
                        baseline: stats::slot_total(cores, slot),
                        est: stats::Estimator::starting_at(&stats::slot_total(cores, slot)),
                    }
                };
                // On an add the last weight is the weight given, 0 too (a dest
                // added with weight 0 gets no Maglev slots).
                entry.last_weight = entry.config.weight;
                self.services[i].dests.insert(0, entry);
                self.services[i].built = None;
                Ok((Response::Ok, true))
            }
            Request::EditDest { service, dest } => {
                let (i, j) = self.find_dest(&service, dest.addr)?;
                self.check_dest(&self.services[i], &dest)?;
                let d = &mut self.services[i].dests[j];
                // §15: an edit that removes or raises the upper threshold
                // clears OVERLOAD.
                if dest.u_threshold == 0 || dest.u_threshold > d.config.u_threshold {
                    self.overload.set(d.slot, false);
                }
                if dest.weight > 0 {
                    d.last_weight = dest.weight;
                }
                d.config = dest;
                self.services[i].built = None;
                Ok((Response::Ok, true))
            }
            Request::DelDest { service, addr } => {
                let (i, j) = self.find_dest(&service, addr)?;
                let d = self.services[i].dests.remove(j);
                self.services[i].built = None;
                let svc = self.services[i].key;
                self.trash_dest(svc, d);
                Ok((Response::Ok, true))
            }
            Request::AddMarkRule(rule) => {
                classify::check_rule(&rule)?;
                if self.mark_rules.contains(&rule) {
                    return Err(err(ErrorKind::Exists, "the rule already exists"));
                }
                if self.mark_rules.len() >= classify::RULES_MAX {
                    return Err(err(
                        ErrorKind::NoMemory,
                        format!("the classifier holds at most {} rules", classify::RULES_MAX),
                    ));
                }
                self.mark_rules.push(rule);
                Ok((Response::Ok, true))
            }
            Request::DelMarkRule(rule) => {
                let i = self
                    .mark_rules
                    .iter()
                    .position(|r| *r == rule)
                    .ok_or_else(|| err(ErrorKind::NotFound, "no such rule"))?;
                self.mark_rules.remove(i);
                Ok((Response::Ok, true))
            }
            Request::DelMarkRules { mark } => {
                let before = self.mark_rules.len();
                self.mark_rules.retain(|r| r.mark != mark);
                if self.mark_rules.len() == before {
                    return Err(err(
                        ErrorKind::NotFound,
                        format!("no rule sets mark {mark}"),
                    ));
                }
                Ok((Response::Ok, true))
            }
            Request::ListMarkRules => Ok((Response::MarkRules(self.mark_rules.clone()), false)),
        }
    }

    fn trash_dest(&mut self, service: ServiceKey, dest: DestEntry) {
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
        for a in &s.laddrs {
            self.release_laddr(*a);
        }
        if let Some(c) = s.locality_cache {
            self.free_locality_caches.push(c);
        }
        for d in s.dests {
            self.trash_dest(s.key, d);
        }
        // Workers on an older generation may still count it.
        self.retiring_service_slots
            .push((s.slot, self.generation + 1));
    }

    /// One service fewer has local address `addr`.
    fn release_laddr(&mut self, addr: IpAddr) {
        let generation = self.generation + 1;
        if let Some(s) = self
            .laddr_slots
            .iter_mut()
            .flatten()
            .find(|s| s.addr == addr)
        {
            s.services -= 1;
            s.since_generation = generation;
        }
    }

    /// The slot of local address `addr`, for one service more.
    fn take_laddr(&mut self, addr: IpAddr, cores: &[Arc<CoreStats>]) -> Result<(), ApiError> {
        if let Some(s) = self
            .laddr_slots
            .iter_mut()
            .flatten()
            .find(|s| s.addr == addr)
        {
            s.services += 1;
            return Ok(());
        }
        let Some(i) = self.laddr_slots.iter().position(|s| s.is_none()) else {
            return Err(err(
                ErrorKind::NoMemory,
                format!(
                    "all {} local address slots are in use",
                    stats::LADDR_SLOTS_MAX
                ),
            ));
        };
        self.laddr_slots[i] = Some(LaddrSlot {
            addr,
            services: 1,
            since_generation: 0,
            exhausted_base: stats::laddr_total(cores, i).1,
        });
        Ok(())
    }

    fn laddr_slot_of(&self, addr: IpAddr) -> Option<usize> {
        self.laddr_slots
            .iter()
            .position(|s| s.is_some_and(|s| s.addr == addr))
    }

    fn laddr_status(
        &self,
        s: &ServiceEntry,
        cores: &[Arc<CoreStats>],
    ) -> Vec<rvs_api::LaddrStatus> {
        s.laddrs
            .iter()
            .map(|&a| {
                let (conns, exhausted) = self.laddr_slot_of(a).map_or((0, 0), |i| {
                    let (conns, exhausted) = stats::laddr_total(cores, i);
                    let base = self.laddr_slots[i].map_or(0, |l| l.exhausted_base);
                    (conns, exhausted.wrapping_sub(base))
                });
                rvs_api::LaddrStatus {
                    service: s.key,
                    addr: a,
                    conns,
                    exhausted,
                }
            })
            .collect()
    }

    fn api_timeouts(&self) -> rvs_api::Timeouts {
        rvs_api::Timeouts {
            tcp_s: self.timeouts.of(State::Established),
            tcpfin_s: self.timeouts.of(State::FinWait),
            udp_s: self.timeouts.udp_s,
        }
    }

    /// Feed every service's and dest's rate estimator (the control thread
    /// calls this every `stats::ESTIMATE_EVERY_MS`).
    pub fn estimate(&mut self, cores: &[Arc<CoreStats>]) {
        for s in &mut self.services {
            s.est.sample(&stats::slot_total(cores, s.slot));
            for d in &mut s.dests {
                d.est.sample(&stats::slot_total(cores, d.slot));
            }
        }
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
        let to_rates = |e: &stats::Estimator| {
            let r = e.rates();
            rvs_api::Rates {
                cps: r.cps,
                in_pps: r.in_pps,
                out_pps: r.out_pps,
                in_bps: r.in_bps,
                out_bps: r.out_bps,
            }
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
                    persist_conns: t.persist,
                    stats: to_stats(t),
                    rates: to_rates(&d.est),
                }
            })
            .collect();
        ServiceStatus {
            key: s.key,
            config: s.config.clone(),
            stats: to_stats(stats::slot_total(cores, s.slot).since(&s.baseline)),
            rates: to_rates(&s.est),
            dests,
        }
    }

    /// The generation to publish now. Schedulers are rebuilt only for the
    /// services that changed since the last one.
    pub fn snapshot(&mut self) -> Snapshot {
        let mh_table_size = self.mh_table_size;
        // Slots no service has keep their address in the generation until
        // they are forgotten: replies to their connections still arrive.
        let laddr_slots: Vec<Option<IpAddr>> =
            self.laddr_slots.iter().map(|l| l.map(|l| l.addr)).collect();
        let services = self
            .services
            .iter_mut()
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
                        next_hop: d.hop,
                        port_id: d.port_id,
                        u_threshold: d.config.u_threshold,
                        l_threshold: d.config.l_threshold,
                        tunnel: d.config.tunnel,
                    })
                    .collect();
                let views: Vec<DestView> = s
                    .dests
                    .iter()
                    .map(|d| DestView {
                        slot: d.slot,
                        addr: d.addr,
                        port: d.config.addr.port(),
                        weight: d.config.weight,
                        last_weight: d.last_weight,
                    })
                    .collect();
                let scheduler = match &s.built {
                    Some(b) => Arc::clone(b),
                    None => {
                        let params = BuildParams {
                            flags: Self::sched_flags(&s.config)
                                .expect("flags are validated when a service is added or edited"),
                            mh_table_size,
                        };
                        let b: Arc<dyn Scheduler> =
                            Arc::from(sched::build(&s.config.scheduler, &views, &params).expect(
                                "schedulers are validated when a service is added or edited",
                            ));
                        s.built = Some(Arc::clone(&b));
                        b
                    }
                };
                let persistence = s.config.persistent_timeout_s.map(|timeout_s| Persistence {
                    timeout_s,
                    netmask: s.config.netmask.unwrap_or(u32::MAX),
                });
                Service {
                    id: s.id,
                    key: s.addr,
                    fwmark: match s.key {
                        ServiceKey::Fwmark { mark, .. } => mark,
                        ServiceKey::Inet { .. } => 0,
                    },
                    slot: s.slot,
                    persistence,
                    one_packet: s.config.one_packet,
                    proxy_protocol: s.config.proxy_protocol,
                    locality_cache: s.locality_cache,
                    laddrs: s
                        .laddrs
                        .iter()
                        .filter_map(|a| laddr_slots.iter().position(|l| l == &Some(*a)))
                        .map(|i| i as u16)
                        .collect(),
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
            Classifier::new(&self.mark_rules),
            self.slots_max as usize,
            laddr_slots,
        )
        .with_released(&self.released)
        .with_sync_master(self.sync_master)
    }

    /// Workers report their connections (a sync master runs) or not;
    /// returns whether that changed (publish a generation then).
    pub fn set_sync_master(&mut self, on: bool) -> bool {
        if self.sync_master == on {
            return false;
        }
        self.sync_master = on;
        self.generation += 1;
        true
    }

    /// The port an announcement of `addr` leaves by: the one whose
    /// connected network holds it, else the first.
    pub fn announce_port(&self, addr: IpAddr) -> u16 {
        connected_port(&self.ports, &self.port_names, &self.network, addr).unwrap_or(0)
    }
}

/// The port whose directly connected network holds `addr`.
fn connected_port(
    ports: &[PortInfo],
    names: &[String],
    net: &rvs_api::Network,
    addr: IpAddr,
) -> Option<u16> {
    let own = ports.iter().position(|p| match addr {
        IpAddr::V4(_) => {
            Prefix::new(IpAddr::V4(p.addr), p.prefix_len).is_some_and(|n| n.contains(addr))
        }
        IpAddr::V6(_) => p.addr6.is_some_and(|mine| {
            Prefix::new(IpAddr::V6(mine), p.prefix6_len).is_some_and(|n| n.contains(addr))
        }),
    });
    own.or_else(|| {
        net.addresses
            .iter()
            .find(|a| Prefix::new(a.addr, a.prefix_len).is_some_and(|n| n.contains(addr)))
            .and_then(|a| names.iter().position(|n| *n == a.port))
    })
    .map(|i| i as u16)
}

/// How `addr` is reached: (port, next hop, directly connected).
fn way_to(
    ports: &[PortInfo],
    names: &[String],
    net: &rvs_api::Network,
    addr: IpAddr,
) -> Option<(u16, IpAddr, bool)> {
    if let Some(p) = connected_port(ports, names, net, addr) {
        return Some((p, addr, true));
    }
    let route = net
        .routes
        .iter()
        .filter(|r| r.dst.contains(addr))
        .max_by_key(|r| r.dst.len)?;
    match route.via {
        Some(via) => connected_port(ports, names, net, via).map(|p| (p, via, false)),
        None => {
            let name = route.port.as_deref()?;
            let p = names.iter().position(|n| n == name)?;
            Some((p as u16, addr, true))
        }
    }
}

/// The next hop and port of dest `d`: direct routing needs a directly
/// connected real server; the other methods may go through a gateway.
fn way_for_dest(
    ports: &[PortInfo],
    names: &[String],
    net: &rvs_api::Network,
    d: &DestConfig,
) -> Result<(IpAddr, u16), ApiError> {
    let addr = d.addr.ip();
    match way_to(ports, names, net, addr) {
        Some((port, hop, connected)) if connected || d.forward != Forward::Route => Ok((hop, port)),
        Some(_) => Err(err(
            ErrorKind::Invalid,
            format!("{addr} is reached through a gateway: direct routing needs a directly connected real server"),
        )),
        None => Err(err(
            ErrorKind::Invalid,
            format!("{addr} is on no directly connected network of the dataplane's ports and no route leads there"),
        )),
    }
}
