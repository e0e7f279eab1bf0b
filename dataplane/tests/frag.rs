//! Fragments to a VIP (`pipeline/frag.rs`) and IPv6 extension headers: a
//! fragmented UDP datagram through DR, NAT, TUN and FullNAT, IPv4 and IPv6,
//! in order and out of order, on one core and on two (the first fragment
//! decides on the flow's owner core, later ones follow it there); the
//! limits and the hold timeout through the pipeline's clock; the outer
//! fragmentation of a tunnel packet. What leaves the director is
//! reassembled here and compared with the datagram the method should
//! deliver, built from scratch (checksums included), so the incremental
//! checksum update of the first fragment is checked over the whole
//! datagram.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use rvs_api::{DestConfig, Forward, Protocol, Request, ServiceConfig, ServiceKey, Tunnel};
use rvs_dataplane::pipeline::{ConnPolicy, Release, VecFrame, Verdict, HOLD_MS, HOLD_SLOTS};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
use rvs_dataplane::wire::icmpv6;
use rvs_dataplane::wire::ipv4::{protocol, Ipv4Packet, Ipv4Repr};
use rvs_dataplane::wire::ipv6::Ipv6Packet;
use rvs_dataplane::wire::ipv6ext::{FragmentHeader, FRAGMENT_LEN};
use rvs_dataplane::wire::udp::UdpRepr;

use common::director::{dest, Director};
use common::*;

const CPORT: u16 = 40000;
const LADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 201);
const LADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x201);
const METHODS: [Forward; 4] = [
    Forward::Route,
    Forward::Masq,
    Forward::Tunnel,
    Forward::FullNat,
];

fn svc(port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: (VIP, port).into(),
    }
}

fn svc6(port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: (VIP6, port).into(),
    }
}

/// The real server's port of each method (NAT and FullNAT map 53 to 5353).
fn rport(forward: Forward) -> u16 {
    match forward {
        Forward::Masq | Forward::FullNat => 5353,
        _ => 53,
    }
}

