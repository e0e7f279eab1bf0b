//! IPv6 extension headers (RFC 8200 §4): hop-by-hop options, routing,
//! destination options and fragment, walked from the fixed header to the
//! upper-layer header.
//!
//! Contract: [`walk`] reads only inside the bytes it is given, never
//! panics, and is bounded: at most [`EXT_MAX`] extension headers and
//! [`CHAIN_MAX`] bytes of them; past either, or with a header cut short, a
//! hop-by-hop header anywhere but first, a second fragment header or a
//! fragment header with a reserved bit set wrong, it is a [`Malformed`]
//! value (a counted drop). A later fragment (offset > 0) ends the walk at
//! its fragment header: what follows is payload, not a header. Other next
//! headers (AH, ESP, No Next Header, anything unknown) end the walk as the
//! upper layer, for the caller to take or leave.

use super::{get_u16, set_u16, set_u32, Fragment, Malformed};
use crate::wire::ipv6::{Ipv6Packet, HEADER_LEN};

/// The extension headers this walk steps over.
pub mod kind {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const DEST_OPTIONS: u8 = 60;
}

/// The most extension headers a packet may carry before the upper layer
/// (RFC 8200 §4.1 orders at most six kinds, a destination options header
/// twice).
pub const EXT_MAX: usize = 8;

/// The most bytes of extension headers walked.
pub const CHAIN_MAX: usize = 512;

/// A fragment header's length.
pub const FRAGMENT_LEN: usize = 8;

mod field {
    pub(super) const NEXT_HEADER: usize = 0;
    /// Hop-by-hop, routing, destination options: the length in 8-octet
    /// units past the first 8.
    pub(super) const HDR_EXT_LEN: usize = 1;
    /// Routing: segments left.
    pub(super) const SEGMENTS_LEFT: usize = 3;
    /// Fragment: offset (13 bits, 8-octet units), 2 reserved bits, M.
    pub(super) const OFFSET_FLAGS: usize = 2;
    pub(super) const IDENT: usize = 4;
}

super::view! {
    /// A generic extension header (hop-by-hop, routing, destination options)
    /// at the start of a buffer.
    ExtHeader
}

super::fields!(ExtHeader {
    next_header: u8 = field::NEXT_HEADER;
    /// A routing header's segments left.
    segments_left: u8 = field::SEGMENTS_LEFT;
});

impl<T: AsRef<[u8]>> ExtHeader<T> {
    /// Validates that the buffer holds the whole header.
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let b = buffer.as_ref();
        if b.len() < 8 {
            return Err(Malformed::Ipv6ExtTruncated);
        }
        let h = ExtHeader { buffer };
        if h.len() > h.buffer.as_ref().len() {
            return Err(Malformed::Ipv6ExtTruncated);
        }
        Ok(h)
    }

    /// The header's length in bytes.
    pub fn len(&self) -> usize {
        (usize::from(self.buffer.as_ref()[field::HDR_EXT_LEN]) + 1) * 8
    }

    /// Never: a header is at least 8 bytes.
    pub fn is_empty(&self) -> bool {
        false
    }
}

super::view! {
    /// A fragment header at the start of a buffer.
    FragmentHeader
}

super::fields!(FragmentHeader {
    next_header: u8 = field::NEXT_HEADER;
    ident: u32 = field::IDENT;
});

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    /// Validates the length and the reserved bits (RFC 8200 §4.5: both
    /// reserved fields are zero when sent; a nonzero pair of flag bits is
    /// not a header this walk trusts).
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        if buffer.as_ref().len() < FRAGMENT_LEN {
            return Err(Malformed::Ipv6ExtTruncated);
        }
        let h = FragmentHeader { buffer };
        if get_u16(h.buffer.as_ref(), field::OFFSET_FLAGS) & 0x0006 != 0 {
            return Err(Malformed::Ipv6ExtMalformed);
        }
        Ok(h)
    }

    /// The fragment's offset in bytes.
    pub fn offset(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::OFFSET_FLAGS) & 0xfff8
    }

    pub fn more(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::OFFSET_FLAGS) & 1 != 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragmentHeader<T> {
    /// Write a whole fragment header (tests and tools build fragments).
    pub fn emit(&mut self, next_header: u8, offset: u16, more: bool, ident: u32) {
        let b = self.buffer.as_mut();
        b[field::NEXT_HEADER] = next_header;
        b[1] = 0;
        set_u16(b, field::OFFSET_FLAGS, (offset & 0xfff8) | u16::from(more));
        set_u32(b, field::IDENT, ident);
    }
}

