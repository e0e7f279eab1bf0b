//! Stage 3, the connection: find a flow's entry or make one, and say where
//! its packets go (a `Target`). Scheduling, FullNAT local ports, the
//! stateless pick of a full table, and the entries' life (state, timers,
//! gauges, expiry) are here; persistence templates are `template.rs`'s.
//!
//! Contract: touches only this core's tables (the caller made sure the
//! flow is this core's); every entry made or removed moves its dest's
//! gauges; a refusal is the drop reason (`Err(Counter)`), not yet counted.

use rvs_api::Forward;

use super::adopt::{adopts_mid_flow, adopts_onto};
use super::family::Tables;
use super::template::{template_is_portless, template_key, TEMPLATE_REARM_S};
use super::xfam::xaddr_bytes;
use super::{conn_to_dest, owner_of, Core, Flow, Target};
use crate::conn::sctp;
use crate::conn::state::{tcp_transition_in, Direction, Event, State};
use crate::conn::{flags, Conn, ConnExt, Family, ReplyEntry, ReplyKey};
use crate::sched::{Loads, Packet, PickCtx, SchedState};
use crate::service::{Dest, Service, Snapshot};
use crate::stats::{self, bump, lower, Counter, OverloadFlags, SlotStats};
use crate::wire::ipv4::protocol;
use crate::wire::tcp;

/// Slots a full table examines for expired entries before a new flow goes
/// stateless.
pub(super) const RECLAIM_BUDGET: usize = 256;

/// The owner core of a client's flow to `service`: by (address, port), or
/// for a persistent service by the client's network alone, so that its
/// template and every connection it controls live on one core.
#[inline]
pub(super) fn flow_owner<A: Family>(
    hasher: &ahash::RandomState,
    service: &Service,
    caddr: A,
    cport: u16,
    workers: u16,
) -> u16 {
    match service.persistence {
        Some(p) => owner_of(hasher, caddr.masked(p.netmask), 0, workers),
        None => owner_of(hasher, caddr, cport, workers),
    }
}

/// What the schedulers see of this core's loads.
pub(super) struct CoreLoads<'a> {
    slots: &'a [SlotStats],
    overload: &'a OverloadFlags,
}

impl Loads for CoreLoads<'_> {
    #[inline]
    fn active(&self, slot: u32) -> u64 {
        self.slots
            .get(slot as usize)
            .map_or(0, |s| s.active.load(std::sync::atomic::Ordering::Relaxed))
    }

    #[inline]
    fn inactive(&self, slot: u32) -> u64 {
        self.slots
            .get(slot as usize)
            .map_or(0, |s| s.inactive.load(std::sync::atomic::Ordering::Relaxed))
    }

    #[inline]
    fn overloaded(&self, slot: u32) -> bool {
        self.overload.get(slot)
    }
}

/// The method stored in a connection entry.
#[inline]
pub(super) fn forward_of(forward: u8) -> Forward {
    match forward {
        x if x == Forward::Masq as u8 => Forward::Masq,
        x if x == Forward::Tunnel as u8 => Forward::Tunnel,
        x if x == Forward::FullNat as u8 => Forward::FullNat,
        _ => Forward::Route,
    }
}

/// Whether a connection of method `forward` rewrites both ways (its replies
/// come back through the director and need the reply index).
#[inline]
pub(super) fn sees_replies(forward: u8) -> bool {
    forward == Forward::Masq as u8 || forward == Forward::FullNat as u8
}

/// The real server's port of a new connection to `dest`: port-0 and fwmark
/// services keep the port the client asked for; others may map it (NAT).
#[inline]
pub(super) fn target_port(service: &Service, dest: &Dest, vport: u16) -> u16 {
    if dest.port == 0 || vport != service.key.2 {
        vport
    } else {
        dest.port
    }
}

/// The TCP state table of a connection's client packets: NAT sees both
/// directions, DR and TUN only the client's (`spec/conn.md` §2.2).
#[inline]
pub(super) fn input_direction(forward: u8) -> Direction {
    if sees_replies(forward) {
        Direction::Input
    } else {
        Direction::InputOnly
    }
}

