//! `lblc`, locality-based least connection (`spec/schedulers.md` §13,
//! `ip_vs_lblc.c`), and the per-core [`LocalityCache`] it shares with lblcr.
//!
//! Rule: a cache maps the packet's destination address to a dest. A cached
//! dest is used while it is in the service, has weight > 0, and is not
//! "overloaded" in lblc's sense: more active connections than its weight
//! while some dest of the service has fewer than half its weight (the
//! threshold OVERLOAD flag is not consulted for it). Otherwise wlc picks
//! among all dests and the cache entry is (re)written to the choice.
//!
//! Example: weights A = B = C = 10, 10.1.2.3 cached on A; A has 12 active,
//! B 3, C 6: A is overloaded (12 > 10 and B's 6 < 10), wlc picks B (768/10)
//! and the entry now says B.
//!
//! The cache is the worker's, sized once (`sched.locality_cache_entries`,
//! the kernel's 16384 by default), 4-way set-associative by
//! `hash_32(fold(daddr), bits)`. Entries idle longer than
//! `lblc_expiration` (24 h) are gone; a full set reuses its least recently
//! used entry once that has been idle 6 minutes (the kernel's eviction
//! rule above its maximum size), and otherwise the pick is not cached, as
//! the kernel does when it cannot make an entry.

use std::net::IpAddr;

use super::{fold, hash_32, least_weighted_conn, DestView, Loads, PickCtx, SchedState, Scheduler};

/// lblcr's most members per entry.
pub const SET_MAX: usize = 8;
/// Entries of a cache set.
const WAYS: usize = 4;
/// `lblc_expiration` / `lblcr_expiration`: 24 hours.
pub const EXPIRATION_S: u64 = 86_400;
/// A full set reuses an entry idle at least this long.
const IDLE_EVICT_S: u64 = 6 * 60;

/// One destination address's entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalityEntry {
    /// The service it belongs to (0 = empty).
    service_id: u64,
    addr: Option<IpAddr>,
    lastuse_s: u64,
    /// lblcr: when the set last changed.
    pub lastmod_s: u64,
    /// Members in use.
    pub len: u8,
    /// Dest slots, newest first (lblc uses the first).
    pub members: [u32; SET_MAX],
}

impl LocalityEntry {
    pub fn members(&self) -> &[u32] {
        &self.members[..usize::from(self.len)]
    }

    /// Put `slot` at the head of the set unless it is there; a full set
    /// first loses a member the service no longer has, else its oldest.
    pub fn insert(&mut self, slot: u32, dests: &[DestView], now_s: u64) {
        if self.members().contains(&slot) {
            return;
        }
        let mut len = usize::from(self.len);
        if len == SET_MAX {
            let gone = self
                .members()
                .iter()
                .rposition(|m| !dests.iter().any(|d| d.slot == *m))
                .unwrap_or(SET_MAX - 1);
            self.members.copy_within(gone + 1..SET_MAX, gone);
            len -= 1;
        }
        self.members.copy_within(0..len, 1);
        self.members[0] = slot;
        self.len = (len + 1) as u8;
        self.lastmod_s = now_s;
    }

    /// Take `slot` out of the set.
    pub fn erase(&mut self, slot: u32) {
        let len = usize::from(self.len);
        if let Some(i) = self.members().iter().position(|&m| m == slot) {
            self.members.copy_within(i + 1..len, i);
            self.len -= 1;
        }
    }
}

/// A worker's cache for one lblc/lblcr service at a time.
#[derive(Debug)]
pub struct LocalityCache {
    entries: Box<[LocalityEntry]>,
    bits: u32,
    expiration_s: u64,
}

impl LocalityCache {
    /// A cache with room for about `entries_max` destination addresses.
    pub fn with_max(entries_max: usize) -> Self {
        let sets = entries_max.div_ceil(WAYS).max(1).next_power_of_two();
        LocalityCache {
            entries: vec![LocalityEntry::default(); sets * WAYS].into_boxed_slice(),
            bits: sets.trailing_zeros(),
            expiration_s: EXPIRATION_S,
        }
    }

    fn set_of(&self, addr: IpAddr) -> std::ops::Range<usize> {
        let set = if self.bits == 0 {
            0
        } else {
            hash_32(fold(addr), self.bits) as usize
        };
        set * WAYS..(set + 1) * WAYS
    }

    fn live(&self, e: &LocalityEntry, service_id: u64, now_s: u64) -> bool {
        e.service_id == service_id && now_s <= e.lastuse_s.saturating_add(self.expiration_s)
    }

