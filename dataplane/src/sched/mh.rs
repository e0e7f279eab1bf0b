//! `mh`, Maglev hashing, with `mh-fallback` and `mh-port`
//! (`spec/schedulers.md` §12, `ip_vs_mh.c`).
//!
//! Rule: a lookup table of M slots (M prime). Every dest gets a permutation
//! of the slots from two hashes of its address and port (`offset`, `skip`);
//! rounds over the dests let each dest claim `turns` slots, one at a time,
//! each the next unclaimed position of its permutation, until every slot is
//! owned. The kernel's rounds go over its list (newest first), so two
//! kernel directors that added the same dests in different orders build
//! different tables; ours go in one canonical order, by (address, port)
//! from the highest, whatever order the dests were added in: directors
//! with the same dests agree (ECMP, decision 39), and with a kernel
//! director that added them from the lowest address up. `turns` is the
//! dest's last non-zero weight divided by the weights' gcd and shifted
//! right so the largest fits `bits(M) / 2` bits (6 for the kernel's 4093):
//! a weight set to 0 keeps its slots, so its lookups fail (or fall back),
//! and a dest added with weight 0 gets none.
//! A client goes to `slot[h mod M]`, `h = hsiphash(port + fold(src))`
//! (`port` with `mh-port` only). With `mh-fallback` an unavailable dest
//! (weight 0, OVERLOAD) makes the lookup probe `hsiphash(r + port +
//! fold(src)) mod M` for `r = h mod M + 0, 1, ...`, at most M probes.
//!
//! The hash is the kernel's 64-bit `hsiphash`: SipHash-1-3 over the 4-byte
//! little-endian value, with the fixed keys below, so every director with
//! the same dests and the same M builds the same table (a kernel director
//! too, when M is its 4093).
//!
//! Example (M = 4093): RS1 10.0.0.1:80, RS2 10.0.0.2:80, RS3 10.0.0.3:80
//! added in any order (the kernel's table when added in that order),
//! weights 1 → offsets/skips RS3 1631/3453, RS2 1231/3544, RS1 3167/700;
//! slots RS3 1365, RS2 1364, RS1 1364;
//! 192.168.1.10 → slot 3323 → RS1; 203.0.113.77 → slot 2731 → RS2.
//!
//! The build is O(M) time and memory (2 bytes a slot). The kernel's default
//! 4093 is small for many dests; ours (65537, `sched.mh_table_size`) spreads
//! 100 equal dests to within 0.2% and moves 1.55% of flows when one of them
//! goes (the minimum is 1%); 524287 slots move 1.17% (`bench/RESULTS.md`).

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

use super::sh::has_ports;
use super::{
    fold, gcd, next_build_id, BuildError, BuildParams, DestView, PickCtx, SchedState, Scheduler,
};

/// The kernel's fixed keys (`generate_hash_secret`): each key is two 64-bit
/// words of the same value.
const KEY1: u64 = 2_654_435_761;
const KEY2: u64 = 2_654_446_892;

/// The largest table (a prime below 2^20; the kernel's largest is 131071).
/// Larger tables spread and move flows closer to the ideal, at 2 bytes a
/// slot per service and a longer build (`bench/RESULTS.md`).
pub const TABLE_SIZE_MAX: u32 = 1_048_573;
/// A table slot no dest owns (only when no dest has a weight); dest indices
/// are below it (a service has at most 65535 dests).
const EMPTY: u16 = u16::MAX;

/// The kernel's 64-bit `hsiphash` of one u32 (SipHash-1-3, key `(k, k)`),
/// truncated to 32 bits.
pub fn hsiphash_u32(v: u32, k: u64) -> u32 {
    let mut h = SipHasher13::new_with_keys(k, k);
    h.write(&v.to_le_bytes());
    h.finish() as u32
}

/// `ip_vs_mh_hashkey`: the hash of `offset + port + fold(addr)`.
fn hashkey(addr: std::net::IpAddr, port: u16, key: u64, offset: u32) -> u32 {
    hsiphash_u32(
        offset
            .wrapping_add(u32::from(port))
            .wrapping_add(fold(addr)),
        key,
    )
}

