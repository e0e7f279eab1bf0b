//! Address and port rewrites of IPv4 packets for NAT and FullNAT, with
//! incremental checksum updates (RFC 1624, IPVS's `ip_vs_check_diff*`).
//!
//! Contract: every function takes the bytes from the IPv4 header on, already
//! validated by the pipeline (`Ipv4Packet::new_checked` and the TCP/UDP view
//! over `[header_len..total_len]`), and never panics on such bytes. A UDP
//! checksum of 0 ("none", RFC 768) stays 0; an updated one that comes out 0
//! is written as 0xffff. ICMP has no pseudo-header: its checksum does not
//! cover the IP addresses.

use std::net::Ipv4Addr;

use crate::wire::checksum::{self, update_u16, update_u32};
use crate::wire::ipv4::protocol;
use crate::wire::{get_u16, get_u32, set_u16, set_u32};

/// Which end of a packet a rewrite changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Src,
    Dst,
}

impl End {
    #[inline]
    fn addr_at(self) -> usize {
        match self {
            End::Src => 12,
            End::Dst => 16,
        }
    }

    #[inline]
    fn port_at(self) -> usize {
        match self {
            End::Src => 0,
            End::Dst => 2,
        }
    }
}

/// Where the transport checksum of `proto` lies in its header, if it has one
/// that covers the pseudo-header.
#[inline]
fn l4_checksum_at(proto: u8) -> Option<usize> {
    match proto {
        protocol::TCP => Some(16),
        protocol::UDP => Some(6),
        _ => None,
    }
}

/// Update the transport checksum at `l4 + at` for a word change; UDP's
/// "no checksum" stays so.
#[inline]
fn fix_l4(b: &mut [u8], proto: u8, at: usize, old: u32, new: u32, wide: bool) {
    let old_sum = get_u16(b, at);
    if proto == protocol::UDP && old_sum == 0 {
        return;
    }
    let mut sum = if wide {
        update_u32(old_sum, old, new)
    } else {
        update_u16(old_sum, old as u16, new as u16)
    };
    if proto == protocol::UDP && sum == 0 {
        sum = 0xffff;
    }
    set_u16(b, at, sum);
}

/// Rewrite the address (and, for TCP/UDP, the port) of `end` of the IPv4
/// packet `ip`, updating the header checksum and the transport checksum.
/// The transport header must be whole (the pipeline checked it).
pub fn rewrite(ip: &mut [u8], end: End, addr: Ipv4Addr, port: u16) {
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let proto = ip[9];
    let at = end.addr_at();
    let old_addr = get_u32(ip, at);
    let new_addr = u32::from(addr);
    set_u32(ip, at, new_addr);
    let ip_sum = update_u32(get_u16(ip, 10), old_addr, new_addr);
    set_u16(ip, 10, ip_sum);
    let Some(sum_at) = l4_checksum_at(proto) else {
        return;
    };
    let sum_at = hl + sum_at;
    fix_l4(ip, proto, sum_at, old_addr, new_addr, true);
    let port_at = hl + end.port_at();
    let old_port = get_u16(ip, port_at);
    set_u16(ip, port_at, port);
    fix_l4(
        ip,
        proto,
        sum_at,
        u32::from(old_port),
        u32::from(port),
        false,
    );
}

/// Rewrite only the address of `end` in the IPv4 header (ICMP's outer
/// header), updating the header checksum.
pub fn rewrite_addr(ip: &mut [u8], end: End, addr: Ipv4Addr) {
    let at = end.addr_at();
    let old_addr = get_u32(ip, at);
    let new_addr = u32::from(addr);
    set_u32(ip, at, new_addr);
    let ip_sum = update_u32(get_u16(ip, 10), old_addr, new_addr);
    set_u16(ip, 10, ip_sum);
}

