//! Golden packet tests: frames in, verdicts and frames out, through the same
//! admin state and pipeline the dataplane runs; those that are only that are
//! fixture tables (`common::golden`).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use proptest::prelude::*;
use rvs_api::{DestConfig, Forward, Protocol, Request, Response, ServiceKey};
use rvs_dataplane::pipeline::{ConnPolicy, VecFrame, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
use rvs_dataplane::wire::icmp::IcmpRepr;
use rvs_dataplane::wire::ipv4::{protocol, Ipv4Packet, Ipv4Repr};
use rvs_dataplane::wire::tcp::flags;

use common::golden::{run_table, Step};
use common::lab::{dest, key, rr, Lab};
use common::*;

#[test]
fn dr_rewrites_only_the_macs_for_tcp_and_udp_in_rr_order() {
    // Kernel order is newest first: rs2, then rs1.
    let syn = |sport: u16, rs_mac| {
        let f = client_tcp(sport, flags::SYN).0;
        let want = dr_rewrite(&f, rs_mac);
        Step::new("a SYN to its real server", 1, f, Verdict::Forward(0), want)
    };
    let u = in4(CLI_MAC, &udp(CLI, VIP, 5353, 80, b"hello"));
    let want_u = dr_rewrite(&u, RS2_MAC);
    run_table(
        &mut Lab::new(true),
        vec![
            syn(40000, RS2_MAC),
            syn(40001, RS1_MAC),
            syn(40002, RS2_MAC),
            Step::new("a datagram to rs2", 1, u, Verdict::Forward(0), want_u),
        ],
        &[(Counter::ForwardDr, 4), (Counter::ConnCreated, 4)],
    );
}

#[test]
fn later_packets_follow_their_connection() {
    let mut lab = Lab::new(true);
    let mut syn = client_tcp(40000, flags::SYN);
    lab.run(&mut syn, 1);
    let mut other = client_tcp(40001, flags::SYN);
    lab.run(&mut other, 1);
    for fl in [flags::ACK, flags::ACK | flags::PSH, flags::FIN | flags::ACK] {
        let mut f = client_tcp(40000, fl);
        let want = dr_rewrite(&f.0, RS2_MAC);
        assert_eq!(lab.run(&mut f, 2), Verdict::Forward(0));
        assert_eq!(f.0, want);
    }
}

#[test]
fn connection_counts_follow_the_tcp_states() {
    let mut lab = Lab::new(true);
    lab.run(&mut client_tcp(40000, flags::SYN), 1);
    let l = lab.list();
    let rs2 = &l[0].dests[0];
    assert_eq!(
        (rs2.active_conns, rs2.inactive_conns, rs2.stats.conns),
        (1, 0, 1)
    );
    lab.run(&mut client_tcp(40000, flags::ACK), 2);
    lab.run(&mut client_tcp(40000, flags::FIN | flags::ACK), 3);
    let l = lab.list();
    let rs2 = &l[0].dests[0];
    assert_eq!(
        (rs2.active_conns, rs2.inactive_conns),
        (0, 1),
        "FIN_WAIT is inactive"
    );
    assert_eq!(l[0].stats.conns, 1);
    assert_eq!(l[0].stats.in_pkts, 3);
    // FIN_WAIT lasts 120 s after the last packet; then the sweep expires it.
    lab.worker.sweep(3 + 119_000, usize::MAX);
    assert_eq!(lab.list()[0].dests[0].inactive_conns, 1);
    lab.worker.sweep(3 + 120_000, usize::MAX);
    assert_eq!(lab.list()[0].dests[0].inactive_conns, 0);
    assert_eq!(lab.counter(Counter::ConnExpired), 1);
}

#[test]
fn udp_is_inactive_and_one_entry_per_socket() {
    let mut lab = Lab::new(true);
    for _ in 0..3 {
        let mut u = VecFrame(in4(CLI_MAC, &udp(CLI, VIP, 5353, 80, b"q")));
        assert_eq!(lab.run(&mut u, 1), Verdict::Forward(0));
    }
    let l = lab.list();
    let udp_svc = &l[1];
    assert_eq!(udp_svc.stats.conns, 1);
    assert_eq!(
        (
            udp_svc.dests[0].active_conns,
            udp_svc.dests[0].inactive_conns
        ),
        (0, 1)
    );
}

#[test]
fn syn_on_a_time_wait_entry_is_rescheduled() {
    let mut lab = Lab::new(true);
    lab.run(&mut client_tcp(40000, flags::SYN), 1); // rs2, SYN_RECV
    lab.run(&mut client_tcp(40000, flags::ACK), 2); // ESTABLISHED
    lab.run(&mut client_tcp(40000, flags::RST), 2); // CLOSE
    let mut f = client_tcp(40000, flags::SYN);
    let want = dr_rewrite(&f.0, RS1_MAC);
    assert_eq!(lab.run(&mut f, 3), Verdict::Forward(0));
    assert_eq!(f.0, want, "conn_reuse_mode 1 schedules the SYN afresh");
    assert_eq!(lab.counter(Counter::ConnReused), 1);
}

#[test]
fn a_full_table_sends_whole_flows_by_hash() {
    let mut lab = Lab::with(true, 0, 1, 1);
    lab.run(&mut client_tcp(40000, flags::SYN), 1); // takes the one entry
    for sport in 41000..41016 {
        let mut syn = client_tcp(sport, flags::SYN);
        assert_eq!(lab.run(&mut syn, 2), Verdict::Forward(0));
        for fl in [flags::ACK, flags::ACK | flags::PSH, flags::FIN | flags::ACK] {
            let mut later = client_tcp(sport, fl);
            assert_eq!(lab.run(&mut later, 3), Verdict::Forward(0));
            assert_eq!(
                later.0[0..6],
                syn.0[0..6],
                "flow {sport}: every packet to the SYN's dest"
            );
        }
    }
    assert_eq!(lab.counter(Counter::ConnCreated), 1);
    assert_eq!(lab.counter(Counter::ForwardStateless), 16 * 4);
    assert_eq!(
        lab.list()[0].stats.conns,
        17,
        "stateless flows are still counted"
    );
    // Once the entry has expired, the table has room again.
    let mut syn = client_tcp(42000, flags::SYN);
    lab.run(&mut syn, 1 + 61_000);
    assert_eq!(lab.counter(Counter::ConnCreated), 2);
}

#[test]
fn a_reused_service_slot_starts_its_scheduler_afresh() {
    let mut lab = Lab::new(true);
    lab.run(&mut client_tcp(40000, flags::SYN), 1); // rs2
    lab.run(&mut client_tcp(40001, flags::SYN), 1); // rs1: the cursor is at index 1
    let cores = lab.cores.clone();
    assert_eq!(
        lab.admin
            .handle(
                Request::DelService {
                    key: key(Protocol::Tcp)
                },
                &cores,
                1
            )
            .0,
        Response::Ok
    );
    let gen = lab.admin.generation();
    lab.admin.collect_trash(&cores, gen);
    assert_eq!(
        lab.admin
            .handle(
                Request::AddService {
                    key: key(Protocol::Tcp),
                    config: rr()
                },
                &cores,
                1
            )
            .0,
        Response::Ok
    );
    for a in [RS1, RS2] {
        let r = lab.admin.handle(
            Request::AddDest {
                service: key(Protocol::Tcp),
                dest: dest(a),
            },
            &cores,
            1,
        );
        assert_eq!(r.0, Response::Ok);
    }
    lab.worker.set_snapshot(Arc::new(lab.admin.snapshot()));
    let mut f = client_tcp(40002, flags::SYN);
    let want = dr_rewrite(&f.0, RS2_MAC);
    assert_eq!(lab.run(&mut f, 2), Verdict::Forward(0));
    assert_eq!(
        f.0, want,
        "a new service's first pick is the head of its list"
    );
}

/// A packet of a live entry takes the service that made the entry only
/// while that is what the service lookup would answer: once the service
/// is gone and its slot serves another one, the entry's packets are the
/// deleted service's, dropped as before.
#[test]
fn an_entry_of_a_deleted_service_is_not_taken_by_its_slot_s_next_service() {
    let mut lab = Lab::new(true);
    assert_eq!(
        lab.run(&mut client_tcp(40000, flags::SYN), 1),
        Verdict::Forward(0)
    );
    assert_eq!(
        lab.run(&mut client_tcp(40000, flags::ACK), 2),
        Verdict::Forward(0)
    );
    let slot_of = |lab: &mut Lab, port: u16| {
        let snap = lab.admin.snapshot();
        snap.services()
            .iter()
            .find(|s| s.key == (6, IpAddr::V4(VIP), port))
            .map(|s| s.slot)
    };
    let old = slot_of(&mut lab, 80).expect("the TCP service");
    let cores = lab.cores.clone();
    let del = Request::DelService {
        key: key(Protocol::Tcp),
    };
    assert_eq!(lab.admin.handle(del, &cores, 1).0, Response::Ok);
    let gen = lab.admin.generation();
    lab.admin.collect_trash(&cores, gen);
    let other = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: (VIP, 81).into(),
    };
    let add = Request::AddService {
        key: other,
        config: rr(),
    };
    assert_eq!(lab.admin.handle(add, &cores, 1).0, Response::Ok);
    assert_eq!(slot_of(&mut lab, 81), Some(old), "the slot is reused");
    lab.worker.set_snapshot(Arc::new(lab.admin.snapshot()));
    assert_eq!(
        lab.run(&mut client_tcp(40000, flags::ACK), 3),
        Verdict::Drop(Counter::DropVipNoService)
    );
}

