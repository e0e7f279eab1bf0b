//! IPv4 ↔ IPv6 header translation for FullNAT between address families
//! (an IPv6 VIP in front of IPv4 real servers and the reverse, DPVS's
//! "nat64"), as RFC 7915 translates TCP, UDP and ICMP (decision 42).
//!
//! Contract: the packet is rewritten in place in its buffer `b`, starting at
//! `at` (its IP header, already validated by the pipeline: `Ipv4Packet` /
//! `Ipv6Packet::new_checked`, the transport over the packet); the
//! translated packet is returned as the range of `b` it now occupies. The
//! IPv6 header is 20 bytes longer than an IPv4 one without options, so an
//! IPv4 packet needs `GROWTH` bytes in front of it (the frame's headroom:
//! the caller prepends them and moves its Ethernet header), minus the
//! options it loses; an IPv6 packet's translation starts 20 bytes later.
//! The transport header and payload stay where they are: TCP and UDP
//! checksums are updated from the old and new pseudo-header addresses
//! (their protocol and length words are the same in both families), never
//! summed again, except IPv4's UDP "no checksum" (0), which IPv6 does not
//! allow: that one is computed. ICMP ↔ ICMPv6 (types and codes by RFC 7915
//! §4.2 and §5.2; the quoted packet of an error translated too, which moves
//! the bytes after its header, an error path bounded by the packet) has its
//! checksum recomputed, ICMPv6's over the pseudo-header. Nothing here
//! allocates; what cannot be translated is an `Untranslatable`, which the
//! caller counts as a drop.
//!
//! What is copied (RFC 7915 §4.1, §5.1): TOS ↔ traffic class, TTL ↔ hop
//! limit (not decremented: a director is not a router, and IPVS's NAT does
//! not decrement it either), the flow label is 0; IPv4 options are dropped;
//! an IPv4 packet made from IPv6 has identification 0 and DF set, so a path
//! too small for it answers with "fragmentation needed", which goes back as
//! "packet too big". Fragments (IPv4 fragments, IPv6 fragment headers) and
//! IPv6 packets with other extension headers are not translated.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use super::{l4_checksum, set_l4_checksum};
use crate::wire::checksum::{self, sum, update_u16};
use crate::wire::icmp::{self, IcmpPacket};
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv4::{self, protocol, Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::wire::ipv6ext::kind as ext;
use crate::wire::tcp::{self, TcpPacket};
use crate::wire::udp;

/// How much longer an IPv6 header is than an IPv4 one without options.
pub const GROWTH: usize = ipv6::HEADER_LEN - ipv4::HEADER_LEN_MIN;

/// Why a packet was not translated (each a drop reason for the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Untranslatable {
    /// An IPv4 fragment or an IPv6 packet with a fragment header.
    Fragment,
    /// An IPv6 packet with extension headers.
    ExtensionHeaders,
    /// A transport other than TCP, UDP and the family's ICMP, or an ICMP
    /// message RFC 7915 drops (or whose quote is not TCP or UDP).
    Protocol,
    /// An ICMP error whose quote is too short to hold its header and ports.
    Truncated,
    /// `b` has no room for the translated packet (in front, or behind for
    /// a growing ICMP error), or the packet would exceed 65535 bytes.
    NoRoom,
}

/// ICMPv4's parameter problem (RFC 792).
const PARAM_PROBLEM: u8 = 12;

/// Where a translated packet and an ICMP error's quote go: (source,
/// destination) of the outer header, and of the quoted packet (used only
/// for ICMP errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addrs<A> {
    pub src: A,
    pub dst: A,
    pub quoted_src: A,
    pub quoted_dst: A,
}

impl<A: Copy> Addrs<A> {
    /// From `src` to `dst`, an error's quote the other way (a packet from
    /// `dst` to `src`).
    pub fn between(src: A, dst: A) -> Self {
        Addrs {
            src,
            dst,
            quoted_src: dst,
            quoted_dst: src,
        }
    }

    /// The same four addresses, each converted by `f` (e.g. from a
    /// family's number to its address type).
    #[inline]
    pub fn map<B>(&self, f: impl Fn(A) -> B) -> Addrs<B> {
        Addrs {
            src: f(self.src),
            dst: f(self.dst),
            quoted_src: f(self.quoted_src),
            quoted_dst: f(self.quoted_dst),
        }
    }
}

/// The one's-complement sum of an address pair, as a pseudo-header holds it.
#[inline]
fn pair_sum(src: &[u8], dst: &[u8]) -> u16 {
    checksum::combine(&[sum(src), sum(dst)])
}