/// In an ICMP error (`ip` from its outer IPv4 header on, `quote_at` the
/// offset of the quoted IPv4 header, which must hold its ports), rewrite
/// the quoted packet's `end` to (`addr`, `port`): its header checksum is
/// updated, and so is its transport checksum when the quote holds it. The
/// ICMP checksum is then recomputed over the message (an error path, where
/// the quote's length is bounded by the packet).
pub fn rewrite_quoted(ip: &mut [u8], quote_at: usize, end: End, addr: Ipv4Addr, port: u16) {
    let total = usize::from(get_u16(ip, 2)).min(ip.len());
    let icmp_at = usize::from(ip[0] & 0x0f) * 4;
    {
        let q = &mut ip[quote_at..total];
        let qhl = usize::from(q[0] & 0x0f) * 4;
        let proto = q[9];
        let at = end.addr_at();
        let old_addr = get_u32(q, at);
        let new_addr = u32::from(addr);
        set_u32(q, at, new_addr);
        let q_sum = update_u32(get_u16(q, 10), old_addr, new_addr);
        set_u16(q, 10, q_sum);
        if matches!(proto, protocol::TCP | protocol::UDP) {
            let port_at = qhl + end.port_at();
            let old_port = get_u16(q, port_at);
            set_u16(q, port_at, port);
            // The quoted transport checksum, when quoted, is kept true too.
            if let Some(sum_at) = l4_checksum_at(proto).map(|s| qhl + s) {
                if sum_at + 2 <= q.len() {
                    fix_l4(q, proto, sum_at, old_addr, new_addr, true);
                    fix_l4(
                        q,
                        proto,
                        sum_at,
                        u32::from(old_port),
                        u32::from(port),
                        false,
                    );
                }
            }
        }
    }
    set_u16(ip, icmp_at + 2, 0);
    let sum = checksum::checksum(&ip[icmp_at..total]);
    set_u16(ip, icmp_at + 2, sum);
}

/// The TCP option that carries the client's address to a FullNAT real
/// server, as Alibaba's LVS and DPVS define it ("TOA"): kind 254, length 8,
/// the client's port, then its IPv4 address, both in network order.
pub const TOA_KIND: u8 = 254;
pub const TOA_LEN: usize = 8;

/// The largest TCP header (data offset 15).
const TCP_HEADER_MAX: usize = 60;

/// Whether a TOA option fits the TCP header of the IPv4 packet `ip`.
pub fn toa_fits(ip: &[u8]) -> bool {
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let thl = usize::from(ip[hl + 12] >> 4) * 4;
    thl + TOA_LEN <= TCP_HEADER_MAX
}

