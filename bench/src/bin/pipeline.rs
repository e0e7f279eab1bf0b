//! `pipeline`: the real packet path (`rvs_dataplane::pipeline::Worker`)
//! fed from memory, one core, no NIC: what rvs costs per packet before any
//! PMD does.
//!
//! Each case prebuilds one frame per flow, then sends bursts of 32 frames
//! through `Worker::handle_frame`, copying each frame from its template
//! into a fixed buffer first (as a NIC writes it), and times the bursts:
//! - `dr-established`: DR, TCP ACKs of established flows;
//! - `dr-new`: DR, every packet a SYN of a new flow (table sized for all);
//! - `nat-in` / `nat-out`: NAT, the client's ACKs and the real servers'
//!   replies of established flows;
//! - `fullnat-in` / `fullnat-out`: FullNAT (a local address per 60 000
//!   flows), the same.
//!
//! Prints, per case and flow count (for `dr-new`: the new flows of a run),
//! Mpps as median [min, max] over the runs, and of the last run ns/packet
//! and per-burst latency p50/p99/p99.9 in ns (hdrhistogram).
//!
//!   cargo run --release -p rvs-bench --bin pipeline [-- --flows N[,N...]
//!       --packets P --runs R --quick]
//!
//! `--memory` (after `--flows`) prints instead the entry sizes and the
//! resident memory a worker takes for that many live connections.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_queue::ArrayQueue;
use hdrhistogram::Histogram;
use rvs_api::{DestConfig, Forward, Protocol, Request, Response, ServiceConfig, ServiceKey};
use rvs_dataplane::admin::{AdminSetup, AdminState};
use rvs_dataplane::neigh::NeighTable;
use rvs_dataplane::pipeline::{ConnPolicy, Frame, Verdict, Worker, WorkerSetup};
use rvs_dataplane::service::PortInfo;
use rvs_dataplane::stats::{CoreStats, OverloadFlags};
use rvs_dataplane::wire::ethernet::MacAddr;

const BURST: usize = 32;
/// The most new flows `dr-new` makes in one run.
const NEW_FLOWS_MAX: usize = 2_000_000;
const LB_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const CLI_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const LB: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const LADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 201);
const RS: [(Ipv4Addr, MacAddr); 4] = [
    (
        Ipv4Addr::new(198, 18, 0, 11),
        MacAddr([2, 0, 0, 0, 0, 0x11]),
    ),
    (
        Ipv4Addr::new(198, 18, 0, 12),
        MacAddr([2, 0, 0, 0, 0, 0x12]),
    ),
    (
        Ipv4Addr::new(198, 18, 0, 13),
        MacAddr([2, 0, 0, 0, 0, 0x13]),
    ),
    (
        Ipv4Addr::new(198, 18, 0, 14),
        MacAddr([2, 0, 0, 0, 0, 0x14]),
    ),
];

/// A frame in a fixed buffer with headroom: no allocation per packet.
struct BenchFrame {
    buf: [u8; 320],
    start: usize,
    len: usize,
}

const HEADROOM: usize = 128;

impl BenchFrame {
    fn new() -> Self {
        BenchFrame {
            buf: [0; 320],
            start: HEADROOM,
            len: 0,
        }
    }

    fn load(&mut self, bytes: &[u8]) {
        self.start = HEADROOM;
        self.len = bytes.len();
        self.buf[HEADROOM..HEADROOM + bytes.len()].copy_from_slice(bytes);
    }
}

impl Frame for BenchFrame {
    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
    fn set_len(&mut self, len: usize) -> bool {
        if self.start + len > self.buf.len() {
            return false;
        }
        self.len = len;
        true
    }
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        self.len += n;
        true
    }
}

