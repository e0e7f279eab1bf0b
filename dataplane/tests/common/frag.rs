//! The fragment tests' kit (`frag.rs`, `ipv6_ext.rs`): the UDP service
//! VIP:53 by each method on one or more cores, whole datagrams built from
//! scratch, fragmented and reassembled, and a delivery loop that follows
//! hand-offs and released fragments as the worker loop does.

use std::net::{Ipv4Addr, Ipv6Addr};

use rvs_api::{DestConfig, Forward, Protocol, Request, ServiceConfig, ServiceKey, Tunnel};
use rvs_dataplane::pipeline::{ConnPolicy, Release, VecFrame, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
use rvs_dataplane::wire::ipv4::{protocol, Ipv4Packet, Ipv4Repr};
use rvs_dataplane::wire::ipv6::Ipv6Packet;
use rvs_dataplane::wire::ipv6ext::{FragmentHeader, FRAGMENT_LEN};

use super::director::{dest, Director};
use super::*;

pub const CPORT: u16 = 40000;
pub const LADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 201);
pub const LADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x201);
pub const METHODS: [Forward; 4] = [
    Forward::Route,
    Forward::Masq,
    Forward::Tunnel,
    Forward::FullNat,
];

pub fn svc(port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: (VIP, port).into(),
    }
}

pub fn svc6(port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: (VIP6, port).into(),
    }
}

/// The real server's port of each method (NAT and FullNAT map 53 to 5353).
pub fn rport(forward: Forward) -> u16 {
    match forward {
        Forward::Masq | Forward::FullNat => 5353,
        _ => 53,
    }
}

/// Core `id` of `workers`, with the UDP service VIP:53 and [VIP6]:53 to
/// rs1 by `forward`.
pub fn director(forward: Forward, id: u16, workers: u16) -> Director {
    let mut d = Director::core_of(ConnPolicy::default(), 4096, id, workers);
    d.add_service(svc(53), ServiceConfig::new("rr"));
    d.add_dest_with(
        svc(53),
        DestConfig {
            forward,
            tunnel: Tunnel::default(),
            ..dest(RS1, rport(forward), 1)
        },
    );
    d.add_service(svc6(53), ServiceConfig::new("rr"));
    d.add_dest_with(
        svc6(53),
        DestConfig {
            addr: (RS1_6, rport(forward)).into(),
            forward,
            ..dest(RS1, rport(forward), 1)
        },
    );
    if forward == Forward::FullNat {
        for (s, a) in [(svc(53), LADDR.into()), (svc6(53), LADDR6.into())] {
            d.ok(Request::AddLaddr {
                service: s,
                addr: a,
            });
        }
    }
    d
}

pub fn cores(forward: Forward, workers: u16) -> Vec<Director> {
    (0..workers)
        .map(|i| director(forward, i, workers))
        .collect()
}

pub fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A whole UDP datagram over IPv4 (no DF), checksum over all of it.
pub fn datagram4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    n: usize,
    ident: u16,
) -> Vec<u8> {
    let u = udp_msg(src, dst, sport, dport, &payload(n));
    build::ipv4(
        Ipv4Repr {
            ident,
            dont_frag: false,
            ..build::ipv4_header(src, dst, protocol::UDP)
        },
        &u,
    )
}

/// The fragments of IPv4 packet `p`, `chunk` payload bytes each.
pub fn fragment4(p: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let hl = 20;
    let body = &p[hl..];
    (0..body.len())
        .step_by(chunk)
        .map(|off| {
            let end = (off + chunk).min(body.len());
            let mut f = p[..hl].to_vec();
            f.extend_from_slice(&body[off..end]);
            let mut ip = Ipv4Packet::new_unchecked(&mut f[..]);
            ip.set_total_len((hl + end - off) as u16);
            ip.set_fragment(off as u16, end < body.len());
            ip.fill_checksum();
            f
        })
        .collect()
}