/// The reply of a NAT or FullNAT connection: from the real server to the
/// client (NAT) or to the local address and port (FullNAT).
#[inline]
pub(super) fn reply_key<A: Family>(c: &Conn<A>, ext: &ConnExt<A>) -> ReplyKey<A> {
    let (laddr, lport) = if c.forward == Forward::FullNat as u8 {
        (ext.laddr, ext.lport)
    } else {
        (c.key.caddr, c.key.cport)
    };
    ReplyKey {
        raddr: c.daddr,
        laddr,
        rport: c.dport,
        lport,
        protocol: c.key.protocol,
    }
}

impl Core {
    /// Expire up to `budget` slots' worth of old connections.
    /// Both the slots examined and the entries removed are bounded by
    /// `budget`, so one call's work is too.
    pub(super) fn reclaim<A: Tables>(&mut self, snap: &Snapshot, now_ms: u64, budget: usize) {
        let mut budget = budget.min(A::conns(self).slots_len());
        let mut removals = budget;
        while removals > 0 {
            let Some(i) = A::conns(self).next_expired(now_ms, &mut budget) else {
                break;
            };
            removals -= 1;
            let c = A::conns(self).get_mut(i);
            if c.is_template() && c.control > 0 {
                // Still controls connections: kept, re-armed for 60 s, and
                // 60 s from now on (`spec/conn.md` §6.3).
                c.timeout_s = TEMPLATE_REARM_S;
                c.expires_ms = now_ms + u64::from(TEMPLATE_REARM_S) * 1000;
                continue;
            }
            let gone = self.drop_conn::<A>(snap, i);
            self.stats.count(if gone.is_template() {
                Counter::TemplateExpired
            } else {
                Counter::ConnExpired
            });
        }
    }

    /// Remove entry `idx`: its gauges go down, its dest's OVERLOAD flag is
    /// re-evaluated, and the template controlling it (if any) counts one
    /// connection less.
    pub(super) fn drop_conn<A: Tables>(&mut self, snap: &Snapshot, idx: usize) -> Conn<A> {
        let (c, ext) = A::conns(self).remove_with(idx);
        if c.flags & flags::XFAM != 0 {
            self.unindex_xreply::<A>(&c, &ext);
        } else if sees_replies(c.forward) && !c.is_template() {
            if let Some(r) = A::replies(self).find(&reply_key(&c, &ext)) {
                // A newer entry of the same reply tuple may have taken it.
                if A::replies(self).get(r).conn as usize == idx {
                    A::replies(self).remove(r);
                }
            }
            if c.forward == Forward::FullNat as u8 {
                self.give_lport(&ext);
            }
        }
        if let Some(s) = self.stats.slots.get(c.dest_slot as usize) {
            if c.is_template() {
                lower(&s.persist, 1);
            } else if c.state().is_active() {
                lower(&s.active, 1);
            } else {
                lower(&s.inactive, 1);
            }
        }
        if !c.is_template() {
            self.unbind(snap, c.dest_slot);
        }
        if let Some(tk) = c.template_key() {
            if let Some(t) = A::conns(self).find(&tk) {
                let t = A::conns(self).get_mut(t);
                t.control = t.control.saturating_sub(1);
            }
        }
        c
    }

    /// The dest's connections (active and inactive) over all cores.
    pub(super) fn dest_total(&self, slot: u32) -> u64 {
        let t = stats::slot_total(&self.cores, slot);
        t.active.wrapping_add(t.inactive)
    }

    /// A connection was bound to `dest`: set OVERLOAD when the upper
    /// threshold is reached (`spec/schedulers.md` §15).
    pub(super) fn bind(&self, dest: &Dest) {
        if dest.u_threshold != 0 && self.dest_total(dest.slot) >= u64::from(dest.u_threshold) {
            self.overload.set(dest.slot, true);
        }
    }

