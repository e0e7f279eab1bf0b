//! Ethernet II frames, with an optional 802.1Q / 802.1ad tag.

use super::{get_u16, set_u16, Malformed};

/// A MAC address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Group bit set: broadcast or multicast.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Pack into the low 48 bits of a u64 (for atomic neighbour slots).
    pub fn to_u64(self) -> u64 {
        let mut b = [0u8; 8];
        b[2..].copy_from_slice(&self.0);
        u64::from_be_bytes(b)
    }

    pub fn from_u64(v: u64) -> Self {
        let b = v.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl std::str::FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let p = parts
                .next()
                .ok_or_else(|| format!("bad MAC address {s:?}"))?;
            *byte = u8::from_str_radix(p, 16).map_err(|_| format!("bad MAC address {s:?}"))?;
        }
        if parts.next().is_some() {
            return Err(format!("bad MAC address {s:?}"));
        }
        Ok(MacAddr(out))
    }
}

impl super::Field for MacAddr {
    #[inline(always)]
    fn read(b: &[u8], at: usize) -> Self {
        MacAddr(<[u8; 6]>::read(b, at))
    }

    #[inline(always)]
    fn write(self, b: &mut [u8], at: usize) {
        self.0.write(b, at);
    }
}

pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
}

pub const HEADER_LEN: usize = 14;
pub const VLAN_TAG_LEN: usize = 4;

mod field {
    use core::ops::Range;
    pub(super) const DST: Range<usize> = 0..6;
    pub(super) const SRC: Range<usize> = 6..12;
    pub(super) const ETHERTYPE: usize = 12;
}

super::view! {
    /// An Ethernet frame. `new_checked` also validates one VLAN tag when present,
    /// so [`EthernetFrame::payload_offset`] and [`EthernetFrame::inner_ethertype`]
    /// never panic.
    EthernetFrame
}

super::fields!(EthernetFrame {
    dst, set_dst: MacAddr = field::DST.start;
    src, set_src: MacAddr = field::SRC.start;
    /// The outer ethertype (0x8100 when tagged).
    ethertype, set_ethertype: u16 = field::ETHERTYPE;
});

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Malformed::EthernetTruncated);
        }
        let et = get_u16(b, field::ETHERTYPE);
        if (et == ethertype::VLAN || et == ethertype::QINQ) && b.len() < HEADER_LEN + VLAN_TAG_LEN {
            return Err(Malformed::VlanTruncated);
        }
        Ok(EthernetFrame { buffer })
    }

    /// The VLAN id when the frame carries one tag.
    pub fn vlan_id(&self) -> Option<u16> {
        if self.is_tagged() {
            Some(get_u16(self.buffer.as_ref(), HEADER_LEN) & 0x0fff)
        } else {
            None
        }
    }

    #[inline]
    fn is_tagged(&self) -> bool {
        let et = self.ethertype();
        et == ethertype::VLAN || et == ethertype::QINQ
    }

    /// The ethertype of the payload, after a VLAN tag if there is one.
    #[inline]
    pub fn inner_ethertype(&self) -> u16 {
        if self.is_tagged() {
            get_u16(self.buffer.as_ref(), HEADER_LEN + 2)
        } else {
            self.ethertype()
        }
    }

    /// The payload's ethertype and where it starts, after a VLAN tag if
    /// there is one: [`EthernetFrame::inner_ethertype`] and
    /// [`EthernetFrame::payload_offset`] with one look at the tag.
    #[inline]
    pub fn inner(&self) -> (u16, usize) {
        if self.is_tagged() {
            (
                get_u16(self.buffer.as_ref(), HEADER_LEN + 2),
                HEADER_LEN + VLAN_TAG_LEN,
            )
        } else {
            (self.ethertype(), HEADER_LEN)
        }
    }

    /// Where the L3 header starts.
    #[inline]
    pub fn payload_offset(&self) -> usize {
        if self.is_tagged() {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_offset()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Set the payload's ethertype, after a VLAN tag if there is one.
    pub fn set_inner_ethertype(&mut self, et: u16) {
        if self.is_tagged() {
            set_u16(self.buffer.as_mut(), HEADER_LEN + 2, et);
        } else {
            self.set_ethertype(et);
        }
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let off = self.payload_offset();
        &mut self.buffer.as_mut()[off..]
    }
}

/// An untagged Ethernet header, owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetRepr {
    pub dst: MacAddr,
    pub src: MacAddr,
    pub ethertype: u16,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Self {
        EthernetRepr {
            dst: frame.dst(),
            src: frame.src(),
            ethertype: frame.ethertype(),
        }
    }

    /// Write the header into the first [`HEADER_LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut f = EthernetFrame::new_unchecked(buf);
        f.set_dst(self.dst);
        f.set_src(self.src);
        f.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `inner` is `inner_ethertype` and `payload_offset` together, for
        /// tagged (802.1Q, 802.1ad) and untagged frames alike.
        #[test]
        fn inner_is_the_two_getters(
            mut b in proptest::collection::vec(any::<u8>(), 14..40),
            tag in prop_oneof![Just(ethertype::VLAN), Just(ethertype::QINQ), any::<u16>()],
        ) {
            b[12..14].copy_from_slice(&tag.to_be_bytes());
            if let Ok(f) = EthernetFrame::new_checked(&b[..]) {
                prop_assert_eq!(f.inner(), (f.inner_ethertype(), f.payload_offset()));
            }
        }
    }
}