fn csum(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Ethernet + IPv4 + TCP (20 bytes, no options, no payload): 54 bytes,
/// padded to the 60-byte minimum, checksums right.
fn tcp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: SocketAddr,
    dst: SocketAddr,
    flags: u8,
) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        unreachable!("IPv4 only")
    };
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst_mac.0);
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&s.octets());
    ip[16..20].copy_from_slice(&d.octets());
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&src.port().to_be_bytes());
    tcp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    tcp[4..8].copy_from_slice(&1000u32.to_be_bytes());
    tcp[8..12].copy_from_slice(&2000u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    let mut pseudo = Vec::with_capacity(32);
    pseudo.extend_from_slice(&s.octets());
    pseudo.extend_from_slice(&d.octets());
    pseudo.extend_from_slice(&[0, 6, 0, 20]);
    pseudo.extend_from_slice(&tcp);
    let c = csum(&pseudo);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&tcp);
    f.resize(60, 0);
    f
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// Client `i`'s address and port: 10.0.0.0/8, many ports each.
fn client(i: usize) -> SocketAddr {
    let host = (i / 16) as u32;
    let ip = Ipv4Addr::from(0x0a00_0000 | (host & 0x00ff_ffff));
    SocketAddr::new(
        IpAddr::V4(ip),
        1024 + (i % 16) as u16 * 3000 + (i / 16 / 0x0100_0000) as u16,
    )
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Dr,
    Nat,
    FullNat,
}

/// A worker set up for one case (its admin state is only needed to build
/// the first generation).
struct Bench {
    worker: Worker,
}

impl Bench {
    fn new(mode: Mode, conns_max: usize, flows: usize) -> Bench {
        let ports = vec![PortInfo {
            mac: LB_MAC,
            addr: LB,
            prefix_len: 24,
            addr6: None,
            prefix6_len: 0,
            mtu: 1500,
        }];
        let slots = 64;
        let overload = Arc::new(OverloadFlags::new(slots as usize));
        let mut admin = AdminState::new(AdminSetup {
            overload: Arc::clone(&overload),
            ..AdminSetup::new(ports, slots)
        });
        let cores = vec![Arc::new(CoreStats::new(slots as usize))];
        let neigh = Arc::new(NeighTable::new(16));
        let key = ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: SocketAddr::new(IpAddr::V4(VIP), 80),
        };
        let mut req = vec![Request::AddService {
            key,
            config: ServiceConfig::new("rr"),
        }];
        for (ip, _) in RS {
            let (port, forward) = match mode {
                Mode::Dr => (80, Forward::Route),
                Mode::Nat => (8080, Forward::Masq),
                Mode::FullNat => (8080, Forward::FullNat),
            };
            req.push(Request::AddDest {
                service: key,
                dest: DestConfig {
                    addr: SocketAddr::new(IpAddr::V4(ip), port),
                    forward,
                    weight: 1,
                    u_threshold: 0,
                    l_threshold: 0,
                    tunnel: Default::default(),
                },
            });
        }
        if mode == Mode::FullNat {
            // Each local address has some 64 000 ports for the flows.
            for k in 0..(flows / 60_000 + 1).min(64) {
                req.push(Request::AddLaddr {
                    service: key,
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from(LADDR) + k as u32)),
                });
            }
        }
        for r in req {
            let (resp, _) = admin.handle(r, &cores, 1);
            assert_eq!(resp, Response::Ok);
        }
        for (ip, mac) in RS {
            if let Some(slot) = admin.resolver.slot_of(0, IpAddr::V4(ip)) {
                neigh.set(slot, Some(mac));
            }
        }
        let worker = Worker::new(WorkerSetup {
            id: 0,
            workers: 1,
            snapshot: Arc::new(admin.snapshot()),
            conns_max,
            conns6_max: 256,
            cores: cores.into(),
            overload,
            neigh: Arc::clone(&neigh),
            events: Arc::new(ArrayQueue::new(1024)),
            sync_out: Arc::new(ArrayQueue::new(1)),
            policy: ConnPolicy::default(),
            locality_caches: 2,
            locality_cache_entries: 64,
        });
        Bench { worker }
    }
}

