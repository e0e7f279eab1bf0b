//! PROXY protocol v2 for FullNAT services (`--proxy-protocol v2`), the
//! alternative to the TOA option for real servers that speak it (nginx's
//! `listen ... proxy_protocol`, HAProxy's `accept-proxy`).
//!
//! The director puts a PROXY v2 header (the client's and the VIP's
//! addresses and ports) at the start of the client's byte stream toward
//! the real server, in front of the payload of the client's first data
//! segment. From then on the two ends count the stream differently by the
//! header's length `L`: client segments after the first data go to the
//! real server with `seq + L`, and the real server's acknowledgements (and
//! SACK edges) beyond the header go to the client with `- L`.
//!
//! Contract: the client's first data segment starts at `isn + 1` (its SYN's
//! sequence number plus one) and is the only one that gets the header, each
//! time it is sent: a retransmission is fixed up again, so a lost header is
//! sent again with the data it precedes. Pure acknowledgements and a FIN
//! before any data keep their sequence number (nothing precedes them). The
//! real server's SYN-ACK has its MSS lowered by `L`, so the client's first
//! segment plus the header still fits the real server's segment size.
//!
//! Every function takes the packet from its IP header on, already validated
//! (IPv4 or IPv6 fixed header, a whole TCP header), and updates lengths and
//! checksums incrementally, through the `wire` views; nothing allocates.

#![forbid(unsafe_code)]

use std::net::IpAddr;

use crate::nat;
use crate::wire::checksum::{update_inserted, update_u16, update_u32};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::proxy_v2;
use crate::wire::tcp::{self, TcpPacket};

/// The v2 signature.
pub const SIGNATURE: [u8; 12] = proxy_v2::SIGNATURE;

/// The header's length: 16 bytes plus the addresses and ports of TCP over
/// IPv4 (12) or IPv6 (36).
pub const fn header_len(ipv6: bool) -> usize {
    proxy_v2::HEADER_LEN
        + if ipv6 {
            proxy_v2::ADDRS_V6_LEN
        } else {
            proxy_v2::ADDRS_V4_LEN
        }
}

/// The longest header.
pub const HEADER_LEN_MAX: usize = header_len(true);

/// Write the v2 header of a TCP connection from `client` to `vip` (the
/// addresses the client used) into `buf`; returns its length. Both
/// addresses are of one family.
pub fn write_header(buf: &mut [u8], client: (IpAddr, u16), vip: (IpAddr, u16)) -> usize {
    // Mixed families make UNSPEC with no addresses (never made: a FullNAT
    // service's local addresses are of its own family).
    proxy_v2::emit(buf, client, vip)
}

/// Where the TCP header starts, the packet's end, and whether it is IPv6.
#[inline]
fn layout(ip: &[u8]) -> (usize, usize, bool) {
    let p6 = Ipv6Packet::new_unchecked(ip);
    if p6.version() == 6 {
        (
            ipv6::HEADER_LEN,
            ipv6::HEADER_LEN + usize::from(p6.payload_len()),
            true,
        )
    } else {
        let p = Ipv4Packet::new_unchecked(ip);
        (p.header_len(), usize::from(p.total_len()), false)
    }
}

/// `a` comes after `b` in sequence space.
#[inline]
pub fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The TCP sequence number.
pub fn seq(ip: &[u8]) -> u32 {
    let (l4, _, _) = layout(ip);
    TcpPacket::new_unchecked(&ip[l4..]).seq()
}

/// The packet's length from its IP header on (the IP header's length
/// field's count).
pub fn packet_len(ip: &[u8]) -> usize {
    layout(ip).1
}

/// The TCP payload's length.
pub fn payload_len(ip: &[u8]) -> usize {
    let (l4, end, _) = layout(ip);
    let thl = TcpPacket::new_unchecked(&ip[l4..]).header_len();
    end.saturating_sub(l4 + thl)
}

