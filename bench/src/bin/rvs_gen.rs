//! `rvs-gen`: the lab benchmark's traffic generator. Sends small UDP or TCP
//! packets of many flows out of one interface through an AF_PACKET socket
//! (`sendmmsg` batches, `PACKET_QDISC_BYPASS`), bounded in count and in time,
//! with a progress bar on a terminal.
//!
//!   rvs-gen --iface IF --dst-mac MAC --src IP --dst IP:PORT
//!           [--flows N] [--proto udp|tcp] [--count N] [--seconds S]
//!           [--rate PPS] [--batch B] [--ack-only] [--syn-only]
//!           [--random-src] [--quiet]
//!
//! Flows differ by source port (from 1024 on; past 60 000 flows, by source
//! address too: `--src` is the first of consecutive addresses).
//! `--random-src`: each flow's source is drawn pseudo-randomly (a fixed
//! seed, so runs repeat) from the 65 536 addresses from `--src` on, its port
//! from 1024..65535: a spoofed-source flood's spread. UDP frames
//! are 60 bytes (64 on the wire), 18 bytes of payload. TCP: the first pass
//! sends each flow's SYN, every later packet is an ACK, so a load balancer
//! that schedules on SYNs makes its entries first. `--ack-only`: ACKs from
//! the start, which conntrack (`nf_conntrack_tcp_loose`) takes as
//! connections already established; after a SYN that nobody answered it
//! would call the ACKs invalid, and NAT would skip them. `--syn-only`:
//! every pass sends SYNs again (a SYN flood that cycles through `--flows`
//! sources).
//! Ends with one line: `sent=N seconds=S mpps=R retries=E`.

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rvs_bench::{tcp_frame, udp_frame, ACK, SYN};
use rvs_dataplane::wire::ethernet::MacAddr;

const FLOWS_PER_ADDR: usize = 60_000;

struct Args {
    iface: String,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: SocketAddr,
    flows: usize,
    tcp: bool,
    count: u64,
    seconds: f64,
    rate: Option<f64>,
    batch: usize,
    ack_only: bool,
    syn_only: bool,
    random_src: bool,
    quiet: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: rvs-gen --iface IF --dst-mac MAC --src IP --dst IP:PORT [--flows N] \
         [--proto udp|tcp] [--count N] [--seconds S] [--rate PPS] [--batch B] [--ack-only] \
         [--syn-only] [--random-src] [--quiet]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let (mut iface, mut dst_mac, mut src, mut dst) = (None, None, None, None);
    let mut a = Args {
        iface: String::new(),
        dst_mac: MacAddr([0; 6]),
        src: Ipv4Addr::UNSPECIFIED,
        dst: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        flows: 10_000,
        tcp: false,
        count: 100_000_000,
        seconds: 10.0,
        rate: None,
        batch: 64,
        ack_only: false,
        syn_only: false,
        random_src: false,
        quiet: false,
    };
    while let Some(k) = it.next() {
        match k.as_str() {
            "--quiet" => {
                a.quiet = true;
                continue;
            }
            "--ack-only" => {
                a.ack_only = true;
                continue;
            }
            "--syn-only" => {
                a.syn_only = true;
                continue;
            }
            "--random-src" => {
                a.random_src = true;
                continue;
            }
            _ => {}
        }
        let v = it.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--iface" => iface = Some(v),
            "--dst-mac" => dst_mac = v.parse::<MacAddr>().ok(),
            "--src" => src = v.parse::<Ipv4Addr>().ok(),
            "--dst" => dst = v.parse::<SocketAddr>().ok(),
            "--flows" => a.flows = v.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| usage()),
            "--proto" => {
                a.tcp = match v.as_str() {
                    "udp" => false,
                    "tcp" => true,
                    _ => usage(),
                }
            }
            "--count" => a.count = v.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| usage()),
            "--seconds" => {
                a.seconds = v
                    .parse()
                    .ok()
                    .filter(|&s: &f64| s > 0.0 && s <= 3600.0)
                    .unwrap_or_else(|| usage())
            }
            "--rate" => {
                a.rate = Some(
                    v.parse()
                        .ok()
                        .filter(|&r: &f64| r > 0.0)
                        .unwrap_or_else(|| usage()),
                )
            }
            "--batch" => {
                a.batch = v
                    .parse()
                    .ok()
                    .filter(|&b| (1..=1024).contains(&b))
                    .unwrap_or_else(|| usage())
            }
            _ => usage(),
        }
    }
    match (iface, dst_mac, src, dst) {
        (Some(i), Some(m), Some(s), Some(d)) if d.is_ipv4() && !(a.ack_only && a.syn_only) => {
            a.iface = i;
            a.dst_mac = m;
            a.src = s;
            a.dst = d;
            a
        }
        _ => usage(),
    }
}

