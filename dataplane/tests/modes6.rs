//! Golden packet tests over IPv6: Neighbour Discovery for VIPs, echo, and
//! DR, NAT, IPv6-in-IPv6 / GUE tunnels and FullNAT (with the IPv6 TOA
//! option), ICMPv6 errors included, as fixture tables where a test is
//! frames in and out (`common::golden`). Every expected frame is built from
//! scratch, its checksums checked independently.

mod common;

use std::net::Ipv6Addr;

use rvs_api::{
    DestConfig, Forward, Protocol, Request, Response, ServiceConfig, ServiceKey, Tunnel, TunnelKind,
};
use rvs_dataplane::pipeline::{ConnPolicy, VecFrame, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
use rvs_dataplane::wire::icmpv6::{self, Icmpv6Repr};
use rvs_dataplane::wire::ipv4::protocol;
use rvs_dataplane::wire::ndp;
use rvs_dataplane::wire::tcp::flags;

use common::director::Director;
use common::golden::{run_table, Step};
use common::*;

const CPORT: u16 = 40000;
const LADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x201);

fn svc6(p: Protocol, port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: p,
        addr: (VIP6, port).into(),
    }
}

fn dest6(addr: Ipv6Addr, port: u16, forward: Forward) -> DestConfig {
    DestConfig {
        addr: (addr, port).into(),
        forward,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: Tunnel::default(),
    }
}

/// An ICMPv6 message of `kind`/`code` with `rest` and `body`.
fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, kind: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let m = build::icmpv6(
        &Icmpv6Repr {
            kind,
            code,
            rest,
            payload: body,
        },
        src,
        dst,
    );
    ipv6(src, dst, protocol::ICMPV6, 64, &m)
}

fn frame(dst: MacAddr, src: MacAddr, ip: &[u8]) -> VecFrame {
    VecFrame(eth(dst, src, ethertype::IPV6, ip))
}

fn run(d: &mut Director, f: &mut VecFrame, now_ms: u64) -> Verdict {
    let v = d.worker.handle_frame(0, f, now_ms, false);
    d.drain();
    v
}

fn director(forward: Forward, port: u16) -> Director {
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(svc6(Protocol::Tcp, 80), ServiceConfig::new("rr"));
    d.add_dest_with(svc6(Protocol::Tcp, 80), dest6(RS1_6, port, forward));
    d
}

#[test]
fn neighbour_solicitations_for_a_vip_are_answered() {
    let mut buf = [0u8; ndp::FRAME_LEN];
    let len = ndp::emit_neighbor_solicit(&mut buf, CLI_MAC, CLI6, VIP6);
    let for_vip = buf[..len].to_vec();
    let mut want = [0u8; ndp::FRAME_LEN];
    let n = ndp::emit_neighbor_advert(&mut want, LB_MAC, CLI_MAC, VIP6, CLI6, VIP6, true);
    let len = ndp::emit_neighbor_solicit(&mut buf, CLI_MAC, CLI6, LB6);
    let for_lb = buf[..len].to_vec();
    run_table(
        &mut director(Forward::Route, 80),
        vec![
            Step::new(
                "an NS for the VIP: the NA built over it",
                1,
                for_vip,
                Verdict::Reply,
                want[..n].to_vec(),
            ),
            // An NS for another address (the director's own, the kernel's)
            // goes to the kernel.
            Step::verdict(
                "an NS for the director's own address",
                1,
                for_lb,
                Verdict::Exception,
            ),
        ],
        &[(Counter::ArpReplied, 1)],
    );
}

#[test]
fn a_vip_answers_ping6() {
    let echo = |src, dst, kind| icmp6(src, dst, kind, 0, [0, 7, 0, 1], b"hello");
    run_table(
        &mut director(Forward::Route, 80),
        vec![Step::new(
            "the echo reply, from the VIP",
            1,
            in6(CLI_MAC, &echo(CLI6, VIP6, icmpv6::kind::ECHO_REQUEST)),
            Verdict::Reply,
            out6(CLI_MAC, &echo(VIP6, CLI6, icmpv6::kind::ECHO_REPLY)),
        )],
        &[(Counter::IcmpEchoReplied, 1)],
    );
}