/// Put `header` (an even number of bytes) in front of the TCP payload:
/// `ip` holds the packet plus `header.len()` spare bytes. The IP length,
/// the IPv4 header checksum and the TCP checksum are updated.
pub fn insert_header(ip: &mut [u8], header: &[u8]) {
    debug_assert_eq!(header.len() % 2, 0, "keeps the payload's words aligned");
    let (l4, end, is_v6) = layout(ip);
    let n = header.len();
    {
        let mut t = TcpPacket::new_unchecked(&mut ip[l4..]);
        let payload = end - l4 - t.header_len();
        let tail = t.payload_mut();
        tail.copy_within(..payload, n);
        tail[..n].copy_from_slice(header);
        let mut sum = update_inserted(t.checksum(), header);
        let tcp_len = (end - l4) as u16;
        sum = update_u16(sum, tcp_len, tcp_len + n as u16);
        t.set_checksum(sum);
    }
    if is_v6 {
        let mut p = Ipv6Packet::new_unchecked(ip);
        let old = p.payload_len();
        p.set_payload_len(old + n as u16);
    } else {
        let mut p = Ipv4Packet::new_unchecked(ip);
        let old = p.total_len();
        p.set_total_len(old + n as u16);
        let ip_sum = update_u16(p.checksum(), old, old + n as u16);
        p.set_checksum(ip_sum);
    }
}

/// Add `delta` to the TCP sequence number.
pub fn add_seq(ip: &mut [u8], delta: u32) {
    let (l4, _, _) = layout(ip);
    let mut t = TcpPacket::new_unchecked(&mut ip[l4..]);
    let old = t.seq();
    let new = old.wrapping_add(delta);
    t.set_seq(new);
    let sum = update_u32(t.checksum(), old, new);
    t.set_checksum(sum);
}

/// A sequence number of the real server's view mapped to the client's:
/// past `from + delta` it comes back by `delta`; within the header it is
/// `from` (nothing of the client's is acknowledged there).
#[inline]
fn unshift(v: u32, from: u32, delta: u32) -> u32 {
    if !seq_after(v, from) {
        v
    } else if seq_after(from.wrapping_add(delta), v) {
        from
    } else {
        v.wrapping_sub(delta)
    }
}

/// In a segment of the real server's: the acknowledgement number and the
/// SACK blocks' edges past `from` (the client's `isn + 1`) come back by
/// `delta`. Only with ACK set.
pub fn sub_ack(ip: &mut [u8], from: u32, delta: u32) {
    let (l4, _, _) = layout(ip);
    let mut t = TcpPacket::new_unchecked(&mut ip[l4..]);
    let mut sum = t.checksum();
    if t.flags() & tcp::flags::ACK != 0 {
        let old = t.ack_number();
        let new = unshift(old, from, delta);
        t.set_ack_number(new);
        sum = update_u32(sum, old, new);
    }
    // SACK: pairs of 32-bit edges.
    tcp::map_sack_edges(t.options_mut(), |old| {
        let new = unshift(old, from, delta);
        sum = update_u32(sum, old, new);
        new
    });
    t.set_checksum(sum);
}

