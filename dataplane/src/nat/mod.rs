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
//! The `*6` functions (`v6.rs`) take the bytes from the IPv6 fixed header on
//! (`Ipv6Packet::new_checked`); the address and port rewrites find the
//! transport header past any extension headers (`wire::ipv6ext`), and leave
//! a later fragment's payload alone (only its addresses change: the
//! checksum that covers them is in the first fragment). TOA insertion
//! takes packets without extension headers only. IPv6 has no header
//! checksum, but TCP's, UDP's and ICMPv6's all cover the addresses through
//! the pseudo-header, so every address rewrite updates the one the packet
//! has. A UDP checksum of 0 is not allowed in IPv6 (RFC 8200 §8.1); one met
//! is left 0 (its receiver drops it, as it would have), and an updated one
//! that comes out 0 is written as 0xffff. Nothing here allocates.
//!
//! Every field is read and written through the `wire` views
//! (`new_unchecked` over the bytes the pipeline validated), never by raw
//! offsets.

#![forbid(unsafe_code)]

use std::net::Ipv4Addr;

use crate::wire::checksum::{crc32c_delta, update_inserted, update_u16, update_u32};
use crate::wire::icmp::IcmpPacket;
use crate::wire::ipv4::{protocol, Ipv4Packet};
use crate::wire::sctp::{self, SctpPacket};
use crate::wire::tcp::{self, TcpPacket};
use crate::wire::toa;
use crate::wire::udp::{self, UdpPacket};

mod v6;
pub mod xlat;

pub use v6::{insert_toa6, rewrite6, rewrite6_addr, rewrite6_quoted, toa6_fits, TOA6_LEN};

/// Which end of a packet a rewrite changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Src,
    Dst,
}

/// The bytes a TCP or UDP header needs to hold its checksum, if `proto` is
/// one of those (a quote cut short may not hold it).
#[inline]
fn l4_checksum_end(proto: u8) -> Option<usize> {
    match proto {
        protocol::TCP => Some(tcp::CHECKSUM_END),
        protocol::UDP => Some(udp::CHECKSUM_END),
        _ => None,
    }
}

/// `sum` updated for a word change from `old` to `new` (32 bits when
/// `wide`); UDP's "no checksum" stays so, and an updated UDP one that comes
/// out 0 is 0xffff.
#[inline]
fn updated(proto: u8, sum: u16, old: u32, new: u32, wide: bool) -> u16 {
    if proto == protocol::UDP && sum == 0 {
        return 0;
    }
    let sum = if wide {
        update_u32(sum, old, new)
    } else {
        update_u16(sum, old as u16, new as u16)
    };
    if proto == protocol::UDP && sum == 0 {
        0xffff
    } else {
        sum
    }
}

/// The checksum of the TCP or UDP header `l4` (`proto` one of those, `l4`
/// holding the checksum).
#[inline]
fn l4_checksum(proto: u8, l4: &[u8]) -> u16 {
    if proto == protocol::TCP {
        TcpPacket::new_unchecked(l4).checksum()
    } else {
        UdpPacket::new_unchecked(l4).checksum()
    }
}

#[inline]
fn set_l4_checksum(proto: u8, l4: &mut [u8], v: u16) {
    if proto == protocol::TCP {
        TcpPacket::new_unchecked(l4).set_checksum(v);
    } else {
        UdpPacket::new_unchecked(l4).set_checksum(v);
    }
}

/// Set the port of `end` of the TCP or UDP header `l4` (which holds the
/// ports; TCP's and UDP's lie alike) to `port`, returning the old one.
#[inline]
fn swap_port(l4: &mut [u8], end: End, port: u16) -> u16 {
    let mut u = UdpPacket::new_unchecked(l4);
    match end {
        End::Src => {
            let old = u.src_port();
            u.set_src_port(port);
            old
        }
        End::Dst => {
            let old = u.dst_port();
            u.set_dst_port(port);
            old
        }
    }
}