    /// The live entry of `addr` for `service_id`, marked used at `now_s`.
    pub fn find(
        &mut self,
        service_id: u64,
        addr: IpAddr,
        now_s: u64,
    ) -> Option<&mut LocalityEntry> {
        let i = self.set_of(addr).find(|&i| {
            let e = &self.entries[i];
            e.addr == Some(addr) && self.live(e, service_id, now_s)
        })?;
        let e = &mut self.entries[i];
        e.lastuse_s = now_s;
        Some(e)
    }

    /// A fresh, empty entry for `addr` (in place of its old entry, of a dead
    /// one, or of the set's least recently used one if it has idled 6
    /// minutes), or `None` when the set has no room.
    pub fn insert(
        &mut self,
        service_id: u64,
        addr: IpAddr,
        now_s: u64,
    ) -> Option<&mut LocalityEntry> {
        let range = self.set_of(addr);
        // The address's own entry first (never two entries for one
        // address), then an empty or dead one.
        let dead = range
            .clone()
            .find(|&i| self.entries[i].addr == Some(addr))
            .or_else(|| {
                range.clone().find(|&i| {
                    let e = &self.entries[i];
                    e.service_id == 0 || !self.live(e, service_id, now_s)
                })
            });
        let i = match dead {
            Some(i) => i,
            None => {
                let lru = range.min_by_key(|&i| self.entries[i].lastuse_s)?;
                if now_s < self.entries[lru].lastuse_s + IDLE_EVICT_S {
                    return None;
                }
                lru
            }
        };
        let e = &mut self.entries[i];
        *e = LocalityEntry {
            service_id,
            addr: Some(addr),
            lastuse_s: now_s,
            lastmod_s: now_s,
            ..LocalityEntry::default()
        };
        Some(e)
    }
}

/// lblc's "overloaded": more active connections than weight, while some
/// dest of the service has fewer than half its weight.
pub(crate) fn locality_overloaded(d: &DestView, dests: &[DestView], loads: &dyn Loads) -> bool {
    loads.active(d.slot) > u64::from(d.weight)
        && dests
            .iter()
            .any(|o| loads.active(o.slot).saturating_mul(2) < u64::from(o.weight))
}

stateless_scheduler!(Lblc);

impl Scheduler for Lblc {
    scheduler_identity!("lblc");

    fn uses_locality_cache(&self) -> bool {
        true
    }

