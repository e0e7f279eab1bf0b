//! The scheduler plug-in interface (IPVS's `struct ip_vs_scheduler`) and the
//! registry by name.
//!
//! Contract: the control thread builds a scheduler with [`build`] from the
//! service's dest list and flags whenever that list or the service changes
//! (the slow part, e.g. a Maglev table, happens there) and publishes it with
//! the generation. On the packet path a worker calls [`Scheduler::pick`],
//! which is bounded (a fixed number of passes over the dests, or of probes of
//! a fixed-size table), does not allocate, lock or block, and keeps its
//! per-core memory in the [`SchedState`] (and, for lblc/lblcr, the
//! [`LocalityCache`]) that the worker owns. Dests are in the kernel's order:
//! newest first (`spec/schedulers.md` §0.1).
//!
//! Loads (active/inactive connections) are the picking core's own counts:
//! each core schedules the flows it owns on what it knows, without reading
//! other cores' memory per pick. With N cores and flows spread evenly, each
//! core's counts are about 1/N of the totals, so least-connection choices
//! match the kernel's in proportion, not packet for packet. The OVERLOAD flag
//! is the exception: thresholds are on the dest's total over all cores, as in
//! IPVS (`spec/schedulers.md` §15), and the flag is shared.

#![forbid(unsafe_code)]

/// A scheduler with nothing to build (its state is per core, in
/// [`SchedState`]): the struct holding its build id, and `build`.
macro_rules! stateless_scheduler {
    ($ty:ident) => {
        #[derive(Debug)]
        pub struct $ty {
            build_id: u64,
        }

        impl $ty {
            pub fn build(
                _dests: &[$crate::sched::DestView],
                _params: &$crate::sched::BuildParams,
            ) -> Self {
                $ty {
                    build_id: $crate::sched::next_build_id(),
                }
            }
        }
    };
}

/// `name` and `build_id` of a [`Scheduler`] impl whose struct has a
/// `build_id` field.
macro_rules! scheduler_identity {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }

        fn build_id(&self) -> u64 {
            self.build_id
        }
    };
}

pub mod dh;
pub mod fo;
pub mod lblc;
pub mod lblcr;
pub mod lc;
pub mod mh;
pub mod nq;
pub mod ovf;
pub mod rr;
pub mod sed;
pub mod sh;
pub mod twos;
pub mod wlc;
pub mod wrr;

use std::net::IpAddr;

/// What a scheduler sees of a dest: the part fixed by the generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestView {
    /// The dest's stable stats slot (also its identity across generations).
    pub slot: u32,
    pub addr: IpAddr,
    pub port: u16,
    /// Current weight; 0 = quiesced.
    pub weight: u32,
    /// The last non-zero weight (the weight at creation, then updated only
    /// by non-zero changes); only `mh` reads it.
    pub last_weight: u32,
}

impl DestView {
    /// A dest with `weight` (also its `last_weight`), for tests and tools.
    pub fn new(slot: u32, addr: IpAddr, port: u16, weight: u32) -> Self {
        DestView {
            slot,
            addr,
            port,
            weight,
            last_weight: weight,
        }
    }
}

/// The per-dest facts that change between picks, by dest slot. The worker
/// implements it over its own gauges and the shared OVERLOAD flags.
pub trait Loads {
    /// Connections of this dest in an active state (TCP ESTABLISHED,
    /// SYN_RECV, ...), on the picking core.
    fn active(&self, slot: u32) -> u64;
    /// Connections in an inactive state (all UDP), on the picking core.
    fn inactive(&self, slot: u32) -> u64;
    /// The OVERLOAD flag of the upper/lower thresholds (§15).
    fn overloaded(&self, slot: u32) -> bool;
}

/// What a pick knows of the packet that opens the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Client address.
    pub src: IpAddr,
    /// Client port (0 for protocols without ports).
    pub sport: u16,
    /// The address the client targeted (the VIP, or any address of a
    /// fwmark service's prefix).
    pub dst: IpAddr,
    /// IP protocol number.
    pub protocol: u8,
}

/// Everything a pick reads besides the dests and its own state.
pub struct PickCtx<'a> {
    pub packet: Packet,
    pub loads: &'a dyn Loads,
    /// The worker's clock in seconds (lblc/lblcr entry ages).
    pub now_s: u64,
    /// The service's locality cache on this core, for lblc/lblcr (the
    /// worker passes it when [`Scheduler::uses_locality_cache`] says so).
    pub cache: Option<&'a mut LocalityCache>,
}

