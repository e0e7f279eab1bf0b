//! The packet pipeline of one worker core: frame in, verdict out.
//!
//! Contract: [`Worker::handle_frame`] parses a frame in place through the
//! typed views, never panics on any bytes, never allocates, locks or blocks,
//! and counts one verdict or drop reason per frame in its [`CoreStats`]
//! (plus what the frame caused: a connection made, an ICMP reply sent). It may rewrite the frame (MACs for DR, an ARP or ICMP
//! reply in place). What to do with the frame afterwards is the caller's job
//! (send it, hand it to the exception port, to another core, or free it).
//! Whatever else a frame asks to be sent (a neighbour event for the control
//! thread, connection records for a sync backup) goes to the worker's
//! fixed-size outbox (`outbox.rs`), never to a shared ring: the worker loop
//! moves it to the rings after the burst ([`Worker::drain_outbox`]).
//!
//! A flow's owner core is a function of the client's address and port; a
//! frame of a flow owned by another core gets [`Verdict::Handoff`] before it
//! touches any connection state, so each table has one writer.
//!
//! One frame's walk, a stage per file, in order:
//! 1. Ingress (`ingress.rs`): [`Worker::handle_frame`] → `Core::handle_frame`
//!    checks the port and the Ethernet header (a VLAN tag is stepped over)
//!    and dispatches by ethertype: ARP to `handle_arp` (a next hop learned,
//!    a VIP's request answered), IPv4 and IPv6 to `handle_ip::<u32>` and
//!    `handle_ip::<u128>`, the rest to the kernel.
//! 2. Classify (`handle_ip`, one path for both families): the header
//!    (`Ip::header`), with where the packet came in an `Rx` the later
//!    stages take (`Rx::flow` its flow to a service); IPv6's Neighbour Discovery and echo at once
//!    (`Ip::ICMP_FIRST`, `handle_icmp` before routing; NDP in `v6.rs`);
//!    to a local address, or from a NAT dest to a non-VIP, it is a reply
//!    (stage 5); to no VIP, the kernel's; to a VIP, after
//!    `Ip::check_to_vip` (IPv4's checksum), a fragment goes to `frag.rs`
//!    (the first decides, later ones follow it, on their fragment owner
//!    core), ICMP goes to stage 6, and for TCP/UDP the flow's entry is
//!    found, then its service (`Snapshot::entry_service` from the entry
//!    where that is sure, else `Snapshot::lookup`; no service:
//!    `not_a_service`), and the packet is handed to its owner core if that
//!    is another (`conn::flow_owner`). IPv6's extension
//!    headers are walked to the transport (`Ip::header`, `wire::ipv6ext`).
//! 3. Connection (`conn.rs`): `conn_for_found` takes the entry stage 2
//!    found (`conn_live`) or makes one (`conn_new`: `schedule`, a
//!    persistence template's `persistent_dest` / `template_dest` in
//!    `template.rs`, `take_lport` for FullNAT, `pick_stateless` when the
//!    table is full) and returns a `Target`; no dest is ICMP port
//!    unreachable (`reply_icmp_error`).
//! 4. Egress (`egress.rs`): `forward` applies the target's method (DR: MACs
//!    only; NAT: `Wire::rewrite`; TUN: `encapsulate`; FullNAT:
//!    `insert_toa`, `proxy_client_segment`, both ends rewritten; to a real
//!    server of the other family, `forward_xfam` in `xfam.rs`, which
//!    translates too) → [`Verdict::Forward`].
//! 5. Replies (`reply.rs`): `handle_reply` → `reply_conn` (owner core, entry)
//!    → `finish_reply` (the OUTPUT state, `to_client_view`, `to_client`); a
//!    FullNAT reply of the other family's conn goes by `xfam_reply`.
//! 6. ICMP (`icmp.rs`, both families): `handle_icmp` answers echo
//!    (`reply_echo`), forwards an error about a connection along it
//!    (`error_from_client`, `error_conn`, `forward_error`), and builds the
//!    errors this director sends (`reply_icmp_error`), within the kernel's
//!    rate limits (`ratelimit.rs`).
//!
//! What differs by address family is behind `family.rs`'s `Tables`, `Wire`
//! and `Ip` (IPv6's Neighbour Discovery is `v6.rs`); connection sync is
//! `synced.rs`.

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use rvs_api::Forward;

