//! SYN cookies for the SYN proxy of NAT and FullNAT services
//! (`--synproxy`, decision 40): the keys, shared by the workers and rotated
//! by the control thread, and the cookie itself.
//!
//! A cookie is the initial sequence number of the director's SYN-ACK to a
//! client. It is 32 bits: the epoch of the key it was made with (2 bits),
//! the index of the client's MSS in the family's table (2 bits, as Linux's
//! `msstab`), and 28 bits of a keyed hash (`ahash` with the epoch's 256-bit
//! key) over the client's and the VIP's addresses and ports, the client's
//! ISN, the MSS index and the epoch's number. The client's ACK brings it
//! back plus one; it validates when one of the two newest epochs made
//! exactly that cookie for that tuple and ISN. The control thread rotates
//! the key every [`ROTATE_MS`], so a cookie lives one to two periods
//! (Linux: up to two minutes); a forger guesses 28 bits.
//!
//! Contract: [`SynKeys`] is a fixed set of atomics written by one thread
//! (the control thread's [`SynKeys::rotate`]) and read by the workers; a
//! rotation writes the slot of the epoch to come (neither of the two the
//! workers read) before it advances the epoch, so a worker never mixes two
//! keys. Nothing allocates; [`make`] and [`check`] are pure functions of
//! the keys and the packet's fields.

#![forbid(unsafe_code)]

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};

/// How often the control thread rotates the cookie key.
pub const ROTATE_MS: u64 = 60_000;

/// Linux's `msstab` (IPv4) and `msstab` of `syncookies.c` for IPv6: the
/// client's MSS is rounded down to one of these.
pub const MSS_V4: [u16; 4] = [536, 1300, 1440, 1460];
pub const MSS_V6: [u16; 4] = [1280 - 60, 1480 - 60, 1500 - 60, 9000 - 60];

const HASH_BITS: u32 = 28;
const HASH_MASK: u32 = (1 << HASH_BITS) - 1;

/// The cookie keys: four epochs' 256-bit keys and the current epoch.
#[derive(Debug)]
pub struct SynKeys {
    epoch: AtomicU64,
    keys: [[AtomicU64; 4]; 4],
}

impl SynKeys {
    /// Keys from the process's randomness (the standard library's
    /// per-process random hasher keys, from the OS).
    pub fn random() -> Self {
        let k = SynKeys::with_seed(0);
        for slot in 0..4 {
            k.fill(slot);
        }
        k
    }

    /// Fixed keys derived from `seed` (tests, benchmarks).
    pub fn with_seed(seed: u64) -> Self {
        let word = |i: u64| {
            let mut x = seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            x ^= x >> 31;
            x.wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1
        };
        SynKeys {
            epoch: AtomicU64::new(0),
            keys: std::array::from_fn(|s| {
                std::array::from_fn(|w| AtomicU64::new(word((s * 4 + w) as u64)))
            }),
        }
    }

    fn fill(&self, slot: usize) {
        let r = std::collections::hash_map::RandomState::new();
        for (w, k) in self.keys[slot].iter().enumerate() {
            k.store(r.hash_one((slot, w)), Ordering::Relaxed);
        }
    }

