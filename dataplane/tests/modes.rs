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
use rvs_dataplane::pipeline::{ConnPolicy, VecFrame, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::checksum;
use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
use rvs_dataplane::wire::ipv4::{protocol, Ipv4Packet, Ipv4Repr};
use rvs_dataplane::wire::tcp::flags;

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
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    let len = u.len() as u16;
    let c = !checksum::combine(&[
        checksum::pseudo_v4(src.octets(), dst.octets(), protocol::UDP, len),
        checksum::sum(&u),
    ]);
    u[6..8].copy_from_slice(&c.to_be_bytes());
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
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(&quoted[..28]);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, protocol::ICMP, &m)
}

fn frame(dst: MacAddr, src: MacAddr, ip: &[u8]) -> VecFrame {
    VecFrame(eth(dst, src, ethertype::IPV4, ip))
}

fn run(d: &mut Director, f: &mut VecFrame, now_ms: u64) -> Verdict {
    d.worker.handle_frame(0, f, now_ms, false)
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
    let mut outer = vec![0u8; 20];
    Ipv4Repr {
        src: LB,
        dst: RS1,
        protocol: protocol::IPIP,
        payload_len: inner.len(),
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_frag: true,
    }
    .emit(&mut outer);
    outer.extend_from_slice(&inner);
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
                let len = (8 + 4 + inner.len()) as u16;
                let verify = checksum::combine(&[
                    checksum::pseudo_v4(LB.octets(), RS1.octets(), protocol::UDP, len),
                    checksum::sum(u),
                ]);
                assert_eq!(verify, 0xffff, "the UDP checksum verifies");
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

    // Without DF there is no such help: a counted drop.
    let mut no_df = big.clone();
    no_df[6] = 0;
    let c = checksum::checksum(&{
        let mut h = no_df[..20].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    });
    no_df[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = frame(LB_MAC, CLI_MAC, &no_df);
    assert_eq!(
        run(&mut d, &mut f, 3),
        Verdict::Drop(Counter::DropTunnelTooBig)
    );
}

/// The "fragmentation needed" the director builds: from the VIP, TTL 64,
/// ident 0, no DF, quoting the packet's IP header and 8 bytes.
fn icmp_error_from_director(packet: &[u8], rest: [u8; 4]) -> Vec<u8> {
    let mut m = vec![3, 4, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(&packet[..28]);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0u8; 20];
    Ipv4Repr {
        src: VIP,
        dst: CLI,
        protocol: protocol::ICMP,
        payload_len: m.len(),
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_frag: false,
    }
    .emit(&mut ip);
    ip.extend_from_slice(&m);
    ip
}
