//! Fragments to a VIP (both families): the first fragment decides, later
//! ones follow it.
//!
//! A datagram's fragments share (source, destination, protocol,
//! identification); only the first (offset 0) carries the ports. So:
//! - Every fragment of a datagram goes first to its *fragment owner* core,
//!   a hash of (source, destination, identification) (`frag_owner`), which
//!   any core can compute from any fragment; RSS and the hand-off ring put
//!   it there.
//! - There, the first fragment is read as any packet (ports, service) and
//!   the flow's owner core (`conn::flow_owner`) decides the connection and
//!   target as for an unfragmented packet. The fragment owner notes in its
//!   fragment table either the target (when it owns the flow too) or the
//!   flow's owner (and hands the first fragment there, where the flow
//!   owner notes the target in its own table).
//! - Later fragments at the fragment owner follow the entry: forwarded with
//!   the noted target, or handed to the flow's owner (the hand-off ring is
//!   first in, first out, so they reach it after the first). There they
//!   follow the target noted by the first.
//! - A later fragment that finds no entry is held (a copy, in a fixed pool
//!   of [`HOLD_SLOTS`] frames of at most [`HOLD_BYTES`]) until the first
//!   arrives, which releases it (`Worker::next_released`: the worker loop
//!   runs it through the pipeline again), or [`HOLD_MS`] pass (dropped).
//!
//! Rewrites need no reassembly: DR changes MACs; TUN encapsulates each
//! fragment whole (an IPv4 packet without DF too big for the tunnel is
//! fragmented further before it is encapsulated: `split_inner4`; IPv6's
//! and DF ones get "packet too big" / "fragmentation needed"); NAT and FullNAT change the addresses of every fragment
//! and the ports of the first, whose transport checksum (over the whole
//! datagram) is updated incrementally for both, exactly as for an
//! unfragmented packet (`nat.rs`). TOA and PROXY v2 insertion need a whole
//! TCP segment: a fragment gets no TOA option (counted `toa_no_room`) and
//! a PROXY v2 connection's fragment is dropped (`drop_frag_unsupported`).
//! ICMP fragments, and fragments of protocols without ports, are the
//! kernel's (it reassembles). Fragmented replies of real servers (NAT,
//! FullNAT) are the kernel's too, as before.
//!
//! Contract: everything is allocated when the worker starts; a fragment
//! costs a hash and a bounded probe; every limit (table full: the oldest
//! entry in the probe is evicted; pool full; frame too big to hold; hold
//! timeout; a later fragment at a flow owner without its entry; a first
//! fragment without its whole transport header, or a later one overlapping
//! it, RFC 1858; a fragment ending past 65 535 bytes) is a counter.

use std::hash::Hash;

use super::conn::flow_owner;
use super::family::IcmpError;
use super::family::{write_gue, Ip};
use super::{Core, Flow, Frame, Rx, Target, Verdict};
use crate::conn::{ConnKey, Family};
use crate::service::Snapshot;
use crate::stats::Counter;
use crate::wire::ipv4::{self, protocol, Ipv4Packet};
use crate::wire::tcp::{self, TcpPacket};
use crate::wire::udp::{self, UdpPacket};
use crate::wire::{checksum, Fragment};

/// Fragment-table entries per family per worker.
pub const FRAG_ENTRIES: usize = 1024;

/// Slots a lookup or insertion examines.
const PROBE: usize = 8;

/// How long an entry lives after the last fragment that used it.
pub const FRAG_ENTRY_MS: u64 = 2_000;

/// Later fragments held per worker while their first is awaited.
pub const HOLD_SLOTS: usize = 64;

/// The largest frame held (a 1 500-byte MTU's fragment with a VLAN tag
/// fits).
pub const HOLD_BYTES: usize = 2048;

/// How long a fragment is held for its first.
pub const HOLD_MS: u64 = 500;