use crate::conn::state::State;
use crate::conn::{
    Conn, ConnExt, ConnKey, ConnTable, Family, Probe, ReplyKey, ReplyTable, Slot, XReplyTable,
};
use crate::laddr::Laddrs;
use crate::neigh::NeighTable;
use crate::sched::{LocalityCache, SchedState};
use crate::service::{Dest, Snapshot};
use crate::stats::{CoreStats, Counter, OverloadFlags, LADDR_SLOTS_MAX};
use crate::sync::SyncConn;
use crate::wire::ethernet::{self, ethertype, EthernetFrame, MacAddr};
use crate::wire::ipv4::{self, protocol, Ipv4Packet};
use crate::wire::ports::{self, PortsPacket};

mod adopt;
mod conn;
mod defense;
mod egress;
mod family;
mod frag;
mod icmp;
mod ingress;
mod outbox;
mod ratelimit;
mod reply;
mod synced;
mod synproxy;
mod template;
mod v6;
mod xfam;

pub use frag::{frag_owner, Release, FRAG_ENTRIES, FRAG_ENTRY_MS, HOLD_BYTES, HOLD_MS, HOLD_SLOTS};
use outbox::Outbox;
use ratelimit::IcmpLimiter;
pub use ratelimit::{parse_ratemask6, IcmpLimits};
pub use synced::{screen, sync_owner, Screened};

/// A packet buffer the pipeline can rewrite and resize (an mbuf in the
/// dataplane, a `Vec` in tests).
pub trait Frame {
    fn bytes(&self) -> &[u8];
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Make the frame `len` bytes long (growing into tailroom); false when
    /// there is no room.
    fn set_len(&mut self, len: usize) -> bool;
    /// Grow the frame by `n` bytes at the front (into headroom); the new
    /// bytes are unspecified. False when there is no room.
    fn prepend(&mut self, n: usize) -> bool;
    /// Drop `n` bytes from the front (into headroom); false when the frame
    /// is shorter.
    fn trim_front(&mut self, n: usize) -> bool;
}

/// A frame in a `Vec`, for tests and tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecFrame(pub Vec<u8>);

impl Frame for VecFrame {
    fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    fn set_len(&mut self, len: usize) -> bool {
        self.0.resize(len, 0);
        true
    }

    fn trim_front(&mut self, n: usize) -> bool {
        if n > self.0.len() {
            return false;
        }
        self.0.drain(..n);
        true
    }

    fn prepend(&mut self, n: usize) -> bool {
        self.0.splice(0..0, std::iter::repeat_n(0, n));
        true
    }
}

/// What to do with a frame after the pipeline saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it on this dataplane port.
    Forward(u16),
    /// Send it back out of the port it came in on (an ARP or ICMP reply).
    Reply,
    /// Give it to the kernel through the port's exception interface.
    Exception,
    /// Another core owns this flow: pass it over.
    Handoff(u16),
    /// Free it; the reason is counted.
    Drop(Counter),
}

/// What a worker tells its control thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerEvent {
    /// An ARP packet said `addr` is at `mac` on `port`.
    NeighLearned {
        port: u16,
        addr: IpAddr,
        mac: MacAddr,
    },
}

/// One connection entry as `-Lnc` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnRecord {
    /// TCP, UDP, or 0 for a fwmark persistence template.
    pub protocol: u8,
    pub caddr: IpAddr,
    pub cport: u16,
    /// The VIP (a fwmark template's mark as an IPv4 address, as IPVS shows
    /// it).
    pub vaddr: IpAddr,
    pub vport: u16,
    pub daddr: IpAddr,
    pub dport: u16,
    pub state: State,
    /// Milliseconds left.
    pub expires_in_ms: u64,
    pub template: bool,
}

/// Where a connection dump goes on: a slot of the IPv4 table, then of the
/// IPv6 one.
pub type DumpCursor = usize;