/// Set the port of `end` of the SCTP packet `l4` (exactly the packet: the
/// IP header's length bounds it) to `port` and update its CRC32c for the
/// change (`crc32c_delta`: a packet that came in with a bad CRC keeps a
/// bad one). SCTP's checksum does not cover the IP addresses. A buffer
/// shorter than the common header is left alone.
#[inline]
fn set_sctp_port(l4: &mut [u8], end: End, port: u16) {
    if l4.len() < sctp::HEADER_LEN {
        return;
    }
    let old = swap_port(l4, end, port);
    let at = match end {
        End::Src => 0,
        End::Dst => 2,
    };
    let delta = crc32c_delta(l4.len(), at, &old.to_be_bytes(), &port.to_be_bytes());
    let mut p = SctpPacket::new_unchecked(l4);
    let sum = p.checksum() ^ delta;
    p.set_checksum(sum);
}

/// Set the address of `end` of the IPv4 header to `addr` and update the
/// header checksum; returns the old address.
#[inline]
fn swap_addr(p: &mut Ipv4Packet<&mut [u8]>, end: End, addr: Ipv4Addr) -> u32 {
    let old = u32::from_be_bytes(match end {
        End::Src => p.src_raw(),
        End::Dst => p.dst_raw(),
    });
    match end {
        End::Src => p.set_src(addr),
        End::Dst => p.set_dst(addr),
    }
    let sum = update_u32(p.checksum(), old, u32::from(addr));
    p.set_checksum(sum);
    old
}

/// Rewrite the address (and, for TCP/UDP/SCTP, the port) of `end` of the
/// IPv4 packet `ip`, updating the header checksum and the transport
/// checksum (SCTP's CRC32c, over the packet the header's length bounds).
/// The transport header must be whole (the pipeline checked it); of a
/// later fragment only the address changes.
#[inline]
pub fn rewrite(ip: &mut [u8], end: End, addr: Ipv4Addr, port: u16) {
    let len = ip.len();
    let mut p = Ipv4Packet::new_unchecked(&mut *ip);
    let hl = p.header_len();
    let proto = p.protocol();
    let later_fragment = p.frag_offset() != 0;
    let total = usize::from(p.total_len()).min(len);
    let old_addr = swap_addr(&mut p, end, addr);
    if proto == protocol::SCTP && !later_fragment {
        set_sctp_port(&mut ip[hl.min(total)..total], end, port);
        return;
    }
    // A later fragment carries no transport header: the first one has the
    // ports and the checksum over the whole datagram.
    if l4_checksum_end(proto).is_none() || later_fragment {
        return;
    }
    let l4 = &mut ip[hl..];
    let sum = updated(
        proto,
        l4_checksum(proto, l4),
        old_addr,
        u32::from(addr),
        true,
    );
    let old_port = swap_port(l4, end, port);
    let sum = updated(proto, sum, u32::from(old_port), u32::from(port), false);
    set_l4_checksum(proto, l4, sum);
}

/// Rewrite only the address of `end` in the IPv4 header (ICMP's outer
/// header), updating the header checksum.
#[inline]
pub fn rewrite_addr(ip: &mut [u8], end: End, addr: Ipv4Addr) {
    swap_addr(&mut Ipv4Packet::new_unchecked(ip), end, addr);
}

/// In an ICMP error (`ip` from its outer IPv4 header on, `quote_at` the
/// offset of the quoted IPv4 header, which must hold its ports), rewrite
/// the quoted packet's `end` to (`addr`, `port`): its header checksum is
/// updated, and so is its transport checksum when the quote holds it. The
/// ICMP checksum is then recomputed over the message (an error path, where
/// the quote's length is bounded by the packet).
pub fn rewrite_quoted(ip: &mut [u8], quote_at: usize, end: End, addr: Ipv4Addr, port: u16) {
    let outer = Ipv4Packet::new_unchecked(&*ip);
    let total = usize::from(outer.total_len()).min(ip.len());
    let icmp_at = outer.header_len();
    {
        let q = &mut ip[quote_at..total];
        let mut qp = Ipv4Packet::new_unchecked(&mut *q);
        let qhl = qp.header_len();
        let proto = qp.protocol();
        let old_addr = swap_addr(&mut qp, end, addr);
        // SCTP's CRC32c covers its whole packet, which a quote seldom
        // holds: its ports change, its checksum stays (as IPVS does).
        if matches!(proto, protocol::TCP | protocol::UDP | protocol::SCTP) {
            let l4 = &mut q[qhl..];
            let old_port = swap_port(l4, end, port);
            // The quoted transport checksum, when quoted, is kept true too.
            if l4_checksum_end(proto).is_some_and(|e| e <= l4.len()) {
                let sum = l4_checksum(proto, l4);
                let sum = updated(proto, sum, old_addr, u32::from(addr), true);
                let sum = updated(proto, sum, u32::from(old_port), u32::from(port), false);
                set_l4_checksum(proto, l4, sum);
            }
        }
    }
    IcmpPacket::new_unchecked(&mut ip[icmp_at..total]).fill_checksum();
}