/// What identifies a datagram's fragments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub(super) struct FragKey<A> {
    src: A,
    dst: A,
    ident: u32,
    proto: u8,
}

/// What later fragments do.
#[derive(Clone, Copy, Debug)]
enum Follow<A> {
    /// Hand them to this core, the flow's owner.
    Owner(u16),
    /// Forward them like the first.
    Target {
        t: Target<A>,
        key: ConnKey<A>,
        service_slot: u32,
    },
}

#[derive(Clone, Copy, Debug)]
struct Entry<A> {
    key: FragKey<A>,
    expires_ms: u64,
    follow: Follow<A>,
    /// Payload bytes seen, and the datagram's length once its last
    /// fragment was seen: when they meet, the entry is done.
    seen: u32,
    total: u32,
}

/// A worker's fragment table of one family: fixed size, open addressing
/// with a bounded probe.
pub(super) struct FragTable<A> {
    slots: Box<[Option<Entry<A>>]>,
}

impl<A: Family> FragTable<A> {
    pub(super) fn with_entries(n: usize) -> Self {
        FragTable {
            slots: vec![None; n.max(PROBE)].into_boxed_slice(),
        }
    }

    fn find(&self, at: usize, key: &FragKey<A>, now_ms: u64) -> Option<usize> {
        let n = self.slots.len();
        let at = at % n;
        (0..PROBE)
            .map(|k| (at + k) % n)
            .find(|&i| matches!(&self.slots[i], Some(e) if e.key == *key && e.expires_ms > now_ms))
    }

    /// Note `follow` for `key` (replacing an entry of the same key); true
    /// when a live entry of another datagram had to go for it.
    fn insert(
        &mut self,
        at: usize,
        key: FragKey<A>,
        follow: Follow<A>,
        now_ms: u64,
    ) -> (usize, bool) {
        let n = self.slots.len();
        let at = at % n;
        let mut victim = at;
        let mut oldest = u64::MAX;
        for k in 0..PROBE {
            let i = (at + k) % n;
            match &self.slots[i] {
                Some(e) if e.key == key || e.expires_ms <= now_ms => {
                    victim = i;
                    oldest = 0;
                    break;
                }
                Some(e) => {
                    if e.expires_ms < oldest {
                        oldest = e.expires_ms;
                        victim = i;
                    }
                }
                None => {
                    victim = i;
                    oldest = 0;
                    break;
                }
            }
        }
        let evicted = oldest != 0;
        self.slots[victim] = Some(Entry {
            key,
            expires_ms: now_ms + FRAG_ENTRY_MS,
            follow,
            seen: 0,
            total: 0,
        });
        (victim, evicted)
    }

    /// A fragment of `payload` bytes used entry `i`: refresh it, and free
    /// it once every byte of the datagram went by.
    fn account(&mut self, i: usize, f: Fragment, payload: usize, now_ms: u64) {
        let Some(e) = self.slots[i].as_mut() else {
            return;
        };
        e.seen = e.seen.saturating_add(payload as u32);
        if !f.more {
            e.total = u32::from(f.offset) + payload as u32;
        }
        e.expires_ms = now_ms + FRAG_ENTRY_MS;
        if e.total != 0 && e.seen >= e.total {
            self.slots[i] = None;
        }
    }

    fn follow(&self, i: usize) -> Option<Follow<A>> {
        self.slots[i].map(|e| e.follow)
    }
}

/// What the worker loop does with a frame the pipeline kept
/// ([`super::Worker::next_released`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// A later fragment whose first came: run it through the pipeline
    /// again (as arrived on this port, `handed_off` true).
    Rerun(u16),
    /// A fragment of an outer tunnel packet: send it on this port as it is.
    Send(u16),
}

/// A held fragment's slot.
#[derive(Clone, Copy, Default)]
struct Held {
    key: FragKey<u128>,
    v6: bool,
    /// To be sent on `port` as it is (an outer tunnel fragment).
    send: bool,
    port: u16,
    len: u16,
    /// 0 when the slot is free.
    expires_ms: u64,
    /// Its first fragment came: to be run again.
    ready: bool,
}

