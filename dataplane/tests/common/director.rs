//! A director for tests: the admin state and one worker's pipeline, driven
//! with admin requests and frames, the way the dataplane drives them (every
//! change publishes a new generation to the worker).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use rvs_api::{DestConfig, Forward, Request, Response, ServiceConfig, ServiceKey, ServiceStatus};
use rvs_dataplane::admin::{AdminSetup, AdminState};
use rvs_dataplane::neigh::NeighTable;
use rvs_dataplane::pipeline::{
    ConnPolicy, ConnRecord, IcmpLimits, Verdict, Worker, WorkerEvent, WorkerSetup,
};
use rvs_dataplane::service::PortInfo;
use rvs_dataplane::stats::{CoreStats, Counter, OverloadFlags};
use rvs_dataplane::sync::SyncConn;
use rvs_dataplane::wire::ethernet::MacAddr;
use rvs_dataplane::wire::tcp::flags;

use super::{tcp_frame, udp_frame, LB, LB6, LB_MAC, REAL_SERVERS, REAL_SERVERS6};

const SLOTS: u32 = 64;

/// The director's one port: `LB_MAC`, LB/24, MTU 1500, and with `v6`
/// LB6/64.
pub fn port(v6: bool) -> Vec<PortInfo> {
    vec![PortInfo {
        mac: LB_MAC,
        addr: LB,
        prefix_len: 24,
        addr6: v6.then_some(LB6),
        prefix6_len: if v6 { 64 } else { 0 },
        mtu: 1500,
    }]
}

/// Worker 0 of as many as `cores`, on `admin`'s snapshot, with the tests'
/// sizes and the default policy and ICMP limits.
pub fn worker_setup(
    admin: &mut AdminState,
    cores: &[Arc<CoreStats>],
    overload: Arc<OverloadFlags>,
    neigh: Arc<NeighTable>,
) -> WorkerSetup {
    WorkerSetup {
        id: 0,
        workers: cores.len() as u16,
        snapshot: Arc::new(admin.snapshot()),
        conns_max: 4096,
        conns6_max: 256,
        cores: cores.to_vec().into(),
        overload,
        neigh,
        outbox_frames: 64,
        policy: ConnPolicy::default(),
        locality_caches: 2,
        locality_cache_entries: 64,
        icmp: IcmpLimits::default(),
        syn_keys: Arc::new(rvs_dataplane::synproxy::SynKeys::with_seed(1)),
    }
}

pub struct Director {
    pub admin: AdminState,
    pub worker: Worker,
    pub cores: Vec<Arc<CoreStats>>,
    neigh: Arc<NeighTable>,
    events: Arc<ArrayQueue<WorkerEvent>>,
    /// What the worker reported for a sync backup.
    pub sync_out: Arc<ArrayQueue<SyncConn>>,
    /// The worker's SYN cookie keys (a test rotates them).
    pub syn_keys: Arc<rvs_dataplane::synproxy::SynKeys>,
}

/// Where a frame went: the real server whose MAC it now carries, or the
/// verdict when it was not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    To(Ipv4Addr),
    Not(Verdict),
}

impl Director {
    pub fn new(policy: ConnPolicy) -> Self {
        Director::sized(policy, 4096)
    }

    pub fn sized(policy: ConnPolicy, conns_max: usize) -> Self {
        Director::core_of(policy, conns_max, 0, 1)
    }

    /// Worker `id` of `workers` (the others' frames come back as
    /// hand-offs).
    pub fn core_of(policy: ConnPolicy, conns_max: usize, id: u16, workers: u16) -> Self {
        Director::build(policy, conns_max, id, workers, IcmpLimits::default())
    }

    /// One worker whose ICMP errors have the rate limits `icmp`.
    pub fn with_icmp_limits(icmp: IcmpLimits) -> Self {
        Director::build(ConnPolicy::default(), 4096, 0, 1, icmp)
    }

    fn build(
        policy: ConnPolicy,
        conns_max: usize,
        id: u16,
        workers: u16,
        icmp: IcmpLimits,
    ) -> Self {
        let ports = port(true);
        let overload = Arc::new(OverloadFlags::new(SLOTS as usize));
        let mut admin = AdminState::new(AdminSetup {
            overload: Arc::clone(&overload),
            ..AdminSetup::new(ports, SLOTS)
        });
        let cores: Vec<_> = (0..workers)
            .map(|_| Arc::new(CoreStats::new(SLOTS as usize)))
            .collect();
        let neigh = Arc::new(NeighTable::new(16));
        let events = Arc::new(ArrayQueue::new(64));
        let sync_out = Arc::new(ArrayQueue::new(1024));
        let syn_keys = Arc::new(rvs_dataplane::synproxy::SynKeys::with_seed(1));
        let worker = Worker::new(WorkerSetup {
            id,
            conns_max,
            policy,
            icmp,
            syn_keys: Arc::clone(&syn_keys),
            ..worker_setup(&mut admin, &cores, overload, Arc::clone(&neigh))
        });
        Director {
            admin,
            worker,
            cores,
            neigh,
            events,
            sync_out,
            syn_keys,
        }
    }

    /// Move what the worker's last frames asked to be sent onto the rings,
    /// as the worker loop does after a burst.
    pub fn drain(&mut self) {
        self.worker.drain_outbox(&self.events, &self.sync_out);
    }

    /// What the worker told its control thread.
    pub fn events(&self) -> &ArrayQueue<WorkerEvent> {
        &self.events
    }