/// Append a TOA option carrying (`caddr`, `cport`) to the TCP header of the
/// IPv4 packet `ip`, moving the payload back by [`TOA_LEN`]: `ip` must hold
/// the packet (its total length) plus `TOA_LEN` spare bytes, and the option
/// must fit ([`toa_fits`]). With `clamp_mss`, an MSS option is lowered by
/// the same 8 bytes, so the real server's segments leave room for it. The
/// IP total length, the data offset and both checksums are updated
/// incrementally.
pub fn insert_toa(ip: &mut [u8], caddr: Ipv4Addr, cport: u16, clamp_mss: bool) {
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(get_u16(ip, 2));
    let l4 = hl;
    let thl = usize::from(ip[l4 + 12] >> 4) * 4;
    let sum_at = l4 + 16;
    let mut sum = get_u16(ip, sum_at);
    if clamp_mss {
        let mut at = l4 + 20;
        while at < l4 + thl {
            match ip[at] {
                0 => break,
                1 => at += 1,
                kind => {
                    let len = ip.get(at + 1).map_or(0, |&l| usize::from(l));
                    if len < 2 || at + len > l4 + thl {
                        break;
                    }
                    if kind == 2 && len == 4 {
                        let mss = get_u16(ip, at + 2);
                        let lowered = mss.saturating_sub(TOA_LEN as u16);
                        set_u16(ip, at + 2, lowered);
                        sum = update_u16(sum, mss, lowered);
                    }
                    at += len;
                }
            }
        }
    }
    let opt_at = l4 + thl;
    ip.copy_within(opt_at..total, opt_at + TOA_LEN);
    let port = cport.to_be_bytes();
    let a = caddr.octets();
    let option = [
        TOA_KIND,
        TOA_LEN as u8,
        port[0],
        port[1],
        a[0],
        a[1],
        a[2],
        a[3],
    ];
    ip[opt_at..opt_at + TOA_LEN].copy_from_slice(&option);
    for w in option.chunks(2) {
        sum = update_u16(sum, 0, u16::from_be_bytes([w[0], w[1]]));
    }
    let old_word = get_u16(ip, l4 + 12);
    ip[l4 + 12] = (((thl + TOA_LEN) / 4) as u8) << 4 | (ip[l4 + 12] & 0x0f);
    sum = update_u16(sum, old_word, get_u16(ip, l4 + 12));
    // The pseudo-header's TCP length grows too.
    let tcp_len = (total - hl) as u16;
    sum = update_u16(sum, tcp_len, tcp_len + TOA_LEN as u16);
    set_u16(ip, sum_at, sum);
    let new_total = (total + TOA_LEN) as u16;
    set_u16(ip, 2, new_total);
    let ip_sum = update_u16(get_u16(ip, 10), total as u16, new_total);
    set_u16(ip, 10, ip_sum);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{combine, pseudo_v4, sum};
    use proptest::prelude::*;

    /// An IPv4 packet with a TCP or UDP header and `payload`, checksums
    /// computed from scratch.
    fn packet(proto: u8, src: [u8; 4], dst: [u8; 4], ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
        let l4_len = if proto == protocol::TCP { 20 } else { 8 } + payload.len();
        let mut p = vec![0u8; 20 + l4_len];
        p[0] = 0x45;
        set_u16(&mut p, 2, (20 + l4_len) as u16);
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        set_u16(&mut p, 20, ports.0);
        set_u16(&mut p, 22, ports.1);
        if proto == protocol::TCP {
            p[32] = 5 << 4;
            p[33] = 0x02;
        } else {
            set_u16(&mut p, 24, l4_len as u16);
        }
        let hdr = if proto == protocol::TCP { 40 } else { 28 };
        p[hdr..].copy_from_slice(payload);
        refill(&mut p);
        p
    }

    /// Recompute every checksum of `p` from scratch.
    fn refill(p: &mut [u8]) {
        set_u16(p, 10, 0);
        let s = checksum::checksum(&p[..20]);
        set_u16(p, 10, s);
        let proto = p[9];
        let at = 20 + l4_checksum_at(proto).unwrap();
        set_u16(p, at, 0);
        let src: [u8; 4] = p[12..16].try_into().unwrap();
        let dst: [u8; 4] = p[16..20].try_into().unwrap();
        let l4_len = (p.len() - 20) as u16;
        let mut c = !combine(&[pseudo_v4(src, dst, proto, l4_len), sum(&p[20..])]);
        if proto == protocol::UDP && c == 0 {
            c = 0xffff;
        }
        set_u16(p, at, c);
    }

    /// One's-complement equality (0x0000 and 0xffff are the same value).
    fn same_sum(a: u16, b: u16) -> bool {
        a == b || (a | b == 0xffff && (a == 0 || b == 0))
    }

    proptest! {
        /// A rewrite's incremental checksums equal a recomputation.
        #[test]
        fn rewrite_matches_recompute(
            tcp in any::<bool>(),
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
            ports in any::<(u16, u16)>(),
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            to_src in any::<bool>(),
            addr in any::<u32>(), port in any::<u16>(),
        ) {
            let proto = if tcp { protocol::TCP } else { protocol::UDP };
            let mut p = packet(proto, src, dst, ports, &payload);
            let end = if to_src { End::Src } else { End::Dst };
            rewrite(&mut p, end, Ipv4Addr::from(addr), port);
            let mut want = p.clone();
            refill(&mut want);
            prop_assert_eq!(&p[..10], &want[..10]);
            prop_assert!(same_sum(get_u16(&p, 10), get_u16(&want, 10)));
            let at = 20 + l4_checksum_at(proto).unwrap();
            prop_assert!(same_sum(get_u16(&p, at), get_u16(&want, at)),
                "l4 {:#06x} want {:#06x}", get_u16(&p, at), get_u16(&want, at));
            if proto == protocol::UDP {
                prop_assert_ne!(get_u16(&p, at), 0, "UDP checksum 0 means none");
            }
            let (a, pt) = if to_src { (12, 20) } else { (16, 22) };
            prop_assert_eq!(get_u32(&p, a), addr);
            prop_assert_eq!(get_u16(&p, pt), port);
        }
    }

    proptest! {
        /// TOA insertion's incremental checksums equal a recomputation, the
        /// option lands after the existing ones, and the payload follows.
        #[test]
        fn toa_matches_recompute(
            options in proptest::collection::vec(any::<u8>(), 0..10),
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            mss in 536u16..9000,
            caddr in any::<u32>(), cport in any::<u16>(),
        ) {
            // An MSS option, then NOPs and arbitrary words, padded to 4.
            let mut opts = vec![2, 4, (mss >> 8) as u8, mss as u8];
            opts.extend(options.iter().map(|_| 1u8));
            while opts.len() % 4 != 0 { opts.push(1); }
            let mut p = packet(protocol::TCP, [10, 0, 0, 1], [10, 0, 0, 2], (1000, 80), &[]);
            p.truncate(40);
            p.extend_from_slice(&opts);
            p.extend_from_slice(&payload);
            p[32] = (((20 + opts.len()) / 4) as u8) << 4;
            let len = p.len() as u16;
            set_u16(&mut p, 2, len);
            refill(&mut p);
            prop_assume!(toa_fits(&p));
            let before = p.clone();
            p.extend_from_slice(&[0; TOA_LEN]);
            insert_toa(&mut p, Ipv4Addr::from(caddr), cport, true);
            let mut want = p.clone();
            refill(&mut want);
            prop_assert!(same_sum(get_u16(&p, 10), get_u16(&want, 10)));
            prop_assert!(same_sum(get_u16(&p, 36), get_u16(&want, 36)),
                "tcp {:#06x} want {:#06x}", get_u16(&p, 36), get_u16(&want, 36));
            let thl = 20 + opts.len();
            prop_assert_eq!(usize::from(p[32] >> 4) * 4, thl + TOA_LEN);
            prop_assert_eq!(get_u16(&p, 2) as usize, before.len() + TOA_LEN);
            prop_assert_eq!(get_u16(&p, 42), mss - 8, "MSS lowered by 8");
            let at = 20 + thl;
            prop_assert_eq!(&p[at..at + 2], &[TOA_KIND, 8]);
            prop_assert_eq!(get_u16(&p, at + 2), cport);
            prop_assert_eq!(get_u32(&p, at + 4), caddr);
            prop_assert_eq!(&p[at + TOA_LEN..], &before[at..]);
        }
    }

    #[test]
    fn udp_without_checksum_stays_without() {
        let mut p = packet(
            protocol::UDP,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            (1000, 53),
            b"q",
        );
        set_u16(&mut p, 26, 0);
        rewrite(&mut p, End::Dst, Ipv4Addr::new(10, 0, 0, 9), 5353);
        assert_eq!(get_u16(&p, 26), 0);
        assert_eq!(
            checksum::checksum(&p[..20]),
            0,
            "IP header checksum verifies"
        );
    }

    #[test]
    fn quoted_rewrite_keeps_every_checksum_true() {
        // An ICMP port unreachable quoting a whole UDP datagram.
        let inner = packet(
            protocol::UDP,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            (1000, 53),
            b"abcd",
        );
        let mut p = vec![0u8; 20 + 8 + inner.len()];
        p[0] = 0x45;
        let len = p.len() as u16;
        set_u16(&mut p, 2, len);
        p[9] = protocol::ICMP;
        p[20] = 3;
        p[21] = 3;
        p[28..].copy_from_slice(&inner);
        rewrite_quoted(&mut p, 28, End::Dst, Ipv4Addr::new(10, 0, 0, 7), 8053);
        assert_eq!(checksum::checksum(&p[20..]), 0, "ICMP checksum verifies");
        let q = &p[28..];
        assert_eq!(
            checksum::checksum(&q[..20]),
            0,
            "quoted IP checksum verifies"
        );
        let mut want = q.to_vec();
        refill(&mut want);
        assert_eq!(q, &want[..], "quoted UDP checksum as recomputed");
        assert_eq!(get_u32(q, 16), u32::from(Ipv4Addr::new(10, 0, 0, 7)));
        assert_eq!(get_u16(q, 22), 8053);
    }
}
