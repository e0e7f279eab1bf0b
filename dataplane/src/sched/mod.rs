//! The scheduler plug-in interface (IPVS's `struct ip_vs_scheduler`) and the
//! registry by name.
//!
//! Contract: the control thread builds a scheduler with [`build`] from the
//! service's dest list when it prepares a generation (the slow part, e.g. a
//! Maglev table, happens there). On the packet path a worker calls
//! [`Scheduler::pick`], which is bounded (at most one pass over the dests),
//! does not allocate, and keeps its per-core memory in the [`SchedState`] the
//! worker owns. Dests are in the kernel's order: newest first
//! (`spec/schedulers.md` §0.1).

pub mod rr;

/// What a scheduler sees of a dest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestView {
    /// The dest's stable stats slot.
    pub slot: u32,
    pub weight: u32,
    /// OVERLOAD flag (thresholds; always false until thresholds exist).
    pub overloaded: bool,
}

impl DestView {
    /// `spec/schedulers.md` §0.5: weight > 0 and not overloaded.
    pub fn is_eligible(&self) -> bool {
        self.weight > 0 && !self.overloaded
    }
}

/// Per-core, per-service scheduler memory, owned by the worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedState {
    /// The service this state belongs to (ids are never reused; 0 = none).
    pub service_id: u64,
    /// Index in the dest list of the last pick, `None` before the first.
    pub last_index: Option<u32>,
    /// Slot of the last pick, to find it again after the list changed.
    pub last_slot: u32,
}

/// A scheduler instance for one service and one dest list.
pub trait Scheduler: Send + Sync + std::fmt::Debug {
    /// The ipvsadm name (`rr`, `wlc`, ...).
    fn name(&self) -> &'static str;

    /// Pick a dest for a new connection: an index into `dests`, or `None`
    /// when no dest is eligible. `flow_hash` is a hash of the client's
    /// address and port, for hashing schedulers.
    fn pick(&self, state: &mut SchedState, dests: &[DestView], flow_hash: u64) -> Option<usize>;
}

/// The schedulers this build knows.
pub const NAMES: &[&str] = &["rr"];

/// Build the scheduler called `name` for `dests`; `None` if there is no such
/// scheduler (ipvsadm then says "Scheduler or persistence engine not found").
pub fn build(name: &str, dests: &[DestView]) -> Option<Box<dyn Scheduler>> {
    match name {
        "rr" => Some(Box::new(rr::RoundRobin::build(dests))),
        _ => None,
    }
}
