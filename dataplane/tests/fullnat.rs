//! Golden packet tests of FullNAT: both ends rewritten, the client carried
//! in TOA or a PROXY protocol v2 header, local addresses and their ports on
//! several cores, ICMP errors both ways; those that are frames in and out
//! as fixture tables. Every expected frame is built from scratch
//! (`common::golden`), its checksums checked independently.

mod common;

use std::net::Ipv4Addr;

use rvs_api::{DestConfig, Forward, Protocol, Request, Response, ServiceConfig};
use rvs_dataplane::pipeline::{ConnPolicy, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ipv4::{protocol, Ipv4Packet};
use rvs_dataplane::wire::tcp::{flags, TcpRepr};

use common::director::{dest, Director};
use common::golden::*;
use common::*;

const LADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 201);
const LADDR2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 202);

/// A TCP segment with `options` (padded to 4 bytes by the caller),
/// checksums computed.
fn tcp_opts(src: Ipv4Addr, dst: Ipv4Addr, ports: (u16, u16), fl: u8, options: &[u8]) -> Vec<u8> {
    tcp_with(src, dst, &tcp_repr(ports.0, ports.1, fl, options, b""))
}

fn toa(port: u16, addr: Ipv4Addr) -> Vec<u8> {
    let mut o = vec![254, 8];
    o.extend_from_slice(&port.to_be_bytes());
    o.extend_from_slice(&addr.octets());
    o
}

fn fullnat_director(conns_max: usize, laddrs: &[Ipv4Addr]) -> Director {
    let mut d = Director::sized(ConnPolicy::default(), conns_max);
    fullnat_service(&mut d, 80, ServiceConfig::new("rr"), 8080, laddrs);
    d
}

/// TCP VIP:`port` by FullNAT to rs1:`rs_port`, with the local addresses
/// `laddrs`.
fn fullnat_service(
    d: &mut Director,
    port: u16,
    config: ServiceConfig,
    rs_port: u16,
    laddrs: &[Ipv4Addr],
) {
    d.add_service(svc(Protocol::Tcp, port), config);
    d.add_dest_with(
        svc(Protocol::Tcp, port),
        DestConfig {
            forward: Forward::FullNat,
            ..dest(RS1, rs_port, 1)
        },
    );
    for &a in laddrs {
        d.ok(Request::AddLaddr {
            service: svc(Protocol::Tcp, port),
            addr: a.into(),
        });
    }
}

