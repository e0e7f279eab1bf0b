//! `wlc`, weighted least connection, the default scheduler of ipvsadm and
//! keepalived (`spec/schedulers.md` §4, `ip_vs_wlc.c`).
//!
//! Rule: start from the first dest with weight > 0 and no OVERLOAD; a later
//! dest without OVERLOAD replaces it when its `(active * 256 + inactive) /
//! weight` is strictly lower (cross-multiplied, never divided). Ties keep
//! the earlier dest.
//!
//! Example: list `[C, B, A]`, A 266/1, B 512/2, C 818/3 → B. From empty, A(w1)
//! then B(w3), connections never closing: `B A B B B A B B B A B B`.

use super::{least_weighted_conn, DestView, PickCtx, SchedState, Scheduler};

stateless_scheduler!(WeightedLeastConn);

impl Scheduler for WeightedLeastConn {
    scheduler_identity!("wlc");

    fn pick(
        &self,
        _state: &mut SchedState,
        dests: &[DestView],
        ctx: &mut PickCtx,
    ) -> Option<usize> {
        least_weighted_conn(dests, ctx.loads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{dest, from_empty_a1_b3, picks, FixedLoads};
    use crate::sched::BuildParams;
    use proptest::prelude::*;

    #[test]
    fn spec_examples() {
        let (a, b, c) = (1, 2, 3);
        let dests = [dest(c, 3), dest(b, 2), dest(a, 1)];
        let mut loads = FixedLoads::new(4);
        (loads.active[1], loads.inactive[1]) = (1, 10);
        (loads.active[2], loads.inactive[2]) = (2, 0);
        (loads.active[3], loads.inactive[3]) = (3, 50);
        let s = WeightedLeastConn::build(&dests, &BuildParams::default());
        assert_eq!(
            picks(&s, &mut SchedState::default(), &dests, &loads, 1),
            [b]
        );
        let got = from_empty_a1_b3(WeightedLeastConn::build, 12);
        assert_eq!(got, [b, a, b, b, b, a, b, b, b, a, b, b]);
    }

    #[test]
    fn huge_weights_and_counts_do_not_overflow() {
        let dests = [dest(2, u32::MAX), dest(1, u32::MAX - 1)];
        let mut loads = FixedLoads::new(3);
        loads.active[2] = u64::MAX / 256;
        loads.active[1] = u64::MAX / 512;
        let s = WeightedLeastConn::build(&dests, &BuildParams::default());
        assert_eq!(
            picks(&s, &mut SchedState::default(), &dests, &loads, 1),
            [1]
        );
    }

    proptest! {
        /// lc and wlc never pick an overloaded or weight-0 dest, and pick
        /// something whenever one is eligible.
        #[test]
        fn never_overloaded_or_quiesced(
            ws in proptest::collection::vec((0u32..4, any::<bool>(), 0u64..5, 0u64..300), 1..8)
        ) {
            let dests: Vec<DestView> = ws.iter().enumerate().map(|(i, w)| dest(i as u32, w.0)).collect();
            let mut loads = FixedLoads::new(ws.len());
            for (i, w) in ws.iter().enumerate() {
                loads.overloaded[i] = w.1;
                loads.active[i] = w.2;
                loads.inactive[i] = w.3;
            }
            let any_eligible = ws.iter().any(|w| w.0 > 0 && !w.1);
            let lc = crate::sched::lc::LeastConn::build(&dests, &BuildParams::default());
            let wlc = WeightedLeastConn::build(&dests, &BuildParams::default());
            for s in [&lc as &dyn Scheduler, &wlc] {
                let got = picks(s, &mut SchedState::default(), &dests, &loads, 1)[0];
                if any_eligible {
                    let w = ws[got as usize];
                    prop_assert!(w.0 > 0 && !w.1, "{} picked {} of {:?}", s.name(), got, ws);
                } else {
                    prop_assert_eq!(got, u32::MAX);
                }
            }
        }
    }
}
