//! Golden packet tests of the forwarding modes other than DR: NAT (both
//! directions, ICMP errors both ways) and TUN (IP-in-IP, GUE, the MTU case).
//! Every expected frame is built from scratch, checksums included, so a
//! byte-for-byte match also checks the incremental checksum updates.

mod common;

use std::net::Ipv4Addr;

use rvs_api::{
    DestConfig, Forward, Protocol, Request, Response, ServiceConfig, ServiceKey, Tunnel,
    TunnelCsum, TunnelKind,
};
use rvs_dataplane::pipeline::{ConnPolicy, Release, VecFrame, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
use rvs_dataplane::wire::icmp::IcmpRepr;
use rvs_dataplane::wire::ipv4::{protocol, Ipv4Packet, Ipv4Repr};
use rvs_dataplane::wire::tcp::{flags, TcpRepr};
use rvs_dataplane::wire::udp::UdpRepr;

use common::director::{dest, Director};
use common::*;

const CPORT: u16 = 40000;

fn svc(p: Protocol, port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: p,
        addr: (VIP, port).into(),
    }
}

fn masq(addr: Ipv4Addr, port: u16) -> DestConfig {
    DestConfig {
        forward: Forward::Masq,
        ..dest(addr, port, 1)
    }
}

/// A director with TCP and UDP services on VIP:80 and VIP:53, NAT to
/// rs1:8080 and rs1:5353 (port mapping).
fn nat_director() -> Director {
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(svc(Protocol::Tcp, 80), ServiceConfig::new("rr"));
    d.add_dest_with(svc(Protocol::Tcp, 80), masq(RS1, 8080));
    d.add_service(svc(Protocol::Udp, 53), ServiceConfig::new("rr"));
    d.add_dest_with(svc(Protocol::Udp, 53), masq(RS1, 5353));
    d
}

/// A UDP datagram with its checksum computed.
fn udp_cs(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let u = build::udp(
        &UdpRepr {
            src_port: sport,
            dst_port: dport,
            payload,
        },
        src.into(),
        dst.into(),
    );
    ipv4(src, dst, protocol::UDP, &u)
}

/// An ICMP error of `kind`/`code` from `src` to `dst` quoting `quoted`'s
/// first 28 bytes (IP header and 8 bytes), checksums computed.
fn icmp_error(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    kind: u8,
    code: u8,
    rest: [u8; 4],
    quoted: &[u8],
) -> Vec<u8> {
    let m = build::icmp(&IcmpRepr {
        kind,
        code,
        rest,
        payload: &quoted[..28],
    });
    ipv4(src, dst, protocol::ICMP, &m)
}

fn frame(dst: MacAddr, src: MacAddr, ip: &[u8]) -> VecFrame {
    VecFrame(eth(dst, src, ethertype::IPV4, ip))
}

fn run(d: &mut Director, f: &mut VecFrame, now_ms: u64) -> Verdict {
    let v = d.worker.handle_frame(0, f, now_ms, false);
    d.drain();
    v
}

