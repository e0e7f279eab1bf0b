//! What the integration tests share: the lab's addresses and frame builders.
#![allow(dead_code)] // each test binary uses a part

use std::net::{Ipv4Addr, Ipv6Addr};

use rvs_dataplane::pipeline::VecFrame;
use rvs_dataplane::wire::arp::{op, ArpRepr};
use rvs_dataplane::wire::checksum;
use rvs_dataplane::wire::ethernet::{ethertype, EthernetRepr, MacAddr};
use rvs_dataplane::wire::ipv4::{protocol, Ipv4Repr};

pub mod director;

pub const LB_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
pub const CLI_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
pub const RS1_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
pub const RS2_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x12]);
pub const LB: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const CLI: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
pub const RS1: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 11);
pub const RS2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 12);

pub fn eth(dst: MacAddr, src: MacAddr, et: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    EthernetRepr {
        dst,
        src,
        ethertype: et,
    }
    .emit(&mut f);
    f.extend_from_slice(payload);
    f
}

pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut ip = vec![0u8; 20];
    Ipv4Repr {
        src,
        dst,
        protocol: proto,
        payload_len: l4.len(),
        ttl: 64,
        tos: 0,
        ident: 0x1234,
        dont_frag: true,
    }
    .emit(&mut ip);
    ip.extend_from_slice(l4);
    ip
}

pub fn tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    fl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = fl;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t.extend_from_slice(payload);
    let len = t.len() as u16;
    let c = !checksum::combine(&[
        checksum::pseudo_v4(src.octets(), dst.octets(), protocol::TCP, len),
        checksum::sum(&t),
    ]);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, protocol::TCP, &t)
}

pub fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    ipv4(src, dst, protocol::UDP, &u)
}

pub fn client_tcp(sport: u16, fl: u8) -> VecFrame {
    VecFrame(eth(
        LB_MAC,
        CLI_MAC,
        ethertype::IPV4,
        &tcp(CLI, VIP, sport, 80, fl, b""),
    ))
}

pub fn arp_request(target: Ipv4Addr) -> VecFrame {
    let mut a = vec![0u8; 28];
    ArpRepr {
        operation: op::REQUEST,
        sender_mac: CLI_MAC,
        sender_ip: CLI,
        target_mac: MacAddr::ZERO,
        target_ip: target,
    }
    .emit(&mut a);
    VecFrame(eth(MacAddr::BROADCAST, CLI_MAC, ethertype::ARP, &a))
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
    VecFrame(eth(
        LB_MAC,
        CLI_MAC,
        ethertype::IPV4,
        &tcp(src, dst, sport, dport, fl, b""),
    ))
}

pub fn udp_frame(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> VecFrame {
    VecFrame(eth(
        LB_MAC,
        CLI_MAC,
        ethertype::IPV4,
        &udp(src, dst, sport, dport, b"x"),
    ))
}

/// An IPv6 packet of `next` with `payload`.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, hops: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.push(next);
    p.push(hops);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// A transport segment's checksum over the IPv6 pseudo-header.
pub fn l4_sum(src: Ipv6Addr, dst: Ipv6Addr, next: u8, l4: &[u8]) -> u16 {
    !checksum::combine(&[
        checksum::pseudo_v6(src.octets(), dst.octets(), next, l4.len() as u32),
        checksum::sum(l4),
    ])
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
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = (((20 + options.len()) / 4) as u8) << 4;
    t[13] = fl;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t.extend_from_slice(options);
    t.extend_from_slice(payload);
    let c = l4_sum(src, dst, protocol::TCP, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ipv6(src, dst, protocol::TCP, 64, &t)
}