/// The later fragments a worker holds for their first: copies in a pool
/// allocated at start.
pub(super) struct HoldPool {
    slots: Box<[Held]>,
    bytes: Box<[u8]>,
    used: usize,
    ready: usize,
}

impl HoldPool {
    pub(super) fn new() -> Self {
        HoldPool {
            slots: vec![Held::default(); HOLD_SLOTS].into_boxed_slice(),
            bytes: vec![0; HOLD_SLOTS * HOLD_BYTES].into_boxed_slice(),
            used: 0,
            ready: 0,
        }
    }

    /// Free the slots held past their time; returns how many.
    fn expire(&mut self, now_ms: u64) -> u64 {
        if self.used == 0 {
            return 0;
        }
        let mut n = 0;
        for h in self.slots.iter_mut() {
            if h.expires_ms != 0 && !h.ready && h.expires_ms <= now_ms {
                h.expires_ms = 0;
                n += 1;
            }
        }
        self.used -= n as usize;
        n
    }

    fn hold(&mut self, key: FragKey<u128>, v6: bool, port: u16, frame: &[u8], now_ms: u64) -> bool {
        let Some(i) = self.slots.iter().position(|h| h.expires_ms == 0) else {
            return false;
        };
        self.bytes[i * HOLD_BYTES..i * HOLD_BYTES + frame.len()].copy_from_slice(frame);
        self.slots[i] = Held {
            key,
            v6,
            send: false,
            port,
            len: frame.len() as u16,
            expires_ms: now_ms + HOLD_MS,
            ready: false,
        };
        self.used += 1;
        true
    }

    fn free(&self) -> usize {
        self.slots.len() - self.used
    }

    /// A frame of `len` bytes (at most [`HOLD_BYTES`]) to send on `port`,
    /// written by `fill` into a free slot (the caller checked there is
    /// one).
    fn queue_send(&mut self, port: u16, len: usize, fill: impl FnOnce(&mut [u8])) {
        let Some(i) = self.slots.iter().position(|h| h.expires_ms == 0) else {
            return;
        };
        fill(&mut self.bytes[i * HOLD_BYTES..i * HOLD_BYTES + len]);
        self.slots[i] = Held {
            send: true,
            port,
            len: len as u16,
            expires_ms: u64::MAX,
            ready: true,
            ..Held::default()
        };
        self.used += 1;
        self.ready += 1;
    }

    /// Mark the fragments of `key` to be run again.
    fn release(&mut self, key: FragKey<u128>, v6: bool) {
        if self.used == self.ready {
            return;
        }
        for h in self.slots.iter_mut() {
            if h.expires_ms != 0 && !h.ready && h.v6 == v6 && h.key == key {
                h.ready = true;
                self.ready += 1;
            }
        }
    }

    /// A released frame: what to do with it, and its bytes; its slot is
    /// free from now on.
    pub(super) fn next_ready(&mut self) -> Option<(Release, &[u8])> {
        if self.ready == 0 {
            return None;
        }
        let i = self.slots.iter().position(|h| h.ready)?;
        let h = self.slots[i];
        self.slots[i] = Held::default();
        self.used -= 1;
        self.ready -= 1;
        let r = if h.send {
            Release::Send(h.port)
        } else {
            Release::Rerun(h.port)
        };
        Some((
            r,
            &self.bytes[i * HOLD_BYTES..i * HOLD_BYTES + usize::from(h.len)],
        ))
    }
}

/// What the fragment path needs of a family besides `Ip`: its fragment
/// table, and its address widened for the hold pool's keys.
pub(super) trait FragFamily: Ip {
    const V6: bool;
    fn frags(core: &mut Core) -> &mut FragTable<Self>;
    fn widen(self) -> u128;
}