/// Update the TCP or UDP checksum of the transport header `l4` (`proto`
/// one of those; `whole` when `l4` is the whole datagram, so a UDP
/// checksum of 0 can be computed) for the pseudo-header's addresses going
/// from the sum `old` to `new` (their protocol and length words are alike
/// in both families). `v6_pseudo` is the new IPv6 pseudo-header's sum when
/// the new family is IPv6 (a UDP "no checksum" is then computed, RFC 7915
/// §4.5); an IPv4 UDP datagram keeps 0 as it is. A quote cut short of the
/// checksum is left as it is.
fn fix_l4(proto: u8, l4: &mut [u8], old: u16, new: u16, v6_pseudo: Option<u16>, whole: bool) {
    let end = match proto {
        protocol::TCP => tcp::CHECKSUM_END,
        protocol::UDP => udp::CHECKSUM_END,
        _ => return,
    };
    if l4.len() < end {
        return;
    }
    let sum_now = l4_checksum(proto, l4);
    let mut c = if proto == protocol::UDP && sum_now == 0 {
        match v6_pseudo {
            Some(pseudo) if whole => !checksum::combine(&[pseudo, sum(l4)]),
            _ => return,
        }
    } else {
        update_u16(sum_now, old, new)
    };
    if proto == protocol::UDP && c == 0 {
        c = 0xffff;
    }
    set_l4_checksum(proto, l4, c);
}

/// RFC 7915 §4.2: an ICMPv4 message's type, code and last header word as
/// ICMPv6's, or `None` when the translator drops it. An MTU below what
/// IPv6 allows is raised to 1280.
pub fn icmp_to_icmpv6(kind: u8, code: u8, rest: [u8; 4]) -> Option<(u8, u8, [u8; 4])> {
    use icmpv6::kind as k6;
    let unreach = |code| Some((k6::DEST_UNREACHABLE, code, [0; 4]));
    match (kind, code) {
        (icmp::kind::ECHO_REQUEST, 0) => Some((k6::ECHO_REQUEST, 0, rest)),
        (icmp::kind::ECHO_REPLY, 0) => Some((k6::ECHO_REPLY, 0, rest)),
        (icmp::kind::DEST_UNREACHABLE, c) => match c {
            // Net, host, source route failed, unknown net or host,
            // source host isolated, TOS: no route (code 0).
            0 | 1 | 5..=8 | 11 | 12 => unreach(0),
            // Protocol unreachable: parameter problem, unrecognised next
            // header, pointing at the next-header field (offset 6).
            2 => Some((k6::PARAM_PROBLEM, 1, 6u32.to_be_bytes())),
            3 => unreach(4),
            icmp::unreach::FRAG_NEEDED => {
                let mtu = u32::from(u16::from_be_bytes([rest[2], rest[3]]));
                let mtu = (mtu + GROWTH as u32).max(1280);
                Some((k6::PACKET_TOO_BIG, 0, mtu.to_be_bytes()))
            }
            // Administratively prohibited.
            9 | 10 | 13 | 15 => unreach(1),
            _ => None,
        },
        (icmp::kind::TIME_EXCEEDED, c @ (0 | 1)) => Some((k6::TIME_EXCEEDED, c, [0; 4])),
        (PARAM_PROBLEM, 0 | 2) => {
            let pointer = match rest[0] {
                0 | 1 => rest[0],
                2 | 3 => 4,
                8 => 7,
                9 => 6,
                12..=15 => 8,
                16..=19 => 24,
                _ => return None,
            };
            Some((k6::PARAM_PROBLEM, 0, u32::from(pointer).to_be_bytes()))
        }
        _ => None,
    }
}

/// RFC 7915 §5.2: an ICMPv6 message's type, code and last header word as
/// ICMPv4's, or `None` when the translator drops it (Neighbour Discovery,
/// MLD and the rest).
pub fn icmpv6_to_icmp(kind: u8, code: u8, rest: [u8; 4]) -> Option<(u8, u8, [u8; 4])> {
    use icmp::kind as k4;
    let unreach = |code| Some((k4::DEST_UNREACHABLE, code, [0; 4]));
    match (kind, code) {
        (icmpv6::kind::ECHO_REQUEST, 0) => Some((k4::ECHO_REQUEST, 0, rest)),
        (icmpv6::kind::ECHO_REPLY, 0) => Some((k4::ECHO_REPLY, 0, rest)),
        (icmpv6::kind::DEST_UNREACHABLE, c) => match c {
            0 | 2 | 3 => unreach(1),
            1 => unreach(10),
            4 => unreach(icmp::unreach::PORT),
            _ => None,
        },
        (icmpv6::kind::PACKET_TOO_BIG, 0) => {
            let mtu = u32::from_be_bytes(rest).saturating_sub(GROWTH as u32);
            let mtu = mtu.min(u32::from(u16::MAX)) as u16;
            let m = mtu.to_be_bytes();
            Some((
                k4::DEST_UNREACHABLE,
                icmp::unreach::FRAG_NEEDED,
                [0, 0, m[0], m[1]],
            ))
        }
        (icmpv6::kind::TIME_EXCEEDED, c @ (0 | 1)) => Some((k4::TIME_EXCEEDED, c, [0; 4])),
        (icmpv6::kind::PARAM_PROBLEM, 0) => {
            let pointer = match u32::from_be_bytes(rest) {
                p @ (0 | 1) => p as u8,
                4 | 5 => 2,
                6 => 9,
                7 => 8,
                8..=23 => 12,
                24..=39 => 16,
                _ => return None,
            };
            Some((PARAM_PROBLEM, 0, [pointer, 0, 0, 0]))
        }
        // Unrecognised next header: protocol unreachable.
        (icmpv6::kind::PARAM_PROBLEM, 1) => unreach(2),
        _ => None,
    }
}

