//! A director as the golden tests make one (`dataplane/tests/common`): the
//! admin state holding a service of each forwarding method in both
//! families, published to one worker, with the real servers' MACs known.
//! The targets that need it: `frames`, `sync` and `admin`.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use crossbeam_queue::ArrayQueue;
use rvs_api::{
    DestConfig, Forward, Protocol, Request, Response, ServiceConfig, ServiceKey, Tunnel,
    TunnelCsum, TunnelKind,
};
use rvs_dataplane::admin::{AdminSetup, AdminState};
use rvs_dataplane::neigh::NeighTable;
use rvs_dataplane::pipeline::{ConnPolicy, VecFrame, Worker, WorkerEvent, WorkerSetup};
use rvs_dataplane::service::{PortInfo, Snapshot};
use rvs_dataplane::stats::{CoreStats, OverloadFlags};
use rvs_dataplane::sync::SyncConn;
use rvs_dataplane::wire::ethernet::MacAddr;

pub const LB_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
pub const CLI_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
pub const LB: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const CLI: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
pub const LADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 201);
pub const LB6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 2);
pub const CLI6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x100);
pub const LADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x201);

/// The real servers, with their MACs.
pub const RS: [(Ipv4Addr, MacAddr); 2] = [
    (
        Ipv4Addr::new(198, 18, 0, 11),
        MacAddr([2, 0, 0, 0, 0, 0x11]),
    ),
    (
        Ipv4Addr::new(198, 18, 0, 12),
        MacAddr([2, 0, 0, 0, 0, 0x12]),
    ),
];
pub const RS6: [(Ipv6Addr, MacAddr); 2] = [
    (
        Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x11),
        MacAddr([2, 0, 0, 0, 0, 0x11]),
    ),
    (
        Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x12),
        MacAddr([2, 0, 0, 0, 0, 0x12]),
    ),
];

/// The services: (virtual port, protocol, forwarding method, scheduler,
/// tunnel), each in both families (VIP and VIP6), with both real servers.
/// Port 80 DR, 81 NAT, 82 IPIP, 83 and 86 GUE (one dest with its
/// checksum), 84 FullNAT (TCP and UDP), 85 DR persistent, 87 FullNAT to
/// real servers of the other family ([`XFAM_PORT`]), 88 NAT with the SYN
/// proxy (`--synproxy`), 89 NAT and 90 DR over SCTP, 53 NAT over UDP; the
/// schedulers vary so that each kind of table is built.
pub const SERVICES: [(u16, Protocol, Forward, &str, TunnelKind); 13] = [
    (80, Protocol::Tcp, Forward::Route, "rr", TunnelKind::Ipip),
    (81, Protocol::Tcp, Forward::Masq, "wlc", TunnelKind::Ipip),
    (82, Protocol::Tcp, Forward::Tunnel, "sh", TunnelKind::Ipip),
    (83, Protocol::Udp, Forward::Tunnel, "mh", TunnelKind::Gue),
    (84, Protocol::Tcp, Forward::FullNat, "lc", TunnelKind::Ipip),
    (
        84,
        Protocol::Udp,
        Forward::FullNat,
        "lblc",
        TunnelKind::Ipip,
    ),
    (85, Protocol::Tcp, Forward::Route, "wrr", TunnelKind::Ipip),
    (86, Protocol::Tcp, Forward::Tunnel, "lblcr", TunnelKind::Gue),
    (87, Protocol::Tcp, Forward::FullNat, "wlc", TunnelKind::Ipip),
    (88, Protocol::Tcp, Forward::Masq, "rr", TunnelKind::Ipip),
    (89, Protocol::Sctp, Forward::Masq, "wrr", TunnelKind::Ipip),
    (90, Protocol::Sctp, Forward::Route, "sh", TunnelKind::Ipip),
    (53, Protocol::Udp, Forward::Masq, "dh", TunnelKind::Ipip),
];

/// The FullNAT service whose real servers are of the other family than
/// its VIP (decision 42): the IPv4 VIP's are RS6, the IPv6 VIP's are RS.
pub const XFAM_PORT: u16 = 87;

/// The SYN-proxied service's port.
pub const SYNPROXY_PORT: u16 = 88;

/// Service and dest slots: 13 services x 2 families x (1 + 2 dests) = 78.
const SLOTS: u32 = 128;

/// The neighbour slots of the real servers, with their MACs.
type RealServerMacs = Vec<(u32, MacAddr)>;

