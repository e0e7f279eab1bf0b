//! One frame builder, shared by the tests, the benchmarks and the tools
//! (`rvs-gen`, `pcap-flows`): whole frames and packets made from the
//! Reprs, every checksum computed on emit.
//!
//! Each function returns a new `Vec`: this module allocates and is never
//! on the packet path. Compose them inside out:
//!
//! ```
//! use rvs_dataplane::wire::build;
//! use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
//! use rvs_dataplane::wire::tcp::{flags, TcpRepr};
//! use std::net::Ipv4Addr;
//!
//! let (c, v) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! let seg = build::tcp(&TcpRepr { flags: flags::SYN, ..build::tcp_header(1000, 80) }, c.into(), v.into());
//! let ip = build::ipv4(build::ipv4_header(c, v, build::protocol::TCP), &seg);
//! let frame = build::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]), ethertype::IPV4, &ip);
//! assert_eq!(frame.len(), 14 + 20 + 20);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::arp::ArpRepr;
use super::ethernet::{self, ethertype, EthernetRepr, MacAddr};
use super::icmp::IcmpRepr;
use super::icmpv6::Icmpv6Repr;
use super::ipv4::{self, Ipv4Repr};
use super::ipv6::{self, Ipv6Repr};
use super::tcp::TcpRepr;
use super::udp::UdpRepr;

pub use super::ipv4::protocol;

/// The shortest Ethernet frame without its FCS; shorter ones are padded.
pub const ETHERNET_FRAME_MIN: usize = 60;

/// An Ethernet frame: the header, then `payload`.
pub fn ethernet(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN + payload.len()];
    EthernetRepr {
        dst,
        src,
        ethertype,
    }
    .emit(&mut f);
    f[ethernet::HEADER_LEN..].copy_from_slice(payload);
    f
}

/// Pad `frame` with zeros to [`ETHERNET_FRAME_MIN`] bytes.
pub fn pad(mut frame: Vec<u8>) -> Vec<u8> {
    if frame.len() < ETHERNET_FRAME_MIN {
        frame.resize(ETHERNET_FRAME_MIN, 0);
    }
    frame
}

/// An IPv4 header from `src` to `dst` carrying `protocol`: TTL 64, DF,
/// identification 0, TOS 0 (change fields with `..`); the payload length is
/// set by [`ipv4()`].
pub fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Ipv4Repr {
    Ipv4Repr {
        src,
        dst,
        protocol,
        payload_len: 0,
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_frag: true,
    }
}

/// An IPv4 packet: `header` (its payload length set to `payload`'s, its
/// checksum computed), then `payload`.
pub fn ipv4(header: Ipv4Repr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; ipv4::HEADER_LEN_MIN + payload.len()];
    Ipv4Repr {
        payload_len: payload.len(),
        ..header
    }
    .emit(&mut p);
    p[ipv4::HEADER_LEN_MIN..].copy_from_slice(payload);
    p
}

/// An IPv6 fixed header from `src` to `dst` of `next_header`: hop limit
/// 64, traffic class and flow label 0; the payload length is set by
/// [`ipv6()`].
pub fn ipv6_header(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8) -> Ipv6Repr {
    Ipv6Repr {
        src,
        dst,
        next_header,
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
}

/// An IPv6 packet: `header` (its payload length set to `payload`'s), then
/// `payload`.
pub fn ipv6(header: Ipv6Repr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; ipv6::HEADER_LEN + payload.len()];
    Ipv6Repr {
        payload_len: payload.len(),
        ..header
    }
    .emit(&mut p);
    p[ipv6::HEADER_LEN..].copy_from_slice(payload);
    p
}

/// A TCP header from `src_port` to `dst_port`: no flags, sequence and
/// acknowledgement numbers 0, window 65535, no options, no payload (change
/// fields with `..`).
pub fn tcp_header(src_port: u16, dst_port: u16) -> TcpRepr<'static> {
    TcpRepr {
        src_port,
        dst_port,
        seq: 0,
        ack: 0,
        flags: 0,
        window: 65535,
        urgent: 0,
        options: &[],
        payload: &[],
    }
}

/// A TCP segment with its checksum over the pseudo-header of `src` → `dst`.
pub fn tcp(repr: &TcpRepr, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut t = vec![0u8; repr.buffer_len()];
    repr.emit(&mut t, src, dst);
    t
}

/// A UDP datagram with its checksum over the pseudo-header of `src` → `dst`.
pub fn udp(repr: &UdpRepr, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut u = vec![0u8; repr.buffer_len()];
    repr.emit(&mut u, src, dst);
    u
}

/// An ICMPv4 message with its checksum.
pub fn icmp(repr: &IcmpRepr) -> Vec<u8> {
    let mut m = vec![0u8; repr.buffer_len()];
    repr.emit(&mut m);
    m
}

/// An ICMPv6 message with its checksum over the pseudo-header of `src` →
/// `dst`.
pub fn icmpv6(repr: &Icmpv6Repr, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut m = vec![0u8; repr.buffer_len()];
    repr.emit(&mut m, src, dst);
    m
}

/// An ARP frame to `dst` from its sender's MAC (42 bytes: [`pad`] it for
/// the wire).
pub fn arp(dst: MacAddr, repr: &ArpRepr) -> Vec<u8> {
    let mut a = [0u8; super::arp::PACKET_LEN];
    repr.emit(&mut a);
    ethernet(dst, repr.sender_mac, ethertype::ARP, &a)
}