/// Where an IPv6 packet's upper layer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The upper-layer protocol (for a later fragment, the fragment
    /// header's next header).
    pub proto: u8,
    /// Where the upper-layer header (a later fragment: its payload) starts,
    /// from the fixed header's first byte.
    pub offset: usize,
    /// The fragment header's facts, when there is one that makes this a
    /// fragment (an atomic fragment, offset 0 and no more, is none).
    pub frag: Option<Fragment>,
    /// A routing header's segments left (0 without one).
    pub segments_left: u8,
}

impl Chain {
    /// Whether there are extension headers between the fixed header and
    /// the upper layer.
    pub fn has_ext(&self) -> bool {
        self.offset != HEADER_LEN
    }
}

/// Walk the extension headers of the IPv6 packet `ip` (from its fixed
/// header on; the walk stays within `ip`, which the caller cuts at the
/// payload length) to its upper layer.
pub fn walk(ip: &[u8]) -> Result<Chain, Malformed> {
    if ip.len() < HEADER_LEN {
        return Err(Malformed::Ipv6Truncated);
    }
    let mut next = Ipv6Packet::new_unchecked(ip).next_header();
    let mut at = HEADER_LEN;
    let mut chain = Chain {
        proto: next,
        offset: at,
        frag: None,
        segments_left: 0,
    };
    let mut seen_frag = false;
    for n in 0..=EXT_MAX {
        match next {
            kind::HOP_BY_HOP | kind::ROUTING | kind::DEST_OPTIONS => {
                if next == kind::HOP_BY_HOP && n != 0 {
                    return Err(Malformed::Ipv6ExtMalformed);
                }
                if n == EXT_MAX {
                    return Err(Malformed::Ipv6ExtTooMany);
                }
                let h = ExtHeader::new_checked(&ip[at..])?;
                if next == kind::ROUTING {
                    chain.segments_left = h.segments_left();
                }
                next = h.next_header();
                at += h.len();
            }
            kind::FRAGMENT => {
                if seen_frag {
                    return Err(Malformed::Ipv6ExtMalformed);
                }
                if n == EXT_MAX {
                    return Err(Malformed::Ipv6ExtTooMany);
                }
                seen_frag = true;
                let f = FragmentHeader::new_checked(&ip[at..])?;
                next = f.next_header();
                at += FRAGMENT_LEN;
                let (offset, more) = (f.offset(), f.more());
                if offset != 0 || more {
                    chain.frag = Some(Fragment {
                        ident: f.ident(),
                        offset,
                        more,
                    });
                }
                if offset != 0 {
                    // What follows is the datagram's middle, not a header.
                    break;
                }
            }
            _ => break,
        }
        if at - HEADER_LEN > CHAIN_MAX {
            return Err(Malformed::Ipv6ExtTooMany);
        }
    }
    chain.proto = next;
    chain.offset = at;
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(next: u8, ext: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        p[0] = 0x60;
        p[6] = next;
        p.extend_from_slice(ext);
        let len = (p.len() - HEADER_LEN) as u16;
        p[4..6].copy_from_slice(&len.to_be_bytes());
        p
    }

    fn opts(next: u8, units: u8) -> Vec<u8> {
        let mut h = vec![0u8; (usize::from(units) + 1) * 8];
        h[0] = next;
        h[1] = units;
        h
    }

    fn frag(next: u8, offset: u16, more: bool, ident: u32) -> Vec<u8> {
        let mut h = vec![0u8; FRAGMENT_LEN];
        FragmentHeader::new_unchecked(&mut h[..]).emit(next, offset, more, ident);
        h
    }

    #[test]
    fn no_extension_headers() {
        let mut p = packet(17, &[]);
        p.extend_from_slice(&[0; 8]);
        let c = walk(&p).unwrap();
        assert_eq!((c.proto, c.offset, c.frag), (17, 40, None));
        assert!(!c.has_ext());
    }

    #[test]
    fn hop_by_hop_routing_dest_options_then_udp() {
        let mut ext = opts(43, 0);
        let mut rt = opts(60, 1);
        rt[3] = 0; // segments left
        ext.extend_from_slice(&rt);
        ext.extend_from_slice(&opts(17, 2));
        ext.extend_from_slice(&[0; 8]);
        let c = walk(&packet(0, &ext)).unwrap();
        assert_eq!(c.proto, 17);
        assert_eq!(c.offset, 40 + 8 + 16 + 24);
        assert_eq!(c.segments_left, 0);
        assert!(c.has_ext());
    }

    #[test]
    fn first_and_later_fragments() {
        let mut ext = frag(17, 0, true, 0xdead_beef);
        ext.extend_from_slice(&[0; 8]);
        let c = walk(&packet(44, &ext)).unwrap();
        assert_eq!((c.proto, c.offset), (17, 48));
        assert_eq!(
            c.frag,
            Some(Fragment {
                ident: 0xdead_beef,
                offset: 0,
                more: true
            })
        );
        // A later fragment stops at its fragment header, whatever follows.
        let mut ext = frag(17, 1448, false, 7);
        ext.extend_from_slice(&[0, 1, 2, 3, 4, 5, 6, 7]);
        let c = walk(&packet(44, &ext)).unwrap();
        assert_eq!((c.proto, c.offset), (17, 48));
        assert_eq!(
            c.frag,
            Some(Fragment {
                ident: 7,
                offset: 1448,
                more: false
            })
        );
        // An atomic fragment is no fragment.
        let c = walk(&packet(44, &frag(17, 0, false, 9))).unwrap();
        assert_eq!((c.proto, c.offset, c.frag), (17, 48, None));
    }

    #[test]
    fn malformed_chains_are_errors() {
        // Cut short.
        assert_eq!(
            walk(&packet(60, &[17, 1, 0, 0])),
            Err(Malformed::Ipv6ExtTruncated)
        );
        assert_eq!(
            walk(&packet(60, &opts(17, 1)[..8])),
            Err(Malformed::Ipv6ExtTruncated)
        );
        // Hop-by-hop not first.
        let mut ext = opts(0, 0);
        ext.extend_from_slice(&opts(17, 0));
        assert_eq!(walk(&packet(60, &ext)), Err(Malformed::Ipv6ExtMalformed));
        // Two fragment headers.
        let mut ext = frag(44, 0, true, 1);
        ext.extend_from_slice(&frag(17, 0, true, 1));
        assert_eq!(walk(&packet(44, &ext)), Err(Malformed::Ipv6ExtMalformed));
        // Reserved fragment bits.
        let mut f = frag(17, 0, true, 1);
        f[3] |= 0x02;
        assert_eq!(walk(&packet(44, &f)), Err(Malformed::Ipv6ExtMalformed));
        // Too many headers.
        let mut ext = Vec::new();
        for _ in 0..EXT_MAX {
            ext.extend_from_slice(&opts(60, 0));
        }
        ext.extend_from_slice(&opts(17, 0));
        assert_eq!(walk(&packet(60, &ext)), Err(Malformed::Ipv6ExtTooMany));
        // Too many bytes.
        let mut ext = opts(60, 255);
        ext.extend_from_slice(&opts(17, 255));
        assert_eq!(walk(&packet(60, &ext)), Err(Malformed::Ipv6ExtTooMany));
        // Never a panic on any short buffer.
        for n in 0..40 {
            assert_eq!(walk(&[0x60; 64][..n]), Err(Malformed::Ipv6Truncated));
        }
    }
}
