//! Fragments to a VIP (`pipeline/frag.rs`): a fragmented UDP datagram
//! through DR, NAT, TUN and FullNAT, IPv4 and IPv6, in order and out of
//! order, on one core and on two (the first fragment decides on the flow's
//! owner core, later ones follow it there); the limits and the hold timeout
//! through the pipeline's clock; the outer fragmentation of a tunnel
//! packet. What leaves the director is reassembled here and compared with
//! the datagram the method should deliver, built from scratch (checksums
//! included), so the incremental checksum update of the first fragment is
//! checked over the whole datagram. IPv6 extension headers:
//! `ipv6_ext.rs`; the kit both use: `common/frag.rs`.

mod common;

use rvs_api::{DestConfig, Forward, Protocol, Request, ServiceConfig, ServiceKey, Tunnel};
use rvs_dataplane::pipeline::{VecFrame, Verdict, HOLD_MS, HOLD_SLOTS};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::ethernet::MacAddr;
use rvs_dataplane::wire::icmpv6;
use rvs_dataplane::wire::ipv4::{protocol, Ipv4Packet};
use rvs_dataplane::wire::ipv6::Ipv6Packet;

use common::director::dest;
use common::frag::*;
use common::*;

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
                    let what =
                        format!("{forward:?} on {workers} cores, reverse {reverse}, ident {ident}");
                    let out = three_fragments(&mut ds, frags, eth4, ident.into(), reverse, &what);
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
                    let what =
                        format!("{forward:?} on {workers} cores, reverse {reverse}, ident {ident}");
                    let out = three_fragments(&mut ds, frags, eth6, ident.into(), reverse, &what);
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
