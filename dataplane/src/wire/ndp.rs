//! Neighbour Discovery (RFC 4861) for IPv6 over Ethernet: the neighbour
//! solicitation (NS) and advertisement (NA) messages, IPv6's ARP.
//!
//! Contract: [`NdpPacket`] views the ICMPv6 message of an NS or NA, exactly
//! (the IPv6 payload bounded by its payload length: trailing bytes would be
//! read as options). `new_checked` validates that the fixed part (the 8-byte
//! ICMPv6 header and the 16-byte target) is there; after it no method panics
//! and the option walk ends on any bytes. Which message it is (the ICMPv6
//! type), the code, the hop limit of 255 and the checksum are the handler's
//! to check (RFC 4861 §7.1.1, §7.1.2), with the getters here.
//!
//! The builders write a whole Ethernet frame into a caller's buffer and
//! return its length; nothing here allocates.

use std::net::Ipv6Addr;

use super::ethernet::{self, EthernetRepr, MacAddr};
use super::icmpv6::{self, checksum6, kind};
use super::ipv6::{self, Ipv6Packet};
use super::Malformed;

/// The fixed part of an NS or NA: the ICMPv6 header (with NA's flags) and
/// the target address.
pub const MESSAGE_LEN_MIN: usize = 24;

/// A link-layer address option for Ethernet: type, length 1 (8 bytes), MAC.
pub const LL_OPTION_LEN: usize = 8;

/// The frame the builders write at most: Ethernet, IPv6, the fixed message
/// and one link-layer address option. The caller's buffer must hold it.
pub const FRAME_LEN: usize =
    ethernet::HEADER_LEN + ipv6::HEADER_LEN + MESSAGE_LEN_MIN + LL_OPTION_LEN;

/// NS and NA are sent, and must be received, with this hop limit, so that
/// they cannot come from off-link (RFC 4861 §7.1).
pub const HOP_LIMIT: u8 = 255;

/// Option types (RFC 4861 §4.6).
pub mod option {
    pub const SOURCE_LL: u8 = 1;
    pub const TARGET_LL: u8 = 2;
}

/// NA flags (RFC 4861 §4.4), the first byte after the checksum.
pub mod flag {
    pub const ROUTER: u8 = 0x80;
    pub const SOLICITED: u8 = 0x40;
    pub const OVERRIDE: u8 = 0x20;
}

mod field {
    use core::ops::Range;
    pub(super) const KIND: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const FLAGS: usize = 4;
    pub(super) const TARGET: Range<usize> = 8..24;
    pub(super) const OPTIONS: usize = 24;
}

super::view! {
    /// An NS or NA message.
    NdpPacket
}

super::fields!(NdpPacket {
    /// The ICMPv6 type: [`kind::NEIGHBOR_SOLICIT`] or [`kind::NEIGHBOR_ADVERT`]
    /// for a message this view is meant for.
    kind, set_kind: u8 = field::KIND;
    /// 0 in a valid message.
    code, set_code: u8 = field::CODE;
    checksum, set_checksum: u16 = field::CHECKSUM;
    /// NA's flags ([`flag`]); reserved (0) in an NS.
    flags, set_flags: u8 = field::FLAGS;
    /// The address being solicited or advertised.
    target, set_target: Ipv6Addr = field::TARGET.start;
});

impl<T: AsRef<[u8]>> NdpPacket<T> {
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        if buffer.as_ref().len() < MESSAGE_LEN_MIN {
            return Err(Malformed::NdpTruncated);
        }
        Ok(NdpPacket { buffer })
    }

    pub fn is_router(&self) -> bool {
        self.flags() & flag::ROUTER != 0
    }

    pub fn is_solicited(&self) -> bool {
        self.flags() & flag::SOLICITED != 0
    }

    pub fn is_override(&self) -> bool {
        self.flags() & flag::OVERRIDE != 0
    }

    /// The option bytes after the fixed part.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..]
    }

    /// The MAC of the first link-layer address option of type `kind`
    /// ([`option::SOURCE_LL`] or [`option::TARGET_LL`]).
    ///
    /// Every option is walked, since a malformed one anywhere makes the
    /// message one to discard (RFC 4861 §4.6): an option of length 0, one
    /// running past the message, or a tail shorter than an option header
    /// gives `None`. Each step moves on by at least 8 bytes, so the walk
    /// ends. The MAC is the option's bytes 2..8 (an Ethernet link-layer
    /// option is 8 bytes; a longer one is read the same way).
    pub fn option_mac(&self, kind: u8) -> Option<MacAddr> {
        let mut rest = self.options();
        let mut found = None;
        while !rest.is_empty() {
            let &[k, units, ..] = rest else {
                return None;
            };
            let len = usize::from(units) * 8;
            if len == 0 || len > rest.len() {
                return None;
            }
            if k == kind && found.is_none() {
                let mut m = [0u8; 6];
                m.copy_from_slice(&rest[2..8]);
                found = Some(MacAddr(m));
            }
            rest = &rest[len..];
        }
        found
    }

    /// Whether the checksum is true for a message from `src` to `dst`.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum6(src, dst, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NdpPacket<T> {
    pub fn options_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::OPTIONS..]
    }

    /// Compute the ICMPv6 checksum over the whole message for `src` →
    /// `dst`, and write it.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum6(src, dst, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// The solicited-node multicast address of `addr` (RFC 4291 §2.7.1):