/// Core `id` of `workers`, with the UDP service VIP:53 and [VIP6]:53 to
/// rs1 by `forward`.
fn director(forward: Forward, id: u16, workers: u16) -> Director {
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

fn cores(forward: Forward, workers: u16) -> Vec<Director> {
    (0..workers)
        .map(|i| director(forward, i, workers))
        .collect()
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A whole UDP datagram over IPv4 (no DF), checksum over all of it.
fn datagram4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    n: usize,
    ident: u16,
) -> Vec<u8> {
    let data = payload(n);
    let u = build::udp(
        &UdpRepr {
            src_port: sport,
            dst_port: dport,
            payload: &data,
        },
        src.into(),
        dst.into(),
    );
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
fn fragment4(p: &[u8], chunk: usize) -> Vec<Vec<u8>> {
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
fn reassemble4(frags: &[Vec<u8>]) -> Vec<u8> {
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
fn datagram6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, n: usize) -> Vec<u8> {
    let data = payload(n);
    let u = build::udp(
        &UdpRepr {
            src_port: sport,
            dst_port: dport,
            payload: &data,
        },
        src.into(),
        dst.into(),
    );
    ipv6(src, dst, protocol::UDP, 64, &u)
}

/// The fragments of IPv6 packet `p` (no extension headers), `chunk` bytes
/// of its payload each, with fragment headers of `ident`.
fn fragment6(p: &[u8], chunk: usize, ident: u32) -> Vec<Vec<u8>> {
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
fn reassemble6(frags: &[Vec<u8>]) -> Vec<u8> {
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
struct Out {
    /// Forwarded frames, and the core that forwarded each.
    sent: Vec<(u16, Vec<u8>)>,
    /// Other verdicts.
    other: Vec<Verdict>,
}

/// Run `frame` as arrived on core `at` (RSS's choice), following
/// hand-offs, then every frame the cores released, as the worker loop
/// does.
fn deliver(ds: &mut [Director], at: u16, frame: Vec<u8>, now_ms: u64, out: &mut Out) {
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

fn run_on(
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

fn counter(ds: &[Director], c: Counter) -> u64 {
    ds.iter().map(|d| d.counter(c)).sum()
}

/// The IP packets of forwarded frames, past the Ethernet header (and the
/// outer header of a tunnel, which must be IP-in-IP from the director to
/// rs1).
fn inner_packets(sent: &[(u16, Vec<u8>)], forward: Forward, v6: bool) -> Vec<Vec<u8>> {
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
fn want4(forward: Forward, n: usize, ident: u16, lport: u16) -> Vec<u8> {
    match forward {
        Forward::Route | Forward::Tunnel => datagram4(CLI, VIP, CPORT, 53, n, ident),
        Forward::Masq => datagram4(CLI, RS1, CPORT, 5353, n, ident),
        Forward::FullNat => datagram4(LADDR, RS1, lport, 5353, n, ident),
    }
}

fn want6(forward: Forward, n: usize, lport: u16) -> Vec<u8> {
    match forward {
        Forward::Route | Forward::Tunnel => datagram6(CLI6, VIP6, CPORT, 53, n),
        Forward::Masq => datagram6(CLI6, RS1_6, CPORT, 5353, n),
        Forward::FullNat => datagram6(LADDR6, RS1_6, lport, 5353, n),
    }
}

/// The FullNAT local port of a reassembled datagram (IPv4 or IPv6).
fn sport_of(ip: &[u8], v6: bool) -> u16 {
    let at = if v6 { 40 } else { 20 };
    u16::from_be_bytes([ip[at], ip[at + 1]])
}

fn eth4(ip: &[u8]) -> Vec<u8> {
    build::ethernet(LB_MAC, CLI_MAC, ethertype::IPV4, ip)
}

fn eth6(ip: &[u8]) -> Vec<u8> {
    build::ethernet(LB_MAC, CLI_MAC, ethertype::IPV6, ip)
}

#[test]
fn ipv4_udp_fragments_through_every_method_in_and_out_of_order_on_one_and_two_cores() {
    for forward in METHODS {
        for workers in [1u16, 2] {
            for reverse in [false, true] {
                let mut ds = cores(forward, workers);
                // A few datagrams (other identifications, other arrival
                // cores), so that on two cores some fragment owners differ
                // from the flow's owner.
                for ident in 1..=8u16 {
                    // 1 420-byte fragments: room for a tunnel's header.
                    let whole = datagram4(CLI, VIP, CPORT, 53, 4000, ident);
                    let mut frags = fragment4(&whole, 1400);
                    assert_eq!(frags.len(), 3);
                    if reverse {
                        frags.reverse();
                    }
                    let mut out = Out::default();
                    for (k, f) in frags.into_iter().enumerate() {
                        let at = (k as u16 + ident) % workers;
                        deliver(&mut ds, at, eth4(&f), u64::from(ident) * 10, &mut out);
                    }
                    let what =
                        format!("{forward:?} on {workers} cores, reverse {reverse}, ident {ident}");
                    // Out of order, the two later fragments were held
                    // (and their frames freed) before the first came.
                    let held = vec![Verdict::Drop(Counter::FragHeld); if reverse { 2 } else { 0 }];
                    assert_eq!(out.other, held, "{what}");
                    assert_eq!(out.sent.len(), 3, "{what}");
                    // Every fragment left from one core: the flow's owner.
                    assert!(out.sent.iter().all(|s| s.0 == out.sent[0].0), "{what}");
                    let got = reassemble4(&inner_packets(&out.sent, forward, false));
                    let lport = sport_of(&got, false);
                    assert_eq!(got, want4(forward, 4000, ident, lport), "{what}");
                    if forward == Forward::FullNat {
                        assert!(lport >= 1024, "{what}");
                    }
                    // The reassembled datagram's checksums, independently.
                    assert_eq!(independent_checksums(&eth4(&got)), 2, "{what}");
                }
                // One connection for the client's flow: every first
                // fragment found it on the same core.
                assert_eq!(counter(&ds, Counter::ConnCreated), 1, "{forward:?}");
                assert!(counter(&ds, Counter::FragFirst) >= 8);
                if reverse {
                    assert_eq!(counter(&ds, Counter::FragHeld), 16, "{forward:?}");
                    assert_eq!(counter(&ds, Counter::FragReleased), 16, "{forward:?}");
                } else {
                    assert_eq!(counter(&ds, Counter::FragHeld), 0);
                }
                if workers == 2 {
                    assert!(counter(&ds, Counter::HandedOff) > 0);
                }
            }
        }
    }
}

#[test]
fn fragments_follow_an_unfragmented_flow_to_its_owner_core() {
    // The flow's connection is made by an unfragmented datagram first; a
    // fragmented one of the same flow must reach the same core's entry
    // whichever core its fragments arrive on, on a fragment owner that
    // may be the other core.
    let mut split = [0; 3];
    for ident in 1..=16u16 {
        let mut ds = cores(Forward::Masq, 2);
        let mut out = Out::default();
        let small = datagram4(CLI, VIP, CPORT, 53, 100, 999);
        deliver(&mut ds, 0, eth4(&small), 1, &mut out);
        let owner = out.sent[0].0;
        let whole = datagram4(CLI, VIP, CPORT, 53, 3000, ident);
        let mut out = Out::default();
        for (k, f) in fragment4(&whole, 1480).into_iter().enumerate() {
            deliver(&mut ds, (k as u16) % 2, eth4(&f), 2, &mut out);
        }
        assert_eq!(out.sent.len(), 3);
        assert!(out.sent.iter().all(|s| s.0 == owner), "ident {ident}");
        assert_eq!(counter(&ds, Counter::ConnCreated), 1, "ident {ident}");
        // The first fragment is noted once where its fragment owner is the
        // flow's owner, twice (there, then at the flow's owner) where not.
        split[counter(&ds, Counter::FragFirst) as usize] += 1;
    }
    assert!(split[1] > 0 && split[2] > 0, "both cases seen: {split:?}");
}

#[test]
fn ipv6_udp_fragments_through_every_method_in_and_out_of_order_on_one_and_two_cores() {
    for forward in METHODS {
        for workers in [1u16, 2] {
            for reverse in [false, true] {
                let mut ds = cores(forward, workers);
                for ident in 1..=8u32 {
                    let whole = datagram6(CLI6, VIP6, CPORT, 53, 4000);
                    let mut frags = fragment6(&whole, 1400, ident);
                    assert_eq!(frags.len(), 3);
                    if reverse {
                        frags.reverse();
                    }
                    let mut out = Out::default();
                    for (k, f) in frags.into_iter().enumerate() {
                        let at = (k as u32 + ident) as u16 % workers;
                        deliver(&mut ds, at, eth6(&f), u64::from(ident) * 10, &mut out);
                    }
                    let what =
                        format!("{forward:?} on {workers} cores, reverse {reverse}, ident {ident}");
                    // Out of order, the two later fragments were held
                    // (and their frames freed) before the first came.
                    let held = vec![Verdict::Drop(Counter::FragHeld); if reverse { 2 } else { 0 }];
                    assert_eq!(out.other, held, "{what}");
                    assert_eq!(out.sent.len(), 3, "{what}");
                    assert!(out.sent.iter().all(|s| s.0 == out.sent[0].0), "{what}");
                    let got = reassemble6(&inner_packets(&out.sent, forward, true));
                    let lport = sport_of(&got, true);
                    assert_eq!(got, want6(forward, 4000, lport), "{what}");
                    assert_eq!(independent_checksums(&eth6(&got)), 1, "{what}");
                }
                assert_eq!(counter(&ds, Counter::ConnCreated), 1, "{forward:?}");
                if reverse {
                    assert_eq!(counter(&ds, Counter::FragHeld), 16, "{forward:?}");
                }
            }
        }
    }
}

#[test]
fn a_held_fragment_times_out_and_the_limits_are_counted() {
    let mut ds = cores(Forward::Masq, 1);
    let whole = datagram4(CLI, VIP, CPORT, 53, 3000, 7);
    let frags = fragment4(&whole, 1480);
    let mut out = Out::default();
    // The last fragment first: held.
    deliver(&mut ds, 0, eth4(&frags[2]), 100, &mut out);
    assert_eq!(out.other, vec![Verdict::Drop(Counter::FragHeld)]);
    // Not yet timed out just before its time; gone at it.
    ds[0].worker.sweep(100 + HOLD_MS - 1, 16);
    assert_eq!(counter(&ds, Counter::DropFragHoldTimeout), 0);
    ds[0].worker.sweep(100 + HOLD_MS, 16);
    assert_eq!(counter(&ds, Counter::DropFragHoldTimeout), 1);
    // The first and second now go through; the third is not released (it
    // was dropped) until it is sent again.
    let mut out = Out::default();
    let now = 200 + HOLD_MS;
    deliver(&mut ds, 0, eth4(&frags[0]), now, &mut out);
    deliver(&mut ds, 0, eth4(&frags[1]), now, &mut out);
    assert_eq!(out.sent.len(), 2);
    assert_eq!(counter(&ds, Counter::FragReleased), 0);
    deliver(&mut ds, 0, eth4(&frags[2]), now, &mut out);
    assert_eq!(out.sent.len(), 3);
    let got = reassemble4(&inner_packets(&out.sent, Forward::Masq, false));
    assert_eq!(got, want4(Forward::Masq, 3000, 7, 0));

    // The hold pool is bounded: one more later fragment than it holds.
    let mut out = Out::default();
    for ident in 0..=HOLD_SLOTS as u16 {
        let frags = fragment4(&datagram4(CLI, VIP, CPORT, 53, 3000, 1000 + ident), 1480);
        deliver(&mut ds, 0, eth4(&frags[1]), now + 1, &mut out);
    }
    assert_eq!(counter(&ds, Counter::DropFragHoldFull), 1);
    assert_eq!(counter(&ds, Counter::FragHeld), 1 + HOLD_SLOTS as u64);
    // A frame too big to hold.
    let big = fragment4(&datagram4(CLI, VIP, CPORT, 53, 9000, 3000), 4000);
    deliver(&mut ds, 0, eth4(&big[1]), now + 1, &mut out);
    assert_eq!(counter(&ds, Counter::DropFragHoldTooBig), 1);
}

#[test]
fn tiny_and_overlapping_fragments_are_dropped() {
    let mut ds = cores(Forward::Masq, 1);
    let mut out = Out::default();
    // A first fragment without the whole UDP header.
    let whole = datagram4(CLI, VIP, CPORT, 53, 100, 5);
    let mut first = whole[..24].to_vec();
    let mut ip = Ipv4Packet::new_unchecked(&mut first[..]);
    ip.set_total_len(24);
    ip.set_fragment(0, true);
    ip.fill_checksum();
    deliver(&mut ds, 0, eth4(&first), 1, &mut out);
    assert_eq!(out.other, vec![Verdict::Drop(Counter::DropFragTiny)]);
    // A TCP fragment at offset 8 would overwrite the flags (RFC 1858).
    ds[0].add_service(
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: (VIP, 80).into(),
        },
        ServiceConfig::new("rr"),
    );
    let mut t = tcp(CLI, VIP, CPORT, 80, 0x10, &[0; 40]);
    let mut ip = Ipv4Packet::new_unchecked(&mut t[..]);
    ip.set_fragment(8, false);
    ip.fill_checksum();
    let mut out = Out::default();
    deliver(&mut ds, 0, eth4(&t), 1, &mut out);
    assert_eq!(out.other, vec![Verdict::Drop(Counter::DropFragTiny)]);
    assert_eq!(counter(&ds, Counter::DropFragTiny), 2);
    // A fragment ending past 65 535 bytes (the "ping of death").
    let mut late = fragment4(&datagram4(CLI, VIP, CPORT, 53, 3000, 6), 1480).remove(1);
    let mut ip = Ipv4Packet::new_unchecked(&mut late[..]);
    ip.set_fragment(65528, false);
    ip.fill_checksum();
    let mut out = Out::default();
    deliver(&mut ds, 0, eth4(&late), 1, &mut out);
    assert_eq!(out.other, vec![Verdict::Drop(Counter::DropFragTooLong)]);
}

#[test]
fn a_full_fragment_table_evicts_the_oldest_entries() {
    let mut ds = cores(Forward::Route, 1);
    let mut out = Out::default();
    let n = rvs_dataplane::pipeline::FRAG_ENTRIES + 100;
    for ident in 0..n {
        let frags = fragment4(&datagram4(CLI, VIP, CPORT, 53, 3000, ident as u16), 1480);
        deliver(&mut ds, 0, eth4(&frags[0]), 1, &mut out);
    }
    assert_eq!(out.sent.len(), n);
    // More live datagrams than entries: at least the excess were evicted.
    assert!(counter(&ds, Counter::FragEvicted) >= 100);
    // The newest datagram's later fragments still follow.
    let frags = fragment4(&datagram4(CLI, VIP, CPORT, 53, 3000, (n - 1) as u16), 1480);
    let mut out = Out::default();
    deliver(&mut ds, 0, eth4(&frags[1]), 2, &mut out);
    assert_eq!(out.sent.len(), 1);
}

#[test]
fn an_entry_lives_until_every_byte_went_by() {
    let mut ds = cores(Forward::Route, 1);
    let frags = fragment4(&datagram4(CLI, VIP, CPORT, 53, 3000, 42), 1480);
    let mut out = Out::default();
    for f in &frags {
        deliver(&mut ds, 0, eth4(f), 1, &mut out);
    }
    assert_eq!(out.sent.len(), 3);
    // Done: a duplicate of a later fragment finds no entry and is held.
    deliver(&mut ds, 0, eth4(&frags[1]), 2, &mut out);
    assert_eq!(out.other, vec![Verdict::Drop(Counter::FragHeld)]);
}

#[test]
fn a_tunnel_packet_too_big_without_df_is_fragmented_before_encapsulation() {
    for gue in [false, true] {
        let mut ds = cores(Forward::Tunnel, 1);
        if gue {
            ds[0].ok(Request::EditDest {
                service: svc(53),
                dest: DestConfig {
                    forward: Forward::Tunnel,
                    tunnel: Tunnel {
                        kind: rvs_api::TunnelKind::Gue,
                        port: 6080,
                        ..Tunnel::default()
                    },
                    ..dest(RS1, 53, 1)
                },
            });
        }
        let overhead = if gue { 32 } else { 20 };
        // A whole 1 500-byte datagram without DF, and a 1 500-byte first
        // fragment of a bigger one: neither fits with the outer headers.
        let whole = datagram4(CLI, VIP, CPORT, 53, 1472, 77);
        let bigger = datagram4(CLI, VIP, CPORT, 53, 3000, 78);
        let first = fragment4(&bigger, 1480).remove(0);
        for (k, client) in [whole.clone(), first.clone()].into_iter().enumerate() {
            let mut out = Out::default();
            deliver(&mut ds, 0, eth4(&client), 1 + k as u64, &mut out);
            assert_eq!(out.sent.len(), 2, "gue {gue}: {:?}", out.other);
            let mut pieces = Vec::new();
            for (_, f) in &out.sent {
                assert!(f.len() - 14 <= 1500, "gue {gue}: {} bytes", f.len() - 14);
                assert_eq!(MacAddr(f[0..6].try_into().unwrap()), RS1_MAC);
                // Each a whole tunnel packet, its checksums true (GUE's UDP
                // one included).
                let o = Ipv4Packet::new_unchecked(&f[14..]);
                assert_eq!(
                    (o.src(), o.dst(), o.more_frags(), o.frag_offset()),
                    (LB, RS1, false, 0)
                );
                assert!(independent_checksums(f) >= 1);
                pieces.push(f[14 + overhead..].to_vec());
            }
            if k == 0 {
                assert_eq!(
                    reassemble4(&pieces),
                    whole,
                    "gue {gue}: the client's datagram"
                );
            } else {
                // The pieces of a first fragment: one more fragment each.
                let mut all = pieces.clone();
                all.extend(fragment4(&bigger, 1480).into_iter().skip(1));
                assert_eq!(reassemble4(&all), reassemble4(&fragment4(&bigger, 1480)));
            }
        }
        assert_eq!(counter(&ds, Counter::TunnelFragmented), 2);
    }
    // With DF, the client is told instead (as before).
    let mut ds = cores(Forward::Tunnel, 1);
    let mut df = datagram4(CLI, VIP, CPORT + 1, 53, 1472, 79);
    Ipv4Packet::new_unchecked(&mut df[..]).set_flags_df(true);
    Ipv4Packet::new_unchecked(&mut df[..]).fill_checksum();
    let mut out = Out::default();
    deliver(&mut ds, 0, eth4(&df), 2, &mut out);
    assert_eq!(out.other, vec![Verdict::Reply]);
    assert_eq!(counter(&ds, Counter::IcmpFragNeededSent), 1);
}

#[test]
fn an_ipv6_fragment_too_big_for_the_tunnel_gets_packet_too_big() {
    let mut ds = cores(Forward::Tunnel, 1);
    let whole = datagram6(CLI6, VIP6, CPORT, 53, 4000);
    // 1 496-byte fragments: 1 536 with the outer header.
    let frags = fragment6(&whole, 1448, 9);
    let mut f = VecFrame(eth6(&frags[0]));
    assert_eq!(
        ds[0].worker.handle_frame(0, &mut f, 1, false),
        Verdict::Reply
    );
    let ip = Ipv6Packet::new_unchecked(&f.0[14..]);
    assert_eq!(
        (ip.src(), ip.dst(), ip.next_header()),
        (VIP6, CLI6, protocol::ICMPV6)
    );
    let icmp = &f.0[14 + 40..];
    assert_eq!(icmp[0], icmpv6::kind::PACKET_TOO_BIG);
    assert_eq!(u32::from_be_bytes(icmp[4..8].try_into().unwrap()), 1460);
}

/// `ext` (extension headers, the first's type `first`) between the fixed
/// header and `l4` (a transport message of `proto`).
fn with_ext(src: Ipv6Addr, dst: Ipv6Addr, first: u8, ext: &[u8], l4: &[u8]) -> Vec<u8> {
    let mut body = ext.to_vec();
    body.extend_from_slice(l4);
    ipv6(src, dst, first, 64, &body)
}

fn udp6_msg(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    build::udp(
        &UdpRepr {
            src_port: sport,
            dst_port: dport,
            payload: data,
        },
        src.into(),
        dst.into(),
    )
}

#[test]
fn ipv6_extension_headers_are_walked_to_the_transport() {
    // Hop-by-hop (PadN) then destination options (PadN), then UDP.
    let hbh = [60, 0, 1, 4, 0, 0, 0, 0];
    let dst_opts = [17, 0, 1, 4, 0, 0, 0, 0];
    let ext = [&hbh[..], &dst_opts[..]].concat();
    for forward in METHODS {
        let mut ds = cores(forward, 1);
        let sent = with_ext(
            CLI6,
            VIP6,
            0,
            &ext,
            &udp6_msg(CLI6, VIP6, CPORT, 53, b"question"),
        );
        let mut out = Out::default();
        deliver(&mut ds, 0, eth6(&sent), 1, &mut out);
        assert_eq!(out.sent.len(), 1, "{forward:?}: {:?}", out.other);
        let got = &inner_packets(&out.sent, forward, true)[0];
        let (src, sport) = match forward {
            Forward::FullNat => (LADDR6, sport_of_ext(got)),
            _ => (CLI6, CPORT),
        };
        let (dst, dport) = match forward {
            Forward::Masq | Forward::FullNat => (RS1_6, 5353),
            _ => (VIP6, 53),
        };
        let want = with_ext(
            src,
            dst,
            0,
            &ext,
            &udp6_msg(src, dst, sport, dport, b"question"),
        );
        assert_eq!(
            got, &want,
            "{forward:?}: the headers kept, the UDP checksum true"
        );
    }
}

fn sport_of_ext(ip: &[u8]) -> u16 {
    u16::from_be_bytes([ip[56], ip[57]])
}

#[test]
fn bad_ipv6_extension_chains_are_counted_drops() {
    let mut ds = cores(Forward::Masq, 1);
    let udp = udp6_msg(CLI6, VIP6, CPORT, 53, b"q");
    // A routing header with segments left: the VIP is not the destination.
    let rt = [17, 0, 0, 1, 0, 0, 0, 0];
    let mut out = Out::default();
    deliver(
        &mut ds,
        0,
        eth6(&with_ext(CLI6, VIP6, 43, &rt, &udp)),
        1,
        &mut out,
    );
    assert_eq!(
        out.other,
        vec![Verdict::Drop(Counter::DropIpv6RoutingHeader)]
    );
    // With none left it is done with, and the packet goes through.
    let rt = [17, 0, 0, 0, 0, 0, 0, 0];
    let mut out = Out::default();
    deliver(
        &mut ds,
        0,
        eth6(&with_ext(CLI6, VIP6, 43, &rt, &udp)),
        1,
        &mut out,
    );
    assert_eq!(out.sent.len(), 1);
    // A destination options header longer than the packet.
    let opts = [17, 9, 1, 4, 0, 0, 0, 0];
    let mut out = Out::default();
    deliver(
        &mut ds,
        0,
        eth6(&with_ext(CLI6, VIP6, 60, &opts, &udp[..2])),
        1,
        &mut out,
    );
    assert_eq!(
        out.other,
        vec![Verdict::Drop(Counter::DropIpv6ExtTruncated)]
    );
    // Hop-by-hop after another header.
    let ext = [0, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0];
    let mut out = Out::default();
    deliver(
        &mut ds,
        0,
        eth6(&with_ext(CLI6, VIP6, 60, &ext, &udp)),
        1,
        &mut out,
    );
    assert_eq!(
        out.other,
        vec![Verdict::Drop(Counter::DropIpv6ExtMalformed)]
    );
    // Too many headers.
    let mut ext = Vec::new();
    for _ in 0..9 {
        ext.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    let mut out = Out::default();
    deliver(
        &mut ds,
        0,
        eth6(&with_ext(CLI6, VIP6, 60, &ext, &udp)),
        1,
        &mut out,
    );
    assert_eq!(out.other, vec![Verdict::Drop(Counter::DropIpv6ExtTooMany)]);
}

#[test]
fn fragmented_icmp_and_fragmented_replies_are_the_kernels() {
    let mut ds = cores(Forward::Masq, 1);
    // A big ping to the VIP, fragmented: the kernel reassembles it.
    let mut echo = vec![8u8, 0, 0, 0, 0, 1, 0, 1];
    echo.extend_from_slice(&payload(3000));
    let ping = build::ipv4(
        Ipv4Repr {
            ident: 5,
            dont_frag: false,
            ..build::ipv4_header(CLI, VIP, protocol::ICMP)
        },
        &echo,
    );
    let mut out = Out::default();
    for f in fragment4(&ping, 1480) {
        deliver(&mut ds, 0, eth4(&f), 1, &mut out);
    }
    assert_eq!(out.other, vec![Verdict::Exception; 3]);
    // A NAT real server's fragmented answer goes to the kernel, as before.
    let answer = datagram4(RS1, CLI, 5353, CPORT, 3000, 6);
    let mut out = Out::default();
    for f in fragment4(&answer, 1480) {
        let fr = build::ethernet(LB_MAC, RS1_MAC, ethertype::IPV4, &f);
        deliver(&mut ds, 0, fr, 1, &mut out);
    }
    assert_eq!(out.other, vec![Verdict::Exception; 3]);
}

#[test]
fn fullnat_behind_extension_headers_goes_without_toa_and_refuses_proxy_v2() {
    let tcp_svc = |port: u16| ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: (VIP6, port).into(),
    };
    let mut ds = cores(Forward::FullNat, 1);
    ds[0].add_service(tcp_svc(80), ServiceConfig::new("rr"));
    ds[0].add_service(
        tcp_svc(81),
        ServiceConfig {
            proxy_protocol: true,
            ..ServiceConfig::new("rr")
        },
    );
    for port in [80, 81] {
        ds[0].add_dest_with(
            tcp_svc(port),
            DestConfig {
                addr: (RS1_6, 8080).into(),
                forward: Forward::FullNat,
                ..dest(RS1, 8080, 1)
            },
        );
        ds[0].ok(Request::AddLaddr {
            service: tcp_svc(port),
            addr: LADDR6.into(),
        });
    }
    let dst_opts = [6, 0, 1, 4, 0, 0, 0, 0];
    let mss = [2, 4, 0x05, 0xa0];
    let syn = &tcp6(CLI6, VIP6, CPORT, 80, 0x02, &mss, b"")[40..];
    let mut out = Out::default();
    deliver(
        &mut ds,
        0,
        eth6(&with_ext(CLI6, VIP6, 60, &dst_opts, syn)),
        1,
        &mut out,
    );
    assert_eq!(out.sent.len(), 1, "{:?}", out.other);
    let got = &out.sent[0].1[14..];
    let lport = u16::from_be_bytes([got[48], got[49]]);
    // Both ends rewritten past the header, the MSS as it was, no TOA.
    let want = &tcp6(LADDR6, RS1_6, lport, 8080, 0x02, &mss, b"")[40..];
    assert_eq!(got, &with_ext(LADDR6, RS1_6, 60, &dst_opts, want)[..]);
    assert_eq!(counter(&ds, Counter::ToaNoRoom), 1);
    assert_eq!(counter(&ds, Counter::ToaInserted), 0);
    // PROXY v2 edits the stream, which needs the segment at its place.
    let syn = &tcp6(CLI6, VIP6, CPORT + 1, 81, 0x02, &mss, b"")[40..];
    let mut out = Out::default();
    deliver(
        &mut ds,
        0,
        eth6(&with_ext(CLI6, VIP6, 60, &dst_opts, syn)),
        1,
        &mut out,
    );
    assert_eq!(out.other, vec![Verdict::Drop(Counter::DropFragUnsupported)]);
}
