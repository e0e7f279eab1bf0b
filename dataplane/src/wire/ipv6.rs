//! IPv6 fixed headers (extension headers are not walked).

use std::net::Ipv6Addr;

use super::{get_u16, set_u16, Malformed};

pub const HEADER_LEN: usize = 40;

#[derive(Debug)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Validates the version and that the payload length fits the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Malformed::Ipv6Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(Malformed::Ipv6BadVersion);
        }
        if HEADER_LEN + usize::from(get_u16(b, 4)) > b.len() {
            return Err(Malformed::Ipv6BadPayloadLength);
        }
        Ok(Ipv6Packet { buffer })
    }

    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }

    pub fn flow_label(&self) -> u32 {
        let b = self.buffer.as_ref();
        (u32::from(b[1] & 0x0f) << 16) | (u32::from(b[2]) << 8) | u32::from(b[3])
    }

    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 4)
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[6]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[7]
    }

    pub fn src(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[8..24]);
        Ipv6Addr::from(a)
    }

    pub fn dst(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[24..40]);
        Ipv6Addr::from(a)
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    pub fn set_version_class_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let b = self.buffer.as_mut();
        b[0] = 0x60 | (traffic_class >> 4);
        b[1] = (traffic_class << 4) | ((flow_label >> 16) as u8 & 0x0f);
        b[2] = (flow_label >> 8) as u8;
        b[3] = flow_label as u8;
    }

    pub fn set_payload_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), 4, v);
    }

    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[6] = v;
    }

    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[7] = v;
    }

    pub fn set_src(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[8..24].copy_from_slice(&a.octets());
    }

    pub fn set_dst(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[24..40].copy_from_slice(&a.octets());
    }
}
