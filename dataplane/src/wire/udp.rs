//! UDP headers.

use std::net::IpAddr;

use super::{get_u16, transport_checksum, Malformed};

pub const HEADER_LEN: usize = 8;
/// The IP protocol number of UDP.
pub const PROTOCOL: u8 = 17;

mod field {
    use core::ops::Range;
    pub(super) const LENGTH: Range<usize> = 4..6;
    pub(super) const CHECKSUM: Range<usize> = 6..8;
}

/// How many bytes of the header hold its checksum field: a quoted header
/// (in an ICMP error) cut shorter lacks it.
pub const CHECKSUM_END: usize = field::CHECKSUM.end;

super::view! {
    /// A UDP datagram. `new_checked` validates the length field against the buffer.
    UdpPacket
}

super::ports::ports_view!(UdpPacket);

super::fields!(UdpPacket {
    len, set_len: u16 = field::LENGTH.start;
    checksum, set_checksum: u16 = field::CHECKSUM.start;
});

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Malformed::UdpTruncated);
        }
        let len = usize::from(get_u16(b, field::LENGTH.start));
        if len < HEADER_LEN || len > b.len() {
            return Err(Malformed::UdpBadLength);
        }
        Ok(UdpPacket { buffer })
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == HEADER_LEN
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// Whether the checksum is true (or absent, 0, which IPv4 allows) for a
    /// datagram from `src` to `dst`, over its length field's bytes.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.checksum() == 0
            || transport_checksum(
                src,
                dst,
                PROTOCOL,
                &self.buffer.as_ref()[..usize::from(self.len())],
            ) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }

    /// Compute the checksum over the datagram (its length field's bytes)
    /// with the pseudo-header of `src` → `dst`, and write it; one that
    /// comes out 0 is written 0xffff (0 means "none", RFC 768).
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        self.set_checksum(0);
        let len = usize::from(self.len());
        let c = match transport_checksum(src, dst, PROTOCOL, &self.buffer.as_ref()[..len]) {
            0 => 0xffff,
            c => c,
        };
        self.set_checksum(c);
    }
}

/// A UDP datagram, owned but for its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    pub fn parse<T: AsRef<[u8]>>(p: &'a UdpPacket<T>) -> Self {
        UdpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload: p.payload(),
        }
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Write the datagram into `buf` (exactly [`UdpRepr::buffer_len`]
    /// bytes) with its checksum over the pseudo-header of `src` → `dst`.
    ///
    /// # Panics
    /// When `buf` has another length or the addresses are of different
    /// families (a programmer's error).
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) {
        assert_eq!(buf.len(), self.buffer_len(), "the datagram's buffer");
        let mut p = UdpPacket::new_unchecked(buf);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(self.buffer_len() as u16);
        p.payload_mut().copy_from_slice(self.payload);
        p.fill_checksum(src, dst);
    }
}