/// A populated admin state, and the (slot, MAC) pairs of its real servers.
fn populated() -> (AdminState, RealServerMacs, Arc<OverloadFlags>) {
    let ports = vec![PortInfo {
        mac: LB_MAC,
        addr: LB,
        prefix_len: 24,
        addr6: Some(LB6),
        prefix6_len: 64,
        mtu: 1500,
    }];
    let overload = Arc::new(OverloadFlags::new(SLOTS as usize));
    let mut admin = AdminState::new(AdminSetup {
        overload: Arc::clone(&overload),
        // A small prime: the Maglev table is rebuilt for every admin input.
        mh_table_size: 251,
        ..AdminSetup::new(ports, SLOTS)
    });
    let cores = [Arc::new(CoreStats::new(SLOTS as usize))];
    let mut ok = |req: Request| {
        let desc = format!("{req:?}");
        let (resp, _) = admin.handle(req, &cores, 1);
        assert_eq!(resp, Response::Ok, "setting up the director: {desc}");
    };
    for vip in [IpAddr::V4(VIP), IpAddr::V6(VIP6)] {
        for &(port, protocol, forward, sched, kind) in &SERVICES {
            let key = ServiceKey::Inet {
                protocol,
                addr: SocketAddr::new(vip, port),
            };
            let mut config = ServiceConfig::new(sched);
            if port == 85 {
                config.persistent_timeout_s = Some(300);
            }
            config.synproxy = port == SYNPROXY_PORT;
            ok(Request::AddService { key, config });
            // The real servers' family, and the local address's.
            let rs_v6 = vip.is_ipv6() != (port == XFAM_PORT);
            let rss: Vec<IpAddr> = if rs_v6 {
                RS6.iter().map(|&(a, _)| a.into()).collect()
            } else {
                RS.iter().map(|&(a, _)| a.into()).collect()
            };
            for (i, rs) in rss.into_iter().enumerate() {
                let tunnel = Tunnel {
                    kind,
                    port: if kind == TunnelKind::Gue { 6080 } else { 0 },
                    csum: if i == 0 || kind != TunnelKind::Gue {
                        TunnelCsum::NoCsum
                    } else {
                        TunnelCsum::Csum
                    },
                };
                ok(Request::AddDest {
                    service: key,
                    dest: DestConfig {
                        // DR and tunnels cannot map ports.
                        addr: SocketAddr::new(
                            rs,
                            match forward {
                                Forward::Route | Forward::Tunnel => port,
                                _ => 8000 + port,
                            },
                        ),
                        forward,
                        weight: 1 + i as u32,
                        u_threshold: 0,
                        l_threshold: 0,
                        tunnel: if forward == Forward::Tunnel {
                            tunnel
                        } else {
                            Tunnel::default()
                        },
                    },
                });
            }
            if forward == Forward::FullNat {
                let laddr = if rs_v6 {
                    IpAddr::V6(LADDR6)
                } else {
                    IpAddr::V4(LADDR)
                };
                ok(Request::AddLaddr {
                    service: key,
                    addr: laddr,
                });
            }
        }
    }
    let macs = RS
        .iter()
        .map(|&(ip, mac)| (IpAddr::V4(ip), mac))
        .chain(RS6.iter().map(|&(ip, mac)| (IpAddr::V6(ip), mac)))
        .filter_map(|(ip, mac)| Some((admin.resolver.slot_of(0, ip)?, mac)))
        .collect();
    (admin, macs, overload)
}

/// The snapshot the frames see (built once: it is immutable), of a sync
/// master, so that connections are reported for a backup too.
fn snapshot() -> &'static (Arc<Snapshot>, RealServerMacs) {
    static SNAP: OnceLock<(Arc<Snapshot>, RealServerMacs)> = OnceLock::new();
    SNAP.get_or_init(|| {
        let (mut admin, macs, _) = populated();
        (Arc::new(admin.snapshot().with_sync_master(true)), macs)
    })
}

/// One worker for all the inputs of a process. A fresh worker per input
/// costs milliseconds (its tables are allocated in huge pages), so the
/// worker is kept and every input starts a day after the last one ended,
/// when a sweep has expired whatever it left (connections, templates, their
/// local ports); the queues it reports to are emptied.
struct Kept {
    worker: Worker,
    events: Arc<ArrayQueue<WorkerEvent>>,
    sync_out: Arc<ArrayQueue<SyncConn>>,
    now_ms: u64,
}

