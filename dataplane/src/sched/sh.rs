//! `sh`, source hashing, with `sh-fallback` and `sh-port`
//! (`spec/schedulers.md` §10, `ip_vs_sh.c`).
//!
//! Rule: a table of 256 buckets, tiled in list order, each dest taking
//! `weight` consecutive buckets per round (a dest of weight 0 still takes
//! one), wrapping to the head until all are filled; any change re-tiles.
//! A client goes to `bucket[hash_32(port + fold(src), 8)]`, where `port` is
//! the source port with `sh-port` (TCP, UDP, SCTP) and 0 otherwise. A bucket
//! whose dest has weight 0 or OVERLOAD means no destination, unless
//! `sh-fallback`: then buckets `(2 * b + offset) mod 256` are probed for
//! offset 0..256 and the first available dest wins.
//!
//! Example: RS1, RS2, RS3 added (list `[RS3, RS2, RS1]`), weights 1:
//! 192.168.1.10 → bucket 248 → RS1; 10.1.2.3 → bucket 2 → RS1;
//! 203.0.113.77 → bucket 57 → RS3. With RS1 quiesced and `sh-fallback`,
//! 192.168.1.10 probes bucket 240 first → RS3.

use super::{
    eligible, fold, hash_32, next_build_id, BuildParams, DestView, PickCtx, SchedState, Scheduler,
};

/// Buckets of the table (the kernel's `CONFIG_IP_VS_SH_TAB_BITS` 8).
pub const TAB_BITS: u32 = 8;
pub const TAB_SIZE: usize = 1 << TAB_BITS;

/// Protocols whose source port `sh-port`/`mh-port` hash: TCP, UDP, SCTP.
pub(crate) fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 132)
}

/// A 256-bucket table of dest indices, tiled by weight (or one bucket each
/// per round when `weights` is false, as dh does). Panics with more dests
/// than a `u16` indexes (a programmer's error: services hold far fewer).
pub(crate) fn tile(dests: &[DestView], weights: bool) -> Option<Box<[u16; TAB_SIZE]>> {
    assert!(
        dests.len() <= usize::from(u16::MAX),
        "dest indices fit the table"
    );
    if dests.is_empty() {
        return None;
    }
    let mut table = Box::new([0u16; TAB_SIZE]);
    let (mut d, mut count) = (0usize, 0u32);
    for bucket in table.iter_mut() {
        *bucket = d as u16;
        count += 1;
        if !weights || count >= dests[d].weight {
            d = (d + 1) % dests.len();
            count = 0;
        }
    }
    Some(table)
}

#[derive(Debug)]
pub struct SourceHash {
    build_id: u64,
    /// `None` when the service has no dests.
    table: Option<Box<[u16; TAB_SIZE]>>,
    fallback: bool,
    port: bool,
}

impl SourceHash {
    pub fn build(dests: &[DestView], params: &BuildParams) -> Self {
        SourceHash {
            build_id: next_build_id(),
            table: tile(dests, true),
            fallback: params.flags.fallback,
            port: params.flags.port,
        }
    }
}

impl Scheduler for SourceHash {
    scheduler_identity!("sh");

