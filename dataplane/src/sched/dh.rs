//! `dh`, destination hashing (`spec/schedulers.md` §11, `ip_vs_dh.c`),
//! for fwmark services in front of caches.
//!
//! Rule: the 256-bucket table of sh, tiled one bucket per dest per round
//! (weights do not shape it), indexed by `hash_32(fold(dst), 8)` of the
//! packet's destination address. A dest with weight 0 or OVERLOAD means no
//! destination; there is no fallback and no port flag.
//!
//! Example: list `[RS3, RS2, RS1]`, destination 10.1.2.3 → bucket 2 → RS1.

use super::sh::{tile, TAB_BITS, TAB_SIZE};
use super::{
    eligible, fold, hash_32, next_build_id, BuildParams, DestView, PickCtx, SchedState, Scheduler,
};

#[derive(Debug)]
pub struct DestHash {
    build_id: u64,
    table: Option<Box<[u16; TAB_SIZE]>>,
}

impl DestHash {
    pub fn build(dests: &[DestView], _params: &BuildParams) -> Self {
        DestHash {
            build_id: next_build_id(),
            table: tile(dests, false),
        }
    }
}

impl Scheduler for DestHash {
    scheduler_identity!("dh");

    fn pick(
        &self,
        _state: &mut SchedState,
        dests: &[DestView],
        ctx: &mut PickCtx,
    ) -> Option<usize> {
        let bucket = hash_32(fold(ctx.packet.dst), TAB_BITS) as usize;
        let i = usize::from(self.table.as_ref()?[bucket]);
        eligible(&dests[i], ctx.loads).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{dest, packet, pick_one, FixedLoads};
    use proptest::prelude::*;

    proptest! {
        /// Same destination address, same dest, whatever the client, for as
        /// long as the dest set stays the same.
        #[test]
        fn stable_for_a_destination(n in 1u32..8, dst in any::<u32>(), src in any::<u32>()) {
            let dests: Vec<DestView> = (0..n).map(|i| dest(i, 1)).collect();
            let loads = FixedLoads::new(8);
            let s = DestHash::build(&dests, &BuildParams::default());
            let p = crate::sched::Packet {
                dst: std::net::Ipv4Addr::from(dst).into(),
                ..packet("192.168.1.10", 1000)
            };
            let first = pick_one(&s, &mut SchedState::default(), &dests, &loads, p);
            prop_assert!(first.is_some());
            let other = crate::sched::Packet { src: std::net::Ipv4Addr::from(src).into(), ..p };
            let again = DestHash::build(&dests, &BuildParams::default());
            prop_assert_eq!(pick_one(&again, &mut SchedState::default(), &dests, &loads, other), first);
        }
    }

    #[test]
    fn spec_example_and_weights_ignored() {
        let loads = FixedLoads::new(4);
        let to = |dst: &str| crate::sched::Packet {
            dst: dst.parse().unwrap(),
            ..packet("192.168.1.10", 1000)
        };
        let dests = [dest(3, 1), dest(2, 1), dest(1, 1)];
        let s = DestHash::build(&dests, &BuildParams::default());
        let got = pick_one(
            &s,
            &mut SchedState::default(),
            &dests,
            &loads,
            to("10.1.2.3"),
        );
        assert_eq!(got, Some(1));
        // The source does not matter.
        let other_src = crate::sched::Packet {
            src: "203.0.113.9".parse().unwrap(),
            ..to("10.1.2.3")
        };
        assert_eq!(
            pick_one(&s, &mut SchedState::default(), &dests, &loads, other_src),
            Some(1)
        );
        // Weights do not shape the table; weight 0 makes the bucket fail.
        let heavy = [dest(3, 50), dest(2, 1), dest(1, 1)];
        let s2 = DestHash::build(&heavy, &BuildParams::default());
        assert_eq!(s.table, s2.table);
        let quiesced = [dest(3, 1), dest(2, 1), dest(1, 0)];
        let s3 = DestHash::build(&quiesced, &BuildParams::default());
        assert_eq!(
            pick_one(
                &s3,
                &mut SchedState::default(),
                &quiesced,
                &loads,
                to("10.1.2.3")
            ),
            None
        );
    }
}
