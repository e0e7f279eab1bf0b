//! `rr`, round robin (`spec/schedulers.md`, `ip_vs_rr.c`).
//!
//! Rule: walk the dest list circularly starting after the last dest picked
//! and take the first with weight > 0 and no OVERLOAD flag; the first pick
//! of a service takes the head of the list (the newest dest). If the last
//! picked dest was removed, the walk resumes at the position it held.
//!
//! Example: dests added A, B, C (list `[C, B, A]`), all weight 1: picks go
//! C, B, A, C, B, A, ...; with B at weight 0: C, A, C, A, ...

use super::{DestView, PickCtx, SchedState, Scheduler};

stateless_scheduler!(RoundRobin);

impl Scheduler for RoundRobin {
    scheduler_identity!("rr");

    fn pick(&self, state: &mut SchedState, dests: &[DestView], ctx: &mut PickCtx) -> Option<usize> {
        let n = dests.len();
        if n == 0 {
            return None;
        }
        // Where the walk starts: after the last pick if it is still where it
        // was (or found elsewhere after an edit), else at its old position.
        let start = match state.last_index {
            None => 0,
            Some(i) => {
                let i = i as usize;
                if i < n && dests[i].slot == state.last_slot {
                    i + 1
                } else if let Some(j) = dests.iter().position(|d| d.slot == state.last_slot) {
                    j + 1
                } else {
                    i
                }
            }
        };
        for k in 0..n {
            let i = (start + k) % n;
            if dests[i].weight > 0 && !ctx.loads.overloaded(dests[i].slot) {
                state.last_index = Some(i as u32);
                state.last_slot = dests[i].slot;
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::FixedLoads;
    use crate::sched::BuildParams;
    use crate::sched::Packet;
    use std::net::{IpAddr, Ipv4Addr};

    fn d(slot: u32, weight: u32) -> DestView {
        DestView::new(
            slot,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, slot as u8)),
            80,
            weight,
        )
    }

    fn picks_with(
        dests: &[DestView],
        loads: &FixedLoads,
        n: usize,
        st: &mut SchedState,
    ) -> Vec<u32> {
        let rr = RoundRobin::build(dests, &BuildParams::default());
        let mut ctx = PickCtx {
            packet: Packet {
                src: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)),
                sport: 40000,
                dst: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
                protocol: 6,
            },
            loads,
            now_s: 0,
            cache: None,
        };
        (0..n)
            .map(|_| {
                rr.pick(st, dests, &mut ctx)
                    .map(|i| dests[i].slot)
                    .unwrap_or(u32::MAX)
            })
            .collect()
    }

    fn picks(dests: &[DestView], n: usize, st: &mut SchedState) -> Vec<u32> {
        picks_with(dests, &FixedLoads::new(8), n, st)
    }

    #[test]
    fn newest_first_then_round() {
        // Added A(1), B(2), C(3): list [C, B, A].
        let dests = [d(3, 1), d(2, 1), d(1, 1)];
        assert_eq!(
            picks(&dests, 6, &mut SchedState::default()),
            [3, 2, 1, 3, 2, 1]
        );
    }

    #[test]
    fn weight_zero_is_skipped_and_none_when_all_quiesced() {
        let dests = [d(3, 1), d(2, 0), d(1, 1)];
        assert_eq!(picks(&dests, 4, &mut SchedState::default()), [3, 1, 3, 1]);
        let quiesced = [d(3, 0), d(2, 0)];
        assert_eq!(picks(&quiesced, 1, &mut SchedState::default()), [u32::MAX]);
    }

    #[test]
    fn overloaded_is_skipped() {
        let dests = [d(3, 1), d(2, 1)];
        let mut loads = FixedLoads::new(8);
        loads.overloaded[3] = true;
        assert_eq!(
            picks_with(&dests, &loads, 3, &mut SchedState::default()),
            [2, 2, 2]
        );
    }

    #[test]
    fn resumes_after_the_last_pick_when_the_list_changes() {
        let mut st = SchedState::default();
        let dests = [d(3, 1), d(2, 1), d(1, 1)];
        assert_eq!(picks(&dests, 2, &mut st), [3, 2]);
        // D(4) added at the head: the walk continues after B.
        let dests = [d(4, 1), d(3, 1), d(2, 1), d(1, 1)];
        assert_eq!(picks(&dests, 4, &mut st), [1, 4, 3, 2]);
        // The last pick (B, at index 3 -> slot 2 was index 2) removed: the
        // walk resumes at its position, which now holds A.
        let dests = [d(4, 1), d(3, 1), d(1, 1)];
        assert_eq!(picks(&dests, 2, &mut st), [1, 4]);
    }
}
