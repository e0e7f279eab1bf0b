//! ICMPv6 messages (RFC 4443): type, code, checksum and the 4-byte
//! rest-of-header, then the message body.
//!
//! Unlike ICMPv4's, the ICMPv6 checksum covers an IPv6 pseudo-header (the
//! source and destination addresses, the message length and next header 58),
//! so a rewrite of either address must update it ([`crate::nat::rewrite6_addr`]).
//!
//! Contract: the view's buffer is exactly the ICMPv6 message (the IPv6
//! payload, bounded by its payload length, since no extension headers are
//! walked); [`Icmpv6Packet::payload`] and the checksum methods cover all of
//! it. After `new_checked` (8 bytes at least) no method panics.

use std::net::Ipv6Addr;

use super::checksum::{combine, pseudo_v6, sum};
use super::Malformed;

pub const HEADER_LEN: usize = super::icmp::HEADER_LEN;

/// The IPv6 next header value of ICMPv6.
pub const NEXT_HEADER: u8 = 58;

pub mod kind {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

/// ICMP's header layout ([`super::icmp`]).
use super::icmp::field;

/// How many bytes of the header hold its checksum field: a quoted header
/// (in an ICMP error) cut shorter lacks it.
pub const CHECKSUM_END: usize = field::CHECKSUM.end;

/// The ICMPv6 checksum field value of the message `icmp` sent from `src` to
/// `dst`: the inverted sum of the pseudo-header (RFC 8200 §8.1) and the
/// message. Over a message whose checksum field is zero this is the value to
/// write; over one carrying a true checksum it is 0. `icmp` is at most an
/// IPv6 payload (65535 bytes, jumbograms are not handled).
pub fn checksum6(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8]) -> u16 {
    let pseudo = pseudo_v6(src.octets(), dst.octets(), NEXT_HEADER, icmp.len() as u32);
    !combine(&[pseudo, sum(icmp)])
}

super::icmp::icmp_view!(
    /// An ICMPv6 message. `new_checked` validates that the fixed 8-byte
    /// header is present.
    Icmpv6Packet,
    Icmpv6Repr,
    Malformed::Icmpv6Truncated
);

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// ICMPv6 error messages (types 0..=127, RFC 4443 §2.1), the ones that
    /// quote the packet that caused them.
    pub fn is_error(&self) -> bool {
        self.kind() < 128
    }

    /// Whether the checksum is true for a message from `src` to `dst`.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum6(src, dst, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Compute the checksum over the whole message with the pseudo-header of
    /// `src` → `dst`, and write it.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum6(src, dst, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// An ICMPv6 message, owned but for its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmpv6Repr<'a> {
    pub kind: u8,
    pub code: u8,
    /// Bytes 4..8 (identifier/sequence, MTU, pointer, unused, NA flags).
    pub rest: [u8; 4],
    /// The body (for an error, the quoted packet).
    pub payload: &'a [u8],
}

impl Icmpv6Repr<'_> {
    /// Write the message into `buf` (exactly [`Icmpv6Repr::buffer_len`]
    /// bytes) with its checksum over the pseudo-header of `src` → `dst`.
    ///
    /// # Panics
    /// When `buf` has another length (a programmer's error).
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
        assert_eq!(buf.len(), self.buffer_len(), "the message's buffer");
        let mut p = Icmpv6Packet::new_unchecked(buf);
        p.set_kind(self.kind);
        p.set_code(self.code);
        p.set_rest(self.rest);
        p.payload_mut().copy_from_slice(self.payload);
        p.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An echo request from 2001:db8::1 to 2001:db8::2, id 0x1234, seq 1,
    /// data "abcd"; its checksum 0x4d48 was computed independently (by hand
    /// in Python over the pseudo-header and the message).
    const ECHO: [u8; 12] = [
        128, 0, 0x4d, 0x48, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn known_echo_request_checksum() {
        let p = Icmpv6Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.kind(), kind::ECHO_REQUEST);
        assert!(!p.is_error());
        assert_eq!(p.rest(), [0x12, 0x34, 0, 1]);
        assert_eq!(p.payload(), b"abcd");
        assert!(p.verify_checksum(a("2001:db8::1"), a("2001:db8::2")));
        assert!(!p.verify_checksum(a("2001:db8::1"), a("2001:db8::3")));
        let mut m = ECHO;
        let mut p = Icmpv6Packet::new_checked(&mut m[..]).unwrap();
        p.set_checksum(0xdead);
        p.fill_checksum(a("2001:db8::1"), a("2001:db8::2"));
        assert_eq!(p.checksum(), 0x4d48);
    }

    #[test]
    fn errors_are_types_below_128() {
        for (k, error) in [
            (kind::DEST_UNREACHABLE, true),
            (kind::PACKET_TOO_BIG, true),
            (kind::TIME_EXCEEDED, true),
            (kind::PARAM_PROBLEM, true),
            (127, true),
            (kind::ECHO_REQUEST, false),
            (kind::NEIGHBOR_ADVERT, false),
        ] {
            let m = [k, 0, 0, 0, 0, 0, 0, 0];
            assert_eq!(Icmpv6Packet::new_checked(&m[..]).unwrap().is_error(), error);
        }
    }

    #[test]
    fn short_is_truncated() {
        assert_eq!(
            Icmpv6Packet::new_checked(&[0u8; 7][..]).unwrap_err(),
            Malformed::Icmpv6Truncated
        );
    }

    proptest! {
        /// No accessor panics on any bytes `new_checked` accepts, and a
        /// filled checksum verifies.
        #[test]
        fn arbitrary_bytes_never_panic(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..80),
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
        ) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            if let Ok(mut p) = Icmpv6Packet::new_checked(&mut bytes[..]) {
                let _ = (p.kind(), p.code(), p.checksum(), p.rest(), p.is_error(), p.payload().len());
                p.set_rest([1, 2, 3, 4]);
                p.fill_checksum(src, dst);
                prop_assert!(p.verify_checksum(src, dst));
            }
        }
    }
}
