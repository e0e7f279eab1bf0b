//! What the integration tests share: the lab's addresses and frame builders.
#![allow(dead_code)] // each test binary uses a part

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvs_dataplane::pipeline::VecFrame;
use rvs_dataplane::wire::arp::{op, ArpRepr};
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
use rvs_dataplane::wire::ipv4::{protocol, Ipv4Repr};
use rvs_dataplane::wire::ipv6::Ipv6Repr;
use rvs_dataplane::wire::tcp::TcpRepr;
use rvs_dataplane::wire::udp::{UdpPacket, UdpRepr};

pub mod director;
pub mod frag;
pub mod golden;
pub mod lab;
pub mod sched;

pub const LB_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
pub const CLI_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
pub const RS1_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
pub const RS2_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x12]);
pub const LB: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const CLI: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
pub const RS1: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 11);
pub const RS2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 12);

/// An Ethernet frame; when it carries IPv4 or IPv6, its checksums are
/// checked by an independent implementation ([`independent_checksums`]), so
/// expected frames do not rest on the checksum code under test.
pub fn eth(dst: MacAddr, src: MacAddr, et: u16, payload: &[u8]) -> Vec<u8> {
    let f = build::ethernet(dst, src, et, payload);
    independent_checksums(&f);
    f
}

/// A frame from `src` to the director carrying the IPv4 packet `ip`
/// (checked as [`eth`] checks).
pub fn in4(src: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(LB_MAC, src, ethertype::IPV4, ip)
}

/// A frame from `src` to the director carrying the IPv6 packet `ip`.
pub fn in6(src: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(LB_MAC, src, ethertype::IPV6, ip)
}

/// A frame from the director to `dst` carrying the IPv4 packet `ip`.
pub fn out4(dst: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(dst, LB_MAC, ethertype::IPV4, ip)
}

/// A frame from the director to `dst` carrying the IPv6 packet `ip`.
pub fn out6(dst: MacAddr, ip: &[u8]) -> Vec<u8> {
    eth(dst, LB_MAC, ethertype::IPV6, ip)
}

/// An IPv4 packet of the lab's: TTL 64, DF, identification 0x1234.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    build::ipv4(
        Ipv4Repr {
            ident: 0x1234,
            ..build::ipv4_header(src, dst, proto)
        },
        l4,
    )
}

/// The lab's TCP header: sequence number 1000, window 64240.
pub fn tcp_repr<'a>(
    sport: u16,
    dport: u16,
    fl: u8,
    options: &'a [u8],
    payload: &'a [u8],
) -> TcpRepr<'a> {
    TcpRepr {
        seq: 1000,
        flags: fl,
        window: 64240,
        options,
        payload,
        ..build::tcp_header(sport, dport)
    }
}

pub fn tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    fl: u8,
    payload: &[u8],
) -> Vec<u8> {
    tcp_with(src, dst, &tcp_repr(sport, dport, fl, &[], payload))
}

/// A TCP segment `repr` (its options padded to 4 bytes by the caller) over
/// IPv4 from `src` to `dst`, checksums computed.
pub fn tcp_with(src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr) -> Vec<u8> {
    assert_eq!(repr.options.len() % 4, 0);
    ipv4(src, dst, protocol::TCP, &tcp_msg(src, dst, repr))
}

/// A UDP message from `src` to `dst` (IPv4 or IPv6), checksum computed.
pub fn udp_msg(
    src: impl Into<IpAddr>,
    dst: impl Into<IpAddr>,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    build::udp(
        &UdpRepr {
            src_port: sport,
            dst_port: dport,
            payload,
        },
        src.into(),
        dst.into(),
    )
}

/// A TCP segment from `src` to `dst` (IPv4 or IPv6): `repr`, checksum
/// computed.
pub fn tcp_msg(src: impl Into<IpAddr>, dst: impl Into<IpAddr>, repr: &TcpRepr) -> Vec<u8> {
    build::tcp(repr, src.into(), dst.into())
}

