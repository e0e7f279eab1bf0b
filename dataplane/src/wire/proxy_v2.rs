//! The PROXY protocol v2 header (HAProxy's `proxy-protocol.txt` §2.2) for
//! TCP over IPv4 or IPv6: the bytes [`crate::proxy`] puts in front of a
//! FullNAT connection's stream.

use std::net::IpAddr;

use super::set_u16;

/// The v2 signature.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The fixed part: signature, version and command, family and transport,
/// and the length of the addresses that follow.
pub const HEADER_LEN: usize = 16;
/// The addresses and ports of TCP over IPv4.
pub const ADDRS_V4_LEN: usize = 12;
/// The addresses and ports of TCP over IPv6.
pub const ADDRS_V6_LEN: usize = 36;

mod field {
    use core::ops::Range;
    pub(super) const SIGNATURE: Range<usize> = 0..12;
    pub(super) const VER_CMD: usize = 12;
    pub(super) const FAM: usize = 13;
    pub(super) const LEN: Range<usize> = 14..16;
    pub(super) const SRC4: Range<usize> = 16..20;
    pub(super) const DST4: Range<usize> = 20..24;
    pub(super) const SRC_PORT4: Range<usize> = 24..26;
    pub(super) const DST_PORT4: Range<usize> = 26..28;
    pub(super) const SRC6: Range<usize> = 16..32;
    pub(super) const DST6: Range<usize> = 32..48;
    pub(super) const SRC_PORT6: Range<usize> = 48..50;
    pub(super) const DST_PORT6: Range<usize> = 50..52;
}

/// Version 2, command PROXY.
const VERSION2_PROXY: u8 = 0x21;
/// Family and transport: TCP over IPv4, over IPv6, or unspecified.
const TCP4: u8 = 0x11;
const TCP6: u8 = 0x21;
const UNSPEC: u8 = 0x00;

/// Write the header of a TCP connection from `src` to `dst` into `buf`
/// (which holds [`HEADER_LEN`] + [`ADDRS_V6_LEN`] bytes at least);
/// returns its length. Addresses of two families make an UNSPEC header
/// with no addresses.
pub fn emit(buf: &mut [u8], src: (IpAddr, u16), dst: (IpAddr, u16)) -> usize {
    buf[field::SIGNATURE].copy_from_slice(&SIGNATURE);
    buf[field::VER_CMD] = VERSION2_PROXY;
    let len = match (src.0, dst.0) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            buf[field::FAM] = TCP4;
            buf[field::SRC4].copy_from_slice(&s.octets());
            buf[field::DST4].copy_from_slice(&d.octets());
            set_u16(buf, field::SRC_PORT4.start, src.1);
            set_u16(buf, field::DST_PORT4.start, dst.1);
            ADDRS_V4_LEN
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            buf[field::FAM] = TCP6;
            buf[field::SRC6].copy_from_slice(&s.octets());
            buf[field::DST6].copy_from_slice(&d.octets());
            set_u16(buf, field::SRC_PORT6.start, src.1);
            set_u16(buf, field::DST_PORT6.start, dst.1);
            ADDRS_V6_LEN
        }
        _ => {
            buf[field::FAM] = UNSPEC;
            0
        }
    };
    set_u16(buf, field::LEN.start, len as u16);
    HEADER_LEN + len
}