#[test]
fn dr6_changes_the_macs_only() {
    let mut d = director(Forward::Route, 80);
    let syn = tcp6(CLI6, VIP6, CPORT, 80, flags::SYN, &[], b"");
    run_table(
        &mut d,
        vec![Step::new(
            "new MACs, nothing else",
            1,
            in6(CLI_MAC, &syn),
            Verdict::Forward(0),
            out6(RS1_MAC, &syn),
        )],
        &[(Counter::ForwardDr, 1)],
    );
    let list = d.list();
    assert_eq!(list[0].dests[0].active_conns, 1);
}

#[test]
fn nat6_maps_the_port_and_translates_replies_and_errors() {
    let syn_ack = flags::SYN | flags::ACK;
    let unreach =
        |src, dst, about: &[u8]| icmp6(src, dst, icmpv6::kind::DEST_UNREACHABLE, 4, [0; 4], about);
    let too_big = |src, dst, about: &[u8]| {
        icmp6(
            src,
            dst,
            icmpv6::kind::PACKET_TOO_BIG,
            0,
            [0, 0, 5, 0],
            about,
        )
    };
    let at_rs = tcp6(CLI6, RS1_6, CPORT, 8080, flags::ACK, &[], b"");
    let as_sent = tcp6(CLI6, VIP6, CPORT, 80, flags::ACK, &[], b"");
    let reply = tcp6(VIP6, CLI6, 80, CPORT, flags::ACK, &[], b"");
    let reply_at_rs = tcp6(RS1_6, CLI6, 8080, CPORT, flags::ACK, &[], b"");
    run_table(
        &mut director(Forward::Masq, 8080),
        vec![
            Step::new(
                "VIP:80 -> rs1:8080",
                1,
                in6(CLI_MAC, &tcp6(CLI6, VIP6, CPORT, 80, flags::SYN, &[], b"x")),
                Verdict::Forward(0),
                out6(
                    RS1_MAC,
                    &tcp6(CLI6, RS1_6, CPORT, 8080, flags::SYN, &[], b"x"),
                ),
            ),
            Step::new(
                "the reply from VIP:80",
                2,
                in6(RS1_MAC, &tcp6(RS1_6, CLI6, 8080, CPORT, syn_ack, &[], b"")),
                Verdict::Forward(0),
                out6(CLI_MAC, &tcp6(VIP6, CLI6, 80, CPORT, syn_ack, &[], b"")),
            ),
            // rs1 reports the client's packet unreachable: the client hears
            // it from the VIP about its packet to VIP:80.
            Step::new(
                "rs1's error to the client",
                3,
                in6(RS1_MAC, &unreach(RS1_6, CLI6, &at_rs)),
                Verdict::Forward(0),
                out6(CLI_MAC, &unreach(VIP6, CLI6, &as_sent)),
            ),
            // The client says our reply was too big: rs1 hears it about its
            // own.
            Step::new(
                "the client's error to rs1",
                4,
                in6(CLI_MAC, &too_big(CLI6, VIP6, &reply)),
                Verdict::Forward(0),
                out6(RS1_MAC, &too_big(CLI6, RS1_6, &reply_at_rs)),
            ),
        ],
        &[
            (Counter::ForwardNatReply, 1),
            (Counter::IcmpErrorForwarded, 2),
        ],
    );
}