/// Tunables of the connection logic (IPVS sysctls with their defaults,
/// `spec/conn.md` §12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnPolicy {
    /// `conn_reuse_mode` (default 1).
    pub conn_reuse_mode: u8,
    /// `expire_nodest_conn` (default false): a packet of a deleted dest's
    /// connection expires the entry and is scheduled afresh, and a SYN on an
    /// entry whose dest has weight 0 is too; when false such packets are
    /// dropped until the entry times out.
    pub expire_nodest_conn: bool,
    /// `expire_quiescent_template` (default false): a persistence template
    /// whose dest has weight 0 is not honoured by the next connection.
    pub expire_quiescent_template: bool,
    /// `sloppy_tcp` (default false): every service adopts mid-connection
    /// TCP packets as one with `--sloppy-tcp` does (decision 45).
    pub sloppy_tcp: bool,
}

impl Default for ConnPolicy {
    fn default() -> Self {
        ConnPolicy {
            conn_reuse_mode: 1,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            sloppy_tcp: false,
        }
    }
}

/// Everything a worker is made from.
pub struct WorkerSetup {
    pub id: u16,
    pub workers: u16,
    pub snapshot: Arc<Snapshot>,
    pub conns_max: usize,
    /// The IPv6 connection table's size.
    pub conns6_max: usize,
    /// Every core's stats, this worker's at index `id` (thresholds are on
    /// the totals over all cores).
    pub cores: Arc<[Arc<CoreStats>]>,
    pub overload: Arc<OverloadFlags>,
    pub neigh: Arc<NeighTable>,
    /// The most frames the worker handles between two
    /// [`Worker::drain_outbox`] calls: the outbox is sized for them once.
    pub outbox_frames: usize,
    pub policy: ConnPolicy,
    /// Locality caches (lblc, lblcr services) and the entries of each.
    pub locality_caches: u16,
    pub locality_cache_entries: usize,
    /// The rate limits on the ICMP errors the worker sends (the kernel's
    /// `icmp_ratelimit` and kin; `ratelimit.rs`).
    pub icmp: IcmpLimits,
    /// The SYN proxy's cookie keys, rotated by the control thread
    /// (`crate::synproxy`).
    pub syn_keys: Arc<crate::synproxy::SynKeys>,
}

/// The cross indexes of FullNAT between families hold a quarter of the
/// client family's table (decision 42): more such connections on a core
/// are refused as `drop_nat_table_full`.
const XFAM_SHARE_SHIFT: u32 = 2;

/// Live IPv4 entries from which a burst's lookups are prefetched: 65 536
/// entries are 4 MiB of slots at the table's load (and as much again of
/// reply index), more than a core's L2 holds. Below it the second hash
/// costs more than the misses it hides (`bench/RESULTS.md`).
pub const PREFETCH_CONNS_MIN: usize = 1 << 16;

/// How many frames ahead of the one being handled the burst prefetch's
/// second stage asks for entries ([`Worker::prefetch_entries`]): far
/// enough for a line to arrive (a frame takes a few hundred cycles), near
/// enough that it is still in L1 when the frame gets to it.
pub const PREFETCH_AHEAD: usize = 4;

/// How many frames ahead the third stage ([`Worker::prefetch_reply_conn`])
/// reads a reply's index entry, which the second stage asked for
/// `PREFETCH_AHEAD - PREFETCH_REPLY_AHEAD` frames earlier, and asks for
/// the connection entry it names (a burst's first `PREFETCH_AHEAD` frames
/// go without: their second stage ran just before).
pub const PREFETCH_REPLY_AHEAD: usize = 2;

/// Where a frame's lookups start, as the first stage of the burst
/// prefetch found them ([`Worker::prefetch`]), and the reply index entry
/// the second stage asked for; the default prefetches nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prefetched {
    conn: Probe,
    reply: Probe,
    reply_slot: Option<u32>,
}

/// The fixed seeds of the owner-core hash: every worker must agree.
const OWNER_SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// The owner core of a client (address, port) among `workers` cores.
#[inline]
pub fn owner_of<A: std::hash::Hash>(
    hasher: &ahash::RandomState,
    caddr: A,
    cport: u16,
    workers: u16,
) -> u16 {
    if workers <= 1 {
        return 0;
    }
    (hasher.hash_one((caddr, cport)) % u64::from(workers)) as u16
}