    /// A new key: the slot of the epoch after the current one gets fresh
    /// random words, then the epoch moves on (the control thread, every
    /// [`ROTATE_MS`]; the only writer).
    pub fn rotate(&self) {
        let next = self.epoch.load(Ordering::Acquire).wrapping_add(1);
        self.fill((next & 3) as usize);
        self.epoch.store(next, Ordering::Release);
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn hasher(&self, epoch: u64) -> ahash::RandomState {
        let k = &self.keys[(epoch & 3) as usize];
        ahash::RandomState::with_seeds(
            k[0].load(Ordering::Relaxed),
            k[1].load(Ordering::Relaxed),
            k[2].load(Ordering::Relaxed),
            k[3].load(Ordering::Relaxed),
        )
    }
}

/// What a cookie is made from: the client's and the VIP's address and
/// port (any hashable address type), and the client's ISN.
#[derive(Clone, Copy, Debug, Hash)]
pub struct CookieInput<A> {
    pub caddr: A,
    pub vaddr: A,
    pub cport: u16,
    pub vport: u16,
    pub isn: u32,
}

/// The index in `table` of the largest MSS not above `mss` (0 when all
/// are).
pub fn mss_index(table: &[u16; 4], mss: u16) -> u8 {
    table.iter().rposition(|&m| m <= mss).unwrap_or(0) as u8
}

fn mac<A: Hash>(keys: &SynKeys, epoch: u64, input: &CookieInput<A>, mss_idx: u8) -> u32 {
    (keys.hasher(epoch).hash_one((input, mss_idx, epoch)) as u32) & HASH_MASK
}

/// The cookie for a SYN with `input` and MSS index `mss_idx` (0..=3),
/// with the current key.
pub fn make<A: Hash>(keys: &SynKeys, input: &CookieInput<A>, mss_idx: u8) -> u32 {
    let epoch = keys.epoch();
    let idx = mss_idx & 3;
    ((epoch as u32 & 3) << 30) | (u32::from(idx) << HASH_BITS) | mac(keys, epoch, input, idx)
}

/// The MSS index a cookie carries, if it was made for `input` with one of
/// the two newest keys.
pub fn check<A: Hash>(keys: &SynKeys, input: &CookieInput<A>, cookie: u32) -> Option<u8> {
    let now = keys.epoch();
    let tag = u64::from(cookie >> 30);
    let epoch = if tag == now & 3 {
        now
    } else if now >= 1 && tag == (now - 1) & 3 {
        now - 1
    } else {
        return None;
    };
    let idx = ((cookie >> HASH_BITS) & 3) as u8;
    (mac(keys, epoch, input, idx) == cookie & HASH_MASK).then_some(idx)
}

/// The MSS index a cookie carries (not checked).
pub fn cookie_mss_index(cookie: u32) -> u8 {
    ((cookie >> HASH_BITS) & 3) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(isn: u32) -> CookieInput<u32> {
        CookieInput {
            caddr: 0x0a00_0001,
            vaddr: 0x0a00_0064,
            cport: 40000,
            vport: 80,
            isn,
        }
    }

    #[test]
    fn a_cookie_validates_for_its_tuple_only_and_carries_the_mss() {
        let k = SynKeys::with_seed(7);
        let c = make(&k, &input(1000), 3);
        assert_eq!(check(&k, &input(1000), c), Some(3));
        assert_eq!(cookie_mss_index(c), 3);
        assert_eq!(check(&k, &input(1001), c), None);
        let other = CookieInput {
            cport: 40001,
            ..input(1000)
        };
        assert_eq!(check(&k, &other, c), None);
        assert_eq!(check(&k, &input(1000), c ^ 1), None);
        // Another MSS index in the same cookie does not validate.
        assert_eq!(check(&k, &input(1000), c ^ (1 << 28)), None);
    }

    #[test]
    fn a_cookie_lives_two_epochs() {
        let k = SynKeys::with_seed(1);
        let c = make(&k, &input(5), 1);
        k.rotate();
        assert_eq!(check(&k, &input(5), c), Some(1));
        k.rotate();
        assert_eq!(check(&k, &input(5), c), None);
        // Four rotations bring the epoch's tag back, with another key.
        k.rotate();
        k.rotate();
        assert_eq!(check(&k, &input(5), c), None);
    }

    #[test]
    fn random_keys_differ_between_instances() {
        let (a, b) = (SynKeys::random(), SynKeys::random());
        assert_ne!(make(&a, &input(9), 0), make(&b, &input(9), 0));
    }

    #[test]
    fn mss_rounds_down_to_the_table() {
        assert_eq!(mss_index(&MSS_V4, 1460), 3);
        assert_eq!(mss_index(&MSS_V4, 1459), 2);
        assert_eq!(mss_index(&MSS_V4, 1300), 1);
        assert_eq!(mss_index(&MSS_V4, 100), 0);
        assert_eq!(mss_index(&MSS_V6, 1440), 2);
        assert_eq!(mss_index(&MSS_V6, 65535), 3);
    }
}