#[test]
fn icmp_to_a_vip_that_is_not_ours_goes_to_the_kernel() {
    // A timestamp request, and a port unreachable quoting no connection.
    let ts = build::icmp(&IcmpRepr {
        kind: 13,
        code: 0,
        rest: [0, 1, 0, 1],
        payload: &[0u8; 12],
    });
    let quoted = udp(VIP, CLI, 80, 9999, b"");
    let unreach = build::icmp(&IcmpRepr {
        kind: 3,
        code: 3,
        rest: [0; 4],
        payload: &quoted[..28],
    });
    let to_vip = |m: &[u8]| in4(CLI_MAC, &ipv4(CLI, VIP, protocol::ICMP, m));
    run_table(
        &mut Lab::new(true),
        vec![
            Step::verdict("a timestamp request", 1, to_vip(&ts), Verdict::Exception),
            Step::verdict(
                "an error about no connection",
                1,
                to_vip(&unreach),
                Verdict::Exception,
            ),
        ],
        &[(Counter::ToException, 2)],
    );
}

#[test]
fn an_icmp_error_about_a_connection_follows_it() {
    // The client's router says the real server's reply (VIP:80 ->
    // CLI:40000) was too big.
    let quoted = tcp(VIP, CLI, 80, 40000, flags::ACK, b"");
    let err = build::icmp(&IcmpRepr {
        kind: 3,
        code: 4,
        rest: [0, 0, 0x05, 0xdc],
        payload: &quoted[..28],
    });
    let f = in4(CLI_MAC, &ipv4(CLI, VIP, protocol::ICMP, &err));
    let want = dr_rewrite(&f, RS2_MAC);
    run_table(
        &mut Lab::new(true),
        vec![
            Step::verdict(
                "the connection, to rs2",
                1,
                client_tcp(40000, flags::SYN).0,
                Verdict::Forward(0),
            ),
            Step::new("the error, on to rs2", 2, f, Verdict::Forward(0), want),
        ],
        &[(Counter::IcmpErrorForwarded, 1)],
    );
}

