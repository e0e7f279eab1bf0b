//! What the VRRP instances are, for the daemon and `/metrics`: the board
//! their threads write their states on, and the adverts each received and
//! dropped.

#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rvs_vrrp::router::{DropReason, State};

/// What the instances are, for the daemon and `/metrics`.
pub struct HaBoard {
    states: Mutex<Vec<Entry>>,
    /// Set on every transition: the daemon reconciles.
    pub changed: AtomicBool,
}

/// One instance on the board.
struct Entry {
    name: String,
    state: State,
    vips: Vec<IpAddr>,
    /// Its own trackers put it in FAULT (not its sync group's).
    own_fault: bool,
}

impl HaBoard {
    pub(super) fn new() -> HaBoard {
        HaBoard {
            states: Mutex::new(vec![]),
            changed: AtomicBool::new(false),
        }
    }

    /// Put instance `name` (of `vips`) on the board, as a backup; its index.
    pub(super) fn add(&self, name: &str, vips: Vec<IpAddr>) -> usize {
        let mut st = self.lock();
        st.push(Entry {
            name: name.to_string(),
            state: State::Backup,
            vips,
            own_fault: false,
        });
        st.len() - 1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The VIPs of the instances that are not MASTER.
    pub fn released(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = self
            .lock()
            .iter()
            .filter(|e| e.state != State::Master)
            .flat_map(|e| e.vips.iter().copied())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// (instance, state) of each.
    pub fn states(&self) -> Vec<(String, State)> {
        self.lock()
            .iter()
            .map(|e| (e.name.clone(), e.state))
            .collect()
    }

    pub(super) fn set(&self, i: usize, state: State) {
        if let Some(e) = self.lock().get_mut(i) {
            e.state = state;
        }
        self.changed.store(true, Ordering::Relaxed);
    }

    pub(super) fn set_own_fault(&self, i: usize, fault: bool) {
        if let Some(e) = self.lock().get_mut(i) {
            e.own_fault = fault;
        }
    }

    /// (state, own fault) of each instance named in `names`.
    pub(super) fn members(&self, names: &[String]) -> Vec<(String, State, bool)> {
        self.lock()
            .iter()
            .filter(|e| names.contains(&e.name))
            .map(|e| (e.name.clone(), e.state, e.own_fault))
            .collect()
    }
}

/// Adverts each instance received and dropped (by reason), since the
/// daemon started: the metrics thread reads it, reloads keep it.
#[derive(Debug, Default)]
pub struct VrrpCounters {
    inner: Mutex<std::collections::BTreeMap<String, InstanceCounts>>,
}

/// One instance's count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceCounts {
    /// Adverts that reached the instance's socket (before any check).
    pub received: u64,
    /// Adverts dropped, by reason.
    pub dropped: std::collections::BTreeMap<DropReason, u64>,
}

impl VrrpCounters {
    fn with(&self, instance: &str, f: impl FnOnce(&mut InstanceCounts)) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(instance.to_string()).or_default());
    }

    pub fn received(&self, instance: &str) {
        self.with(instance, |c| c.received += 1);
    }

    pub fn dropped(&self, instance: &str, why: DropReason) {
        self.with(instance, |c| *c.dropped.entry(why).or_default() += 1);
    }

    /// (instance, counts) of each instance that received anything.
    pub fn get(&self) -> Vec<(String, InstanceCounts)> {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}
