//! ICMPv4 headers (type, code, checksum, and the 4-byte rest-of-header).

use super::{get_u16, set_u16, Malformed};

pub const HEADER_LEN: usize = 8;

pub mod kind {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
}

mod field {
    use core::ops::Range;
    pub(super) const KIND: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: Range<usize> = 2..4;
    pub(super) const REST: Range<usize> = 4..8;
}

pub mod unreach {
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
}

#[derive(Debug)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Malformed::IcmpTruncated);
        }
        Ok(IcmpPacket { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn kind(&self) -> u8 {
        self.buffer.as_ref()[field::KIND]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Bytes 4..8 (identifier/sequence, next-hop MTU, unused).
    pub fn rest(&self) -> [u8; 4] {
        let b = &self.buffer.as_ref()[field::REST];
        [b[0], b[1], b[2], b[3]]
    }

    /// Whether the checksum over the whole message is true.
    pub fn verify_checksum(&self) -> bool {
        super::checksum::checksum(self.buffer.as_ref()) == 0
    }

    /// ICMP error messages (the ones that quote a packet).
    pub fn is_error(&self) -> bool {
        matches!(
            self.kind(),
            kind::DEST_UNREACHABLE | 4 | kind::TIME_EXCEEDED
        )
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    pub fn set_kind(&mut self, v: u8) {
        self.buffer.as_mut()[field::KIND] = v;
    }

    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    pub fn set_rest(&mut self, v: [u8; 4]) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&v);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Checksum over the whole message (header and payload).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = super::checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// An ICMPv4 message, owned but for its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpRepr<'a> {
    pub kind: u8,
    pub code: u8,
    /// Bytes 4..8 (identifier/sequence, next-hop MTU, unused).
    pub rest: [u8; 4],
    /// The body (for an error, the quoted packet).
    pub payload: &'a [u8],
}

impl<'a> IcmpRepr<'a> {
    pub fn parse<T: AsRef<[u8]>>(p: &'a IcmpPacket<T>) -> Self {
        IcmpRepr {
            kind: p.kind(),
            code: p.code(),
            rest: p.rest(),
            payload: p.payload(),
        }
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Write the message into `buf` (exactly [`IcmpRepr::buffer_len`]
    /// bytes) with its checksum.
    ///
    /// # Panics
    /// When `buf` has another length (a programmer's error).
    pub fn emit(&self, buf: &mut [u8]) {
        assert_eq!(buf.len(), self.buffer_len(), "the message's buffer");
        let mut p = IcmpPacket::new_unchecked(buf);
        p.set_kind(self.kind);
        p.set_code(self.code);
        p.set_rest(self.rest);
        p.payload_mut().copy_from_slice(self.payload);
        p.fill_checksum();
    }
}
