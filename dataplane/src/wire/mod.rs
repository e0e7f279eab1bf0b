//! Typed, zero-copy views over packet bytes (in the manner of smoltcp's `wire`).
//!
//! Contract: every view has `new_unchecked` (no checks, for bytes already
//! validated) and `new_checked`, which validates lengths and the header fields
//! that decide where the next header starts. After `new_checked` succeeds no
//! getter or setter of that view can panic, whatever the bytes. Setters exist
//! where the buffer is `AsMut<[u8]>`. `*Repr` types are owned summaries with
//! `parse`/`emit`, used by tests and by control traffic (ARP requests).
//!
//! Each view names its fields' byte ranges in a private `mod field`, and
//! declares itself with `view!` and its fixed-place fields with `fields!`
//! (one line a field: getter, optional setter, type, offset; the value types
//! are `Field`s). What is not a whole big-endian field is written out by
//! hand: header lengths in a nibble, flag bits within a word, options,
//! SCTP's CRC32c (stored least significant byte first). Code
//! outside `wire` reads and writes headers through the views, never by raw
//! offsets (`nat` and `proxy` rewrite through `new_unchecked` views over bytes
//! the pipeline validated).
//!
//! A malformed packet is a [`Malformed`] value, which the pipeline counts as a
//! drop with that reason. Nothing here allocates, except [`build`], the frame
//! builder that tests, benchmarks and tools share (never on the packet path).

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub mod arp;
pub mod build;
pub use rvs_checksum as checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6ext;
pub mod ndp;
pub mod ports;
pub mod proxy_v2;
pub mod sctp;
pub mod tcp;
pub mod toa;
pub mod udp;

/// Why a packet could not be parsed. Each maps to one drop counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    EthernetTruncated,
    VlanTruncated,
    ArpTruncated,
    ArpUnsupported,
    Ipv4Truncated,
    Ipv4BadVersion,
    Ipv4BadHeaderLength,
    Ipv4BadTotalLength,
    Ipv6Truncated,
    Ipv6BadVersion,
    Ipv6BadPayloadLength,
    Ipv6ExtTruncated,
    Ipv6ExtMalformed,
    Ipv6ExtTooMany,
    TcpTruncated,
    TcpBadDataOffset,
    UdpTruncated,
    UdpBadLength,
    SctpTruncated,
    SctpBadChunkLength,
    IcmpTruncated,
    Icmpv6Truncated,
    NdpTruncated,
}

/// The fragment facts of an IPv4 header or an IPv6 fragment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// IPv4's 16-bit identification, IPv6's 32-bit one.
    pub ident: u32,
    /// The fragment's offset in the datagram, in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
}

/// A value a header holds at a byte offset, big-endian: what the accessors
/// that [`fields!`] writes read and write. Callers guarantee the bounds
/// (a view's `new_checked`).
pub(crate) trait Field: Copy {
    fn read(b: &[u8], at: usize) -> Self;
    fn write(self, b: &mut [u8], at: usize);
}

/// The unsigned integers, big-endian.
macro_rules! int_fields {
    ($($t:ty),*) => {
        $(
            impl Field for $t {
                #[inline(always)]
                fn read(b: &[u8], at: usize) -> Self {
                    <$t>::from_be_bytes(Field::read(b, at))
                }

                #[inline(always)]
                fn write(self, b: &mut [u8], at: usize) {
                    self.to_be_bytes().write(b, at);
                }
            }
        )*
    };
}
int_fields!(u8, u16, u32);

/// Bytes as they stand: addresses, opaque words.
impl<const N: usize> Field for [u8; N] {
    #[inline(always)]
    fn read(b: &[u8], at: usize) -> Self {
        match b[at..at + N].try_into() {
            Ok(v) => v,
            // The slice is N bytes long: the compiler drops this arm.
            Err(_) => unreachable!("a slice of N bytes is an [u8; N]"),
        }
    }

    #[inline(always)]
    fn write(self, b: &mut [u8], at: usize) {
        b[at..at + N].copy_from_slice(&self);
    }
}