#[test]
fn nat_maps_the_port_and_translates_the_reply_back() {
    let mut d = nat_director();
    let payload = b"GET / HTTP/1.0\r\n\r\n";
    let mut f = frame(
        LB_MAC,
        CLI_MAC,
        &tcp(CLI, VIP, CPORT, 80, flags::SYN, payload),
    );
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Forward(0));
    let want = eth(
        RS1_MAC,
        LB_MAC,
        ethertype::IPV4,
        &tcp(CLI, RS1, CPORT, 8080, flags::SYN, payload),
    );
    assert_eq!(f.0, want, "VIP:80 -> rs1:8080, checksums as recomputed");

    let mut r = frame(
        LB_MAC,
        RS1_MAC,
        &tcp(RS1, CLI, 8080, CPORT, flags::SYN | flags::ACK, b""),
    );
    assert_eq!(run(&mut d, &mut r, 2), Verdict::Forward(0));
    let want = eth(
        CLI_MAC,
        LB_MAC,
        ethertype::IPV4,
        &tcp(VIP, CLI, 80, CPORT, flags::SYN | flags::ACK, b""),
    );
    assert_eq!(
        r.0, want,
        "the reply comes from VIP:80, to the client's MAC"
    );
    assert_eq!(d.counter(Counter::ForwardNat), 1);
    assert_eq!(d.counter(Counter::ForwardNatReply), 1);

    // NAT sees both directions: the INPUT and OUTPUT tables apply
    // (`spec/conn.md` §2.4): client FIN while ESTABLISHED is CLOSE_WAIT,
    // which is inactive.
    let mut ack = frame(LB_MAC, CLI_MAC, &tcp(CLI, VIP, CPORT, 80, flags::ACK, b""));
    assert_eq!(run(&mut d, &mut ack, 3), Verdict::Forward(0));
    assert_eq!(d.conns_of(svc(Protocol::Tcp, 80), RS1), (1, 0, 0));
    let mut fin = frame(
        LB_MAC,
        CLI_MAC,
        &tcp(CLI, VIP, CPORT, 80, flags::FIN | flags::ACK, b""),
    );
    assert_eq!(run(&mut d, &mut fin, 4), Verdict::Forward(0));
    assert_eq!(d.conns_of(svc(Protocol::Tcp, 80), RS1), (0, 1, 0));

    let list = d.list();
    let s = list
        .iter()
        .find(|s| s.key == svc(Protocol::Tcp, 80))
        .unwrap();
    assert_eq!((s.stats.in_pkts, s.stats.out_pkts), (3, 1));
    assert_eq!(s.dests[0].config.forward, Forward::Masq);
}

#[test]
fn nat_udp_keeps_its_checksum_true() {
    let mut d = nat_director();
    let mut f = frame(LB_MAC, CLI_MAC, &udp_cs(CLI, VIP, CPORT, 53, b"query"));
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Forward(0));
    assert_eq!(
        f.0,
        eth(
            RS1_MAC,
            LB_MAC,
            ethertype::IPV4,
            &udp_cs(CLI, RS1, CPORT, 5353, b"query")
        )
    );
    let mut r = frame(LB_MAC, RS1_MAC, &udp_cs(RS1, CLI, 5353, CPORT, b"answer"));
    assert_eq!(run(&mut d, &mut r, 2), Verdict::Forward(0));
    assert_eq!(
        r.0,
        eth(
            CLI_MAC,
            LB_MAC,
            ethertype::IPV4,
            &udp_cs(VIP, CLI, 53, CPORT, b"answer")
        )
    );
    // UDP entries are inactive (`spec/conn.md` §3).
    assert_eq!(d.conns_of(svc(Protocol::Udp, 53), RS1), (0, 1, 0));
}

#[test]
fn packets_from_a_nat_server_that_are_no_reply_go_to_the_kernel() {
    let mut d = nat_director();
    // A health-check answer to the director's own address.
    let mut f = frame(
        LB_MAC,
        RS1_MAC,
        &tcp(RS1, LB, 8080, 50000, flags::SYN | flags::ACK, b""),
    );
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Exception);
    // A reply to a client port no connection has.
    let mut f = frame(LB_MAC, RS1_MAC, &tcp(RS1, CLI, 8080, 1, flags::ACK, b""));
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Exception);
    assert_eq!(d.counter(Counter::ForwardNatReply), 0);
}

