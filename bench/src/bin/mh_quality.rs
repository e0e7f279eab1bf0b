//! Maglev (`mh`) table quality: how evenly a table spreads equal dests, how
//! many flows move when one dest goes, and how long a build takes.
//!
//! `cargo run --release -p rvs-bench --bin mh-quality [-- --dests N --runs R]`
//!
//! For each table size (the kernel's 4093, our default 65537, the kernel's
//! largest 131071, and two larger primes) it builds the table for N equal dests
//! (10.0.x.y:80, added in order) and prints:
//! - the max/min ratio of slots per dest (1.0 is perfectly even);
//! - removing one dest, the fraction of slots, and of 1 000 000 random
//!   client addresses, whose dest changes (the minimum is 1/N: the removed
//!   dest's own share), as the mean and worst over removing each of the
//!   first 10 dests;
//! - the median and range of R table builds, in milliseconds.
//!
//! Shares and movement are exact properties of the algorithm and its
//! hashes (the same on every machine); only the build time depends on the
//! machine.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use rvs_dataplane::sched::mh::Maglev;
use rvs_dataplane::sched::{BuildParams, DestView};

const SIZES: [u32; 5] = [4093, 65537, 131_071, 262_139, 524_287];
const CLIENTS: usize = 1_000_000;
const REMOVALS: usize = 10;

fn dests(n: usize) -> Vec<DestView> {
    (0..n)
        .map(|i| {
            let addr = IpAddr::V4(Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250 + 1) as u8));
            DestView::new(i as u32, addr, 80, 1)
        })
        .rev() // the kernel's list order: newest first
        .collect()
}

fn build(d: &[DestView], m: u32) -> Maglev {
    Maglev::build(
        d,
        &BuildParams {
            mh_table_size: m,
            ..BuildParams::default()
        },
    )
    .expect("a valid table size")
}

/// The dest slot (identity) each table slot points at.
fn owners(t: &Maglev, d: &[DestView]) -> Vec<u32> {
    t.table().iter().map(|&i| d[usize::from(i)].slot).collect()
}

/// A fixed pseudo-random sequence of client addresses (xorshift).
fn clients() -> Vec<IpAddr> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..CLIENTS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            IpAddr::V4(Ipv4Addr::from((x >> 16) as u32))
        })
        .collect()
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = arg(&args, "--dests", 100).max(2);
    let runs = arg(&args, "--runs", 21).max(1);
    let all = dests(n);
    let cs = clients();
    println!("mh-quality: {n} equal dests, {CLIENTS} clients, {REMOVALS} removals, {runs} builds per size");
    println!(
        "{:>8} {:>10} {:>14} {:>14} {:>14} {:>14} {:>22}",
        "M", "max/min", "slots moved", "worst", "flows moved", "worst", "build ms median [range]"
    );
    for m in SIZES {
        let t = build(&all, m);
        let own = owners(&t, &all);
        let mut count = vec![0usize; n];
        for &o in &own {
            count[o as usize] += 1;
        }
        let (max, min) = (*count.iter().max().unwrap(), *count.iter().min().unwrap());
        let before: Vec<u32> = cs.iter().map(|&c| own[t.slot_of(c, 0)]).collect();
        let (mut slot_moves, mut flow_moves) = (vec![], vec![]);
        for gone in 0..REMOVALS.min(n) {
            let fewer: Vec<DestView> = all
                .iter()
                .copied()
                .filter(|d| d.slot != gone as u32)
                .collect();
            let t2 = build(&fewer, m);
            let own2 = owners(&t2, &fewer);
            let moved = own.iter().zip(&own2).filter(|(a, b)| a != b).count();
            slot_moves.push(moved as f64 / f64::from(m));
            let fmoved = cs
                .iter()
                .zip(&before)
                .filter(|(&c, &b)| own2[t2.slot_of(c, 0)] != b)
                .count();
            flow_moves.push(fmoved as f64 / CLIENTS as f64);
        }
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                let t = build(&all, m);
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                std::hint::black_box(t);
                ms
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let worst = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        println!(
            "{:>8} {:>10.3} {:>13.3}% {:>13.3}% {:>13.3}% {:>13.3}% {:>10.3} [{:.3}, {:.3}]",
            m,
            max as f64 / min as f64,
            100.0 * mean(&slot_moves),
            100.0 * worst(&slot_moves),
            100.0 * mean(&flow_moves),
            100.0 * worst(&flow_moves),
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
        );
    }
    println!(
        "(the minimum movement is {:.3}%: the removed dest's own share)",
        100.0 / n as f64
    );
}
