//! Golden packet tests of the forwarding modes other than DR and FullNAT
//! (`fullnat.rs`): NAT (both directions, ICMP errors both ways) and TUN
//! (IP-in-IP, GUE, the MTU case), as fixture tables where a test is frames
//! in and out (`common::golden`). Every expected frame is built from
//! scratch, its checksums checked independently, so a byte-for-byte match
//! also checks the incremental checksum updates.

mod common;

use rvs_api::{
    DestConfig, Forward, Protocol, Request, Response, ServiceConfig, Tunnel, TunnelCsum, TunnelKind,
};
use rvs_dataplane::pipeline::{ConnPolicy, Release, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::icmp::IcmpRepr;
use rvs_dataplane::wire::ipv4::{protocol, Ipv4Packet, Ipv4Repr};
use rvs_dataplane::wire::tcp::flags;

use common::director::{dest, Director};
use common::golden::*;
use common::*;

#[test]
fn nat_maps_the_port_and_translates_the_reply_back() {
    let mut d = nat_director();
    let payload = b"GET / HTTP/1.0\r\n\r\n";
    let syn_ack = flags::SYN | flags::ACK;
    run_table(
        &mut d,
        vec![
            Step::new(
                "VIP:80 -> rs1:8080, checksums as recomputed",
                1,
                in4(CLI_MAC, &tcp(CLI, VIP, CPORT, 80, flags::SYN, payload)),
                Verdict::Forward(0),
                out4(RS1_MAC, &tcp(CLI, RS1, CPORT, 8080, flags::SYN, payload)),
            ),
            Step::new(
                "the reply comes from VIP:80, to the client's MAC",
                2,
                in4(RS1_MAC, &tcp(RS1, CLI, 8080, CPORT, syn_ack, b"")),
                Verdict::Forward(0),
                out4(CLI_MAC, &tcp(VIP, CLI, 80, CPORT, syn_ack, b"")),
            ),
        ],
        &[(Counter::ForwardNat, 1), (Counter::ForwardNatReply, 1)],
    );

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
    run_table(
        &mut d,
        vec![
            Step::new(
                "the query to rs1:5353",
                1,
                in4(CLI_MAC, &udp_cs(CLI, VIP, CPORT, 53, b"query")),
                Verdict::Forward(0),
                out4(RS1_MAC, &udp_cs(CLI, RS1, CPORT, 5353, b"query")),
            ),
            Step::new(
                "the answer from VIP:53",
                2,
                in4(RS1_MAC, &udp_cs(RS1, CLI, 5353, CPORT, b"answer")),
                Verdict::Forward(0),
                out4(CLI_MAC, &udp_cs(VIP, CLI, 53, CPORT, b"answer")),
            ),
        ],
        &[],
    );
    // UDP entries are inactive (`spec/conn.md` §3).
    assert_eq!(d.conns_of(svc(Protocol::Udp, 53), RS1), (0, 1, 0));
}

/// One client port toward two NAT services with the same real server: the
/// two connections share a reply tuple, which belongs to the newer. When
/// the older expires and a third connection takes its place in the table,
/// the shared tuple's replies still reach the newer (the reply index names
/// its connection by index, decision 47; the older's removal leaves the
/// index alone), the third's reach the third, and once the newer expires
/// too its replies are the kernel's.
#[test]
fn a_shared_reply_tuple_follows_the_newer_connection_through_expiry_and_reuse() {
    let mut d = nat_director();
    d.add_service(svc(Protocol::Udp, 54), ServiceConfig::new("rr"));
    d.add_dest_with(svc(Protocol::Udp, 54), masq(RS1, 5353));
    let reply = |cport| in4(RS1_MAC, &udp_cs(RS1, CLI, 5353, cport, b"answer"));
    let back = |vport, cport| out4(CLI_MAC, &udp_cs(VIP, CLI, vport, cport, b"answer"));
    // A query from the client's `cport` to VIP:`vport`, to rs1:5353.
    let ask = |what, at_ms, cport, vport| {
        Step::new(
            what,
            at_ms,
            in4(CLI_MAC, &udp_cs(CLI, VIP, cport, vport, b"q")),
            Verdict::Forward(0),
            out4(RS1_MAC, &udp_cs(CLI, RS1, cport, 5353, b"q")),
        )
    };
    run_table(
        &mut d,
        vec![
            ask("the older connection, to VIP:53", 1_000, CPORT, 53),
            ask(
                "the newer, from the same port to VIP:54",
                200_000,
                CPORT,
                54,
            ),
            Step::new(
                "the shared tuple's reply is the newer's",
                200_001,
                reply(CPORT),
                Verdict::Forward(0),
                back(54, CPORT),
            ),
        ],
        &[],
    );
    // UDP entries live 300 s: the older goes, the newer stays.
    d.sweep(302);
    assert_eq!(d.conns(302_001).len(), 1);
    run_table(
        &mut d,
        vec![
            ask(
                "a third connection, in the table's freed slot",
                303_000,
                CPORT + 1,
                53,
            ),
            Step::new(
                "the shared tuple's reply is still the newer's",
                303_001,
                reply(CPORT),
                Verdict::Forward(0),
                back(54, CPORT),
            ),
            Step::new(
                "the third's reply is the third's",
                303_002,
                reply(CPORT + 1),
                Verdict::Forward(0),
                back(53, CPORT + 1),
            ),
        ],
        &[(Counter::ForwardNatReply, 3)],
    );
    d.sweep(700);
    assert!(d.conns(700_001).is_empty());
    run_table(
        &mut d,
        vec![Step::verdict(
            "with every connection gone, a reply is the kernel's",
            700_001,
            reply(CPORT),
            Verdict::Exception,
        )],
        &[(Counter::ForwardNatReply, 3)],
    );
}

#[test]
fn packets_from_a_nat_server_that_are_no_reply_go_to_the_kernel() {
    let syn_ack = flags::SYN | flags::ACK;
    run_table(
        &mut nat_director(),
        vec![
            Step::verdict(
                "a health-check answer to the director's own address",
                1,
                in4(RS1_MAC, &tcp(RS1, LB, 8080, 50000, syn_ack, b"")),
                Verdict::Exception,
            ),
            Step::verdict(
                "a reply to a client port no connection has",
                1,
                in4(RS1_MAC, &tcp(RS1, CLI, 8080, 1, flags::ACK, b"")),
                Verdict::Exception,
            ),
        ],
        &[(Counter::ForwardNatReply, 0)],
    );
}

#[test]
fn nat_translates_icmp_errors_both_ways() {
    let syn = tcp(CLI, VIP, CPORT, 80, flags::SYN, b"");
    let mtu = [0, 0, 0x05, 0x00];
    let reply_as_sent = tcp(VIP, CLI, 80, CPORT, flags::ACK, b"");
    let reply_at_rs = tcp(RS1, CLI, 8080, CPORT, flags::ACK, b"");
    let syn_at_rs = tcp(CLI, RS1, CPORT, 8080, flags::SYN, b"");
    run_table(
        &mut nat_director(),
        vec![
            Step::verdict("the connection", 1, in4(CLI_MAC, &syn), Verdict::Forward(0)),
            // The client says our reply (VIP:80 -> client) was too big: the
            // error goes to rs1, about rs1:8080's packet.
            Step::new(
                "the client's error to rs1",
                2,
                in4(CLI_MAC, &icmp_error(CLI, VIP, 3, 4, mtu, &reply_as_sent)),
                Verdict::Forward(0),
                out4(RS1_MAC, &icmp_error(CLI, RS1, 3, 4, mtu, &reply_at_rs)),
            ),
            // rs1 says the client's packet (client -> rs1:8080) was
            // unreachable: the client hears it from the VIP, about its
            // packet to VIP:80.
            Step::new(
                "rs1's error to the client",
                3,
                in4(RS1_MAC, &icmp_error(RS1, CLI, 3, 3, [0; 4], &syn_at_rs)),
                Verdict::Forward(0),
                out4(CLI_MAC, &icmp_error(VIP, CLI, 3, 3, [0; 4], &syn)),
            ),
        ],
        &[(Counter::IcmpErrorForwarded, 2)],
    );
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
    let inner = tcp(CLI, VIP, CPORT, 80, flags::SYN, b"hello");
    let outer = build::ipv4(build::ipv4_header(LB, RS1, protocol::IPIP), &inner);
    run_table(
        &mut tunnel_director(Tunnel::default()),
        vec![Step::new(
            "IP-in-IP from the director's address to rs1",
            1,
            in4(CLI_MAC, &inner),
            Verdict::Forward(0),
            out4(RS1_MAC, &outer),
        )],
        &[(Counter::ForwardTunnel, 1)],
    );
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
    // 1480 bytes fit a 1500-byte MTU with the 20-byte outer header.
    let fits = tcp(CLI, VIP, CPORT, 80, flags::SYN, &[7; 1440]);
    assert_eq!(fits.len(), 1480);
    let big = tcp(CLI, VIP, CPORT + 1, 80, flags::SYN, &[7; 1460]);
    let mut d = tunnel_director(Tunnel::default());
    run_table(
        &mut d,
        vec![
            Step::verdict(
                "1480 bytes fit",
                1,
                in4(CLI_MAC, &fits),
                Verdict::Forward(0),
            ),
            // 1500 do not (`spec/conn.md` §13 scenario 10): ICMP 3/4 with
            // MTU 1480, from the VIP.
            Step::new(
                "1500 bytes with DF: fragmentation needed",
                2,
                in4(CLI_MAC, &big),
                Verdict::Reply,
                out4(CLI_MAC, &icmp_error_from_director(&big, [0, 0, 0x05, 0xc8])),
            ),
        ],
        &[
            (Counter::DropTunnelTooBig, 1),
            (Counter::IcmpFragNeededSent, 1),
        ],
    );

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