/// IPv4 fragments put back together (any order).
pub fn reassemble4(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut v: Vec<_> = frags
        .iter()
        .map(|f| {
            let p = Ipv4Packet::new_unchecked(&f[..]);
            (p.frag_offset() * 8, p.more_frags(), f.clone())
        })
        .collect();
    v.sort_by_key(|x| x.0);
    assert_eq!(v[0].0, 0, "a first fragment");
    assert!(!v.last().unwrap().1, "a last fragment");
    let mut whole = v[0].2[..20].to_vec();
    for (off, _, f) in &v {
        assert_eq!(whole.len() - 20, usize::from(*off), "no gap, no overlap");
        let len = usize::from(Ipv4Packet::new_unchecked(&f[..]).total_len());
        whole.extend_from_slice(&f[20..len]);
    }
    let len = whole.len() as u16;
    let mut ip = Ipv4Packet::new_unchecked(&mut whole[..]);
    ip.set_total_len(len);
    ip.set_flags_df(false);
    ip.fill_checksum();
    whole
}

/// A whole UDP datagram over IPv6, checksum over all of it.
pub fn datagram6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, n: usize) -> Vec<u8> {
    udp6(src, dst, sport, dport, &payload(n))
}

/// The fragments of IPv6 packet `p` (no extension headers), `chunk` bytes
/// of its payload each, with fragment headers of `ident`.
pub fn fragment6(p: &[u8], chunk: usize, ident: u32) -> Vec<Vec<u8>> {
    let next = Ipv6Packet::new_unchecked(p).next_header();
    let body = &p[40..];
    (0..body.len())
        .step_by(chunk)
        .map(|off| {
            let end = (off + chunk).min(body.len());
            let mut f = p[..40].to_vec();
            let mut h = [0u8; FRAGMENT_LEN];
            FragmentHeader::new_unchecked(&mut h[..]).emit(
                next,
                off as u16,
                end < body.len(),
                ident,
            );
            f.extend_from_slice(&h);
            f.extend_from_slice(&body[off..end]);
            let mut ip = Ipv6Packet::new_unchecked(&mut f[..]);
            ip.set_payload_len((FRAGMENT_LEN + end - off) as u16);
            ip.set_next_header(44);
            f
        })
        .collect()
}

/// IPv6 fragments (fixed header and fragment header only) put back
/// together.
pub fn reassemble6(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut v: Vec<_> = frags
        .iter()
        .map(|f| {
            let h = FragmentHeader::new_unchecked(&f[40..48]);
            (h.offset(), h.more(), h.next_header(), f.clone())
        })
        .collect();
    v.sort_by_key(|x| x.0);
    assert_eq!(v[0].0, 0, "a first fragment");
    assert!(!v.last().unwrap().1, "a last fragment");
    let mut whole = v[0].3[..40].to_vec();
    for (off, _, _, f) in &v {
        assert_eq!(whole.len() - 40, usize::from(*off), "no gap, no overlap");
        whole.extend_from_slice(&f[48..]);
    }
    let len = whole.len() - 40;
    let mut ip = Ipv6Packet::new_unchecked(&mut whole[..]);
    ip.set_payload_len(len as u16);
    ip.set_next_header(v[0].2);
    whole
}

/// What the director sent for a batch of frames.
#[derive(Default)]
pub struct Out {
    /// Forwarded frames, and the core that forwarded each.
    pub sent: Vec<(u16, Vec<u8>)>,
    /// Other verdicts.
    pub other: Vec<Verdict>,
}

/// Run `frame` as arrived on core `at` (RSS's choice), following
/// hand-offs, then every frame the cores released, as the worker loop
/// does.
pub fn deliver(ds: &mut [Director], at: u16, frame: Vec<u8>, now_ms: u64, out: &mut Out) {
    run_on(ds, at, frame, false, now_ms, out);
    loop {
        let mut any = false;
        for c in 0..ds.len() {
            while let Some((r, b)) = ds[c].worker.next_released() {
                let b = b.to_vec();
                any = true;
                match r {
                    Release::Rerun(_) => run_on(ds, c as u16, b, true, now_ms, out),
                    Release::Send(_) => out.sent.push((c as u16, b)),
                }
            }
        }
        if !any {
            break;
        }
    }
}

pub fn run_on(
    ds: &mut [Director],
    mut core: u16,
    frame: Vec<u8>,
    mut handed: bool,
    now_ms: u64,
    out: &mut Out,
) {
    let mut f = VecFrame(frame);
    for _ in 0..4 {
        let d = &mut ds[usize::from(core)];
        let v = d.worker.handle_frame(0, &mut f, now_ms, handed);
        d.drain();
        match v {
            Verdict::Handoff(w) => {
                core = w;
                handed = true;
            }
            Verdict::Forward(_) => {
                out.sent.push((core, f.0));
                return;
            }
            v => {
                out.other.push(v);
                return;
            }
        }
    }
    panic!("handed off more than three times");
}

