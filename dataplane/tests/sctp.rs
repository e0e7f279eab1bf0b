//! SCTP services through the pipeline (issue 19 item 9, decision 41):
//! golden frames for DR, TUN and NAT over both families, IPVS's SCTP
//! states as the connection listing shows them, and the counted drops.
//!
//! Expected SCTP packets are built here from scratch with a bit-at-a-time
//! CRC32c written in this file (independent of `rvs_checksum`'s table),
//! itself pinned to the catalogue's check value and RFC 3720's vector, and
//! one NAT'd packet's CRC is a constant computed outside the project.

mod common;

use std::net::{IpAddr, Ipv6Addr};

use rvs_api::{DestConfig, ErrorKind, Forward, Protocol, Request, Response, ServiceConfig, Tunnel};
use rvs_dataplane::pipeline::{ConnPolicy, ConnRecord, VecFrame, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
use rvs_dataplane::wire::ipv4::protocol;
use rvs_dataplane::wire::sctp::chunk;

use common::director::{dest, Director};
use common::golden::*;
use common::*;

const SCTP: u8 = 132;
const VPORT: u16 = 5000;
const RPORT: u16 = 9000;
/// An INIT chunk's body: initiate tag, a_rwnd, streams, initial TSN.
const INIT_BODY: [u8; 16] = [0xde, 0xad, 0xbe, 0xef, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1];

/// CRC32c one bit at a time, from the polynomial's definition.
fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn the_tests_crc_is_crc32c() {
    assert_eq!(crc32c_bitwise(b"123456789"), 0xE306_9283);
    assert_eq!(
        crc32c_bitwise(&[0; 32]).to_le_bytes(),
        [0xaa, 0x36, 0x91, 0x8a]
    );
}

/// An SCTP packet of `chunks` (type, body), padded, its CRC32c stored
/// least significant byte first; `good: false` spoils the CRC.
fn sctp_with(sport: u16, dport: u16, vtag: u32, chunks: &[(u8, &[u8])], good: bool) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&vtag.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    for (ty, body) in chunks {
        p.extend_from_slice(&[*ty, 0]);
        p.extend_from_slice(&(4 + body.len() as u16).to_be_bytes());
        p.extend_from_slice(body);
        while p.len() % 4 != 0 {
            p.push(0);
        }
    }
    let crc = crc32c_bitwise(&p) ^ u32::from(!good);
    p[8..12].copy_from_slice(&crc.to_le_bytes());
    p
}

fn sctp(sport: u16, dport: u16, ty: u8, body: &[u8]) -> Vec<u8> {
    sctp_with(sport, dport, 7, &[(ty, body)], true)
}

fn init(sport: u16, dport: u16) -> Vec<u8> {
    sctp_with(sport, dport, 0, &[(chunk::INIT, &INIT_BODY)], true)
}

fn v4(src: std::net::Ipv4Addr, dst: std::net::Ipv4Addr, l4: &[u8]) -> Vec<u8> {
    ipv4(src, dst, SCTP, l4)
}

fn v6(src: Ipv6Addr, dst: Ipv6Addr, l4: &[u8]) -> Vec<u8> {
    ipv6(src, dst, SCTP, 64, l4)
}

fn eth4(dst: MacAddr, src: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(dst, src, ethertype::IPV4, ip)
}

fn eth6(dst: MacAddr, src: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(dst, src, ethertype::IPV6, ip)
}

fn sctp_svc() -> rvs_api::ServiceKey {
    svc(Protocol::Sctp, VPORT)
}

fn svc6() -> rvs_api::ServiceKey {
    rvs_api::ServiceKey::Inet {
        protocol: Protocol::Sctp,
        addr: (VIP6, VPORT).into(),
    }
}

fn director(dests: &[DestConfig]) -> Director {
    let mut d = Director::new(ConnPolicy::default());
    let key = match dests[0].addr.ip() {
        IpAddr::V4(_) => sctp_svc(),
        IpAddr::V6(_) => svc6(),
    };
    d.add_service(key, ServiceConfig::new("rr"));
    for x in dests {
        d.add_dest_with(key, x.clone());
    }
    d
}

