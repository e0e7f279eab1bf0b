//! ICMPv4 headers (type, code, checksum, and the 4-byte rest-of-header).

use super::Malformed;

pub const HEADER_LEN: usize = 8;

pub mod kind {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
}

/// The header ICMPv4 and ICMPv6 share (RFC 792, RFC 4443 §2.1): type, code,
/// checksum, and 4 bytes whose meaning depends on the type.
pub(super) mod field {
    use core::ops::Range;
    pub(in crate::wire) const KIND: usize = 0;
    pub(in crate::wire) const CODE: usize = 1;
    pub(in crate::wire) const CHECKSUM: Range<usize> = 2..4;
    pub(in crate::wire) const REST: Range<usize> = 4..8;
}

pub mod unreach {
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
}

/// The view `$view` (a `buffer` over the whole message) of the header
/// ICMPv4 and ICMPv6 share ([`field`]), whose `new_checked` says `$short` of
/// a buffer shorter than the header, and `parse` and `buffer_len` for its
/// Repr `$repr` (`kind`, `code`, `rest`, `payload`).
macro_rules! icmp_view {
    ($(#[$doc:meta])* $view:ident, $repr:ident, $short:expr) => {
        $crate::wire::view! {
            $(#[$doc])*
            $view
        }

        $crate::wire::fields!($view {
            kind, set_kind: u8 = $crate::wire::icmp::field::KIND;
            code, set_code: u8 = $crate::wire::icmp::field::CODE;
            checksum, set_checksum: u16 = $crate::wire::icmp::field::CHECKSUM.start;
            /// Bytes 4..8 (identifier/sequence, next-hop MTU, ICMPv6's
            /// pointer or NA flags, unused).
            rest, set_rest: [u8; 4] = $crate::wire::icmp::field::REST.start;
        });

        impl<T: AsRef<[u8]>> $view<T> {
            pub fn new_checked(buffer: T) -> Result<Self, $crate::wire::Malformed> {
                if buffer.as_ref().len() < $crate::wire::icmp::HEADER_LEN {
                    return Err($short);
                }
                Ok($view { buffer })
            }

            /// The body after the 8-byte header (for an error, the quoted
            /// packet).
            pub fn payload(&self) -> &[u8] {
                &self.buffer.as_ref()[$crate::wire::icmp::HEADER_LEN..]
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $view<T> {
            pub fn payload_mut(&mut self) -> &mut [u8] {
                &mut self.buffer.as_mut()[$crate::wire::icmp::HEADER_LEN..]
            }
        }

        impl<'a> $repr<'a> {
            pub fn parse<T: AsRef<[u8]>>(p: &'a $view<T>) -> Self {
                $repr {
                    kind: p.kind(),
                    code: p.code(),
                    rest: p.rest(),
                    payload: p.payload(),
                }
            }

            pub fn buffer_len(&self) -> usize {
                $crate::wire::icmp::HEADER_LEN + self.payload.len()
            }
        }
    };
}
pub(super) use icmp_view;

icmp_view!(
    /// An ICMPv4 message. `new_checked` validates that the fixed 8-byte
    /// header is present.
    IcmpPacket,
    IcmpRepr,
    Malformed::IcmpTruncated
);

impl<T: AsRef<[u8]>> IcmpPacket<T> {
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
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
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

impl IcmpRepr<'_> {
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
