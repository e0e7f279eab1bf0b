//! `pcap-flows`: writes the traffic of the DPDK software-port benchmark
//! (`bench/softport`) as pcap files, one per worker queue, for DPDK's
//! `net_pcap` PMD to replay forever (`infinite_rx=1`).
//!
//!   pcap-flows --mode dr|nat --flows N --workers W --lb-mac MAC --out DIR
//!              [--spread owners|blind]
//!
//! Every flow is UDP from a client of 10.0.0.0/8 to 198.18.0.100:80:
//! - `dr`: the service has the four real servers of `rvs_bench::RS` (DR);
//! - `nat`: one real server (NAT, port 8080), and each flow's reply from it
//!   follows all the clients' packets, so half the frames are replies.
//!
//! Each file starts with an ARP reply from every real server (the dataplane
//! learns their MACs from them) and holds the flows of one queue. With
//! `--spread owners` (the default) those are the flows the dataplane's
//! worker `q` of `W` owns, found by asking a worker built as the dataplane
//! builds it, so nothing is handed between workers. With `--spread blind`
//! flow `i` goes to queue `i mod W`, as a NIC's RSS that knows nothing of
//! owners spreads flows: a worker hands the flows it does not own to
//! their owner. A flow set smaller than 32 768 frames is repeated up
//! to that, so the ARP frames stay a negligible share.
//! Prints the frame count of each file.

use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, SocketAddr};

use rvs_api::Protocol;
use rvs_bench::{
    arp_reply, client, udp_frame, Bench, BenchFrame, Mode, Setup, CLI_MAC, LB, LB_MAC, RS, VIP,
};
use rvs_dataplane::pipeline::Verdict;
use rvs_dataplane::wire::ethernet::MacAddr;

const FILE_FRAMES_MIN: usize = 32_768;

fn usage() -> ! {
    eprintln!(
        "usage: pcap-flows --mode dr|nat --flows N --workers W --lb-mac MAC --out DIR \\
         [--spread owners|blind]"
    );
    std::process::exit(2)
}

fn main() {
    let (mut mode, mut flows, mut workers, mut lb_mac, mut out) = (None, None, 1u16, None, None);
    let mut blind = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--mode" => {
                mode = Some(match v.as_str() {
                    "dr" => Mode::Dr,
                    "nat" => Mode::Nat,
                    _ => usage(),
                })
            }
            "--flows" => flows = v.parse::<usize>().ok().filter(|&n| n > 0),
            "--workers" => workers = v.parse().ok().filter(|&w| w > 0).unwrap_or_else(|| usage()),
            "--lb-mac" => lb_mac = v.parse::<MacAddr>().ok(),
            "--out" => out = Some(std::path::PathBuf::from(v)),
            "--spread" => {
                blind = match v.as_str() {
                    "owners" => false,
                    "blind" => true,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    let (Some(mode), Some(flows), Some(lb_mac), Some(out)) = (mode, flows, lb_mac, out) else {
        usage()
    };
    let dests = if mode == Mode::Dr { RS.len() } else { 1 };
    // Worker 0 of `workers`, set up as the dataplane's: it forwards the
    // flows it owns and hands the others off to their owner.
    let mut b = Bench::with(&Setup {
        mode,
        protocol: Protocol::Udp,
        dests,
        conns_max: (flows * 2).next_power_of_two(),
        flows,
        id: 0,
        workers,
    });
    let vip = SocketAddr::new(IpAddr::V4(VIP), 80);
    let mut queues: Vec<Vec<usize>> = vec![Vec::new(); usize::from(workers)];
    let mut f = BenchFrame::new();
    for i in 0..flows {
        f.load(&udp_frame(CLI_MAC, LB_MAC, client(i), vip));
        let owner = match b.worker.handle_frame(0, &mut f, 1, false) {
            Verdict::Forward(_) => 0,
            Verdict::Handoff(w) => usize::from(w),
            v => panic!("flow {i}: {v:?}"),
        };
        let q = if blind {
            i % usize::from(workers)
        } else {
            owner
        };
        queues[q].push(i);
    }
    let rs = SocketAddr::new(IpAddr::V4(RS[0].0), 8080);
    for (q, ids) in queues.iter().enumerate() {
        let mut frames: Vec<Vec<u8>> = RS[..dests]
            .iter()
            .map(|&(ip, mac)| arp_reply(mac, ip, lb_mac, LB))
            .collect();
        let per_pass = if mode == Mode::Nat {
            2 * ids.len()
        } else {
            ids.len()
        };
        let passes = FILE_FRAMES_MIN.div_ceil(per_pass.max(1));
        for _ in 0..passes {
            frames.extend(
                ids.iter()
                    .map(|&i| udp_frame(CLI_MAC, lb_mac, client(i), vip)),
            );
            if mode == Mode::Nat {
                frames.extend(
                    ids.iter()
                        .map(|&i| udp_frame(RS[0].1, lb_mac, rs, client(i))),
                );
            }
        }
        let path = out.join(format!("q{q}.pcap"));
        let file = File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        rvs_bench::pcap::write(&mut BufWriter::new(file), &frames)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        println!(
            "{} {} frames {} flows",
            path.display(),
            frames.len(),
            ids.len()
        );
    }
}