impl FragFamily for u32 {
    const V6: bool = false;

    fn frags(core: &mut Core) -> &mut FragTable<u32> {
        &mut core.frags
    }

    fn widen(self) -> u128 {
        u128::from(self)
    }
}

impl FragFamily for u128 {
    const V6: bool = true;

    fn frags(core: &mut Core) -> &mut FragTable<u128> {
        &mut core.frags6
    }

    fn widen(self) -> u128 {
        self
    }
}

/// The core that owns a datagram's fragments among `workers`.
pub fn frag_owner<A: Hash>(
    hasher: &ahash::RandomState,
    src: A,
    dst: A,
    ident: u32,
    workers: u16,
) -> u16 {
    if workers <= 1 {
        return 0;
    }
    (hasher.hash_one((src, dst, ident)) % u64::from(workers)) as u16
}

/// Make `b` (an Ethernet header of `l3` bytes, IPv4 tunnel headers of
/// `overhead` bytes, a piece of the client's packet) a true tunnel packet:
/// the client's piece a fragment at `offset` (more or not), the outer
/// lengths and checksums, GUE's UDP checksum when it has one.
fn tunnel_piece(b: &mut [u8], l3: usize, overhead: usize, offset: u16, more: bool) {
    let inner_len = b.len() - l3 - overhead;
    let mut p = Ipv4Packet::new_unchecked(&mut b[l3 + overhead..]);
    p.set_total_len(inner_len as u16);
    p.set_fragment(offset, more);
    p.fill_checksum();
    let outer_len = b.len() - l3;
    let mut o = Ipv4Packet::new_unchecked(&mut b[l3..]);
    o.set_total_len(outer_len as u16);
    o.fill_checksum();
    let (proto, src, dst) = (o.protocol(), o.src(), o.dst());
    if proto == protocol::UDP {
        let u = &mut b[l3 + ipv4::HEADER_LEN_MIN..];
        let h = UdpPacket::new_unchecked(&*u);
        let (sport, dport, sum) = (h.src_port(), h.dst_port(), h.checksum());
        let udp_len = u.len();
        let pseudo = (sum != 0).then(|| {
            checksum::pseudo_v4(src.octets(), dst.octets(), protocol::UDP, udp_len as u16)
        });
        write_gue(u, sport, dport, protocol::IPIP, pseudo);
    }
}

/// The transport header bytes a first fragment must hold whole: TCP's
/// header with its options, UDP's 8 bytes.
fn transport_min(proto: u8) -> usize {
    if proto == protocol::TCP {
        tcp::HEADER_LEN_MIN
    } else {
        udp::HEADER_LEN
    }
}