/// Translate the IPv4 packet at `b[at..]` into IPv6 with `to`'s addresses
/// (module doc). The IPv6 header ends where the IPv4 one ended, so `at`
/// must leave room for it in front (`GROWTH` bytes less what the options
/// took); an ICMP error grows by as much again at its end (its quote's
/// header), which `b` must hold.
pub fn ipv4_to_ipv6(
    b: &mut [u8],
    at: usize,
    to: &Addrs<Ipv6Addr>,
) -> Result<Range<usize>, Untranslatable> {
    let p = Ipv4Packet::new_unchecked(&b[at..]);
    let hl = p.header_len();
    let total = usize::from(p.total_len());
    if p.is_fragment() {
        return Err(Untranslatable::Fragment);
    }
    if at + hl < ipv6::HEADER_LEN {
        return Err(Untranslatable::NoRoom);
    }
    let (tos, ttl, proto) = (p.tos(), p.ttl(), p.protocol());
    let old = pair_sum(&p.src_raw(), &p.dst_raw());
    let new = pair_sum(&to.src.octets(), &to.dst.octets());
    let l4_at = at + hl;
    let mut end = at + total;
    let next_header = match proto {
        protocol::TCP | protocol::UDP => {
            let len = (end - l4_at) as u32;
            let pseudo = checksum::pseudo_v6(to.src.octets(), to.dst.octets(), proto, len);
            fix_l4(proto, &mut b[l4_at..end], old, new, Some(pseudo), true);
            proto
        }
        protocol::ICMP => {
            end = icmp_to_v6(b, l4_at, end, to)?;
            protocol::ICMPV6
        }
        _ => return Err(Untranslatable::Protocol),
    };
    let start = l4_at - ipv6::HEADER_LEN;
    Ipv6Repr {
        src: to.src,
        dst: to.dst,
        next_header,
        payload_len: end - l4_at,
        hop_limit: ttl,
        traffic_class: tos,
        flow_label: 0,
    }
    .emit(&mut b[start..l4_at]);
    Ok(start..end)
}

/// The ICMPv4 message at `b[m..end]` as ICMPv6 (its quote translated too);
/// returns its new end.
fn icmp_to_v6(
    b: &mut [u8],
    m: usize,
    end: usize,
    to: &Addrs<Ipv6Addr>,
) -> Result<usize, Untranslatable> {
    let i = IcmpPacket::new_checked(&b[m..end]).map_err(|_| Untranslatable::Truncated)?;
    let (kind, code, rest) =
        icmp_to_icmpv6(i.kind(), i.code(), i.rest()).ok_or(Untranslatable::Protocol)?;
    let is_error = i.is_error();
    if !is_error && !matches!(i.kind(), icmp::kind::ECHO_REQUEST | icmp::kind::ECHO_REPLY) {
        return Err(Untranslatable::Protocol);
    }
    let mut end = end;
    if is_error {
        let q = m + icmp::HEADER_LEN;
        let quote = &b[q..end];
        if quote.len() < ipv4::HEADER_LEN_MIN {
            return Err(Untranslatable::Truncated);
        }
        let qp = Ipv4Packet::new_unchecked(quote);
        let qhl = qp.header_len();
        let qproto = qp.protocol();
        if qhl < ipv4::HEADER_LEN_MIN || quote.len() < qhl + 4 {
            return Err(Untranslatable::Truncated);
        }
        if !matches!(qproto, protocol::TCP | protocol::UDP) {
            return Err(Untranslatable::Protocol);
        }
        let qpayload = usize::from(qp.total_len()).saturating_sub(qhl);
        let (tos, ttl) = (qp.tos(), qp.ttl());
        let old = pair_sum(&qp.src_raw(), &qp.dst_raw());
        let new = pair_sum(&to.quoted_src.octets(), &to.quoted_dst.octets());
        // The quoted transport moves to after a 40-byte header.
        let new_end = q + ipv6::HEADER_LEN + (end - q - qhl);
        if new_end > b.len() {
            return Err(Untranslatable::NoRoom);
        }
        b.copy_within(q + qhl..end, q + ipv6::HEADER_LEN);
        end = new_end;
        let l4 = q + ipv6::HEADER_LEN;
        fix_l4(qproto, &mut b[l4..end], old, new, None, false);
        Ipv6Repr {
            src: to.quoted_src,
            dst: to.quoted_dst,
            next_header: qproto,
            payload_len: qpayload,
            hop_limit: ttl,
            traffic_class: tos,
            flow_label: 0,
        }
        .emit(&mut b[q..l4]);
    }
    let mut i = Icmpv6Packet::new_unchecked(&mut b[m..end]);
    i.set_kind(kind);
    i.set_code(code);
    i.set_rest(rest);
    i.fill_checksum(to.src, to.dst);
    Ok(end)
}

