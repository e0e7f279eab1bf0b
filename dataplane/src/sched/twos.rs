//! `twos`, the power of two random choices (`spec/schedulers.md` §9,
//! `ip_vs_twos.c`).
//!
//! Rule: `total` = the sum of the weights of the eligible dests (weight > 0,
//! no OVERLOAD). Draw `r1`, `r2` uniformly from `0..=total`; walking the
//! eligible dests in list order and subtracting each weight, choice 1 is the
//! first dest where `r1` reaches 0 or below, choice 2 likewise for `r2`.
//! Choice 2 wins only when its `overhead / weight` is strictly lower.
//!
//! Quirk kept from the kernel: because a draw can be 0, the first eligible
//! dest has one extra chance: weights `[1, 2, 3]` are drawn with
//! probabilities 2/7, 2/7, 3/7.
//!
//! The random numbers come from a per-core xorshift generator in the
//! worker's [`SchedState`]; [`choose`] is the deterministic part.

use super::{
    conn_overhead, eligible, weighted_less, DestView, Loads, PickCtx, SchedState, Scheduler,
};

stateless_scheduler!(TwoChoices);

/// xorshift64*: the next number of the core's generator (its state is never
/// 0; a 0 seed is replaced).
fn next_random(rng: &mut u64) -> u64 {
    if *rng == 0 {
        *rng = 0x9e37_79b9_7f4a_7c15;
    }
    let mut x = *rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// A uniform number in `0..n` (n > 0).
fn below(rng: &mut u64, n: u64) -> u64 {
    ((u128::from(next_random(rng) >> 32) * u128::from(n)) >> 32) as u64
}

/// The pick for the draws `r1`, `r2` (each in `0..=total`).
pub fn choose(dests: &[DestView], loads: &dyn Loads, r1: u64, r2: u64) -> Option<usize> {
    let (mut r1, mut r2) = (r1 as i128, r2 as i128);
    let mut c1: Option<(usize, u64)> = None;
    let mut c2: Option<(usize, u64)> = None;
    for (i, d) in dests.iter().enumerate() {
        if !eligible(d, loads) {
            continue;
        }
        r1 -= i128::from(d.weight);
        r2 -= i128::from(d.weight);
        if r1 <= 0 && c1.is_none() {
            c1 = Some((i, conn_overhead(loads, d.slot)));
        }
        if r2 <= 0 && c2.is_none() {
            c2 = Some((i, conn_overhead(loads, d.slot)));
        }
        if c1.is_some() && c2.is_some() {
            break;
        }
    }
    let (i1, oh1) = c1?;
    match c2 {
        Some((i2, oh2)) if weighted_less(oh2, dests[i2].weight, oh1, dests[i1].weight) => Some(i2),
        _ => Some(i1),
    }
}

impl Scheduler for TwoChoices {
    scheduler_identity!("twos");

    fn pick(&self, state: &mut SchedState, dests: &[DestView], ctx: &mut PickCtx) -> Option<usize> {
        let total: u64 = dests
            .iter()
            .filter(|d| eligible(d, ctx.loads))
            .map(|d| u64::from(d.weight))
            .sum();
        if total == 0 {
            return None;
        }
        let r1 = below(&mut state.rng, total + 1);
        let r2 = below(&mut state.rng, total + 1);
        choose(dests, ctx.loads, r1, r2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{dest, picks, FixedLoads};
    use crate::sched::BuildParams;

    #[test]
    fn the_first_dest_has_an_extra_slot() {
        // Weights [1, 2, 3] in list order: over every draw r in 0..=6 the
        // first choice lands 2, 2 and 3 times.
        let dests = [dest(1, 1), dest(2, 2), dest(3, 3)];
        let loads = FixedLoads::new(4);
        let mut seen = [0; 4];
        for r in 0..=6 {
            // Equal loads: choice 2 never wins, so the pick is choice 1.
            let i = choose(&dests, &loads, r, r).unwrap();
            seen[dests[i].slot as usize] += 1;
        }
        assert_eq!(seen, [0, 2, 2, 3]);
    }

    #[test]
    fn the_less_loaded_of_the_two_wins() {
        let dests = [dest(1, 1), dest(2, 1)];
        let mut loads = FixedLoads::new(3);
        loads.active[1] = 5;
        // r1 -> dest 1, r2 -> dest 2.
        assert_eq!(choose(&dests, &loads, 0, 2), Some(1));
        loads.active[1] = 0;
        loads.active[2] = 5;
        assert_eq!(choose(&dests, &loads, 0, 2), Some(0));
        // Overloaded and quiesced dests are never drawn.
        loads.overloaded[1] = true;
        assert_eq!(choose(&dests, &loads, 0, 0), Some(1));
        let dests = [dest(1, 1), dest(2, 0)];
        assert_eq!(choose(&dests, &loads, 0, 0), None);
    }

    #[test]
    fn random_picks_follow_the_weights() {
        let dests = [dest(1, 1), dest(2, 2), dest(3, 3)];
        let s = TwoChoices::build(&dests, &BuildParams::default());
        let mut st = SchedState {
            rng: 12345,
            ..SchedState::default()
        };
        let got = picks(&s, &mut st, &dests, &FixedLoads::new(4), 70_000);
        let share = |slot| got.iter().filter(|&&g| g == slot).count() as f64 / 70_000.0;
        // With equal loads the pick is choice 1: 2/7, 2/7, 3/7.
        for (slot, want) in [(1, 2.0 / 7.0), (2, 2.0 / 7.0), (3, 3.0 / 7.0)] {
            assert!(
                (share(slot) - want).abs() < 0.01,
                "slot {slot}: {}",
                share(slot)
            );
        }
    }
}