#[test]
fn tcp_without_a_connection_is_a_counted_drop() {
    run_table(
        &mut Lab::new(true),
        vec![Step::verdict(
            "an ACK of no connection",
            1,
            client_tcp(40000, flags::ACK).0,
            Verdict::Drop(Counter::DropTcpNoConn),
        )],
        &[(Counter::DropTcpNoConn, 1)],
    );
}

#[test]
fn deleted_dest_drops_its_connections_and_readding_revives_them() {
    let mut lab = Lab::new(true);
    lab.run(&mut client_tcp(40000, flags::SYN), 1); // rs2
    let del = Request::DelDest {
        service: key(Protocol::Tcp),
        addr: (RS2, 80).into(),
    };
    assert_eq!(lab.admin.handle(del, &lab.cores, 1).0, Response::Ok);
    lab.worker.set_snapshot(Arc::new(lab.admin.snapshot()));
    let mut f = client_tcp(40000, flags::ACK);
    assert_eq!(
        lab.run(&mut f, 2),
        Verdict::Drop(Counter::DropDestUnavailable)
    );
    let add = Request::AddDest {
        service: key(Protocol::Tcp),
        dest: dest(RS2),
    };
    assert_eq!(lab.admin.handle(add, &lab.cores, 1).0, Response::Ok);
    lab.worker.set_snapshot(Arc::new(lab.admin.snapshot()));
    let mut f = client_tcp(40000, flags::ACK);
    assert_eq!(lab.run(&mut f, 3), Verdict::Forward(0));
    assert_eq!(
        lab.list()[0].dests[0].active_conns,
        1,
        "the connection came back with its dest"
    );
}