/// Translate the IPv6 packet at `b[at..]` into IPv4 with `to`'s addresses
/// (module doc): the IPv4 header takes the last 20 of the IPv6 header's 40
/// bytes; an ICMPv6 error shrinks by 20 more at its end (its quote's
/// header).
pub fn ipv6_to_ipv4(
    b: &mut [u8],
    at: usize,
    to: &Addrs<Ipv4Addr>,
) -> Result<Range<usize>, Untranslatable> {
    let p = Ipv6Packet::new_unchecked(&b[at..]);
    let payload = usize::from(p.payload_len());
    let proto = p.next_header();
    match proto {
        ext::FRAGMENT => return Err(Untranslatable::Fragment),
        ext::HOP_BY_HOP | ext::ROUTING | ext::DEST_OPTIONS => {
            return Err(Untranslatable::ExtensionHeaders)
        }
        _ => {}
    }
    if payload + ipv4::HEADER_LEN_MIN > usize::from(u16::MAX) {
        return Err(Untranslatable::NoRoom);
    }
    let (tos, ttl) = (p.traffic_class(), p.hop_limit());
    let old = pair_sum(&p.src_raw(), &p.dst_raw());
    let new = pair_sum(&to.src.octets(), &to.dst.octets());
    let l4_at = at + ipv6::HEADER_LEN;
    let mut end = l4_at + payload;
    let protocol = match proto {
        protocol::TCP | protocol::UDP => {
            fix_l4(proto, &mut b[l4_at..end], old, new, None, true);
            proto
        }
        protocol::ICMPV6 => {
            end = icmpv6_to_v4(b, l4_at, end, to)?;
            protocol::ICMP
        }
        _ => return Err(Untranslatable::Protocol),
    };
    let start = l4_at - ipv4::HEADER_LEN_MIN;
    Ipv4Repr {
        src: to.src,
        dst: to.dst,
        protocol,
        payload_len: end - l4_at,
        ttl,
        tos,
        ident: 0,
        dont_frag: true,
    }
    .emit(&mut b[start..l4_at]);
    Ok(start..end)
}

/// The ICMPv6 message at `b[m..end]` as ICMPv4 (its quote translated
/// too); returns its new end.
fn icmpv6_to_v4(
    b: &mut [u8],
    m: usize,
    end: usize,
    to: &Addrs<Ipv4Addr>,
) -> Result<usize, Untranslatable> {
    let i = Icmpv6Packet::new_checked(&b[m..end]).map_err(|_| Untranslatable::Truncated)?;
    let (kind, code, rest) =
        icmpv6_to_icmp(i.kind(), i.code(), i.rest()).ok_or(Untranslatable::Protocol)?;
    let mut end = end;
    if i.is_error() {
        let q = m + icmpv6::HEADER_LEN;
        let quote = &b[q..end];
        if quote.len() < ipv6::HEADER_LEN + 4 {
            return Err(Untranslatable::Truncated);
        }
        let qp = Ipv6Packet::new_unchecked(quote);
        let qproto = qp.next_header();
        if !matches!(qproto, protocol::TCP | protocol::UDP) {
            return Err(Untranslatable::Protocol);
        }
        let qpayload = usize::from(qp.payload_len());
        let (tos, ttl) = (qp.traffic_class(), qp.hop_limit());
        let old = pair_sum(&qp.src_raw(), &qp.dst_raw());
        let new = pair_sum(&to.quoted_src.octets(), &to.quoted_dst.octets());
        // The quoted transport moves to after a 20-byte header.
        b.copy_within(q + ipv6::HEADER_LEN..end, q + ipv4::HEADER_LEN_MIN);
        end -= GROWTH;
        let l4 = q + ipv4::HEADER_LEN_MIN;
        fix_l4(qproto, &mut b[l4..end], old, new, None, false);
        Ipv4Repr {
            src: to.quoted_src,
            dst: to.quoted_dst,
            protocol: qproto,
            payload_len: qpayload.min(usize::from(u16::MAX) - ipv4::HEADER_LEN_MIN),
            ttl,
            tos,
            ident: 0,
            dont_frag: true,
        }
        .emit(&mut b[q..l4]);
    }
    let mut i = IcmpPacket::new_unchecked(&mut b[m..end]);
    i.set_kind(kind);
    i.set_code(code);
    i.set_rest(rest);
    i.fill_checksum();
    Ok(end)
}

/// Lower the MSS of a TCP SYN at `l4` (its header, whole) by `GROWTH`: a
/// SYN translated from IPv4 to IPv6 tells its peer to send segments that
/// fit an IPv4 MTU, 20 bytes too big once translated to IPv6 (decision
/// 42). The checksum is updated. Not a SYN: nothing changes.
pub fn lower_syn_mss(l4: &mut [u8]) {
    let t = TcpPacket::new_unchecked(&*l4);
    if t.flags() & tcp::flags::SYN == 0 {
        return;
    }
    let sum = t.checksum();
    let sum = super::lower_mss(l4, GROWTH as u16, sum);
    TcpPacket::new_unchecked(l4).set_checksum(sum);
}

