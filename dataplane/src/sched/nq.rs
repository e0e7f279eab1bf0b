//! `nq`, never queue (`spec/schedulers.md` §6, `ip_vs_nq.c`).
//!
//! Rule: walking the list in order (skipping OVERLOAD and weight 0), the
//! first dest with no active connection is taken at once; if every one is
//! busy, sed's rule (`(active + 1) / weight`, strictly lower wins) decides.
//!
//! Example: from empty, A(w1) then B(w3) added, connections never closing:
//! `B A B B B B B A B B B A`.

use super::sed::delay_overhead;
use super::{eligible, weighted_less, DestView, PickCtx, SchedState, Scheduler};

stateless_scheduler!(NeverQueue);

impl Scheduler for NeverQueue {
    scheduler_identity!("nq");

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
            if ctx.loads.active(d.slot) == 0 {
                return Some(i);
            }
            let oh = delay_overhead(ctx.loads, d.slot);
            if best.is_none_or(|(b, b_oh)| weighted_less(oh, d.weight, b_oh, dests[b].weight)) {
                best = Some((i, oh));
            }
        }
        best.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{dest, picks_never_closing};
    use crate::sched::BuildParams;

    #[test]
    fn spec_example() {
        let (a, b) = (1, 2);
        let dests = [dest(b, 3), dest(a, 1)];
        let s = NeverQueue::build(&dests, &BuildParams::default());
        assert_eq!(
            picks_never_closing(&s, &dests, 12),
            [b, a, b, b, b, b, b, a, b, b, b, a]
        );
    }
}