/// Per-core, per-service scheduler memory, owned by the worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedState {
    /// The service this state belongs to (ids are never reused; 0 = none).
    pub service_id: u64,
    /// [`Scheduler::build_id`] of the scheduler that last used this state:
    /// when it differs, the dest list changed and
    /// [`Scheduler::on_rebuild`] runs before the pick.
    pub build_id: u64,
    /// rr/wrr cursor: index in the dest list of the last pick, `None` before
    /// the first (or after a wrr reset: the next pick starts at the head).
    pub last_index: Option<u32>,
    /// Slot of the last pick, to find it again after the list changed.
    pub last_slot: u32,
    /// wrr: the current weight threshold `cw`.
    pub cw: i64,
    /// twos: the core's random generator state (any seed but 0 works).
    pub rng: u64,
}

pub use lblc::LocalityCache;

/// Scheduler flags (`-b`; `IP_VS_SVC_F_SCHED1..3`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedFlags {
    /// `sh-fallback` / `mh-fallback` (SCHED1).
    pub fallback: bool,
    /// `sh-port` / `mh-port` (SCHED2).
    pub port: bool,
}

/// How to build a scheduler besides its dests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildParams {
    pub flags: SchedFlags,
    /// Maglev lookup table size: a prime (the kernel's default is 4093; ours
    /// is 65537, see `mh`).
    pub mh_table_size: u32,
}

impl Default for BuildParams {
    fn default() -> Self {
        BuildParams {
            flags: SchedFlags::default(),
            mh_table_size: 65537,
        }
    }
}

/// Why a scheduler could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// No scheduler has this name.
    Unknown,
    /// The configuration does not fit the scheduler (message for the admin).
    Invalid(String),
}

/// A scheduler instance for one service and one dest list.
pub trait Scheduler: Send + Sync + std::fmt::Debug {
    /// The ipvsadm name (`rr`, `wlc`, ...).
    fn name(&self) -> &'static str;

    /// Unique per built instance (see [`next_build_id`]).
    fn build_id(&self) -> u64;

    /// Pick a dest for a new connection: an index into `dests` (the list
    /// this instance was built from), or `None` when no dest is eligible.
    fn pick(&self, state: &mut SchedState, dests: &[DestView], ctx: &mut PickCtx) -> Option<usize>;

    /// The dest list changed since `state` was last used (IPVS's
    /// `upd_dest`/`add_dest`/`del_dest` hooks): adjust the per-core state.
    /// The default keeps it (rr keeps its cursor).
    fn on_rebuild(&self, _state: &mut SchedState, _dests: &[DestView]) {}

    /// Whether [`pick`](Scheduler::pick) wants a [`LocalityCache`].
    fn uses_locality_cache(&self) -> bool {
        false
    }

    /// Whether every director built from the same dests (in any order)
    /// picks the same dest for a packet, from the packet alone (no loads,
    /// no per-core state): `mh`. A DR or TUN service of such a scheduler
    /// adopts mid-connection TCP packets it has no entry for (ECMP moved
    /// the flow here from another director).
    fn same_pick_everywhere(&self) -> bool {
        false
    }
}

/// A fresh id for a built scheduler.
pub fn next_build_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The schedulers this build knows, as ipvsadm names them.
pub const NAMES: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "twos", "sh", "dh", "mh", "lblc", "lblcr",
];

/// Build the scheduler called `name` for `dests` (the slow part: tables).
pub fn build(
    name: &str,
    dests: &[DestView],
    params: &BuildParams,
) -> Result<Box<dyn Scheduler>, BuildError> {
    Ok(match name {
        "rr" => Box::new(rr::RoundRobin::build(dests, params)),
        "wrr" => Box::new(wrr::WeightedRoundRobin::build(dests, params)),
        "lc" => Box::new(lc::LeastConn::build(dests, params)),
        "wlc" => Box::new(wlc::WeightedLeastConn::build(dests, params)),
        "sed" => Box::new(sed::ShortestExpectedDelay::build(dests, params)),
        "nq" => Box::new(nq::NeverQueue::build(dests, params)),
        "fo" => Box::new(fo::WeightedFailover::build(dests, params)),
        "ovf" => Box::new(ovf::Overflow::build(dests, params)),
        "twos" => Box::new(twos::TwoChoices::build(dests, params)),
        "sh" => Box::new(sh::SourceHash::build(dests, params)),
        "dh" => Box::new(dh::DestHash::build(dests, params)),
        "mh" => Box::new(mh::Maglev::build(dests, params)?),
        "lblc" => Box::new(lblc::Lblc::build(dests, params)),
        "lblcr" => Box::new(lblcr::Lblcr::build(dests, params)),
        _ => return Err(BuildError::Unknown),
    })
}