#[test]
fn nat_translates_icmp_errors_both_ways() {
    let mut d = nat_director();
    let syn = tcp(CLI, VIP, CPORT, 80, flags::SYN, b"");
    assert_eq!(
        run(&mut d, &mut frame(LB_MAC, CLI_MAC, &syn), 1),
        Verdict::Forward(0)
    );

    // The client says our reply (VIP:80 -> client) was too big: the error
    // goes to rs1, about rs1:8080's packet.
    let mtu = [0, 0, 0x05, 0x00];
    let reply_as_sent = tcp(VIP, CLI, 80, CPORT, flags::ACK, b"");
    let mut f = frame(
        LB_MAC,
        CLI_MAC,
        &icmp_error(CLI, VIP, 3, 4, mtu, &reply_as_sent),
    );
    assert_eq!(run(&mut d, &mut f, 2), Verdict::Forward(0));
    let reply_at_rs = tcp(RS1, CLI, 8080, CPORT, flags::ACK, b"");
    assert_eq!(
        f.0,
        eth(
            RS1_MAC,
            LB_MAC,
            ethertype::IPV4,
            &icmp_error(CLI, RS1, 3, 4, mtu, &reply_at_rs)
        )
    );

    // rs1 says the client's packet (client -> rs1:8080) was unreachable:
    // the client hears it from the VIP, about its packet to VIP:80.
    let syn_at_rs = tcp(CLI, RS1, CPORT, 8080, flags::SYN, b"");
    let mut f = frame(
        LB_MAC,
        RS1_MAC,
        &icmp_error(RS1, CLI, 3, 3, [0; 4], &syn_at_rs),
    );
    assert_eq!(run(&mut d, &mut f, 3), Verdict::Forward(0));
    assert_eq!(
        f.0,
        eth(
            CLI_MAC,
            LB_MAC,
            ethertype::IPV4,
            &icmp_error(VIP, CLI, 3, 3, [0; 4], &syn)
        )
    );
    assert_eq!(d.counter(Counter::IcmpErrorForwarded), 2);
}

#[test]
fn nat_refuses_one_packet_scheduling() {
    let mut d = Director::new(ConnPolicy::default());
    let ops = ServiceConfig {
        one_packet: true,
        ..ServiceConfig::new("rr")
    };
    d.add_service(svc(Protocol::Udp, 53), ops.clone());
    let r = d.admin(Request::AddDest {
        service: svc(Protocol::Udp, 53),
        dest: masq(RS1, 53),
    });
    assert!(matches!(r, Response::Error(_)), "{r:?}");
    d.add_service(svc(Protocol::Udp, 54), ServiceConfig::new("rr"));
    d.add_dest_with(svc(Protocol::Udp, 54), masq(RS1, 54));
    let r = d.admin(Request::EditService {
        key: svc(Protocol::Udp, 54),
        config: ops,
    });
    assert!(matches!(r, Response::Error(_)), "{r:?}");
}

fn tunnel_director(tunnel: Tunnel) -> Director {
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(svc(Protocol::Tcp, 80), ServiceConfig::new("rr"));
    d.add_dest_with(
        svc(Protocol::Tcp, 80),
        DestConfig {
            forward: Forward::Tunnel,
            tunnel,
            ..dest(RS1, 80, 1)
        },
    );
    d
}

#[test]
fn ipip_puts_an_outer_header_in_front() {
    let mut d = tunnel_director(Tunnel::default());
    let inner = tcp(CLI, VIP, CPORT, 80, flags::SYN, b"hello");
    let mut f = frame(LB_MAC, CLI_MAC, &inner);
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Forward(0));
    let outer = build::ipv4(build::ipv4_header(LB, RS1, protocol::IPIP), &inner);
    assert_eq!(f.0, eth(RS1_MAC, LB_MAC, ethertype::IPV4, &outer));
    assert_eq!(d.counter(Counter::ForwardTunnel), 1);
}

#[test]
fn ipip_drops_ethernet_padding_before_encapsulating() {
    let mut d = tunnel_director(Tunnel::default());
    let inner = tcp(CLI, VIP, CPORT, 80, flags::SYN, b"");
    let mut f = frame(LB_MAC, CLI_MAC, &inner);
    f.0.extend_from_slice(&[0xee; 6]); // a 60-byte minimum frame's padding
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Forward(0));
    assert_eq!(f.0.len(), 14 + 20 + inner.len());
    assert_eq!(&f.0[34..], &inner[..]);
}

