//! Golden packet tests of FullNAT between address families (decision 42):
//! an IPv6 VIP in front of an IPv4 real server and the reverse, both ways;
//! the TOA option of the client's family, PROXY protocol v2 of the client's
//! family, a real server's ICMP error translated back, a client's packet
//! too big once translated. Every expected frame is built from scratch, its
//! checksums checked independently (`common::independent_checksums`).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvs_api::{
    ApiError, DestConfig, Forward, Protocol, Request, Response, ServiceConfig, ServiceKey, Tunnel,
};
use rvs_dataplane::pipeline::{ConnPolicy, VecFrame, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ethernet::ethertype;
use rvs_dataplane::wire::icmp::IcmpRepr;
use rvs_dataplane::wire::icmpv6::{self, Icmpv6Repr};
use rvs_dataplane::wire::ipv4::protocol;
use rvs_dataplane::wire::proxy_v2;
use rvs_dataplane::wire::tcp::flags;
use rvs_dataplane::wire::udp::UdpRepr;

use common::director::Director;
use common::*;

const CPORT: u16 = 40000;
const LADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 201);
const LADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x201);
/// The first local port a single core hands out.
const LPORT: u16 = 1024;

fn key(p: Protocol, vip: IpAddr, port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: p,
        addr: (vip, port).into(),
    }
}

fn fullnat(addr: IpAddr, port: u16) -> DestConfig {
    DestConfig {
        addr: (addr, port).into(),
        forward: Forward::FullNat,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: Tunnel::default(),
    }
}

/// A FullNAT service on `vip` with one real server `rs` of the other
/// family and local address `laddr` (of `rs`'s family).
fn director(p: Protocol, vip: IpAddr, rs: IpAddr, laddr: IpAddr, pp2: bool) -> Director {
    let mut d = Director::new(ConnPolicy::default());
    let config = ServiceConfig {
        proxy_protocol: pp2,
        ..ServiceConfig::new("rr")
    };
    let k = key(p, vip, 80);
    d.add_service(k, config);
    d.add_dest_with(k, fullnat(rs, 8080));
    d.ok(Request::AddLaddr {
        service: k,
        addr: laddr,
    });
    d
}

/// An IPv4 packet as the translator writes it: identification 0, DF, TTL
/// 64 (the client's), TOS 0.
fn ipv4x(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    build::ipv4(build::ipv4_header(src, dst, proto), l4)
}

fn tcp4x(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ports: (u16, u16),
    fl: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let t = build::tcp(
        &tcp_repr(ports.0, ports.1, fl, options, payload),
        src.into(),
        dst.into(),
    );
    ipv4x(src, dst, protocol::TCP, &t)
}

fn tcp4(src: Ipv4Addr, dst: Ipv4Addr, ports: (u16, u16), fl: u8, options: &[u8]) -> Vec<u8> {
    let t = build::tcp(
        &tcp_repr(ports.0, ports.1, fl, options, b""),
        src.into(),
        dst.into(),
    );
    ipv4(src, dst, protocol::TCP, &t)
}

fn toa4(port: u16, addr: Ipv4Addr) -> Vec<u8> {
    let mut o = vec![254, 8];
    o.extend_from_slice(&port.to_be_bytes());
    o.extend_from_slice(&addr.octets());
    o
}

fn toa6(port: u16, addr: Ipv6Addr) -> Vec<u8> {
    let mut o = vec![254, 20];
    o.extend_from_slice(&port.to_be_bytes());
    o.extend_from_slice(&addr.octets());
    o
}

fn run(d: &mut Director, f: &mut VecFrame, now_ms: u64) -> Verdict {
    let v = d.worker.handle_frame(0, f, now_ms, false);
    d.drain();
    v
}

/// `input` through the pipeline: the verdict, and the frame out (its
/// checksums checked).
fn step(d: &mut Director, input: Vec<u8>, now_ms: u64) -> (Verdict, Vec<u8>) {
    let mut f = VecFrame(input);
    let v = run(d, &mut f, now_ms);
    if matches!(v, Verdict::Forward(_) | Verdict::Reply) {
        assert!(independent_checksums(&f.0) >= 1, "checksums checked");
    }
    (v, f.0)
}