fn laddrs(d: &mut Director) -> Vec<(Ipv4Addr, u64, u64)> {
    match d.admin(Request::ListLaddrs { service: None }) {
        Response::Laddrs(l) => l
            .iter()
            .map(|l| match l.addr {
                std::net::IpAddr::V4(a) => (a, l.conns, l.exhausted),
                other => panic!("{other}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fullnat_rewrites_both_ends_and_carries_the_client_in_toa() {
    let mut d = fullnat_director(64, &[LADDR, LADDR2]);
    let mss = [2, 4, 0x05, 0xb4]; // 1460
    let syn = tcp_opts(CLI, VIP, (CPORT, 80), flags::SYN, &mss);
    // The first local address, its first port; the MSS lowered by 8 and the
    // TOA option after it.
    let lport = 1024;
    // TOA first, right after the base header, as DPVS puts it.
    let mut opts = toa(CPORT, CLI);
    opts.extend([2, 4, 0x05, 0xac]); // 1452
    let want = tcp_opts(LADDR, RS1, (lport, 8080), flags::SYN, &opts);
    run_table(
        &mut d,
        vec![Step::new(
            "the SYN from the local address, with TOA",
            1,
            in4(CLI_MAC, &syn),
            Verdict::Forward(0),
            out4(RS1_MAC, &want),
        )],
        &[(Counter::ToaInserted, 1)],
    );

    let syn_ack = flags::SYN | flags::ACK;
    let push = flags::ACK | flags::PSH;
    run_table(
        &mut d,
        vec![
            // The real server answers the local address: the client gets it
            // from the VIP.
            Step::new(
                "the reply, from the VIP",
                2,
                in4(RS1_MAC, &tcp(RS1, LADDR, 8080, lport, syn_ack, b"")),
                Verdict::Forward(0),
                out4(CLI_MAC, &tcp(VIP, CLI, 80, CPORT, syn_ack, b"")),
            ),
            // The handshake's ACK carries TOA too (what a real server's TOA
            // module reads); later segments do not.
            Step::new(
                "the handshake's ACK, with TOA",
                3,
                in4(CLI_MAC, &tcp(CLI, VIP, CPORT, 80, flags::ACK, b"")),
                Verdict::Forward(0),
                out4(
                    RS1_MAC,
                    &tcp_opts(LADDR, RS1, (lport, 8080), flags::ACK, &toa(CPORT, CLI)),
                ),
            ),
            Step::new(
                "data, without",
                4,
                in4(CLI_MAC, &tcp(CLI, VIP, CPORT, 80, push, b"GET /")),
                Verdict::Forward(0),
                out4(RS1_MAC, &tcp(LADDR, RS1, lport, 8080, push, b"GET /")),
            ),
        ],
        &[(Counter::ToaInserted, 2), (Counter::ForwardFullNatReply, 1)],
    );
    assert_eq!(d.conns_of(svc(Protocol::Tcp, 80), RS1), (1, 0, 0));
    assert_eq!(laddrs(&mut d), vec![(LADDR, 1, 0), (LADDR2, 0, 0)]);

    // The next client takes the next local address.
    let mut g = frame(
        LB_MAC,
        CLI_MAC,
        &tcp(CLI, VIP, CPORT + 1, 80, flags::SYN, b""),
    );
    assert_eq!(run(&mut d, &mut g, 5), Verdict::Forward(0));
    let ip = Ipv4Packet::new_checked(&g.0[14..]).unwrap();
    assert_eq!(ip.src(), LADDR2);

    // The director answers ARP for its local addresses (the real servers
    // send their replies there).
    let mut arp = arp_request(LADDR);
    assert_eq!(run(&mut d, &mut arp, 6), Verdict::Reply);
}

#[test]
fn fullnat_icmp_errors_are_translated_both_ways() {
    let syn = tcp(CLI, VIP, CPORT, 80, flags::SYN, b"");
    let at_rs = tcp(LADDR, RS1, 1024, 8080, flags::SYN, b"");
    let reply = tcp(VIP, CLI, 80, CPORT, flags::ACK, b"");
    let reply_at_rs = tcp(RS1, LADDR, 8080, 1024, flags::ACK, b"");
    let mtu = [0, 0, 5, 0];
    run_table(
        &mut fullnat_director(64, &[LADDR]),
        vec![
            Step::verdict("the connection", 1, in4(CLI_MAC, &syn), Verdict::Forward(0)),
            // rs1 cannot take the packet from the local address: the client
            // hears about its own packet to the VIP.
            Step::new(
                "rs1's error to the client",
                2,
                in4(RS1_MAC, &icmp_error(RS1, LADDR, 3, 3, [0; 4], &at_rs)),
                Verdict::Forward(0),
                out4(CLI_MAC, &icmp_error(VIP, CLI, 3, 3, [0; 4], &syn)),
            ),
            // The client cannot take our reply: rs1 hears about its packet
            // to the local address.
            Step::new(
                "the client's error to rs1",
                3,
                in4(CLI_MAC, &icmp_error(CLI, VIP, 3, 4, mtu, &reply)),
                Verdict::Forward(0),
                out4(RS1_MAC, &icmp_error(LADDR, RS1, 3, 4, mtu, &reply_at_rs)),
            ),
        ],
        &[(Counter::IcmpErrorForwarded, 2)],
    );
}

#[test]
fn fullnat_port_exhaustion_is_counted_and_ports_come_back() {
    let ports = usize::from(u16::MAX - 1024) + 1;
    let mut d = fullnat_director(ports + 16, &[LADDR]);
    for cport in 1..=ports as u16 {
        let mut f = frame(LB_MAC, CLI_MAC, &tcp(CLI, VIP, cport, 80, flags::SYN, b""));
        assert_eq!(
            run(&mut d, &mut f, 1),
            Verdict::Forward(0),
            "client port {cport}"
        );
    }
    let mut f = frame(LB_MAC, CLI_MAC, &tcp(CLI2(), VIP, 1, 80, flags::SYN, b""));
    assert_eq!(
        run(&mut d, &mut f, 2),
        Verdict::Drop(Counter::DropLaddrExhausted)
    );
    assert_eq!(laddrs(&mut d), vec![(LADDR, ports as u64, 1)]);
    // SYN_RECV lasts 60 s; then every port is free again.
    d.sweep(62);
    assert_eq!(laddrs(&mut d), vec![(LADDR, 0, 1)]);
    let mut f = frame(LB_MAC, CLI_MAC, &tcp(CLI2(), VIP, 1, 80, flags::SYN, b""));
    assert_eq!(run(&mut d, &mut f, 62_001), Verdict::Forward(0));
}

#[allow(non_snake_case)]
fn CLI2() -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, 3)
}

#[test]
fn local_addresses_are_checked() {
    let mut d = fullnat_director(64, &[LADDR]);
    for (addr, why) in [
        (LADDR, "a duplicate"),
        (VIP, "a VIP"),
        (LB, "the director's own address"),
    ] {
        let r = d.admin(Request::AddLaddr {
            service: svc(Protocol::Tcp, 80),
            addr: addr.into(),
        });
        assert!(matches!(r, Response::Error(_)), "{why}: {r:?}");
    }
    let r = d.admin(Request::AddLaddr {
        service: svc(Protocol::Udp, 9),
        addr: LADDR2.into(),
    });
    assert!(matches!(r, Response::Error(_)), "no such service: {r:?}");
    d.ok(Request::DelLaddr {
        service: svc(Protocol::Tcp, 80),
        addr: LADDR.into(),
    });
    assert_eq!(laddrs(&mut d), vec![]);
    // A FullNAT service without local addresses: a counted drop.
    let mut f = frame(LB_MAC, CLI_MAC, &tcp(CLI, VIP, CPORT, 80, flags::SYN, b""));
    assert_eq!(
        run(&mut d, &mut f, 1),
        Verdict::Drop(Counter::DropLaddrExhausted)
    );
}

#[test]
fn on_two_cores_each_hands_out_its_own_local_ports_and_replies_find_their_owner() {
    for id in 0..2u16 {
        let mut d = Director::core_of(ConnPolicy::default(), 64, id, 2);
        fullnat_service(&mut d, 80, ServiceConfig::new("rr"), 8080, &[LADDR]);
        let (mut mine, mut theirs) = (0, 0);
        for cport in 1000..1040 {
            let mut f = frame(LB_MAC, CLI_MAC, &tcp(CLI, VIP, cport, 80, flags::SYN, b""));
            match run(&mut d, &mut f, 1) {
                Verdict::Forward(0) => {
                    mine += 1;
                    let lport = u16::from_be_bytes([f.0[34], f.0[35]]);
                    assert_eq!(lport % 2, id, "core {id} gave port {lport}");
                    // Its reply is this core's; a reply to the other
                    // core's port goes there.
                    let mut r = frame(
                        LB_MAC,
                        RS1_MAC,
                        &tcp(RS1, LADDR, 8080, lport, flags::SYN | flags::ACK, b""),
                    );
                    assert_eq!(run(&mut d, &mut r, 2), Verdict::Forward(0));
                    let mut other = frame(
                        LB_MAC,
                        RS1_MAC,
                        &tcp(RS1, LADDR, 8080, lport + 1, flags::ACK, b""),
                    );
                    assert_eq!(run(&mut d, &mut other, 2), Verdict::Handoff(1 - id));
                }
                Verdict::Handoff(w) => {
                    assert_eq!(w, 1 - id);
                    theirs += 1;
                }
                v => panic!("{v:?}"),
            }
        }
        assert!(
            mine > 0 && theirs > 0,
            "core {id}: {mine} mine, {theirs} theirs"
        );
    }
}

/// A TCP segment with sequence and acknowledgement numbers, checksums
/// computed.
#[allow(clippy::too_many_arguments)]
fn tcp_seq(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ports: (u16, u16),
    fl: u8,
    seq: u32,
    ack: u32,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let t = tcp_msg(
        src,
        dst,
        &TcpRepr {
            seq,
            ack,
            ..tcp_repr(ports.0, ports.1, fl, options, payload)
        },
    );
    ipv4(src, dst, protocol::TCP, &t)
}

#[test]
fn fullnat_with_proxy_protocol_v2_puts_the_header_in_the_stream() {
    let mut d = Director::new(ConnPolicy::default());
    fullnat_service(
        &mut d,
        80,
        ServiceConfig {
            proxy_protocol: true,
            ..ServiceConfig::new("rr")
        },
        8080,
        &[LADDR],
    );
    let (c2r, r2c) = ((CPORT, 80), (8080, 1024));
    let to_rs = (1024, 8080);
    let to_cli = (80, CPORT);
    let mss = [2, 4, 0x05, 0xb4];
    let send = |d: &mut Director, from_rs: bool, p: Vec<u8>| {
        let (dst, src) = if from_rs {
            (LB_MAC, RS1_MAC)
        } else {
            (LB_MAC, CLI_MAC)
        };
        let mut f = frame(dst, src, &p);
        assert_eq!(run(d, &mut f, 1), Verdict::Forward(0));
        f.0[14..].to_vec()
    };
    // The SYN: no TOA, the MSS as it was.
    let out = send(
        &mut d,
        false,
        tcp_seq(CLI, VIP, c2r, flags::SYN, 1000, 0, &mss, b""),
    );
    assert_eq!(
        out,
        tcp_seq(LADDR, RS1, to_rs, flags::SYN, 1000, 0, &mss, b"")
    );
    // The SYN-ACK: the MSS lowered by the header's 28 bytes; its ack (the
    // client's ISN + 1) as it is.
    let syn_ack = flags::SYN | flags::ACK;
    let out = send(
        &mut d,
        true,
        tcp_seq(RS1, LADDR, r2c, syn_ack, 5000, 1001, &mss, b""),
    );
    let lowered = [2, 4, 0x05, 0x98];
    assert_eq!(
        out,
        tcp_seq(VIP, CLI, to_cli, syn_ack, 5000, 1001, &lowered, b"")
    );
    // The handshake's ACK: unchanged.
    let out = send(
        &mut d,
        false,
        tcp_seq(CLI, VIP, c2r, flags::ACK, 1001, 5001, &[], b""),
    );
    assert_eq!(
        out,
        tcp_seq(LADDR, RS1, to_rs, flags::ACK, 1001, 5001, &[], b"")
    );
    // The first data: the header, then the client's bytes.
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend_from_slice(&CLI.octets());
    header.extend_from_slice(&VIP.octets());
    header.extend_from_slice(&CPORT.to_be_bytes());
    header.extend_from_slice(&80u16.to_be_bytes());
    let mut stream = header.clone();
    stream.extend_from_slice(b"GET /");
    let psh = flags::ACK | flags::PSH;
    let first = tcp_seq(CLI, VIP, c2r, psh, 1001, 5001, &[], b"GET /");
    let out = send(&mut d, false, first.clone());
    assert_eq!(
        out,
        tcp_seq(LADDR, RS1, to_rs, psh, 1001, 5001, &[], &stream)
    );
    // Its retransmission gets the header again.
    let out = send(&mut d, false, first);
    assert_eq!(
        out,
        tcp_seq(LADDR, RS1, to_rs, psh, 1001, 5001, &[], &stream)
    );
    // Later data moves along by 28.
    let out = send(
        &mut d,
        false,
        tcp_seq(CLI, VIP, c2r, psh, 1006, 5001, &[], b"x"),
    );
    assert_eq!(out, tcp_seq(LADDR, RS1, to_rs, psh, 1034, 5001, &[], b"x"));
    // The real server's acks come back by 28; one of the header alone is
    // the client's ISN + 1.
    let out = send(
        &mut d,
        true,
        tcp_seq(RS1, LADDR, r2c, flags::ACK, 5001, 1035, &[], b""),
    );
    assert_eq!(
        out,
        tcp_seq(VIP, CLI, to_cli, flags::ACK, 5001, 1007, &[], b"")
    );
    let out = send(
        &mut d,
        true,
        tcp_seq(RS1, LADDR, r2c, flags::ACK, 5001, 1029, &[], b""),
    );
    assert_eq!(
        out,
        tcp_seq(VIP, CLI, to_cli, flags::ACK, 5001, 1001, &[], b"")
    );
    assert_eq!(d.counter(Counter::ProxyHeaderInserted), 2);
    assert_eq!(d.counter(Counter::ToaInserted), 0);
}

#[test]
fn an_edited_method_leaves_existing_connections_as_they_were() {
    let mut d = nat_director();
    let syn = tcp(CLI, VIP, CPORT, 80, flags::SYN, b"");
    assert_eq!(
        run(&mut d, &mut frame(LB_MAC, CLI_MAC, &syn), 1),
        Verdict::Forward(0)
    );
    // The dest becomes FullNAT: its NAT connection stays NAT.
    d.ok(Request::EditDest {
        service: svc(Protocol::Tcp, 80),
        dest: DestConfig {
            forward: Forward::FullNat,
            ..dest(RS1, 8080, 1)
        },
    });
    let mut ack = frame(LB_MAC, CLI_MAC, &tcp(CLI, VIP, CPORT, 80, flags::ACK, b""));
    assert_eq!(run(&mut d, &mut ack, 2), Verdict::Forward(0));
    assert_eq!(
        ack.0,
        out4(RS1_MAC, &tcp(CLI, RS1, CPORT, 8080, flags::ACK, b""))
    );
    assert_eq!(d.counter(Counter::ForwardFullNat), 0);
}

#[test]
fn fullnat_sees_both_directions_a_client_fin_is_close_wait() {
    let mut d = fullnat_director(64, &[LADDR]);
    for (fl, at) in [
        (flags::SYN, 1),
        (flags::ACK, 2),
        (flags::FIN | flags::ACK, 3),
    ] {
        let mut f = frame(LB_MAC, CLI_MAC, &tcp(CLI, VIP, CPORT, 80, fl, b""));
        assert_eq!(run(&mut d, &mut f, at), Verdict::Forward(0));
    }
    // CLOSE_WAIT lasts 60 s (DR's FIN_WAIT would last 120 s).
    assert_eq!(d.conns_of(svc(Protocol::Tcp, 80), RS1), (0, 1, 0));
    d.sweep(62);
    assert_eq!(d.conns_of(svc(Protocol::Tcp, 80), RS1), (0, 0, 0));
}

#[test]
fn a_persistent_fullnat_client_refused_for_want_of_ports_leaves_no_immortal_template() {
    let ports = usize::from(u16::MAX - 1024) + 1;
    let mut d = fullnat_director(ports + 64, &[LADDR]);
    // A persistent service on the same local address.
    fullnat_service(
        &mut d,
        81,
        ServiceConfig {
            persistent_timeout_s: Some(10),
            ..ServiceConfig::new("rr")
        },
        81,
        &[LADDR],
    );
    for cport in 1..=ports as u16 {
        let mut f = frame(LB_MAC, CLI_MAC, &tcp(CLI, VIP, cport, 80, flags::SYN, b""));
        assert_eq!(run(&mut d, &mut f, 1), Verdict::Forward(0));
    }
    let mut f = frame(LB_MAC, CLI_MAC, &tcp(CLI2(), VIP, 1, 81, flags::SYN, b""));
    assert_eq!(
        run(&mut d, &mut f, 1),
        Verdict::Drop(Counter::DropLaddrExhausted)
    );
    assert_eq!(d.counter(Counter::TemplateCreated), 1);
    // The template controls nothing: it dies at its timeout (10 s), while
    // the other service's connections (60 s) are still there.
    d.sweep(12);
    assert_eq!(d.counter(Counter::TemplateExpired), 1);
}

#[test]
fn a_connection_dump_resumes_where_its_queue_was_full() {
    let mut d = nat_director();
    for cport in 1..=10u16 {
        let mut f = frame(LB_MAC, CLI_MAC, &tcp(CLI, VIP, cport, 80, flags::SYN, b""));
        assert_eq!(run(&mut d, &mut f, 1), Verdict::Forward(0));
    }
    // Take 3 at a time, as a full answer queue would make it.
    let mut seen = vec![];
    let mut cursor = Some(0);
    while let Some(at) = cursor {
        let mut room = 3;
        cursor = d.worker.dump(at, usize::MAX, 1000, &mut |r| {
            if room == 0 {
                return false;
            }
            room -= 1;
            seen.push(r);
            true
        });
    }
    seen.sort_by_key(|r| r.cport);
    assert_eq!(seen.len(), 10);
    assert_eq!(
        seen.iter().map(|r| r.cport).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    let r = seen[0];
    assert_eq!(
        (r.caddr, r.vaddr, r.vport, r.daddr, r.dport),
        (CLI.into(), VIP.into(), 80, RS1.into(), 8080)
    );
    assert_eq!(r.state.name(), "SYN_RECV");
    assert_eq!(
        r.expires_in_ms,
        60_000 + 1 - 1000,
        "60 s from the SYN at 1 ms"
    );
    // Expired entries are not listed.
    let mut n = 0;
    d.worker.dump(0, usize::MAX, 70_000, &mut |_| {
        n += 1;
        true
    });
    assert_eq!(n, 0);
}

/// The one difference the families keep in ICMP (`pipeline/icmp.rs`):
/// IPv4's echo to a local address is the kernel's (the dataplane answers
/// only ARP for it), while IPv6 answers echo for every address Neighbour
/// Discovery answers for (`modes6.rs`).
#[test]
fn a_ping_to_a_local_address_is_the_kernels() {
    let echo = build::icmp(&rvs_dataplane::wire::icmp::IcmpRepr {
        kind: 8,
        code: 0,
        rest: [0, 7, 0, 1],
        payload: b"ping",
    });
    run_table(
        &mut fullnat_director(64, &[LADDR]),
        vec![Step::verdict(
            "echo to a local address",
            1,
            in4(RS1_MAC, &ipv4(RS1, LADDR, protocol::ICMP, &echo)),
            Verdict::Exception,
        )],
        &[(Counter::IcmpEchoReplied, 0), (Counter::ToException, 1)],
    );
}
