//! The IPv6 rewrites (the module doc of `nat` says what they take and
//! keep): addresses and ports over the pseudo-header's checksums, the quoted
//! packet of an ICMPv6 error, and DPVS's IPv6 TOA option.

use std::net::Ipv6Addr;

use crate::wire::checksum::update_addr6;
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv4::protocol;
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::ipv6ext;
use crate::wire::tcp::{self, TcpPacket};
use crate::wire::toa;
use crate::wire::udp;

use super::{
    append_option, l4_checksum, l4_checksum_end, lower_mss, set_l4_checksum, set_sctp_port,
    swap_port, updated, End,
};

/// The bytes the header of the transport `next_header` needs to hold its
/// checksum, if it has one that covers the IPv6 pseudo-header.
#[inline]
fn l4_checksum6_end(next_header: u8) -> Option<usize> {
    match next_header {
        protocol::TCP => Some(tcp::CHECKSUM_END),
        protocol::UDP => Some(udp::CHECKSUM_END),
        protocol::ICMPV6 => Some(icmpv6::CHECKSUM_END),
        _ => None,
    }
}

/// The upper layer of the IPv6 packet at the start of `b`: its protocol
/// and where its header starts, past any extension headers; `None` for a
/// later fragment (its upper-layer header, and the checksum that covers
/// the addresses, are in the first fragment) or a chain that cannot be
/// walked within `b` (a quote cut short).
#[inline]
fn upper6(b: &[u8]) -> Option<(u8, usize)> {
    let c = ipv6ext::walk(b).ok()?;
    if c.frag.is_some_and(|f| f.offset != 0) {
        return None;
    }
    Some((c.proto, c.offset))
}

/// Set the address of `end` of the IPv6 header at the start of `b` to
/// `addr`, and update the checksum of its TCP, UDP or ICMPv6 header (after
/// the 40 bytes and any extension headers) for it, when `b` holds that
/// checksum.
#[inline]
fn set_addr6(b: &mut [u8], end: End, addr: Ipv6Addr) {
    let upper = upper6(b);
    let mut p = Ipv6Packet::new_unchecked(&mut *b);
    let old = match end {
        End::Src => p.src_raw(),
        End::Dst => p.dst_raw(),
    };
    match end {
        End::Src => p.set_src(addr),
        End::Dst => p.set_dst(addr),
    }
    let Some((nh, at)) = upper else {
        return;
    };
    let l4 = &mut b[at..];
    if l4_checksum6_end(nh).is_none_or(|e| e > l4.len()) {
        return;
    }
    let old_sum = if nh == protocol::ICMPV6 {
        Icmpv6Packet::new_unchecked(&*l4).checksum()
    } else {
        l4_checksum(nh, l4)
    };
    if nh == protocol::UDP && old_sum == 0 {
        return;
    }
    let mut sum = update_addr6(old_sum, old, addr.octets());
    if nh == protocol::UDP && sum == 0 {
        sum = 0xffff;
    }
    if nh == protocol::ICMPV6 {
        Icmpv6Packet::new_unchecked(l4).set_checksum(sum);
    } else {
        set_l4_checksum(nh, l4, sum);
    }
}

/// Set the port of `end` of the TCP, UDP or SCTP header after the IPv6 header at
/// the start of `b` (which must hold the ports) to `port`, and update the
/// transport checksum for it when `b` holds it. Other next headers have no
/// ports and are left alone.
#[inline]
fn set_port6(b: &mut [u8], end: End, port: u16) {
    let Some((nh, at)) = upper6(b) else {
        return;
    };
    if !matches!(nh, protocol::TCP | protocol::UDP | protocol::SCTP) || b.len() < at + 4 {
        return;
    }
    if nh == protocol::SCTP {
        // Its CRC32c covers the whole SCTP packet: updated when `b` holds
        // it all (a quote seldom does: then only the port changes).
        let stop = ipv6::HEADER_LEN + usize::from(Ipv6Packet::new_unchecked(&*b).payload_len());
        if stop <= b.len() && at <= stop {
            set_sctp_port(&mut b[at..stop], end, port);
        } else {
            swap_port(&mut b[at..], end, port);
        }
        return;
    }
    let l4 = &mut b[at..];
    let old = swap_port(l4, end, port);
    if l4_checksum_end(nh).is_some_and(|e| e <= l4.len()) {
        let sum = updated(
            nh,
            l4_checksum(nh, l4),
            u32::from(old),
            u32::from(port),
            false,
        );
        set_l4_checksum(nh, l4, sum);
    }
}