#[test]
fn no_dest_answers_icmp_port_unreachable_from_the_vip() {
    let f = client_tcp(40000, flags::SYN).0;
    let original_ip = f[14..].to_vec();
    // From the VIP to the client's MAC; TTL 64, ident 0, no DF; quoting the
    // IP header and 8 bytes; checksums computed from scratch (and checked
    // by etherparse: the IP and ICMP ones).
    let m = build::icmp(&IcmpRepr {
        kind: 3,
        code: 3,
        rest: [0; 4],
        payload: &original_ip[..28],
    });
    let ip = build::ipv4(
        Ipv4Repr {
            dont_frag: false,
            ..build::ipv4_header(VIP, CLI, protocol::ICMP)
        },
        &m,
    );
    let want = out4(CLI_MAC, &ip);
    assert_eq!(independent_checksums(&want), 2, "the IP and ICMP checksums");
    run_table(
        &mut Lab::new(false),
        vec![Step::new("port unreachable", 1, f, Verdict::Reply, want)],
        &[(Counter::DropNoDest, 1), (Counter::IcmpUnreachableSent, 1)],
    );
}

#[test]
fn ping_to_a_vip_is_answered() {
    let echo = |kind| {
        build::icmp(&IcmpRepr {
            kind,
            code: 0,
            rest: [0x12, 0x34, 0, 1],
            payload: b"ping",
        })
    };
    // The reply keeps the request's identifier, sequence and data, and its
    // IP header but for the addresses swapped and TTL 64.
    run_table(
        &mut Lab::new(true),
        vec![Step::new(
            "the echo reply, from the VIP",
            1,
            in4(CLI_MAC, &ipv4(CLI, VIP, protocol::ICMP, &echo(8))),
            Verdict::Reply,
            out4(CLI_MAC, &ipv4(VIP, CLI, protocol::ICMP, &echo(0))),
        )],
        &[(Counter::IcmpEchoReplied, 1)],
    );
}