fn dest6(addr: Ipv6Addr, port: u16, forward: Forward) -> DestConfig {
    DestConfig {
        addr: (addr, port).into(),
        forward,
        ..dest(RS1, port, 1)
    }
}

/// The entries of the worker's tables.
fn entries(d: &Director, now_ms: u64) -> Vec<ConnRecord> {
    let mut v = Vec::new();
    d.worker.dump(0, usize::MAX, now_ms, &mut |r| {
        v.push(r);
        true
    });
    v
}

/// The one entry's state name and seconds left.
fn state(d: &Director, now_ms: u64) -> (&'static str, u64) {
    let e = entries(d, now_ms);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].protocol, SCTP);
    (e[0].state.name(), e[0].expires_in_ms.div_ceil(1000))
}

fn send(d: &mut Director, frame: Vec<u8>, now_ms: u64) -> (Verdict, Vec<u8>) {
    let mut f = VecFrame(frame);
    let v = run(d, &mut f, now_ms);
    (v, f.0)
}

#[test]
fn dr_init_makes_an_entry_and_the_association_follows_it() {
    let mut d = director(&[dest(RS1, VPORT, 1), dest(RS2, VPORT, 1)]);
    let from_client = |ty: u8, body: &[u8]| {
        eth4(
            LB_MAC,
            CLI_MAC,
            &v4(CLI, VIP, &sctp(CPORT, VPORT, ty, body)),
        )
    };
    let first = eth4(LB_MAC, CLI_MAC, &v4(CLI, VIP, &init(CPORT, VPORT)));
    let (v, out) = send(&mut d, first.clone(), 1);
    assert_eq!(v, Verdict::Forward(0));
    let mac = MacAddr(out[0..6].try_into().unwrap());
    let rs = REAL_SERVERS
        .iter()
        .find(|r| r.1 == mac)
        .expect("a real server")
        .0;
    assert_eq!(out, dr_rewrite(&first, mac), "DR changes the MACs only");
    assert_eq!(state(&d, 1), ("INIT1", 4));
    assert_eq!(d.conns_of(sctp_svc(), rs), (0, 1, 0), "INIT1 is inactive");

    // DR sees the client only: its COOKIE ECHO establishes.
    let later = [
        (chunk::COOKIE_ECHO, "ESTABLISHED", 900),
        (chunk::DATA, "ESTABLISHED", 900),
        (chunk::SACK, "ESTABLISHED", 900),
        (chunk::SHUTDOWN, "S-RECEIVED", 61),
        (chunk::SHUTDOWN_COMPLETE, "CLOSED", 61),
    ];
    for (i, (ty, name, secs)) in later.into_iter().enumerate() {
        let f = from_client(ty, b"abcd");
        let (v, out) = send(&mut d, f.clone(), 10 + i as u64);
        assert_eq!(v, Verdict::Forward(0), "chunk {ty}");
        assert_eq!(out, dr_rewrite(&f, mac), "chunk {ty} follows the entry");
        assert_eq!(state(&d, 10 + i as u64), (name, secs), "after chunk {ty}");
        if ty == chunk::DATA {
            assert_eq!(
                d.conns_of(sctp_svc(), rs),
                (1, 0, 0),
                "ESTABLISHED is active"
            );
        }
    }
    assert_eq!(d.conns_of(sctp_svc(), rs), (0, 1, 0));

    // rr: the next association goes to the other real server.
    let second = eth4(LB_MAC, CLI_MAC, &v4(CLI, VIP, &init(CPORT + 1, VPORT)));
    let (v, out) = send(&mut d, second, 20);
    assert_eq!(v, Verdict::Forward(0));
    assert_ne!(out[0..6], mac.0, "the second association goes elsewhere");

    // Without an entry only an INIT starts one.
    let stray = eth4(
        LB_MAC,
        CLI_MAC,
        &v4(CLI, VIP, &sctp(CPORT + 2, VPORT, chunk::DATA, b"x")),
    );
    assert_eq!(
        send(&mut d, stray, 21).0,
        Verdict::Drop(Counter::DropSctpNoConn)
    );
    assert_eq!(d.counter(Counter::DropSctpNoConn), 1);
    assert_eq!(d.counter(Counter::ForwardDr), 7);
}