#[test]
fn nat6_udp() {
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(svc6(Protocol::Udp, 53), ServiceConfig::new("rr"));
    d.add_dest_with(svc6(Protocol::Udp, 53), dest6(RS1_6, 5353, Forward::Masq));
    run_table(
        &mut d,
        vec![
            Step::new(
                "the query to rs1:5353",
                1,
                in6(CLI_MAC, &udp6(CLI6, VIP6, CPORT, 53, b"q")),
                Verdict::Forward(0),
                out6(RS1_MAC, &udp6(CLI6, RS1_6, CPORT, 5353, b"q")),
            ),
            Step::new(
                "the answer from VIP:53",
                2,
                in6(RS1_MAC, &udp6(RS1_6, CLI6, 5353, CPORT, b"a")),
                Verdict::Forward(0),
                out6(CLI_MAC, &udp6(VIP6, CLI6, 53, CPORT, b"a")),
            ),
        ],
        &[],
    );
}

#[test]
fn ipv6_in_ipv6_and_gue6_tunnels() {
    let mut d = director(Forward::Tunnel, 80);
    let inner = tcp6(CLI6, VIP6, CPORT, 80, flags::SYN, &[], b"hi");
    let mut f = frame(LB_MAC, CLI_MAC, &inner);
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Forward(0));
    let b = &f.0;
    assert_eq!(&b[0..6], &RS1_MAC.0);
    assert_eq!(u16::from_be_bytes([b[12], b[13]]), ethertype::IPV6);
    let outer = &b[14..];
    assert_eq!(outer[0] >> 4, 6);
    assert_eq!(
        usize::from(u16::from_be_bytes([outer[4], outer[5]])),
        inner.len()
    );
    assert_eq!(outer[6], 41, "IPv6 in IPv6");
    assert_eq!(outer[7], 64, "the inner hop limit");
    assert_eq!(&outer[8..24], &LB6.octets());
    assert_eq!(&outer[24..40], &RS1_6.octets());
    assert_eq!(&outer[40..], &inner[..]);

    let mut g = Director::new(ConnPolicy::default());
    g.add_service(svc6(Protocol::Tcp, 80), ServiceConfig::new("rr"));
    g.add_dest_with(
        svc6(Protocol::Tcp, 80),
        DestConfig {
            tunnel: Tunnel {
                kind: TunnelKind::Gue,
                port: 6080,
                csum: Default::default(),
            },
            ..dest6(RS1_6, 80, Forward::Tunnel)
        },
    );
    let mut f = frame(LB_MAC, CLI_MAC, &inner);
    assert_eq!(run(&mut g, &mut f, 1), Verdict::Forward(0));
    let outer = &f.0[14..];
    assert_eq!(outer[6], protocol::UDP);
    let u = &outer[40..];
    assert_eq!(u16::from_be_bytes([u[2], u[3]]), 6080);
    assert_eq!(&u[8..12], &[0, 41, 0, 0], "GUE carrying IPv6");
    assert_eq!(&u[12..], &inner[..]);
    assert_ne!(u16::from_be_bytes([u[6], u[7]]), 0);
    assert_eq!(
        independent_checksums(&f.0),
        1,
        "UDP over IPv6 always carries a true checksum"
    );
}

#[test]
fn a_packet_too_big_for_the_ipv6_tunnel_gets_packet_too_big() {
    // 1460 + 40 = 1500 bytes: with the 40-byte outer header, 1540.
    let big = tcp6(CLI6, VIP6, CPORT, 80, flags::ACK, &[], &[1; 1440]);
    assert_eq!(big.len(), 1500);
    let syn = tcp6(CLI6, VIP6, CPORT, 80, flags::SYN, &[], &[1; 1440]);
    let want = icmp6(
        VIP6,
        CLI6,
        icmpv6::kind::PACKET_TOO_BIG,
        0,
        [0, 0, 0x05, 0xb4],
        &syn[..128],
    );
    run_table(
        &mut director(Forward::Tunnel, 80),
        vec![
            Step::verdict(
                "no connection for an ACK",
                1,
                in6(CLI_MAC, &big),
                Verdict::Drop(Counter::DropTcpNoConn),
            ),
            Step::new(
                "MTU 1460",
                2,
                in6(CLI_MAC, &syn),
                Verdict::Reply,
                out6(CLI_MAC, &want),
            ),
        ],
        &[(Counter::IcmpFragNeededSent, 1)],
    );
}

