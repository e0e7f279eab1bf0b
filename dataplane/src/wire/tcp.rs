//! TCP headers: the fixed 20 bytes, the options as bytes (walked by
//! [`walk_options`] for the few the dataplane edits: MSS, SACK), and the
//! payload.

use std::net::IpAddr;

use super::{get_u16, get_u32, set_u16, set_u32, transport_checksum, Malformed};

pub const HEADER_LEN_MIN: usize = 20;
/// The largest header (data offset 15).
pub const HEADER_LEN_MAX: usize = 60;
/// The IP protocol number of TCP.
pub const PROTOCOL: u8 = 6;

pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// Option kinds the dataplane reads or edits.
pub mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const SACK: u8 = 5;
    /// The MSS option's data: the 16-bit segment size.
    pub const MSS_DATA_LEN: usize = 2;
    /// A SACK block's edge: a 32-bit sequence number.
    pub const SACK_EDGE_LEN: usize = 4;
}

mod field {
    use core::ops::Range;
    pub(super) const SEQ: Range<usize> = 4..8;
    pub(super) const ACK: Range<usize> = 8..12;
    /// The data offset (high nibble) and reserved bits.
    pub(super) const DATA_OFF: usize = 12;
    pub(super) const FLAGS: usize = 13;
    pub(super) const WINDOW: Range<usize> = 14..16;
    pub(super) const CHECKSUM: Range<usize> = 16..18;
    pub(super) const URGENT: Range<usize> = 18..20;
    /// Options run from here to the data offset.
    pub(super) const OPTIONS: usize = 20;
}

/// How many bytes of the header hold its checksum field: a quoted header
/// (in an ICMP error) cut shorter lacks it.
pub const CHECKSUM_END: usize = field::CHECKSUM.end;

super::view! {
    /// A TCP segment. `new_checked` validates the data offset against the buffer.
    TcpPacket
}

super::ports::ports_view!(TcpPacket);

super::fields!(TcpPacket {
    seq, set_seq: u32 = field::SEQ.start;
    ack_number, set_ack_number: u32 = field::ACK.start;
    /// The 16-bit word of the data offset, the reserved bits and the flags,
    /// as the checksum sees it (for incremental updates of the data offset).
    offset_flags_word: u16 = field::DATA_OFF;
    flags, set_flags: u8 = field::FLAGS;
    window, set_window: u16 = field::WINDOW.start;
    checksum, set_checksum: u16 = field::CHECKSUM.start;
    urgent, set_urgent: u16 = field::URGENT.start;
});

impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN_MIN {
            return Err(Malformed::TcpTruncated);
        }
        let off = usize::from(b[field::DATA_OFF] >> 4) * 4;
        if off < HEADER_LEN_MIN {
            return Err(Malformed::TcpBadDataOffset);
        }
        if off > b.len() {
            return Err(Malformed::TcpTruncated);
        }
        Ok(TcpPacket { buffer })
    }

    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The option bytes, between the fixed header and the data offset.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Whether the checksum is true for a segment (the whole buffer) from
    /// `src` to `dst`.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        transport_checksum(src, dst, PROTOCOL, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Set the data offset to `len` bytes (a multiple of 4), keeping the
    /// reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (((len / 4) as u8) << 4) | (*b & 0x0f);
    }

    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..hl]
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }

    /// The bytes from the end of the fixed header on (options and payload,
    /// and whatever the buffer holds after them), for moves that insert an
    /// option.
    #[inline]
    pub fn after_fixed_header_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::OPTIONS..]
    }

    /// Compute the checksum over the whole buffer with the pseudo-header of
    /// `src` → `dst`, and write it.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        self.set_checksum(0);
        let c = transport_checksum(src, dst, PROTOCOL, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// Walk the TCP options `options` (a header's option bytes), calling `f`
/// with each option's kind and its data (after the kind and length bytes),
/// mutable. The walk stops at an end-of-options, at a malformed option (a
/// length below 2 or past the end) and at the end of the bytes; it never
/// panics.
#[inline]
pub fn walk_options(options: &mut [u8], mut f: impl FnMut(u8, &mut [u8])) {
    let mut at = 0;
    while at < options.len() {
        match options[at] {
            option::END => break,
            option::NOP => at += 1,
            kind => {
                let len = options.get(at + 1).map_or(0, |&l| usize::from(l));
                if len < 2 || at + len > options.len() {
                    break;
                }
                f(kind, &mut options[at + 2..at + len]);
                at += len;
            }
        }
    }
}

/// Set the value of each MSS option among `options` (walked as
/// [`walk_options`] does; a malformed one is left alone) to what `f` makes
/// of it.
#[inline]
pub fn map_mss(options: &mut [u8], mut f: impl FnMut(u16) -> u16) {
    walk_options(options, |kind, data| {
        if kind == option::MSS && data.len() == option::MSS_DATA_LEN {
            let v = f(get_u16(data, 0));
            set_u16(data, 0, v);
        }
    });
}

/// Set each edge (a 32-bit sequence number) of the SACK options among
/// `options` (walked as [`walk_options`] does) to what `f` makes of it.
#[inline]
pub fn map_sack_edges(options: &mut [u8], mut f: impl FnMut(u32) -> u32) {
    walk_options(options, |kind, data| {
        if kind == option::SACK {
            for e in data.chunks_exact_mut(option::SACK_EDGE_LEN) {
                let v = f(get_u32(e, 0));
                set_u32(e, 0, v);
            }
        }
    });
}

/// A TCP segment, owned but for its options and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    /// The option bytes, a multiple of 4 long, at most 40.
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    pub fn parse<T: AsRef<[u8]>>(p: &'a TcpPacket<T>) -> Self {
        TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq(),
            ack: p.ack_number(),
            flags: p.flags(),
            window: p.window(),
            urgent: p.urgent(),
            options: p.options(),
            payload: p.payload(),
        }
    }

    pub fn header_len(&self) -> usize {
        HEADER_LEN_MIN + self.options.len()
    }

    /// The segment's length: header, options and payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Write the segment into `buf` (exactly [`TcpRepr::buffer_len`] bytes)
    /// with its checksum over the pseudo-header of `src` → `dst`.
    ///
    /// # Panics
    /// When the options are not a multiple of 4 bytes or longer than 40,
    /// when `buf` has another length, or when the addresses are of
    /// different families (a programmer's error).
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) {
        assert!(
            self.options.len().is_multiple_of(4) && self.header_len() <= HEADER_LEN_MAX,
            "TCP options of {} bytes",
            self.options.len()
        );
        assert_eq!(buf.len(), self.buffer_len(), "the segment's buffer");
        let hl = self.header_len();
        buf[field::DATA_OFF] = 0;
        let mut p = TcpPacket::new_unchecked(buf);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq(self.seq);
        p.set_ack_number(self.ack);
        p.set_header_len(hl);
        p.set_flags(self.flags);
        p.set_window(self.window);
        p.set_urgent(self.urgent);
        p.options_mut().copy_from_slice(self.options);
        p.payload_mut().copy_from_slice(self.payload);
        p.fill_checksum(src, dst);
    }
}