#[test]
fn gue_wraps_the_packet_in_udp_to_the_tunnel_port() {
    for csum in [TunnelCsum::NoCsum, TunnelCsum::Csum] {
        let mut d = tunnel_director(Tunnel {
            kind: TunnelKind::Gue,
            port: 6080,
            csum,
        });
        let inner = tcp(CLI, VIP, CPORT, 80, flags::SYN, b"hello");
        let mut f = frame(LB_MAC, CLI_MAC, &inner);
        assert_eq!(run(&mut d, &mut f, 1), Verdict::Forward(0));
        let b = &f.0;
        assert_eq!(&b[0..6], &RS1_MAC.0);
        let ip = Ipv4Packet::new_checked(&b[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(
            (ip.src(), ip.dst(), ip.protocol()),
            (LB, RS1, protocol::UDP)
        );
        assert_eq!(usize::from(ip.total_len()), 20 + 8 + 4 + inner.len());
        let u = &b[34..];
        let sport = u16::from_be_bytes([u[0], u[1]]);
        assert!(sport >= 49152, "an ephemeral source port: {sport}");
        assert_eq!(u16::from_be_bytes([u[2], u[3]]), 6080);
        assert_eq!(
            usize::from(u16::from_be_bytes([u[4], u[5]])),
            8 + 4 + inner.len()
        );
        assert_eq!(
            &u[8..12],
            &[0, protocol::IPIP, 0, 0],
            "GUE v0 carrying IPv4"
        );
        assert_eq!(&u[12..], &inner[..]);
        let udp_sum = u16::from_be_bytes([u[6], u[7]]);
        match csum {
            TunnelCsum::NoCsum => assert_eq!(udp_sum, 0),
            _ => {
                assert_ne!(udp_sum, 0);
                assert_eq!(
                    independent_checksums(&f.0),
                    2,
                    "the IP and UDP checksums verify"
                );
            }
        }
        // Another client port of the same client: the same tunnel, maybe
        // another source port, always the tunnel port.
        let mut g = frame(
            LB_MAC,
            CLI_MAC,
            &tcp(CLI, VIP, CPORT + 1, 80, flags::SYN, b""),
        );
        assert_eq!(run(&mut d, &mut g, 1), Verdict::Forward(0));
        assert_eq!(u16::from_be_bytes([g.0[36], g.0[37]]), 6080);
    }
}

#[test]
fn a_df_packet_too_big_for_the_tunnel_gets_fragmentation_needed() {
    let mut d = tunnel_director(Tunnel::default());
    // 1480 bytes fit a 1500-byte MTU with the 20-byte outer header.
    let fits = tcp(CLI, VIP, CPORT, 80, flags::SYN, &[7; 1440]);
    assert_eq!(fits.len(), 1480);
    let mut f = frame(LB_MAC, CLI_MAC, &fits);
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Forward(0));

    // 1500 do not (`spec/conn.md` §13 scenario 10): ICMP 3/4 with MTU 1480,
    // from the VIP.
    let big = tcp(CLI, VIP, CPORT + 1, 80, flags::SYN, &[7; 1460]);
    let mut f = frame(LB_MAC, CLI_MAC, &big);
    assert_eq!(run(&mut d, &mut f, 2), Verdict::Reply);
    assert_eq!(
        f.0,
        eth(
            CLI_MAC,
            LB_MAC,
            ethertype::IPV4,
            &icmp_error_from_director(&big, [0, 0, 0x05, 0xc8])
        )
    );
    assert_eq!(d.counter(Counter::DropTunnelTooBig), 1);

    // Without DF the client's packet is fragmented to fit, each piece
    // tunnelled whole (`tests/frag.rs` checks the pieces): 1 456 bytes of
    // its 1 480 here (a multiple of 8), the rest queued to be sent after
    // the burst.
    let mut no_df = big.clone();
    let mut p = Ipv4Packet::new_unchecked(&mut no_df[..]);
    p.set_flags_df(false);
    p.fill_checksum();
    let mut f = frame(LB_MAC, CLI_MAC, &no_df);
    assert_eq!(run(&mut d, &mut f, 3), Verdict::Forward(0));
    assert_eq!(f.0.len(), 14 + 20 + 20 + 1456);
    assert_eq!(d.counter(Counter::TunnelFragmented), 1);
    assert_eq!(d.counter(Counter::DropTunnelTooBig), 1);
    let (r, rest) = d.worker.next_released().expect("the outer packet's rest");
    assert_eq!((r, rest.len()), (Release::Send(0), 14 + 20 + 20 + 24));
}

/// The "fragmentation needed" the director builds: from the VIP, TTL 64,
/// ident 0, no DF, quoting the packet's IP header and 8 bytes.
fn icmp_error_from_director(packet: &[u8], rest: [u8; 4]) -> Vec<u8> {
    let m = build::icmp(&IcmpRepr {
        kind: 3,
        code: 4,
        rest,
        payload: &packet[..28],
    });
    build::ipv4(
        Ipv4Repr {
            dont_frag: false,
            ..build::ipv4_header(VIP, CLI, protocol::ICMP)
        },
        &m,
    )
}

const LADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 201);
const LADDR2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 202);