#[test]
fn exception_verdicts() {
    let mut lab = Lab::new(true);
    // To the director's own address.
    let mut own = client_tcp(40000, flags::SYN);
    own.0 = in4(CLI_MAC, &tcp(CLI, LB, 40000, 22, flags::SYN, b""));
    assert_eq!(lab.run(&mut own, 1), Verdict::Exception);
    // IPv6 (until IPv6 services exist).
    let mut v6 = vec![0u8; 40];
    v6[0] = 0x60;
    v6[6] = 59;
    v6[7] = 64;
    let mut f = VecFrame(in6(CLI_MAC, &v6));
    assert_eq!(lab.run(&mut f, 1), Verdict::Exception);
    // Another ethertype.
    let mut f = VecFrame(eth(LB_MAC, CLI_MAC, 0x88cc, &[0u8; 46]));
    assert_eq!(lab.run(&mut f, 1), Verdict::Exception);
    assert_eq!(lab.counter(Counter::ToException), 3);
    // Unicast to another MAC, and our own frames looped back.
    let mut f = client_tcp(40000, flags::SYN);
    f.0[0..6].copy_from_slice(&RS1_MAC.0);
    assert_eq!(lab.run(&mut f, 1), Verdict::Drop(Counter::DropNotForUs));
    let mut f = client_tcp(40000, flags::SYN);
    f.0[6..12].copy_from_slice(&LB_MAC.0);
    assert_eq!(lab.run(&mut f, 1), Verdict::Drop(Counter::DropLoopedBack));
}

#[test]
fn flows_of_other_cores_are_handed_off_before_any_state() {
    let mut seen = [false; 2];
    for id in 0..2u16 {
        let mut lab = Lab::with_workers(true, id, 2);
        for sport in 40000..40016 {
            match lab.run(&mut client_tcp(sport, flags::SYN), 1) {
                Verdict::Handoff(owner) => {
                    assert_eq!(owner, 1 - id);
                    seen[usize::from(id)] = true;
                }
                Verdict::Forward(0) => {}
                v => panic!("{v:?}"),
            }
        }
        assert_eq!(
            lab.counter(Counter::HandedOff) + lab.counter(Counter::ConnCreated),
            16
        );
    }
    assert!(seen[0] && seen[1], "both cores own some of 16 flows");
}

/// Malformed frames: each a counted drop with its reason, visible through
/// the admin API, never a panic.
#[test]
fn malformed_frames_are_counted_drops_by_reason() {
    let mut lab = Lab::new(true);
    let good = client_tcp(40000, flags::SYN).0;
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        VecFrame(b)
    };
    let cases: Vec<(&str, VecFrame, Counter)> = vec![
        (
            "truncated Ethernet",
            VecFrame(good[..10].to_vec()),
            Counter::DropEthernetTruncated,
        ),
        (
            "truncated VLAN tag",
            VecFrame({
                let mut b = good[..14].to_vec();
                b[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
                b.extend_from_slice(&[0, 1]);
                b
            }),
            Counter::DropVlanTruncated,
        ),
        (
            "truncated IPv4 header",
            VecFrame(good[..14 + 12].to_vec()),
            Counter::DropIpv4Truncated,
        ),
        (
            "IHL < 5",
            with(&|b| b[14] = 0x44),
            Counter::DropIpv4BadHeaderLength,
        ),
        (
            "bad IP version",
            with(&|b| b[14] = 0x55),
            Counter::DropIpv4BadVersion,
        ),
        (
            "total length beyond the frame",
            with(&|b| b[16..18].copy_from_slice(&1500u16.to_be_bytes())),
            Counter::DropIpv4BadTotalLength,
        ),
        (
            "total length below the header",
            with(&|b| b[16..18].copy_from_slice(&10u16.to_be_bytes())),
            Counter::DropIpv4BadTotalLength,
        ),
        (
            "truncated TCP header",
            VecFrame({
                let mut b = good[..14 + 20 + 10].to_vec();
                b[16..18].copy_from_slice(&30u16.to_be_bytes());
                let mut ip = Ipv4Packet::new_unchecked(&mut b[14..34]);
                ip.fill_checksum();
                b
            }),
            Counter::DropTcpTruncated,
        ),
        (
            "TCP data offset < 5",
            with(&|b| b[14 + 20 + 12] = 0x20),
            Counter::DropTcpBadDataOffset,
        ),
        (
            "TCP data offset beyond the segment",
            with(&|b| b[14 + 20 + 12] = 0xf0),
            Counter::DropTcpTruncated,
        ),
        (
            "bad IPv4 header checksum",
            with(&|b| b[14 + 10] ^= 0xff),
            Counter::DropIpv4BadChecksum,
        ),
        (
            "truncated ARP",
            VecFrame(eth(
                MacAddr::BROADCAST,
                CLI_MAC,
                ethertype::ARP,
                &[0, 1, 8, 0],
            )),
            Counter::DropArpTruncated,
        ),
        (
            "truncated IPv6",
            VecFrame(in6(CLI_MAC, &[0x60; 20])),
            Counter::DropIpv6Truncated,
        ),
    ];
    for (what, mut frame, want) in cases {
        let before = lab.counter(want);
        assert_eq!(lab.run(&mut frame, 1), Verdict::Drop(want), "{what}");
        assert_eq!(lab.counter(want), before + 1, "{what}");
    }
    let Response::Counters(c) = lab.admin.handle(Request::Counters, &lab.cores, 1).0 else {
        panic!("counters");
    };
    assert_eq!(c.get("drop_ipv4_bad_total_length"), Some(2));
    assert_eq!(c.get("drop_tcp_truncated"), Some(2));
    assert_eq!(c.get("drop_ethernet_truncated"), Some(1));
    assert_eq!(c.get("forward_dr"), Some(0));
}