/// Rewrite the address (and, for TCP/UDP, the port) of `end` of the IPv6
/// packet `ip`, updating the transport checksum: TCP's, UDP's, or for
/// ICMPv6 (no port) its checksum, which covers the addresses too. IPv6 has
/// no header checksum. The transport header must be whole.
#[inline]
pub fn rewrite6(ip: &mut [u8], end: End, addr: Ipv6Addr, port: u16) {
    set_addr6(ip, end, addr);
    set_port6(ip, end, port);
}

/// Rewrite only the address of `end` of the IPv6 packet `ip` (an ICMPv6
/// message's outer header). Every checksum over the pseudo-header is kept
/// true: ICMPv6's, and TCP's or UDP's if the packet is one of those (unlike
/// IPv4's [`super::rewrite_addr`], which only has its header checksum to mind).
/// The transport header must be whole.
#[inline]
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
    let outer = Ipv6Packet::new_unchecked(&*ip);
    let total = (ipv6::HEADER_LEN + usize::from(outer.payload_len())).min(ip.len());
    let (src, dst) = (outer.src(), outer.dst());
    {
        let q = &mut ip[quote_at..total];
        set_addr6(q, end, addr);
        set_port6(q, end, port);
    }
    Icmpv6Packet::new_unchecked(&mut ip[ipv6::HEADER_LEN..total]).fill_checksum(src, dst);
}

/// The IPv6 TOA option, as DPVS defines it: kind [`toa::KIND`], length 20,
/// the client's port, then its 16-byte IPv6 address, in network order.
pub const TOA6_LEN: usize = toa::LEN_V6;

/// Whether an IPv6 TOA option fits the TCP header of the IPv6 packet `ip`
/// (and its payload length stays below 64 KiB).
pub fn toa6_fits(ip: &[u8]) -> bool {
    let thl = TcpPacket::new_unchecked(&ip[ipv6::HEADER_LEN..]).header_len();
    let payload = usize::from(Ipv6Packet::new_unchecked(ip).payload_len());
    thl + TOA6_LEN <= tcp::HEADER_LEN_MAX && payload + TOA6_LEN <= usize::from(u16::MAX)
}

/// Insert an IPv6 TOA option carrying (`caddr`, `cport`) into the TCP header
/// of the IPv6 packet `ip` (TCP right after the fixed header), moving the
/// payload back by [`TOA6_LEN`]: `ip` must hold the packet (40 bytes and
/// its payload length) plus `TOA6_LEN` spare bytes, and the option must
/// fit ([`toa6_fits`]). With `clamp_mss`, an MSS option is lowered by the
/// same 20 bytes. The payload length, the data offset and the TCP checksum
/// (with the pseudo-header's length) are updated incrementally.
pub fn insert_toa6(ip: &mut [u8], caddr: Ipv6Addr, cport: u16, clamp_mss: bool) {
    let payload = usize::from(Ipv6Packet::new_unchecked(&*ip).payload_len());
    let seg = &mut ip[ipv6::HEADER_LEN..];
    let mut sum = TcpPacket::new_unchecked(&*seg).checksum();
    if clamp_mss {
        sum = lower_mss(seg, TOA6_LEN as u16, sum);
    }
    let option = toa::option_v6(caddr, cport);
    // Below 64 KiB (toa6_fits), the pseudo-header length's high word stays 0.
    sum = append_option(seg, payload, &option, sum);
    TcpPacket::new_unchecked(seg).set_checksum(sum);
    Ipv6Packet::new_unchecked(ip).set_payload_len((payload + TOA6_LEN) as u16);
}

#[cfg(test)]
mod tests {
    use super::super::tests::same_sum;
    use super::*;
    use crate::wire::checksum;
    use crate::wire::{get_u16, set_u16};
    use proptest::prelude::*;

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
            prop_assert_eq!(&p[at..at + 2], &[toa::KIND, 20]);
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