/// Whether `n` is prime (trial division; n is at most a few hundred thousand).
pub fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u32;
    while d.saturating_mul(d) <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

#[derive(Debug)]
pub struct Maglev {
    build_id: u64,
    /// Dest index per slot.
    table: Box<[u16]>,
    fallback: bool,
    port: bool,
}

impl Maglev {
    pub fn build(dests: &[DestView], params: &BuildParams) -> Result<Self, BuildError> {
        let m = params.mh_table_size;
        if !is_prime(m) || m > TABLE_SIZE_MAX {
            return Err(BuildError::Invalid(format!(
                "the Maglev table size {m} is not a prime up to {TABLE_SIZE_MAX}"
            )));
        }
        let max = (m as usize).min(usize::from(EMPTY));
        if dests.len() > max {
            return Err(BuildError::Invalid(format!(
                "mh takes at most {max} dests with a table of {m}"
            )));
        }
        Ok(Maglev {
            build_id: next_build_id(),
            table: populate(dests, m),
            fallback: params.flags.fallback,
            port: params.flags.port,
        })
    }

    /// The dest index each slot holds (`u16::MAX`: none), for tests and
    /// the bench.
    pub fn table(&self) -> &[u16] {
        &self.table
    }

    /// The slot a client lands on first.
    pub fn slot_of(&self, src: std::net::IpAddr, port: u16) -> usize {
        (hashkey(src, port, KEY1, 0) % self.table.len() as u32) as usize
    }
}

/// Per-dest permutation parameters: (offset, skip, turns).
fn permutations(dests: &[DestView], m: u32) -> Vec<(u32, u32, u32)> {
    // The weight bits the table size affords: 6 for the kernel's 4093
    // (TAB_BITS = TAB_INDEX / 2), 8 for 65537.
    let tab_bits = (32 - m.leading_zeros()) / 2;
    let g = dests.iter().map(|d| d.last_weight).fold(0, gcd);
    let max = dests.iter().map(|d| d.last_weight).max().unwrap_or(0);
    let rshift = max
        .checked_div(g)
        .map_or(0, |mw| (32 - mw.leading_zeros()).saturating_sub(tab_bits));
    dests
        .iter()
        .map(|d| {
            let offset = hashkey(d.addr, d.port, KEY1, 0) % m;
            let skip = hashkey(d.addr, d.port, KEY2, 0) % (m - 1) + 1;
            let turns = match d.last_weight.checked_div(g).map(|t| t >> rshift) {
                None => 0,
                Some(0) => u32::from(d.last_weight != 0),
                Some(t) => t,
            };
            (offset, skip, turns)
        })
        .collect()
}

/// The order the rounds visit `dests` in: by (address, port), highest
/// first, whatever the order of the list (a service has each (address,
/// port) once, so the order is total).
fn canonical_order(dests: &[DestView]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..dests.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        (dests[b].addr, dests[b].port).cmp(&(dests[a].addr, dests[a].port))
    });
    order
}

/// `ip_vs_mh_populate`, over the dests in [`canonical_order`]; a slot holds
/// the dest's index in `dests`.
fn populate(dests: &[DestView], m: u32) -> Box<[u16]> {
    let size = m as usize;
    let mut table = vec![EMPTY; size].into_boxed_slice();
    let mut perms = permutations(dests, m);
    if perms.iter().all(|p| p.2 == 0) {
        return table;
    }
    let order = canonical_order(dests);
    let mut filled = 0;
    'rounds: loop {
        for &i in &order {
            let (pos, skip, turns) = &mut perms[i];
            for _ in 0..*turns {
                while table[*pos as usize] != EMPTY {
                    *pos += *skip;
                    if *pos >= m {
                        *pos -= m;
                    }
                }
                table[*pos as usize] = i as u16;
                filled += 1;
                if filled == size {
                    break 'rounds;
                }
            }
        }
    }
    table
}

impl Scheduler for Maglev {
    scheduler_identity!("mh");

    fn same_pick_everywhere(&self) -> bool {
        true
    }

