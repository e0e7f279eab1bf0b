//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624),
//! the way IPVS's `ip_vs_check_diff*` does it: a rewrite adjusts the checksum
//! from the old and new words, never by summing the packet again.
//!
//! One copy for the whole of rvs: the dataplane's rewrites
//! (`rvs_dataplane::wire::checksum` is this crate), VRRP's adverts and the
//! health checks' ICMP echo requests.
//!
//! Also SCTP's CRC32c (`crc32c`), which is no Internet checksum but is as
//! shared: the dataplane's wire views and NAT use it.

#![forbid(unsafe_code)]

mod crc32c;
pub use crc32c::{crc32c, crc32c_delta, crc32c_update};

/// One's-complement sum of `data` (big-endian 16-bit words, odd byte padded),
/// folded to 16 bits, not inverted.
///
/// Summed 32 bits at a time into a 64-bit accumulator (RFC 1071 §2(C): the
/// sum of the big-endian 32-bit words, folded, is the sum of the 16-bit
/// ones), half the steps of a 16-bit walk: an IPv4 header is five.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    // 0 to 3 bytes left, zero-padded to a word as the 16-bit walk pads.
    let mut tail = [0u8; 4];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    acc += u64::from(u32::from_be_bytes(tail));
    // Two end-around folds bring it under 2^32 (2^32 is 1 modulo 0xffff).
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    fold(acc as u32)
}

/// Fold a 32-bit accumulator into 16 bits with end-around carry. Two
/// rounds always suffice (the first leaves at most 0x1fffe, the second at
/// most 0xffff), and a round on a value that already fits changes nothing,
/// so there is no loop to branch on.
#[inline]
pub fn fold(acc: u32) -> u16 {
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// The checksum field value for `data` (the inverted sum).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Combine partial sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u32::from(s)).sum())
}

/// The IPv4 pseudo-header sum for TCP/UDP.
#[inline]
pub fn pseudo_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, length: u16) -> u16 {
    let acc = u32::from(u16::from_be_bytes([src[0], src[1]]))
        + u32::from(u16::from_be_bytes([src[2], src[3]]))
        + u32::from(u16::from_be_bytes([dst[0], dst[1]]))
        + u32::from(u16::from_be_bytes([dst[2], dst[3]]))
        + u32::from(protocol)
        + u32::from(length);
    fold(acc)
}

/// The IPv6 pseudo-header sum for TCP/UDP/ICMPv6.
#[inline]
pub fn pseudo_v6(src: [u8; 16], dst: [u8; 16], next_header: u8, length: u32) -> u16 {
    let acc = u32::from(sum(&src))
        + u32::from(sum(&dst))
        + (length >> 16)
        + (length & 0xffff)
        + u32::from(next_header);
    fold(acc)
}

/// RFC 1624 eqn. 3: the new checksum field after one 16-bit word changed
/// from `old` to `new`.
#[inline]
pub fn update_u16(check: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!check) + u32::from(!old) + u32::from(new))
}

/// The same for a 32-bit word (an IPv4 address): both of its 16-bit
/// words in one sum (what `update_u16` twice gives, bit for bit: a fold
/// keeps the sum's value modulo 0xffff and never makes a non-zero sum 0).
#[inline]
pub fn update_u32(check: u16, old: u32, new: u32) -> u16 {
    !fold(
        u32::from(!check)
            + u32::from(!(old >> 16) as u16)
            + u32::from(!old as u16)
            + (new >> 16)
            + (new & 0xffff),
    )
}

/// The same for `new` (an even number of bytes) written where there were
/// zeros (an inserted option or header, its length accounted apart): each
/// of its 16-bit words as a change from 0.
#[inline]
pub fn update_inserted(check: u16, new: &[u8]) -> u16 {
    debug_assert_eq!(new.len() % 2, 0, "whole 16-bit words");
    new.chunks_exact(2).fold(check, |c, w| {
        update_u16(c, 0, u16::from_be_bytes([w[0], w[1]]))
    })
}