#[test]
fn a_new_init_on_a_closed_association_is_scheduled_again() {
    let mut d = director(&[dest(RS1, VPORT, 1)]);
    let pkt = |ty: u8| eth4(LB_MAC, CLI_MAC, &v4(CLI, VIP, &sctp(CPORT, VPORT, ty, b"")));
    assert_eq!(
        send(
            &mut d,
            eth4(LB_MAC, CLI_MAC, &v4(CLI, VIP, &init(CPORT, VPORT))),
            1
        )
        .0,
        Verdict::Forward(0)
    );
    send(&mut d, pkt(chunk::COOKIE_ECHO), 2);
    send(&mut d, pkt(chunk::ABORT), 3);
    assert_eq!(state(&d, 3), ("CLOSED", 61));
    // conn_reuse_mode 1 (the default): the CLOSED entry is replaced.
    send(
        &mut d,
        eth4(LB_MAC, CLI_MAC, &v4(CLI, VIP, &init(CPORT, VPORT))),
        4,
    );
    assert_eq!(state(&d, 4), ("INIT1", 4));
    assert_eq!(d.counter(Counter::ConnReused), 1);
    // An ABORT bundled after a COOKIE ECHO decides (IPVS reads it).
    let bundled = sctp_with(
        CPORT,
        VPORT,
        7,
        &[(chunk::COOKIE_ECHO, b"c"), (chunk::ABORT, b"")],
        true,
    );
    send(&mut d, eth4(LB_MAC, CLI_MAC, &v4(CLI, VIP, &bundled)), 5);
    assert_eq!(state(&d, 5), ("CLOSED", 61));
    // The entry goes when its timeout is up.
    d.sweep(5 + 62);
    assert!(entries(&d, 67_001).is_empty());
}

#[test]
fn tun_wraps_the_sctp_packet_in_ip_in_ip() {
    let mut d = director(&[DestConfig {
        forward: Forward::Tunnel,
        tunnel: Tunnel::default(),
        ..dest(RS1, VPORT, 1)
    }]);
    let inner = v4(CLI, VIP, &init(CPORT, VPORT));
    let outer = build::ipv4(build::ipv4_header(LB, RS1, protocol::IPIP), &inner);
    run_table(
        &mut d,
        vec![Step::new(
            "IP-in-IP to rs1, the SCTP packet untouched",
            1,
            eth4(LB_MAC, CLI_MAC, &inner),
            Verdict::Forward(0),
            eth4(RS1_MAC, LB_MAC, &outer),
        )],
        &[(Counter::ForwardTunnel, 1)],
    );
    assert_eq!(state(&d, 1), ("INIT1", 4));
}

