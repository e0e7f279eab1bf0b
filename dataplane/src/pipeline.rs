//! The packet pipeline of one worker core: frame in, verdict out.
//!
//! Contract: [`Worker::handle_frame`] parses a frame in place through the
//! typed views, never panics on any bytes, never allocates, locks or blocks,
//! and counts one verdict or drop reason per frame in its [`CoreStats`]
//! (plus what the frame caused: a connection made, an ICMP reply sent). It may rewrite the frame (MACs for DR, an ARP or ICMP
//! reply in place). What to do with the frame afterwards is the caller's job
//! (send it, hand it to the exception port, to another core, or free it).
//!
//! A flow's owner core is a function of the client's address and port; a
//! frame of a flow owned by another core gets [`Verdict::Handoff`] before it
//! touches any connection state, so each table has one writer.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use rvs_api::{Forward, TunnelCsum, TunnelKind};

use crate::conn::state::{tcp_transition, Direction, Event, State};
use crate::conn::{
    flags, Conn, ConnExt, ConnKey, ConnTable, Family, ReplyEntry, ReplyKey, ReplyTable,
};
use crate::laddr::{self, Laddrs};
use crate::nat::{self, End};
use crate::neigh::NeighTable;
use crate::proxy;
use crate::sched::{Loads, LocalityCache, Packet, PickCtx, SchedState};
use crate::service::{Dest, Persistence, Service, Snapshot};
use crate::stats::LADDR_SLOTS_MAX;
use crate::stats::{self, bump, lower, CoreStats, Counter, OverloadFlags, SlotStats};
use crate::sync::SyncConn;
use crate::wire::arp::{self, ArpPacket};
use crate::wire::checksum;
use crate::wire::ethernet::{ethertype, EthernetFrame, MacAddr};
use crate::wire::icmp::{self, IcmpPacket};
use crate::wire::ipv4::{self, protocol, Ipv4Packet, Ipv4Repr};
use crate::wire::tcp::{self, TcpPacket};
use crate::wire::udp::{self, UdpPacket};

mod synced;
mod v6;

pub use synced::sync_owner;

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
}

impl Default for ConnPolicy {
    fn default() -> Self {
        ConnPolicy {
            conn_reuse_mode: 1,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
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
    pub events: Arc<ArrayQueue<WorkerEvent>>,
    /// Worker → control: connections to send to a sync backup.
    pub sync_out: Arc<ArrayQueue<SyncConn>>,
    pub policy: ConnPolicy,
    /// Locality caches (lblc, lblcr services) and the entries of each.
    pub locality_caches: u16,
    pub locality_cache_entries: usize,
}

/// GUE's base header (version 0, no options).
const GUE_HEADER_LEN: usize = 4;

/// The smallest MTU IPv4 allows (RFC 791): a tunnel leaving less than this
/// for the client's packet cannot help it with "fragmentation needed".
const MTU_MIN: u16 = 68;

/// Live IPv4 entries from which a burst's lookups are prefetched: 65 536
/// entries are 4 MiB of slots at the table's load (and as much again of
/// reply index), more than a core's L2 holds. Below it the second hash
/// costs more than the misses it hides (`bench/RESULTS.md`).
pub const PREFETCH_CONNS_MIN: usize = 1 << 16;

/// Slots a full table examines for expired entries before a new flow goes
/// stateless.
const RECLAIM_BUDGET: usize = 256;

/// What a template that outlived its timeout while controlling connections
/// is re-armed with (`spec/conn.md` §6.3).
const TEMPLATE_REARM_S: u32 = 60;

/// The fixed seeds of the owner-core hash: every worker must agree.
const OWNER_SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// The owner core of a client (address, port) among `workers` cores.
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
fn record_of<A: Family>(c: &Conn<A>, now_ms: u64) -> Option<ConnRecord> {
    use crate::conn::Slot;
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
        daddr: c.daddr.to_ip(),
        dport: c.dport,
        state: c.state(),
        expires_in_ms: c.expires_ms - now_ms,
        template: c.is_template(),
    })
}

/// Whether `service`'s templates have port 0: port-0 services (PCC), fwmark
/// services and FTP (port 21) (`spec/conn.md` §6.1).
#[inline]
fn template_is_portless(service: &Service) -> bool {
    service.fwmark != 0 || service.key.2 == 0 || service.key.2 == 21
}

/// The key of the persistence template for a connection `key` of `service`.
#[inline]
fn template_key<A: Family>(service: &Service, p: Persistence, key: &ConnKey<A>) -> ConnKey<A> {
    ConnKey {
        caddr: key.caddr.masked(p.netmask),
        vaddr: if service.fwmark != 0 {
            A::from_mark(service.fwmark)
        } else {
            key.vaddr
        },
        cport: 0,
        vport: if template_is_portless(service) {
            0
        } else {
            key.vport
        },
        protocol: if service.fwmark != 0 { 0 } else { key.protocol },
        template: true,
    }
}