thread_local! {
    static KEPT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

const DAY_MS: u64 = 86_400_000;

/// Run `f` with the kept worker and the time the input starts at; `f`
/// returns the time it ended at.
fn with_worker(f: impl FnOnce(&mut Worker, u64) -> u64) {
    KEPT.with_borrow_mut(|kept| {
        let k = kept.get_or_insert_with(|| {
            let events = Arc::new(ArrayQueue::new(64));
            let sync_out = Arc::new(ArrayQueue::new(64));
            Kept {
                worker: populated_worker(),
                events,
                sync_out,
                now_ms: DAY_MS,
            }
        });
        let end = f(&mut k.worker, k.now_ms).max(k.now_ms);
        // Templates that still control connections are re-armed once they
        // expire: a second sweep a day later removes them.
        k.worker.sweep(end + DAY_MS, usize::MAX);
        k.worker.sweep(end + 2 * DAY_MS, usize::MAX);
        k.now_ms = end + 3 * DAY_MS;
        k.worker.drain_outbox(&k.events, &k.sync_out);
        while k.events.pop().is_some() {}
        while k.sync_out.pop().is_some() {}
    });
}

/// A worker on the populated snapshot. What it reports (neighbour events,
/// the connections for a sync backup) waits in its outbox for
/// [`Worker::drain_outbox`], sized for one input's frames and more.
pub fn populated_worker() -> Worker {
    let (snap, macs) = snapshot();
    let neigh = Arc::new(NeighTable::new(SLOTS as usize));
    for &(slot, mac) in macs {
        neigh.set(slot, Some(mac));
    }
    Worker::new(WorkerSetup {
        id: 0,
        workers: 1,
        snapshot: Arc::clone(snap),
        conns_max: 256,
        conns6_max: 256,
        cores: vec![Arc::new(CoreStats::new(SLOTS as usize))].into(),
        overload: Arc::new(OverloadFlags::new(SLOTS as usize)),
        neigh,
        outbox_frames: 4 * FRAMES_MAX,
        policy: ConnPolicy::default(),
        locality_caches: 2,
        locality_cache_entries: 16,
        icmp: rvs_dataplane::pipeline::IcmpLimits::default(),
        syn_keys: Arc::new(rvs_dataplane::synproxy::SynKeys::with_seed(1)),
    })
}

/// The most frames one input replays.
const FRAMES_MAX: usize = 64;

/// The `frames` input: records of a control byte, a 2-byte big-endian
/// length and that many bytes of frame (the last record takes what is left
/// when its length runs past the end). The control byte: bits 0-4 are the
/// seconds that pass before the frame, bit 5 sweeps the connection table
/// first, bit 6 says it arrived on port 1 (which does not exist), bit 7
/// that another core handed it over. A sequence reaches the paths of
/// established connections, their replies and their expiry.
pub fn split_frames(data: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 3 && out.len() < FRAMES_MAX {
        let ctl = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        let body = &rest[3..];
        let take = len.min(body.len());
        out.push((ctl, &body[..take]));
        rest = &body[take..];
    }
    out
}

/// Encode frames as the `frames` target reads them (for the seeds).
pub fn join_frames(frames: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ctl, f) in frames {
        out.push(*ctl);
        out.extend_from_slice(&(f.len() as u16).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Replay the frames of `data` through the worker.
pub fn frames(data: &[u8]) {
    with_worker(|w, mut now_ms| {
        for (ctl, bytes) in split_frames(data) {
            now_ms += u64::from(ctl & 0x1f) * 1000 + 1;
            if ctl & 0x20 != 0 {
                w.sweep(now_ms, usize::MAX);
            }
            let port = u16::from(ctl & 0x40 != 0);
            let mut frame = VecFrame(bytes.to_vec());
            let _ = w.handle_frame(port, &mut frame, now_ms, ctl & 0x80 != 0);
        }
        now_ms
    });
}

/// A sync datagram (the first byte is the syncid the backup expects), and
/// the connections it carries installed in a worker (as the backup does).
pub fn sync(data: &[u8]) {
    let Some((&syncid, buf)) = data.split_first() else {
        return;
    };
    let conns = match rvs_dataplane::sync::decode(buf, syncid) {
        Ok(c) => c,
        Err((c, _)) => c,
    };
    if conns.is_empty() {
        return;
    }
    with_worker(|w, now_ms| {
        for c in &conns {
            let _ = w.install_synced(c, now_ms);
        }
        now_ms
    });
}

/// Apply one admin request to a fresh populated director, and publish the
/// result as a generation (what the dataplane does after a change).
pub fn admin_request(req: Request) {
    let (mut admin, _, _) = populated();
    let cores = [Arc::new(CoreStats::new(SLOTS as usize))];
    let (_, changed) = admin.handle(req, &cores, 2);
    if changed {
        let _ = admin.snapshot();
    }
}
