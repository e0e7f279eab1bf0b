//! `wrr`, weighted round robin by gcd stepping (`spec/schedulers.md` §2,
//! `ip_vs_wrr.c`).
//!
//! Rule: a cursor `cl` in the dest list and a threshold `cw`. A pick scans on
//! from after `cl` for a dest without OVERLOAD whose weight is at least `cw`;
//! each time the scan runs off the end, `cw` drops by `di` (the gcd of the
//! weights above 0) and the scan restarts at the head; below 1 it wraps to
//! `mw` (the largest weight minus `di - 1`). A pick fails once every dest was
//! tried at the lowest threshold. Any change of the dest list resets `cl` to
//! the head and pulls `cw` back into range.
//!
//! Example: A(4), B(3), C(2) added in that order (list `[C, B, A]`) pick
//! `A B A C B A C B A`, repeating; A(100), B(200) pick `B B A` (cw 101, 1, 1).

use super::{gcd, next_build_id, BuildParams, DestView, PickCtx, SchedState, Scheduler};

#[derive(Debug)]
pub struct WeightedRoundRobin {
    build_id: u64,
    /// gcd of the weights above 0 (1 when there are none).
    di: i64,
    /// The largest weight minus `di - 1`; 0 when every weight is 0.
    mw: i64,
}

impl WeightedRoundRobin {
    pub fn build(dests: &[DestView], _params: &BuildParams) -> Self {
        let g = dests.iter().map(|d| d.weight).fold(0, gcd);
        let di = i64::from(if g == 0 { 1 } else { g });
        let max = dests.iter().map(|d| d.weight).max().unwrap_or(0);
        WeightedRoundRobin {
            build_id: next_build_id(),
            di,
            mw: i64::from(max) - (di - 1),
        }
    }
}

impl Scheduler for WeightedRoundRobin {
    scheduler_identity!("wrr");

    fn on_rebuild(&self, state: &mut SchedState, _dests: &[DestView]) {
        // ip_vs_wrr_dest_changed.
        state.last_index = None;
        if state.cw > self.mw || state.cw == 0 {
            state.cw = self.mw;
        } else if self.di > 1 {
            state.cw = (state.cw / self.di) * self.di + 1;
        }
    }