/// An entry as listed, if the slot holds a live one.
fn record_of<A: Family>(c: &Conn<A>, ext: &ConnExt<A>, now_ms: u64) -> Option<ConnRecord> {
    if c.is_empty() || c.expires_ms <= now_ms {
        return None;
    }
    let fwmark_template = c.is_template() && c.key.protocol == 0;
    Some(ConnRecord {
        protocol: c.key.protocol,
        caddr: c.key.caddr.to_ip(),
        cport: c.key.cport,
        vaddr: if fwmark_template {
            IpAddr::V4(Ipv4Addr::from(c.fwmark))
        } else {
            c.key.vaddr.to_ip()
        },
        vport: c.key.vport,
        // Between families (decision 42) the real server is the
        // companion's.
        daddr: if c.flags & crate::conn::flags::XFAM != 0 {
            xfam::xaddr_ip(ext.xaddr, !A::IPV6)
        } else {
            c.daddr.to_ip()
        },
        dport: c.dport,
        state: c.state(),
        expires_in_ms: c.expires_ms - now_ms,
        template: c.is_template(),
    })
}

/// One worker core's pipeline: the generation it forwards with, and its own
/// state.
pub struct Worker {
    snapshot: Arc<Snapshot>,
    core: Core,
    /// The frames of the burst being prefetched that look like new flows
    /// (no tag in either table), so far: the `n`-th of them will take the
    /// free stack's `n`-th entry ([`Worker::prefetch_entries`]).
    new_in_burst: Cell<usize>,
}

/// A worker's own state. Kept apart from the generation so the pipeline can
/// borrow both at once without touching the `Arc`'s shared count per packet.
struct Core {
    id: u16,
    workers: u16,
    conns: ConnTable,
    /// Replies of this core's NAT connections, to their entries.
    replies: ReplyTable,
    /// The same for IPv6.
    conns6: ConnTable<u128>,
    replies6: ReplyTable<u128>,
    /// FullNAT between families (decision 42): IPv4 replies to IPv6
    /// clients' connections, and IPv6 replies to IPv4 clients'.
    xreplies: XReplyTable<u32, u128>,
    xreplies6: XReplyTable<u128, u32>,
    stats: Arc<CoreStats>,
    cores: Arc<[Arc<CoreStats>]>,
    overload: Arc<OverloadFlags>,
    neigh: Arc<NeighTable>,
    sched: Box<[SchedState]>,
    caches: Box<[LocalityCache]>,
    /// What the frames asked to be sent besides themselves, until the
    /// worker loop drains it.
    outbox: Outbox,
    owner_hasher: ahash::RandomState,
    policy: ConnPolicy,
    /// The IPv4 identification of this core's non-DF tunnel packets.
    tunnel_ident: u16,
    /// FullNAT local ports this core owns, and where the next connection
    /// starts looking among a service's local addresses.
    laddrs: Laddrs,
    laddr_next: usize,
    /// The defence level in force (`defense.rs`), when it is judged next,
    /// drop_packet's countdown and where drop_entry's next slice starts.
    defense: crate::conn::defense::Level,
    defense_due_ms: u64,
    drop_counter: crate::conn::defense::DropCounter,
    defense_walk: crate::conn::defense::DropEntryWalk,
    /// The ICMP errors' rate limits, and the time of the frame at hand
    /// (their clock, set as each frame comes in).
    icmp_limiter: IcmpLimiter,
    now_ms: u64,
    /// Fragments to VIPs: what each datagram's first fragment decided, and
    /// later fragments held for their first (`frag.rs`).
    frags: frag::FragTable<u32>,
    frags6: frag::FragTable<u128>,
    held: frag::HoldPool,
    /// The SYN proxy's cookie keys (`synproxy.rs`).
    syn_keys: Arc<crate::synproxy::SynKeys>,
}

/// An IP packet as the stages after stage 2 take it: where it came in
/// (the port and the previous hop's MAC), where its IP header starts in
/// the frame and what that header says, when, and whether another core
/// handed it here.
#[derive(Clone, Copy)]
struct Rx<A> {
    port: u16,
    peer_mac: MacAddr,
    l3: usize,
    h: family::Header<A>,
    now_ms: u64,
    handed_off: bool,
}