/// The same for an IPv6 address: its eight 16-bit words changed at once.
#[inline]
pub fn update_addr6(check: u16, old: [u8; 16], new: [u8; 16]) -> u16 {
    // At most 17 terms of 0xffff: no overflow of the u32 accumulator.
    let mut acc = u32::from(!check);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        acc += u32::from(!u16::from_be_bytes([o[0], o[1]]));
        acc += u32::from(u16::from_be_bytes([n[0], n[1]]));
    }
    !fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc1071_example() {
        // The worked example of RFC 1071 section 3: sum 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12]), 0x1200);
    }

    /// The sum as RFC 1071 states it: 16-bit words one at a time.
    fn sum_by_u16(data: &[u8]) -> u16 {
        let mut acc: u64 = 0;
        for c in data.chunks(2) {
            acc += u64::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]));
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn all_ones_and_zeros_keep_their_form() {
        // A non-zero sum never folds to 0, a zero one stays 0.
        assert_eq!(sum(&[0xff; 20]), 0xffff);
        assert_eq!(sum(&[0xff, 0xff, 0, 1, 0xff, 0xfe]), 0xffff);
        assert_eq!(sum(&[0; 7]), 0);
        assert_eq!(sum(&[]), 0);
    }

    /// The fold as a loop, round after round while it does not fit.
    fn fold_by_loop(mut acc: u32) -> u16 {
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn fold_at_the_edges() {
        for acc in [
            0,
            1,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0x1_ffff,
            0xffff_0000,
            0xffff_fffe,
            u32::MAX,
        ] {
            assert_eq!(fold(acc), fold_by_loop(acc), "{acc:#x}");
        }
    }

    proptest! {
        #[test]
        fn fold_matches_the_loop(acc in any::<u32>()) {
            prop_assert_eq!(fold(acc), fold_by_loop(acc));
        }

        /// One sum for both words is two 16-bit updates, bit for bit.
        #[test]
        fn update_u32_is_two_u16_updates(check in any::<u16>(), old in any::<u32>(), new in any::<u32>()) {
            let two = update_u16(update_u16(check, (old >> 16) as u16, (new >> 16) as u16), old as u16, new as u16);
            prop_assert_eq!(update_u32(check, old, new), two);
        }

        /// The 32-bit walk gives the 16-bit walk's sum, bit for bit, for
        /// every length (the tail of 1 to 3 bytes included).
        #[test]
        fn sum_matches_the_16_bit_walk(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(sum(&data), sum_by_u16(&data));
        }

        #[test]
        fn sum_of_mostly_ones_matches(n in 0usize..100, tail in any::<[u8; 3]>(), len in 0usize..3) {
            let mut data = vec![0xff; 4 * n];
            data.extend_from_slice(&tail[..len]);
            prop_assert_eq!(sum(&data), sum_by_u16(&data));
        }

        #[test]
        fn incremental_u16_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 2..64),
            word in 0usize..32,
            new in any::<u16>(),
        ) {
            if data.len() % 2 == 1 { data.push(0); }
            let at = (word * 2) % data.len();
            let check = checksum(&data);
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            let incremental = update_u16(check, old, new);
            // 0x0000 and 0xffff are the same one's-complement value.
            let full = checksum(&data);
            prop_assert!(incremental == full || (incremental ^ full) == 0xffff && (full == 0 || full == 0xffff),
                "incremental {incremental:#06x} full {full:#06x}");
        }

        #[test]
        fn incremental_u32_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 4..64),
            new in any::<u32>(),
        ) {
            if data.len() % 2 == 1 { data.push(0); }
            let check = checksum(&data);
            let old = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            data[0..4].copy_from_slice(&new.to_be_bytes());
            let incremental = update_u32(check, old, new);
            let full = checksum(&data);
            prop_assert!(incremental == full || (incremental ^ full) == 0xffff && (full == 0 || full == 0xffff));
        }

        #[test]
        fn incremental_addr6_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 16..64),
            at in 0usize..24,
            new in any::<[u8; 16]>(),
        ) {
            if data.len() % 2 == 1 { data.push(0); }
            let at = (at * 2).min(data.len() - 16);
            let check = checksum(&data);
            let old: [u8; 16] = data[at..at + 16].try_into().unwrap();
            data[at..at + 16].copy_from_slice(&new);
            let incremental = update_addr6(check, old, new);
            let full = checksum(&data);
            prop_assert!(incremental == full || (incremental ^ full) == 0xffff && (full == 0 || full == 0xffff),
                "incremental {incremental:#06x} full {full:#06x}");
        }
    }
}