    fn pick(
        &self,
        _state: &mut SchedState,
        dests: &[DestView],
        ctx: &mut PickCtx,
    ) -> Option<usize> {
        let table = self.table.as_ref()?;
        let p = &ctx.packet;
        let port = if self.port && has_ports(p.protocol) {
            u32::from(p.sport)
        } else {
            0
        };
        let b = hash_32(port.wrapping_add(fold(p.src)), TAB_BITS) as usize;
        let available = |i: usize| eligible(&dests[i], ctx.loads);
        let first = usize::from(table[b]);
        if available(first) {
            return Some(first);
        }
        if !self.fallback {
            return None;
        }
        (0..TAB_SIZE)
            .map(|offset| usize::from(table[(2 * b + offset) % TAB_SIZE]))
            .find(|&i| available(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testing::{dest, packet, pick_one, FixedLoads};
    use crate::sched::SchedFlags;
    use proptest::prelude::*;

    const RS1: u32 = 1;
    const RS2: u32 = 2;
    const RS3: u32 = 3;

    fn pick(s: &SourceHash, dests: &[DestView], loads: &FixedLoads, src: &str, sport: u16) -> u32 {
        pick_one(
            s,
            &mut SchedState::default(),
            dests,
            loads,
            packet(src, sport),
        )
        .unwrap_or(u32::MAX)
    }

    fn params(fallback: bool, port: bool) -> BuildParams {
        BuildParams {
            flags: SchedFlags { fallback, port },
            ..BuildParams::default()
        }
    }

    #[test]
    fn spec_examples() {
        let loads = FixedLoads::new(4);
        let dests = [dest(RS3, 1), dest(RS2, 1), dest(RS1, 1)];
        let s = SourceHash::build(&dests, &params(false, false));
        assert_eq!(pick(&s, &dests, &loads, "192.168.1.10", 1), RS1);
        assert_eq!(pick(&s, &dests, &loads, "10.1.2.3", 1), RS1);
        assert_eq!(pick(&s, &dests, &loads, "203.0.113.77", 1), RS3);
        assert_eq!(pick(&s, &dests, &loads, "2001:db8::1", 1), RS3);

        // RS1 weight 2: tiles RS3 RS2 RS1 RS1.
        let dests = [dest(RS3, 1), dest(RS2, 1), dest(RS1, 2)];
        let s = SourceHash::build(&dests, &params(false, false));
        let t = s.table.as_ref().unwrap();
        assert_eq!(&t[..8], &[0, 1, 2, 2, 0, 1, 2, 2]);
        assert_eq!(t.iter().filter(|&&i| i == 2).count(), 128);
        assert_eq!(pick(&s, &dests, &loads, "192.168.1.10", 1), RS3);

        // RS1 quiesced keeps its buckets; fallback probes bucket 240.
        let dests = [dest(RS3, 1), dest(RS2, 1), dest(RS1, 0)];
        let s = SourceHash::build(&dests, &params(false, false));
        assert_eq!(pick(&s, &dests, &loads, "192.168.1.10", 1), u32::MAX);
        let s = SourceHash::build(&dests, &params(true, false));
        assert_eq!(240 % 3, 0, "bucket 240 holds list[0] = RS3");
        assert_eq!(pick(&s, &dests, &loads, "192.168.1.10", 1), RS3);

        // sh-port: the source port joins the hash.
        let dests = [dest(RS3, 1), dest(RS2, 1), dest(RS1, 1)];
        let s = SourceHash::build(&dests, &params(false, true));
        assert_eq!(pick(&s, &dests, &loads, "192.168.1.10", 40000), RS3);
        assert_eq!(pick(&s, &dests, &loads, "192.168.1.10", 40001), RS1);
    }

    #[test]
    fn overloaded_counts_as_unavailable() {
        let dests = [dest(RS3, 1), dest(RS2, 1), dest(RS1, 1)];
        let mut loads = FixedLoads::new(4);
        loads.overloaded[RS1 as usize] = true;
        let s = SourceHash::build(&dests, &params(false, false));
        assert_eq!(pick(&s, &dests, &loads, "192.168.1.10", 1), u32::MAX);
        let s = SourceHash::build(&dests, &params(true, false));
        assert_eq!(pick(&s, &dests, &loads, "192.168.1.10", 1), RS3);
        assert_eq!(
            SourceHash::build(&[], &params(true, false)).table,
            None,
            "no dests, no table"
        );
    }

    proptest! {
        /// Same key, same dest, for as long as the dest set stays the same.
        #[test]
        fn stable_for_a_key(weights in proptest::collection::vec(1u32..5, 1..6), src in any::<u32>(), sport in any::<u16>()) {
            let dests: Vec<DestView> = weights.iter().enumerate().map(|(i, &w)| dest(i as u32, w)).collect();
            let loads = FixedLoads::new(8);
            let a = SourceHash::build(&dests, &params(false, true));
            let b = SourceHash::build(&dests, &params(false, true));
            let ip = std::net::Ipv4Addr::from(src).to_string();
            let first = pick(&a, &dests, &loads, &ip, sport);
            prop_assert!(first != u32::MAX);
            for _ in 0..3 {
                prop_assert_eq!(pick(&a, &dests, &loads, &ip, sport), first);
                prop_assert_eq!(pick(&b, &dests, &loads, &ip, sport), first);
            }
        }
    }
}