/// Run `frames` round-robin for `packets` packets; (Mpps, ns/packet,
/// histogram of per-burst ns, forwarded share).
fn run(
    worker: &mut Worker,
    frames: &[Vec<u8>],
    packets: usize,
    now_ms: u64,
    prefetch: bool,
) -> (f64, f64, Histogram<u64>, f64) {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 100_000_000, 3).expect("histogram");
    let mut burst: Vec<BenchFrame> = (0..BURST).map(|_| BenchFrame::new()).collect();
    let mut forwarded = 0usize;
    let bursts = packets.div_ceil(BURST);
    let start = Instant::now();
    let mut k = 0usize;
    for _ in 0..bursts {
        let t = Instant::now();
        // The burst arrives whole, as rx_burst gives it.
        for f in &mut burst {
            f.load(&frames[k]);
            k += 1;
            if k == frames.len() {
                k = 0;
            }
        }
        if prefetch {
            for f in &burst {
                worker.prefetch(f);
            }
        }
        for f in &mut burst {
            if matches!(
                worker.handle_frame(0, f, now_ms, false),
                Verdict::Forward(_)
            ) {
                forwarded += 1;
            }
        }
        let _ = hist.record(t.elapsed().as_nanos() as u64);
    }
    let secs = start.elapsed().as_secs_f64();
    let n = (bursts * BURST) as f64;
    (n / secs / 1e6, secs * 1e9 / n, hist, forwarded as f64 / n)
}

struct Case {
    name: &'static str,
    mode: Mode,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut flows: Vec<usize> = vec![1_000, 1_000_000];
    let mut packets = 20_000_000usize;
    let mut runs = 5usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--flows" => {
                flows = it
                    .next()
                    .expect("--flows N[,N...]")
                    .split(',')
                    .map(|n| n.parse().expect("a flow count"))
                    .collect()
            }
            "--packets" => packets = it.next().and_then(|n| n.parse().ok()).expect("--packets P"),
            "--runs" => runs = it.next().and_then(|n| n.parse().ok()).expect("--runs R"),
            "--memory" => {
                memory(&flows);
                return;
            }
            "--quick" => {
                flows = vec![1_000];
                packets = 200_000;
                runs = 1;
            }
            other => {
                eprintln!("pipeline: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let cases = [
        Case {
            name: "dr-established",
            mode: Mode::Dr,
        },
        Case {
            name: "dr-new",
            mode: Mode::Dr,
        },
        Case {
            name: "nat-in",
            mode: Mode::Nat,
        },
        Case {
            name: "nat-out",
            mode: Mode::Nat,
        },
        Case {
            name: "fullnat-in",
            mode: Mode::FullNat,
        },
        Case {
            name: "fullnat-out",
            mode: Mode::FullNat,
        },
    ];
    println!(
        "case            flows     Mpps median [min, max]      ns/pkt  burst p50/p99/p99.9 ns  fwd"
    );
    for &n in &flows {
        for case in &cases {
            // Without and with the burst prefetch, runs interleaved so the
            // two see the same machine.
            let (mut mpps, mut mpps_pf) = (vec![], vec![]);
            let (mut last, mut last_pf) = (None, None);
            for _ in 0..runs {
                let r = one(case, n, packets, false);
                mpps.push(r.0);
                last = Some(r);
                let r = one(case, n, packets, true);
                mpps_pf.push(r.0);
                last_pf = Some(r);
            }
            for (name, mut mpps, last) in [
                (case.name.to_string(), mpps, last),
                (format!("{}+pf", case.name), mpps_pf, last_pf),
            ] {
                let (_, ns, hist, fwd) = last.expect("a run");
                let n = if case.name == "dr-new" {
                    packets.min(NEW_FLOWS_MAX)
                } else {
                    n
                };
                mpps.sort_by(f64::total_cmp);
                let med = mpps[mpps.len() / 2];
                println!(
                    "{:<17} {:>9}  {:>6.2} [{:>5.2}, {:>5.2}]  {:>10.1}  {:>6}/{:>6}/{:>7}  {:.2}",
                    name,
                    n,
                    med,
                    mpps[0],
                    mpps[mpps.len() - 1],
                    ns,
                    hist.value_at_quantile(0.5),
                    hist.value_at_quantile(0.99),
                    hist.value_at_quantile(0.999),
                    fwd
                );
            }
        }
    }
}

