//! CRC32c (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
//! SCTP's common header (RFC 9260 §6.8, appendix A) and of iSCSI.
//!
//! Table-driven by hand, one byte a step: no widely used CRC crate was in
//! the project's dependency set (the machine builds offline from a seeded
//! registry), and the whole algorithm is the 256-entry table below, built
//! at compile time, and a three-line loop.
//!
//! A CRC is linear over GF(2) for a fixed length: a rewrite's new CRC is
//! the old one XOR the CRC (from state 0, no final inversion) of the
//! difference, which is zero before the changed bytes ([`crc32c_delta`]).
//! That is one pass over the bytes from the change to the end (the CRC has
//! no cheap shortcut over trailing zeros), and it keeps a packet that came
//! in corrupt corrupt, as the Internet checksum's incremental update does.
//!
//! On the wire SCTP stores the final value least significant byte first
//! (RFC 9260 appendix A; Linux's `sctp_end_cksum` is `cpu_to_le32`): the
//! value of `crc32c(b"123456789")`, 0xE3069283, is sent as 83 92 06 E3.

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82F6_3B78;

/// The CRC of each byte value.
const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Continue a CRC32c over `data`: `state` is `!0` at the start, and the
/// final value is `!state` ([`crc32c`] does both).
#[inline]
pub fn crc32c_update(mut state: u32, data: &[u8]) -> u32 {
    for &b in data {
        state = TABLE[((state ^ u32::from(b)) & 0xff) as usize] ^ (state >> 8);
    }
    state
}

/// The CRC32c of `data`.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32c_update(!0, data)
}

/// What XORs into the CRC32c of a message of `len` bytes when its bytes at
/// `at..at + old.len()` change from `old` to `new` (equal lengths, within
/// `len`; otherwise the lengths are cut to fit).
pub fn crc32c_delta(len: usize, at: usize, old: &[u8], new: &[u8]) -> u32 {
    const ZEROS: [u8; 64] = [0; 64];
    let mut s = 0u32;
    let n = old.len().min(new.len()).min(len.saturating_sub(at));
    for (o, w) in old[..n].iter().zip(&new[..n]) {
        s = crc32c_update(s, &[o ^ w]);
    }
    let mut rest = len.saturating_sub(at + n);
    while rest > 0 {
        let k = rest.min(ZEROS.len());
        s = crc32c_update(s, &ZEROS[..k]);
        rest -= k;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The delta XORed into the old CRC is the new message's CRC.
        #[test]
        fn delta_matches_recompute(
            msg in proptest::collection::vec(any::<u8>(), 4..300),
            at_frac in 0.0f64..1.0,
            new in proptest::collection::vec(any::<u8>(), 1..5),
        ) {
            let at = ((msg.len() - new.len().min(msg.len())) as f64 * at_frac) as usize;
            let n = new.len().min(msg.len() - at);
            let mut changed = msg.clone();
            changed[at..at + n].copy_from_slice(&new[..n]);
            let d = crc32c_delta(msg.len(), at, &msg[at..at + n], &new[..n]);
            prop_assert_eq!(crc32c(&msg) ^ d, crc32c(&changed));
        }
    }

    /// The standard check value of the CRC catalogue (CRC-32/ISCSI).
    #[test]
    fn check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    /// RFC 3720 appendix B.4's vectors (given there as the wire bytes,
    /// least significant first).
    #[test]
    fn rfc3720_vectors() {
        let wire = |c: u32| c.to_le_bytes();
        assert_eq!(wire(crc32c(&[0u8; 32])), [0xaa, 0x36, 0x91, 0x8a]);
        assert_eq!(wire(crc32c(&[0xffu8; 32])), [0x43, 0xab, 0xa8, 0x62]);
        let inc: Vec<u8> = (0u8..32).collect();
        assert_eq!(wire(crc32c(&inc)), [0x4e, 0x79, 0xdd, 0x46]);
        let dec: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(wire(crc32c(&dec)), [0x5c, 0xdb, 0x3f, 0x11]);
    }

    #[test]
    fn update_in_pieces_is_the_whole() {
        let data: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37)).collect();
        for cut in [0, 1, 13, 99, 100] {
            let s = crc32c_update(crc32c_update(!0, &data[..cut]), &data[cut..]);
            assert_eq!(!s, crc32c(&data), "cut at {cut}");
        }
    }
}