pub fn counter(ds: &[Director], c: Counter) -> u64 {
    ds.iter().map(|d| d.counter(c)).sum()
}

/// The IP packets of forwarded frames, past the Ethernet header (and the
/// outer header of a tunnel, which must be IP-in-IP from the director to
/// rs1).
pub fn inner_packets(sent: &[(u16, Vec<u8>)], forward: Forward, v6: bool) -> Vec<Vec<u8>> {
    sent.iter()
        .map(|(_, f)| {
            assert_eq!(MacAddr(f[0..6].try_into().unwrap()), RS1_MAC);
            let ip = &f[14..];
            if forward != Forward::Tunnel {
                return ip.to_vec();
            }
            if v6 {
                let o = Ipv6Packet::new_unchecked(ip);
                assert_eq!((o.src(), o.dst(), o.next_header()), (LB6, RS1_6, 41));
                ip[40..].to_vec()
            } else {
                let o = Ipv4Packet::new_unchecked(ip);
                assert_eq!((o.src(), o.dst(), o.protocol()), (LB, RS1, protocol::IPIP));
                assert!(!o.dont_frag());
                ip[20..usize::from(o.total_len())].to_vec()
            }
        })
        .collect()
}

/// What rs1 must receive of the client's `n`-byte datagram by `forward`
/// (IPv4, identification `ident`).
pub fn want4(forward: Forward, n: usize, ident: u16, lport: u16) -> Vec<u8> {
    match forward {
        Forward::Route | Forward::Tunnel => datagram4(CLI, VIP, CPORT, 53, n, ident),
        Forward::Masq => datagram4(CLI, RS1, CPORT, 5353, n, ident),
        Forward::FullNat => datagram4(LADDR, RS1, lport, 5353, n, ident),
    }
}

pub fn want6(forward: Forward, n: usize, lport: u16) -> Vec<u8> {
    match forward {
        Forward::Route | Forward::Tunnel => datagram6(CLI6, VIP6, CPORT, 53, n),
        Forward::Masq => datagram6(CLI6, RS1_6, CPORT, 5353, n),
        Forward::FullNat => datagram6(LADDR6, RS1_6, lport, 5353, n),
    }
}

/// The FullNAT local port of a reassembled datagram (IPv4 or IPv6).
pub fn sport_of(ip: &[u8], v6: bool) -> u16 {
    let at = if v6 { 40 } else { 20 };
    u16::from_be_bytes([ip[at], ip[at + 1]])
}

pub fn eth4(ip: &[u8]) -> Vec<u8> {
    build::ethernet(LB_MAC, CLI_MAC, ethertype::IPV4, ip)
}

pub fn eth6(ip: &[u8]) -> Vec<u8> {
    build::ethernet(LB_MAC, CLI_MAC, ethertype::IPV6, ip)
}

/// Deliver the three fragments `frags` (framed by `frame`) of the datagram
/// `ident`, the k-th arriving on core (k + ident) mod the cores, at
/// 10 ms x ident; check that out of order (`reverse`) the two later ones
/// were held (and their frames freed) before the first came, and that all
/// three left from one core, the flow's owner. `what` names the case.
pub fn three_fragments(
    ds: &mut [Director],
    frags: Vec<Vec<u8>>,
    frame: fn(&[u8]) -> Vec<u8>,
    ident: u64,
    reverse: bool,
    what: &str,
) -> Out {
    let mut out = Out::default();
    for (k, f) in frags.into_iter().enumerate() {
        let at = ((k as u64 + ident) % ds.len() as u64) as u16;
        deliver(ds, at, frame(&f), ident * 10, &mut out);
    }
    let held = vec![Verdict::Drop(Counter::FragHeld); if reverse { 2 } else { 0 }];
    assert_eq!(out.other, held, "{what}");
    assert_eq!(out.sent.len(), 3, "{what}");
    assert!(out.sent.iter().all(|s| s.0 == out.sent[0].0), "{what}");
    out
}
