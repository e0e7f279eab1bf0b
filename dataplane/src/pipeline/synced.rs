//! Connection sync in the worker: reporting this core's connections when
//! a sync master runs, and installing the ones a master sent
//! ([`crate::sync`]).
//!
//! Contract:
//! - Reporting happens on the packet path: a [`SyncConn`] is a plain copy
//!   put in the worker's outbox, which the worker loop drains into its
//!   sync ring after the burst; a full outbox or ring is counted
//!   (`sync_ring_full`), never waited on. A controlled connection's
//!   template goes first, so the backup has it when the connection comes;
//!   a template is also sent each time it schedules a new connection (or
//!   a one-packet datagram), so short flows keep their server too.
//! - An entry is sent by the kernel's rule against the state it was last
//!   sent in (`Conn::synced_state`), so a state a NAT reply moved it to is
//!   sent with the client's next packet.
//! - Installing runs between bursts, from the backup's control thread via
//!   the owning core's ring ([`sync_owner`] names that core). The entry is
//!   tied to this director's own service and dest of the same addresses
//!   and ports (none: `sync_no_dest`); its gauges count as the kernel's do
//!   (active or inactive by state, templates as persistent), not its
//!   "Conns" (nothing was scheduled here). An entry already here is
//!   updated: state, timer, the client side's MAC and port; it is made
//!   again if the master's dest changed (an inactive record for another
//!   dest is the end of a connection already replaced: `sync_stale`, as
//!   the kernel ignores it) or, for FullNAT, its local port or ISN did (a
//!   reused tuple). A NAT record without rvs's parameter (a kernel master)
//!   is refused (`sync_unplaceable`): where its replies go is not known.
//! - A FullNAT connection keeps the master's local address and port: the
//!   port must belong to this core (same worker count on both directors)
//!   and be free (`sync_unplaceable` otherwise).
//! - A controlled connection is tied to its template when this core has
//!   it (so the template lives as long as it does); otherwise it stands
//!   alone, as the kernel's backup connections do.

use std::net::IpAddr;

use rvs_api::Forward;

use super::conn::{flow_owner, sees_replies, target_port};
use super::family::Tables;
use super::{conn_to_dest, owner_of, Core, OWNER_SEEDS};
use crate::conn::state::State;
use crate::conn::{flags, Conn, ConnExt, ConnKey, Family};
use crate::service::{Dest, Service, Snapshot};
use crate::stats::{bump, Counter};
use crate::sync::{self, Extra, SyncConn};

/// When an entry made or refreshed from record `r` at `now_ms` expires:
/// the sender's timeout for its state, from now.
fn expires_at(r: &SyncConn, now_ms: u64) -> u64 {
    now_ms + u64::from(r.timeout_s.max(1)) * 1000
}

/// The record a master sends for entry `c`.
pub(super) fn record_of<A: Family>(c: &Conn<A>, ext: &ConnExt<A>, timeout_s: u32) -> SyncConn {
    let nat = sees_replies(c.forward) && !c.is_template();
    SyncConn {
        protocol: c.key.protocol,
        caddr: c.key.caddr.to_ip(),
        cport: c.key.cport,
        vaddr: c.key.vaddr.to_ip(),
        vport: c.key.vport,
        daddr: c.daddr.to_ip(),
        dport: c.dport,
        fwmark: c.fwmark,
        state: c.state(),
        forward: super::conn::forward_of(c.forward),
        template: c.is_template(),
        timeout_s,
        extra: Extra {
            controlled: (c.flags & flags::CONTROLLED != 0)
                .then_some((c.control, c.flags & flags::TEMPLATE_PORTLESS != 0)),
            peer_mac: ext.peer_mac,
            in_port: ext.in_port,
            laddr: (nat && c.forward == Forward::FullNat as u8)
                .then(|| (ext.laddr.to_ip(), ext.lport)),
            pp2_isn: (nat && ext.pp2).then_some(ext.isn),
        },
    }
}