#[test]
fn fullnat6_with_the_ipv6_toa_option() {
    let mut d = director(Forward::FullNat, 8080);
    d.ok(Request::AddLaddr {
        service: svc6(Protocol::Tcp, 80),
        addr: LADDR6.into(),
    });
    let mss = [2, 4, 0x05, 0xa0]; // 1440
    let syn = tcp6(CLI6, VIP6, CPORT, 80, flags::SYN, &mss, b"");
    let mut f = frame(LB_MAC, CLI_MAC, &syn);
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Forward(0));
    let mut opts = vec![254, 20];
    opts.extend_from_slice(&CPORT.to_be_bytes());
    opts.extend_from_slice(&CLI6.octets());
    opts.extend_from_slice(&[2, 4, 0x05, 0x8c]); // 1420: lowered by the option's 20
    let want = tcp6(LADDR6, RS1_6, 1024, 8080, flags::SYN, &opts, b"");
    assert_eq!(f.0, out6(RS1_MAC, &want));
    let mut r = frame(
        LB_MAC,
        RS1_MAC,
        &tcp6(RS1_6, LADDR6, 8080, 1024, flags::SYN | flags::ACK, &[], b""),
    );
    assert_eq!(run(&mut d, &mut r, 2), Verdict::Forward(0));
    assert_eq!(
        r.0,
        out6(
            CLI_MAC,
            &tcp6(VIP6, CLI6, 80, CPORT, flags::SYN | flags::ACK, &[], b"")
        )
    );
    // The director answers NS for its IPv6 local address.
    let mut buf = [0u8; ndp::FRAME_LEN];
    let len = ndp::emit_neighbor_solicit(&mut buf, RS1_MAC, RS1_6, LADDR6);
    let mut ns = VecFrame(buf[..len].to_vec());
    assert_eq!(run(&mut d, &mut ns, 3), Verdict::Reply);
    match d.admin(Request::ListLaddrs { service: None }) {
        Response::Laddrs(l) => assert_eq!((l.len(), l[0].conns), (1, 1)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_neighbour_advert_of_a_real_server_is_learned() {
    let mut d = director(Forward::Route, 80);
    let mut buf = [0u8; ndp::FRAME_LEN];
    let n = ndp::emit_neighbor_advert(&mut buf, RS2_MAC, LB_MAC, RS1_6, LB6, RS1_6, true);
    let mut f = VecFrame(buf[..n].to_vec());
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Exception);
    assert_eq!(d.counter(Counter::NeighEventLost), 0);
    let ev = d.events().pop().expect("an event for the control thread");
    let rvs_dataplane::pipeline::WorkerEvent::NeighLearned { addr, mac, .. } = ev;
    assert_eq!((addr, mac), (std::net::IpAddr::V6(RS1_6), RS2_MAC));
}

/// IPv6 takes its ICMP before the address checks (`Ip::ICMP_FIRST`): echo is
/// answered for a FullNAT local address too, as its Neighbour Solicitations
/// are (IPv4's is the kernel's: `fullnat.rs`).
#[test]
fn a_ping6_to_a_local_address_is_answered() {
    let mut d = director(Forward::FullNat, 8080);
    d.ok(Request::AddLaddr {
        service: svc6(Protocol::Tcp, 80),
        addr: LADDR6.into(),
    });
    let echo = |src, dst, kind| icmp6(src, dst, kind, 0, [0, 7, 0, 1], b"hello");
    run_table(
        &mut d,
        vec![Step::new(
            "the echo reply, from the local address",
            1,
            in6(RS1_MAC, &echo(RS1_6, LADDR6, icmpv6::kind::ECHO_REQUEST)),
            Verdict::Reply,
            out6(RS1_MAC, &echo(LADDR6, RS1_6, icmpv6::kind::ECHO_REPLY)),
        )],
        &[(Counter::IcmpEchoReplied, 1)],
    );
}
