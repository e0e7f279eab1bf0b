//! `lc`, least connection (`spec/schedulers.md` §3, `ip_vs_lc.c`).
//!
//! Rule: the eligible dest (weight > 0, no OVERLOAD) with the smallest
//! `active * 256 + inactive`; weights count only as "not 0"; ties go to the
//! earlier dest in list order (the newest).
//!
//! Example: list `[C, B, A]` with A 1 active / 10 inactive (266), B 2 / 0
//! (512), C 3 / 50 (818) → A. From empty, A(w1) then B(w3) added, every
//! connection staying active: `B A B A B A ...`.

use super::{conn_overhead, eligible, DestView, PickCtx, SchedState, Scheduler};

stateless_scheduler!(LeastConn);

impl Scheduler for LeastConn {
    scheduler_identity!("lc");

    fn pick(
        &self,
        _state: &mut SchedState,
        dests: &[DestView],
        ctx: &mut PickCtx,
    ) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (i, d) in dests.iter().enumerate() {
            if !eligible(d, ctx.loads) {
                continue;
            }
            let oh = conn_overhead(ctx.loads, d.slot);
            if best.is_none_or(|(_, b)| oh < b) {
                best = Some((i, oh));
            }
        }
        best.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{dest, from_empty_a1_b3, picks, FixedLoads};
    use crate::sched::BuildParams;

    #[test]
    fn spec_examples() {
        let (a, b, c) = (1, 2, 3);
        let dests = [dest(c, 1), dest(b, 1), dest(a, 1)];
        let mut loads = FixedLoads::new(4);
        (loads.active[1], loads.inactive[1]) = (1, 10);
        (loads.active[2], loads.inactive[2]) = (2, 0);
        (loads.active[3], loads.inactive[3]) = (3, 50);
        let s = LeastConn::build(&dests, &BuildParams::default());
        assert_eq!(
            picks(&s, &mut SchedState::default(), &dests, &loads, 1),
            [a]
        );
        assert_eq!(from_empty_a1_b3(LeastConn::build, 6), [b, a, b, a, b, a]);
    }
}