/// This director's service for record `r`: the fwmark service of its
/// mark, else the address service, else the port-0 one (and, for a
/// port-0 template, the FTP service of its VIP).
fn service_of<'s>(snap: &'s Snapshot, r: &SyncConn) -> Option<&'s Service> {
    if r.fwmark != 0 {
        return snap.fwmark_service(r.fwmark);
    }
    let p = r.protocol;
    snap.service(&(p, r.vaddr, r.vport))
        .or_else(|| snap.service(&(p, r.vaddr, 0)))
        .or_else(|| {
            (r.template && r.vport == 0)
                .then(|| snap.service(&(p, r.vaddr, 21)))
                .flatten()
        })
}

/// The dest of `service` record `r` was made to.
fn dest_of(service: &Service, r: &SyncConn) -> Option<Dest> {
    service
        .dests
        .iter()
        .find(|d| {
            d.addr == r.daddr
                && if r.template {
                    r.dport == 0 || d.port == r.dport
                } else {
                    target_port(service, d, r.vport) == r.dport
                }
        })
        .copied()
}

/// What a backup's control thread makes of record `r` before any worker
/// sees it ([`screen`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screened {
    /// For one of this director's services: goes to its owner core.
    Pass,
    /// Goes, its timeout lowered to this director's for its state (a
    /// template's: its service's persistence timeout).
    Clamped,
    /// No service of this director has it: skipped.
    NoService,
}

/// The backup's bounds on a record from the wire: it must name one of
/// this director's services (a forged entry for any other VIP is not
/// installed), and it lives no longer than this director would keep the
/// entry itself (a forged timeout cannot pin a slot for days).
pub fn screen(snap: &Snapshot, r: &mut SyncConn) -> Screened {
    let Some(service) = service_of(snap, r) else {
        return Screened::NoService;
    };
    let most = if r.template {
        match service.persistence {
            Some(p) => p.timeout_s,
            // A template for a service that keeps none: the master's
            // service is persistent, this one's is not; the worker refuses
            // or keeps it as the kernel would, for no longer than a
            // connection.
            None => snap.timeouts.of(State::Established),
        }
    } else {
        snap.timeouts.of(r.state)
    };
    if r.timeout_s > most {
        r.timeout_s = most;
        return Screened::Clamped;
    }
    Screened::Pass
}

/// The core of `workers` that owns the entry of record `r` on this
/// director (by its own services' persistence, as its pipeline decides).
pub fn sync_owner(snap: &Snapshot, r: &SyncConn, workers: u16) -> u16 {
    fn of<A: Family>(snap: &Snapshot, r: &SyncConn, workers: u16) -> u16 {
        let hasher = ahash::RandomState::with_seeds(
            OWNER_SEEDS[0],
            OWNER_SEEDS[1],
            OWNER_SEEDS[2],
            OWNER_SEEDS[3],
        );
        let caddr = A::from_ip(r.caddr).unwrap_or_default();
        if r.template {
            // Its key's client is already the client's network.
            return owner_of(&hasher, caddr, 0, workers);
        }
        match service_of(snap, r) {
            Some(s) => flow_owner(&hasher, s, caddr, r.cport, workers),
            None => owner_of(&hasher, caddr, r.cport, workers),
        }
    }
    match r.caddr {
        IpAddr::V4(_) => of::<u32>(snap, r, workers),
        IpAddr::V6(_) => of::<u128>(snap, r, workers),
    }
}

impl Core {
    #[inline]
    fn push_sync(&mut self, r: SyncConn) {
        // Counted `sync_queued` when the ring takes it (`outbox.rs`).
        if !self.outbox.sync(r) {
            self.stats.count(Counter::SyncRingFull);
        }
    }