/// ff02::1:ff00:0/104 with the low 24 bits of `addr`.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet address IPv6 multicast `addr` is sent to (RFC 2464 §7):
/// 33:33 and the low 32 bits of `addr`.
pub fn multicast_mac(addr: Ipv6Addr) -> MacAddr {
    let o = addr.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// What [`emit`] writes besides the addresses.
struct Message {
    kind: u8,
    flags: u8,
    target: Ipv6Addr,
    /// A link-layer address option (type, MAC), if any.
    ll_option: Option<(u8, MacAddr)>,
}

/// Write an untagged Ethernet frame carrying the NS or NA `m` from
/// (`src_mac`, `src_ip`) to (`dst_mac`, `dst_ip`) into `buf`, with hop
/// limit 255 and the checksum filled; return its length.
fn emit(
    buf: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    m: Message,
) -> usize {
    let msg_len = MESSAGE_LEN_MIN
        + if m.ll_option.is_some() {
            LL_OPTION_LEN
        } else {
            0
        };
    let ip_at = ethernet::HEADER_LEN;
    let msg_at = ip_at + ipv6::HEADER_LEN;
    let len = msg_at + msg_len;
    assert!(
        buf.len() >= len,
        "an NDP frame needs {len} bytes, the buffer has {}",
        buf.len()
    );
    buf[..len].fill(0);
    EthernetRepr {
        dst: dst_mac,
        src: src_mac,
        ethertype: ethernet::ethertype::IPV6,
    }
    .emit(buf);
    let (ip, msg) = buf[ip_at..len].split_at_mut(ipv6::HEADER_LEN);
    let mut ip = Ipv6Packet::new_unchecked(ip);
    ip.set_version_class_flow(0, 0);
    ip.set_payload_len(msg_len as u16);
    ip.set_next_header(icmpv6::NEXT_HEADER);
    ip.set_hop_limit(HOP_LIMIT);
    ip.set_src(src_ip);
    ip.set_dst(dst_ip);
    let mut p = NdpPacket::new_unchecked(msg);
    p.set_kind(m.kind);
    p.set_flags(m.flags);
    p.set_target(m.target);
    if let Some((kind, mac)) = m.ll_option {
        let o = p.options_mut();
        o[0] = kind;
        o[1] = (LL_OPTION_LEN / 8) as u8;
        o[2..LL_OPTION_LEN].copy_from_slice(&mac.0);
    }
    p.fill_checksum(src_ip, dst_ip);
    len
}

/// Write into `buf` (at least [`FRAME_LEN`] bytes) a neighbour solicitation
/// for `target` from (`src_mac`, `src_ip`), sent to the target's
/// solicited-node multicast address and its Ethernet group, with a source
/// link-layer option of `src_mac`; return the frame's length. From the
/// unspecified address (duplicate address detection) the option is left out,
/// as RFC 4861 §4.3 requires, and the frame is 8 bytes shorter.
pub fn emit_neighbor_solicit(
    buf: &mut [u8],
    src_mac: MacAddr,
    src_ip: Ipv6Addr,
    target: Ipv6Addr,
) -> usize {
    let dst_ip = solicited_node(target);
    let ll_option = (!src_ip.is_unspecified()).then_some((option::SOURCE_LL, src_mac));
    let m = Message {
        kind: kind::NEIGHBOR_SOLICIT,
        flags: 0,
        target,
        ll_option,
    };
    emit(buf, src_mac, multicast_mac(dst_ip), src_ip, dst_ip, m)
}

/// Write into `buf` (at least [`FRAME_LEN`] bytes) a neighbour advertisement
/// that `target` is at `src_mac`, from (`src_mac`, `src_ip`, normally
/// `target` itself) to (`dst_mac`, `dst_ip`): the override flag set, the
/// solicited flag when it answers an NS (to the NS's source; an unsolicited
/// one goes to ff02::1 at 33:33:00:00:00:01), not the router flag, and a
/// target link-layer option of `src_mac`; return the frame's length.
pub fn emit_neighbor_advert(
    buf: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    target: Ipv6Addr,
    solicited: bool,
) -> usize {
    let flags = flag::OVERRIDE | if solicited { flag::SOLICITED } else { 0 };
    let m = Message {
        kind: kind::NEIGHBOR_ADVERT,
        flags,
        target,
        ll_option: Some((option::TARGET_LL, src_mac)),
    };
    emit(buf, src_mac, dst_mac, src_ip, dst_ip, m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use crate::wire::ethernet::EthernetFrame;
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const MAC1: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const MAC2: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

    /// 2001:db8::1 at 02:00:00:00:00:01 asks for 2001:db8::1234:5678. The
    /// bytes (checksum 0x5cd2) were assembled and summed independently, in
    /// Python.
    #[rustfmt::skip]
    const GOLDEN_NS: [u8; 86] = [
        // Ethernet: 33:33:ff:34:56:78 <- 02:00:00:00:00:01, IPv6.
        0x33, 0x33, 0xff, 0x34, 0x56, 0x78, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd,
        // IPv6: payload 32, ICMPv6, hop limit 255, 2001:db8::1 -> ff02::1:ff34:5678.
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x34, 0x56, 0x78,
        // NS, code 0, checksum, reserved, target 2001:db8::1234:5678.
        0x87, 0x00, 0x5c, 0xd2, 0x00, 0x00, 0x00, 0x00,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78,
        // Source link-layer address option.
        0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];

    /// 2001:db8::10 at 02:00:00:00:00:01 answers 2001:db8::2 at
    /// 02:00:00:00:00:02 (checksum 0x8a55, computed independently).
    #[rustfmt::skip]
    const GOLDEN_NA: [u8; 86] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd,
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
        // NA, code 0, checksum, solicited and override, target 2001:db8::10.
        0x88, 0x00, 0x8a, 0x55, 0x60, 0x00, 0x00, 0x00,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        // Target link-layer address option.
        0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];

    /// The ICMPv6 checksum of the IPv6 packet `ip` verifies, summed from
    /// scratch: the pseudo-header spelled out byte by byte, then the message.
    fn checksum_verifies(ip: &[u8]) -> bool {
        let msg = &ip[40..];
        let mut all = Vec::new();
        all.extend_from_slice(&ip[8..40]);
        all.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        all.extend_from_slice(&[0, 0, 0, 58]);
        all.extend_from_slice(msg);
        checksum::sum(&all) == 0xffff
    }

    type Parsed<'a> = (
        EthernetFrame<&'a [u8]>,
        Ipv6Packet<&'a [u8]>,
        NdpPacket<&'a [u8]>,
    );

    /// Parse `frame` back: Ethernet, IPv6 (hop limit 255, ICMPv6), NDP.
    fn parse(frame: &[u8]) -> Parsed<'_> {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        assert_eq!(eth.ethertype(), ethernet::ethertype::IPV6);
        let ip = Ipv6Packet::new_checked(&frame[eth.payload_offset()..]).unwrap();
        assert_eq!(ip.next_header(), icmpv6::NEXT_HEADER);
        assert_eq!(ip.hop_limit(), 255);
        assert_eq!(ip.traffic_class(), 0);
        assert_eq!(ip.flow_label(), 0);
        let off = eth.payload_offset() + ipv6::HEADER_LEN;
        let msg = &frame[off..off + usize::from(ip.payload_len())];
        let ndp = NdpPacket::new_checked(msg).unwrap();
        assert_eq!(ndp.code(), 0);
        (eth, ip, ndp)
    }

    #[test]
    fn multicast_addresses() {
        // RFC 4291 §2.7.1's example.
        assert_eq!(
            solicited_node(a("4037::01:800:200e:8c6c")),
            a("ff02::1:ff0e:8c6c")
        );
        assert_eq!(
            solicited_node(a("2001:db8::1234:5678")),
            a("ff02::1:ff34:5678")
        );
        assert_eq!(
            multicast_mac(a("ff02::1:ff34:5678")),
            MacAddr([0x33, 0x33, 0xff, 0x34, 0x56, 0x78])
        );
        assert_eq!(
            multicast_mac(a("ff02::1")),
            MacAddr([0x33, 0x33, 0, 0, 0, 1])
        );
    }

    #[test]
    fn known_good_neighbor_solicit() {
        let mut buf = [0xaau8; 100];
        let len = emit_neighbor_solicit(&mut buf, MAC1, a("2001:db8::1"), a("2001:db8::1234:5678"));
        assert_eq!(len, FRAME_LEN);
        assert_eq!(&buf[..len], &GOLDEN_NS[..]);
        assert!(
            buf[len..].iter().all(|&b| b == 0xaa),
            "nothing past the frame"
        );
        let frame = &buf[..len];
        assert!(checksum_verifies(&frame[14..]));
        let (eth, ip, ns) = parse(frame);
        assert_eq!(eth.dst(), MacAddr([0x33, 0x33, 0xff, 0x34, 0x56, 0x78]));
        assert_eq!(eth.src(), MAC1);
        assert_eq!(ip.src(), a("2001:db8::1"));
        assert_eq!(ip.dst(), a("ff02::1:ff34:5678"));
        assert_eq!(ns.kind(), kind::NEIGHBOR_SOLICIT);
        assert_eq!(ns.flags(), 0);
        assert_eq!(ns.target(), a("2001:db8::1234:5678"));
        assert_eq!(ns.option_mac(option::SOURCE_LL), Some(MAC1));
        assert_eq!(ns.option_mac(option::TARGET_LL), None);
        assert!(ns.verify_checksum(ip.src(), ip.dst()));
        let icmp = icmpv6::Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(ip.src(), ip.dst()));
        assert!(!icmp.is_error());
    }

    #[test]
    fn known_good_neighbor_advert() {
        let mut buf = [0u8; FRAME_LEN];
        let len = emit_neighbor_advert(
            &mut buf,
            MAC1,
            MAC2,
            a("2001:db8::10"),
            a("2001:db8::2"),
            a("2001:db8::10"),
            true,
        );
        assert_eq!(len, FRAME_LEN);
        assert_eq!(buf, GOLDEN_NA);
        assert!(checksum_verifies(&buf[14..]));
        let (eth, ip, na) = parse(&buf);
        assert_eq!((eth.dst(), eth.src()), (MAC2, MAC1));
        assert_eq!((ip.src(), ip.dst()), (a("2001:db8::10"), a("2001:db8::2")));
        assert_eq!(na.kind(), kind::NEIGHBOR_ADVERT);
        assert!(na.is_solicited() && na.is_override() && !na.is_router());
        assert_eq!(na.target(), a("2001:db8::10"));
        assert_eq!(na.option_mac(option::TARGET_LL), Some(MAC1));
        assert_eq!(na.option_mac(option::SOURCE_LL), None);
        assert!(na.verify_checksum(ip.src(), ip.dst()));
    }

    #[test]
    fn unsolicited_advert_has_only_override() {
        let mut buf = [0u8; FRAME_LEN];
        let all_nodes = a("ff02::1");
        let len = emit_neighbor_advert(
            &mut buf,
            MAC1,
            multicast_mac(all_nodes),
            a("2001:db8::10"),
            all_nodes,
            a("2001:db8::10"),
            false,
        );
        assert!(checksum_verifies(&buf[14..len]));
        let (eth, _, na) = parse(&buf[..len]);
        assert_eq!(eth.dst(), MacAddr([0x33, 0x33, 0, 0, 0, 1]));
        assert_eq!(na.flags(), flag::OVERRIDE);
    }

    #[test]
    fn dad_solicit_has_no_source_option() {
        let mut buf = [0u8; FRAME_LEN];
        let len = emit_neighbor_solicit(&mut buf, MAC1, Ipv6Addr::UNSPECIFIED, a("fe80::1"));
        assert_eq!(len, FRAME_LEN - LL_OPTION_LEN);
        assert!(checksum_verifies(&buf[14..len]));
        let (_, ip, ns) = parse(&buf[..len]);
        assert_eq!(ip.payload_len(), 24);
        assert!(ns.options().is_empty());
        assert_eq!(ns.option_mac(option::SOURCE_LL), None);
    }

    /// An NS message with `options` after the fixed part.
    fn with_options(options: &[u8]) -> Vec<u8> {
        let mut m = vec![kind::NEIGHBOR_SOLICIT, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&a("2001:db8::1").octets());
        m.extend_from_slice(options);
        m
    }

    #[test]
    fn option_walk() {
        let mac = [1, 2, 3, 4, 5, 6];
        let ll = |k: u8| [k, 1, 1, 2, 3, 4, 5, 6];
        let m = |o: &[u8]| with_options(o);
        let get = |b: &[u8], k| NdpPacket::new_checked(b).unwrap().option_mac(k);
        assert_eq!(get(&m(&ll(1)), 1), Some(MacAddr(mac)));
        // An unknown option of 16 bytes first, then the one wanted.
        let mut o = vec![14, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        o.extend_from_slice(&ll(2));
        assert_eq!(get(&m(&o), 2), Some(MacAddr(mac)));
        assert_eq!(get(&m(&o), 1), None);
        // The first of two wins.
        let mut two = ll(1).to_vec();
        two.extend_from_slice(&[1, 1, 9, 9, 9, 9, 9, 9]);
        assert_eq!(get(&m(&two), 1), Some(MacAddr(mac)));
        // Zero length, before or after the match: malformed, and no loop.
        assert_eq!(get(&m(&[1, 0, 1, 2, 3, 4, 5, 6]), 1), None);
        let mut zero_after = ll(1).to_vec();
        zero_after.extend_from_slice(&[0; 8]);
        assert_eq!(get(&m(&zero_after), 1), None);
        // Running past the end, or a short tail.
        assert_eq!(get(&m(&[1, 2, 1, 2, 3, 4, 5, 6]), 1), None);
        assert_eq!(get(&m(&[1, 1, 1, 2, 3, 4]), 1), None);
        let mut tail = ll(1).to_vec();
        tail.push(2);
        assert_eq!(get(&m(&tail), 1), None);
        // No options.
        assert_eq!(get(&m(&[]), 1), None);
        assert_eq!(
            NdpPacket::new_checked(&m(&[])[..23]).unwrap_err(),
            Malformed::NdpTruncated
        );
    }

    proptest! {
        /// No accessor or setter panics on any bytes `new_checked` accepts,
        /// and the option walk ends.
        #[test]
        fn arbitrary_bytes_never_panic(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..120),
            kind in any::<u8>(),
        ) {
            if let Ok(mut p) = NdpPacket::new_checked(&mut bytes[..]) {
                let _ = (p.kind(), p.code(), p.checksum(), p.flags(), p.target());
                let _ = (p.is_router(), p.is_solicited(), p.is_override(), p.options().len());
                let _ = (p.option_mac(option::SOURCE_LL), p.option_mac(option::TARGET_LL));
                let _ = p.option_mac(kind);
                p.set_flags(kind);
                p.set_target(Ipv6Addr::LOCALHOST);
                p.fill_checksum(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED);
                prop_assert!(p.verify_checksum(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED));
            }
        }

        /// Well-formed options: the walk finds what a simple model finds.
        #[test]
        fn option_walk_matches_model(
            options in proptest::collection::vec(
                (1u8..5, 1u8..4, any::<[u8; 6]>()), 0..6),
            kind in 1u8..5,
        ) {
            let mut bytes = Vec::new();
            for &(k, units, mac) in &options {
                bytes.extend_from_slice(&[k, units]);
                bytes.extend_from_slice(&mac);
                bytes.resize(bytes.len() + (usize::from(units) - 1) * 8, 0xee);
            }
            let m = with_options(&bytes);
            let want = options.iter().find(|o| o.0 == kind).map(|o| MacAddr(o.2));
            prop_assert_eq!(NdpPacket::new_checked(&m[..]).unwrap().option_mac(kind), want);
        }

        /// Whatever the addresses, the builders' frames parse and verify.
        #[test]
        fn builders_verify(
            mac in any::<[u8; 6]>(), peer in any::<[u8; 6]>(),
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), target in any::<[u8; 16]>(),
            solicited in any::<bool>(),
        ) {
            let (src, dst, target) = (Ipv6Addr::from(src), Ipv6Addr::from(dst), Ipv6Addr::from(target));
            let mut buf = [0u8; FRAME_LEN];
            let len = emit_neighbor_solicit(&mut buf, MacAddr(mac), src, target);
            prop_assert!(checksum_verifies(&buf[14..len]));
            let (_, ip, ns) = parse(&buf[..len]);
            prop_assert_eq!(ip.dst(), solicited_node(target));
            prop_assert_eq!(ns.target(), target);
            let len = emit_neighbor_advert(&mut buf, MacAddr(mac), MacAddr(peer), src, dst, target, solicited);
            prop_assert!(checksum_verifies(&buf[14..len]));
            let (_, _, na) = parse(&buf[..len]);
            prop_assert_eq!(na.is_solicited(), solicited);
            prop_assert_eq!(na.option_mac(option::TARGET_LL), Some(MacAddr(mac)));
        }
    }
}
