//! Neighbour resolution for real servers (ARP), owned by the control thread.
//!
//! Two parts:
//! - [`NeighTable`]: fixed slots of atomic MAC words that workers read on the
//!   packet path (lock-free; the control thread is the only writer);
//! - [`Resolver`]: the sans-IO logic that decides when to send ARP requests
//!   (`(now, event)` in, requests out): resolve each wanted address, retry
//!   every [`RETRY_MS`] while unanswered, refresh a resolved entry after
//!   [`REACHABLE_MS`], and expire it when [`PROBES_MAX`] refresh probes go
//!   unanswered.

#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::wire::ethernet::MacAddr;

/// A resolved slot has this bit set above the 48 MAC bits.
const VALID: u64 = 1 << 63;

pub const RETRY_MS: u64 = 1_000;
pub const REACHABLE_MS: u64 = 30_000;
pub const PROBES_MAX: u32 = 3;

/// MAC addresses of next hops by slot.
pub struct NeighTable {
    slots: Box<[AtomicU64]>,
}

impl NeighTable {
    pub fn new(slots_max: usize) -> Self {
        NeighTable {
            slots: (0..slots_max).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The MAC of slot `slot`, if resolved.
    #[inline]
    pub fn get(&self, slot: u32) -> Option<MacAddr> {
        let v = self.slots.get(slot as usize)?.load(Relaxed);
        (v & VALID != 0).then(|| MacAddr::from_u64(v & !VALID))
    }

    pub fn set(&self, slot: u32, mac: Option<MacAddr>) {
        if let Some(s) = self.slots.get(slot as usize) {
            s.store(mac.map_or(0, |m| m.to_u64() | VALID), Relaxed);
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// An ARP request the resolver wants sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpRequest {
    pub port: u16,
    pub target: IpAddr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryState {
    /// Never answered: retry every RETRY_MS.
    Incomplete,
    /// Answered at `confirmed_ms`.
    Reachable,
    /// Refresh probes sent, `probes` unanswered so far.
    Probing,
}

#[derive(Clone, Debug)]
struct Entry {
    port: u16,
    addr: IpAddr,
    slot: u32,
    state: EntryState,
    mac: Option<MacAddr>,
    probes: u32,
    next_ms: u64,
    /// How many dests use it.
    users: u32,
}

/// Which addresses to resolve, and their slots.
#[derive(Clone, Default)]
pub struct Resolver {
    entries: Vec<Entry>,
    free_slots: Vec<u32>,
    next_slot: u32,
    slots_max: u32,
}

impl Resolver {
    pub fn new(slots_max: u32) -> Self {
        Resolver {
            slots_max,
            ..Default::default()
        }
    }

    /// Start resolving `addr` on `port` (or add a user to it), returning its
    /// slot; `None` when every slot is taken.
    pub fn want(&mut self, port: u16, addr: IpAddr, now_ms: u64) -> Option<u32> {
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.port == port && e.addr == addr)
        {
            e.users += 1;
            return Some(e.slot);
        }
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None if self.next_slot < self.slots_max => {
                self.next_slot += 1;
                self.next_slot - 1
            }
            None => return None,
        };
        self.entries.push(Entry {
            port,
            addr,
            slot,
            state: EntryState::Incomplete,
            mac: None,
            probes: 0,
            next_ms: now_ms,
            users: 1,
        });
        Some(slot)
    }

    /// One user of `slot` is gone; the entry is dropped with its last user.
    /// Returns true when the slot was freed (the caller clears the table).
    /// The (port, address) slot `slot` resolves, if it is in use.
    pub fn target(&self, slot: u32) -> Option<(u16, IpAddr)> {
        self.entries
            .iter()
            .find(|e| e.slot == slot)
            .map(|e| (e.port, e.addr))
    }

    pub fn unwant(&mut self, slot: u32) -> bool {
        let Some(i) = self.entries.iter().position(|e| e.slot == slot) else {
            return false;
        };
        self.entries[i].users -= 1;
        if self.entries[i].users == 0 {
            self.entries.swap_remove(i);
            self.free_slots.push(slot);
            true
        } else {
            false
        }
    }

    /// An ARP packet said `addr` is at `mac` on `port`. Returns the slot and
    /// MAC to publish when this is an address we resolve and it changed.
    pub fn handle_learned(
        &mut self,
        port: u16,
        addr: IpAddr,
        mac: MacAddr,
        now_ms: u64,
    ) -> Option<(u32, MacAddr)> {
        let e = self
            .entries
            .iter_mut()
            .find(|e| e.port == port && e.addr == addr)?;
        let changed = e.mac != Some(mac);
        e.mac = Some(mac);
        e.state = EntryState::Reachable;
        e.probes = 0;
        e.next_ms = now_ms + REACHABLE_MS;
        changed.then_some((e.slot, mac))
    }

    /// Requests due at `now_ms`, and slots that expired (publish `None`).
    pub fn poll(&mut self, now_ms: u64, requests: &mut Vec<ArpRequest>, expired: &mut Vec<u32>) {
        for e in &mut self.entries {
            if e.next_ms > now_ms {
                continue;
            }
            match e.state {
                EntryState::Incomplete => {}
                EntryState::Reachable => {
                    e.state = EntryState::Probing;
                    e.probes = 0;
                }
                EntryState::Probing => {
                    if e.probes >= PROBES_MAX {
                        e.state = EntryState::Incomplete;
                        e.mac = None;
                        expired.push(e.slot);
                    }
                }
            }
            if e.state == EntryState::Probing {
                e.probes += 1;
            }
            requests.push(ArpRequest {
                port: e.port,
                target: e.addr,
            });
            e.next_ms = now_ms + RETRY_MS;
        }
    }

    /// The slot of `addr` on `port`, if resolved or being resolved.
    pub fn slot_of(&self, port: u16, addr: IpAddr) -> Option<u32> {
        self.entries
            .iter()
            .find(|e| e.port == port && e.addr == addr)
            .map(|e| e.slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const RS: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 11));
    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 11]);

    fn poll(r: &mut Resolver, now: u64) -> (Vec<ArpRequest>, Vec<u32>) {
        let (mut a, mut b) = (vec![], vec![]);
        r.poll(now, &mut a, &mut b);
        (a, b)
    }

    #[test]
    fn request_retry_learn_refresh_expire() {
        let mut r = Resolver::new(8);
        let slot = r.want(0, RS, 0).unwrap();
        // Asked at once, then once a second while unanswered.
        assert_eq!(
            poll(&mut r, 0).0,
            vec![ArpRequest {
                port: 0,
                target: RS
            }]
        );
        assert!(poll(&mut r, 500).0.is_empty());
        assert_eq!(poll(&mut r, 1000).0.len(), 1);
        // Answered: published once, quiet until the refresh.
        assert_eq!(r.handle_learned(0, RS, MAC, 1200), Some((slot, MAC)));
        assert_eq!(r.handle_learned(0, RS, MAC, 1300), None);
        assert!(poll(&mut r, 1200 + REACHABLE_MS - 1).0.is_empty());
        // Refresh probes: PROBES_MAX of them, then expiry.
        let mut t = 1300 + REACHABLE_MS;
        for _ in 0..PROBES_MAX {
            let (req, exp) = poll(&mut r, t);
            assert_eq!(req.len(), 1);
            assert!(exp.is_empty());
            t += RETRY_MS;
        }
        let (req, exp) = poll(&mut r, t);
        assert_eq!(exp, vec![slot]);
        assert_eq!(req.len(), 1, "an expired entry is asked for again");
    }

    #[test]
    fn answered_probe_keeps_the_entry() {
        let mut r = Resolver::new(8);
        r.want(0, RS, 0).unwrap();
        r.handle_learned(0, RS, MAC, 0);
        assert_eq!(poll(&mut r, REACHABLE_MS).0.len(), 1);
        assert_eq!(r.handle_learned(0, RS, MAC, REACHABLE_MS + 5), None);
        let (_, exp) = poll(&mut r, REACHABLE_MS * 3);
        assert!(exp.is_empty());
    }

    #[test]
    fn slots_are_shared_and_freed_with_the_last_user() {
        let mut r = Resolver::new(1);
        let a = r.want(0, RS, 0).unwrap();
        assert_eq!(r.want(0, RS, 0), Some(a));
        assert_eq!(
            r.want(0, IpAddr::V4(Ipv4Addr::new(198, 18, 0, 12)), 0),
            None,
            "table full"
        );
        assert!(!r.unwant(a));
        assert!(r.unwant(a));
        assert!(r
            .want(0, IpAddr::V4(Ipv4Addr::new(198, 18, 0, 12)), 0)
            .is_some());
    }

    #[test]
    fn unknown_senders_are_ignored() {
        let mut r = Resolver::new(8);
        assert_eq!(r.handle_learned(0, RS, MAC, 0), None);
    }

    #[test]
    fn table_words() {
        let t = NeighTable::new(4);
        assert_eq!(t.get(1), None);
        t.set(1, Some(MAC));
        assert_eq!(t.get(1), Some(MAC));
        t.set(1, None);
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(99), None);
    }
}