    /// A client packet of entry `idx` went by: when the kernel's rule says
    /// so (its state against the one it was last sent in), report it, and
    /// its template first.
    #[inline]
    pub(super) fn report_sync<A: Tables>(&mut self, snap: &Snapshot, idx: usize) {
        let c = *A::conns(self).get(idx);
        if c.flags & flags::XFAM != 0 {
            // IPVS's sync messages carry one family per connection
            // (decision 42).
            return;
        }
        let synced = State::from_u8(c.synced_state);
        if !sync::needs_sync(c.key.protocol, synced, c.state(), c.in_pkts) {
            return;
        }
        A::conns(self).get_mut(idx).synced_state = c.state() as u8;
        if let Some(tk) = c.template_key() {
            self.report_template::<A>(&tk);
        }
        let ext = *A::conns(self).ext(idx);
        self.push_sync(record_of(&c, &ext, snap.timeouts.of(c.state())));
    }

    /// Report the template of key `tk`, if this core has it: with each
    /// connection it controls that is reported, and when it schedules a
    /// new one (so clients with short flows keep their server on the
    /// backup too).
    #[inline]
    pub(super) fn report_template<A: Tables>(&mut self, tk: &ConnKey<A>) {
        if let Some(t) = A::conns(self).find(tk) {
            let t = *A::conns(self).get(t);
            self.push_sync(record_of(&t, &ConnExt::default(), t.timeout_s));
        }
    }

    /// Install (or update) the entry of record `r` (the module contract).
    pub(super) fn install<A: Tables>(
        &mut self,
        snap: &Snapshot,
        r: &SyncConn,
        now_ms: u64,
    ) -> Result<Counter, Counter> {
        let (Some(caddr), Some(vaddr), Some(daddr)) = (
            A::from_ip(r.caddr),
            A::from_ip(r.vaddr),
            A::from_ip(r.daddr),
        ) else {
            return Err(Counter::SyncNoDest);
        };
        let service = service_of(snap, r).ok_or(Counter::SyncNoDest)?;
        let dest = dest_of(service, r).ok_or(Counter::SyncNoDest)?;
        if dest.forward != r.forward {
            // The two directors disagree on the method: this one could not
            // forward the entry as it was made.
            return Err(Counter::SyncNoDest);
        }
        let key = ConnKey {
            caddr,
            vaddr,
            cport: r.cport,
            vport: r.vport,
            protocol: r.protocol,
            template: r.template,
        };
        if let Some(idx) = A::conns(self).find(&key) {
            let old = *A::conns(self).get(idx);
            let ext = *A::conns(self).ext(idx);
            // FullNAT: the master made a new connection of the same tuple
            // (port reuse) with another local port or ISN.
            let remade = !r.template
                && old.forward == Forward::FullNat as u8
                && (Some((ext.laddr.to_ip(), ext.lport)) != r.extra.laddr
                    || (ext.pp2.then_some(ext.isn)) != r.extra.pp2_isn);
            if old.dest_slot == dest.slot && !remade {
                self.refresh::<A>(idx, r, now_ms);
                return Ok(Counter::SyncUpdated);
            }
            if old.dest_slot != dest.slot && !r.template && !r.state.is_active() {
                // The kernel's rule: an inactive record for another dest is
                // the end of the connection this one already replaced.
                return Err(Counter::SyncStale);
            }
            // Made again (a template keeps what it controls).
            let control = if r.template { old.control } else { 0 };
            self.drop_conn::<A>(snap, idx);
            return self
                .insert_synced::<A>(snap, service, &dest, key, daddr, r, now_ms, control)
                .map(|_| Counter::SyncUpdated);
        }
        self.insert_synced::<A>(snap, service, &dest, key, daddr, r, now_ms, 0)
            .map(|_| Counter::SyncInstalled)
    }

