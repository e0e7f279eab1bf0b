//! `sed`, shortest expected delay (`spec/schedulers.md` §5, `ip_vs_sed.c`).
//!
//! Rule: as wlc, but the overhead is `active + 1` (inactive connections do
//! not count): the first eligible dest, replaced by any later dest without
//! OVERLOAD whose `(active + 1) / weight` is strictly lower.
//!
//! Example: from empty, A(w1) then B(w3) added, connections never closing:
//! `B B B A B B B A ...` (three connections queue on the fast server before
//! the slow one gets any).

use super::{least_weighted_by, DestView, Loads, PickCtx, SchedState, Scheduler};

/// The expected-delay overhead of sed and nq.
#[inline]
pub(crate) fn delay_overhead(loads: &dyn Loads, slot: u32) -> u64 {
    loads.active(slot).wrapping_add(1)
}

stateless_scheduler!(ShortestExpectedDelay);

impl Scheduler for ShortestExpectedDelay {
    scheduler_identity!("sed");

    fn pick(
        &self,
        _state: &mut SchedState,
        dests: &[DestView],
        ctx: &mut PickCtx,
    ) -> Option<usize> {
        least_weighted_by(dests, ctx.loads, delay_overhead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{dest, from_empty_a1_b3, picks, FixedLoads};
    use crate::sched::BuildParams;

    #[test]
    fn spec_example() {
        let (a, b) = (1, 2);
        let got = from_empty_a1_b3(ShortestExpectedDelay::build, 8);
        assert_eq!(got, [b, b, b, a, b, b, b, a]);
    }

    #[test]
    fn inactive_connections_do_not_count() {
        let dests = [dest(2, 1), dest(1, 1)];
        let mut loads = FixedLoads::new(3);
        loads.inactive[2] = 1000;
        loads.active[1] = 1;
        let s = ShortestExpectedDelay::build(&dests, &BuildParams::default());
        assert_eq!(
            picks(&s, &mut SchedState::default(), &dests, &loads, 1),
            [2]
        );
    }
}
