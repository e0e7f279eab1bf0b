//! IPv6 fixed headers (the extension headers after them: `ipv6ext`).

use std::net::Ipv6Addr;

use super::{get_u16, Malformed};

pub const HEADER_LEN: usize = 40;

mod field {
    use core::ops::Range;
    /// Version (4 bits), traffic class (8) and flow label (20).
    pub(super) const VER_TC_FLOW: Range<usize> = 0..4;
    pub(super) const PAYLOAD_LEN: Range<usize> = 4..6;
    pub(super) const NEXT_HEADER: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC: Range<usize> = 8..24;
    pub(super) const DST: Range<usize> = 24..40;
}

super::view! {
    /// An IPv6 packet's fixed header and what follows it.
    Ipv6Packet
}

super::fields!(Ipv6Packet {
    payload_len, set_payload_len: u16 = field::PAYLOAD_LEN.start;
    next_header, set_next_header: u8 = field::NEXT_HEADER;
    hop_limit, set_hop_limit: u8 = field::HOP_LIMIT;
    src_raw: [u8; 16] = field::SRC.start;
    dst_raw: [u8; 16] = field::DST.start;
    src, set_src: Ipv6Addr = field::SRC.start;
    dst, set_dst: Ipv6Addr = field::DST.start;
});

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Validates the version and that the payload length fits the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Malformed::Ipv6Truncated);
        }
        if b[field::VER_TC_FLOW.start] >> 4 != 6 {
            return Err(Malformed::Ipv6BadVersion);
        }
        if HEADER_LEN + usize::from(get_u16(b, field::PAYLOAD_LEN.start)) > b.len() {
            return Err(Malformed::Ipv6BadPayloadLength);
        }
        Ok(Ipv6Packet { buffer })
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW.start] >> 4
    }

    pub fn traffic_class(&self) -> u8 {
        let b = &self.buffer.as_ref()[field::VER_TC_FLOW];
        (b[0] << 4) | (b[1] >> 4)
    }

    pub fn flow_label(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::VER_TC_FLOW];
        (u32::from(b[1] & 0x0f) << 16) | (u32::from(b[2]) << 8) | u32::from(b[3])
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    pub fn set_version_class_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let b = &mut self.buffer.as_mut()[field::VER_TC_FLOW];
        b[0] = 0x60 | (traffic_class >> 4);
        b[1] = (traffic_class << 4) | ((flow_label >> 16) as u8 & 0x0f);
        b[2] = (flow_label >> 8) as u8;
        b[3] = flow_label as u8;
    }

    /// The bytes after the fixed header, up to the payload length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..HEADER_LEN + len]
    }

    /// The whole buffer, for edits that span the header and what follows
    /// (the views of the next header over `[HEADER_LEN..]`).
    #[inline]
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
}

/// An IPv6 fixed header, owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub payload_len: usize,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
}

impl Ipv6Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Self {
        Ipv6Repr {
            src: p.src(),
            dst: p.dst(),
            next_header: p.next_header(),
            payload_len: usize::from(p.payload_len()),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        }
    }

    /// Write the 40-byte header into `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Ipv6Packet::new_unchecked(buf);
        p.set_version_class_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(self.payload_len as u16);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src(self.src);
        p.set_dst(self.dst);
    }
}