/// A TCP segment with `options` (padded to 4 bytes by the caller),
/// checksums computed.
fn tcp_opts(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    fl: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let t = build::tcp(
        &tcp_repr(sport, dport, fl, options, payload),
        src.into(),
        dst.into(),
    );
    ipv4(src, dst, protocol::TCP, &t)
}

fn toa(port: u16, addr: Ipv4Addr) -> Vec<u8> {
    let mut o = vec![254, 8];
    o.extend_from_slice(&port.to_be_bytes());
    o.extend_from_slice(&addr.octets());
    o
}

fn fullnat_director(conns_max: usize, laddrs: &[Ipv4Addr]) -> Director {
    let mut d = Director::sized(ConnPolicy::default(), conns_max);
    d.add_service(svc(Protocol::Tcp, 80), ServiceConfig::new("rr"));
    d.add_dest_with(
        svc(Protocol::Tcp, 80),
        DestConfig {
            forward: Forward::FullNat,
            ..dest(RS1, 8080, 1)
        },
    );
    for &a in laddrs {
        d.ok(Request::AddLaddr {
            service: svc(Protocol::Tcp, 80),
            addr: a.into(),
        });
    }
    d
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
    let syn = tcp_opts(CLI, VIP, CPORT, 80, flags::SYN, &mss, b"");
    let mut f = frame(LB_MAC, CLI_MAC, &syn);
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Forward(0));
    // The first local address, its first port; the MSS lowered by 8 and the
    // TOA option after it.
    let lport = 1024;
    // TOA first, right after the base header, as DPVS puts it.
    let mut opts = toa(CPORT, CLI);
    opts.extend([2, 4, 0x05, 0xac]); // 1452
    let want = tcp_opts(LADDR, RS1, lport, 8080, flags::SYN, &opts, b"");
    assert_eq!(f.0, eth(RS1_MAC, LB_MAC, ethertype::IPV4, &want));
    assert_eq!(d.counter(Counter::ToaInserted), 1);

    // The real server answers the local address: the client gets it from
    // the VIP.
    let mut r = frame(
        LB_MAC,
        RS1_MAC,
        &tcp(RS1, LADDR, 8080, lport, flags::SYN | flags::ACK, b""),
    );
    assert_eq!(run(&mut d, &mut r, 2), Verdict::Forward(0));
    assert_eq!(
        r.0,
        eth(
            CLI_MAC,
            LB_MAC,
            ethertype::IPV4,
            &tcp(VIP, CLI, 80, CPORT, flags::SYN | flags::ACK, b"")
        )
    );

    // The handshake's ACK carries TOA too (what a real server's TOA module
    // reads); later segments do not.
    let mut ack = frame(LB_MAC, CLI_MAC, &tcp(CLI, VIP, CPORT, 80, flags::ACK, b""));
    assert_eq!(run(&mut d, &mut ack, 3), Verdict::Forward(0));
    assert_eq!(
        ack.0,
        eth(
            RS1_MAC,
            LB_MAC,
            ethertype::IPV4,
            &tcp_opts(LADDR, RS1, lport, 8080, flags::ACK, &toa(CPORT, CLI), b"")
        )
    );
    let mut data = frame(
        LB_MAC,
        CLI_MAC,
        &tcp(CLI, VIP, CPORT, 80, flags::ACK | flags::PSH, b"GET /"),
    );
    assert_eq!(run(&mut d, &mut data, 4), Verdict::Forward(0));
    assert_eq!(
        data.0,
        eth(
            RS1_MAC,
            LB_MAC,
            ethertype::IPV4,
            &tcp(LADDR, RS1, lport, 8080, flags::ACK | flags::PSH, b"GET /")
        )
    );
    assert_eq!(d.counter(Counter::ToaInserted), 2);
    assert_eq!(d.counter(Counter::ForwardFullNatReply), 1);
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
    let mut d = fullnat_director(64, &[LADDR]);
    let syn = tcp(CLI, VIP, CPORT, 80, flags::SYN, b"");
    assert_eq!(
        run(&mut d, &mut frame(LB_MAC, CLI_MAC, &syn), 1),
        Verdict::Forward(0)
    );
    // rs1 cannot take the packet from the local address: the client hears
    // about its own packet to the VIP.
    let at_rs = tcp(LADDR, RS1, 1024, 8080, flags::SYN, b"");
    let mut f = frame(
        LB_MAC,
        RS1_MAC,
        &icmp_error(RS1, LADDR, 3, 3, [0; 4], &at_rs),
    );
    assert_eq!(run(&mut d, &mut f, 2), Verdict::Forward(0));
    assert_eq!(
        f.0,
        eth(
            CLI_MAC,
            LB_MAC,
            ethertype::IPV4,
            &icmp_error(VIP, CLI, 3, 3, [0; 4], &syn)
        )
    );
    // The client cannot take our reply: rs1 hears about its packet to the
    // local address.
    let reply = tcp(VIP, CLI, 80, CPORT, flags::ACK, b"");
    let mut f = frame(
        LB_MAC,
        CLI_MAC,
        &icmp_error(CLI, VIP, 3, 4, [0, 0, 5, 0], &reply),
    );
    assert_eq!(run(&mut d, &mut f, 3), Verdict::Forward(0));
    let reply_at_rs = tcp(RS1, LADDR, 8080, 1024, flags::ACK, b"");
    assert_eq!(
        f.0,
        eth(
            RS1_MAC,
            LB_MAC,
            ethertype::IPV4,
            &icmp_error(LADDR, RS1, 3, 4, [0, 0, 5, 0], &reply_at_rs)
        )
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
        d.add_service(svc(Protocol::Tcp, 80), ServiceConfig::new("rr"));
        d.add_dest_with(
            svc(Protocol::Tcp, 80),
            DestConfig {
                forward: Forward::FullNat,
                ..dest(RS1, 8080, 1)
            },
        );
        d.ok(Request::AddLaddr {
            service: svc(Protocol::Tcp, 80),
            addr: LADDR.into(),
        });
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
    let t = build::tcp(
        &TcpRepr {
            seq,
            ack,
            ..tcp_repr(ports.0, ports.1, fl, options, payload)
        },
        src.into(),
        dst.into(),
    );
    ipv4(src, dst, protocol::TCP, &t)
}

