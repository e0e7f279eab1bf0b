//! IPv4 headers.

use std::net::Ipv4Addr;

use super::{checksum, get_u16, set_u16, Malformed};

pub const HEADER_LEN_MIN: usize = 20;

pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const IPIP: u8 = 4;
    /// IPv6 in IP (RFC 2473), the next header of IPv6-in-IPv6 tunnels.
    pub const IPV6_IN_IP: u8 = 41;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const SCTP: u8 = 132;
    pub const ICMPV6: u8 = 58;
}

mod field {
    use core::ops::Range;
    pub(super) const VER_IHL: usize = 0;
    pub(super) const TOS: usize = 1;
    pub(super) const TOTAL_LEN: Range<usize> = 2..4;
    pub(super) const IDENT: Range<usize> = 4..6;
    pub(super) const FLAGS_FRAG: Range<usize> = 6..8;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: Range<usize> = 10..12;
    pub(super) const SRC: Range<usize> = 12..16;
    pub(super) const DST: Range<usize> = 16..20;
}

super::view! {
    /// An IPv4 packet. `new_checked` validates version, IHL and total length
    /// against the buffer (trailing bytes past the total length, e.g. Ethernet
    /// padding, are allowed and ignored by [`Ipv4Packet::payload`]).
    Ipv4Packet
}

super::fields!(Ipv4Packet {
    tos, set_tos: u8 = field::TOS;
    total_len, set_total_len: u16 = field::TOTAL_LEN.start;
    ident, set_ident: u16 = field::IDENT.start;
    ttl, set_ttl: u8 = field::TTL;
    protocol, set_protocol: u8 = field::PROTOCOL;
    checksum, set_checksum: u16 = field::CHECKSUM.start;
    src_raw: [u8; 4] = field::SRC.start;
    dst_raw: [u8; 4] = field::DST.start;
    src, set_src: Ipv4Addr = field::SRC.start;
    dst, set_dst: Ipv4Addr = field::DST.start;
});

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN_MIN {
            return Err(Malformed::Ipv4Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(Malformed::Ipv4BadVersion);
        }
        let hl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        if hl < HEADER_LEN_MIN {
            return Err(Malformed::Ipv4BadHeaderLength);
        }
        if hl > b.len() {
            return Err(Malformed::Ipv4Truncated);
        }
        let total = usize::from(get_u16(b, field::TOTAL_LEN.start));
        if total < hl || total > b.len() {
            return Err(Malformed::Ipv4BadTotalLength);
        }
        Ok(Ipv4Packet { buffer })
    }

    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG.start) & 0x4000 != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG.start) & 0x2000 != 0
    }

    #[inline]
    pub fn frag_offset(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG.start) & 0x1fff
    }

    /// A fragment, first or later.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// The bytes after the header, up to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    pub fn set_ver_ihl(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Set the DF flag and clear MF and the offset.
    #[inline]
    pub fn set_flags_df(&mut self, df: bool) {
        set_u16(
            self.buffer.as_mut(),
            field::FLAGS_FRAG.start,
            if df { 0x4000 } else { 0 },
        );
    }

    /// Make this a fragment at `offset` bytes (a multiple of 8) of its
    /// datagram, with more to follow or not; DF is cleared.
    #[inline]
    pub fn set_fragment(&mut self, offset: u16, more: bool) {
        set_u16(
            self.buffer.as_mut(),
            field::FLAGS_FRAG.start,
            ((offset / 8) & 0x1fff) | if more { 0x2000 } else { 0 },
        );
    }

    /// Recompute the header checksum from scratch (for headers we build).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let total = usize::from(self.total_len());
        &mut self.buffer.as_mut()[hl..total]
    }

    /// The whole buffer, for edits that span the header and what follows
    /// (the views of the next header over `[header_len..]`).
    #[inline]
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
}

/// An IPv4 header without options, owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub payload_len: usize,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
}

impl Ipv4Repr {
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Self {
        Ipv4Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
        }
    }

    /// Write a 20-byte header with a correct checksum into `buf`.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Ipv4Packet::new_unchecked(buf);
        p.set_ver_ihl(HEADER_LEN_MIN);
        p.set_tos(self.tos);
        p.set_total_len((HEADER_LEN_MIN + self.payload_len) as u16);
        p.set_ident(self.ident);
        p.set_flags_df(self.dont_frag);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src(self.src);
        p.set_dst(self.dst);
        p.fill_checksum();
    }
}