    fn pick(
        &self,
        _state: &mut SchedState,
        dests: &[DestView],
        ctx: &mut PickCtx,
    ) -> Option<usize> {
        let p = &ctx.packet;
        let port = if self.port && has_ports(p.protocol) {
            p.sport
        } else {
            0
        };
        let m = self.table.len() as u32;
        let available = |i: u16| {
            let d = &dests[usize::from(i)];
            d.weight > 0 && !ctx.loads.overloaded(d.slot)
        };
        let ihash = hashkey(p.src, port, KEY1, 0) % m;
        let first = self.table[ihash as usize];
        if first == EMPTY {
            return None;
        }
        if available(first) {
            return Some(usize::from(first));
        }
        // When nothing is available the probes below would all fail: up to
        // M hashes for one packet. Say so at once instead.
        if !self.fallback
            || !dests
                .iter()
                .any(|d| d.weight > 0 && !ctx.loads.overloaded(d.slot))
        {
            return None;
        }
        for offset in 0..m {
            let r = (offset + ihash) % m;
            let i = self.table[(hashkey(p.src, port, KEY1, r) % m) as usize];
            if i == EMPTY {
                return None;
            }
            if available(i) {
                return Some(usize::from(i));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{packet, pick_one, FixedLoads};
    use crate::sched::SchedFlags;
    use proptest::prelude::*;
    use std::net::IpAddr;

    fn rs(n: u8, weight: u32) -> DestView {
        DestView::new(u32::from(n), IpAddr::from([10, 0, 0, n]), 80, weight)
    }

    fn params(m: u32, fallback: bool, port: bool) -> BuildParams {
        BuildParams {
            flags: SchedFlags { fallback, port },
            mh_table_size: m,
        }
    }

    fn counts(s: &Maglev, n: usize) -> Vec<usize> {
        (0..n)
            .map(|i| s.table().iter().filter(|&&t| usize::from(t) == i).count())
            .collect()
    }

    fn lookup(s: &Maglev, dests: &[DestView], src: &str) -> Option<u32> {
        let loads = FixedLoads::new(8);
        pick_one(
            s,
            &mut SchedState::default(),
            dests,
            &loads,
            packet(src, 1234),
        )
    }

    #[test]
    fn hash_self_check() {
        assert_eq!(hsiphash_u32(0, 0), 0x9AC4_8AF0);
    }

    #[test]
    fn spec_example_m4093() {
        let dests = [rs(3, 1), rs(2, 1), rs(1, 1)];
        let perms = permutations(&dests, 4093);
        assert_eq!(
            perms,
            [(1631, 3453, 1), (1231, 3544, 1), (3167, 700, 1)],
            "offset, skip, turns of RS3, RS2, RS1"
        );
        let s = Maglev::build(&dests, &params(4093, false, false)).unwrap();
        assert_eq!(counts(&s, 3), [1365, 1364, 1364]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(s.slot_of(ip("192.168.1.10"), 0), 3323);
        assert_eq!(s.slot_of(ip("10.1.2.3"), 0), 1263);
        assert_eq!(s.slot_of(ip("203.0.113.77"), 0), 2731);
        assert_eq!(lookup(&s, &dests, "192.168.1.10"), Some(1));
        assert_eq!(lookup(&s, &dests, "10.1.2.3"), Some(1));
        assert_eq!(lookup(&s, &dests, "203.0.113.77"), Some(2));

        // RS2 deleted: 2047 / 2046, and only 4 slots that were not RS2's move.
        let after = [rs(3, 1), rs(1, 1)];
        let s2 = Maglev::build(&after, &params(4093, false, false)).unwrap();
        assert_eq!(counts(&s2, 2), [2047, 2046]);
        let slot_of = |s: &Maglev, d: &[DestView], i: usize| d[usize::from(s.table()[i])].slot;
        let moved = (0..4093)
            .filter(|&i| {
                slot_of(&s, &dests, i) != 2 && slot_of(&s, &dests, i) != slot_of(&s2, &after, i)
            })
            .count();
        assert_eq!(moved, 4);
        assert_eq!(lookup(&s2, &after, "203.0.113.77"), Some(3));
        assert_eq!(lookup(&s2, &after, "192.168.1.10"), Some(1));
        assert_eq!(lookup(&s2, &after, "10.1.2.3"), Some(1));

        // Weights RS1 = 2, RS2 = RS3 = 1.
        let weighted = [rs(3, 1), rs(2, 1), rs(1, 2)];
        let s3 = Maglev::build(&weighted, &params(4093, false, false)).unwrap();
        assert_eq!(counts(&s3, 3), [1024, 1023, 2046]);
    }

    #[test]
    fn weight_resolution_is_about_six_bits_at_4093() {
        let dests = [rs(2, 1000), rs(1, 1)];
        let perms = permutations(&dests, 4093);
        assert_eq!((perms[0].2, perms[1].2), (62, 1));
    }

    #[test]
    fn quiesced_keeps_its_slots_and_falls_back() {
        // Weight 0 after having had 1: last_weight stays 1.
        let mut q = rs(1, 0);
        q.last_weight = 1;
        let dests = [rs(3, 1), rs(2, 1), q];
        let s = Maglev::build(&dests, &params(4093, false, false)).unwrap();
        assert_eq!(counts(&s, 3), [1365, 1364, 1364]);
        assert_eq!(lookup(&s, &dests, "192.168.1.10"), None);
        let s = Maglev::build(&dests, &params(4093, true, false)).unwrap();
        let got = lookup(&s, &dests, "192.168.1.10");
        assert!(matches!(got, Some(2 | 3)), "{got:?}");
        // Added with weight 0: no slots at all.
        let dests = [rs(3, 1), rs(2, 1), rs(1, 0)];
        let s = Maglev::build(&dests, &params(4093, false, false)).unwrap();
        assert_eq!(counts(&s, 3)[2], 0);
        // Every dest quiesced: the fallback gives up at once.
        let mut q3 = rs(3, 0);
        q3.last_weight = 1;
        let all_quiesced = [q3, q];
        let s = Maglev::build(&all_quiesced, &params(65537, true, false)).unwrap();
        assert_eq!(lookup(&s, &all_quiesced, "192.168.1.10"), None);
        // No weights at all: an empty table, no destination.
        let none = [rs(1, 0)];
        let s = Maglev::build(&none, &params(251, true, false)).unwrap();
        assert_eq!(lookup(&s, &none, "192.168.1.10"), None);
    }

    #[test]
    fn mh_port_hashes_the_source_port() {
        let dests: Vec<DestView> = (1..=8).map(|n| rs(n, 1)).collect();
        let s = Maglev::build(&dests, &params(65537, false, true)).unwrap();
        let loads = FixedLoads::new(16);
        let picked: std::collections::HashSet<u32> = (0..64)
            .filter_map(|p| {
                pick_one(
                    &s,
                    &mut SchedState::default(),
                    &dests,
                    &loads,
                    packet("192.168.1.10", 40000 + p),
                )
            })
            .collect();
        assert!(picked.len() > 4, "one client spreads by port: {picked:?}");
    }

    #[test]
    fn bad_sizes_are_refused() {
        for m in [4096, 1, 0, 1_048_583] {
            assert!(Maglev::build(&[], &params(m, false, false)).is_err(), "{m}");
        }
        let many: Vec<DestView> = (0..252).map(|n| rs((n % 250) as u8, 1)).collect();
        assert!(Maglev::build(&many, &params(251, false, false)).is_err());
        assert!(Maglev::build(&[rs(1, 1)], &params(65537, false, false)).is_ok());
    }

    /// The share of each of 100 equal dests, and the fraction of slots that
    /// change owner when one goes, at table size `m`.
    fn quality(m: u32) -> (f64, f64) {
        let all: Vec<DestView> = (0..100u32)
            .rev()
            .map(|i| DestView::new(i, IpAddr::from([10, 0, 0, i as u8 + 1]), 80, 1))
            .collect();
        let owners = |d: &[DestView]| -> Vec<u32> {
            let t = Maglev::build(d, &params(m, false, false)).unwrap();
            t.table().iter().map(|&i| d[usize::from(i)].slot).collect()
        };
        let before = owners(&all);
        let mut count = [0u32; 100];
        for &o in &before {
            count[o as usize] += 1;
        }
        let ratio =
            f64::from(*count.iter().max().unwrap()) / f64::from(*count.iter().min().unwrap());
        let fewer: Vec<DestView> = all.iter().copied().filter(|d| d.slot != 0).collect();
        let after = owners(&fewer);
        let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        (ratio, moved as f64 / f64::from(m))
    }

    #[test]
    fn spread_and_movement_with_100_dests() {
        // Exact properties of the hashes and the population (the figures in
        // bench/RESULTS.md come from bench/src/bin/mh_quality.rs).
        let (ratio, moved) = quality(65537);
        assert!(ratio < 1.005, "max/min share {ratio}");
        assert!((0.01..0.016).contains(&moved), "moved {moved}");
        let (_, moved) = quality(524_287);
        assert!((0.01..0.012).contains(&moved), "moved {moved}");
    }

    #[test]
    fn the_table_does_not_depend_on_the_order_dests_were_added() {
        // Two directors: the same dests (equal and unequal weights, one of
        // them quiesced), added in opposite orders.
        let mut q = rs(4, 0);
        q.last_weight = 3;
        let a = [rs(1, 1), rs(2, 2), rs(3, 1), q, rs(5, 1)];
        let mut b = a;
        b.reverse();
        b.swap(0, 2);
        for m in [251, 4093, 65537] {
            let ta = Maglev::build(&a, &params(m, true, false)).unwrap();
            let tb = Maglev::build(&b, &params(m, true, false)).unwrap();
            // The same owner (by dest, not by list index) in every slot.
            let owners = |t: &Maglev, d: &[DestView]| -> Vec<u32> {
                t.table().iter().map(|&i| d[usize::from(i)].slot).collect()
            };
            assert_eq!(owners(&ta, &a), owners(&tb, &b), "M = {m}");
            // And so the same pick, fallback included, for any client.
            for n in 0..2000u32 {
                let ip = std::net::Ipv4Addr::from(0xc612_0000 + n * 7919).to_string();
                let pa = lookup(&ta, &a, &ip);
                assert!(pa.is_some());
                assert_eq!(pa, lookup(&tb, &b, &ip), "M = {m}, client {ip}");
            }
        }
    }

    #[test]
    fn canonical_order_is_highest_address_first() {
        let d = [rs(2, 1), rs(9, 1), rs(1, 1), rs(5, 1)];
        assert_eq!(canonical_order(&d), [1, 3, 0, 2]);
        // The same address on two ports: the higher port first.
        let d = [
            DestView::new(0, IpAddr::from([10, 0, 0, 1]), 80, 1),
            DestView::new(1, IpAddr::from([10, 0, 0, 1]), 8080, 1),
        ];
        assert_eq!(canonical_order(&d), [1, 0]);
        assert!(Maglev::build(&d, &params(251, false, false))
            .unwrap()
            .same_pick_everywhere());
    }

    proptest! {
        /// Any order of the same dests builds the same table.
        #[test]
        fn any_order_same_table(n in 1u8..12, seed in any::<u64>()) {
            let dests: Vec<DestView> = (1..=n).map(|i| rs(i, u32::from(i % 3) + 1)).collect();
            let mut shuffled = dests.clone();
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let owners = |d: &[DestView]| -> Vec<u32> {
                let t = Maglev::build(d, &params(251, false, false)).unwrap();
                t.table().iter().map(|&i| d[usize::from(i)].slot).collect()
            };
            prop_assert_eq!(owners(&dests), owners(&shuffled));
        }

        /// Same client, same dest, for as long as the dest set is the same.
        #[test]
        fn stable_for_a_key(n in 1u8..20, src in any::<u32>()) {
            let dests: Vec<DestView> = (1..=n).map(|i| rs(i, 1)).collect();
            let a = Maglev::build(&dests, &params(4093, false, false)).unwrap();
            let b = Maglev::build(&dests, &params(4093, false, false)).unwrap();
            let ip = std::net::Ipv4Addr::from(src).to_string();
            let first = lookup(&a, &dests, &ip);
            prop_assert!(first.is_some());
            prop_assert_eq!(lookup(&a, &dests, &ip), first);
            prop_assert_eq!(lookup(&b, &dests, &ip), first);
        }
    }
}