proptest! {
    /// Any bytes: a verdict, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut lab = Lab::new(true);
        let _ = lab.run(&mut VecFrame(bytes), 1);
    }

    /// A valid frame with bytes flipped and its tail cut: never a panic.
    #[test]
    fn mutated_frames_never_panic(
        flips in proptest::collection::vec((0usize..80, any::<u8>()), 0..6),
        cut in 0usize..80,
    ) {
        let mut lab = Lab::new(true);
        let mut b = client_tcp(40000, flags::SYN).0;
        for (at, v) in flips { if at < b.len() { b[at] = v; } }
        b.truncate(b.len().min(cut.max(1) + 14));
        let _ = lab.run(&mut VecFrame(b), 1);
    }
}

/// The burst prefetch is a hint: on a table large enough for it to work,
/// it counts nothing, changes no verdict and takes any bytes; its three
/// stages, run over a burst of clients' packets, real servers' replies
/// and junk as the worker runs them, leave every verdict as it was.
#[test]
fn prefetch_changes_nothing_and_takes_any_bytes() {
    use common::director::Director;
    use rvs_dataplane::pipeline::{Prefetched, PREFETCH_CONNS_MIN};
    let mut d = Director::sized(ConnPolicy::default(), 2 * PREFETCH_CONNS_MIN);
    let vip = (VIP, 80);
    d.add_service(
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: (VIP, 80).into(),
        },
        rr(),
    );
    // NAT, so that replies have an index to walk.
    d.add_dest_with(
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: (VIP, 80).into(),
        },
        DestConfig {
            forward: Forward::Masq,
            ..common::director::dest(RS1, 80, 1)
        },
    );
    let clients = PREFETCH_CONNS_MIN / 60_000 + 2;
    let mut n = 0;
    'fill: for c in 0..clients {
        for port in 1024..=u16::MAX {
            if n == PREFETCH_CONNS_MIN + 10 {
                break 'fill;
            }
            let client = Ipv4Addr::new(198, 18, 2, c as u8);
            assert!(matches!(
                d.syn(client, port, vip, 1),
                common::director::Sent::To(_)
            ));
            n += 1;
        }
    }
    let counters = |d: &Director| {
        rvs_dataplane::stats::Counter::ALL
            .iter()
            .map(|&c| d.counter(c))
            .collect::<Vec<_>>()
    };
    let before = counters(&d);
    let ack = tcp_frame(Ipv4Addr::new(198, 18, 2, 0), 1024, VIP, 80, flags::ACK);
    d.worker.prefetch(&ack);
    for len in 0..ack.0.len() {
        d.worker.prefetch(&VecFrame(ack.0[..len].to_vec()));
    }
    let mut vlan = ack.0.clone();
    vlan.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    d.worker.prefetch(&VecFrame(vlan));
    d.worker.prefetch(&arp_request(VIP));
    assert_eq!(counters(&d), before, "a prefetch counts nothing");
    assert_eq!(
        d.tcp(Ipv4Addr::new(198, 18, 2, 0), 1024, vip, flags::ACK, 2),
        common::director::Sent::To(RS1)
    );

    // A burst as the worker handles it: the first stage over all of it,
    // then the later stages before each frame.
    let client = |i: usize| (Ipv4Addr::new(198, 18, 2, 0), 1024 + i as u16);
    let mut burst: Vec<VecFrame> = (0..32)
        .map(|i| {
            let (c, port) = client(i);
            match i % 4 {
                0 => tcp_frame(c, port, VIP, 80, flags::ACK),
                1 | 2 => tcp_frame(RS1, 80, c, port, flags::ACK),
                _ => VecFrame(vec![0xff; i]),
            }
        })
        .collect();
    // What the junk gets without the stages (it leaves no state).
    let junk: Vec<Verdict> = (0..32)
        .map(|i| {
            d.worker
                .handle_frame(0, &mut VecFrame(vec![0xff; i]), 2_000, false)
        })
        .collect();
    let before = counters(&d);
    let mut probes: Vec<Prefetched> = burst.iter().map(|f| d.worker.prefetch(f)).collect();
    assert_eq!(counters(&d), before, "the first stage counts nothing");
    let mut verdicts = vec![];
    for (i, f) in burst.iter_mut().enumerate() {
        d.worker.prefetch_ahead(&mut probes, i);
        verdicts.push(d.worker.handle_frame(0, f, 2_001, false));
    }
    d.drain();
    for (i, v) in verdicts.iter().enumerate() {
        let want = match i % 4 {
            0..=2 => Verdict::Forward(0),
            _ => junk[i],
        };
        assert_eq!(*v, want, "frame {i} of the burst");
    }
    // A reply went back to its client, from the VIP.
    let (c, port) = client(1);
    let ip = Ipv4Packet::new_checked(&burst[1].0[14..]).unwrap();
    assert_eq!((ip.src(), ip.dst()), (VIP, c));
    assert_eq!(&burst[1].0[14 + 22..14 + 24], &port.to_be_bytes());

    // A burst of new flows, whose second stage asks for the free entries
    // the inserts will take: every SYN makes its connection, so each
    // client's next ACK finds it.
    let fresh = |i: usize| (Ipv4Addr::new(198, 18, 3, 0), 1024 + i as u16);
    let mut syns: Vec<VecFrame> = (0..32)
        .map(|i| {
            let (c, port) = fresh(i);
            tcp_frame(c, port, VIP, 80, flags::SYN)
        })
        .collect();
    let mut probes: Vec<Prefetched> = syns.iter().map(|f| d.worker.prefetch(f)).collect();
    for (i, f) in syns.iter_mut().enumerate() {
        d.worker.prefetch_ahead(&mut probes, i);
        let v = d.worker.handle_frame(0, f, 2_002, false);
        assert_eq!(v, Verdict::Forward(0), "new flow {i} of the burst");
    }
    d.drain();
    for i in 0..32 {
        let (c, port) = fresh(i);
        assert_eq!(
            d.tcp(c, port, vip, flags::ACK, 2),
            common::director::Sent::To(RS1),
            "new flow {i}'s ACK"
        );
    }
}