impl<A: Copy> Rx<A> {
    /// The flow of the packet (not a template): its transport's ports, TCP
    /// flags (SCTP's event) and sequence number as given.
    #[inline(always)]
    fn flow(&self, cport: u16, vport: u16, tcp_flags: u8, seq: u32) -> Flow<A> {
        let h = &self.h;
        Flow {
            key: ConnKey {
                caddr: h.src,
                vaddr: h.dst,
                cport,
                vport,
                protocol: h.proto,
                template: false,
            },
            tcp_flags,
            seq,
            l3_len: h.len as u16,
            in_port: self.port,
            peer_mac: self.peer_mac,
        }
    }
}

/// The parsed facts of a TCP, UDP or SCTP packet to a service.
#[derive(Clone, Copy)]
struct Flow<A = u32> {
    key: ConnKey<A>,
    /// TCP: the segment's flags; SCTP: its state event
    /// (`conn::sctp::Event as u8`, from its chunks); UDP: 0.
    tcp_flags: u8,
    /// TCP: the segment's sequence number.
    seq: u32,
    l3_len: u16,
    /// Where it came from: the port and the previous hop's MAC.
    in_port: u16,
    peer_mac: MacAddr,
}

/// A new entry of `key` in `state` to real server `daddr`:`dport`, the
/// `dest` of `service`, with `control` (a template's count, a controlled
/// connection's persistence mask): what a packet's entry and template
/// (`conn.rs`) and a sync record's (`synced.rs`) take alike from the dest
/// and service.
#[inline(always)]
fn conn_to_dest<A: Family>(
    key: ConnKey<A>,
    (daddr, dport): (A, u16),
    dest: &Dest,
    service: &crate::service::Service,
    control: u32,
    state: State,
) -> Conn<A> {
    Conn {
        key,
        daddr,
        dport,
        forward: dest.forward as u8,
        dest_slot: dest.slot,
        service_slot: service.slot,
        neigh_slot: dest.neigh_slot,
        fwmark: service.fwmark,
        control,
        ..Conn::new(state)
    }
}

/// Where a connection's packets go: the dest, and the real server's port
/// (the dest's, or the client's for port-0 and fwmark services).
#[derive(Clone, Copy, Debug)]
struct Target<A = u32> {
    dest: Dest,
    dport: u16,
    /// The method, fixed when the connection was made (an edit of the dest
    /// does not change its connections').
    forward: Forward,
    /// FullNAT: the local address and port the real server sees as the
    /// client, and whether this packet carries the TOA option (the
    /// handshake's SYN and ACK).
    laddr: A,
    lport: u16,
    /// FullNAT: the local address's slot (between families, decision 42,
    /// where `laddr` cannot hold it, the address is the slot's).
    laddr_slot: u16,
    toa: bool,
    /// FullNAT with PROXY protocol v2: the client's ISN (the header sits at
    /// `isn + 1` of the real server's view of the stream).
    pp2: bool,
    isn: u32,
    /// The SYN proxy's state and shift (`ConnExt::sp`, `sp_seq`).
    sp: u8,
    sp_seq: u32,
}

impl<A: Family> Target<A> {
    fn to(dest: Dest, dport: u16) -> Self {
        Target {
            dest,
            dport,
            forward: dest.forward,
            laddr: A::default(),
            lport: 0,
            laddr_slot: 0,
            toa: false,
            pp2: false,
            isn: 0,
            sp: 0,
            sp_seq: 0,
        }
    }
}

/// The tuple of the packet an ICMP error quotes.
#[derive(Clone, Copy, Debug)]
struct Quoted<A = u32> {
    src: A,
    dst: A,
    sport: u16,
    dport: u16,
    protocol: u8,
}

