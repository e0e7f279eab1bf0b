//! The ports at the front of a TCP, UDP or SCTP header: all three put the
//! source port in bytes 0..2 and the destination port in 2..4. An ICMP
//! error's quote may cut the transport header right after them (RFC 792
//! quotes 8 bytes), so this view needs only those 4 bytes.
//!
//! Contract: after `new_checked` (4 bytes at least) no method panics.

use super::Malformed;

/// The bytes the view needs.
pub const LEN: usize = 4;

/// Where TCP, UDP and SCTP (and this view) keep the ports.
pub(super) mod field {
    use core::ops::Range;
    pub(in crate::wire) const SRC_PORT: Range<usize> = 0..2;
    pub(in crate::wire) const DST_PORT: Range<usize> = 2..4;
}

/// The port getters and setters of the view `$view` (a `buffer` from the
/// transport header on), the same for TCP, UDP, SCTP and [`PortsPacket`].
macro_rules! ports_view {
    ($view:ident) => {
        $crate::wire::fields!($view {
            src_port, set_src_port: u16 = $crate::wire::ports::field::SRC_PORT.start;
            dst_port, set_dst_port: u16 = $crate::wire::ports::field::DST_PORT.start;
        });
    };
}
pub(super) use ports_view;

super::view! {
    /// The ports of a (possibly cut) TCP, UDP or SCTP header.
    PortsPacket
}

impl<T: AsRef<[u8]>> PortsPacket<T> {
    /// `Malformed::IcmpTruncated`: the quote that should hold them is short.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        if buffer.as_ref().len() < LEN {
            return Err(Malformed::IcmpTruncated);
        }
        Ok(PortsPacket { buffer })
    }
}

ports_view!(PortsPacket);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_first_four_bytes() {
        let mut b = [0x12, 0x34, 0x00, 0x50, 0xff];
        let mut p = PortsPacket::new_checked(&mut b[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (0x1234, 80));
        p.set_dst_port(8080);
        p.set_src_port(1);
        assert_eq!(b, [0, 1, 0x1f, 0x90, 0xff]);
        assert_eq!(
            PortsPacket::new_checked(&[0u8; 3][..]).unwrap_err(),
            Malformed::IcmpTruncated
        );
    }
}