/// The TCP option that carries the client's address to a FullNAT real
/// server, as Alibaba's LVS and DPVS define it ("TOA", `wire::toa`): kind
/// 254, length 8, the client's port, then its IPv4 address, both in
/// network order.
pub const TOA_KIND: u8 = toa::KIND;
pub const TOA_LEN: usize = toa::LEN_V4;

/// Whether a TOA option fits the TCP header of the IPv4 packet `ip`.
pub fn toa_fits(ip: &[u8]) -> bool {
    let hl = Ipv4Packet::new_unchecked(ip).header_len();
    let thl = TcpPacket::new_unchecked(&ip[hl..]).header_len();
    thl + TOA_LEN <= tcp::HEADER_LEN_MAX
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
    let p = Ipv4Packet::new_unchecked(&*ip);
    let hl = p.header_len();
    let total = usize::from(p.total_len());
    let seg = &mut ip[hl..];
    let mut sum = TcpPacket::new_unchecked(&*seg).checksum();
    if clamp_mss {
        sum = lower_mss(seg, TOA_LEN as u16, sum);
    }
    let option = toa::option_v4(caddr, cport);
    sum = append_option(seg, total - hl, &option, sum);
    TcpPacket::new_unchecked(seg).set_checksum(sum);
    let mut p = Ipv4Packet::new_unchecked(ip);
    let new_total = (total + TOA_LEN) as u16;
    p.set_total_len(new_total);
    let ip_sum = update_u16(p.checksum(), total as u16, new_total);
    p.set_checksum(ip_sum);
}

/// Lower an MSS option of the TCP header at the start of `seg` by `by`,
/// returning the TCP checksum `sum` updated for it. The walk stops at the
/// end-of-options, at a malformed option and at the header's end.
pub(crate) fn lower_mss(seg: &mut [u8], by: u16, mut sum: u16) -> u16 {
    let mut t = TcpPacket::new_unchecked(seg);
    tcp::map_mss(t.options_mut(), |mss| {
        let lowered = mss.saturating_sub(by);
        sum = update_u16(sum, mss, lowered);
        lowered
    });
    sum
}

/// Insert `option` (a whole number of 32-bit words) right after the
/// 20-byte base of the TCP header at the start of `seg`, a segment of
/// `seg_len` bytes, where Alibaba's LVS and DPVS put TOA (a real server's
/// TOA module, like the kernel's option walk, stops at an end-of-options,
/// so after the existing options it could go unseen), moving the other
/// options and the payload back by its length (`seg` must have the room),
/// and raise the data offset. Returns the TCP checksum `sum` updated for the option's
/// words, the data offset and the pseudo-header's TCP length, which grows
/// by the option's length; the IP header's length field is the caller's.
fn append_option(seg: &mut [u8], seg_len: usize, option: &[u8], mut sum: u16) -> u16 {
    debug_assert_eq!(option.len() % 4, 0);
    let mut t = TcpPacket::new_unchecked(seg);
    let thl = t.header_len();
    let old_word = t.offset_flags_word();
    let rest = t.after_fixed_header_mut();
    rest.copy_within(..seg_len - tcp::HEADER_LEN_MIN, option.len());
    rest[..option.len()].copy_from_slice(option);
    sum = update_inserted(sum, option);
    t.set_header_len(thl + option.len());
    sum = update_u16(sum, old_word, t.offset_flags_word());
    let tcp_len = seg_len as u16;
    update_u16(sum, tcp_len, tcp_len + option.len() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{self, combine, pseudo_v4, sum};
    use crate::wire::{get_u16, get_u32, set_u16};
    use proptest::prelude::*;

    /// Where the transport checksum of `proto` lies in its header (the
    /// tests' own table, not the code's).
    fn l4_checksum_at(proto: u8) -> Option<usize> {
        match proto {
            protocol::TCP => Some(16),
            protocol::UDP => Some(6),
            _ => None,
        }
    }

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
    pub(super) fn same_sum(a: u16, b: u16) -> bool {
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
}
