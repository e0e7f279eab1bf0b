//! `pipeline`: the real packet path (`rvs_dataplane::pipeline::Worker`)
//! fed from memory, one core, no NIC: what rvs costs per packet before any
//! PMD does.
//!
//! Each case prebuilds one frame per flow, then sends bursts of 32 frames
//! through `Worker::handle_frame`, copying each frame from its template
//! into a fixed buffer first (as a NIC writes it), and times the bursts:
//! - `dr-established`: DR, TCP ACKs of established flows;
//! - `dr-new`: DR, every packet a SYN of a new flow (table sized for all);
//! - `tun-established`: TUN (IP-in-IP), the same flows as `dr-established`;
//! - `nat-in` / `nat-out`: NAT, the client's ACKs and the real servers'
//!   replies of established flows;
//! - `nat-new`: NAT, every packet a SYN of a new flow (an entry and its
//!   reply index entry each);
//! - `fullnat-in` / `fullnat-out`: FullNAT (a local address per 60 000
//!   flows), the same;
//! - `fullnat-new`: FullNAT, every packet a SYN of a new flow (an entry,
//!   its companion, a reply index entry and a local port each);
//! - `dr-2workers`: DR, worker 0 of 2 fed ACKs of established flows of
//!   which half are its own (forwarded) and half worker 1's (handed off),
//!   as a port's RSS that knows nothing of owners spreads them.
//!
//! Prints, per case and flow count (for the `-new` cases: the new flows of
//! a run),
//! Mpps as median [min, max] over the runs, and of the last run ns/packet
//! and per-burst latency p50/p99/p99.9 in ns (hdrhistogram).
//!
//!   cargo run --release -p rvs-bench --bin pipeline [-- --flows N[,N...]
//!       --packets P --runs R --quick]
//!
//! `--memory` (after `--flows`) prints instead the entry sizes and the
//! resident memory a worker takes for that many live connections.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use hdrhistogram::Histogram;
use rvs_api::Protocol;
use rvs_bench::{
    client, tcp_frame, Bench, BenchFrame, Mode, Setup, ACK, CLI_MAC, LB_MAC, RS, SYN, VIP,
};
use rvs_dataplane::pipeline::{Frame, Prefetched, Verdict};
use rvs_dataplane::wire::ethernet::MacAddr;

const BURST: usize = 32;
/// The most new flows a `-new` case makes in one run.
const NEW_FLOWS_MAX: usize = 2_000_000;
/// Run `frames` round-robin for `packets` packets; (Mpps, ns/packet,
/// histogram of per-burst ns, forwarded share). Never inlined:
/// `bench/callgrind` counts only what runs inside it.
#[inline(never)]
fn run(
    b: &mut Bench,
    frames: &[Vec<u8>],
    packets: usize,
    now_ms: u64,
    prefetch: bool,
) -> (f64, f64, Histogram<u64>, f64) {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 100_000_000, 3).expect("histogram");
    let mut burst: Vec<BenchFrame> = (0..BURST).map(|_| BenchFrame::new()).collect();
    let mut probes = [Prefetched::default(); BURST];
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
        if prefetch && b.worker.prefetches() {
            // As the worker loop does: every bucket, then the entries of
            // the frames a few ahead of the one handled.
            for (p, f) in probes.iter_mut().zip(&burst) {
                *p = b.worker.prefetch(f);
            }
            for (i, f) in burst.iter_mut().enumerate() {
                b.worker.prefetch_ahead(&mut probes, i);
                forwarded += handle(b, f, now_ms);
            }
        } else {
            for f in &mut burst {
                forwarded += handle(b, f, now_ms);
            }
        }
        // As the worker loop does after its bursts.
        b.drain();
        let _ = hist.record(t.elapsed().as_nanos() as u64);
    }
    let secs = start.elapsed().as_secs_f64();
    let n = (bursts * BURST) as f64;
    (n / secs / 1e6, secs * 1e9 / n, hist, forwarded as f64 / n)
}

