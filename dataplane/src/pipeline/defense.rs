//! IPVS's defence strategies in the worker ([`crate::conn::defense`]):
//! the level judged once a second between bursts, `drop_entry`'s slice,
//! and the packet path's two reads of it (a new connection's packet
//! dropped by `drop_packet`, the state table `secure_tcp` picks).
//!
//! Contract: [`Core::defend`] runs from the worker's sweep, never from a
//! frame's path; it reads this core's own tables, stores the level where
//! the packet path reads it (a plain field of the core) and where the
//! control thread reads it (the core's stats), and removes at most one
//! bounded slice of half-open entries. The packet path only tests a flag
//! and counts down ([`crate::conn::defense::DropCounter`]): no allocation,
//! no lock.

use super::family::Tables;
use super::Core;
use crate::conn::defense::{self, Level};
use crate::conn::state::State;
use crate::conn::{Family, Slot};
use crate::service::Snapshot;
use crate::stats::{pack_level, Counter};
use crate::wire::ipv4::protocol;

/// How often a core judges its level (IPVS's `DEFENSE_TIMER_PERIOD`).
pub const DEFENSE_EVERY_MS: u64 = 1000;

impl Core {
    /// Judge the level when it is due (every second, and at once after a
    /// new generation), and run `drop_entry`'s slice when it is on.
    pub(super) fn defend(&mut self, snap: &Snapshot, now_ms: u64) {
        if now_ms < self.defense_due_ms {
            return;
        }
        self.defense_due_ms = now_ms + DEFENSE_EVERY_MS;
        let (len, max) = defense::fuller(
            (self.conns.len(), self.conns.max()),
            (self.conns6.len(), self.conns6.max()),
        );
        let level = defense::level(&snap.defense, len, max);
        self.set_level(level, len, max);
        if level.drop_entry {
            let dropped = self.drop_half_open::<u32>(snap) + self.drop_half_open::<u128>(snap);
            if dropped > 0 {
                self.stats.count_n(Counter::DefenseDropEntry, dropped);
            }
        }
    }

    /// Judge again at the next sweep (a new generation may change modes).
    pub(super) fn defense_now(&mut self) {
        self.defense_due_ms = 0;
    }

    fn set_level(&mut self, level: Level, len: usize, max: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.defense = level;
        self.stats.defense_level.store(pack_level(&level), Relaxed);
        let ppm = (len as u64 * 1_000_000)
            .checked_div(max as u64)
            .unwrap_or(0);
        self.stats.occupancy_ppm.store(ppm, Relaxed);
    }

    /// `ip_vs_random_dropentry`: the half-open TCP entries (SYN_RECV,
    /// SYNACK) of one slice of table `A`; returns how many went.
    fn drop_half_open<A: Tables>(&mut self, snap: &Snapshot) -> u64 {
        let slots = A::conns(self).slots_len();
        let (start, n) = self.defense_walk.next_slice(slots);
        let mut dropped = 0;
        let mut at = start;
        let mut steps = 0;
        // After a removal the slot is looked at again (it is empty now: no
        // entry moves; bounded either way by `steps`).
        let mut examined = 0;
        while examined < n && steps < 2 * n {
            steps += 1;
            let c = A::conns(self).get(at);
            if !c.is_empty() && is_half_open(c) {
                self.drop_conn::<A>(snap, at);
                dropped += 1;
                continue;
            }
            examined += 1;
            at = (at + 1) % slots;
        }
        dropped
    }

    /// `drop_packet` for a packet that would make a new connection.
    #[inline]
    pub(super) fn todrop(&mut self) -> bool {
        self.defense.drop_rate != 0 && self.drop_counter.todrop(self.defense.drop_rate)
    }
}

fn is_half_open<A: Family>(c: &crate::conn::Conn<A>) -> bool {
    !c.is_template()
        && c.key.protocol == protocol::TCP
        && matches!(c.state(), State::SynRecv | State::SynAck)
}
