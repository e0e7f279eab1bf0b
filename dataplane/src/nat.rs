//! Address and port rewrites of IPv4 and IPv6 packets for NAT and FullNAT,
//! with incremental checksum updates (RFC 1624, IPVS's `ip_vs_check_diff*`).
//!
//! Contract: every function takes the bytes from the IPv4 header on, already
//! validated by the pipeline (`Ipv4Packet::new_checked` and the TCP/UDP view
//! over `[header_len..total_len]`), and never panics on such bytes. A UDP
//! checksum of 0 ("none", RFC 768) stays 0; an updated one that comes out 0
//! is written as 0xffff. ICMP has no pseudo-header: its checksum does not
//! cover the IP addresses.
//!
//! The `*6` functions take the bytes from the IPv6 fixed header on
//! (`Ipv6Packet::new_checked`), with the transport header right after its
//! 40 bytes (extension headers are not walked) and whole. IPv6 has no header
//! checksum, but TCP's, UDP's and ICMPv6's all cover the addresses through
//! the pseudo-header, so every address rewrite updates the one the packet
//! has. A UDP checksum of 0 is not allowed in IPv6 (RFC 8200 §8.1); one met
//! is left 0 (its receiver drops it, as it would have), and an updated one
//! that comes out 0 is written as 0xffff. Nothing here allocates.

#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::checksum::{self, update_addr6, update_u16, update_u32};
use crate::wire::icmpv6::checksum6;
use crate::wire::ipv4::protocol;
use crate::wire::ipv6;
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
    fn addr6_at(self) -> usize {
        match self {
            End::Src => 8,
            End::Dst => 24,
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

/// Insert a TOA option carrying (`caddr`, `cport`) into the TCP header of
/// the IPv4 packet `ip`, after its 20-byte base, moving the other options
/// and the payload back by [`TOA_LEN`]: `ip` must hold the packet (its
/// total length) plus `TOA_LEN` spare bytes, and the option
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
        sum = lower_mss(ip, l4, thl, TOA_LEN as u16, sum);
    }
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
    sum = append_option(ip, l4, thl, total, &option, sum);
    set_u16(ip, sum_at, sum);
    let new_total = (total + TOA_LEN) as u16;
    set_u16(ip, 2, new_total);
    let ip_sum = update_u16(get_u16(ip, 10), total as u16, new_total);
    set_u16(ip, 10, ip_sum);
}

/// Lower an MSS option of the TCP header `ip[l4..l4 + thl]` by `by`,
/// returning the TCP checksum `sum` updated for it. The walk stops at the
/// end-of-options, at a malformed option and at the header's end.
pub(crate) fn lower_mss(ip: &mut [u8], l4: usize, thl: usize, by: u16, mut sum: u16) -> u16 {
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
                    let lowered = mss.saturating_sub(by);
                    set_u16(ip, at + 2, lowered);
                    sum = update_u16(sum, mss, lowered);
                }
                at += len;
            }
        }
    }
    sum
}

/// Insert `option` (a whole number of 32-bit words) right after the
/// 20-byte base of the TCP header at `ip[l4..l4 + thl]` of a packet ending
/// at `end`, where Alibaba's LVS and DPVS put TOA (a real server's TOA
/// module, like the kernel's option walk, stops at an end-of-options, so
/// after the existing options it could go unseen), moving the other
/// options and the payload back by its length (`ip` must have the room),
/// and raise the data offset. Returns the TCP checksum `sum` updated for the option's
/// words, the data offset and the pseudo-header's TCP length, which grows
/// by the option's length; the IP header's length field is the caller's.
fn append_option(
    ip: &mut [u8],
    l4: usize,
    thl: usize,
    end: usize,
    option: &[u8],
    mut sum: u16,
) -> u16 {
    debug_assert_eq!(option.len() % 4, 0);
    let opt_at = l4 + 20;
    ip.copy_within(opt_at..end, opt_at + option.len());
    ip[opt_at..opt_at + option.len()].copy_from_slice(option);
    for w in option.chunks_exact(2) {
        sum = update_u16(sum, 0, u16::from_be_bytes([w[0], w[1]]));
    }
    let old_word = get_u16(ip, l4 + 12);
    ip[l4 + 12] = (((thl + option.len()) / 4) as u8) << 4 | (ip[l4 + 12] & 0x0f);
    sum = update_u16(sum, old_word, get_u16(ip, l4 + 12));
    let tcp_len = (end - l4) as u16;
    update_u16(sum, tcp_len, tcp_len + option.len() as u16)
}

