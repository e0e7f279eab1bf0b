//! ARP for IPv4 over Ethernet (the only kind the dataplane handles).

use std::net::Ipv4Addr;

use super::ethernet::MacAddr;
use super::{get_u16, set_u16, Field, Malformed};

pub const PACKET_LEN: usize = 28;

pub mod op {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

mod field {
    use core::ops::Range;
    pub(super) const HTYPE: Range<usize> = 0..2;
    pub(super) const PTYPE: Range<usize> = 2..4;
    pub(super) const HLEN: usize = 4;
    pub(super) const PLEN: usize = 5;
    pub(super) const OPER: Range<usize> = 6..8;
    pub(super) const SHA: Range<usize> = 8..14;
    pub(super) const SPA: Range<usize> = 14..18;
    pub(super) const THA: Range<usize> = 18..24;
    pub(super) const TPA: Range<usize> = 24..28;
}

/// Hardware type Ethernet, protocol type IPv4, and their address lengths.
const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;
const HLEN_ETHERNET: u8 = 6;
const PLEN_IPV4: u8 = 4;

super::view! {
    /// An Ethernet/IPv4 ARP packet. `new_checked` rejects other hardware or
    /// protocol types.
    ArpPacket
}

super::fields!(ArpPacket {
    operation, set_operation: u16 = field::OPER.start;
    sender_mac: MacAddr = field::SHA.start;
    sender_ip: Ipv4Addr = field::SPA.start;
    target_mac: MacAddr = field::THA.start;
    target_ip: Ipv4Addr = field::TPA.start;
});

impl<T: AsRef<[u8]>> ArpPacket<T> {
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let b = buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(Malformed::ArpTruncated);
        }
        if get_u16(b, field::HTYPE.start) != HTYPE_ETHERNET
            || get_u16(b, field::PTYPE.start) != PTYPE_IPV4
            || b[field::HLEN] != HLEN_ETHERNET
            || b[field::PLEN] != PLEN_IPV4
        {
            return Err(Malformed::ArpUnsupported);
        }
        Ok(ArpPacket { buffer })
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    fn set_fixed(&mut self) {
        let b = self.buffer.as_mut();
        set_u16(b, field::HTYPE.start, HTYPE_ETHERNET);
        set_u16(b, field::PTYPE.start, PTYPE_IPV4);
        b[field::HLEN] = HLEN_ETHERNET;
        b[field::PLEN] = PLEN_IPV4;
    }

    pub fn set_sender(&mut self, mac: MacAddr, ip: Ipv4Addr) {
        let b = self.buffer.as_mut();
        mac.write(b, field::SHA.start);
        ip.write(b, field::SPA.start);
    }

    pub fn set_target(&mut self, mac: MacAddr, ip: Ipv4Addr) {
        let b = self.buffer.as_mut();
        mac.write(b, field::THA.start);
        ip.write(b, field::TPA.start);
    }
}

/// An ARP packet, owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    pub operation: u16,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Self {
        ArpRepr {
            operation: p.operation(),
            sender_mac: p.sender_mac(),
            sender_ip: p.sender_ip(),
            target_mac: p.target_mac(),
            target_ip: p.target_ip(),
        }
    }

    /// Write the 28 bytes into `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = ArpPacket::new_unchecked(buf);
        p.set_fixed();
        p.set_operation(self.operation);
        p.set_sender(self.sender_mac, self.sender_ip);
        p.set_target(self.target_mac, self.target_ip);
    }
}

/// Build a broadcast ARP request frame (Ethernet + ARP, padded to 60 bytes)
/// into `buf`, returning its length. `buf` must hold 60 bytes.
/// A gratuitous ARP for `addr` (keepalived's, `spec/vrrp.md` §6.6): a
/// broadcast request whose sender and target are `addr` and whose target
/// hardware address is the broadcast one. Returns the frame's length.
pub fn build_gratuitous(buf: &mut [u8], src_mac: MacAddr, addr: Ipv4Addr) -> usize {
    let len = build_request(buf, src_mac, addr, addr);
    let mut a = ArpPacket::new_unchecked(&mut buf[super::ethernet::HEADER_LEN..]);
    a.set_target(MacAddr::BROADCAST, addr);
    len
}

pub fn build_request(
    buf: &mut [u8],
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    target: Ipv4Addr,
) -> usize {
    const FRAME_LEN: usize = 60;
    buf[..FRAME_LEN].fill(0);
    super::ethernet::EthernetRepr {
        dst: MacAddr::BROADCAST,
        src: src_mac,
        ethertype: super::ethernet::ethertype::ARP,
    }
    .emit(buf);
    ArpRepr {
        operation: op::REQUEST,
        sender_mac: src_mac,
        sender_ip: src_ip,
        target_mac: MacAddr::ZERO,
        target_ip: target,
    }
    .emit(&mut buf[super::ethernet::HEADER_LEN..]);
    FRAME_LEN
}