/// One run of `case` with `n` flows.
fn one(case: &Case, n: usize, packets: usize, prefetch: bool) -> (f64, f64, Histogram<u64>, f64) {
    let vip = SocketAddr::new(IpAddr::V4(VIP), 80);
    let new_conns = case.name == "dr-new";
    // dr-new: every packet a SYN of a flow not seen before, into a table
    // with room for all (at most NEW_FLOWS_MAX of them: frames and entries
    // must fit in memory).
    let new_flows = packets.min(NEW_FLOWS_MAX);
    let conns_max = if new_conns { new_flows * 2 } else { n * 2 };
    let mut b = Bench::new(case.mode, conns_max.next_power_of_two(), n);
    let syns: Vec<Vec<u8>> = (0..if new_conns { new_flows } else { n })
        .map(|i| tcp_frame(CLI_MAC, LB_MAC, client(i), vip, SYN))
        .collect();
    if new_conns {
        return run(&mut b.worker, &syns, new_flows, 2, prefetch);
    }
    // Establish every flow: its SYN, then (for NAT and FullNAT) what the
    // real server answered, to learn the reply tuple.
    let mut f = BenchFrame::new();
    let mut replies = Vec::with_capacity(n);
    for (i, s) in syns.iter().enumerate() {
        f.load(s);
        let v = b.worker.handle_frame(0, &mut f, 1, false);
        assert!(matches!(v, Verdict::Forward(_)), "flow {i}: {v:?}");
        let out = f.bytes();
        let dst_mac = MacAddr([out[0], out[1], out[2], out[3], out[4], out[5]]);
        let src = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(out[26], out[27], out[28], out[29])),
            u16::from_be_bytes([out[34], out[35]]),
        );
        let dst = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(out[30], out[31], out[32], out[33])),
            u16::from_be_bytes([out[36], out[37]]),
        );
        // The real server's SYN-ACK, from the MAC the frame went to.
        let mut r = tcp_frame(dst_mac, LB_MAC, dst, src, SYN | ACK);
        if case.mode != Mode::Dr {
            f.load(&r);
            let v = b.worker.handle_frame(0, &mut f, 1, false);
            assert!(matches!(v, Verdict::Forward(_)), "reply {i}: {v:?}");
            r = tcp_frame(dst_mac, LB_MAC, dst, src, ACK);
        }
        replies.push(r);
    }
    let acks: Vec<Vec<u8>> = (0..n)
        .map(|i| tcp_frame(CLI_MAC, LB_MAC, client(i), vip, ACK))
        .collect();
    let frames = if case.name.ends_with("-out") {
        &replies
    } else {
        &acks
    };
    run(&mut b.worker, frames, packets, 2, prefetch)
}

/// Resident memory of this process, bytes (`VmRSS`).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<u64>().ok())
            })
        })
        .unwrap_or(0)
        * 1024
}

/// `--memory`: the entry sizes, and the resident memory a worker takes
/// for `flows` live connections of each mode (its tables sized for them
/// at 50 % load, the frames that made them freed first).
fn memory(flows: &[usize]) {
    use rvs_dataplane::conn::{Conn, ConnExt, ReplyEntry};
    use std::mem::size_of;
    println!(
        "entry bytes: Conn {} (IPv6 {}), ConnExt {} ({}), ReplyEntry {} ({})",
        size_of::<Conn<u32>>(),
        size_of::<Conn<u128>>(),
        size_of::<ConnExt<u32>>(),
        size_of::<ConnExt<u128>>(),
        size_of::<ReplyEntry<u32>>(),
        size_of::<ReplyEntry<u128>>()
    );
    println!("mode      flows       RSS MiB   bytes/connection (RSS growth / flows)");
    let vip = SocketAddr::new(IpAddr::V4(VIP), 80);
    for &n in flows {
        for mode in [Mode::Dr, Mode::Nat, Mode::FullNat] {
            if mode == Mode::FullNat && n > 64 * 60_000 {
                println!("FullNat  {n:>9}  skipped: 64 local addresses carry about 4M flows");
                continue;
            }
            let before = rss();
            let mut b = Bench::new(mode, n, n);
            let mut f = BenchFrame::new();
            for i in 0..n {
                f.load(&tcp_frame(CLI_MAC, LB_MAC, client(i), vip, SYN));
                let v = b.worker.handle_frame(0, &mut f, 1, false);
                assert!(matches!(v, Verdict::Forward(_)), "flow {i}: {v:?}");
            }
            let after = rss();
            println!(
                "{:<8} {:>9}  {:>9.1}   {:>7.1}",
                format!("{mode:?}"),
                n,
                after.saturating_sub(before) as f64 / f64::from(1 << 20),
                after.saturating_sub(before) as f64 / n as f64
            );
            drop(b);
        }
    }
}