    /// Apply a request; a change is published to the worker at once.
    pub fn admin(&mut self, req: Request) -> Response {
        let (resp, changed) = self.admin.handle(req, &self.cores, 1);
        if changed {
            let v4 = REAL_SERVERS.iter().map(|&(ip, mac)| (IpAddr::V4(ip), mac));
            let v6 = REAL_SERVERS6.iter().map(|&(ip, mac)| (IpAddr::V6(ip), mac));
            for (ip, mac) in v4.chain(v6) {
                if let Some(slot) = self.admin.resolver.slot_of(0, ip) {
                    self.neigh.set(slot, Some(mac));
                }
            }
            drop(self.worker.set_snapshot(Arc::new(self.admin.snapshot())));
        }
        resp
    }

    /// Apply a request that must succeed.
    pub fn ok(&mut self, req: Request) {
        let desc = format!("{req:?}");
        assert_eq!(self.admin(req), Response::Ok, "{desc}");
    }

    pub fn add_service(&mut self, key: ServiceKey, config: ServiceConfig) {
        self.ok(Request::AddService { key, config });
    }

    /// `-a ... -r addr:port -g -w weight`.
    pub fn add_dest(&mut self, service: ServiceKey, addr: Ipv4Addr, port: u16, weight: u32) {
        self.add_dest_with(service, dest(addr, port, weight));
    }

    pub fn add_dest_with(&mut self, service: ServiceKey, dest: DestConfig) {
        self.ok(Request::AddDest { service, dest });
    }

    /// `-a ... -r addr:port -w 1` by `forward`.
    pub fn add_dest_by(
        &mut self,
        service: ServiceKey,
        forward: Forward,
        addr: Ipv4Addr,
        port: u16,
    ) {
        self.add_dest_with(
            service,
            DestConfig {
                forward,
                ..dest(addr, port, 1)
            },
        );
    }

    pub fn edit_dest(&mut self, service: ServiceKey, addr: Ipv4Addr, port: u16, weight: u32) {
        self.ok(Request::EditDest {
            service,
            dest: dest(addr, port, weight),
        });
    }

    pub fn send(&mut self, mut frame: rvs_dataplane::pipeline::VecFrame, now_ms: u64) -> Sent {
        let v = self.worker.handle_frame(0, &mut frame, now_ms, false);
        self.drain();
        match v {
            Verdict::Forward(_) => {
                let mac = MacAddr(frame.0[0..6].try_into().expect("6 bytes"));
                let rs = REAL_SERVERS
                    .iter()
                    .find(|(_, m)| *m == mac)
                    .expect("forwarded to a known real server");
                Sent::To(rs.0)
            }
            v => Sent::Not(v),
        }
    }

    /// A TCP segment with `fl` from `client`:`sport` to `vip`:`vport` at `now_s`.
    pub fn tcp(
        &mut self,
        client: Ipv4Addr,
        sport: u16,
        vip: (Ipv4Addr, u16),
        fl: u8,
        now_s: u64,
    ) -> Sent {
        self.send(tcp_frame(client, sport, vip.0, vip.1, fl), now_s * 1000 + 1)
    }

    /// A SYN: a new connection (unless one exists).
    pub fn syn(&mut self, client: Ipv4Addr, sport: u16, vip: (Ipv4Addr, u16), now_s: u64) -> Sent {
        self.tcp(client, sport, vip, flags::SYN, now_s)
    }

    pub fn udp(&mut self, client: Ipv4Addr, sport: u16, vip: (Ipv4Addr, u16), now_s: u64) -> Sent {
        self.send(udp_frame(client, sport, vip.0, vip.1), now_s * 1000 + 1)
    }

    /// Let the worker expire what is due at `now_s`.
    pub fn sweep(&mut self, now_s: u64) {
        self.worker.sweep(now_s * 1000 + 1, usize::MAX);
    }

    pub fn list(&mut self) -> Vec<ServiceStatus> {
        match self.admin(Request::List { service: None }) {
            Response::Services(s) => s,
            other => panic!("{other:?}"),
        }
    }

    /// (ActiveConn, InActConn, PersistConn) of a dest.
    pub fn conns_of(&mut self, service: ServiceKey, addr: Ipv4Addr) -> (u64, u64, u64) {
        let list = self.list();
        let s = list.iter().find(|s| s.key == service).expect("the service");
        let d = s
            .dests
            .iter()
            .find(|d| d.config.addr.ip() == addr)
            .expect("the dest");
        (d.active_conns, d.inactive_conns, d.persist_conns)
    }

    /// The worker's connection entries at `now_ms`, as `-Lnc` lists them.
    pub fn conns(&self, now_ms: u64) -> Vec<ConnRecord> {
        let mut out = vec![];
        self.worker.dump(0, usize::MAX, now_ms, &mut |r| {
            out.push(r);
            true
        });
        out
    }

    pub fn counter(&self, c: Counter) -> u64 {
        rvs_dataplane::stats::total(&self.cores, c)
    }
}

pub fn dest(addr: Ipv4Addr, port: u16, weight: u32) -> DestConfig {
    DestConfig {
        addr: (addr, port).into(),
        forward: Forward::Route,
        weight,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: Default::default(),
    }
}

/// Every connection entry of `d`'s worker at `now_ms`.
pub fn conns(d: &Director, now_ms: u64) -> Vec<ConnRecord> {
    let mut out = vec![];
    d.worker.dump(0, usize::MAX, now_ms, &mut |r| {
        out.push(r);
        true
    });
    out
}