/// Lower the MSS option of a SYN or SYN-ACK by `by`.
pub fn lower_mss(ip: &mut [u8], by: u16) {
    let (l4, _, _) = layout(ip);
    let seg = &mut ip[l4..];
    let sum = nat::lower_mss(seg, by, TcpPacket::new_unchecked(&*seg).checksum());
    TcpPacket::new_unchecked(seg).set_checksum(sum);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{checksum, combine, pseudo_v4, sum};
    use crate::wire::{get_u16, get_u32, set_u16, set_u32};
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    /// An IPv4 TCP segment with options and payload, checksums from scratch.
    fn segment(flags: u8, seq: u32, ack: u32, options: &[u8], payload: &[u8]) -> Vec<u8> {
        let thl = 20 + options.len();
        let mut p = vec![0u8; 20 + thl];
        p[0] = 0x45;
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        set_u16(&mut p, 20, 1000);
        set_u16(&mut p, 22, 80);
        set_u32(&mut p, 24, seq);
        set_u32(&mut p, 28, ack);
        p[32] = ((thl / 4) as u8) << 4;
        p[33] = flags;
        p[40..40 + options.len()].copy_from_slice(options);
        p.extend_from_slice(payload);
        refill(&mut p);
        p
    }

    fn refill(p: &mut [u8]) {
        let len = p.len() as u16;
        set_u16(p, 2, len);
        set_u16(p, 10, 0);
        let c = checksum(&p[..20]);
        set_u16(p, 10, c);
        set_u16(p, 36, 0);
        let l4 = (p.len() - 20) as u16;
        let c = !combine(&[
            pseudo_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, l4),
            sum(&p[20..]),
        ]);
        set_u16(p, 36, c);
    }

    fn same(a: u16, b: u16) -> bool {
        a == b || (a | b == 0xffff && (a == 0 || b == 0))
    }

    #[test]
    fn the_header_is_the_spec_s() {
        let mut b = [0u8; HEADER_LEN_MAX];
        let n = write_header(
            &mut b,
            (Ipv4Addr::new(198, 18, 0, 1).into(), 40000),
            (Ipv4Addr::new(198, 18, 0, 101).into(), 80),
        );
        assert_eq!(n, 28);
        assert_eq!(&b[..12], b"\r\n\r\n\0\r\nQUIT\n");
        assert_eq!(&b[12..16], &[0x21, 0x11, 0, 12]);
        assert_eq!(
            &b[16..28],
            &[198, 18, 0, 1, 198, 18, 0, 101, 0x9c, 0x40, 0, 80]
        );
    }

    proptest! {
        #[test]
        fn edits_keep_checksums_true(
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            seq in any::<u32>(), ack in any::<u32>(), delta in 1u32..100,
            sack in proptest::collection::vec(any::<u32>(), 0..4),
        ) {
            let mut opts = vec![1, 1, 5, (2 + 4 * sack.len()) as u8];
            for e in &sack {
                opts.extend_from_slice(&e.to_be_bytes());
            }
            while opts.len() % 4 != 0 { opts.push(1); }
            let p = segment(0x10, seq, ack, &opts, &payload);

            let mut a = p.clone();
            a.extend_from_slice(&[0; 28]);
            let header = [7u8; 28];
            insert_header(&mut a, &header);
            let mut want = a.clone();
            refill(&mut want);
            prop_assert!(same(get_u16(&a, 10), get_u16(&want, 10)));
            prop_assert!(same(get_u16(&a, 36), get_u16(&want, 36)));
            let at = 20 + 20 + opts.len();
            prop_assert_eq!(&a[at..at + 28], &header[..]);
            prop_assert_eq!(&a[at + 28..], &payload[..]);

            let mut b = p.clone();
            add_seq(&mut b, delta);
            let mut want = b.clone();
            refill(&mut want);
            prop_assert!(same(get_u16(&b, 36), get_u16(&want, 36)));
            prop_assert_eq!(get_u32(&b, 24), seq.wrapping_add(delta));

            let mut c = p.clone();
            let from = ack.wrapping_sub(delta * 2);
            sub_ack(&mut c, from, delta);
            let mut want = c.clone();
            refill(&mut want);
            prop_assert!(same(get_u16(&c, 36), get_u16(&want, 36)));
            prop_assert_eq!(get_u32(&c, 28), ack.wrapping_sub(delta));
        }
    }

    #[test]
    fn acks_within_the_header_map_to_its_start() {
        assert_eq!(unshift(1000, 1000, 28), 1000, "the SYN-ACK's ack");
        assert_eq!(unshift(1010, 1000, 28), 1000, "part of the header");
        assert_eq!(unshift(1028, 1000, 28), 1000, "all of the header");
        assert_eq!(unshift(1128, 1000, 28), 1100);
        // Across the wrap of sequence space.
        assert_eq!(unshift(20, u32::MAX - 10, 28), 20u32.wrapping_sub(28));
    }
}