    fn pick(&self, state: &mut SchedState, dests: &[DestView], ctx: &mut PickCtx) -> Option<usize> {
        let daddr = ctx.packet.dst;
        let (loads, now_s) = (ctx.loads, ctx.now_s);
        if let Some(cache) = ctx.cache.as_deref_mut() {
            if let Some(e) = cache.find(state.service_id, daddr, now_s) {
                let cached = e.members().first().copied();
                if let Some(i) = cached.and_then(|s| dests.iter().position(|d| d.slot == s)) {
                    let d = &dests[i];
                    if d.weight > 0 && !locality_overloaded(d, dests, loads) {
                        return Some(i);
                    }
                }
            }
        }
        let i = least_weighted_conn(dests, loads)?;
        if let Some(cache) = ctx.cache.as_deref_mut() {
            // (Re)written to the choice: insert takes over the address's own
            // entry when there is one.
            if let Some(e) = cache.insert(state.service_id, daddr, now_s) {
                e.members[0] = dests[i].slot;
                e.len = 1;
            }
        }
        Some(i)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sched::testing::{dest, packet, FixedLoads};
    use crate::sched::BuildParams;
    use crate::sched::Packet;

    pub(crate) fn to(dst: &str) -> Packet {
        Packet {
            dst: dst.parse().unwrap(),
            ..packet("192.168.1.10", 1000)
        }
    }

    pub(crate) fn pick_cached(
        s: &dyn Scheduler,
        cache: &mut LocalityCache,
        dests: &[DestView],
        loads: &FixedLoads,
        dst: &str,
        now_s: u64,
    ) -> Option<u32> {
        let mut st = SchedState {
            service_id: 7,
            ..SchedState::default()
        };
        let mut ctx = PickCtx {
            packet: to(dst),
            loads,
            now_s,
            cache: Some(cache),
        };
        s.pick(&mut st, dests, &mut ctx).map(|i| dests[i].slot)
    }

    #[test]
    fn spec_example() {
        let (a, b, c) = (1, 2, 3);
        let dests = [dest(c, 10), dest(b, 10), dest(a, 10)];
        let mut cache = LocalityCache::with_max(64);
        let mut loads = FixedLoads::new(4);
        let s = Lblc::build(&dests, &BuildParams::default());
        // Cache 10.1.2.3 on A: make A the wlc choice first.
        (loads.active[3], loads.active[2]) = (1, 1);
        assert_eq!(
            pick_cached(&s, &mut cache, &dests, &loads, "10.1.2.3", 1),
            Some(a)
        );
        // Loads change; A stays cached while not overloaded.
        (loads.active[1], loads.active[2], loads.active[3]) = (10, 3, 6);
        assert_eq!(
            pick_cached(&s, &mut cache, &dests, &loads, "10.1.2.3", 2),
            Some(a)
        );
        // A at 12 > 10 while B has 3 * 2 < 10: overloaded, wlc picks B.
        loads.active[1] = 12;
        assert_eq!(
            pick_cached(&s, &mut cache, &dests, &loads, "10.1.2.3", 3),
            Some(b)
        );
        // The entry now says B.
        loads.active[2] = 7;
        assert_eq!(
            pick_cached(&s, &mut cache, &dests, &loads, "10.1.2.3", 4),
            Some(b)
        );
    }

    #[test]
    fn cached_dest_gone_or_quiesced_is_rescheduled() {
        let dests = [dest(2, 1), dest(1, 1)];
        let mut cache = LocalityCache::with_max(64);
        let loads = FixedLoads::new(3);
        let s = Lblc::build(&dests, &BuildParams::default());
        assert_eq!(
            pick_cached(&s, &mut cache, &dests, &loads, "10.9.9.9", 1),
            Some(2)
        );
        let without = [dest(1, 1)];
        assert_eq!(
            pick_cached(&s, &mut cache, &without, &loads, "10.9.9.9", 2),
            Some(1)
        );
        let quiesced = [dest(2, 1), dest(1, 0)];
        assert_eq!(
            pick_cached(&s, &mut cache, &quiesced, &loads, "10.9.9.9", 3),
            Some(2)
        );
    }

    #[test]
    fn cache_expires_evicts_and_separates_services() {
        let mut cache = LocalityCache::with_max(4); // one set of 4 ways
        let addr = |n: u8| IpAddr::from([10, 0, 9, n]);
        for n in 0..4 {
            cache.insert(7, addr(n), 100).unwrap().len = 1;
        }
        assert!(cache.find(7, addr(0), 100).is_some());
        assert!(
            cache.find(8, addr(0), 100).is_none(),
            "another service's entry"
        );
        // Full and nothing idle 6 minutes: not cached.
        assert!(cache.insert(7, addr(9), 200).is_none());
        // addr(1..3) idle since 100, addr(0) used at 300: at 460 the LRU
        // (idle 360 s) makes room.
        assert!(cache.find(7, addr(0), 300).is_some());
        assert!(cache.insert(7, addr(9), 459).is_none());
        assert!(cache.insert(7, addr(9), 460).is_some());
        assert!(cache.find(7, addr(0), 460).is_some());
        // Re-inserting an address takes its own entry, even past an empty way.
        let mut two = LocalityCache::with_max(4);
        two.insert(7, addr(1), 1).unwrap().len = 1;
        two.insert(7, addr(2), 1).unwrap();
        two.entries[0] = LocalityEntry::default();
        two.insert(7, addr(2), 2).unwrap().len = 2;
        assert_eq!(
            two.entries
                .iter()
                .filter(|e| e.addr == Some(addr(2)))
                .count(),
            1
        );
        assert_eq!(two.find(7, addr(2), 3).unwrap().len, 2);
        // Past lblc_expiration an entry is gone.
        assert!(cache.find(7, addr(0), 460 + EXPIRATION_S).is_some());
        assert!(cache.find(7, addr(0), 461 + 2 * EXPIRATION_S).is_none());
    }

    #[test]
    fn entry_sets_insert_at_head_and_stay_bounded() {
        let mut e = LocalityEntry::default();
        let dests: Vec<DestView> = (0..20).map(|s| dest(s, 1)).collect();
        for s in 0..SET_MAX as u32 {
            e.insert(s, &dests, 1);
        }
        e.insert(3, &dests, 2);
        assert_eq!(e.members(), [7, 6, 5, 4, 3, 2, 1, 0]);
        assert_eq!(e.lastmod_s, 1, "already a member: no change");
        e.insert(9, &dests, 3);
        assert_eq!(e.members(), [9, 7, 6, 5, 4, 3, 2, 1]);
        // A member the service lost goes first.
        let fewer: Vec<DestView> = dests.iter().copied().filter(|d| d.slot != 5).collect();
        e.insert(10, &fewer, 4);
        assert_eq!(e.members(), [10, 9, 7, 6, 4, 3, 2, 1]);
        e.erase(9);
        assert_eq!(e.members(), [10, 7, 6, 4, 3, 2, 1]);
    }
}