/// The owner core of a client's flow to `service`: by (address, port), or
/// for a persistent service by the client's network alone, so that its
/// template and every connection it controls live on one core.
#[inline]
fn flow_owner<A: Family>(
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

/// One worker core's pipeline: the generation it forwards with, and its own
/// state.
pub struct Worker {
    snapshot: Arc<Snapshot>,
    core: Core,
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
    stats: Arc<CoreStats>,
    cores: Arc<[Arc<CoreStats>]>,
    overload: Arc<OverloadFlags>,
    neigh: Arc<NeighTable>,
    sched: Box<[SchedState]>,
    caches: Box<[LocalityCache]>,
    events: Arc<ArrayQueue<WorkerEvent>>,
    sync_out: Arc<ArrayQueue<SyncConn>>,
    owner_hasher: ahash::RandomState,
    policy: ConnPolicy,
    /// The IPv4 identification of this core's non-DF tunnel packets.
    tunnel_ident: u16,
    /// FullNAT local ports this core owns, and where the next connection
    /// starts looking among a service's local addresses.
    laddrs: Laddrs,
    laddr_next: usize,
}

/// What the schedulers see of this core's loads.
struct CoreLoads<'a> {
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

/// The parsed facts of an IPv4 TCP/UDP packet to a service.
#[derive(Clone, Copy)]
struct Flow<A = u32> {
    key: ConnKey<A>,
    tcp_flags: u8,
    /// TCP: the segment's sequence number.
    seq: u32,
    l3_len: u16,
    /// Where it came from: the port and the previous hop's MAC.
    in_port: u16,
    peer_mac: MacAddr,
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
    toa: bool,
    /// FullNAT with PROXY protocol v2: the client's ISN (the header sits at
    /// `isn + 1` of the real server's view of the stream).
    pp2: bool,
    isn: u32,
}

impl<A: Family> Target<A> {
    fn to(dest: Dest, dport: u16) -> Self {
        Target {
            dest,
            dport,
            forward: dest.forward,
            laddr: A::default(),
            lport: 0,
            toa: false,
            pp2: false,
            isn: 0,
        }
    }
}

/// The method stored in a connection entry.
#[inline]
fn forward_of(forward: u8) -> Forward {
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
fn sees_replies(forward: u8) -> bool {
    forward == Forward::Masq as u8 || forward == Forward::FullNat as u8
}

/// The real server's port of a new connection to `dest`: port-0 and fwmark
/// services keep the port the client asked for; others may map it (NAT).
#[inline]
fn target_port(service: &Service, dest: &Dest, vport: u16) -> u16 {
    if dest.port == 0 || vport != service.key.2 {
        vport
    } else {
        dest.port
    }
}

/// Write the UDP and GUE headers of a GUE tunnel packet into `udp` (the
/// UDP datagram, the inner packet already in place after the 12 header
/// bytes): GUE version 0, no options, carrying `inner` (IPIP for IPv4, 41
/// for IPv6), IPVS's header. With the pseudo-header's sum, the UDP checksum
/// is filled in; without, it is 0 ("none", IPv4 only).
fn write_gue(udp: &mut [u8], sport: u16, dport: u16, inner: u8, pseudo: Option<u16>) {
    let len = udp.len();
    let mut h = UdpPacket::new_unchecked(&mut *udp);
    h.set_src_port(sport);
    h.set_dst_port(dport);
    h.set_len(len as u16);
    h.set_checksum(0);
    udp[udp::HEADER_LEN..udp::HEADER_LEN + GUE_HEADER_LEN].copy_from_slice(&[0, inner, 0, 0]);
    if let Some(pseudo) = pseudo {
        let sum = !checksum::combine(&[pseudo, checksum::sum(udp)]);
        let sum = if sum == 0 { 0xffff } else { sum };
        UdpPacket::new_unchecked(udp).set_checksum(sum);
    }
}

/// The connection tables of an address family.
trait Tables: Family {
    fn conns(core: &mut Core) -> &mut ConnTable<Self>;
    fn replies(core: &mut Core) -> &mut ReplyTable<Self>;
}

impl Tables for u32 {
    #[inline(always)]
    fn conns(core: &mut Core) -> &mut ConnTable<u32> {
        &mut core.conns
    }

    #[inline(always)]
    fn replies(core: &mut Core) -> &mut ReplyTable<u32> {
        &mut core.replies
    }
}

impl Tables for u128 {
    #[inline(always)]
    fn conns(core: &mut Core) -> &mut ConnTable<u128> {
        &mut core.conns6
    }

    #[inline(always)]
    fn replies(core: &mut Core) -> &mut ReplyTable<u128> {
        &mut core.replies6
    }
}

/// What forwarding does differently by address family: the rewrite of an
/// address and port, the tunnel's outer header, the TOA option.
trait Wire: Tables {
    fn rewrite(ip: &mut [u8], end: End, addr: Self, port: u16);
    fn rewrite_addr(ip: &mut [u8], end: End, addr: Self);
    fn rewrite_quoted(ip: &mut [u8], quote_at: usize, end: End, addr: Self, port: u16);
    #[allow(clippy::too_many_arguments)]
    fn encapsulate<F: Frame>(
        core: &mut Core,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        dest: &Dest,
        key: &ConnKey<Self>,
        reply_port: Option<u16>,
    ) -> Result<(), Verdict>;
    fn insert_toa<F: Frame>(
        core: &mut Core,
        frame: &mut F,
        l3: usize,
        key: &ConnKey<Self>,
        tcp_flags: u8,
        mtu: u16,
    );
}

impl Wire for u32 {
    #[inline]
    fn rewrite(ip: &mut [u8], end: End, addr: u32, port: u16) {
        nat::rewrite(ip, end, Ipv4Addr::from(addr), port);
    }

    #[inline]
    fn rewrite_addr(ip: &mut [u8], end: End, addr: u32) {
        nat::rewrite_addr(ip, end, Ipv4Addr::from(addr));
    }

    #[inline]
    fn rewrite_quoted(ip: &mut [u8], quote_at: usize, end: End, addr: u32, port: u16) {
        nat::rewrite_quoted(ip, quote_at, end, Ipv4Addr::from(addr), port);
    }

    fn encapsulate<F: Frame>(
        core: &mut Core,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        dest: &Dest,
        key: &ConnKey<u32>,
        reply_port: Option<u16>,
    ) -> Result<(), Verdict> {
        core.encapsulate(snap, frame, l3, dest, key, reply_port)
    }

    fn insert_toa<F: Frame>(
        core: &mut Core,
        frame: &mut F,
        l3: usize,
        key: &ConnKey<u32>,
        tcp_flags: u8,
        mtu: u16,
    ) {
        core.insert_toa(frame, l3, key, tcp_flags, mtu);
    }
}

impl Wire for u128 {
    #[inline]
    fn rewrite(ip: &mut [u8], end: End, addr: u128, port: u16) {
        nat::rewrite6(ip, end, std::net::Ipv6Addr::from(addr), port);
    }

    #[inline]
    fn rewrite_addr(ip: &mut [u8], end: End, addr: u128) {
        nat::rewrite6_addr(ip, end, std::net::Ipv6Addr::from(addr));
    }

    #[inline]
    fn rewrite_quoted(ip: &mut [u8], quote_at: usize, end: End, addr: u128, port: u16) {
        nat::rewrite6_quoted(ip, quote_at, end, std::net::Ipv6Addr::from(addr), port);
    }

    fn encapsulate<F: Frame>(
        core: &mut Core,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        dest: &Dest,
        key: &ConnKey<u128>,
        reply_port: Option<u16>,
    ) -> Result<(), Verdict> {
        core.encapsulate6(snap, frame, l3, dest, key, reply_port)
    }

    fn insert_toa<F: Frame>(
        core: &mut Core,
        frame: &mut F,
        l3: usize,
        key: &ConnKey<u128>,
        tcp_flags: u8,
        mtu: u16,
    ) {
        core.insert_toa6(frame, l3, key, tcp_flags, mtu);
    }
}

/// A real server's packet of NAT or FullNAT connection `c` (the bytes from
/// its IP header on) put in the client's view: from VIP:vport, and for
/// FullNAT to the client rather than the local address. An ICMP error
/// (`quote_at`: where its quoted header starts) gets the same done to its
/// outer source and destination and, reversed, to the packet it quotes
/// (`spec/conn.md` §10).
fn to_client_view<A: Wire>(b: &mut [u8], c: &Conn<A>, quote_at: Option<usize>) {
    let fullnat = c.forward == Forward::FullNat as u8;
    match quote_at {
        None => {
            A::rewrite(b, End::Src, c.key.vaddr, c.key.vport);
            if fullnat {
                A::rewrite(b, End::Dst, c.key.caddr, c.key.cport);
            }
        }
        Some(q) => {
            A::rewrite_addr(b, End::Src, c.key.vaddr);
            if fullnat {
                A::rewrite_addr(b, End::Dst, c.key.caddr);
                A::rewrite_quoted(b, q, End::Src, c.key.caddr, c.key.cport);
            }
            A::rewrite_quoted(b, q, End::Dst, c.key.vaddr, c.key.vport);
        }
    }
}

/// A client's ICMP error about a packet of NAT or FullNAT connection `c`
/// put in the real server's view: to the real server (`raddr`), about its
/// packet; for FullNAT from the local address, about its packet to it.
fn error_to_server_view<A: Wire>(
    b: &mut [u8],
    c: &Conn<A>,
    ext: &ConnExt<A>,
    raddr: A,
    quote_at: usize,
) {
    if c.forward == Forward::FullNat as u8 {
        A::rewrite_addr(b, End::Src, ext.laddr);
        A::rewrite_quoted(b, quote_at, End::Dst, ext.laddr, ext.lport);
    }
    A::rewrite_addr(b, End::Dst, raddr);
    A::rewrite_quoted(b, quote_at, End::Src, raddr, c.dport);
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

/// The quoted tuple of the ICMP message `icmp` (from its header on), or
/// `None` when it is not an error message. The quote must hold the IPv4
/// header and the ports (`spec/conn.md` §10).
fn quoted_tuple(icmp: &[u8]) -> Result<Option<Quoted>, Counter> {
    let is_error = IcmpPacket::new_checked(icmp)
        .map_err(Counter::from)?
        .is_error();
    if !is_error {
        return Ok(None);
    }
    let quoted = &icmp[icmp::HEADER_LEN..];
    if quoted.len() < ipv4::HEADER_LEN_MIN {
        return Err(Counter::DropIcmpTruncated);
    }
    let q = Ipv4Packet::new_unchecked(quoted);
    let qhl = q.header_len();
    if qhl < ipv4::HEADER_LEN_MIN || quoted.len() < qhl + 4 {
        return Err(Counter::DropIcmpTruncated);
    }
    Ok(Some(Quoted {
        src: u32::from(q.src()),
        dst: u32::from(q.dst()),
        sport: u16::from_be_bytes([quoted[qhl], quoted[qhl + 1]]),
        dport: u16::from_be_bytes([quoted[qhl + 2], quoted[qhl + 3]]),
        protocol: q.protocol(),
    }))
}

/// The TCP state table of a connection's client packets: NAT sees both
/// directions, DR and TUN only the client's (`spec/conn.md` §2.2).
#[inline]
fn input_direction(forward: u8) -> Direction {
    if sees_replies(forward) {
        Direction::Input
    } else {
        Direction::InputOnly
    }
}

/// The reply of a NAT or FullNAT connection: from the real server to the
/// client (NAT) or to the local address and port (FullNAT).
#[inline]
fn reply_key<A: Family>(c: &Conn<A>, ext: &ConnExt<A>) -> ReplyKey<A> {
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
            stats,
            cores: setup.cores,
            overload: setup.overload,
            neigh: setup.neigh,
            sched: vec![SchedState::default(); slots].into_boxed_slice(),
            caches: (0..setup.locality_caches)
                .map(|_| LocalityCache::with_max(setup.locality_cache_entries))
                .collect(),
            events: setup.events,
            sync_out: setup.sync_out,
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
        };
        core.laddrs.sync(&setup.snapshot.laddr_slots);
        Worker {
            snapshot: setup.snapshot,
            core,
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
        std::mem::replace(&mut self.snapshot, s)
    }

    pub fn stats(&self) -> &CoreStats {
        &self.core.stats
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
                record_of(self.core.conns.get(at), now_ms)
            } else {
                record_of(self.core.conns6.get(at - n4), now_ms)
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

    /// Expire up to `budget` slots' worth of old connections.
    pub fn sweep(&mut self, now_ms: u64, budget: usize) {
        self.core.reclaim::<u32>(&self.snapshot, now_ms, budget);
        if !self.core.conns6.is_empty() {
            self.core.reclaim::<u128>(&self.snapshot, now_ms, budget);
        }
    }

    /// Prefetch what `frame` will look up first: for an IPv4 TCP/UDP
    /// packet, its connection entry's slot (as a client's packet) and its
    /// reply-index slot (as a real server's reply). Reads the headers with
    /// bounds checks only (a frame too short is left alone) and changes
    /// nothing; the worker calls it for a whole burst before handling it.
    /// A table small enough to stay in cache is not worth the extra hash:
    /// below [`PREFETCH_CONNS_MIN`] live entries this does nothing.
    #[inline]
    pub fn prefetch<F: Frame>(&self, frame: &F) {
        if self.core.conns.len() < PREFETCH_CONNS_MIN {
            return;
        }
        let b = frame.bytes();
        let mut l3 = 14;
        if b.len() < 14 + 20 {
            return;
        }
        let mut et = u16::from_be_bytes([b[12], b[13]]);
        if et == ethertype::VLAN {
            l3 = 18;
            if b.len() < 18 + 20 {
                return;
            }
            et = u16::from_be_bytes([b[16], b[17]]);
        }
        if et != ethertype::IPV4 {
            return;
        }
        let ihl = usize::from(b[l3] & 0x0f) * 4;
        let proto = b[l3 + 9];
        if (proto != protocol::TCP && proto != protocol::UDP) || b.len() < l3 + ihl + 4 {
            return;
        }
        let ip = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let (src, dst) = (ip(l3 + 12), ip(l3 + 16));
        let l4 = l3 + ihl;
        let sport = u16::from_be_bytes([b[l4], b[l4 + 1]]);
        let dport = u16::from_be_bytes([b[l4 + 2], b[l4 + 3]]);
        self.core.conns.prefetch(&ConnKey {
            caddr: src,
            vaddr: dst,
            cport: sport,
            vport: dport,
            protocol: proto,
            template: false,
        });
        if !self.core.replies.is_empty() {
            self.core.replies.prefetch(&ReplyKey {
                raddr: src,
                laddr: dst,
                rport: sport,
                lport: dport,
                protocol: proto,
            });
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
    /// Expire up to `budget` slots' worth of old connections.
    /// Both the slots examined and the entries removed are bounded by
    /// `budget`, so one call's work is too.
    fn reclaim<A: Tables>(&mut self, snap: &Snapshot, now_ms: u64, budget: usize) {
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
    fn drop_conn<A: Tables>(&mut self, snap: &Snapshot, idx: usize) -> Conn<A> {
        let (c, ext) = A::conns(self).remove_with(idx);
        if sees_replies(c.forward) && !c.is_template() {
            if let Some(r) = A::replies(self).find(&reply_key(&c, &ext)) {
                // A newer entry of the same reply tuple may have taken it.
                if A::replies(self).get(r).conn == c.key {
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
    fn dest_total(&self, slot: u32) -> u64 {
        let t = stats::slot_total(&self.cores, slot);
        t.active.wrapping_add(t.inactive)
    }

    /// A connection was bound to `dest`: set OVERLOAD when the upper
    /// threshold is reached (`spec/schedulers.md` §15).
    fn bind(&self, dest: &Dest) {
        if dest.u_threshold != 0 && self.dest_total(dest.slot) >= u64::from(dest.u_threshold) {
            self.overload.set(dest.slot, true);
        }
    }

    /// A connection of `slot` went away: clear OVERLOAD below the lower
    /// threshold (or below 3/4 of the upper one when there is no lower).
    fn unbind(&self, snap: &Snapshot, slot: u32) {
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

    fn count(&self, c: Counter) -> Verdict {
        self.stats.count(c);
        Verdict::Drop(c)
    }

    fn handle_frame<F: Frame>(
        &mut self,
        snap: &Snapshot,
        port: u16,
        frame: &mut F,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict {
        let Some(port_info) = snap.ports.get(usize::from(port)).copied() else {
            return self.count(Counter::DropNotForUs);
        };
        let eth = match EthernetFrame::new_checked(frame.bytes()) {
            Ok(e) => e,
            Err(m) => return self.count(m.into()),
        };
        let dst = eth.dst();
        let src = eth.src();
        if src == port_info.mac {
            return self.count(Counter::DropLoopedBack);
        }
        if dst != port_info.mac && !dst.is_multicast() {
            return self.count(Counter::DropNotForUs);
        }
        let l3 = eth.payload_offset();
        match eth.inner_ethertype() {
            ethertype::ARP => self.handle_arp(snap, port, port_info.mac, frame, l3),
            ethertype::IPV4 if dst == port_info.mac => {
                self.handle_ipv4(snap, port, src, frame, l3, now_ms, handed_off)
            }
            // Neighbour Solicitations come to multicast addresses.
            ethertype::IPV6 => self.handle_ipv6(snap, port, src, frame, l3, now_ms, handed_off),
            _ => self.exception(),
        }
    }

    fn exception(&self) -> Verdict {
        self.stats.count(Counter::ToException);
        Verdict::Exception
    }

    fn handle_arp<F: Frame>(
        &mut self,
        snap: &Snapshot,
        port: u16,
        mac: MacAddr,
        frame: &mut F,
        l3: usize,
    ) -> Verdict {
        let (op, sender_mac, sender_ip, target_ip) =
            match ArpPacket::new_checked(&frame.bytes()[l3..]) {
                Ok(a) => (a.operation(), a.sender_mac(), a.sender_ip(), a.target_ip()),
                Err(m) => return self.count(m.into()),
            };
        // Only about our next hops: an ARP flood from elsewhere must not
        // crowd the event ring.
        if snap.is_neighbour(IpAddr::V4(sender_ip)) && !sender_mac.is_multicast() {
            let ev = WorkerEvent::NeighLearned {
                port,
                addr: IpAddr::V4(sender_ip),
                mac: sender_mac,
            };
            if self.events.push(ev).is_err() {
                self.stats.count(Counter::NeighEventLost);
            }
        }
        if op == arp::op::REQUEST && snap.answers_arp_for(IpAddr::V4(target_ip)) {
            let b = frame.bytes_mut();
            let mut eth = EthernetFrame::new_unchecked(&mut *b);
            eth.set_dst(sender_mac);
            eth.set_src(mac);
            let mut a = ArpPacket::new_unchecked(&mut b[l3..]);
            a.set_operation(arp::op::REPLY);
            a.set_target(sender_mac, sender_ip);
            a.set_sender(mac, target_ip);
            self.stats.count(Counter::ArpReplied);
            return Verdict::Reply;
        }
        self.exception()
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_ipv4<F: Frame>(
        &mut self,
        snap: &Snapshot,
        port: u16,
        peer_mac: MacAddr,
        frame: &mut F,
        l3: usize,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict {
        let mac = snap.ports[usize::from(port)].mac;
        let ip = match Ipv4Packet::new_checked(&frame.bytes()[l3..]) {
            Ok(p) => p,
            Err(m) => return self.count(m.into()),
        };
        let vaddr = ip.dst();
        // A real server's reply to a FullNAT connection (to a local
        // address) or to a NAT one (from a NAT dest), or the kernel's.
        if snap.is_laddr(IpAddr::V4(vaddr)) {
            return self.handle_reply(snap, frame, l3, now_ms, handed_off, true);
        }
        if !snap.is_vip(IpAddr::V4(vaddr)) {
            if snap.is_nat_dest(IpAddr::V4(ip.src())) {
                return self.handle_reply(snap, frame, l3, now_ms, handed_off, false);
            }
            return self.exception();
        }
        if !ip.verify_checksum() {
            return self.count(Counter::DropIpv4BadChecksum);
        }
        let proto = ip.protocol();
        if ip.is_fragment() {
            return self.count(Counter::DropIpv4Fragment);
        }
        let l4 = l3 + ip.header_len();
        let l3_len = ip.total_len();
        let l4_end = l3 + usize::from(l3_len);
        let caddr = u32::from(ip.src());
        let (cport, vport, tcp_flags, seq) = match proto {
            protocol::TCP => match TcpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
                Ok(t) => (t.src_port(), t.dst_port(), t.flags(), t.seq()),
                Err(m) => return self.count(m.into()),
            },
            protocol::UDP => match UdpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
                Ok(u) => (u.src_port(), u.dst_port(), 0, 0),
                Err(m) => return self.count(m.into()),
            },
            protocol::ICMP => return self.handle_icmp(snap, mac, frame, l3, now_ms, handed_off),
            _ => return self.not_a_service(snap, vaddr),
        };
        let Some(service) = snap.lookup(proto, IpAddr::V4(ip.src()), IpAddr::V4(vaddr), vport)
        else {
            return self.not_a_service(snap, vaddr);
        };
        let flow = Flow {
            key: ConnKey {
                caddr,
                vaddr: u32::from(vaddr),
                cport,
                vport,
                protocol: proto,
                template: false,
            },
            tcp_flags,
            seq,
            l3_len,
            in_port: port,
            peer_mac,
        };
        if !handed_off {
            let owner = flow_owner(&self.owner_hasher, service, caddr, cport, self.workers);
            if owner != self.id {
                self.stats.count(Counter::HandedOff);
                return Verdict::Handoff(owner);
            }
        }
        match self.conn_for(snap, service, &flow, now_ms) {
            Ok(t) => self.forward(snap, frame, l3, t, service.slot, &flow),
            Err(Counter::DropNoDest) => {
                self.stats.count(Counter::DropNoDest);
                self.reply_port_unreachable(frame, l3, mac)
            }
            Err(c) => self.count(c),
        }
    }

    /// A packet to `vaddr` that no service takes: a counted drop for a VIP
    /// of ours; the kernel's for an address a classifier prefix merely
    /// covers (the director's own address may be one).
    fn not_a_service(&self, snap: &Snapshot, vaddr: Ipv4Addr) -> Verdict {
        if snap.answers_arp_for(IpAddr::V4(vaddr)) {
            self.count(Counter::DropVipNoService)
        } else {
            self.exception()
        }
    }

    /// Find or make the connection of `flow`; returns where to send it.
    fn conn_for<A: Tables>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        flow: &Flow<A>,
        now_ms: u64,
    ) -> Result<Target<A>, Counter> {
        let is_tcp = flow.key.protocol == protocol::TCP;
        let syn = is_tcp
            && flow.tcp_flags & tcp::flags::SYN != 0
            && flow.tcp_flags & tcp::flags::RST == 0;
        if let Some(idx) = A::conns(self).find(&flow.key) {
            let c = *A::conns(self).get(idx);
            let controlled = c.flags & flags::CONTROLLED != 0;
            // Port reuse (`spec/conn.md` §9); never for controlled entries.
            let reuse = syn
                && !controlled
                && self.policy.conn_reuse_mode != 0
                && (matches!(c.state(), State::TimeWait | State::Close)
                    || (self.policy.conn_reuse_mode & 2 != 0
                        && c.state() == State::FinWait
                        && !sees_replies(c.forward)));
            let dest = snap.dest(c.dest_slot).copied();
            // expire_nodest_conn (§7): a deleted dest's entry, or a SYN on a
            // quiesced dest's entry, is expired and the packet rescheduled.
            // (The quiesced case is part of IPVS's port-reuse check, so it
            // needs conn_reuse_mode too.)
            let nodest = self.policy.expire_nodest_conn
                && match dest {
                    None => true,
                    Some(d) => syn && d.weight == 0 && self.policy.conn_reuse_mode != 0,
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
                let Some(dest) = dest else {
                    return Err(Counter::DropDestUnavailable);
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
                let ext = if fullnat {
                    *A::conns(self).ext(idx)
                } else {
                    ConnExt::default()
                };
                return Ok(Target {
                    dest,
                    dport: c.dport,
                    forward: forward_of(c.forward),
                    laddr: ext.laddr,
                    lport: ext.lport,
                    // The handshake's ACK (or a retransmitted SYN) carries
                    // TOA as the SYN did.
                    toa: fullnat && is_tcp && c.state() == State::SynRecv && !ext.pp2,
                    pp2: ext.pp2,
                    isn: ext.isn,
                });
            }
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
                    None => self.pick_stateless(service, flow)?,
                };
                if sees_replies(dest.forward as u8) {
                    // A NAT flow's replies need its entry: no room, no flow.
                    return Err(Counter::DropNatTableFull);
                }
                if syn || !is_tcp {
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
        if is_tcp && !syn {
            return Err(Counter::DropTcpNoConn);
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
        let mut ext = ConnExt {
            peer_mac: flow.peer_mac,
            in_port: flow.in_port,
            ..ConnExt::default()
        };
        if dest.forward == Forward::FullNat && !one_packet {
            ext.pp2 = service.proxy_protocol && is_tcp;
            ext.isn = flow.seq;
            let Some((slot, laddr, lport)) = self.take_lport::<A>(snap, service) else {
                // The template (if any) counted this connection already.
                if let Some(p) = service.persistence {
                    let tk = template_key(service, p, &flow.key);
                    if let Some(t) = A::conns(self).find(&tk) {
                        let t = A::conns(self).get_mut(t);
                        t.control = t.control.saturating_sub(1);
                    }
                }
                return Err(Counter::DropLaddrExhausted);
            };
            ext.laddr_slot = slot;
            ext.laddr = laddr;
            ext.lport = lport;
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
            tcp_transition(
                input_direction(dest.forward as u8),
                State::None,
                Event::classify(flow.tcp_flags),
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
        let conn = Conn {
            key: flow.key,
            daddr: A::from_ip(dest.addr).unwrap_or_default(),
            dport,
            forward: dest.forward as u8,
            dest_slot: dest.slot,
            service_slot: service.slot,
            neigh_slot: dest.neigh_slot,
            fwmark: service.fwmark,
            control,
            flags: conn_flags,
            in_pkts: 1,
            expires_ms: now_ms + u64::from(snap.timeouts.of(new_state)) * 1000,
            ..Conn::new(new_state)
        };
        let nat = sees_replies(conn.forward);
        let inserted = A::conns(self).insert_with(conn, ext);
        debug_assert!(inserted.is_ok(), "the table had room a moment ago");
        if inserted.is_err() {
            if nat {
                if dest.forward == Forward::FullNat {
                    self.give_lport(&ext);
                }
                return Err(Counter::DropNatTableFull);
            }
            return Ok(Target::to(dest, dport));
        }
        if nat {
            self.index_reply::<A>(&conn, &ext);
        }
        self.stats.count(Counter::ConnCreated);
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
            toa: dest.forward == Forward::FullNat && syn && !ext.pp2,
            pp2: ext.pp2,
            isn: ext.isn,
        })
    }

    /// Give back the local port of a FullNAT entry that was not made.
    fn give_lport<A: Family>(&mut self, ext: &ConnExt<A>) {
        self.laddrs
            .give(ext.laddr_slot, ext.laddr.to_ip(), ext.lport);
        if let Some(l) = self.stats.laddrs.get(usize::from(ext.laddr_slot)) {
            lower(&l.used, 1);
        }
    }

    /// Index the reply tuple of NAT/FullNAT entry `conn`. The reply index
    /// is as large as the table; a reply key already there belongs to an
    /// older entry of the same tuple (a client port reused toward another
    /// VIP), which the new one replaces.
    fn index_reply<A: Tables>(&mut self, conn: &Conn<A>, ext: &ConnExt<A>) {
        let reply = ReplyEntry {
            key: reply_key(conn, ext),
            conn: conn.key,
        };
        if let Some(r) = A::replies(self).find(&reply.key) {
            A::replies(self).get_mut(r).conn = conn.key;
        } else if A::replies(self).insert(reply).is_err() {
            self.stats.count(Counter::DropNatTableFull);
        }
    }

    /// A free local port for a new FullNAT connection of `service`: the
    /// service's local addresses are tried in turn from where the last one
    /// left off; each that has none of this core's ports free counts an
    /// exhaustion (`rvsadm --get-laddr` shows them).
    fn take_lport<A: Tables>(
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
    /// (TCP by the flags, UDP stays), its timer is re-armed from the state's
    /// timeout, and its dest's gauges follow an active/inactive change.
    fn advance<A: Tables>(
        &mut self,
        snap: &Snapshot,
        idx: usize,
        dir: Direction,
        tcp_flags: u8,
        now_ms: u64,
    ) {
        let conn = A::conns(self).get_mut(idx);
        let old = conn.state();
        let new = if conn.key.protocol == protocol::TCP {
            tcp_transition(dir, old, Event::classify(tcp_flags))
        } else {
            State::Udp
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
    fn move_gauge(&self, slot: u32, old: State, new: State) {
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
    fn schedule<A: Family>(
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

    /// The dest of a persistent service's new connection: the template's
    /// while it is valid, else a scheduled one that the template then
    /// remembers (`spec/conn.md` §6.2). The new connection is counted in
    /// the template's `control` (not for one-packet datagrams, which leave
    /// no entry).
    fn persistent_dest<A: Tables>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        p: Persistence,
        flow: &Flow<A>,
        one_packet: bool,
        now_ms: u64,
    ) -> Result<Dest, Counter> {
        let tkey = template_key(service, p, &flow.key);
        let found = A::conns(self).find(&tkey);
        if let Some(dest) = self.template_dest::<A>(snap, service, found, !one_packet, now_ms) {
            return Ok(dest);
        }
        let dest = self.schedule(service, flow, now_ms)?;
        let template = Conn {
            key: tkey,
            daddr: A::from_ip(dest.addr).unwrap_or_default(),
            dport: if template_is_portless(service) {
                0
            } else {
                dest.port
            },
            forward: dest.forward as u8,
            dest_slot: dest.slot,
            service_slot: service.slot,
            neigh_slot: dest.neigh_slot,
            fwmark: service.fwmark,
            control: u32::from(!one_packet),
            timeout_s: p.timeout_s,
            flags: 0,
            expires_ms: now_ms + u64::from(p.timeout_s) * 1000,
            ..Conn::new(State::None)
        };
        match found {
            Some(ti) => {
                // An invalid template is replaced in place: the connections
                // it still controls keep counting in it, so it lives until
                // the last of them and the new ones are gone.
                let old = *A::conns(self).get(ti);
                if let Some(s) = self.stats.slots.get(old.dest_slot as usize) {
                    lower(&s.persist, 1);
                }
                let t = A::conns(self).get_mut(ti);
                *t = Conn {
                    control: old.control + template.control,
                    ..template
                };
            }
            None => {
                if A::conns(self).insert(template).is_err() {
                    // Checked for room before; stay correct regardless.
                    self.stats.count(Counter::ConnTableFull);
                    return Ok(dest);
                }
            }
        }
        self.stats.count(Counter::TemplateCreated);
        if let Some(s) = self.stats.slots.get(dest.slot as usize) {
            bump(&s.persist, 1);
        }
        Ok(dest)
    }

    /// The dest of the template at `found`, if it is valid (`spec/conn.md`
    /// §6.2): alive, its dest still in the service and, with
    /// `expire_quiescent_template`, not quiesced. Using it refreshes the
    /// template and, with `controls`, counts one more connection in it.
    fn template_dest<A: Tables>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        found: Option<usize>,
        controls: bool,
        now_ms: u64,
    ) -> Option<Dest> {
        let ti = found?;
        let t = *A::conns(self).get(ti);
        // A template past its timeout that still controls connections was
        // re-armed by the kernel's timer; ours re-arms lazily.
        if t.expires_ms <= now_ms && t.control == 0 {
            return None;
        }
        let dest = *snap.dest(t.dest_slot)?;
        if !service.dests.iter().any(|sd| sd.slot == dest.slot)
            || (self.policy.expire_quiescent_template && dest.weight == 0)
        {
            return None;
        }
        let t = A::conns(self).get_mut(ti);
        if t.expires_ms <= now_ms {
            // What the sweep would have done had it come by first.
            t.timeout_s = TEMPLATE_REARM_S;
        }
        if controls {
            t.control += 1;
        }
        // Templates bypass the scheduler, weights and OVERLOAD.
        t.expires_ms = now_ms + u64::from(t.timeout_s) * 1000;
        Some(dest)
    }

    /// A dest by flow hash among the eligible ones (no state kept). For a
    /// persistent service the hash is of the template's key, so a client
    /// stays on one dest while there is no room for its template either.
    fn pick_stateless<A: Family>(
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

    /// Forward by the dest's method. DR: new MACs, nothing else changes;
    /// NAT: the destination becomes the real server's address and port.
    fn forward<F: Frame, A: Wire>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        t: Target<A>,
        service_slot: u32,
        flow: &Flow<A>,
    ) -> Verdict {
        let dest = t.dest;
        let Some(dest_mac) = self.neigh.get(dest.neigh_slot) else {
            return self.count(Counter::DropNeighUnresolved);
        };
        let Some(out) = snap.ports.get(usize::from(dest.port_id)) else {
            return self.count(Counter::DropNeighUnresolved);
        };
        let daddr = A::from_ip(dest.addr).unwrap_or_default();
        let counter = match t.forward {
            Forward::Route => Counter::ForwardDr,
            Forward::Masq => {
                A::rewrite(&mut frame.bytes_mut()[l3..], End::Dst, daddr, t.dport);
                Counter::ForwardNat
            }
            Forward::Tunnel => {
                let reply_port = Some(flow.in_port);
                if let Err(v) = A::encapsulate(self, snap, frame, l3, &dest, &flow.key, reply_port)
                {
                    return v;
                }
                Counter::ForwardTunnel
            }
            Forward::FullNat => {
                if t.toa {
                    A::insert_toa(self, frame, l3, &flow.key, flow.tcp_flags, out.mtu);
                }
                if t.pp2 && !self.proxy_client_segment(frame, l3, &flow.key, t.isn, out.mtu) {
                    return Verdict::Drop(Counter::ProxyNoRoom);
                }
                let b = &mut frame.bytes_mut()[l3..];
                A::rewrite(b, End::Src, t.laddr, t.lport);
                A::rewrite(b, End::Dst, daddr, t.dport);
                Counter::ForwardFullNat
            }
        };
        let mut eth = EthernetFrame::new_unchecked(frame.bytes_mut());
        eth.set_dst(dest_mac);
        eth.set_src(out.mac);
        for slot in [service_slot, dest.slot] {
            if let Some(s) = self.stats.slots.get(slot as usize) {
                bump(&s.in_pkts, 1);
                bump(&s.in_bytes, u64::from(flow.l3_len));
            }
        }
        self.stats.count(counter);
        Verdict::Forward(dest.port_id)
    }

    /// FullNAT: give the real server the client's address and port in a TOA
    /// option, when the TCP header has room for it and the packet stays
    /// within the MTU; on the SYN the MSS is lowered by the option's size
    /// too. A packet without room goes on without it (counted).
    fn insert_toa<F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        key: &ConnKey,
        tcp_flags: u8,
        mtu: u16,
    ) {
        let ip = &frame.bytes()[l3..];
        let total = usize::from(Ipv4Packet::new_unchecked(ip).total_len());
        if !nat::toa_fits(ip) || total + nat::TOA_LEN > usize::from(mtu) {
            self.stats.count(Counter::ToaNoRoom);
            return;
        }
        if !frame.set_len(l3 + total + nat::TOA_LEN) {
            self.stats.count(Counter::ToaNoRoom);
            return;
        }
        let syn = tcp_flags & tcp::flags::SYN != 0;
        nat::insert_toa(
            &mut frame.bytes_mut()[l3..],
            Ipv4Addr::from(key.caddr),
            key.cport,
            syn,
        );
        self.stats.count(Counter::ToaInserted);
    }

    /// FullNAT with PROXY protocol v2, a client segment (`proxy.rs`): the
    /// first data segment gets the header in front of its payload, later
    /// ones are moved along the stream by its length. False (counted) when
    /// the first one has no room for the header: it must not go without
    /// (the later ones would leave a gap), so it is dropped and the client
    /// sends it again.
    fn proxy_client_segment<F: Frame, A: Family>(
        &mut self,
        frame: &mut F,
        l3: usize,
        key: &ConnKey<A>,
        isn: u32,
        mtu: u16,
    ) -> bool {
        let n = proxy::header_len(A::IPV6);
        let ip = &frame.bytes()[l3..];
        let l4 = if A::IPV6 {
            40
        } else {
            usize::from(ip[0] & 0x0f) * 4
        };
        let seq = u32::from_be_bytes([ip[l4 + 4], ip[l4 + 5], ip[l4 + 6], ip[l4 + 7]]);
        let first = isn.wrapping_add(1);
        if seq == first && proxy::payload_len(ip) > 0 {
            let total = if A::IPV6 {
                40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]))
            } else {
                usize::from(u16::from_be_bytes([ip[2], ip[3]]))
            };
            if total + n > usize::from(mtu) || !frame.set_len(l3 + total + n) {
                self.stats.count(Counter::ProxyNoRoom);
                return false;
            }
            let mut header = [0u8; proxy::HEADER_LEN_MAX];
            let len = proxy::write_header(
                &mut header,
                (key.caddr.to_ip(), key.cport),
                (key.vaddr.to_ip(), key.vport),
            );
            proxy::insert_header(&mut frame.bytes_mut()[l3..], &header[..len]);
            self.stats.count(Counter::ProxyHeaderInserted);
        } else if proxy::seq_after(seq, first) {
            proxy::add_seq(&mut frame.bytes_mut()[l3..], n as u32);
        }
        true
    }

    /// FullNAT with PROXY protocol v2, a real server's segment: its
    /// acknowledgements come back by the header's length, and its SYN-ACK's
    /// MSS is lowered by it.
    fn proxy_server_segment<A: Family>(b: &mut [u8], tcp_flags: u8, isn: u32) {
        let n = proxy::header_len(A::IPV6);
        proxy::sub_ack(b, isn.wrapping_add(1), n as u32);
        if tcp_flags & tcp::flags::SYN != 0 {
            proxy::lower_mss(b, n as u16);
        }
    }

    /// TUN: put an outer IPv4 header in front of the client's packet (which
    /// stays as it is), from the director's address on the dest's segment to
    /// the real server: IP-in-IP, or UDP to the dest's port plus a GUE
    /// header. The outer header copies the inner TOS, TTL and DF. A packet
    /// the encapsulation makes too big for the port's MTU is dropped; with
    /// DF the client gets "fragmentation needed" with the MTU left for it
    /// (`spec/conn.md` §11).
    fn encapsulate<F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        dest: &Dest,
        key: &ConnKey,
        reply_port: Option<u16>,
    ) -> Result<(), Verdict> {
        let Some(out) = snap.ports.get(usize::from(dest.port_id)).copied() else {
            return Err(self.count(Counter::DropNeighUnresolved));
        };
        let gue = dest.tunnel.kind == TunnelKind::Gue;
        let overhead = ipv4::HEADER_LEN_MIN
            + if gue {
                udp::HEADER_LEN + GUE_HEADER_LEN
            } else {
                0
            };
        let ip = Ipv4Packet::new_unchecked(&frame.bytes()[l3..]);
        let inner_len = usize::from(ip.total_len());
        let (tos, ttl, df) = (ip.tos(), ip.ttl(), ip.dont_frag());
        let mtu = usize::from(out.mtu);
        if inner_len + overhead > mtu {
            let room = mtu.saturating_sub(overhead);
            if let Some(p) = reply_port.filter(|_| df && room >= usize::from(MTU_MIN)) {
                let mac = snap.ports[usize::from(p)].mac;
                self.stats.count(Counter::DropTunnelTooBig);
                self.stats.count(Counter::IcmpFragNeededSent);
                let rest = [0, 0, (room >> 8) as u8, room as u8];
                return Err(self.reply_icmp_error(
                    frame,
                    l3,
                    mac,
                    icmp::unreach::FRAG_NEEDED,
                    rest,
                ));
            }
            return Err(self.count(Counter::DropTunnelTooBig));
        }
        // Drop any Ethernet padding, then make room in front.
        if !frame.set_len(l3 + inner_len) || !frame.prepend(overhead) {
            return Err(self.count(Counter::DropNoMbuf));
        }
        self.tunnel_ident = self.tunnel_ident.wrapping_add(1);
        let b = frame.bytes_mut();
        // The Ethernet header moves back to the front; the outer headers go
        // between it and the client's packet.
        b.copy_within(overhead..overhead + l3, 0);
        Ipv4Repr {
            src: out.addr,
            dst: dest.addr4(),
            protocol: if gue { protocol::UDP } else { protocol::IPIP },
            payload_len: overhead - ipv4::HEADER_LEN_MIN + inner_len,
            ttl,
            tos,
            ident: if df { 0 } else { self.tunnel_ident },
            dont_frag: df,
        }
        .emit(&mut b[l3..]);
        if gue {
            let u = l3 + ipv4::HEADER_LEN_MIN;
            let udp_len = udp::HEADER_LEN + GUE_HEADER_LEN + inner_len;
            // A source port from the flow, so ECMP and RSS at the real
            // server spread flows as they would spread the clients.
            let sport = 49152 | (self.owner_hasher.hash_one(key) as u16 & 0x3fff);
            let pseudo = (dest.tunnel.csum == TunnelCsum::Csum).then(|| {
                checksum::pseudo_v4(
                    out.addr.octets(),
                    dest.addr4().octets(),
                    protocol::UDP,
                    udp_len as u16,
                )
            });
            write_gue(
                &mut b[u..u + udp_len],
                sport,
                dest.tunnel.port,
                protocol::IPIP,
                pseudo,
            );
        }
        Ok(())
    }

    /// A packet from a NAT real server to an address that is not a VIP. The
    /// reply of one of this director's NAT connections (or an ICMP error
    /// about one) is rewritten to come from the VIP and sent to the client
    /// the way its packets came; anything else is the kernel's (the real
    /// server answering the director itself, e.g. a health check).
    fn handle_reply<F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        now_ms: u64,
        handed_off: bool,
        fullnat: bool,
    ) -> Verdict {
        let ip = Ipv4Packet::new_unchecked(&frame.bytes()[l3..]);
        if !ip.verify_checksum() {
            return self.count(Counter::DropIpv4BadChecksum);
        }
        if ip.is_fragment() {
            return self.exception();
        }
        let hl = ip.header_len();
        let l3_len = ip.total_len();
        let l4 = l3 + hl;
        let l4_end = l3 + usize::from(l3_len);
        let proto = ip.protocol();
        let (src, dst) = (u32::from(ip.src()), u32::from(ip.dst()));
        // The reply's tuple and, for an ICMP error, where its quote starts.
        let (key, tcp_flags, quote_at) = match proto {
            protocol::TCP => match TcpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
                Ok(t) => (
                    ReplyKey {
                        raddr: src,
                        laddr: dst,
                        rport: t.src_port(),
                        lport: t.dst_port(),
                        protocol: proto,
                    },
                    t.flags(),
                    None,
                ),
                Err(m) => return self.count(m.into()),
            },
            protocol::UDP => match UdpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
                Ok(u) => (
                    ReplyKey {
                        raddr: src,
                        laddr: dst,
                        rport: u.src_port(),
                        lport: u.dst_port(),
                        protocol: proto,
                    },
                    0,
                    None,
                ),
                Err(m) => return self.count(m.into()),
            },
            protocol::ICMP => match quoted_tuple(&frame.bytes()[l4..l4_end]) {
                // The quote is of a packet toward the real server.
                Ok(Some(q)) => (
                    ReplyKey {
                        raddr: q.dst,
                        laddr: q.src,
                        rport: q.dport,
                        lport: q.sport,
                        protocol: q.protocol,
                    },
                    0,
                    Some(hl + icmp::HEADER_LEN),
                ),
                Ok(None) => return self.exception(),
                Err(c) => return self.count(c),
            },
            _ => return self.exception(),
        };
        let (ci, c, ext, out_mac) =
            match self.reply_conn::<u32>(snap, &key, fullnat, handed_off, now_ms) {
                Ok(found) => found,
                Err(v) => return v,
            };
        self.finish_reply::<u32, F>(
            snap,
            frame,
            l3,
            (ci, &c, &ext, out_mac),
            (proto, tcp_flags, quote_at),
            u64::from(l3_len),
            now_ms,
        )
    }

    /// The connection of a reply (`key`), on its owner core: the frame is
    /// handed over when this is not the owner (FullNAT's is the local
    /// port's, NAT's the client's, by address and port or, for a
    /// persistent service, by network); a reply that matches no live
    /// connection is the kernel's. Returns (entry index, entry, its
    /// companion, the MAC to send from).
    #[allow(clippy::type_complexity)]
    fn reply_conn<A: Tables>(
        &mut self,
        snap: &Snapshot,
        key: &ReplyKey<A>,
        fullnat: bool,
        handed_off: bool,
        now_ms: u64,
    ) -> Result<(usize, Conn<A>, ConnExt<A>, MacAddr), Verdict> {
        if !handed_off {
            let owner = if fullnat {
                // Each core hands out its own slice of local ports.
                laddr::owner_of_port(key.lport, self.workers)
            } else {
                match snap.nat_persist_mask(key.raddr.to_ip(), key.rport) {
                    Some(mask) => {
                        owner_of(&self.owner_hasher, key.laddr.masked(mask), 0, self.workers)
                    }
                    None => owner_of(&self.owner_hasher, key.laddr, key.lport, self.workers),
                }
            };
            if owner != self.id {
                self.stats.count(Counter::HandedOff);
                return Err(Verdict::Handoff(owner));
            }
        }
        let Some(conn_key) = A::replies(self)
            .find(key)
            .map(|r| A::replies(self).get(r).conn)
        else {
            return Err(self.exception());
        };
        let Some(ci) = A::conns(self).find(&conn_key) else {
            return Err(self.exception());
        };
        let c = *A::conns(self).get(ci);
        let ext = *A::conns(self).ext(ci);
        if c.expires_ms <= now_ms {
            return Err(self.exception());
        }
        let Some(out_mac) = snap.ports.get(usize::from(ext.in_port)).map(|p| p.mac) else {
            return Err(self.count(Counter::DropNotForUs));
        };
        Ok((ci, c, ext, out_mac))
    }

    /// A translated reply of `c`, `l3_len` bytes: the service's and the
    /// dest's out counters, and the verdict's.
    fn count_reply<A: Family>(&self, c: &Conn<A>, l3_len: u64) {
        for slot in [c.service_slot, c.dest_slot] {
            if let Some(s) = self.stats.slots.get(slot as usize) {
                bump(&s.out_pkts, 1);
                bump(&s.out_bytes, l3_len);
            }
        }
        self.stats.count(if c.forward == Forward::FullNat as u8 {
            Counter::ForwardFullNatReply
        } else {
            Counter::ForwardNatReply
        });
    }

    /// The rest of a reply of `c` (entry `ci`, sent from `out_mac`): a
    /// segment runs the OUTPUT table (and FullNAT's PROXY header is
    /// accounted for), then the packet is put in the client's view and sent
    /// back the way the client's packets came.
    #[allow(clippy::too_many_arguments)]
    fn finish_reply<A: Wire, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        (ci, c, ext, out_mac): (usize, &Conn<A>, &ConnExt<A>, MacAddr),
        (proto, tcp_flags, quote_at): (u8, u8, Option<usize>),
        l3_len: u64,
        now_ms: u64,
    ) -> Verdict {
        if quote_at.is_none() {
            self.advance::<A>(snap, ci, Direction::Output, tcp_flags, now_ms);
        }
        let b = &mut frame.bytes_mut()[l3..];
        if quote_at.is_none()
            && c.forward == Forward::FullNat as u8
            && ext.pp2
            && proto == protocol::TCP
        {
            Self::proxy_server_segment::<A>(b, tcp_flags, ext.isn);
        }
        to_client_view(b, c, quote_at);
        if quote_at.is_some() {
            self.stats.count(Counter::IcmpErrorForwarded);
        } else {
            self.count_reply(c, l3_len);
        }
        Self::to_client(frame, ext.peer_mac, out_mac, ext.in_port)
    }

    /// A client's ICMP error about connection `c` (key `key`), on to its
    /// real server: translated for NAT and FullNAT, encapsulated for TUN,
    /// with new MACs for DR.
    #[allow(clippy::too_many_arguments)]
    fn forward_error<A: Wire, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        quote_at: usize,
        (key, c, ext): (&ConnKey<A>, &Conn<A>, &ConnExt<A>),
        dest: &Dest,
        macs: (MacAddr, MacAddr),
    ) -> Verdict {
        if sees_replies(c.forward) {
            let raddr = A::from_ip(dest.addr).unwrap_or_default();
            error_to_server_view(&mut frame.bytes_mut()[l3..], c, ext, raddr, quote_at);
        } else if c.forward == Forward::Tunnel as u8 {
            // No ICMP error is ever sent about an ICMP error.
            if let Err(v) = A::encapsulate(self, snap, frame, l3, dest, key, None) {
                return v;
            }
        }
        self.error_to_dest(frame, dest, macs)
    }

    /// Send a translated reply back the way the client's packets came.
    fn to_client<F: Frame>(
        frame: &mut F,
        peer_mac: MacAddr,
        out_mac: MacAddr,
        port: u16,
    ) -> Verdict {
        let mut eth = EthernetFrame::new_unchecked(frame.bytes_mut());
        eth.set_dst(peer_mac);
        eth.set_src(out_mac);
        Verdict::Forward(port)
    }

    /// ICMP to a VIP: echo is answered here (the VIP is ours); an error
    /// quoting a connection's packet is forwarded along that connection
    /// (`spec/conn.md` §10); anything else goes to the local stack.
    fn handle_icmp<F: Frame>(
        &mut self,
        snap: &Snapshot,
        mac: MacAddr,
        frame: &mut F,
        l3: usize,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict {
        let ip = Ipv4Packet::new_unchecked(&frame.bytes()[l3..]);
        let hl = ip.header_len();
        let l3_len = ip.total_len();
        let l4 = l3 + hl;
        let l4_end = l3 + usize::from(l3_len);
        let (kind, is_error) = match IcmpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
            Ok(i) => (i.kind(), i.is_error()),
            Err(m) => return self.count(m.into()),
        };
        if kind == icmp::kind::ECHO_REQUEST {
            // A VIP answers pings; an address a classifier prefix covers is
            // not ours to answer for.
            if !snap.answers_arp_for(IpAddr::V4(ip.dst())) {
                return self.exception();
            }
            return self.reply_echo(frame, l3, mac);
        }
        if !is_error {
            // Not ours to handle: the local stack's, as in IPVS.
            return self.exception();
        }
        // The quoted packet went from the VIP to the client.
        let q = match quoted_tuple(&frame.bytes()[l4..l4_end]) {
            Ok(Some(q)) => q,
            Ok(None) => return self.exception(),
            Err(c) => return self.count(c),
        };
        let (key, c, ext, dest, macs) = match self.error_conn::<u32>(snap, &q, handed_off, now_ms) {
            Ok(found) => found,
            Err(v) => return v,
        };
        let quote_at = hl + icmp::HEADER_LEN;
        self.forward_error::<u32, F>(snap, frame, l3, quote_at, (&key, &c, &ext), &dest, macs)
    }

    /// The connection an ICMP error from a client is about (it quotes a
    /// packet of ours, VIP -> client), on its owner core: (its key, entry,
    /// companion, dest, and the dest's and the output port's MACs). About
    /// no service or connection of ours it is the local stack's, as in IPVS.
    #[allow(clippy::type_complexity)]
    fn error_conn<A: Tables>(
        &mut self,
        snap: &Snapshot,
        q: &Quoted<A>,
        handed_off: bool,
        now_ms: u64,
    ) -> Result<(ConnKey<A>, Conn<A>, ConnExt<A>, Dest, (MacAddr, MacAddr)), Verdict> {
        let key = ConnKey {
            caddr: q.dst,
            vaddr: q.src,
            cport: q.dport,
            vport: q.sport,
            protocol: q.protocol,
            template: false,
        };
        let Some(service) = snap.lookup(q.protocol, q.dst.to_ip(), q.src.to_ip(), q.sport) else {
            return Err(self.exception());
        };
        if !handed_off {
            let owner = flow_owner(
                &self.owner_hasher,
                service,
                key.caddr,
                key.cport,
                self.workers,
            );
            if owner != self.id {
                self.stats.count(Counter::HandedOff);
                return Err(Verdict::Handoff(owner));
            }
        }
        let Some(idx) = A::conns(self).find(&key) else {
            return Err(self.exception());
        };
        let c = *A::conns(self).get(idx);
        let ext = *A::conns(self).ext(idx);
        let dest = match snap.dest(c.dest_slot) {
            Some(d) if c.expires_ms > now_ms => *d,
            _ => return Err(self.count(Counter::DropDestUnavailable)),
        };
        let Some(dest_mac) = self.neigh.get(c.neigh_slot) else {
            return Err(self.count(Counter::DropNeighUnresolved));
        };
        let Some(out_mac) = snap.ports.get(usize::from(dest.port_id)).map(|p| p.mac) else {
            return Err(self.count(Counter::DropNeighUnresolved));
        };
        Ok((key, c, ext, dest, (dest_mac, out_mac)))
    }

    /// Send a client's ICMP error on to the connection's real server.
    fn error_to_dest<F: Frame>(
        &self,
        frame: &mut F,
        dest: &Dest,
        macs: (MacAddr, MacAddr),
    ) -> Verdict {
        let mut eth = EthernetFrame::new_unchecked(frame.bytes_mut());
        eth.set_dst(macs.0);
        eth.set_src(macs.1);
        self.stats.count(Counter::IcmpErrorForwarded);
        Verdict::Forward(dest.port_id)
    }

    /// Turn an echo request into its reply, in place.
    fn reply_echo<F: Frame>(&mut self, frame: &mut F, l3: usize, mac: MacAddr) -> Verdict {
        let b = frame.bytes_mut();
        let mut eth = EthernetFrame::new_unchecked(&mut *b);
        let peer = eth.src();
        eth.set_dst(peer);
        eth.set_src(mac);
        let mut ip = Ipv4Packet::new_unchecked(&mut b[l3..]);
        let (src, dst) = (ip.src(), ip.dst());
        ip.set_src(dst);
        ip.set_dst(src);
        ip.set_ttl(64);
        ip.fill_checksum();
        let mut icmp = IcmpPacket::new_unchecked(ip.payload_mut());
        let old = u16::from_be_bytes([icmp::kind::ECHO_REQUEST, icmp.code()]);
        icmp.set_kind(icmp::kind::ECHO_REPLY);
        let new = u16::from_be_bytes([icmp::kind::ECHO_REPLY, icmp.code()]);
        let c = checksum::update_u16(icmp.checksum(), old, new);
        icmp.set_checksum(c);
        self.stats.count(Counter::IcmpEchoReplied);
        Verdict::Reply
    }

    /// No dest for a new connection: ICMP port unreachable to the client,
    /// from the VIP (`spec/schedulers.md` §0.6).
    fn reply_port_unreachable<F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        mac: MacAddr,
    ) -> Verdict {
        self.stats.count(Counter::IcmpUnreachableSent);
        self.reply_icmp_error(frame, l3, mac, icmp::unreach::PORT, [0; 4])
    }

    /// Turn the client's packet into an ICMP "destination unreachable" of
    /// `code` back to it, from the address it was sent to, quoting its IP
    /// header and 8 bytes; `rest` is the header's last 4 bytes (the next-hop
    /// MTU of "fragmentation needed"). Built in place.
    fn reply_icmp_error<F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        mac: MacAddr,
        code: u8,
        rest: [u8; 4],
    ) -> Verdict {
        const QUOTE_MAX: usize = 60 + 8;
        let b = frame.bytes();
        let ip = Ipv4Packet::new_unchecked(&b[l3..]);
        let quote_len = (ip.header_len() + 8).min(usize::from(ip.total_len()));
        let (client, vip) = (ip.src(), ip.dst());
        let mut quote = [0u8; QUOTE_MAX];
        quote[..quote_len].copy_from_slice(&b[l3..l3 + quote_len]);
        let new_len = l3 + ipv4::HEADER_LEN_MIN + icmp::HEADER_LEN + quote_len;
        if !frame.set_len(new_len) {
            return self.count(Counter::DropNoMbuf);
        }
        let b = frame.bytes_mut();
        let mut eth = EthernetFrame::new_unchecked(&mut *b);
        let peer = eth.src();
        eth.set_dst(peer);
        eth.set_src(mac);
        Ipv4Repr {
            src: vip,
            dst: client,
            protocol: protocol::ICMP,
            payload_len: icmp::HEADER_LEN + quote_len,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: false,
        }
        .emit(&mut b[l3..]);
        let at = l3 + ipv4::HEADER_LEN_MIN;
        let mut icmp = IcmpPacket::new_unchecked(&mut b[at..new_len]);
        icmp.set_kind(icmp::kind::DEST_UNREACHABLE);
        icmp.set_code(code);
        icmp.set_rest(rest);
        b[at + icmp::HEADER_LEN..new_len].copy_from_slice(&quote[..quote_len]);
        IcmpPacket::new_unchecked(&mut b[at..new_len]).fill_checksum();
        Verdict::Reply
    }
}