    /// New state and timer for entry `idx` from record `r`.
    fn refresh<A: Tables>(&mut self, idx: usize, r: &SyncConn, now_ms: u64) {
        if !r.template && sees_replies(A::conns(self).get(idx).forward) {
            let e = A::conns(self).ext_mut(idx);
            e.peer_mac = r.extra.peer_mac;
            e.in_port = r.extra.in_port;
        }
        let c = A::conns(self).get_mut(idx);
        let old = c.state();
        c.set_state(r.state);
        c.synced_state = r.state as u8;
        c.expires_ms = expires_at(r, now_ms);
        if c.is_template() {
            c.timeout_s = r.timeout_s;
            return;
        }
        let slot = c.dest_slot;
        self.move_gauge(slot, old, r.state);
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_synced<A: Tables>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        dest: &Dest,
        key: ConnKey<A>,
        daddr: A,
        r: &SyncConn,
        now_ms: u64,
        control: u32,
    ) -> Result<(), Counter> {
        let expires_ms = expires_at(r, now_ms);
        if A::conns(self).len() >= A::conns(self).max() {
            self.reclaim::<A>(snap, now_ms, super::conn::RECLAIM_BUDGET);
            if A::conns(self).len() >= A::conns(self).max() {
                return Err(Counter::SyncTableFull);
            }
        }
        let mut conn = Conn {
            timeout_s: if r.template { r.timeout_s } else { 0 },
            flags: 0,
            synced_state: r.state as u8,
            expires_ms,
            ..conn_to_dest(key, (daddr, r.dport), dest, service, control, r.state)
        };
        if !r.template {
            if let Some((mask, portless)) = r.extra.controlled {
                // Tied to its template when this core has it.
                let tied = Conn {
                    control: mask,
                    flags: flags::CONTROLLED
                        | if portless {
                            flags::TEMPLATE_PORTLESS
                        } else {
                            0
                        },
                    ..conn
                };
                if let Some(t) = tied.template_key().and_then(|tk| A::conns(self).find(&tk)) {
                    A::conns(self).get_mut(t).control += 1;
                    conn = tied;
                }
            }
        }
        let mut ext = ConnExt {
            peer_mac: r.extra.peer_mac,
            in_port: r.extra.in_port,
            ..ConnExt::default()
        };
        let nat = sees_replies(conn.forward) && !r.template;
        if nat && r.extra.peer_mac.0 == [0; 6] {
            // No rvs parameter (a kernel master): where the replies go is
            // not known.
            return Err(self.untie::<A>(&conn, Counter::SyncUnplaceable));
        }
        if nat && dest.forward == Forward::FullNat {
            let Some((laddr, lport)) = r.extra.laddr else {
                return Err(self.untie::<A>(&conn, Counter::SyncUnplaceable));
            };
            let slot = snap
                .laddr_slots
                .iter()
                .position(|a| *a == Some(laddr))
                .filter(|&s| service.laddrs.contains(&(s as u16)));
            let (Some(slot), Some(la)) = (slot, A::from_ip(laddr)) else {
                return Err(self.untie::<A>(&conn, Counter::SyncUnplaceable));
            };
            if !self.laddrs.take_port(slot as u16, lport) {
                return Err(self.untie::<A>(&conn, Counter::SyncUnplaceable));
            }
            if let Some(l) = self.stats.laddrs.get(slot) {
                bump(&l.used, 1);
            }
            ext.laddr_slot = slot as u16;
            ext.laddr = la;
            ext.lport = lport;
            if let Some(isn) = r.extra.pp2_isn {
                ext.pp2 = true;
                ext.isn = isn;
            }
        }
        let Ok(ci) = A::conns(self).insert_with(conn, ext) else {
            if nat && dest.forward == Forward::FullNat {
                self.give_lport(&ext);
            }
            return Err(self.untie::<A>(&conn, Counter::SyncTableFull));
        };
        if nat {
            self.index_reply::<A>(&conn, &ext, ci);
        }
        if let Some(s) = self.stats.slots.get(dest.slot as usize) {
            bump(
                if r.template {
                    &s.persist
                } else if r.state.is_active() {
                    &s.active
                } else {
                    &s.inactive
                },
                1,
            );
        }
        if !r.template {
            self.bind(dest);
        }
        Ok(())
    }

    /// Undo the template count of a controlled entry that was not made.
    fn untie<A: Tables>(&mut self, conn: &Conn<A>, why: Counter) -> Counter {
        if let Some(t) = conn.template_key().and_then(|tk| A::conns(self).find(&tk)) {
            let t = A::conns(self).get_mut(t);
            t.control = t.control.saturating_sub(1);
        }
        why
    }
}
