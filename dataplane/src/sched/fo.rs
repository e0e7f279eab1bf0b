//! `fo`, weighted failover (`spec/schedulers.md` §7, `ip_vs_fo.c`).
//!
//! Rule: the dest without OVERLOAD with the highest weight (above 0); among
//! equal weights the earliest in list order wins. Loads are ignored.
//!
//! Example: A w100, B w50, C w50 added in that order → A; with A at weight 0
//! → C (it is ahead of B in the list).

use super::{highest_weight, DestView, PickCtx, SchedState, Scheduler};

stateless_scheduler!(WeightedFailover);

impl Scheduler for WeightedFailover {
    scheduler_identity!("fo");

    fn pick(
        &self,
        _state: &mut SchedState,
        dests: &[DestView],
        ctx: &mut PickCtx,
    ) -> Option<usize> {
        highest_weight(dests, |d| !ctx.loads.overloaded(d.slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{dest, picks, FixedLoads};
    use crate::sched::BuildParams;

    #[test]
    fn spec_example() {
        let (a, b, c) = (1, 2, 3);
        let loads = FixedLoads::new(4);
        let dests = [dest(c, 50), dest(b, 50), dest(a, 100)];
        let s = WeightedFailover::build(&dests, &BuildParams::default());
        assert_eq!(
            picks(&s, &mut SchedState::default(), &dests, &loads, 2),
            [a, a]
        );
        let dests = [dest(c, 50), dest(b, 50), dest(a, 0)];
        assert_eq!(
            picks(&s, &mut SchedState::default(), &dests, &loads, 2),
            [c, c]
        );
        let mut loads = FixedLoads::new(4);
        loads.overloaded[c as usize] = true;
        assert_eq!(
            picks(&s, &mut SchedState::default(), &dests, &loads, 1),
            [b]
        );
    }
}
