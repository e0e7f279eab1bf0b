//! `nq`, never queue (`spec/schedulers.md` §6, `ip_vs_nq.c`).
//!
//! Rule: walking the list in order (skipping OVERLOAD and weight 0), the
//! first dest with no active connection is taken at once; if every one is
//! busy, sed's rule (`(active + 1) / weight`, strictly lower wins) decides.
//!
//! Example: from empty, A(w1) then B(w3) added, connections never closing:
//! `B A B B B B B A B B B A`.

use super::sed::delay_overhead;
use super::{least_weighted_by, DestView, Loads, PickCtx, SchedState, Scheduler};

/// sed's overhead, but 0 for a dest with no active connection: no later
/// dest is strictly lower than it and it is lower than any busy one, so
/// the first idle eligible dest is taken (the kernel stops its walk there).
#[inline]
fn idle_or_delay_overhead(loads: &dyn Loads, slot: u32) -> u64 {
    if loads.active(slot) == 0 {
        0
    } else {
        delay_overhead(loads, slot)
    }
}

stateless_scheduler!(NeverQueue);

impl Scheduler for NeverQueue {
    scheduler_identity!("nq");

    fn pick(
        &self,
        _state: &mut SchedState,
        dests: &[DestView],
        ctx: &mut PickCtx,
    ) -> Option<usize> {
        least_weighted_by(dests, ctx.loads, idle_or_delay_overhead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::from_empty_a1_b3;

    #[test]
    fn spec_example() {
        let (a, b) = (1, 2);
        let got = from_empty_a1_b3(NeverQueue::build, 12);
        assert_eq!(got, [b, a, b, b, b, b, b, a, b, b, b, a]);
    }
}
