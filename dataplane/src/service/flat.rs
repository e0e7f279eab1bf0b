//! The per-packet IPv4 tables of a [`Snapshot`](super::Snapshot): a map
//! from a packed 64-bit key to a small value, built once on the control
//! thread and only read by the workers.
//!
//! Why not the `HashMap`s the snapshot also keeps: a packet to a VIP asked
//! hashbrown three times (is the destination a VIP, which service, a NAT
//! dest's persistence), each an ahash of the key, a SIMD group probe and
//! the bucket: 8 to 13 % of the worker's samples on the software port
//! (`bench/RESULTS.md`, "The worker loop"). Here a lookup is one multiply,
//! a shift and, at the table's load (at most one half), mostly one compare
//! in the line it lands on: open addressing with linear probing, entries
//! (key and value side by side) in one array.
//!
//! The keys are the snapshot's own configuration (VIPs, services, dests),
//! so their clustering is not the packets' to choose: a packet's key that
//! is in no table walks at most the cluster it hashes into, which holds
//! configured keys only.

/// The key no entry has: every packed key the snapshot makes has its top
/// byte zero (`addr_key`, `svc_key`, `dest_key`).
const EMPTY: u64 = u64::MAX;

/// Fibonacci hashing's multiplier (2^64 / φ).
const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// A read-only map from packed keys (never [`EMPTY`]) to `V`.
#[derive(Clone, Debug)]
pub(super) struct FlatMap<V> {
    entries: Box<[(u64, V)]>,
    /// 64 minus log2 of the table's size: the hash's top bits index it.
    shift: u32,
}

impl<V: Copy + Default> FlatMap<V> {
    /// A table of `items`; a later duplicate key's value replaces the
    /// earlier one's, as `HashMap::insert` does. Twice as many slots as
    /// keys (at least 8), so a probe always meets an empty slot.
    pub(super) fn build(items: impl IntoIterator<Item = (u64, V)>) -> Self {
        let items: Vec<(u64, V)> = items.into_iter().collect();
        let size = (items.len() * 2).next_power_of_two().max(8);
        let mut map = FlatMap {
            entries: vec![(EMPTY, V::default()); size].into_boxed_slice(),
            shift: 64 - size.trailing_zeros(),
        };
        for (k, v) in items {
            debug_assert_ne!(k, EMPTY, "packed keys leave the top byte zero");
            let i = map.slot(k);
            map.entries[i] = (k, v);
        }
        map
    }

    /// Where `key` is, or the empty slot where it would go.
    #[inline]
    fn slot(&self, key: u64) -> usize {
        let mask = self.entries.len() - 1;
        let mut i = (key.wrapping_mul(MUL) >> self.shift) as usize;
        loop {
            let k = self.entries[i].0;
            if k == key || k == EMPTY {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    pub(super) fn get(&self, key: u64) -> Option<V> {
        let (k, v) = self.entries[self.slot(key)];
        (k == key).then_some(v)
    }
}

/// An IPv4 address as a key.
#[inline]
pub(super) fn addr_key(addr: u32) -> u64 {
    u64::from(addr)
}

/// An address service (protocol, VIP, port) as a key.
#[inline]
pub(super) fn svc_key(protocol: u8, addr: u32, port: u16) -> u64 {
    u64::from(protocol) << 48 | u64::from(port) << 32 | u64::from(addr)
}

/// A NAT dest (address, port) as a key.
#[inline]
pub(super) fn dest_key(addr: u32, port: u16) -> u64 {
    u64::from(port) << 32 | u64::from(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn empty_table_finds_nothing() {
        let m = FlatMap::<u32>::build([]);
        assert_eq!(m.entries.len(), 8);
        assert_eq!(m.get(0), None);
        assert_eq!(m.get(12345), None);
    }

    #[test]
    fn later_duplicate_wins() {
        let m = FlatMap::build([(7, 1u32), (9, 2), (7, 3)]);
        assert_eq!(m.get(7), Some(3));
        assert_eq!(m.get(9), Some(2));
        assert_eq!(m.get(8), None);
    }

    #[test]
    fn keys_apart_by_field() {
        let m = FlatMap::build([
            (svc_key(6, 0x0a00_0001, 80), 1u32),
            (svc_key(17, 0x0a00_0001, 80), 2),
            (svc_key(6, 0x0a00_0001, 0), 3),
            (dest_key(0x0a00_0001, 80), 4),
        ]);
        assert_eq!(m.get(svc_key(6, 0x0a00_0001, 80)), Some(1));
        assert_eq!(m.get(svc_key(17, 0x0a00_0001, 80)), Some(2));
        assert_eq!(m.get(svc_key(6, 0x0a00_0001, 0)), Some(3));
        assert_eq!(m.get(dest_key(0x0a00_0001, 80)), Some(4));
        assert_eq!(m.get(svc_key(6, 0x0a00_0002, 80)), None);
        assert_eq!(m.get(addr_key(0x0a00_0001)), None);
    }

    proptest! {
        /// Whatever the keys (clustered ones included: consecutive
        /// addresses, one port apart), the table answers as a HashMap
        /// built from the same items.
        #[test]
        fn answers_as_a_hashmap(
            items in proptest::collection::vec((0u64..1 << 56, any::<u32>()), 0..300),
            base in 0u32..u32::MAX - 1000,
            probes in proptest::collection::vec(0u64..1 << 56, 0..100),
        ) {
            let mut items = items;
            items.extend((0..100u32).map(|i| (svc_key(6, base + i, 80), i)));
            let m = FlatMap::build(items.iter().copied());
            let h: HashMap<u64, u32> = items.iter().copied().collect();
            for (k, v) in &h {
                prop_assert_eq!(m.get(*k), Some(*v));
            }
            for k in probes.into_iter().chain((0..200u32).map(|i| svc_key(6, base + i, 81))) {
                prop_assert_eq!(m.get(k), h.get(&k).copied());
            }
        }
    }
}