// IPv6.

/// Where the checksum of the transport `next_header` lies in its header, if
/// it has one that covers the IPv6 pseudo-header.
#[inline]
fn l4_checksum6_at(next_header: u8) -> Option<usize> {
    match next_header {
        protocol::TCP => Some(16),
        protocol::UDP => Some(6),
        protocol::ICMPV6 => Some(2),
        _ => None,
    }
}

#[inline]
fn get_addr6(b: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    a
}

/// Update the transport checksum at `at` for an IPv6 address change from
/// `old` to `new`; a UDP checksum of 0 stays so.
#[inline]
fn fix_l4_addr6(b: &mut [u8], proto: u8, at: usize, old: [u8; 16], new: [u8; 16]) {
    let old_sum = get_u16(b, at);
    if proto == protocol::UDP && old_sum == 0 {
        return;
    }
    let mut sum = update_addr6(old_sum, old, new);
    if proto == protocol::UDP && sum == 0 {
        sum = 0xffff;
    }
    set_u16(b, at, sum);
}

/// Set the address of `end` of the IPv6 header at the start of `b` to
/// `addr`, and update the checksum of its TCP, UDP or ICMPv6 header (right
/// after the 40 bytes) for it, when `b` holds that checksum.
#[inline]
fn set_addr6(b: &mut [u8], end: End, addr: Ipv6Addr) {
    let nh = b[6];
    let at = end.addr6_at();
    let old = get_addr6(b, at);
    let new = addr.octets();
    b[at..at + 16].copy_from_slice(&new);
    let sum_at = l4_checksum6_at(nh).map(|s| ipv6::HEADER_LEN + s);
    if let Some(sum_at) = sum_at.filter(|&s| s + 2 <= b.len()) {
        fix_l4_addr6(b, nh, sum_at, old, new);
    }
}

/// Set the port of `end` of the TCP or UDP header after the IPv6 header at
/// the start of `b` (which must hold the ports) to `port`, and update the
/// transport checksum for it when `b` holds it. Other next headers have no
/// ports and are left alone.
#[inline]
fn set_port6(b: &mut [u8], end: End, port: u16) {
    let nh = b[6];
    if !matches!(nh, protocol::TCP | protocol::UDP) {
        return;
    }
    let port_at = ipv6::HEADER_LEN + end.port_at();
    let old = get_u16(b, port_at);
    set_u16(b, port_at, port);
    let sum_at = l4_checksum_at(nh).map(|s| ipv6::HEADER_LEN + s);
    if let Some(sum_at) = sum_at.filter(|&s| s + 2 <= b.len()) {
        fix_l4(b, nh, sum_at, u32::from(old), u32::from(port), false);
    }
}

/// Rewrite the address (and, for TCP/UDP, the port) of `end` of the IPv6
/// packet `ip`, updating the transport checksum: TCP's, UDP's, or for
/// ICMPv6 (no port) its checksum, which covers the addresses too. IPv6 has
/// no header checksum. The transport header must be whole.
pub fn rewrite6(ip: &mut [u8], end: End, addr: Ipv6Addr, port: u16) {
    set_addr6(ip, end, addr);
    set_port6(ip, end, port);
}

/// Rewrite only the address of `end` of the IPv6 packet `ip` (an ICMPv6
/// message's outer header). Every checksum over the pseudo-header is kept
/// true: ICMPv6's, and TCP's or UDP's if the packet is one of those (unlike
/// IPv4's [`rewrite_addr`], which only has its header checksum to mind).
/// The transport header must be whole.
pub fn rewrite6_addr(ip: &mut [u8], end: End, addr: Ipv6Addr) {
    set_addr6(ip, end, addr);
}