#[test]
fn fullnat_with_proxy_protocol_v2_puts_the_header_in_the_stream() {
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(
        svc(Protocol::Tcp, 80),
        ServiceConfig {
            proxy_protocol: true,
            ..ServiceConfig::new("rr")
        },
    );
    d.add_dest_with(
        svc(Protocol::Tcp, 80),
        DestConfig {
            forward: Forward::FullNat,
            ..dest(RS1, 8080, 1)
        },
    );
    d.ok(Request::AddLaddr {
        service: svc(Protocol::Tcp, 80),
        addr: LADDR.into(),
    });
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
        eth(
            RS1_MAC,
            LB_MAC,
            ethertype::IPV4,
            &tcp(CLI, RS1, CPORT, 8080, flags::ACK, b"")
        )
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
    d.add_service(
        svc(Protocol::Tcp, 81),
        ServiceConfig {
            persistent_timeout_s: Some(10),
            ..ServiceConfig::new("rr")
        },
    );
    d.add_dest_with(
        svc(Protocol::Tcp, 81),
        DestConfig {
            forward: Forward::FullNat,
            ..dest(RS1, 81, 1)
        },
    );
    d.ok(Request::AddLaddr {
        service: svc(Protocol::Tcp, 81),
        addr: LADDR.into(),
    });
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
