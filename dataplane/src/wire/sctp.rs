//! SCTP packets (RFC 9260): the 12-byte common header (ports, verification
//! tag, CRC32c checksum) and the chunks after it.
//!
//! Contract: `new_checked` takes the whole SCTP packet (the IP payload) and
//! validates the common header and the first chunk's header (4 bytes, a
//! length of at least 4 that the packet holds); after it no method panics.
//! Later chunks are walked by [`SctpPacket::chunk_types`], which stops at
//! the first chunk whose length does not fit. The checksum covers the whole
//! packet with its field zero (RFC 9260 appendix A) and is stored least
//! significant byte first; [`SctpPacket::checksum`] reads it as that value.

use super::checksum::crc32c_update;
use super::{get_u16, Malformed};

/// The common header.
pub const HEADER_LEN: usize = 12;
/// A chunk's header: type, flags, length.
pub const CHUNK_HEADER_LEN: usize = 4;
/// The IP protocol number of SCTP.
pub const PROTOCOL: u8 = 132;

mod field {
    use core::ops::Range;
    pub(super) const VTAG: Range<usize> = 4..8;
    pub(super) const CHECKSUM: Range<usize> = 8..12;
    // Relative to a chunk's start.
    pub(super) const CHUNK_TYPE: usize = 0;
    pub(super) const CHUNK_FLAGS: usize = 1;
    pub(super) const CHUNK_LENGTH: Range<usize> = 2..4;
}

/// Chunk types (RFC 9260 §3.2, RFC 6525, RFC 4895...), as IPVS names them.
pub mod chunk {
    pub const DATA: u8 = 0;
    pub const INIT: u8 = 1;
    pub const INIT_ACK: u8 = 2;
    pub const SACK: u8 = 3;
    pub const HEARTBEAT: u8 = 4;
    pub const HEARTBEAT_ACK: u8 = 5;
    pub const ABORT: u8 = 6;
    pub const SHUTDOWN: u8 = 7;
    pub const SHUTDOWN_ACK: u8 = 8;
    pub const ERROR: u8 = 9;
    pub const COOKIE_ECHO: u8 = 10;
    pub const COOKIE_ACK: u8 = 11;
    pub const ECNE: u8 = 12;
    pub const CWR: u8 = 13;
    pub const SHUTDOWN_COMPLETE: u8 = 14;
}

super::view! {
    /// An SCTP packet.
    SctpPacket
}

// SCTP's ports stand where TCP's and UDP's do.
super::ports::ports_view!(SctpPacket);

super::fields!(SctpPacket {
    verification_tag, set_verification_tag: u32 = field::VTAG.start;
    /// The first chunk's type.
    first_chunk: u8 = HEADER_LEN + field::CHUNK_TYPE;
    /// The first chunk's flags.
    first_chunk_flags: u8 = HEADER_LEN + field::CHUNK_FLAGS;
});

/// A chunk's length rounded up to its 4-byte padding.
#[inline]
fn padded(len: usize) -> usize {
    (len + 3) & !3
}

impl<T: AsRef<[u8]>> SctpPacket<T> {
    /// `SctpTruncated`: shorter than the common header and one chunk
    /// header; `SctpBadChunkLength`: the first chunk's length is under 4 or
    /// beyond the packet.
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN + CHUNK_HEADER_LEN {
            return Err(Malformed::SctpTruncated);
        }
        let len = usize::from(get_u16(b, HEADER_LEN + field::CHUNK_LENGTH.start));
        if len < CHUNK_HEADER_LEN || HEADER_LEN + len > b.len() {
            return Err(Malformed::SctpBadChunkLength);
        }
        Ok(SctpPacket { buffer })
    }

    /// The CRC32c field as the CRC's value (stored least significant
    /// byte first).
    #[inline]
    pub fn checksum(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The type of the chunk after the first, when the first is followed
    /// by a whole chunk header (IPVS looks at it after a COOKIE ECHO or
    /// COOKIE ACK for a bundled ABORT).
    pub fn second_chunk(&self) -> Option<u8> {
        self.chunk_types().nth(1)
    }

    /// The types of the chunks, in order, up to the first one whose
    /// header or length does not fit in the packet.
    pub fn chunk_types(&self) -> ChunkTypes<'_> {
        ChunkTypes {
            bytes: self.buffer.as_ref(),
            at: HEADER_LEN,
        }
    }

    /// The CRC32c of the packet with its checksum field taken as zero.
    pub fn compute_checksum(&self) -> u32 {
        let b = self.buffer.as_ref();
        let s = crc32c_update(!0, &b[..field::CHECKSUM.start]);
        let s = crc32c_update(s, &[0; 4]);
        !crc32c_update(s, &b[field::CHECKSUM.end..])
    }

    /// Whether the checksum field is the packet's CRC32c.
    pub fn verify_checksum(&self) -> bool {
        self.checksum() == self.compute_checksum()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SctpPacket<T> {
    #[inline]
    pub fn set_checksum(&mut self, v: u32) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_le_bytes());
    }

    /// Compute the CRC32c over the whole packet and write it.
    pub fn fill_checksum(&mut self) {
        let c = self.compute_checksum();
        self.set_checksum(c);
    }
}