    fn pick(&self, state: &mut SchedState, dests: &[DestView], ctx: &mut PickCtx) -> Option<usize> {
        if self.mw == 0 || dests.is_empty() {
            return None;
        }
        // The largest weight a dest without OVERLOAD has: a round from the
        // head at a threshold above it finds nothing, so such rounds are
        // skipped in one step (the kernel walks them one by one, which with
        // large weights can take billions of rounds). What is left is at
        // most three walks over the dests.
        let top = dests
            .iter()
            .filter(|d| !ctx.loads.overloaded(d.slot))
            .map(|d| i64::from(d.weight))
            .max()
            .unwrap_or(0);
        // `None` is the list head (before the first dest), as in the kernel.
        let last = state.last_index.map(|i| (i as usize).min(dests.len() - 1));
        let mut at = last;
        let mut stop: Option<usize> = None;
        let (mut last_pass, mut restarted) = (false, false);
        loop {
            let from = at.map_or(0, |i| i + 1);
            for (i, d) in dests.iter().enumerate().skip(from) {
                if !ctx.loads.overloaded(d.slot) && i64::from(d.weight) >= state.cw {
                    state.last_index = Some(i as u32);
                    return Some(i);
                }
                if stop == Some(i) {
                    state.last_index = Some(i as u32);
                    return None;
                }
            }
            at = None;
            state.cw -= self.di;
            if state.cw <= 0 {
                state.cw = self.mw;
                if last_pass || last.is_none() {
                    state.last_index = None;
                    return None;
                }
                restarted = true;
            }
            // The rounds from the head while cw is above `top` (and above
            // the lowest threshold, where the last pass is decided) all
            // fail: go to the first threshold that is not.
            let floor = top.max((state.cw - 1).rem_euclid(self.di) + 1);
            if state.cw > floor {
                state.cw -= (state.cw - floor + self.di - 1) / self.di * self.di;
            }
            last_pass = state.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                // The first pass at the lowest threshold covered only the
                // dests after `last`: cover the rest, up to `last`.
                stop = last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{dest, picks, FixedLoads};
    use proptest::prelude::*;

    const A: u32 = 1;
    const B: u32 = 2;
    const C: u32 = 3;

    #[test]
    fn weights_4_3_2_cycle() {
        let dests = [dest(C, 2), dest(B, 3), dest(A, 4)];
        let s = WeightedRoundRobin::build(&dests, &BuildParams::default());
        let got = picks(
            &s,
            &mut SchedState::default(),
            &dests,
            &FixedLoads::new(4),
            18,
        );
        let cycle = [A, B, A, C, B, A, C, B, A];
        assert_eq!(got, [cycle, cycle].concat());
    }

    #[test]
    fn gcd_stepping() {
        let dests = [dest(B, 200), dest(A, 100)];
        let s = WeightedRoundRobin::build(&dests, &BuildParams::default());
        assert_eq!((s.di, s.mw), (100, 101));
        let got = picks(
            &s,
            &mut SchedState::default(),
            &dests,
            &FixedLoads::new(4),
            6,
        );
        assert_eq!(got, [B, B, A, B, B, A]);
    }

    #[test]
    fn weight_change_mid_cycle_recomputes_and_keeps_cw_in_step() {
        let mut st = SchedState::default();
        let loads = FixedLoads::new(4);
        let dests = [dest(C, 2), dest(B, 3), dest(A, 4)];
        let s = WeightedRoundRobin::build(&dests, &BuildParams::default());
        assert_eq!(picks(&s, &mut st, &dests, &loads, 4), [A, B, A, C]);
        assert_eq!(st.cw, 2);
        // B to weight 0: di = 2, mw = 3, cw 2 -> 3.
        let dests = [dest(C, 2), dest(B, 0), dest(A, 4)];
        let s = WeightedRoundRobin::build(&dests, &BuildParams::default());
        assert_eq!((s.di, s.mw), (2, 3));
        assert_eq!(
            picks(&s, &mut st, &dests, &loads, 8),
            [A, C, A, A, C, A, A, C]
        );
    }

    #[test]
    fn nothing_when_all_quiesced_or_overloaded() {
        let dests = [dest(B, 0), dest(A, 0)];
        let s = WeightedRoundRobin::build(&dests, &BuildParams::default());
        assert_eq!(
            picks(
                &s,
                &mut SchedState::default(),
                &dests,
                &FixedLoads::new(4),
                2
            ),
            [u32::MAX, u32::MAX]
        );
        let dests = [dest(B, 2), dest(A, 1)];
        let mut loads = FixedLoads::new(4);
        loads.overloaded[B as usize] = true;
        let s = WeightedRoundRobin::build(&dests, &BuildParams::default());
        assert_eq!(
            picks(&s, &mut SchedState::default(), &dests, &loads, 3),
            [A, A, A]
        );
        loads.overloaded[A as usize] = true;
        assert_eq!(
            picks(&s, &mut SchedState::default(), &dests, &loads, 2),
            [u32::MAX, u32::MAX]
        );
    }

    #[test]
    fn huge_weights_with_the_heaviest_overloaded_pick_at_once() {
        // The kernel walks about 2^31 rounds here before picking A.
        let (a, b) = (1, 2);
        let dests = [dest(b, i32::MAX as u32), dest(a, 1)];
        let mut loads = FixedLoads::new(4);
        loads.overloaded[b as usize] = true;
        let s = WeightedRoundRobin::build(&dests, &BuildParams::default());
        let mut st = SchedState::default();
        assert_eq!(picks(&s, &mut st, &dests, &loads, 3), [a, a, a]);
        loads.overloaded[a as usize] = true;
        assert_eq!(picks(&s, &mut st, &dests, &loads, 2), [u32::MAX, u32::MAX]);
    }

    /// The kernel's walk, dest by dest, for comparing end states.
    fn reference_pick(
        s: &WeightedRoundRobin,
        st: &mut SchedState,
        dests: &[DestView],
        overloaded: &[bool],
    ) -> Option<usize> {
        if s.mw == 0 {
            return None;
        }
        let last = st.last_index.map(|i| i as usize);
        let (mut at, mut stop, mut last_pass, mut restarted) = (last, None, false, false);
        loop {
            for (i, d) in dests.iter().enumerate().skip(at.map_or(0, |i| i + 1)) {
                if !overloaded[d.slot as usize] && i64::from(d.weight) >= st.cw {
                    st.last_index = Some(i as u32);
                    return Some(i);
                }
                if stop == Some(i) {
                    st.last_index = Some(i as u32);
                    return None;
                }
            }
            at = None;
            st.cw -= s.di;
            if st.cw <= 0 {
                st.cw = s.mw;
                if last_pass || last.is_none() {
                    st.last_index = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = st.cw <= s.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
    }

    proptest! {
        /// Whatever the loads, the pick and the state it leaves are the
        /// kernel walk's (including the shortcut when nothing is eligible).
        #[test]
        fn same_as_the_kernel_walk(
            ws in proptest::collection::vec((0u32..9, any::<bool>()), 1..6),
            g in 1u32..4,
            warmup in 0usize..12,
            overload_all in any::<bool>(),
        ) {
            let dests: Vec<DestView> = ws.iter().enumerate().map(|(i, w)| dest(i as u32, w.0 * g)).collect();
            let s = WeightedRoundRobin::build(&dests, &BuildParams::default());
            let mut st = SchedState::default();
            picks(&s, &mut st, &dests, &FixedLoads::new(8), warmup);
            if st.build_id != s.build_id() {
                s.on_rebuild(&mut st, &dests);
                st.build_id = s.build_id();
            }
            let mut loads = FixedLoads::new(8);
            for (i, w) in ws.iter().enumerate() {
                loads.overloaded[i] = w.1 || overload_all;
            }
            let mut st2 = st;
            for _ in 0..5 {
                let got = picks(&s, &mut st, &dests, &loads, 1)[0];
                let want = reference_pick(&s, &mut st2, &dests, &loads.overloaded)
                    .map_or(u32::MAX, |i| dests[i].slot);
                prop_assert_eq!(got, want);
                prop_assert_eq!(st, st2);
            }
        }


        /// Over a full cycle (the sum of the weights) each dest is picked
        /// exactly its weight's number of times.
        #[test]
        fn share_over_a_cycle_equals_the_weights(weights in proptest::collection::vec(0u32..12, 1..7)) {
            let dests: Vec<DestView> = weights
                .iter()
                .enumerate()
                .map(|(i, &w)| dest(i as u32, w))
                .collect();
            let total: u32 = weights.iter().sum();
            let s = WeightedRoundRobin::build(&dests, &BuildParams::default());
            let loads = FixedLoads::new(8);
            let got = picks(&s, &mut SchedState::default(), &dests, &loads, 3 * total as usize);
            if total == 0 {
                prop_assert!(got.iter().all(|&g| g == u32::MAX));
            } else {
                for (i, &w) in weights.iter().enumerate() {
                    let n = got.iter().filter(|&&g| g == i as u32).count();
                    prop_assert_eq!(n, 3 * w as usize, "dest {} weights {:?}", i, weights);
                }
            }
        }
    }
}