/// In an ICMPv6 error (`ip` from its outer IPv6 header on, `quote_at` the
/// offset of the quoted IPv6 header, 48 when no extension headers come
/// between; the quote must hold that header, and for TCP/UDP its ports),
/// rewrite the quoted packet's `end` to (`addr`, `port`; no port for other
/// protocols): its transport checksum (TCP, UDP or ICMPv6) is updated when
/// the quote holds it (both bytes). The ICMPv6 checksum is then recomputed over the
/// message, bounded by the outer payload length, with the outer addresses'
/// pseudo-header (an error path, where the quote's length is bounded by the
/// packet). Rewrite the outer addresses before or after: both orders leave
/// the ICMPv6 checksum true.
pub fn rewrite6_quoted(ip: &mut [u8], quote_at: usize, end: End, addr: Ipv6Addr, port: u16) {
    let total = (ipv6::HEADER_LEN + usize::from(get_u16(ip, 4))).min(ip.len());
    let icmp_at = ipv6::HEADER_LEN;
    {
        let q = &mut ip[quote_at..total];
        set_addr6(q, end, addr);
        set_port6(q, end, port);
    }
    set_u16(ip, icmp_at + 2, 0);
    let src = Ipv6Addr::from(get_addr6(ip, End::Src.addr6_at()));
    let dst = Ipv6Addr::from(get_addr6(ip, End::Dst.addr6_at()));
    let sum = checksum6(src, dst, &ip[icmp_at..total]);
    set_u16(ip, icmp_at + 2, sum);
}

/// The IPv6 TOA option, as DPVS defines it: kind [`TOA_KIND`], length 20,
/// the client's port, then its 16-byte IPv6 address, in network order.
pub const TOA6_LEN: usize = 20;

/// Whether an IPv6 TOA option fits the TCP header of the IPv6 packet `ip`
/// (and its payload length stays below 64 KiB).
pub fn toa6_fits(ip: &[u8]) -> bool {
    let thl = usize::from(ip[ipv6::HEADER_LEN + 12] >> 4) * 4;
    let payload = usize::from(get_u16(ip, 4));
    thl + TOA6_LEN <= TCP_HEADER_MAX && payload + TOA6_LEN <= usize::from(u16::MAX)
}