/// IPVS's connection overhead (`spec/schedulers.md` §0.3): one active
/// connection weighs as much as 256 inactive ones.
#[inline]
pub fn conn_overhead(loads: &dyn Loads, slot: u32) -> u64 {
    loads
        .active(slot)
        .wrapping_mul(256)
        .wrapping_add(loads.inactive(slot))
}

/// Whether the scheduler may choose `d`: weight above 0 and no OVERLOAD
/// (`spec/schedulers.md` §0.5).
#[inline]
pub fn eligible(d: &DestView, loads: &dyn Loads) -> bool {
    d.weight > 0 && !loads.overloaded(d.slot)
}

/// Whether `overhead(b) / weight(b) > overhead(d) / weight(d)`, without
/// division and in 128 bits, so that no weight or count overflows
/// (`spec/schedulers.md` §0.4: the candidate must be strictly better).
#[inline]
pub fn weighted_less(d_overhead: u64, d_weight: u32, b_overhead: u64, b_weight: u32) -> bool {
    u128::from(b_overhead) * u128::from(d_weight) > u128::from(d_overhead) * u128::from(b_weight)
}

/// The weighted-least-connection choice (wlc's rule, also lblc's and
/// lblcr's fallback): the first eligible dest in list order, then any later
/// dest without OVERLOAD whose `overhead / weight` is strictly lower.
#[inline]
pub fn least_weighted_conn(dests: &[DestView], loads: &dyn Loads) -> Option<usize> {
    least_weighted_by(dests, loads, conn_overhead)
}

/// wlc's rule with another `overhead` of a dest's slot (sed's and nq's):
/// the first eligible dest in list order, then any later dest without
/// OVERLOAD whose `overhead / weight` is strictly lower (a weight 0 never
/// is).
#[inline]
pub fn least_weighted_by(
    dests: &[DestView],
    loads: &dyn Loads,
    overhead: impl Fn(&dyn Loads, u32) -> u64,
) -> Option<usize> {
    let first = dests.iter().position(|d| eligible(d, loads))?;
    let mut best = first;
    let mut best_oh = overhead(loads, dests[first].slot);
    for (i, d) in dests.iter().enumerate().skip(first + 1) {
        if loads.overloaded(d.slot) {
            continue;
        }
        let oh = overhead(loads, d.slot);
        if weighted_less(oh, d.weight, best_oh, dests[best].weight) {
            best = i;
            best_oh = oh;
        }
    }
    Some(best)
}

/// The dest of the highest weight (above 0) of those `available` lets the
/// scheduler choose; ties go to the earliest in list order (fo's rule, and
/// ovf's with its own `available`).
#[inline]
pub fn highest_weight(dests: &[DestView], available: impl Fn(&DestView) -> bool) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, d) in dests.iter().enumerate() {
        if d.weight > 0 && available(d) && best.is_none_or(|b| d.weight > dests[b].weight) {
            best = Some(i);
        }
    }
    best
}

/// The greatest common divisor (0 with 0 is 0).
pub fn gcd(a: u32, b: u32) -> u32 {
    let (mut a, mut b) = (a, b);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `hash_32(x, bits)` of Linux (`spec/schedulers.md` §0.7).
#[inline]
pub fn hash_32(x: u32, bits: u32) -> u32 {
    debug_assert!((1..=32).contains(&bits));
    x.wrapping_mul(0x61C8_8647) >> (32 - bits)
}

/// An address folded to 32 bits as IPVS does: IPv4 as a big-endian u32,
/// IPv6 as the xor of its four big-endian words.
#[inline]
pub fn fold(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let o = a.octets();
            (0..4).fold(0, |acc, i| {
                acc ^ u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
            })
        }
    }
}

/// Test and tool helpers: loads from plain vectors, and picks driven the
/// way a worker drives them.
pub mod testing {
    use std::net::{IpAddr, Ipv4Addr};

    use super::{BuildParams, DestView, Loads, Packet, PickCtx, SchedState, Scheduler};

    /// Loads indexed by slot.
    #[derive(Clone, Debug, Default)]
    pub struct FixedLoads {
        pub active: Vec<u64>,
        pub inactive: Vec<u64>,
        pub overloaded: Vec<bool>,
    }