    /// A connection of `slot` went away: clear OVERLOAD below the lower
    /// threshold (or below 3/4 of the upper one when there is no lower).
    pub(super) fn unbind(&self, snap: &Snapshot, slot: u32) {
        if !self.overload.get(slot) {
            return;
        }
        let (u, l) = snap.dest(slot).map_or((0, 0), |d| {
            (u64::from(d.u_threshold), u64::from(d.l_threshold))
        });
        let total = self.dest_total(slot);
        let clear = if l != 0 {
            total < l
        } else if u != 0 {
            total * 4 < u * 3
        } else {
            true
        };
        if clear {
            self.overload.set(slot, false);
        }
    }

    /// Find or make the connection of `flow`; returns where to send it.
    #[inline]
    pub(super) fn conn_for<A: Tables>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        flow: &Flow<A>,
        now_ms: u64,
    ) -> Result<Target<A>, Counter> {
        let found = A::conns(self).find(&flow.key);
        self.conn_for_found(snap, service, flow, now_ms, found)
    }

    /// [`Core::conn_for`] for a caller that has looked the flow's entry up
    /// already (`found`, its index) and changed no table since.
    ///
    /// Inlined into the caller: a live entry's packet (most packets) takes
    /// [`Core::conn_live`], inlined too; everything else
    /// ([`Core::conn_new`]) stays out of line (`bench/RESULTS.md`, "The
    /// live entry's path inlined").
    #[inline(always)]
    pub(super) fn conn_for_found<A: Tables>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        flow: &Flow<A>,
        now_ms: u64,
        found: Option<usize>,
    ) -> Result<Target<A>, Counter> {
        if let Some(idx) = found {
            if let Some(used) = self.conn_live(snap, flow, now_ms, idx) {
                return used;
            }
        }
        self.conn_new(snap, service, flow, now_ms)
    }

    /// Whether `flow`'s packet opens a connection: TCP's SYN (without
    /// RST), SCTP's INIT (IPVS makes SCTP entries on INIT only).
    #[inline(always)]
    fn opening<A: Family>(flow: &Flow<A>) -> (bool, bool) {
        let syn = flow.key.protocol == protocol::TCP
            && flow.tcp_flags & tcp::flags::SYN != 0
            && flow.tcp_flags & tcp::flags::RST == 0;
        let init = flow.key.protocol == protocol::SCTP && flow.tcp_flags == sctp::Event::Init as u8;
        (syn, init)
    }

    /// The packet of a flow whose entry is `idx`: where the entry sends it
    /// (or the drop), or `None` when the entry was expired here (timed
    /// out, port reuse, a deleted or quiesced dest) and the packet is to
    /// be taken as a new connection's.
    #[inline(always)]
    fn conn_live<A: Tables>(
        &mut self,
        snap: &Snapshot,
        flow: &Flow<A>,
        now_ms: u64,
        idx: usize,
    ) -> Option<Result<Target<A>, Counter>> {
        let is_tcp = flow.key.protocol == protocol::TCP;
        let (syn, init) = Self::opening(flow);
        let c = *A::conns(self).get(idx);
        let controlled = c.flags & flags::CONTROLLED != 0;
        // Port reuse (`spec/conn.md` §9); never for controlled entries.
        // SCTP: a new INIT on a CLOSED association (IPVS's
        // `is_new_conn_expected`).
        let reuse = (syn || init)
            && !controlled
            && self.policy.conn_reuse_mode != 0
            && (matches!(
                c.state(),
                State::TimeWait | State::Close | State::SctpClosed
            ) || (self.policy.conn_reuse_mode & 2 != 0
                && c.state() == State::FinWait
                && !sees_replies(c.forward)));
        let dest = snap.dest(c.dest_slot);
        // expire_nodest_conn (§7): a deleted dest's entry, or a SYN on a
        // quiesced dest's entry, is expired and the packet rescheduled.
        // (The quiesced case is part of IPVS's port-reuse check, so it
        // needs conn_reuse_mode too.)
        let nodest = self.policy.expire_nodest_conn
            && match dest {
                None => true,
                Some(d) => (syn || init) && d.weight == 0 && self.policy.conn_reuse_mode != 0,
            };
        if c.expires_ms <= now_ms || reuse || nodest {
            self.drop_conn::<A>(snap, idx);
            self.stats.count(if reuse {
                Counter::ConnReused
            } else if nodest {
                Counter::ConnNodestExpired
            } else {
                Counter::ConnExpired
            });
        } else {
            // expire_nodest_conn = 0: packets of a deleted dest's
            // connections are dropped until they time out.
            let Some(&dest) = dest else {
                return Some(Err(Counter::DropDestUnavailable));
            };
            let dir = input_direction(c.forward);
            self.advance::<A>(snap, idx, dir, flow.tcp_flags, now_ms);
            let e = A::conns(self).get_mut(idx);
            e.in_pkts = e.in_pkts.wrapping_add(1);
            if snap.sync_master {
                self.report_sync::<A>(snap, idx);
            }
            // Only FullNAT's client side needs the companion: DR, TUN
            // and NAT never read its (second, out-of-cache) line.
            let fullnat = c.forward == Forward::FullNat as u8;
            let ext = if fullnat || c.flags & flags::SYNPROXY != 0 {
                *A::conns(self).ext(idx)
            } else {
                ConnExt::default()
            };
            return Some(Ok(Target {
                dest,
                dport: c.dport,
                forward: forward_of(c.forward),
                laddr: ext.laddr,
                lport: ext.lport,
                laddr_slot: ext.laddr_slot,
                // The handshake's ACK (or a retransmitted SYN) carries
                // TOA as the SYN did.
                toa: fullnat && is_tcp && c.state() == State::SynRecv && !ext.pp2,
                pp2: ext.pp2,
                isn: ext.isn,
                sp: ext.sp,
                sp_seq: ext.sp_seq,
            }));
        }
        None
    }

    /// A packet with no live entry: a new connection (scheduled, its entry
    /// made), a stateless forward when the table is full, an adopted
    /// mid-flow packet, or the drop that says why not.
    #[inline(never)]
    fn conn_new<A: Tables>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        flow: &Flow<A>,
        now_ms: u64,
    ) -> Result<Target<A>, Counter> {
        let is_tcp = flow.key.protocol == protocol::TCP;
        let is_sctp = flow.key.protocol == protocol::SCTP;
        let (syn, init) = Self::opening(flow);
        let opens = syn || init || !(is_tcp || is_sctp);
        if opens && self.todrop() {
            // drop_packet (`defense.rs`): IPVS drops it before scheduling.
            return Err(Counter::DefenseDropPacket);
        }
        let one_packet = service.one_packet && flow.key.protocol == protocol::UDP;
        // Room for the entry (none for a one-packet datagram) and, for a
        // persistent service, its template.
        let room = usize::from(!one_packet) + usize::from(service.persistence.is_some());
        if A::conns(self).len() + room > A::conns(self).max() {
            // Reclaim what has expired before giving up on state.
            self.reclaim::<A>(snap, now_ms, RECLAIM_BUDGET);
            if A::conns(self).len() + room > A::conns(self).max() {
                // No entry for this flow: all its packets, first and later,
                // go by flow hash, so the whole flow reaches one dest (for as
                // long as the set of dests stays the same).
                self.stats.count(Counter::ConnTableFull);
                // A client with a valid template still goes by it (using it
                // takes no room; the connection it would count is not made).
                let template = service.persistence.and_then(|p| {
                    let found = A::conns(self).find(&template_key(service, p, &flow.key));
                    self.template_dest::<A>(snap, service, found, false, now_ms)
                });
                let dest = match template {
                    Some(d) => d,
                    // mh picks from the packet alone: the same dest as
                    // with an entry, and as every other director's.
                    None if service.scheduler.same_pick_everywhere() => {
                        let d = self.schedule(service, flow, now_ms)?;
                        self.stats.count(Counter::ForwardStateless);
                        d
                    }
                    None => self.pick_stateless(service, flow)?,
                };
                if sees_replies(dest.forward as u8) {
                    // A NAT flow's replies need its entry: no room, no flow.
                    return Err(Counter::DropNatTableFull);
                }
                if opens {
                    for slot in [service.slot, dest.slot] {
                        if let Some(s) = self.stats.slots.get(slot as usize) {
                            bump(&s.conns, 1);
                        }
                    }
                }
                return Ok(Target::to(
                    dest,
                    target_port(service, &dest, flow.key.vport),
                ));
            }
        }
        // A mid-connection TCP packet without an entry: ECMP moved its flow
        // here from another director (or this one restarted, or took over
        // the VIP). A service whose scheduler picks the same dest on every
        // director adopts it (decision 39), and so does a sloppy one
        // (decision 45); others drop it.
        let adopt = is_tcp && !syn;
        let sloppy = service.sloppy_tcp || self.policy.sloppy_tcp;
        if adopt && !adopts_mid_flow(service, flow.tcp_flags, sloppy) {
            return Err(Counter::DropTcpNoConn);
        }
        // SCTP without an entry: only an INIT starts one (IPVS leaves the
        // rest to the director's own stack; here it is a counted drop).
        if is_sctp && !init {
            return Err(Counter::DropSctpNoConn);
        }
        let dest = match service.persistence {
            Some(p) => {
                let d = self.persistent_dest(snap, service, p, flow, one_packet, now_ms)?;
                if snap.sync_master {
                    self.report_template::<A>(&template_key(service, p, &flow.key));
                }
                d
            }
            None => self.schedule(service, flow, now_ms)?,
        };
        // DR and TUN; NAT only when sloppy: a NAT connection's replies go
        // back through the director that rewrote them.
        if adopt && !adopts_onto(dest.forward, sloppy) {
            self.uncount_template::<A>(service, &flow.key);
            return Err(Counter::DropTcpNoConn);
        }
        let mut ext = ConnExt {
            peer_mac: flow.peer_mac,
            in_port: flow.in_port,
            ..ConnExt::default()
        };
        // FullNAT between families (decision 42): the real server and the
        // local address are of the other family; no other method crosses.
        let xfam = A::from_ip(dest.addr).is_none();
        if xfam && (dest.forward != Forward::FullNat || one_packet) {
            return Err(Counter::DropDestUnavailable);
        }
        if dest.forward == Forward::FullNat && !one_packet {
            ext.pp2 = service.proxy_protocol && is_tcp;
            ext.isn = flow.seq;
            let taken = if xfam {
                self.take_lport::<A::Other>(snap, service)
                    .map(|(slot, _, port)| (slot, A::default(), port))
            } else {
                self.take_lport::<A>(snap, service)
            };
            let Some((slot, laddr, lport)) = taken else {
                self.uncount_template::<A>(service, &flow.key);
                return Err(Counter::DropLaddrExhausted);
            };
            ext.laddr_slot = slot;
            ext.laddr = laddr;
            ext.lport = lport;
            if xfam {
                ext.xaddr = xaddr_bytes(dest.addr);
            }
        }
        for slot in [service.slot, dest.slot] {
            if let Some(s) = self.stats.slots.get(slot as usize) {
                bump(&s.conns, 1);
            }
        }
        let dport = target_port(service, &dest, flow.key.vport);
        if one_packet {
            // Scheduled, used for this datagram and gone (`spec/conn.md` §8).
            self.stats.count(Counter::ConnOnePacket);
            return Ok(Target::to(dest, dport));
        }
        let new_state = if is_tcp {
            tcp_transition_in(
                self.defense.secure_tcp,
                input_direction(dest.forward as u8),
                // An adopted flow was established elsewhere: its ACK keeps
                // it ESTABLISHED, a FIN moves it on as it would have there.
                if adopt {
                    State::Established
                } else {
                    State::None
                },
                Event::classify(flow.tcp_flags),
            )
        } else if is_sctp {
            sctp::transition(
                input_direction(dest.forward as u8),
                State::SctpNone,
                sctp::Event::Init,
            )
        } else {
            State::Udp
        };
        let (conn_flags, control) = match service.persistence {
            Some(p) => (
                flags::CONTROLLED
                    | if template_is_portless(service) {
                        flags::TEMPLATE_PORTLESS
                    } else {
                        0
                    },
                p.netmask,
            ),
            None => (0, 0),
        };
        let real = (A::from_ip(dest.addr).unwrap_or_default(), dport);
        let conn = Conn {
            flags: conn_flags | if xfam { flags::XFAM } else { 0 },
            in_pkts: 1,
            expires_ms: now_ms + u64::from(snap.timeouts.of(new_state)) * 1000,
            ..conn_to_dest(flow.key, real, &dest, service, control, new_state)
        };
        let nat = sees_replies(conn.forward);
        let inserted = A::conns(self).insert_with(conn, ext);
        debug_assert!(inserted.is_ok(), "the table had room a moment ago");
        let Ok(ci) = inserted else {
            if nat {
                if xfam {
                    self.give_xlport(&ext);
                } else if dest.forward == Forward::FullNat {
                    self.give_lport(&ext);
                }
                return Err(Counter::DropNatTableFull);
            }
            return Ok(Target::to(dest, dport));
        };
        if xfam {
            self.index_xreply::<A>(&conn, &ext);
        } else if nat {
            self.index_reply::<A>(&conn, &ext, ci);
        }
        self.stats.count(Counter::ConnCreated);
        if adopt {
            self.stats.count(Counter::ConnAdopted);
        }
        if let Some(s) = self.stats.slots.get(dest.slot as usize) {
            bump(
                if new_state.is_active() {
                    &s.active
                } else {
                    &s.inactive
                },
                1,
            );
        }
        self.bind(&dest);
        Ok(Target {
            dest,
            dport,
            forward: dest.forward,
            laddr: ext.laddr,
            lport: ext.lport,
            laddr_slot: ext.laddr_slot,
            toa: dest.forward == Forward::FullNat && syn && !ext.pp2,
            pp2: ext.pp2,
            isn: ext.isn,
            sp: 0,
            sp_seq: 0,
        })
    }

    /// Give back the local port of a FullNAT entry that was not made.
    pub(super) fn give_lport<A: Family>(&mut self, ext: &ConnExt<A>) {
        self.laddrs
            .give(ext.laddr_slot, ext.laddr.to_ip(), ext.lport);
        if let Some(l) = self.stats.laddrs.get(usize::from(ext.laddr_slot)) {
            lower(&l.used, 1);
        }
    }

    /// Index the reply tuple of NAT/FullNAT entry `conn`, at `ci` in the
    /// connection table. The reply index is as large as the table; a reply
    /// key already there belongs to an older entry of the same tuple (a
    /// client port reused toward another VIP), which the new one replaces.
    pub(super) fn index_reply<A: Tables>(&mut self, conn: &Conn<A>, ext: &ConnExt<A>, ci: usize) {
        let reply = ReplyEntry {
            key: reply_key(conn, ext),
            conn: ci as u32,
        };
        if let Some(r) = A::replies(self).find(&reply.key) {
            A::replies(self).get_mut(r).conn = reply.conn;
        } else if A::replies(self).insert(reply).is_err() {
            self.stats.count(Counter::DropNatTableFull);
        }
    }

    /// A free local port for a new FullNAT connection of `service`: the
    /// service's local addresses are tried in turn from where the last one
    /// left off; each that has none of this core's ports free counts an
    /// exhaustion (`rvsadm --get-laddr` shows them).
    pub(super) fn take_lport<A: Family>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
    ) -> Option<(u16, A, u16)> {
        let n = service.laddrs.len();
        for k in 0..n {
            let slot = service.laddrs[(self.laddr_next + k) % n];
            // A local address of the other family serves the service's
            // connections of that family only.
            let Some(addr) = snap
                .laddr_slots
                .get(usize::from(slot))
                .copied()
                .flatten()
                .and_then(A::from_ip)
            else {
                continue;
            };
            if let Some(port) = self.laddrs.take(slot) {
                self.laddr_next = self.laddr_next.wrapping_add(k + 1);
                if let Some(l) = self.stats.laddrs.get(usize::from(slot)) {
                    bump(&l.used, 1);
                }
                return Some((slot, addr, port));
            }
            if let Some(l) = self.stats.laddrs.get(usize::from(slot)) {
                bump(&l.exhausted, 1);
            }
        }
        None
    }

    /// A packet of entry `idx` went by in direction `dir`: its state moves
    /// (TCP by the flags, SCTP by its chunk's event, UDP stays), its timer is re-armed from the state's
    /// timeout, and its dest's gauges follow an active/inactive change.
    pub(super) fn advance<A: Tables>(
        &mut self,
        snap: &Snapshot,
        idx: usize,
        dir: Direction,
        tcp_flags: u8,
        now_ms: u64,
    ) {
        let secure = self.defense.secure_tcp;
        let conn = A::conns(self).get_mut(idx);
        let old = conn.state();
        let new = match conn.key.protocol {
            protocol::TCP => tcp_transition_in(secure, dir, old, Event::classify(tcp_flags)),
            protocol::SCTP => sctp::transition(dir, old, sctp::Event::from_u8(tcp_flags)),
            _ => State::Udp,
        };
        conn.set_state(new);
        conn.expires_ms = now_ms + u64::from(snap.timeouts.of(new)) * 1000;
        let slot = conn.dest_slot;
        self.move_gauge(slot, old, new);
    }

    /// A connection of dest `slot` went from state `old` to `new`: one
    /// unit moves between its ActiveConn and InActConn gauges if that
    /// crossed the line.
    #[inline]
    pub(super) fn move_gauge(&self, slot: u32, old: State, new: State) {
        if let Some(s) = self.stats.slots.get(slot as usize) {
            match (old.is_active(), new.is_active()) {
                (false, true) => {
                    lower(&s.inactive, 1);
                    bump(&s.active, 1);
                }
                (true, false) => {
                    lower(&s.active, 1);
                    bump(&s.inactive, 1);
                }
                _ => {}
            }
        }
    }

    /// Run the service's scheduler for a new connection.
    pub(super) fn schedule<A: Family>(
        &mut self,
        service: &Service,
        flow: &Flow<A>,
        now_ms: u64,
    ) -> Result<Dest, Counter> {
        let state = &mut self.sched[service.slot as usize];
        if state.service_id != service.id {
            // The slot changed hands: the new service starts afresh (and
            // its scheduler's rebuild hook sets the state up below).
            *state = SchedState {
                service_id: service.id,
                rng: 0x9e37_79b9_7f4a_7c15 ^ (u64::from(self.id) + 1).wrapping_mul(service.id),
                ..SchedState::default()
            };
        }
        if state.build_id != service.scheduler.build_id() {
            service.scheduler.on_rebuild(state, &service.views);
            state.build_id = service.scheduler.build_id();
        }
        let loads = CoreLoads {
            slots: &self.stats.slots,
            overload: &self.overload,
        };
        let cache = match service.locality_cache {
            Some(i) if service.scheduler.uses_locality_cache() => {
                self.caches.get_mut(usize::from(i))
            }
            _ => None,
        };
        let mut ctx = PickCtx {
            packet: Packet {
                src: flow.key.caddr.to_ip(),
                sport: flow.key.cport,
                dst: flow.key.vaddr.to_ip(),
                protocol: flow.key.protocol,
            },
            loads: &loads,
            now_s: now_ms / 1000,
            cache,
        };
        let i = service
            .scheduler
            .pick(state, &service.views, &mut ctx)
            .ok_or(Counter::DropNoDest)?;
        service.dests.get(i).copied().ok_or(Counter::DropNoDest)
    }

    /// A dest by flow hash among the eligible ones (no state kept). For a
    /// persistent service the hash is of the template's key, so a client
    /// stays on one dest while there is no room for its template either.
    pub(super) fn pick_stateless<A: Family>(
        &self,
        service: &Service,
        flow: &Flow<A>,
    ) -> Result<Dest, Counter> {
        let eligible = service.views.iter().filter(|v| v.weight > 0).count();
        if eligible == 0 {
            return Err(Counter::DropNoDest);
        }
        let key = match service.persistence {
            Some(p) => template_key(service, p, &flow.key),
            None => flow.key,
        };
        let h = self.owner_hasher.hash_one(key);
        let n = (h % eligible as u64) as usize;
        let i = service
            .views
            .iter()
            .enumerate()
            .filter(|(_, v)| v.weight > 0)
            .nth(n)
            .map(|(i, _)| i)
            .ok_or(Counter::DropNoDest)?;
        self.stats.count(Counter::ForwardStateless);
        Ok(service.dests[i])
    }
}
