//! The TOA TCP option, which carries the client's address to a FullNAT real
//! server: as Alibaba's LVS (IPv4) and DPVS (IPv6) define it, kind 254, its
//! length, the client's port, then the client's address, in network order.
//!
//! Only built here (the director inserts it, `nat::insert_toa*`); a fixed
//! array per family, so nothing can panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::set_u16;

/// The option's kind.
pub const KIND: u8 = 254;
/// The option's length with an IPv4 address.
pub const LEN_V4: usize = field::ADDR + 4;
/// The option's length with an IPv6 address.
pub const LEN_V6: usize = field::ADDR + 16;

mod field {
    use core::ops::Range;
    pub(super) const KIND: usize = 0;
    pub(super) const LEN: usize = 1;
    pub(super) const PORT: Range<usize> = 2..4;
    /// The address runs from here to the option's end.
    pub(super) const ADDR: usize = 4;
}

/// Fill `option` (the whole option, [`field::ADDR`] plus `addr`'s length)
/// with the kind, the length, `port` and `addr`.
#[inline]
fn fill(option: &mut [u8], port: u16, addr: &[u8]) {
    option[field::KIND] = KIND;
    option[field::LEN] = option.len() as u8;
    set_u16(option, field::PORT.start, port);
    option[field::ADDR..].copy_from_slice(addr);
}

/// The option carrying the IPv4 client (`addr`, `port`).
#[inline]
pub fn option_v4(addr: Ipv4Addr, port: u16) -> [u8; LEN_V4] {
    let mut o = [0; LEN_V4];
    fill(&mut o, port, &addr.octets());
    o
}

/// The option carrying the IPv6 client (`addr`, `port`).
#[inline]
pub fn option_v6(addr: Ipv6Addr, port: u16) -> [u8; LEN_V6] {
    let mut o = [0; LEN_V6];
    fill(&mut o, port, &addr.octets());
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_lie_as_lvs_and_dpvs_define_them() {
        assert_eq!(
            option_v4(Ipv4Addr::new(192, 0, 2, 7), 0x1234),
            [254, 8, 0x12, 0x34, 192, 0, 2, 7]
        );
        let o = option_v6("2001:db8::9".parse().unwrap(), 443);
        assert_eq!(&o[..4], &[254, 20, 0x01, 0xbb]);
        assert_eq!(
            &o[4..],
            &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]
        );
    }
}