/// SplitMix64 of `i`: a well-spread pseudo-random value per flow, the same
/// on every run.
fn splitmix64(i: u64) -> u64 {
    let mut z = i
        .wrapping_add(0x9e37_79b9_7f4a_7c15)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fail(what: &str) -> ! {
    eprintln!("rvs-gen: {what}: {}", std::io::Error::last_os_error());
    std::process::exit(1)
}

/// A raw AF_PACKET socket bound to `iface` that only sends.
fn open_socket(iface: &str) -> i32 {
    let name = std::ffi::CString::new(iface).unwrap_or_else(|_| usage());
    // SAFETY: plain libc calls on a socket this function owns; every pointer
    // passed points at a live local of the size given.
    unsafe {
        let ifindex = libc::if_nametoindex(name.as_ptr());
        if ifindex == 0 {
            fail(iface);
        }
        // Protocol 0: the socket receives nothing.
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        if fd < 0 {
            fail("socket(AF_PACKET)");
        }
        let one: libc::c_int = 1;
        if libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        ) < 0
        {
            fail("PACKET_QDISC_BYPASS");
        }
        let sndbuf: libc::c_int = 8 << 20;
        // Best effort: without it the default buffer only means more waits.
        let _ = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUFFORCE,
            (&sndbuf as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        );
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = ifindex as i32;
        if libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        ) < 0
        {
            fail("bind");
        }
        fd
    }
}

fn main() {
    let a = parse_args();
    let mac_text = std::fs::read_to_string(format!("/sys/class/net/{}/address", a.iface))
        .unwrap_or_else(|e| {
            eprintln!("rvs-gen: {}: {e}", a.iface);
            std::process::exit(1)
        });
    let src_mac = mac_text
        .trim()
        .parse::<MacAddr>()
        .ok()
        .unwrap_or_else(|| usage());
    let flow = |i: usize| {
        if a.random_src {
            let r = splitmix64(i as u64);
            let addr = Ipv4Addr::from(u32::from(a.src).wrapping_add((r >> 48) as u32));
            return SocketAddr::new(IpAddr::V4(addr), 1024 + (r % 64_512) as u16);
        }
        let addr = Ipv4Addr::from(u32::from(a.src) + (i / FLOWS_PER_ADDR) as u32);
        SocketAddr::new(IpAddr::V4(addr), 1024 + (i % FLOWS_PER_ADDR) as u16)
    };
    let build = |i: usize, flags: u8| {
        if a.tcp {
            tcp_frame(src_mac, a.dst_mac, flow(i), a.dst, flags)
        } else {
            udp_frame(src_mac, a.dst_mac, flow(i), a.dst)
        }
    };
    let first: Vec<Vec<u8>> = (0..a.flows)
        .map(|i| build(i, if a.ack_only { ACK } else { SYN }))
        .collect();
    let later: Vec<Vec<u8>> = if a.tcp && !a.syn_only {
        (0..a.flows).map(|i| build(i, ACK)).collect()
    } else {
        Vec::new()
    };
    let fd = open_socket(&a.iface);

    let bar = if a.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new((a.seconds * 1000.0) as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(a.batch);
    let mut msgs: Vec<libc::mmsghdr> = Vec::with_capacity(a.batch);
    let (mut sent, mut retries, mut k, mut pass) = (0u64, 0u64, 0usize, 0usize);
    let limit = Duration::from_secs_f64(a.seconds);
    let start = Instant::now();
    let mut shown = start;
    while sent < a.count {
        let elapsed = start.elapsed();
        if elapsed >= limit {
            break;
        }
        if let Some(rate) = a.rate {
            let due = Duration::from_secs_f64(sent as f64 / rate);
            if due > elapsed {
                std::thread::sleep((due - elapsed).min(Duration::from_millis(1)));
                continue;
            }
        }
        let n = (a.batch as u64).min(a.count - sent) as usize;
        iov.clear();
        msgs.clear();
        for _ in 0..n {
            let f = if pass == 0 || later.is_empty() {
                &first[k]
            } else {
                &later[k]
            };
            iov.push(libc::iovec {
                iov_base: f.as_ptr() as *mut libc::c_void,
                iov_len: f.len(),
            });
            k += 1;
            if k == a.flows {
                k = 0;
                pass += 1;
            }
        }
        for v in &mut iov {
            // SAFETY: an all-zero msghdr is valid; it is filled in below.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
            msgs.push(m);
        }
        let mut done = 0usize;
        while done < n {
            // SAFETY: msgs[done..n] are valid headers whose iovecs point at
            // frames that outlive the call.
            let r = unsafe { libc::sendmmsg(fd, msgs[done..].as_mut_ptr(), (n - done) as u32, 0) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR) => {
                        retries += 1;
                        if start.elapsed() >= limit {
                            break;
                        }
                        std::thread::yield_now();
                        continue;
                    }
                    _ => fail("sendmmsg"),
                }
            }
            done += r as usize;
        }
        sent += done as u64;
        if shown.elapsed() >= Duration::from_millis(200) {
            shown = Instant::now();
            let secs = start.elapsed().as_secs_f64();
            bar.set_position((secs * 1000.0) as u64);
            bar.set_message(format!("{sent} sent, {:.3} Mpps", sent as f64 / secs / 1e6));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    // SAFETY: fd is this process's socket, closed once.
    unsafe { libc::close(fd) };
    println!(
        "sent={sent} seconds={secs:.3} mpps={:.4} retries={retries}",
        sent as f64 / secs / 1e6
    );
}