#[test]
fn nat_maps_the_port_recomputes_the_crc_and_follows_both_sides() {
    let mut d = director(&[masq(RS1, RPORT)]);
    let at_rs = init(CPORT, RPORT);
    // A constant computed outside the project (a bit-at-a-time CRC32c in
    // Python over these bytes with the field zero).
    assert_eq!(
        u32::from_le_bytes(at_rs[8..12].try_into().unwrap()),
        0xA30F_4461
    );
    let to_vip = |ty: u8| v4(CLI, VIP, &sctp(CPORT, VPORT, ty, b"data"));
    let to_rs = |ty: u8| v4(CLI, RS1, &sctp(CPORT, RPORT, ty, b"data"));
    let from_rs = |ty: u8| v4(RS1, CLI, &sctp(RPORT, CPORT, ty, b"reply"));
    let from_vip = |ty: u8| v4(VIP, CLI, &sctp(VPORT, CPORT, ty, b"reply"));
    let fwd = |what, t, input: Vec<u8>, output: Vec<u8>| {
        Step::new(
            what,
            t,
            eth4(LB_MAC, CLI_MAC, &input),
            Verdict::Forward(0),
            eth4(RS1_MAC, LB_MAC, &output),
        )
    };
    let back = |what, t, input: Vec<u8>, output: Vec<u8>| {
        Step::new(
            what,
            t,
            eth4(LB_MAC, RS1_MAC, &input),
            Verdict::Forward(0),
            eth4(CLI_MAC, LB_MAC, &output),
        )
    };
    let handshake = [
        (true, chunk::INIT, "INIT1"),
        (false, chunk::INIT_ACK, "C-SENT"),
        (true, chunk::COOKIE_ECHO, "C-REPLIED"),
        (false, chunk::COOKIE_ACK, "ESTABLISHED"),
        (true, chunk::DATA, "ESTABLISHED"),
        (false, chunk::SACK, "ESTABLISHED"),
        (true, chunk::SHUTDOWN, "S-RECEIVED"),
        (false, chunk::SHUTDOWN_ACK, "S-ACK-SENT"),
        (true, chunk::SHUTDOWN_COMPLETE, "CLOSED"),
    ];
    for (i, (client, ty, name)) in handshake.into_iter().enumerate() {
        let t = 1 + i as u64;
        let step = match (client, ty) {
            (true, chunk::INIT) => fwd(
                "the INIT to rs1:9000",
                t,
                v4(CLI, VIP, &init(CPORT, VPORT)),
                v4(CLI, RS1, &at_rs),
            ),
            (true, _) => fwd("the client's chunk", t, to_vip(ty), to_rs(ty)),
            (false, _) => back(
                "the server's chunk, from VIP:5000",
                t,
                from_rs(ty),
                from_vip(ty),
            ),
        };
        run_table(&mut d, vec![step], &[]);
        assert_eq!(state(&d, t).0, name, "after chunk {ty}");
    }
    assert_eq!(d.counter(Counter::ForwardNat), 5);
    assert_eq!(d.counter(Counter::ForwardNatReply), 4);
}

#[test]
fn nat_keeps_a_bad_crc_bad() {
    let mut d = director(&[masq(RS1, RPORT)]);
    let bad = sctp_with(CPORT, VPORT, 0, &[(chunk::INIT, &INIT_BODY)], false);
    let (v, out) = send(&mut d, eth4(LB_MAC, CLI_MAC, &v4(CLI, VIP, &bad)), 1);
    assert_eq!(v, Verdict::Forward(0));
    let good = init(CPORT, RPORT);
    let sctp_out = &out[14 + 20..];
    assert_eq!(sctp_out[..8], good[..8], "the port was mapped");
    assert_eq!(
        u32::from_le_bytes(sctp_out[8..12].try_into().unwrap()),
        u32::from_le_bytes(good[8..12].try_into().unwrap()) ^ 1,
        "a corrupt packet is not made valid by the rewrite"
    );
}

#[test]
fn nat_translates_icmp_errors_about_sctp_both_ways() {
    let mut d = director(&[masq(RS1, RPORT)]);
    let first = v4(CLI, VIP, &init(CPORT, VPORT));
    let first_at_rs = v4(CLI, RS1, &init(CPORT, RPORT));
    let reply_as_sent = v4(VIP, CLI, &sctp(VPORT, CPORT, chunk::INIT_ACK, b""));
    let reply_at_rs = v4(RS1, CLI, &sctp(RPORT, CPORT, chunk::INIT_ACK, b""));
    let mtu = [0, 0, 0x05, 0x00];
    run_table(
        &mut d,
        vec![
            Step::verdict(
                "the association",
                1,
                eth4(LB_MAC, CLI_MAC, &first),
                Verdict::Forward(0),
            ),
            Step::new(
                "the client's error to rs1, about rs1:9000's packet",
                2,
                eth4(
                    LB_MAC,
                    CLI_MAC,
                    &icmp_error(CLI, VIP, 3, 4, mtu, &reply_as_sent),
                ),
                Verdict::Forward(0),
                eth4(
                    RS1_MAC,
                    LB_MAC,
                    &icmp_error(CLI, RS1, 3, 4, mtu, &reply_at_rs),
                ),
            ),
            Step::new(
                "rs1's error to the client, about its packet to VIP:5000",
                3,
                eth4(
                    LB_MAC,
                    RS1_MAC,
                    &icmp_error(RS1, CLI, 3, 3, [0; 4], &first_at_rs),
                ),
                Verdict::Forward(0),
                eth4(CLI_MAC, LB_MAC, &icmp_error(VIP, CLI, 3, 3, [0; 4], &first)),
            ),
        ],
        &[(Counter::IcmpErrorForwarded, 2)],
    );
}