/// The length of the IPv4 packet `ip` (checked) once translated to IPv6
/// (TCP, UDP: its options go, the header grows by 20; an ICMP error grows
/// by as much again for its quote).
pub fn len_as_ipv6(ip: &[u8]) -> usize {
    let p = Ipv4Packet::new_unchecked(ip);
    let base = usize::from(p.total_len()) - p.header_len() + ipv6::HEADER_LEN;
    let error = p.protocol() == protocol::ICMP
        && IcmpPacket::new_checked(p.payload()).is_ok_and(|i| i.is_error());
    base + if error { GROWTH } else { 0 }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use proptest::prelude::*;

    use super::*;
    use crate::wire::build;
    use crate::wire::icmp::IcmpRepr;
    use crate::wire::icmpv6::{checksum6, Icmpv6Repr};
    use crate::wire::tcp::TcpRepr;
    use crate::wire::udp::{UdpPacket, UdpRepr};

    const C4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    const C6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);

    fn to6(src: Ipv6Addr, dst: Ipv6Addr) -> Addrs<Ipv6Addr> {
        Addrs {
            src,
            dst,
            quoted_src: dst,
            quoted_dst: src,
        }
    }

    fn to4(src: Ipv4Addr, dst: Ipv4Addr) -> Addrs<Ipv4Addr> {
        Addrs {
            src,
            dst,
            quoted_src: dst,
            quoted_dst: src,
        }
    }

    /// `ip` with `front` spare bytes before it and `back` after.
    fn room(ip: &[u8], front: usize, back: usize) -> Vec<u8> {
        let mut b = vec![0xee; front];
        b.extend_from_slice(ip);
        b.extend(std::iter::repeat_n(0xee, back));
        b
    }

    fn tcp4(flags: u8, options: &[u8], payload: &[u8], tos: u8, ttl: u8) -> Vec<u8> {
        let repr = TcpRepr {
            flags,
            seq: 7,
            options,
            payload,
            ..build::tcp_header(40000, 80)
        };
        let seg = build::tcp(&repr, C4.into(), V4.into());
        let h = Ipv4Repr {
            tos,
            ttl,
            ..build::ipv4_header(C4, V4, protocol::TCP)
        };
        build::ipv4(h, &seg)
    }

    fn transport_ok(proto: u8, l4: &[u8], src: IpAddr, dst: IpAddr) -> bool {
        match proto {
            protocol::TCP => TcpPacket::new_unchecked(l4).verify_checksum(src, dst),
            _ => UdpPacket::new_unchecked(l4).verify_checksum(src, dst),
        }
    }

    #[test]
    fn tcp_v4_to_v6_and_back() {
        let ip = tcp4(tcp::flags::ACK, &[], b"hello, world", 0x28, 57);
        let mut b = room(&ip, GROWTH, 0);
        let r = ipv4_to_ipv6(&mut b, GROWTH, &to6(C6, V6)).unwrap();
        assert_eq!(r, 0..ip.len() + GROWTH);
        let p = Ipv6Packet::new_checked(&b[r.clone()]).unwrap();
        assert_eq!((p.src(), p.dst()), (C6, V6));
        assert_eq!(p.next_header(), protocol::TCP);
        assert_eq!(p.hop_limit(), 57, "TTL copied, not decremented");
        assert_eq!(p.traffic_class(), 0x28, "TOS copied");
        assert_eq!(p.flow_label(), 0);
        assert_eq!(usize::from(p.payload_len()), ip.len() - 20);
        assert_eq!(&b[40..56], &ip[20..36], "ports, sequence etc. untouched");
        assert!(transport_ok(protocol::TCP, &b[40..], C6.into(), V6.into()));
        assert_eq!(&b[40 + 20..], b"hello, world");

        // And back: the IPv4 header takes the last 20 of the 40 bytes.
        let r4 = ipv6_to_ipv4(&mut b, 0, &to4(C4, V4)).unwrap();
        assert_eq!(r4, 20..ip.len() + GROWTH);
        let q = Ipv4Packet::new_checked(&b[r4.clone()]).unwrap();
        assert!(q.verify_checksum());
        assert!(q.dont_frag() && q.ident() == 0 && !q.is_fragment());
        assert_eq!((q.ttl(), q.tos(), q.protocol()), (57, 0x28, protocol::TCP));
        assert_eq!(&b[r4], &ip[..], "the same packet again");
    }

    #[test]
    fn ipv4_options_are_dropped() {
        let ip = tcp4(tcp::flags::ACK, &[], b"x", 0, 64);
        // Insert 8 bytes of options (NOP NOP NOP NOP, EOL...).
        let mut with = ip[..20].to_vec();
        with.extend_from_slice(&[1, 1, 1, 1, 0, 0, 0, 0]);
        with.extend_from_slice(&ip[20..]);
        let mut h = Ipv4Packet::new_unchecked(&mut with[..]);
        h.set_ver_ihl(28);
        h.set_total_len(ip.len() as u16 + 8);
        h.fill_checksum();
        let mut b = room(&with, GROWTH - 8, 0);
        let r = ipv4_to_ipv6(&mut b, GROWTH - 8, &to6(C6, V6)).unwrap();
        assert_eq!(r, 0..ip.len() + GROWTH);
        assert!(transport_ok(protocol::TCP, &b[40..], C6.into(), V6.into()));
        assert_eq!(&b[40..56], &ip[20..36]);
        assert_eq!(&b[60..], &ip[40..], "the payload");
    }

    #[test]
    fn udp_without_checksum_gets_one_in_ipv6() {
        let dgram = build::udp(
            &UdpRepr {
                src_port: 5353,
                dst_port: 53,
                payload: b"query",
            },
            C4.into(),
            V4.into(),
        );
        let mut ip = build::ipv4(build::ipv4_header(C4, V4, protocol::UDP), &dgram);
        ip[26..28].copy_from_slice(&[0, 0]);
        let mut b = room(&ip, GROWTH, 0);
        let r = ipv4_to_ipv6(&mut b, GROWTH, &to6(C6, V6)).unwrap();
        let u = UdpPacket::new_unchecked(&b[r.start + 40..r.end]);
        assert_ne!(u.checksum(), 0, "IPv6 has no UDP without a checksum");
        assert!(u.verify_checksum(C6.into(), V6.into()));
    }

    #[test]
    fn what_is_not_translated() {
        let ip = tcp4(tcp::flags::ACK, &[], b"x", 0, 64);
        let mut b = ip.clone();
        assert_eq!(
            ipv4_to_ipv6(&mut b, 0, &to6(C6, V6)),
            Err(Untranslatable::NoRoom)
        );
        assert_eq!(b, ip, "nothing changed");
        let mut frag = room(&ip, GROWTH, 0);
        let mut h = Ipv4Packet::new_unchecked(&mut frag[GROWTH..]);
        h.set_fragment(0, true);
        h.fill_checksum();
        assert_eq!(
            ipv4_to_ipv6(&mut frag, GROWTH, &to6(C6, V6)),
            Err(Untranslatable::Fragment)
        );
        let gre = build::ipv4(build::ipv4_header(C4, V4, 47), &[0; 8]);
        let mut b = room(&gre, GROWTH, 0);
        assert_eq!(
            ipv4_to_ipv6(&mut b, GROWTH, &to6(C6, V6)),
            Err(Untranslatable::Protocol)
        );

        let seg = build::tcp(&build::tcp_header(1, 2), C6.into(), V6.into());
        let mut dst_opts = vec![protocol::TCP, 0, 1, 4, 0, 0, 0, 0];
        dst_opts.extend_from_slice(&seg);
        let mut b = build::ipv6(build::ipv6_header(C6, V6, ext::DEST_OPTIONS), &dst_opts);
        assert_eq!(
            ipv6_to_ipv4(&mut b, 0, &to4(C4, V4)),
            Err(Untranslatable::ExtensionHeaders)
        );
        let mut b = build::ipv6(build::ipv6_header(C6, V6, ext::FRAGMENT), &dst_opts);
        assert_eq!(
            ipv6_to_ipv4(&mut b, 0, &to4(C4, V4)),
            Err(Untranslatable::Fragment)
        );
    }

    #[test]
    fn syn_mss_lowered_by_the_growth() {
        let ip = tcp4(tcp::flags::SYN, &[2, 4, 0x05, 0xb4], b"", 0, 64);
        let mut b = room(&ip, GROWTH, 0);
        let r = ipv4_to_ipv6(&mut b, GROWTH, &to6(C6, V6)).unwrap();
        lower_syn_mss(&mut b[r.start + 40..r.end]);
        let t = TcpPacket::new_unchecked(&b[40..]);
        assert_eq!(t.options(), &[2, 4, 0x05, 0xa0], "1460 → 1440");
        assert!(transport_ok(protocol::TCP, &b[40..], C6.into(), V6.into()));
        let mut ack = tcp4(tcp::flags::ACK, &[2, 4, 0x05, 0xb4], b"", 0, 64);
        let before = ack.clone();
        lower_syn_mss(&mut ack[20..]);
        assert_eq!(ack, before, "only a SYN");
    }

    /// An ICMPv4 error from `from` to `to` quoting the first `cut` bytes of
    /// `quoted`.
    fn icmp4_error(kind: u8, code: u8, rest: [u8; 4], quoted: &[u8], cut: usize) -> Vec<u8> {
        let m = build::icmp(&IcmpRepr {
            kind,
            code,
            rest,
            payload: &quoted[..cut],
        });
        build::ipv4(build::ipv4_header(V4, C4, protocol::ICMP), &m)
    }

    #[test]
    fn frag_needed_becomes_packet_too_big_with_its_quote() {
        // The director's own packet C4 → V4 quoted back by V4's path.
        let quoted = tcp4(tcp::flags::ACK, &[], &[9; 40], 0, 64);
        let ip = icmp4_error(3, 4, [0, 0, 0x05, 0xdc], &quoted, quoted.len());
        let mut b = room(&ip, GROWTH, GROWTH);
        let to = Addrs {
            src: V6,
            dst: C6,
            quoted_src: C6,
            quoted_dst: V6,
        };
        let r = ipv4_to_ipv6(&mut b, GROWTH, &to).unwrap();
        assert_eq!(r.len(), ip.len() + 2 * GROWTH);
        assert_eq!(r.len(), len_as_ipv6(&ip));
        let p = Ipv6Packet::new_checked(&b[r.clone()]).unwrap();
        assert_eq!(p.next_header(), protocol::ICMPV6);
        let m = p.payload();
        assert_eq!(checksum6(V6, C6, m), 0, "ICMPv6 checksum true");
        let i = Icmpv6Packet::new_checked(m).unwrap();
        assert_eq!((i.kind(), i.code()), (icmpv6::kind::PACKET_TOO_BIG, 0));
        assert_eq!(u32::from_be_bytes(i.rest()), 1520, "the MTU plus 20");
        let q = Ipv6Packet::new_unchecked(i.payload());
        assert_eq!((q.src(), q.dst(), q.next_header()), (C6, V6, protocol::TCP));
        assert_eq!(usize::from(q.payload_len()), quoted.len() - 20);
        assert!(transport_ok(
            protocol::TCP,
            &i.payload()[40..],
            C6.into(),
            V6.into()
        ));
    }

    proptest! {
        /// A quote cut anywhere after its ports: the ICMPv6 checksum and
        /// the quoted TCP one (when quoted whole) stay true, both ways.
        #[test]
        fn icmp_errors_both_ways_at_any_cut(cut in 24usize..80, udp in any::<bool>()) {
            let quoted = if udp {
                let d = build::udp(&UdpRepr { src_port: 1, dst_port: 2, payload: &[5; 30] }, C4.into(), V4.into());
                build::ipv4(build::ipv4_header(C4, V4, protocol::UDP), &d)
            } else {
                tcp4(tcp::flags::ACK, &[], &[5; 30], 0, 64)
            };
            let cut = cut.min(quoted.len());
            let ip = icmp4_error(3, 3, [0; 4], &quoted, cut);
            let mut b = room(&ip, GROWTH, GROWTH);
            let to = Addrs { src: V6, dst: C6, quoted_src: C6, quoted_dst: V6 };
            let r = ipv4_to_ipv6(&mut b, GROWTH, &to).unwrap();
            let m = &b[r.start + 40..r.end];
            prop_assert_eq!(checksum6(V6, C6, m), 0);
            prop_assert_eq!(&m[..2], &[icmpv6::kind::DEST_UNREACHABLE, 4]);
            if cut == quoted.len() {
                let proto = if udp { protocol::UDP } else { protocol::TCP };
                prop_assert!(transport_ok(proto, &m[8 + 40..], C6.into(), V6.into()));
            }
            // Back to IPv4: the same message as before.
            let r4 = ipv6_to_ipv4(&mut b, r.start, &to4(V4, C4)).unwrap();
            let back = &b[r4];
            prop_assert_eq!(checksum::checksum(&back[20..]), 0, "ICMP checksum");
            prop_assert_eq!(checksum::checksum(&back[28..48]), 0, "quoted IP checksum");
            prop_assert_eq!(&back[20..22], &[3, 3]);
            prop_assert_eq!(&back[28 + 20..], &ip[28 + 20..], "the quoted transport as it was");
        }

        /// TCP and UDP both ways with any addresses, ports and payload:
        /// the transport checksum is true in each family, and the round
        /// trip gives the packet back.
        #[test]
        fn round_trip(
            udp in any::<bool>(),
            c6 in any::<u128>(), v6 in any::<u128>(),
            c4 in any::<u32>(), v4 in any::<u32>(),
            ports in any::<(u16, u16)>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let (c4, v4, c6, v6) = (Ipv4Addr::from(c4), Ipv4Addr::from(v4), Ipv6Addr::from(c6), Ipv6Addr::from(v6));
            let (proto, l4) = if udp {
                let r = UdpRepr { src_port: ports.0, dst_port: ports.1, payload: &payload };
                (protocol::UDP, build::udp(&r, c6.into(), v6.into()))
            } else {
                let r = TcpRepr { payload: &payload, ..build::tcp_header(ports.0, ports.1) };
                (protocol::TCP, build::tcp(&r, c6.into(), v6.into()))
            };
            let ip6 = build::ipv6(build::ipv6_header(c6, v6, proto), &l4);
            let mut b = ip6.clone();
            let r = ipv6_to_ipv4(&mut b, 0, &to4(c4, v4)).unwrap();
            prop_assert!(Ipv4Packet::new_checked(&b[r.clone()]).unwrap().verify_checksum());
            prop_assert!(transport_ok(proto, &b[40..], c4.into(), v4.into()));
            let r6 = ipv4_to_ipv6(&mut b, r.start, &to6(c6, v6)).unwrap();
            prop_assert_eq!(&b[r6], &ip6[..]);
        }
    }

    #[test]
    fn icmp_type_tables_as_rfc_7915() {
        // §4.2: ICMPv4 → ICMPv6.
        let six = |k, c, r| icmp_to_icmpv6(k, c, r).map(|(k, c, r)| (k, c, u32::from_be_bytes(r)));
        assert_eq!(six(8, 0, [1, 2, 3, 4]), Some((128, 0, 0x0102_0304)));
        assert_eq!(six(0, 0, [1, 2, 3, 4]), Some((129, 0, 0x0102_0304)));
        assert_eq!(six(3, 0, [0; 4]), Some((1, 0, 0)));
        assert_eq!(six(3, 1, [0; 4]), Some((1, 0, 0)));
        assert_eq!(six(3, 2, [0; 4]), Some((4, 1, 6)));
        assert_eq!(six(3, 3, [0; 4]), Some((1, 4, 0)));
        assert_eq!(six(3, 4, [0, 0, 0x05, 0xc8]), Some((2, 0, 1500)));
        assert_eq!(
            six(3, 4, [0; 4]),
            Some((2, 0, 1280)),
            "no MTU given: IPv6's least"
        );
        assert_eq!(six(3, 10, [0; 4]), Some((1, 1, 0)));
        assert_eq!(six(3, 14, [0; 4]), None);
        assert_eq!(six(11, 1, [0; 4]), Some((3, 1, 0)));
        assert_eq!(six(12, 0, [9, 0, 0, 0]), Some((4, 0, 6)));
        assert_eq!(six(12, 0, [16, 0, 0, 0]), Some((4, 0, 24)));
        assert_eq!(six(12, 1, [0; 4]), None);
        assert_eq!(six(4, 0, [0; 4]), None, "source quench");
        assert_eq!(six(13, 0, [0; 4]), None, "timestamp");
        // §5.2: ICMPv6 → ICMPv4.
        let four = icmpv6_to_icmp;
        assert_eq!(four(128, 0, [1, 2, 3, 4]), Some((8, 0, [1, 2, 3, 4])));
        assert_eq!(four(1, 0, [0; 4]), Some((3, 1, [0; 4])));
        assert_eq!(four(1, 1, [0; 4]), Some((3, 10, [0; 4])));
        assert_eq!(four(1, 4, [0; 4]), Some((3, 3, [0; 4])));
        assert_eq!(four(1, 5, [0; 4]), None);
        assert_eq!(
            four(2, 0, 1500u32.to_be_bytes()),
            Some((3, 4, [0, 0, 0x05, 0xc8]))
        );
        assert_eq!(four(3, 0, [0; 4]), Some((11, 0, [0; 4])));
        assert_eq!(four(4, 0, 6u32.to_be_bytes()), Some((12, 0, [9, 0, 0, 0])));
        assert_eq!(
            four(4, 0, 24u32.to_be_bytes()),
            Some((12, 0, [16, 0, 0, 0]))
        );
        assert_eq!(four(4, 1, [0; 4]), Some((3, 2, [0; 4])));
        assert_eq!(four(4, 2, [0; 4]), None);
        assert_eq!(
            four(135, 0, [0; 4]),
            None,
            "Neighbour Discovery is not translated"
        );
    }

    #[test]
    fn echo_both_ways() {
        let m = build::icmp(&IcmpRepr {
            kind: 8,
            code: 0,
            rest: [0, 1, 0, 2],
            payload: b"ping",
        });
        let ip = build::ipv4(build::ipv4_header(C4, V4, protocol::ICMP), &m);
        let mut b = room(&ip, GROWTH, 0);
        let r = ipv4_to_ipv6(&mut b, GROWTH, &to6(C6, V6)).unwrap();
        let m6 = &b[r.start + 40..r.end];
        assert_eq!(checksum6(C6, V6, m6), 0);
        assert_eq!(&m6[..2], &[128, 0]);
        assert_eq!(&m6[4..], &[0, 1, 0, 2, b'p', b'i', b'n', b'g']);
        let e6 = build::icmpv6(
            &Icmpv6Repr {
                kind: 129,
                code: 0,
                rest: [0, 1, 0, 2],
                payload: b"pong",
            },
            V6,
            C6,
        );
        let mut b = build::ipv6(build::ipv6_header(V6, C6, protocol::ICMPV6), &e6);
        let r = ipv6_to_ipv4(&mut b, 0, &to4(V4, C4)).unwrap();
        assert_eq!(checksum::checksum(&b[r.start + 20..r.end]), 0);
        assert_eq!(b[r.start + 20], 0, "echo reply");
    }
}