/// A UDP datagram over IPv4 without a checksum (0, RFC 768's "none").
pub fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = udp_msg(src, dst, sport, dport, payload);
    UdpPacket::new_unchecked(&mut u[..]).set_checksum(0);
    ipv4(src, dst, protocol::UDP, &u)
}

/// A UDP datagram over IPv4 with its checksum computed.
pub fn udp_cs(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    ipv4(
        src,
        dst,
        protocol::UDP,
        &udp_msg(src, dst, sport, dport, payload),
    )
}

/// A UDP datagram over IPv6 (hop limit 64), checksum computed.
pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    ipv6(
        src,
        dst,
        protocol::UDP,
        64,
        &udp_msg(src, dst, sport, dport, payload),
    )
}

pub fn client_tcp(sport: u16, fl: u8) -> VecFrame {
    VecFrame(in4(CLI_MAC, &tcp(CLI, VIP, sport, 80, fl, b"")))
}

pub fn arp_request(target: Ipv4Addr) -> VecFrame {
    VecFrame(build::arp(
        MacAddr::BROADCAST,
        &ArpRepr {
            operation: op::REQUEST,
            sender_mac: CLI_MAC,
            sender_ip: CLI,
            target_mac: MacAddr::ZERO,
            target_ip: target,
        },
    ))
}

/// The DR rewrite: the same frame with new MACs, nothing else.
pub fn dr_rewrite(input: &[u8], rs_mac: MacAddr) -> Vec<u8> {
    let mut out = input.to_vec();
    out[0..6].copy_from_slice(&rs_mac.0);
    out[6..12].copy_from_slice(&LB_MAC.0);
    out
}

pub const RS3: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 13);

/// The lab's IPv6 addresses (2001:2::/48, RFC 5180's benchmarking range).
pub const LB6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 2);
pub const CLI6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x100);
pub const RS1_6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x11);
pub const RS2_6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x12);
pub const REAL_SERVERS6: [(Ipv6Addr, MacAddr); 2] = [(RS1_6, RS1_MAC), (RS2_6, RS2_MAC)];
pub const RS3_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x13]);

/// The real servers the director knows, with their MACs.
pub const REAL_SERVERS: [(Ipv4Addr, MacAddr); 3] = [(RS1, RS1_MAC), (RS2, RS2_MAC), (RS3, RS3_MAC)];

/// A frame from `src`:`sport` (the client's MAC) to `dst`:`dport`.
pub fn tcp_frame(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, fl: u8) -> VecFrame {
    VecFrame(in4(CLI_MAC, &tcp(src, dst, sport, dport, fl, b"")))
}

pub fn udp_frame(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> VecFrame {
    VecFrame(in4(CLI_MAC, &udp(src, dst, sport, dport, b"x")))
}

/// An IPv6 packet of `next` with `payload`.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, hops: u8, payload: &[u8]) -> Vec<u8> {
    build::ipv6(
        Ipv6Repr {
            hop_limit: hops,
            ..build::ipv6_header(src, dst, next)
        },
        payload,
    )
}

/// A TCP segment over IPv6 with `options`, checksum computed.
pub fn tcp6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    fl: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let t = tcp_msg(src, dst, &tcp_repr(sport, dport, fl, options, payload));
    ipv6(src, dst, protocol::TCP, 64, &t)
}

