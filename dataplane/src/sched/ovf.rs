//! `ovf`, overflow (`spec/schedulers.md` §8, `ip_vs_ovf.c`).
//!
//! Rule: skip dests with OVERLOAD, weight 0, or more active connections than
//! their weight; of the rest take the highest weight (earliest wins ties).
//! A dest of weight 3 still takes a 4th active connection (3 is not more
//! than 3) and overflows at 4. Inactive connections do not count.
//!
//! Example: A w5, B w3: A takes connections while it holds 0..5 active; at 6
//! active B is chosen; with A at 6 and B at 4 there is no destination.

use super::{highest_weight, DestView, PickCtx, SchedState, Scheduler};

stateless_scheduler!(Overflow);

impl Scheduler for Overflow {
    scheduler_identity!("ovf");

    fn pick(
        &self,
        _state: &mut SchedState,
        dests: &[DestView],
        ctx: &mut PickCtx,
    ) -> Option<usize> {
        highest_weight(dests, |d| {
            !ctx.loads.overloaded(d.slot) && ctx.loads.active(d.slot) <= u64::from(d.weight)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{dest, picks, FixedLoads};
    use crate::sched::BuildParams;

    #[test]
    fn spec_example() {
        let (a, b) = (1, 2);
        let dests = [dest(b, 3), dest(a, 5)];
        let s = Overflow::build(&dests, &BuildParams::default());
        let mut loads = FixedLoads::new(3);
        for active in 0..=5 {
            loads.active[a as usize] = active;
            assert_eq!(
                picks(&s, &mut SchedState::default(), &dests, &loads, 1),
                [a]
            );
        }
        loads.active[a as usize] = 6;
        assert_eq!(
            picks(&s, &mut SchedState::default(), &dests, &loads, 1),
            [b]
        );
        loads.active[b as usize] = 4;
        assert_eq!(
            picks(&s, &mut SchedState::default(), &dests, &loads, 1),
            [u32::MAX]
        );
    }
}