#[test]
fn dr6_and_nat6() {
    let first = v6(CLI6, VIP6, &init(CPORT, VPORT));
    let mut d = director(&[dest6(RS1_6, VPORT, Forward::Route)]);
    run_table(
        &mut d,
        vec![Step::new(
            "DR over IPv6: the MACs only",
            1,
            eth6(LB_MAC, CLI_MAC, &first),
            Verdict::Forward(0),
            eth6(RS1_MAC, LB_MAC, &first),
        )],
        &[(Counter::ForwardDr, 1)],
    );
    assert_eq!(state(&d, 1), ("INIT1", 4));

    let mut d = director(&[dest6(RS1_6, RPORT, Forward::Masq)]);
    run_table(
        &mut d,
        vec![
            Step::new(
                "NAT over IPv6: VIP:5000 -> rs1:9000, CRC recomputed",
                1,
                eth6(LB_MAC, CLI_MAC, &first),
                Verdict::Forward(0),
                eth6(RS1_MAC, LB_MAC, &v6(CLI6, RS1_6, &init(CPORT, RPORT))),
            ),
            Step::new(
                "the INIT ACK back from VIP:5000",
                2,
                eth6(
                    LB_MAC,
                    RS1_MAC,
                    &v6(RS1_6, CLI6, &sctp(RPORT, CPORT, chunk::INIT_ACK, b"ck")),
                ),
                Verdict::Forward(0),
                eth6(
                    CLI_MAC,
                    LB_MAC,
                    &v6(VIP6, CLI6, &sctp(VPORT, CPORT, chunk::INIT_ACK, b"ck")),
                ),
            ),
        ],
        &[(Counter::ForwardNat, 1), (Counter::ForwardNatReply, 1)],
    );
    assert_eq!(state(&d, 2), ("C-SENT", 61));
}

#[test]
fn fullnat_and_one_packet_are_refused_for_sctp() {
    let mut d = director(&[dest(RS1, VPORT, 1)]);
    let r = d.admin(Request::AddDest {
        service: sctp_svc(),
        dest: DestConfig {
            forward: Forward::FullNat,
            ..dest(RS2, VPORT, 1)
        },
    });
    match r {
        Response::Error(e) => {
            assert_eq!(e.kind, ErrorKind::NotSupported);
            assert!(e.message.contains("SCTP"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    let r = d.admin(Request::EditService {
        key: sctp_svc(),
        config: ServiceConfig {
            one_packet: true,
            ..ServiceConfig::new("rr")
        },
    });
    assert!(matches!(r, Response::Error(_)), "{r:?}");
}

#[test]
fn malformed_sctp_is_a_counted_drop() {
    let mut d = director(&[dest(RS1, VPORT, 1)]);
    let short = v4(CLI, VIP, &init(CPORT, VPORT)[..14]);
    assert_eq!(
        send(&mut d, eth4(LB_MAC, CLI_MAC, &short), 1).0,
        Verdict::Drop(Counter::DropSctpTruncated)
    );
    let mut long_chunk = init(CPORT, VPORT);
    long_chunk[14..16].copy_from_slice(&200u16.to_be_bytes());
    let f = eth4(LB_MAC, CLI_MAC, &v4(CLI, VIP, &long_chunk));
    assert_eq!(
        send(&mut d, f, 2).0,
        Verdict::Drop(Counter::DropSctpBadChunkLength)
    );
    assert!(entries(&d, 2).is_empty());
}