/// One frame through the pipeline: 1 if it was forwarded (or, in
/// `dr-2workers`, handed to its owner).
#[inline(always)]
fn handle(b: &mut Bench, f: &mut BenchFrame, now_ms: u64) -> usize {
    usize::from(matches!(
        b.worker.handle_frame(0, f, now_ms, false),
        Verdict::Forward(_) | Verdict::Handoff(_)
    ))
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
            name: "tun-established",
            mode: Mode::Tun,
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
            name: "nat-new",
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
        Case {
            name: "fullnat-new",
            mode: Mode::FullNat,
        },
        Case {
            name: "dr-2workers",
            mode: Mode::Dr,
        },
    ];
    println!(
        "case            flows     Mpps median [min, max]      ns/pkt  burst p50/p99/p99.9 ns  fwd"
    );
    for &n in &flows {
        for case in &cases {
            // `RVS_BENCH_CASES=a,b`: only these cases (bench/callgrind).
            if std::env::var("RVS_BENCH_CASES").is_ok_and(|c| !c.split(',').any(|x| x == case.name))
            {
                continue;
            }
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
                let n = if case.name.ends_with("-new") {
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
    if case.name == "dr-2workers" {
        return two_workers(n, packets, prefetch);
    }
    let new_conns = case.name.ends_with("-new");
    // The -new cases: every packet a SYN of a flow not seen before, into a table
    // with room for all (at most NEW_FLOWS_MAX of them: frames and entries
    // must fit in memory).
    let new_flows = packets.min(NEW_FLOWS_MAX);
    let conns_max = if new_conns { new_flows * 2 } else { n * 2 };
    // FullNAT's local addresses carry every flow the case makes.
    let flows = if new_conns { new_flows } else { n };
    let mut b = Bench::new(case.mode, conns_max.next_power_of_two(), flows);
    let syns: Vec<Vec<u8>> = (0..if new_conns { new_flows } else { n })
        .map(|i| tcp_frame(CLI_MAC, LB_MAC, client(i), vip, SYN))
        .collect();
    if new_conns {
        return run(&mut b, &compact(&syns), new_flows, 2, prefetch);
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
        if matches!(case.mode, Mode::Nat | Mode::FullNat) {
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
    run(&mut b, &compact(frames), packets, 2, prefetch)
}

/// `dr-2workers`: worker 0 of 2, `n` flows in client order, each as
/// its owner has it: worker 0's established here (their SYNs sent first),
/// worker 1's not (an ACK here is a `Handoff`).
fn two_workers(n: usize, packets: usize, prefetch: bool) -> (f64, f64, Histogram<u64>, f64) {
    let vip = SocketAddr::new(IpAddr::V4(VIP), 80);
    let mut b = Bench::with(&Setup {
        mode: Mode::Dr,
        protocol: Protocol::Tcp,
        dests: RS.len(),
        conns_max: (n * 2).next_power_of_two(),
        flows: n,
        id: 0,
        workers: 2,
    });
    let mut f = BenchFrame::new();
    let mut own = 0;
    for i in 0..n {
        f.load(&tcp_frame(CLI_MAC, LB_MAC, client(i), vip, SYN));
        match b.worker.handle_frame(0, &mut f, 1, false) {
            Verdict::Forward(_) => own += 1,
            Verdict::Handoff(1) => {}
            v => panic!("flow {i}: {v:?}"),
        }
    }
    assert!(own > 0 && own < n, "{own} of {n} flows owned by worker 0");
    let acks: Vec<Vec<u8>> = (0..n)
        .map(|i| tcp_frame(CLI_MAC, LB_MAC, client(i), vip, ACK))
        .collect();
    run(&mut b, &compact(&acks), packets, 2, prefetch)
}

/// The templates `run` copies from, each in an allocation of exactly its
/// length, made one after another: consecutive templates then sit 80 bytes
/// apart (glibc's chunk for 60 bytes), whatever the frame builder's
/// temporaries and growth left behind. Built by `wire::build`, a 54-byte
/// frame padded to 60 keeps the 108-byte capacity its growth gave it, 128
/// bytes apart: at 1M flows that is 2.0 cache lines read per packet
/// instead of 1.25, a cost of the bench and not of the pipeline
/// (`bench/callgrind`, RESULTS.md).
fn compact(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    frames.iter().map(|f| f.to_vec()).collect()
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
/// for `flows` live connections of each mode (its tables sized for them,
/// the frames that made them freed first).
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