impl Worker {
    pub fn new(setup: WorkerSetup) -> Self {
        let stats = Arc::clone(&setup.cores[usize::from(setup.id)]);
        let slots = stats.slots.len();
        let mut core = Core {
            id: setup.id,
            workers: setup.workers,
            conns: ConnTable::with_max(setup.conns_max),
            replies: ReplyTable::with_max(setup.conns_max),
            conns6: ConnTable::with_max(setup.conns6_max),
            replies6: ReplyTable::with_max(setup.conns6_max),
            xreplies: XReplyTable::with_max(setup.conns6_max >> XFAM_SHARE_SHIFT),
            xreplies6: XReplyTable::with_max(setup.conns_max >> XFAM_SHARE_SHIFT),
            stats,
            cores: setup.cores,
            overload: setup.overload,
            neigh: setup.neigh,
            sched: vec![SchedState::default(); slots].into_boxed_slice(),
            caches: (0..setup.locality_caches)
                .map(|_| LocalityCache::with_max(setup.locality_cache_entries))
                .collect(),
            outbox: Outbox::for_frames(setup.outbox_frames),
            owner_hasher: ahash::RandomState::with_seeds(
                OWNER_SEEDS[0],
                OWNER_SEEDS[1],
                OWNER_SEEDS[2],
                OWNER_SEEDS[3],
            ),
            policy: setup.policy,
            tunnel_ident: 0,
            laddrs: Laddrs::new(LADDR_SLOTS_MAX, setup.id, setup.workers),
            laddr_next: 0,
            defense: Default::default(),
            defense_due_ms: 0,
            drop_counter: Default::default(),
            defense_walk: crate::conn::defense::DropEntryWalk::new(
                0x9e37_79b9_7f4a_7c15 ^ u64::from(setup.id),
            ),
            icmp_limiter: IcmpLimiter::new(setup.icmp, setup.workers),
            now_ms: 0,
            frags: frag::FragTable::with_entries(FRAG_ENTRIES),
            frags6: frag::FragTable::with_entries(FRAG_ENTRIES),
            held: frag::HoldPool::new(),
            syn_keys: setup.syn_keys,
        };
        core.laddrs.sync(&setup.snapshot.laddr_slots);
        Worker {
            snapshot: setup.snapshot,
            core,
            new_in_burst: Cell::new(0),
        }
    }

