//! IPv6 extension headers through the pipeline (`pipeline/frag.rs` walks
//! them): hop-by-hop, destination options and routing headers are walked
//! to the transport, bad chains are counted drops, fragmented ICMP and
//! replies go to the kernel, and FullNAT behind extension headers goes
//! without TOA and refuses proxy protocol v2.

mod common;

use std::net::Ipv6Addr;

use rvs_api::{DestConfig, Forward, Protocol, Request, ServiceConfig, ServiceKey};
use rvs_dataplane::pipeline::Verdict;
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ethernet::ethertype;
use rvs_dataplane::wire::ipv4::{protocol, Ipv4Repr};

use common::director::dest;
use common::frag::*;
use common::*;

/// `ext` (extension headers, the first's type `first`) between the fixed
/// header and `l4` (a transport message of `proto`).
fn with_ext(src: Ipv6Addr, dst: Ipv6Addr, first: u8, ext: &[u8], l4: &[u8]) -> Vec<u8> {
    let mut body = ext.to_vec();
    body.extend_from_slice(l4);
    ipv6(src, dst, first, 64, &body)
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
            &udp_msg(CLI6, VIP6, CPORT, 53, b"question"),
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
            &udp_msg(src, dst, sport, dport, b"question"),
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
    let udp = udp_msg(CLI6, VIP6, CPORT, 53, b"q");
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