impl Core {
    /// A fragment to a VIP (`h.frag` is `Some`), as the module doc says.
    pub(super) fn handle_fragment<A: FragFamily, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        rx: Rx<A>,
        fr: Fragment,
    ) -> Verdict {
        let Rx {
            port,
            peer_mac,
            l3,
            h,
            now_ms,
            handed_off,
        } = rx;
        if h.proto != protocol::TCP && h.proto != protocol::UDP {
            // ICMP (a large echo) and the rest: the kernel reassembles.
            return self.exception();
        }
        let key = FragKey {
            src: h.src,
            dst: h.dst,
            ident: fr.ident,
            proto: h.proto,
        };
        let fowner = frag_owner(&self.owner_hasher, h.src, h.dst, fr.ident, self.workers);
        if !handed_off && fowner != self.id {
            self.stats.count(Counter::HandedOff);
            return Verdict::Handoff(fowner);
        }
        // Handed here by the fragment owner: this core owns the flow.
        let at_flow_owner = fowner != self.id;
        let at = self.owner_hasher.hash_one(key) as usize;
        let payload = h.len - h.hl;
        // A fragment that would end past the largest datagram (the "ping
        // of death"): no real sender makes one.
        if usize::from(fr.offset) + payload > usize::from(u16::MAX) {
            return self.count(Counter::DropFragTooLong);
        }
        if fr.offset != 0 {
            // RFC 1858: a later fragment must not overlap the transport
            // header the first one carried.
            if usize::from(fr.offset) < transport_min(h.proto) {
                return self.count(Counter::DropFragTiny);
            }
            let found = A::frags(self).find(at, &key, now_ms);
            let Some(i) = found else {
                if at_flow_owner {
                    return self.count(Counter::DropFragNoEntry);
                }
                return self.hold_fragment::<A, F>(key, port, frame, now_ms);
            };
            // What to do, read before the last byte frees the entry.
            let follow = A::frags(self).follow(i);
            A::frags(self).account(i, fr, payload, now_ms);
            return match follow {
                Some(Follow::Owner(o)) => {
                    self.stats.count(Counter::HandedOff);
                    Verdict::Handoff(o)
                }
                Some(Follow::Target {
                    t,
                    key: ckey,
                    service_slot,
                }) => {
                    self.stats.count(Counter::FragFollowed);
                    let flow = Flow {
                        key: ckey,
                        tcp_flags: 0,
                        seq: 0,
                        l3_len: h.len as u16,
                        in_port: port,
                        peer_mac,
                    };
                    self.forward(snap, frame, l3, t, service_slot, &flow)
                }
                None => self.count(Counter::DropFragNoEntry),
            };
        }
        // The first fragment: the ports, and the whole transport header
        // (RFC 1858, RFC 7112).
        let l4 = l3 + h.hl;
        let l4_end = l3 + h.len;
        let seg = &frame.bytes()[l4..l4_end];
        if seg.len() < transport_min(h.proto) {
            return self.count(Counter::DropFragTiny);
        }
        let (cport, vport, tcp_flags, seq) = if h.proto == protocol::TCP {
            let t = TcpPacket::new_unchecked(seg);
            if t.header_len() < tcp::HEADER_LEN_MIN || t.header_len() > seg.len() {
                return self.count(Counter::DropFragTiny);
            }
            (t.src_port(), t.dst_port(), t.flags(), t.seq())
        } else {
            let u = UdpPacket::new_unchecked(seg);
            (u.src_port(), u.dst_port(), 0, 0)
        };
        let vaddr = h.dst.to_ip();
        let Some(service) = snap.lookup(h.proto, h.src.to_ip(), vaddr, vport) else {
            return self.not_a_service(snap, vaddr);
        };
        let flow = rx.flow(cport, vport, tcp_flags, seq);
        let owner = flow_owner(&self.owner_hasher, service, h.src, cport, self.workers);
        if !at_flow_owner && owner != self.id {
            self.note_first::<A>(at, key, Follow::Owner(owner), fr, payload, now_ms);
            self.stats.count(Counter::HandedOff);
            return Verdict::Handoff(owner);
        }
        let mut t = match self.conn_for::<A>(snap, service, &flow, now_ms) {
            Ok(t) => t,
            Err(Counter::DropNoDest) => {
                self.stats.count(Counter::DropNoDest);
                let mac = snap.ports[usize::from(port)].mac;
                let err = IcmpError::PortUnreachable;
                return self.reply_icmp_error::<A, F>(frame, l3, mac, err, Counter::DropNoDest);
            }
            Err(c) => return self.count(c),
        };
        if let Err(v) = self.whole_segment_only(&mut t) {
            return v;
        }
        let follow = Follow::Target {
            t,
            key: flow.key,
            service_slot: service.slot,
        };
        self.note_first::<A>(at, key, follow, fr, payload, now_ms);
        self.forward(snap, frame, l3, t, service.slot, &flow)
    }

    /// A target for a packet that is no whole TCP segment (a fragment, or
    /// IPv6 with extension headers): no TOA option (counted), and no PROXY
    /// v2 connection (its stream edits need the segment).
    pub(super) fn whole_segment_only<A: Family>(&self, t: &mut Target<A>) -> Result<(), Verdict> {
        if t.pp2 {
            return Err(self.count(Counter::DropFragUnsupported));
        }
        if t.toa {
            t.toa = false;
            self.stats.count(Counter::ToaNoRoom);
        }
        Ok(())
    }

    /// Note what the first fragment decided, and release the later ones
    /// held for it.
    fn note_first<A: FragFamily>(
        &mut self,
        at: usize,
        key: FragKey<A>,
        follow: Follow<A>,
        fr: Fragment,
        payload: usize,
        now_ms: u64,
    ) {
        let (i, evicted) = A::frags(self).insert(at, key, follow, now_ms);
        if evicted {
            self.stats.count(Counter::FragEvicted);
        }
        A::frags(self).account(i, fr, payload, now_ms);
        self.stats.count(Counter::FragFirst);
        let wide = FragKey {
            src: key.src.widen(),
            dst: key.dst.widen(),
            ident: key.ident,
            proto: key.proto,
        };
        self.held.release(wide, A::V6);
    }

    /// Keep a copy of a later fragment whose first has not come; the frame
    /// itself is freed (its verdict is a drop counted `frag_held`).
    fn hold_fragment<A: FragFamily, F: Frame>(
        &mut self,
        key: FragKey<A>,
        port: u16,
        frame: &F,
        now_ms: u64,
    ) -> Verdict {
        let b = frame.bytes();
        if b.len() > HOLD_BYTES {
            return self.count(Counter::DropFragHoldTooBig);
        }
        let expired = self.held.expire(now_ms);
        self.stats.count_n(Counter::DropFragHoldTimeout, expired);
        let wide = FragKey {
            src: key.src.widen(),
            dst: key.dst.widen(),
            ident: key.ident,
            proto: key.proto,
        };
        if !self.held.hold(wide, A::V6, port, b, now_ms) {
            return self.count(Counter::DropFragHoldFull);
        }
        self.count(Counter::FragHeld)
    }

    /// Fragment the client's IPv4 packet inside the tunnel packet in
    /// `frame` (an Ethernet header of `l3` bytes, the outer headers of
    /// `overhead` bytes, then the client's packet, not DF) so that each
    /// piece fits `mtu` with its own outer headers, as a router on a
    /// smaller link would (RFC 791): the frame keeps the first piece, the
    /// others are queued to be sent on `out` (from the hold pool:
    /// [`super::Worker::next_released`]). Each reaches the real server as
    /// a whole tunnel packet, so its decapsulator needs no reassembly of
    /// outer fragments (a tc or XDP one cannot do that); the real server
    /// reassembles the client's datagram as it would any. Without room for
    /// every piece the packet is dropped (counted).
    pub(super) fn split_inner4<F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        overhead: usize,
        mtu: usize,
        out: u16,
    ) -> Result<(), Verdict> {
        let at = l3 + overhead;
        let (ihl, ilen, ioff, imore) = {
            let p = Ipv4Packet::new_unchecked(&frame.bytes()[at..]);
            (
                p.header_len(),
                usize::from(p.total_len()),
                p.frag_offset() * 8,
                p.more_frags(),
            )
        };
        let payload = ilen - ihl;
        if mtu < overhead + ihl + 8 || usize::from(ioff) + payload > usize::from(u16::MAX) {
            return Err(self.count(Counter::DropTunnelTooBig));
        }
        let chunk = (mtu - overhead - ihl) & !7;
        let tails = payload.div_ceil(chunk) - 1;
        if self.held.free() < tails || at + ihl + chunk > HOLD_BYTES {
            return Err(self.count(Counter::DropFragHoldFull));
        }
        let mut buf = [0u8; HOLD_BYTES];
        let mut off = chunk;
        while off < payload {
            let len = chunk.min(payload - off);
            let n = at + ihl + len;
            let src = frame.bytes();
            buf[..at + ihl].copy_from_slice(&src[..at + ihl]);
            buf[at + ihl..n].copy_from_slice(&src[at + ihl + off..at + ihl + off + len]);
            let more = off + len < payload || imore;
            tunnel_piece(&mut buf[..n], l3, overhead, ioff + off as u16, more);
            self.held
                .queue_send(out, n, |b| b.copy_from_slice(&buf[..n]));
            off += len;
        }
        if !frame.set_len(at + ihl + chunk) {
            return Err(self.count(Counter::DropNoMbuf));
        }
        tunnel_piece(frame.bytes_mut(), l3, overhead, ioff, true);
        self.stats.count(Counter::TunnelFragmented);
        Ok(())
    }

    /// Drop the held fragments whose time is up (counted).
    pub(super) fn expire_held(&mut self, now_ms: u64) {
        let n = self.held.expire(now_ms);
        if n > 0 {
            self.stats.count_n(Counter::DropFragHoldTimeout, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ident: u32) -> FragKey<u32> {
        FragKey {
            src: 1,
            dst: 2,
            ident,
            proto: 17,
        }
    }

    #[test]
    fn table_probe_evicts_the_oldest_and_entries_finish() {
        let mut t = FragTable::<u32>::with_entries(PROBE);
        for i in 0..PROBE as u32 {
            let (_, evicted) = t.insert(0, key(i), Follow::Owner(1), u64::from(i) + 1);
            assert!(!evicted);
        }
        // Full: the oldest (ident 0) goes.
        let (_, evicted) = t.insert(0, key(100), Follow::Owner(1), 50);
        assert!(evicted);
        assert_eq!(t.find(0, &key(0), 50), None);
        assert!(t.find(0, &key(100), 50).is_some());
        // Expired entries are not found and are reused without eviction.
        assert_eq!(t.find(0, &key(1), 2 + FRAG_ENTRY_MS), None);
        let (_, evicted) = t.insert(0, key(200), Follow::Owner(1), 10 + FRAG_ENTRY_MS);
        assert!(!evicted);
        // Every byte seen: the entry is done.
        let i = t.find(0, &key(100), 60).unwrap();
        t.account(
            i,
            Fragment {
                ident: 100,
                offset: 0,
                more: true,
            },
            1480,
            60,
        );
        assert!(t.find(0, &key(100), 60).is_some());
        t.account(
            i,
            Fragment {
                ident: 100,
                offset: 1480,
                more: false,
            },
            100,
            60,
        );
        assert_eq!(t.find(0, &key(100), 60), None);
    }

    #[test]
    fn hold_pool_is_bounded_and_releases_by_key() {
        let mut p = HoldPool::new();
        let k = |i: u32| FragKey {
            src: 1u128,
            dst: 2,
            ident: i,
            proto: 17,
        };
        for i in 0..HOLD_SLOTS as u32 {
            assert!(p.hold(k(i % 2), false, 3, &[i as u8; 60], 10));
        }
        assert!(!p.hold(k(0), false, 3, &[0; 60], 10));
        assert!(p.next_ready().is_none());
        assert_eq!(p.free(), 0);
        // The other family's datagram of the same key is not released.
        p.release(k(0), true);
        assert!(p.next_ready().is_none());
        p.release(k(0), false);
        let mut n = 0;
        while let Some((r, b)) = p.next_ready() {
            assert_eq!(r, Release::Rerun(3));
            assert_eq!(b.len(), 60);
            assert_eq!(b[0] % 2, 0);
            n += 1;
        }
        assert_eq!(n, HOLD_SLOTS / 2);
        // The rest time out.
        assert_eq!(p.expire(10 + HOLD_MS - 1), 0);
        assert_eq!(p.expire(10 + HOLD_MS), HOLD_SLOTS as u64 / 2);
        assert!(p.hold(k(5), false, 3, &[0; 60], 1000));
    }
}