#[test]
fn ipv6_client_to_ipv4_real_server_and_back() {
    let mut d = director(Protocol::Tcp, VIP6.into(), RS1.into(), LADDR.into(), false);
    // The client's SYN, MSS 1440: the IPv6 TOA option (DPVS's, 20 bytes:
    // kind 254, the port, the 16-byte address) goes into the IPv4 SYN and
    // lowers the MSS by as much; the packet shrinks, nothing more.
    let syn = tcp6(CLI6, VIP6, CPORT, 80, flags::SYN, &[2, 4, 0x05, 0xa0], b"");
    let mut opts = toa6(CPORT, CLI6);
    opts.extend([2, 4, 0x05, 0x8c]); // 1420
    let want = tcp4x(LADDR, RS1, (LPORT, 8080), flags::SYN, &opts, b"");
    let (v, out) = step(&mut d, eth(LB_MAC, CLI_MAC, ethertype::IPV6, &syn), 1);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(out, eth(RS1_MAC, LB_MAC, ethertype::IPV4, &want));

    // The real server's SYN-ACK, MSS 1460: into IPv6 it grows by 20, so
    // the MSS it tells the client is lowered by 20.
    let syn_ack = flags::SYN | flags::ACK;
    let reply = tcp4(RS1, LADDR, (8080, LPORT), syn_ack, &[2, 4, 0x05, 0xb4]);
    let want = tcp6(VIP6, CLI6, 80, CPORT, syn_ack, &[2, 4, 0x05, 0xa0], b"");
    let (v, out) = step(&mut d, eth(LB_MAC, RS1_MAC, ethertype::IPV4, &reply), 2);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(out, eth(CLI_MAC, LB_MAC, ethertype::IPV6, &want));

    // Data both ways; the handshake's ACK carries TOA as the SYN did.
    let push = flags::ACK | flags::PSH;
    let data = tcp6(CLI6, VIP6, CPORT, 80, push, &[], b"GET /");
    let want = tcp4x(
        LADDR,
        RS1,
        (LPORT, 8080),
        push,
        &toa6(CPORT, CLI6),
        b"GET /",
    );
    let (_, out) = step(&mut d, eth(LB_MAC, CLI_MAC, ethertype::IPV6, &data), 3);
    assert_eq!(out, eth(RS1_MAC, LB_MAC, ethertype::IPV4, &want));
    let t = build::tcp(
        &tcp_repr(8080, LPORT, push, &[], b"200 OK"),
        RS1.into(),
        LADDR.into(),
    );
    let reply = ipv4(RS1, LADDR, protocol::TCP, &t);
    let want = tcp6(VIP6, CLI6, 80, CPORT, push, &[], b"200 OK");
    let (_, out) = step(&mut d, eth(LB_MAC, RS1_MAC, ethertype::IPV4, &reply), 4);
    assert_eq!(out, eth(CLI_MAC, LB_MAC, ethertype::IPV6, &want));

    // -Lnc lists the IPv6 client and VIP with the IPv4 real server.
    let c = d.conns(5);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].caddr, c[0].vaddr, c[0].daddr, c[0].dport),
        (IpAddr::V6(CLI6), IpAddr::V6(VIP6), IpAddr::V4(RS1), 8080)
    );
    assert_eq!(d.counter(Counter::XlatTranslated), 4);
    assert_eq!(d.counter(Counter::ToaInserted), 2);
    match d.admin(Request::ListLaddrs { service: None }) {
        Response::Laddrs(l) => assert_eq!((l[0].addr, l[0].conns), (IpAddr::V4(LADDR), 1)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ipv4_client_to_ipv6_real_server_and_back() {
    let mut d = director(
        Protocol::Tcp,
        VIP.into(),
        RS1_6.into(),
        LADDR6.into(),
        false,
    );
    // MSS 1460: the IPv4 TOA option lowers it by 8, the growth into IPv6
    // by 20 more.
    let syn = tcp4(CLI, VIP, (CPORT, 80), flags::SYN, &[2, 4, 0x05, 0xb4]);
    let mut opts = toa4(CPORT, CLI);
    opts.extend([2, 4, 0x05, 0x98]); // 1432
    let want = tcp6(LADDR6, RS1_6, LPORT, 8080, flags::SYN, &opts, b"");
    let (v, out) = step(&mut d, eth(LB_MAC, CLI_MAC, ethertype::IPV4, &syn), 1);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(out, eth(RS1_MAC, LB_MAC, ethertype::IPV6, &want));

    let syn_ack = flags::SYN | flags::ACK;
    let reply = tcp6(
        RS1_6,
        LADDR6,
        8080,
        LPORT,
        syn_ack,
        &[2, 4, 0x05, 0xa0],
        b"",
    );
    let want = tcp4x(VIP, CLI, (80, CPORT), syn_ack, &[2, 4, 0x05, 0xa0], b"");
    let (v, out) = step(&mut d, eth(LB_MAC, RS1_MAC, ethertype::IPV6, &reply), 2);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(out, eth(CLI_MAC, LB_MAC, ethertype::IPV4, &want));

    // A full-size IPv4 segment with DF does not fit the 1500-byte MTU as
    // IPv6: "fragmentation needed" with 1480 goes back to the client.
    let big = tcp4(CLI, VIP, (CPORT, 80), flags::ACK, &[]);
    let t = build::tcp(
        &tcp_repr(CPORT, 80, flags::ACK, &[], &[7; 1460]),
        CLI.into(),
        VIP.into(),
    );
    let big_ip = ipv4(CLI, VIP, protocol::TCP, &t);
    assert_eq!(big_ip.len(), 1500);
    drop(big);
    let (v, out) = step(&mut d, eth(LB_MAC, CLI_MAC, ethertype::IPV4, &big_ip), 3);
    assert_eq!(v, Verdict::Reply);
    assert_eq!(out[14 + 9], protocol::ICMP);
    let icmp = &out[14 + 20..];
    assert_eq!((icmp[0], icmp[1]), (3, 4), "fragmentation needed");
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1480);
    assert_eq!(d.counter(Counter::DropXlatTooBig), 1);

    let c = d.conns(4);
    assert_eq!(
        (c[0].caddr, c[0].daddr),
        (IpAddr::V4(CLI), IpAddr::V6(RS1_6))
    );
}

#[test]
fn udp_both_ways_between_families() {
    // IPv4 client, IPv6 real server: a UDP datagram without a checksum
    // gets one in IPv6 (which has no UDP without).
    let mut d = director(
        Protocol::Udp,
        VIP.into(),
        RS1_6.into(),
        LADDR6.into(),
        false,
    );
    let q = udp(CLI, VIP, CPORT, 80, b"query");
    let u = build::udp(
        &UdpRepr {
            src_port: LPORT,
            dst_port: 8080,
            payload: b"query",
        },
        LADDR6.into(),
        RS1_6.into(),
    );
    let want = ipv6(LADDR6, RS1_6, protocol::UDP, 64, &u);
    let (v, out) = step(&mut d, eth(LB_MAC, CLI_MAC, ethertype::IPV4, &q), 1);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(out, eth(RS1_MAC, LB_MAC, ethertype::IPV6, &want));
    let u = build::udp(
        &UdpRepr {
            src_port: 8080,
            dst_port: LPORT,
            payload: b"answer",
        },
        RS1_6.into(),
        LADDR6.into(),
    );
    let reply = ipv6(RS1_6, LADDR6, protocol::UDP, 64, &u);
    let u = build::udp(
        &UdpRepr {
            src_port: 80,
            dst_port: CPORT,
            payload: b"answer",
        },
        VIP.into(),
        CLI.into(),
    );
    let want = ipv4x(VIP, CLI, protocol::UDP, &u);
    let (v, out) = step(&mut d, eth(LB_MAC, RS1_MAC, ethertype::IPV6, &reply), 2);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(out, eth(CLI_MAC, LB_MAC, ethertype::IPV4, &want));

    // The client's path says the reply is too big (MTU 1400), quoting its
    // header and 8 bytes: the real server gets "packet too big" with 1420
    // from the local address, quoting its own datagram as it sent it.
    let m = build::icmp(&IcmpRepr {
        kind: 3,
        code: 4,
        rest: [0, 0, 0x05, 0x78],
        payload: &want[..28],
    });
    let err = ipv4(CLI, VIP, protocol::ICMP, &m);
    let (v, out) = step(&mut d, eth(LB_MAC, CLI_MAC, ethertype::IPV4, &err), 3);
    assert_eq!(v, Verdict::Forward(0));
    let m6 = build::icmpv6(
        &Icmpv6Repr {
            kind: icmpv6::kind::PACKET_TOO_BIG,
            code: 0,
            rest: 1420u32.to_be_bytes(),
            payload: &reply[..48],
        },
        LADDR6,
        RS1_6,
    );
    let want = ipv6(LADDR6, RS1_6, protocol::ICMPV6, 64, &m6);
    assert_eq!(out, eth(RS1_MAC, LB_MAC, ethertype::IPV6, &want));
}

#[test]
fn a_real_servers_icmp_error_reaches_the_client_in_its_family() {
    // IPv6 client, IPv4 real server, UDP: the real server's port
    // unreachable about the datagram from the local address becomes
    // ICMPv6's (destination unreachable, code 4) from the VIP, quoting the
    // client's datagram to the VIP.
    let mut d = director(Protocol::Udp, VIP6.into(), RS1.into(), LADDR.into(), false);
    let u6 = |src: Ipv6Addr, dst: Ipv6Addr, sport, dport| {
        let u = build::udp(
            &UdpRepr {
                src_port: sport,
                dst_port: dport,
                payload: b"query",
            },
            src.into(),
            dst.into(),
        );
        ipv6(src, dst, protocol::UDP, 64, &u)
    };
    let q = u6(CLI6, VIP6, CPORT, 80);
    let (v, out) = step(&mut d, eth(LB_MAC, CLI_MAC, ethertype::IPV6, &q), 1);
    assert_eq!(v, Verdict::Forward(0));
    let sent = out[14..].to_vec();
    let m = build::icmp(&IcmpRepr {
        kind: 3,
        code: 3,
        rest: [0; 4],
        payload: &sent,
    });
    let err = ipv4x(RS1, LADDR, protocol::ICMP, &m);
    let (v, out) = step(&mut d, eth(LB_MAC, RS1_MAC, ethertype::IPV4, &err), 2);
    assert_eq!(v, Verdict::Forward(0));
    let m6 = build::icmpv6(
        &Icmpv6Repr {
            kind: icmpv6::kind::DEST_UNREACHABLE,
            code: 4,
            rest: [0; 4],
            payload: &q,
        },
        VIP6,
        CLI6,
    );
    let want = ipv6(VIP6, CLI6, protocol::ICMPV6, 64, &m6);
    assert_eq!(out, eth(CLI_MAC, LB_MAC, ethertype::IPV6, &want));
    assert_eq!(d.counter(Counter::IcmpErrorForwarded), 1);
}

#[test]
fn proxy_v2_carries_the_ipv6_client_to_an_ipv4_real_server() {
    let mut d = director(Protocol::Tcp, VIP6.into(), RS1.into(), LADDR.into(), true);
    let syn = tcp6(CLI6, VIP6, CPORT, 80, flags::SYN, &[], b"");
    let (v, out) = step(&mut d, eth(LB_MAC, CLI_MAC, ethertype::IPV6, &syn), 1);
    assert_eq!(v, Verdict::Forward(0));
    let want = tcp4x(LADDR, RS1, (LPORT, 8080), flags::SYN, &[], b"");
    assert_eq!(out, eth(RS1_MAC, LB_MAC, ethertype::IPV4, &want), "no TOA");
    // The first data segment (sequence ISN + 1) carries the header first.
    let t = build::tcp(
        &rvs_dataplane::wire::tcp::TcpRepr {
            seq: 1001,
            ..tcp_repr(CPORT, 80, flags::ACK | flags::PSH, &[], b"GET /")
        },
        CLI6.into(),
        VIP6.into(),
    );
    let data = ipv6(CLI6, VIP6, protocol::TCP, 64, &t);
    let (v, out) = step(&mut d, eth(LB_MAC, CLI_MAC, ethertype::IPV6, &data), 2);
    assert_eq!(v, Verdict::Forward(0));
    let mut header = [0u8; proxy_v2::HEADER_LEN + proxy_v2::ADDRS_V6_LEN];
    let n = proxy_v2::emit(
        &mut header,
        (IpAddr::V6(CLI6), CPORT),
        (IpAddr::V6(VIP6), 80),
    );
    assert_eq!(n, 52, "TCP over IPv6: the client's family");
    let mut payload = header[..n].to_vec();
    payload.extend_from_slice(b"GET /");
    let want = {
        let t = build::tcp(
            &rvs_dataplane::wire::tcp::TcpRepr {
                seq: 1001,
                ..tcp_repr(LPORT, 8080, flags::ACK | flags::PSH, &[], &payload)
            },
            LADDR.into(),
            RS1.into(),
        );
        ipv4x(LADDR, RS1, protocol::TCP, &t)
    };
    assert_eq!(out, eth(RS1_MAC, LB_MAC, ethertype::IPV4, &want));
}

#[test]
fn only_fullnat_crosses_families() {
    let mut d = Director::new(ConnPolicy::default());
    let k = key(Protocol::Tcp, VIP6.into(), 80);
    d.add_service(k, ServiceConfig::new("rr"));
    for forward in [Forward::Route, Forward::Masq, Forward::Tunnel] {
        let dest = DestConfig {
            forward,
            ..fullnat(RS1.into(), 80)
        };
        match d.admin(Request::AddDest { service: k, dest }) {
            Response::Error(ApiError { message, .. }) => {
                assert!(message.contains("only supported with FullNAT"), "{message}")
            }
            other => panic!("{forward:?}: {other:?}"),
        }
    }
    d.ok(Request::AddDest {
        service: k,
        dest: fullnat(RS1.into(), 80),
    });
}

#[test]
fn without_a_local_address_of_the_real_servers_family_nothing_is_sent() {
    // The only local address is of the VIP's family: no connection to the
    // IPv4 real server can be made (counted).
    let mut d = director(Protocol::Tcp, VIP6.into(), RS1.into(), LADDR6.into(), false);
    let syn = tcp6(CLI6, VIP6, CPORT, 80, flags::SYN, &[], b"");
    let (v, _) = step(&mut d, eth(LB_MAC, CLI_MAC, ethertype::IPV6, &syn), 1);
    assert_eq!(v, Verdict::Drop(Counter::DropLaddrExhausted));
    assert!(d.conns(2).is_empty());
}