/// Insert an IPv6 TOA option carrying (`caddr`, `cport`) into the TCP header
/// of the IPv6 packet `ip` (TCP right after the fixed header), moving the
/// payload back by [`TOA6_LEN`]: `ip` must hold the packet (40 bytes and
/// its payload length) plus `TOA6_LEN` spare bytes, and the option must
/// fit ([`toa6_fits`]). With `clamp_mss`, an MSS option is lowered by the
/// same 20 bytes. The payload length, the data offset and the TCP checksum
/// (with the pseudo-header's length) are updated incrementally.
pub fn insert_toa6(ip: &mut [u8], caddr: Ipv6Addr, cport: u16, clamp_mss: bool) {
    let l4 = ipv6::HEADER_LEN;
    let payload = usize::from(get_u16(ip, 4));
    let thl = usize::from(ip[l4 + 12] >> 4) * 4;
    let sum_at = l4 + 16;
    let mut sum = get_u16(ip, sum_at);
    if clamp_mss {
        sum = lower_mss(ip, l4, thl, TOA6_LEN as u16, sum);
    }
    let mut option = [0u8; TOA6_LEN];
    option[0] = TOA_KIND;
    option[1] = TOA6_LEN as u8;
    option[2..4].copy_from_slice(&cport.to_be_bytes());
    option[4..].copy_from_slice(&caddr.octets());
    // Below 64 KiB (toa6_fits), the pseudo-header length's high word stays 0.
    sum = append_option(ip, l4, thl, l4 + payload, &option, sum);
    set_u16(ip, sum_at, sum);
    set_u16(ip, 4, (payload + TOA6_LEN) as u16);
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
            prop_assert_eq!(get_u16(&p, 50), mss - 8, "MSS lowered by 8, after TOA");
            let at = 40;
            prop_assert_eq!(&p[at..at + 2], &[TOA_KIND, 8]);
            prop_assert_eq!(get_u16(&p, at + 2), cport);
            prop_assert_eq!(get_u32(&p, at + 4), caddr);
            // The other options after it (the MSS lowered), then the payload.
            prop_assert_eq!(&p[at + TOA_LEN + 4..], &before[at + 4..]);
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

    proptest! {
        /// A quote cut anywhere after the ports (routers quote the IP
        /// header and 8 bytes): the ICMP and the quoted IP checksums stay
        /// true, and the quoted transport checksum too when it is quoted.
        #[test]
        fn quoted_rewrite_of_any_cut(
            tcp in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..24),
            cut in 24usize..80,
            to_src in any::<bool>(),
            addr in any::<u32>(), port in any::<u16>(),
        ) {
            let proto = if tcp { protocol::TCP } else { protocol::UDP };
            let inner = packet(proto, [10, 0, 0, 1], [10, 0, 0, 2], (1000, 53), &payload);
            let cut = cut.min(inner.len());
            let mut p = vec![0u8; 20 + 8 + cut];
            p[0] = 0x45;
            let len = p.len() as u16;
            set_u16(&mut p, 2, len);
            p[9] = protocol::ICMP;
            p[20] = 3;
            p[28..].copy_from_slice(&inner[..cut]);
            let end = if to_src { End::Src } else { End::Dst };
            rewrite_quoted(&mut p, 28, end, Ipv4Addr::from(addr), port);
            prop_assert_eq!(checksum::checksum(&p[20..]), 0, "ICMP checksum verifies");
            prop_assert_eq!(checksum::checksum(&p[28..48]), 0, "quoted IP checksum verifies");
            let sum_at = 20 + l4_checksum_at(proto).unwrap();
            if cut == inner.len() && sum_at + 2 <= cut {
                let mut want = p[28..].to_vec();
                refill(&mut want);
                prop_assert!(same_sum(get_u16(&p[28..], sum_at), get_u16(&want, sum_at)));
            }
        }
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

    // IPv6.

    /// An IPv6 packet with a TCP, UDP or ICMPv6 (echo request, `ports` the
    /// identifier and sequence) header and `payload`, the transport checksum
    /// computed from scratch.
    fn packet6(nh: u8, src: [u8; 16], dst: [u8; 16], ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
        let hdr = match nh {
            protocol::TCP => 20,
            _ => 8,
        };
        let l4_len = hdr + payload.len();
        let mut p = vec![0u8; 40 + l4_len];
        p[0] = 0x60;
        set_u16(&mut p, 4, l4_len as u16);
        p[6] = nh;
        p[7] = 64;
        p[8..24].copy_from_slice(&src);
        p[24..40].copy_from_slice(&dst);
        match nh {
            protocol::TCP => {
                set_u16(&mut p, 40, ports.0);
                set_u16(&mut p, 42, ports.1);
                p[52] = 5 << 4;
                p[53] = 0x02;
            }
            protocol::UDP => {
                set_u16(&mut p, 40, ports.0);
                set_u16(&mut p, 42, ports.1);
                set_u16(&mut p, 44, l4_len as u16);
            }
            _ => {
                p[40] = 128;
                set_u16(&mut p, 44, ports.0);
                set_u16(&mut p, 46, ports.1);
            }
        }
        p[40 + hdr..].copy_from_slice(payload);
        refill6(&mut p);
        p
    }

    /// Where the transport checksum of an IPv6 packet lies (its own table,
    /// not the code's).
    fn sum_at6(nh: u8) -> usize {
        match nh {
            protocol::TCP => 56,
            protocol::UDP => 46,
            protocol::ICMPV6 => 42,
            _ => unreachable!("no such test packet"),
        }
    }

    /// The transport checksum of the IPv6 packet `p` (TCP, UDP or ICMPv6,
    /// the whole of it after the 40 bytes) from scratch: the pseudo-header
    /// spelled out byte by byte, then the transport bytes.
    fn transport_sum6(p: &[u8]) -> u16 {
        let nh = p[6];
        let at = sum_at6(nh);
        let mut all = Vec::new();
        all.extend_from_slice(&p[8..40]);
        all.extend_from_slice(&((p.len() - 40) as u32).to_be_bytes());
        all.extend_from_slice(&[0, 0, 0, nh]);
        let l4_at = all.len();
        all.extend_from_slice(&p[40..]);
        all[l4_at + at - 40..l4_at + at - 40 + 2].fill(0);
        let c = checksum::checksum(&all);
        if nh == protocol::UDP && c == 0 {
            0xffff
        } else {
            c
        }
    }

    /// Recompute the transport checksum of the IPv6 packet `p` from scratch.
    fn refill6(p: &mut [u8]) {
        let at = sum_at6(p[6]);
        let c = transport_sum6(p);
        set_u16(p, at, c);
    }

    fn next_header(n: u8) -> u8 {
        [protocol::TCP, protocol::UDP, protocol::ICMPV6][usize::from(n % 3)]
    }

    proptest! {
        /// An IPv6 rewrite's incremental checksum equals a recomputation.
        #[test]
        fn rewrite6_matches_recompute(
            nh in 0u8..3,
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
            ports in any::<(u16, u16)>(),
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            to_src in any::<bool>(),
            addr in any::<[u8; 16]>(), port in any::<u16>(),
        ) {
            let nh = next_header(nh);
            let mut p = packet6(nh, src, dst, ports, &payload);
            let before = p.clone();
            let end = if to_src { End::Src } else { End::Dst };
            rewrite6(&mut p, end, Ipv6Addr::from(addr), port);
            let at = sum_at6(nh);
            prop_assert!(same_sum(get_u16(&p, at), transport_sum6(&p)),
                "l4 {:#06x} want {:#06x}", get_u16(&p, at), transport_sum6(&p));
            if nh == protocol::UDP {
                prop_assert_ne!(get_u16(&p, at), 0, "UDP checksum 0 is invalid in IPv6");
            }
            prop_assert_eq!(&p[..8], &before[..8]);
            let (a, pt) = if to_src { (8, 40) } else { (24, 42) };
            let other = if to_src { 24 } else { 8 };
            prop_assert_eq!(&p[a..a + 16], &addr[..]);
            prop_assert_eq!(&p[other..other + 16], &before[other..other + 16]);
            if nh == protocol::ICMPV6 {
                prop_assert_eq!(&p[44..], &before[44..], "ICMPv6 has no ports");
            } else {
                prop_assert_eq!(get_u16(&p, pt), port);
            }
        }

        /// An address-only IPv6 rewrite keeps the pseudo-header checksums
        /// true and the ports as they were.
        #[test]
        fn rewrite6_addr_matches_recompute(
            nh in 0u8..3,
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
            ports in any::<(u16, u16)>(),
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            to_src in any::<bool>(),
            addr in any::<[u8; 16]>(),
        ) {
            let nh = next_header(nh);
            let mut p = packet6(nh, src, dst, ports, &payload);
            let before = p.clone();
            let end = if to_src { End::Src } else { End::Dst };
            rewrite6_addr(&mut p, end, Ipv6Addr::from(addr));
            let at = sum_at6(nh);
            prop_assert!(same_sum(get_u16(&p, at), transport_sum6(&p)),
                "l4 {:#06x} want {:#06x}", get_u16(&p, at), transport_sum6(&p));
            let a = if to_src { 8 } else { 24 };
            prop_assert_eq!(&p[a..a + 16], &addr[..]);
            let mut want = before.clone();
            want[a..a + 16].copy_from_slice(&addr);
            want[at..at + 2].copy_from_slice(&p[at..at + 2]);
            prop_assert_eq!(p, want, "nothing else changes");
        }

        /// IPv6 TOA insertion's incremental checksum equals a recomputation,
        /// the option lands after the existing ones, and the payload follows.
        #[test]
        fn toa6_matches_recompute(
            options in proptest::collection::vec(any::<u8>(), 0..10),
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            mss in 536u16..9000,
            caddr in any::<[u8; 16]>(), cport in any::<u16>(),
            clamp in any::<bool>(),
        ) {
            let mut opts = vec![2, 4, (mss >> 8) as u8, mss as u8];
            opts.extend(options.iter().map(|_| 1u8));
            while opts.len() % 4 != 0 { opts.push(1); }
            let mut p = packet6(protocol::TCP, [0x20; 16], [0x30; 16], (1000, 80), &[]);
            p.truncate(60);
            p.extend_from_slice(&opts);
            p.extend_from_slice(&payload);
            p[52] = (((20 + opts.len()) / 4) as u8) << 4;
            let len = (p.len() - 40) as u16;
            set_u16(&mut p, 4, len);
            refill6(&mut p);
            prop_assume!(toa6_fits(&p));
            let before = p.clone();
            p.extend_from_slice(&[0; TOA6_LEN]);
            insert_toa6(&mut p, Ipv6Addr::from(caddr), cport, clamp);
            prop_assert!(same_sum(get_u16(&p, 56), transport_sum6(&p)),
                "tcp {:#06x} want {:#06x}", get_u16(&p, 56), transport_sum6(&p));
            let thl = 20 + opts.len();
            prop_assert_eq!(usize::from(p[52] >> 4) * 4, thl + TOA6_LEN);
            prop_assert_eq!(usize::from(get_u16(&p, 4)) + 40, before.len() + TOA6_LEN);
            let want_mss = if clamp { mss - 20 } else { mss };
            prop_assert_eq!(get_u16(&p, 82), want_mss, "MSS lowered by 20 when asked");
            let at = 60;
            prop_assert_eq!(&p[at..at + 2], &[TOA_KIND, 20]);
            prop_assert_eq!(get_u16(&p, at + 2), cport);
            prop_assert_eq!(&p[at + 4..at + 20], &caddr[..]);
            // The other options after it (the MSS maybe lowered), then the
            // payload.
            prop_assert_eq!(&p[at + TOA6_LEN + 4..], &before[at + 4..]);
            prop_assert_eq!(&p[..4], &before[..4]);
            prop_assert_eq!(&p[6..52], &before[6..52]);
        }

        /// An ICMPv6 error's quoted rewrite leaves every checksum true: the
        /// ICMPv6 one over the (possibly padded) message, and the quoted
        /// transport one when the quote holds it, whatever its length.
        #[test]
        fn quoted_rewrite6_matches_recompute(
            nh in 0u8..3,
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            cut in any::<prop::sample::Index>(),
            padding in proptest::collection::vec(any::<u8>(), 0..8),
            outer in any::<([u8; 16], [u8; 16])>(),
            inner in any::<([u8; 16], [u8; 16])>(),
            to_src in any::<bool>(),
            addr in any::<[u8; 16]>(), port in any::<u16>(),
        ) {
            let nh = next_header(nh);
            let full = packet6(nh, inner.0, inner.1, (1000, 53), &payload);
            // The quote holds the quoted header and the ports at least.
            let quote_len = 44 + cut.index(full.len() - 44 + 1);
            let mut p = vec![0u8; 48];
            p[0] = 0x60;
            set_u16(&mut p, 4, (8 + quote_len) as u16);
            p[6] = protocol::ICMPV6;
            p[7] = 64;
            p[8..24].copy_from_slice(&outer.0);
            p[24..40].copy_from_slice(&outer.1);
            p[40] = crate::wire::icmpv6::kind::DEST_UNREACHABLE;
            p[41] = 4;
            p.extend_from_slice(&full[..quote_len]);
            refill6(&mut p);
            p.extend_from_slice(&padding);
            let end = if to_src { End::Src } else { End::Dst };
            rewrite6_quoted(&mut p, 48, end, Ipv6Addr::from(addr), port);

            let message = &p[..48 + quote_len];
            prop_assert!(same_sum(get_u16(message, 42), transport_sum6(message)),
                "ICMPv6 checksum");
            prop_assert_eq!(&p[48 + quote_len..], &padding[..], "padding untouched");

            // What the quote should now be: the whole quoted packet
            // rewritten and summed from scratch, cut to the quote.
            let mut want = full.clone();
            let (a, pt) = if to_src { (8, 40) } else { (24, 42) };
            want[a..a + 16].copy_from_slice(&addr);
            if nh != protocol::ICMPV6 {
                set_u16(&mut want, pt, port);
            }
            refill6(&mut want);
            let q = &p[48..48 + quote_len];
            let sum_at = sum_at6(nh);
            let mut q_cmp = q.to_vec();
            if sum_at + 2 <= quote_len {
                prop_assert!(same_sum(get_u16(q, sum_at), get_u16(&want, sum_at)),
                    "quoted checksum {:#06x} want {:#06x}", get_u16(q, sum_at), get_u16(&want, sum_at));
                q_cmp[sum_at..sum_at + 2].copy_from_slice(&want[sum_at..sum_at + 2]);
            } else if sum_at < quote_len {
                // Half a checksum quoted is left as it was.
                q_cmp[sum_at] = want[sum_at];
            }
            prop_assert_eq!(&q_cmp[..], &want[..quote_len]);
        }
    }

    #[test]
    fn udp6_zero_checksum_stays_zero() {
        let mut p = packet6(protocol::UDP, [0x20; 16], [0x30; 16], (1000, 53), b"q");
        set_u16(&mut p, 46, 0);
        rewrite6(&mut p, End::Dst, "2001:db8::9".parse().unwrap(), 5353);
        assert_eq!(get_u16(&p, 46), 0);
        assert_eq!(get_u16(&p, 42), 5353);
    }

    #[test]
    fn toa6_needs_room() {
        let mut p = packet6(protocol::TCP, [0x20; 16], [0x30; 16], (1000, 80), &[]);
        assert!(toa6_fits(&p));
        p[52] = 11 << 4; // 44 bytes: 64 with the option
        assert!(!toa6_fits(&p));
        p[52] = 10 << 4;
        assert!(toa6_fits(&p));
        set_u16(&mut p, 4, u16::MAX - 19);
        assert!(!toa6_fits(&p), "the payload length would overflow");
    }

    #[test]
    fn quoted_rewrite6_keeps_every_checksum_true() {
        use crate::wire::icmpv6::{self, Icmpv6Packet};
        // A port unreachable from 2001:db8::2 to 2001:db8::1, quoting a
        // whole UDP datagram 2001:db8::1 -> 2001:db8::2.
        let c: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let r: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let vip: Ipv6Addr = "2001:db8::7".parse().unwrap();
        let inner = packet6(protocol::UDP, c.octets(), r.octets(), (1000, 53), b"abcd");
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        set_u16(&mut p, 4, (8 + inner.len()) as u16);
        p[6] = protocol::ICMPV6;
        p[7] = 64;
        p[8..24].copy_from_slice(&r.octets());
        p[24..40].copy_from_slice(&c.octets());
        p[40] = icmpv6::kind::DEST_UNREACHABLE;
        p[41] = 4;
        p.extend_from_slice(&inner);
        Icmpv6Packet::new_checked(&mut p[40..])
            .unwrap()
            .fill_checksum(r, c);
        // Translate it as the director would: the real server's address
        // becomes the VIP's, inside and out.
        rewrite6_quoted(&mut p, 48, End::Dst, vip, 8053);
        rewrite6_addr(&mut p, End::Src, vip);
        let icmp = Icmpv6Packet::new_checked(&p[40..]).unwrap();
        assert!(icmp.is_error());
        assert!(icmp.verify_checksum(vip, c), "ICMPv6 checksum verifies");
        let q = &p[48..];
        assert_eq!(&q[24..40], &vip.octets()[..]);
        assert_eq!(get_u16(q, 42), 8053);
        let mut want = q.to_vec();
        refill6(&mut want);
        assert_eq!(q, &want[..], "quoted UDP checksum as recomputed");
    }
}