/// The IP addresses, as their octets stand.
macro_rules! addr_fields {
    ($($t:ty: $len:expr),*) => {
        $(
            impl Field for $t {
                #[inline(always)]
                fn read(b: &[u8], at: usize) -> Self {
                    <$t>::from(<[u8; $len]>::read(b, at))
                }

                #[inline(always)]
                fn write(self, b: &mut [u8], at: usize) {
                    self.octets().write(b, at);
                }
            }
        )*
    };
}
addr_fields!(Ipv4Addr: 4, Ipv6Addr: 16);

/// The view `$view`: a struct over a `buffer` (any `AsRef<[u8]>`), with
/// `new_unchecked` and `into_inner`. Its module writes `new_checked`, which
/// makes every accessor safe from panics.
macro_rules! view {
    ($(#[$doc:meta])* $view:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $view<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $view<T> {
            /// A view of bytes already validated: no checks.
            #[inline]
            pub fn new_unchecked(buffer: T) -> Self {
                $view { buffer }
            }

            /// The bytes back.
            #[inline]
            pub fn into_inner(self) -> T {
                self.buffer
            }
        }
    };
}
pub(crate) use view;

/// The fixed-place fields of the view `$view`, one line each:
/// `getter[, setter]: Type = byte offset;` (the offset from the module's
/// `mod field`). The getter reads the field big-endian; the setter, where
/// named, writes it and exists where the buffer is `AsMut<[u8]>`. Both are
/// `#[inline]`, not `#[inline(always)]`: forcing every accessor into the
/// large stage functions cost TUN and FullNAT replies 3 % at 1 000 flows
/// (same instruction count, more stack stores).
macro_rules! fields {
    ($view:ident { $($(#[$doc:meta])* $get:ident $(, $set:ident)?: $ty:ty = $at:expr;)* }) => {
        impl<T: AsRef<[u8]>> $view<T> {
            $(
                $(#[$doc])*
                #[inline]
                pub fn $get(&self) -> $ty {
                    <$ty as $crate::wire::Field>::read(self.buffer.as_ref(), $at)
                }
            )*
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $view<T> {
            $($(
                #[doc = concat!("Write [`Self::", stringify!($get), "`].")]
                #[inline]
                pub fn $set(&mut self, v: $ty) {
                    $crate::wire::Field::write(v, self.buffer.as_mut(), $at);
                }
            )?)*
        }
    };
}
pub(crate) use fields;

/// Read a big-endian u16 at `at`, for code outside a view's `fields!`
/// (the same [`Field`] read). Callers guarantee the bounds.
#[inline(always)]
pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::read(b, at)
}

#[inline(always)]
pub(crate) fn set_u16(b: &mut [u8], at: usize, v: u16) {
    v.write(b, at);
}

#[inline(always)]
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::read(b, at)
}

#[inline(always)]
pub(crate) fn set_u32(b: &mut [u8], at: usize, v: u32) {
    v.write(b, at);
}

/// The ones'-complement sum of the pseudo-header (RFC 793 / RFC 8200 §8.1)
/// of a transport message of `len` bytes and `protocol` from `src` to `dst`.
///
/// # Panics
/// When `src` and `dst` are of different families (a programmer's error:
/// only the Reprs' `emit`, for frames we build, call it).
pub(crate) fn pseudo_sum(src: IpAddr, dst: IpAddr, protocol: u8, len: usize) -> u16 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            checksum::pseudo_v4(s.octets(), d.octets(), protocol, len as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            checksum::pseudo_v6(s.octets(), d.octets(), protocol, len as u32)
        }
        _ => panic!("a pseudo-header of mixed address families ({src} -> {dst})"),
    }
}

/// The transport checksum field value of `message` (its checksum field
/// zero) sent from `src` to `dst` as `protocol`.
pub(crate) fn transport_checksum(src: IpAddr, dst: IpAddr, protocol: u8, message: &[u8]) -> u16 {
    !checksum::combine(&[
        pseudo_sum(src, dst, protocol, message.len()),
        checksum::sum(message),
    ])
}