    pub fn id(&self) -> u16 {
        self.core.id
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// Switch to a new generation; returns the old one (the caller sends it
    /// back to the control thread so it is not freed on the packet path).
    pub fn set_snapshot(&mut self, s: Arc<Snapshot>) -> Arc<Snapshot> {
        self.core.laddrs.sync(&s.laddr_slots);
        self.core.defense_now();
        std::mem::replace(&mut self.snapshot, s)
    }

    pub fn stats(&self) -> &CoreStats {
        &self.core.stats
    }

    /// Hand what the frames since the last call asked to be sent besides
    /// themselves to the rings: neighbour events to `events`, connection
    /// records for a sync backup to `sync_out` (what a ring refuses is
    /// counted, as the outbox's contract says). The worker loop calls it
    /// after each burst, before the outbox can fill.
    pub fn drain_outbox(
        &mut self,
        events: &ArrayQueue<WorkerEvent>,
        sync_out: &ArrayQueue<SyncConn>,
    ) {
        self.core.outbox.drain(events, sync_out, &self.core.stats);
    }

    /// List this core's live connection entries from `cursor` (the IPv4
    /// table's slots, then the IPv6 one's), examining at most `budget`
    /// slots: each goes to `emit`, and when `emit` refuses one (its queue is
    /// full) the walk stops there. Returns where to go on, or `None` when
    /// the tables are done. Read-only and bounded: the worker calls it
    /// between bursts.
    pub fn dump(
        &self,
        cursor: DumpCursor,
        budget: usize,
        now_ms: u64,
        emit: &mut dyn FnMut(ConnRecord) -> bool,
    ) -> Option<DumpCursor> {
        let n4 = self.core.conns.slots_len();
        let n6 = self.core.conns6.slots_len();
        let mut at = cursor;
        let end = cursor.saturating_add(budget).min(n4 + n6);
        while at < end {
            let record = if at < n4 {
                record_of(self.core.conns.get(at), self.core.conns.ext(at), now_ms)
            } else {
                record_of(
                    self.core.conns6.get(at - n4),
                    self.core.conns6.ext(at - n4),
                    now_ms,
                )
            };
            if let Some(r) = record {
                if !emit(r) {
                    return Some(at);
                }
            }
            at += 1;
        }
        (at < n4 + n6).then_some(at)
    }

    /// Install or update the entry a sync master sent (this core owns
    /// it: [`sync_owner`]); returns what was done or why not, counted.
    pub fn install_synced(&mut self, r: &SyncConn, now_ms: u64) -> Counter {
        let done = match r.caddr {
            IpAddr::V4(_) => self.core.install::<u32>(&self.snapshot, r, now_ms),
            IpAddr::V6(_) => self.core.install::<u128>(&self.snapshot, r, now_ms),
        };
        let c = done.unwrap_or_else(|e| e);
        self.core.stats.count(c);
        c
    }

    /// A frame the pipeline kept to be sent later (`frag.rs`), and its
    /// bytes: a later fragment held for its first, which has come since
    /// ([`Release::Rerun`]: the worker loop puts it in a frame and runs it
    /// through [`Worker::handle_frame`] again with `handed_off` true, this
    /// core being the fragment's owner), or the rest of an IPv4 tunnel
    /// packet fragmented to the MTU ([`Release::Send`]: sent as it is).
    /// Called after the burst that released them; the slot is free from
    /// this call on.
    pub fn next_released(&mut self) -> Option<(Release, &[u8])> {
        let r = self.core.held.next_ready();
        if let Some((Release::Rerun(_), _)) = r {
            self.core.stats.count(Counter::FragReleased);
        }
        r
    }

    /// Expire up to `budget` slots' worth of old connections, and the
    /// fragments held past their time. Then, once a second, judge the
    /// defence level and run drop_entry's slice (`defense.rs`).
    pub fn sweep(&mut self, now_ms: u64, budget: usize) {
        self.core.expire_held(now_ms);
        self.core.reclaim::<u32>(&self.snapshot, now_ms, budget);
        if !self.core.conns6.is_empty() {
            self.core.reclaim::<u128>(&self.snapshot, now_ms, budget);
        }
        self.core.defend(&self.snapshot, now_ms);
    }

    /// Whether the burst prefetch is worth its hashes: the IPv4 table holds
    /// [`PREFETCH_CONNS_MIN`] live entries or more (below, it stays in
    /// cache and [`Worker::prefetch`] does nothing). The worker asks once a
    /// burst and, when not, handles the burst without the two stages.
    #[inline]
    pub fn prefetches(&self) -> bool {
        self.core.conns.len() >= PREFETCH_CONNS_MIN
    }

    /// Prefetch what `frame` will look up first: for an IPv4 TCP/UDP
    /// packet, its connection entry's bucket (as a client's packet) and its
    /// reply-index bucket (as a real server's reply). Reads the headers
    /// through unchecked views after checking only the lengths they read (a
    /// frame too short is left alone; nothing else is validated, the
    /// pipeline does that) and changes nothing; the worker calls it for a
    /// whole burst before handling it. Returns where the lookups start, for
    /// the second stage ([`Worker::prefetch_entries`]).
    /// A table small enough to stay in cache is not worth the extra hash:
    /// below [`PREFETCH_CONNS_MIN`] live entries this does nothing.
    #[inline]
    pub fn prefetch<F: Frame>(&self, frame: &F) -> Prefetched {
        let none = Prefetched::default();
        if !self.prefetches() {
            return none;
        }
        let b = frame.bytes();
        // The views are unchecked: these lengths are what they read.
        if b.len() < ethernet::HEADER_LEN + ipv4::HEADER_LEN_MIN {
            return none;
        }
        let eth = EthernetFrame::new_unchecked(b);
        if eth.inner_ethertype() != ethertype::IPV4 {
            return none;
        }
        let l3 = eth.payload_offset();
        if b.len() < l3 + ipv4::HEADER_LEN_MIN {
            return none;
        }
        let ip = Ipv4Packet::new_unchecked(&b[l3..]);
        let proto = ip.protocol();
        let l4 = l3 + ip.header_len();
        if !matches!(proto, protocol::TCP | protocol::UDP | protocol::SCTP)
            || b.len() < l4 + ports::LEN
        {
            return none;
        }
        let (src, dst) = (u32::from(ip.src()), u32::from(ip.dst()));
        let l4 = PortsPacket::new_unchecked(&b[l4..]);
        let (sport, dport) = (l4.src_port(), l4.dst_port());
        let conn = self.core.conns.prefetch(&ConnKey {
            caddr: src,
            vaddr: dst,
            cport: sport,
            vport: dport,
            protocol: proto,
            template: false,
        });
        let reply = if self.core.replies.is_empty() {
            Probe::default()
        } else {
            self.core.replies.prefetch(&ReplyKey {
                raddr: src,
                laddr: dst,
                rport: sport,
                lport: dport,
                protocol: proto,
            })
        };
        Prefetched {
            conn,
            reply,
            reply_slot: None,
        }
    }

    /// The second stage of the burst prefetch, for a frame whose buckets
    /// [`Worker::prefetch`] asked for a while ago (the worker runs it
    /// [`PREFETCH_AHEAD`] frames ahead of the one it handles): the entries
    /// the buckets' matching tags point to, so a lookup finds both its
    /// lines in cache. Reads only the buckets; notes the reply index
    /// entry in `p` for the third stage. A frame whose connection bucket
    /// has its tag is taken for a client's packet and its reply index is
    /// left alone: a reply tag there would be a false match (1 in 255 per
    /// slot, some 4 % of a full table's buckets) whose entry the third
    /// stage would read at once, stalling on it.
    #[inline]
    pub fn prefetch_entries(&self, p: &mut Prefetched) {
        p.reply_slot = match self.core.conns.prefetch_entry(p.conn) {
            Some(_) => None,
            None => {
                let reply = self.core.replies.prefetch_entry(p.reply);
                // Neither table knows it: a new flow, whose entry the
                // insert will write.
                if reply.is_none() && p.conn != Probe::default() {
                    let n = self.new_in_burst.get();
                    self.core.conns.prefetch_free(n);
                    // A NAT or FullNAT connection indexes its replies too
                    // (a worker with none has no index entry to write).
                    if !self.core.replies.is_empty() {
                        self.core.replies.prefetch_free(n);
                    }
                    self.new_in_burst.set(n + 1);
                }
                reply
            }
        };
    }

    /// The third stage, for a frame that is a real server's reply (its
    /// reply index entry asked for by [`Worker::prefetch_entries`] a while
    /// ago): the connection entry and companion the index entry names, the
    /// lines the reply's lookup reads last. Reads only the index entry;
    /// changes nothing.
    #[inline]
    pub fn prefetch_reply_conn(&self, p: &Prefetched) {
        if let Some(r) = p.reply_slot {
            let r = self.core.replies.get(r as usize);
            // The entry may have been removed since the second stage.
            if !r.is_empty() {
                self.core.conns.prefetch_slot(r.conn);
            }
        }
    }

    /// The burst prefetch's later stages, run before handling frame `i` of
    /// a burst whose first stage ([`Worker::prefetch`]) filled `probes`:
    /// the second for frame `i + PREFETCH_AHEAD` (and, at `i` = 0, for the
    /// frames before it), the third for frame `i + PREFETCH_REPLY_AHEAD`
    /// from frame `PREFETCH_AHEAD` on (the burst's first frames go without
    /// it: their index entries were asked for only just before).
    #[inline]
    pub fn prefetch_ahead(&self, probes: &mut [Prefetched], i: usize) {
        if i == 0 {
            self.new_in_burst.set(0);
            for p in probes.iter_mut().take(PREFETCH_AHEAD) {
                self.prefetch_entries(p);
            }
        }
        if let Some(p) = probes.get_mut(i + PREFETCH_AHEAD) {
            self.prefetch_entries(p);
        }
        if i + PREFETCH_REPLY_AHEAD >= PREFETCH_AHEAD {
            if let Some(p) = probes.get(i + PREFETCH_REPLY_AHEAD) {
                self.prefetch_reply_conn(p);
            }
        }
    }

    /// Run one frame that arrived on `port` through the pipeline.
    /// `handed_off` is true when another core already passed it here.
    #[inline]
    pub fn handle_frame<F: Frame>(
        &mut self,
        port: u16,
        frame: &mut F,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict {
        self.core
            .handle_frame(&self.snapshot, port, frame, now_ms, handed_off)
    }
}

impl Core {
    fn count(&self, c: Counter) -> Verdict {
        self.stats.count(c);
        Verdict::Drop(c)
    }

    fn exception(&self) -> Verdict {
        self.stats.count(Counter::ToException);
        Verdict::Exception
    }
}