/// The chunk types of a packet ([`SctpPacket::chunk_types`]).
#[derive(Clone, Debug)]
pub struct ChunkTypes<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Iterator for ChunkTypes<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let h = self.bytes.get(self.at..self.at + CHUNK_HEADER_LEN)?;
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if len < CHUNK_HEADER_LEN || self.at + len > self.bytes.len() {
            self.at = self.bytes.len();
            return None;
        }
        let ty = h[field::CHUNK_TYPE];
        self.at += padded(len);
        Some(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::crc32c;

    /// An INIT from port 5000 to 38412 (NGAP's port), tag 0, with its
    /// CRC32c written least significant byte first.
    fn init() -> Vec<u8> {
        let mut p = vec![0x13, 0x88, 0x96, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0];
        // INIT: type 1, flags 0, length 20: initiate tag, a_rwnd, streams,
        // initial TSN.
        p.extend_from_slice(&[1, 0, 0, 20]);
        p.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1]);
        let mut s = SctpPacket::new_checked(&mut p[..]).unwrap();
        s.fill_checksum();
        p
    }

    #[test]
    fn reads_the_common_header_and_first_chunk() {
        let p = init();
        let s = SctpPacket::new_checked(&p[..]).unwrap();
        assert_eq!((s.src_port(), s.dst_port()), (5000, 38412));
        assert_eq!(s.verification_tag(), 0);
        assert_eq!(s.first_chunk(), chunk::INIT);
        assert_eq!(s.second_chunk(), None);
        assert!(s.verify_checksum());
        // Stored least significant byte first: the field's bytes are the
        // CRC's little-endian ones.
        assert_eq!(p[8..12], s.compute_checksum().to_le_bytes());
    }

    /// The checksum is CRC32c over the whole packet with the field zero:
    /// checked against the catalogue's check value by building a packet
    /// whose CRC input is known.
    #[test]
    fn checksum_is_crc32c_of_the_packet_with_the_field_zero() {
        let mut p = init();
        let mut zeroed = p.clone();
        zeroed[8..12].fill(0);
        assert_eq!(
            SctpPacket::new_unchecked(&p[..]).checksum(),
            crc32c(&zeroed)
        );
        // Any flipped bit is seen.
        p[20] ^= 0x10;
        assert!(!SctpPacket::new_unchecked(&p[..]).verify_checksum());
    }

    #[test]
    fn walks_bundled_chunks_with_padding() {
        let mut p = vec![0u8; 12];
        // COOKIE ECHO of 5 bytes (padded to 8), then ABORT of 4.
        p.extend_from_slice(&[chunk::COOKIE_ECHO, 0, 0, 5, 0xaa, 0, 0, 0]);
        p.extend_from_slice(&[chunk::ABORT, 0, 0, 4]);
        let s = SctpPacket::new_checked(&p[..]).unwrap();
        assert_eq!(
            s.chunk_types().collect::<Vec<_>>(),
            [chunk::COOKIE_ECHO, chunk::ABORT]
        );
        assert_eq!(s.second_chunk(), Some(chunk::ABORT));
        // A second chunk claiming more than is there ends the walk.
        p.extend_from_slice(&[chunk::DATA, 0, 0, 40]);
        let s = SctpPacket::new_checked(&p[..]).unwrap();
        assert_eq!(s.chunk_types().count(), 2);
    }

    #[test]
    fn bad_input_is_malformed_not_a_panic() {
        assert_eq!(
            SctpPacket::new_checked(&[0u8; 15][..]).unwrap_err(),
            Malformed::SctpTruncated
        );
        let mut p = [0u8; 16];
        p[14..16].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(
            SctpPacket::new_checked(&p[..]).unwrap_err(),
            Malformed::SctpBadChunkLength
        );
        p[14..16].copy_from_slice(&8u16.to_be_bytes());
        assert_eq!(
            SctpPacket::new_checked(&p[..]).unwrap_err(),
            Malformed::SctpBadChunkLength
        );
        p[14..16].copy_from_slice(&4u16.to_be_bytes());
        assert!(SctpPacket::new_checked(&p[..]).is_ok());
        // Every prefix of every byte pattern: checked or refused, never a
        // panic, and the walk ends.
        for len in 0..40 {
            for fill in [0u8, 1, 3, 4, 0xff] {
                let b = vec![fill; len];
                if let Ok(s) = SctpPacket::new_checked(&b[..]) {
                    let _ = (s.first_chunk(), s.verify_checksum());
                    assert!(s.chunk_types().count() <= len / 4);
                }
            }
        }
    }
}