/// Check every checksum of the Ethernet `frame` with etherparse, an
/// implementation independent of `rvs_checksum` (the code under test): the
/// IPv4 header's, and the TCP, UDP (unless 0, "none", over IPv4), ICMP or
/// ICMPv6 one of an IPv4 or IPv6 packet (no extension headers). Returns how
/// many it checked; panics on a wrong one. Frames it cannot parse (ARP,
/// truncated, tunnelled) are left to the test.
pub fn independent_checksums(frame: &[u8]) -> usize {
    use etherparse::{
        Ethernet2Header, Icmpv4Header, Icmpv6Slice, IpNumber, Ipv4Header, Ipv6Header, TcpHeader,
        UdpHeader,
    };
    let Ok((eth, rest)) = Ethernet2Header::from_slice(frame) else {
        return 0;
    };
    let mut checked = 0;
    let (proto, l4, src, dst): (IpNumber, &[u8], IpAddr, IpAddr) = match eth.ether_type.0 {
        ethertype::IPV4 => {
            let Ok((ip, after)) = Ipv4Header::from_slice(rest) else {
                return 0;
            };
            assert_eq!(
                ip.header_checksum,
                ip.calc_header_checksum(),
                "IPv4 header checksum of {frame:02x?}"
            );
            checked += 1;
            let len = usize::from(ip.total_len).saturating_sub(ip.header_len());
            let Some(l4) = after.get(..len) else {
                return checked;
            };
            if ip.is_fragmenting_payload() {
                return checked;
            }
            let (src, dst) = (ip.source.into(), ip.destination.into());
            match ip.protocol {
                IpNumber::TCP => {
                    let Ok((t, data)) = TcpHeader::from_slice(l4) else {
                        return checked;
                    };
                    assert_eq!(
                        t.checksum,
                        t.calc_checksum_ipv4(&ip, data).unwrap(),
                        "TCP checksum of {frame:02x?}"
                    );
                    return checked + 1;
                }
                IpNumber::UDP => {
                    let Ok((u, data)) = UdpHeader::from_slice(l4) else {
                        return checked;
                    };
                    if u.checksum != 0 {
                        let data = &data[..usize::from(u.length).saturating_sub(8).min(data.len())];
                        assert_eq!(
                            u.checksum,
                            u.calc_checksum_ipv4(&ip, data).unwrap(),
                            "UDP checksum of {frame:02x?}"
                        );
                        checked += 1;
                    }
                    return checked;
                }
                IpNumber::ICMP => {
                    let Ok((h, data)) = Icmpv4Header::from_slice(l4) else {
                        return checked;
                    };
                    assert_eq!(
                        h.checksum,
                        h.icmp_type.calc_checksum(data),
                        "ICMP checksum of {frame:02x?}"
                    );
                    return checked + 1;
                }
                p => (p, l4, src, dst),
            }
        }
        ethertype::IPV6 => {
            let Ok((ip, after)) = Ipv6Header::from_slice(rest) else {
                return 0;
            };
            let Some(l4) = after.get(..usize::from(ip.payload_length)) else {
                return 0;
            };
            (ip.next_header, l4, ip.source.into(), ip.destination.into())
        }
        _ => return 0,
    };
    let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) else {
        return checked;
    };
    let (s, d) = (s.octets(), d.octets());
    // The sum in the header `$h` against etherparse's of it over `$data`.
    macro_rules! check6 {
        ($what:literal, $h:expr, $data:expr) => {{
            let want = $h.calc_checksum_ipv6_raw(s, d, $data).unwrap();
            assert_eq!($h.checksum, want, "{} checksum of {frame:02x?}", $what);
            checked += 1;
        }};
    }
    match proto {
        IpNumber::TCP => {
            if let Ok((t, data)) = TcpHeader::from_slice(l4) {
                check6!("TCP", t, data);
            }
        }
        IpNumber::UDP => {
            if let Ok((u, data)) = UdpHeader::from_slice(l4) {
                let data = &data[..usize::from(u.length).saturating_sub(8).min(data.len())];
                check6!("UDP", u, data);
            }
        }
        IpNumber::IPV6_ICMP => {
            if let Ok(m) = Icmpv6Slice::from_slice(l4) {
                assert!(m.is_checksum_valid(s, d), "ICMPv6 checksum of {frame:02x?}");
                checked += 1;
            }
        }
        _ => {}
    }
    checked
}
