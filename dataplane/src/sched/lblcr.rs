//! `lblcr`, locality-based least connection with replication
//! (`spec/schedulers.md` §14, `ip_vs_lblcr.c`).
//!
//! Rule: the cache maps a destination address to a *set* of dests (newest
//! first). A hit takes the set's weighted-least-connection member (in the
//! service, weight > 0, no OVERLOAD; first wins ties); if the set has more
//! than one member and has not changed for `lblcr_expiration` (24 h), its
//! most loaded member leaves it. The least-loaded member is used unless it
//! is lblc-overloaded (see [`super::lblc`]); then wlc picks among all dests
//! and the choice joins the set. A miss picks by wlc and makes a set of one.
//! Sets hold at most [`super::lblc::SET_MAX`] members (the kernel's are
//! unbounded): a full set first drops a member the service no longer has,
//! else its oldest.

use super::lblc::{locality_overloaded, LocalityEntry, EXPIRATION_S};
use super::{
    conn_overhead, least_weighted_conn, weighted_less, DestView, Loads, PickCtx, SchedState,
    Scheduler,
};

stateless_scheduler!(Lblcr);

/// The dest index of a member, if the service still has it.
fn index_of(dests: &[DestView], slot: u32) -> Option<usize> {
    dests.iter().position(|d| d.slot == slot)
}

/// `ip_vs_dest_set_min`: the weighted-least-loaded available member.
fn set_min(e: &LocalityEntry, dests: &[DestView], loads: &dyn Loads) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    for &m in e.members() {
        let Some(i) = index_of(dests, m) else {
            continue;
        };
        let d = &dests[i];
        if loads.overloaded(d.slot) {
            continue;
        }
        let oh = conn_overhead(loads, d.slot);
        match best {
            None if d.weight > 0 => best = Some((i, oh)),
            Some((b, b_oh)) if weighted_less(oh, d.weight, b_oh, dests[b].weight) => {
                best = Some((i, oh))
            }
            _ => {}
        }
    }
    best.map(|(i, _)| i)
}

/// `ip_vs_dest_set_max`: the weighted-most-loaded member with weight > 0.
fn set_max(e: &LocalityEntry, dests: &[DestView], loads: &dyn Loads) -> Option<u32> {
    let mut most: Option<(usize, u64)> = None;
    for &m in e.members() {
        let Some(i) = index_of(dests, m) else {
            continue;
        };
        let d = &dests[i];
        if d.weight == 0 {
            continue;
        }
        let oh = conn_overhead(loads, d.slot);
        match most {
            None => most = Some((i, oh)),
            // moh / mw < doh / dw
            Some((b, b_oh)) if weighted_less(b_oh, dests[b].weight, oh, d.weight) => {
                most = Some((i, oh))
            }
            _ => {}
        }
    }
    most.map(|(i, _)| dests[i].slot)
}

impl Scheduler for Lblcr {
    scheduler_identity!("lblcr");

    fn uses_locality_cache(&self) -> bool {
        true
    }

    fn pick(&self, state: &mut SchedState, dests: &[DestView], ctx: &mut PickCtx) -> Option<usize> {
        let daddr = ctx.packet.dst;
        let (loads, now_s) = (ctx.loads, ctx.now_s);
        let Some(cache) = ctx.cache.as_deref_mut() else {
            return least_weighted_conn(dests, loads);
        };
        if let Some(e) = cache.find(state.service_id, daddr, now_s) {
            let min = set_min(e, dests, loads);
            if e.len > 1 && now_s > e.lastmod_s.saturating_add(EXPIRATION_S) {
                if let Some(m) = set_max(e, dests, loads) {
                    e.erase(m);
                    e.lastmod_s = now_s;
                }
            }
            if let Some(i) = min.filter(|&i| !locality_overloaded(&dests[i], dests, loads)) {
                return Some(i);
            }
            let i = least_weighted_conn(dests, loads)?;
            e.insert(dests[i].slot, dests, now_s);
            return Some(i);
        }
        let i = least_weighted_conn(dests, loads)?;
        if let Some(e) = cache.insert(state.service_id, daddr, now_s) {
            e.insert(dests[i].slot, dests, now_s);
        }
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::lblc::tests::pick_cached;
    use crate::sched::lblc::LocalityCache;
    use crate::sched::testing::{dest, FixedLoads};
    use crate::sched::BuildParams;

    #[test]
    fn a_set_grows_when_its_best_member_is_overloaded() {
        let (a, b, c) = (1, 2, 3);
        let dests = [dest(c, 10), dest(b, 10), dest(a, 10)];
        let s = Lblcr::build(&dests, &BuildParams::default());
        let mut cache = LocalityCache::with_max(64);
        let mut loads = FixedLoads::new(4);
        (loads.active[3], loads.active[2]) = (1, 1);
        assert_eq!(
            pick_cached(&s, &mut cache, &dests, &loads, "10.1.2.3", 1),
            Some(a)
        );
        // A overloaded (12 > 10, B below half): wlc picks B, which joins.
        (loads.active[1], loads.active[2], loads.active[3]) = (12, 3, 6);
        assert_eq!(
            pick_cached(&s, &mut cache, &dests, &loads, "10.1.2.3", 2),
            Some(b)
        );
        let members = |cache: &mut LocalityCache, now| {
            cache
                .find(7, "10.1.2.3".parse().unwrap(), now)
                .unwrap()
                .members()
                .to_vec()
        };
        assert_eq!(members(&mut cache, 2), [b, a]);
        // Now the set's least loaded member (B) serves, even though C
        // (outside the set) is as light.
        loads.active[3] = 3;
        assert_eq!(
            pick_cached(&s, &mut cache, &dests, &loads, "10.1.2.3", 3),
            Some(b)
        );
        // Used within the day but unchanged: still both members.
        assert_eq!(
            pick_cached(&s, &mut cache, &dests, &loads, "10.1.2.3", EXPIRATION_S),
            Some(b)
        );
        assert_eq!(members(&mut cache, EXPIRATION_S), [b, a]);
        // A day after the set last changed (at 2): the most loaded member
        // (A) leaves.
        let later = 2 + EXPIRATION_S + 1;
        assert_eq!(
            pick_cached(&s, &mut cache, &dests, &loads, "10.1.2.3", later),
            Some(b)
        );
        assert_eq!(members(&mut cache, later), [b]);
    }

    #[test]
    fn members_the_service_lost_are_skipped() {
        let dests = [dest(2, 1), dest(1, 1)];
        let s = Lblcr::build(&dests, &BuildParams::default());
        let mut cache = LocalityCache::with_max(64);
        let loads = FixedLoads::new(3);
        assert_eq!(
            pick_cached(&s, &mut cache, &dests, &loads, "10.1.2.3", 1),
            Some(2)
        );
        let without = [dest(1, 1)];
        assert_eq!(
            pick_cached(&s, &mut cache, &without, &loads, "10.1.2.3", 2),
            Some(1)
        );
        assert_eq!(
            pick_cached(&s, &mut cache, &[], &loads, "10.1.2.3", 3),
            None
        );
    }
}