    impl FixedLoads {
        /// Room for slots `0..n`, all zero.
        pub fn new(n: usize) -> Self {
            FixedLoads {
                active: vec![0; n],
                inactive: vec![0; n],
                overloaded: vec![false; n],
            }
        }
    }

    impl Loads for FixedLoads {
        fn active(&self, slot: u32) -> u64 {
            self.active.get(slot as usize).copied().unwrap_or(0)
        }
        fn inactive(&self, slot: u32) -> u64 {
            self.inactive.get(slot as usize).copied().unwrap_or(0)
        }
        fn overloaded(&self, slot: u32) -> bool {
            self.overloaded.get(slot as usize).copied().unwrap_or(false)
        }
    }

    /// Dest `slot` at 10.0.0.`slot`:80 with `weight`.
    pub fn dest(slot: u32, weight: u32) -> DestView {
        DestView::new(
            slot,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, slot as u8)),
            80,
            weight,
        )
    }

    /// A TCP packet from `src`:`sport` to 10.0.1.1.
    pub fn packet(src: &str, sport: u16) -> Packet {
        Packet {
            src: src.parse().expect("an address"),
            sport,
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
            protocol: 6,
        }
    }

    /// One pick as a worker makes it: the state is rebuilt first when the
    /// scheduler changed. Returns the chosen dest's slot.
    pub fn pick_one(
        s: &dyn Scheduler,
        st: &mut SchedState,
        dests: &[DestView],
        loads: &dyn Loads,
        packet: Packet,
    ) -> Option<u32> {
        if st.build_id != s.build_id() {
            s.on_rebuild(st, dests);
            st.build_id = s.build_id();
        }
        let mut ctx = PickCtx {
            packet,
            loads,
            now_s: 0,
            cache: None,
        };
        s.pick(st, dests, &mut ctx).map(|i| dests[i].slot)
    }

    /// `n` picks with fixed loads (slot `u32::MAX` for "no destination").
    pub fn picks(
        s: &dyn Scheduler,
        st: &mut SchedState,
        dests: &[DestView],
        loads: &FixedLoads,
        n: usize,
    ) -> Vec<u32> {
        (0..n)
            .map(|_| {
                pick_one(s, st, dests, loads, packet("192.168.1.10", 40000)).unwrap_or(u32::MAX)
            })
            .collect()
    }

    /// The spec's sequence "from empty, A (weight 1) then B (weight 3)
    /// added, connections never closing": `n` picks of the scheduler
    /// `build` makes for the list `[B, A]` (A is slot 1, B slot 2).
    pub fn from_empty_a1_b3<S: Scheduler>(
        build: fn(&[DestView], &BuildParams) -> S,
        n: usize,
    ) -> Vec<u32> {
        let dests = [dest(2, 3), dest(1, 1)];
        picks_never_closing(&build(&dests, &BuildParams::default()), &dests, n)
    }

    /// `n` picks where every connection made stays active ("connections
    /// never close"), as the spec's sequences are computed.
    pub fn picks_never_closing(s: &dyn Scheduler, dests: &[DestView], n: usize) -> Vec<u32> {
        let slots = dests.iter().map(|d| d.slot as usize + 1).max().unwrap_or(1);
        let mut loads = FixedLoads::new(slots);
        let mut st = SchedState::default();
        (0..n)
            .map(
                |_| match pick_one(s, &mut st, dests, &loads, packet("192.168.1.10", 40000)) {
                    Some(slot) => {
                        loads.active[slot as usize] += 1;
                        slot
                    }
                    None => u32::MAX,
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_32_reference_values() {
        // spec/schedulers.md §0.7.
        for (x, b8, b10) in [
            (0xC0A8_010A, 248, 995),
            (0xC0A8_010B, 90, 362),
            (0x0A01_0203, 2, 10),
            (0xCB00_714D, 57, 230),
        ] {
            assert_eq!(hash_32(x, 8), b8, "{x:#x}");
            assert_eq!(hash_32(x, 10), b10, "{x:#x}");
        }
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(fold(v6), 0x2001_0DB9);
        assert_eq!(hash_32(fold(v6), 8), 63);
        assert_eq!(hash_32(0xC0A8_010A_u32.wrapping_add(40000), 8), 156);
        assert_eq!(hash_32(0xC0A8_010A_u32.wrapping_add(40001), 8), 254);
    }
}
