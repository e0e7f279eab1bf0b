//! Per-core connection tables (`spec/conn.md` §1).
//!
//! Contract: a [`ConnTable`] belongs to one worker core and is never shared,
//! so it has no locks. Its capacity is fixed when it is made (the slot array
//! is allocated once, at start-up); [`Table::insert`] on a full table
//! returns [`Full`] and the caller decides (the pipeline still forwards the
//! flow statelessly and counts it). Entries expire lazily: lookups report an
//! expired entry as such, and [`ConnTable::next_expired`] walks a bounded
//! number of slots per call so expiry never stalls a worker.
//!
//! The table ([`Table`], `table.rs`) keeps the entries in a dense array of
//! `max` slots and indexes them with one-cache-line buckets of short hash
//! tags at up to 83 % load (decision 0043): a miss reads one line, a hit
//! two, and an entry never moves until it is removed.

pub mod defense;
pub mod sctp;
pub mod state;
mod table;

pub use table::{Backing, Full, Pages, Probe, Slot, Table, LOAD_PER_BUCKET};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use state::State;

/// The address of a connection key's family: IPv4 as a `u32`, IPv6 as a
/// `u128` (both in host order, from the address's network-order bytes).
/// Each worker has one table per family, so an IPv4 entry stays small.
pub trait Family:
    Copy + Eq + std::hash::Hash + Default + std::fmt::Debug + Send + Sync + 'static
{
    const IPV6: bool;
    fn to_ip(self) -> IpAddr;
    fn from_ip(ip: IpAddr) -> Option<Self>;
    /// The client network of a persistence template: IPv4 masks with a
    /// netmask (host order), IPv6 with a prefix length (`-M`).
    fn masked(self, mask: u32) -> Self;
    /// A firewall mark as a template's virtual address (`spec/conn.md` §6.1).
    fn from_mark(mark: u32) -> Self;
    /// Feeds two addresses to `h` in as few words as they fit: the table
    /// keys hash on every lookup, and each word written costs a round.
    fn hash_pair<H: std::hash::Hasher>(a: Self, b: Self, h: &mut H);
}

impl Family for u32 {
    const IPV6: bool = false;

    #[inline]
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self))
    }

    #[inline]
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V4(a) => Some(u32::from(a)),
            IpAddr::V6(_) => None,
        }
    }

    #[inline]
    fn masked(self, mask: u32) -> Self {
        self & mask
    }

    #[inline]
    fn from_mark(mark: u32) -> Self {
        mark
    }

    #[inline]
    fn hash_pair<H: std::hash::Hasher>(a: Self, b: Self, h: &mut H) {
        h.write_u64(u64::from(a) << 32 | u64::from(b));
    }
}

impl Family for u128 {
    const IPV6: bool = true;

    #[inline]
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self))
    }

    #[inline]
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V6(a) => Some(u128::from(a)),
            IpAddr::V4(_) => None,
        }
    }

    #[inline]
    fn masked(self, prefix_len: u32) -> Self {
        match prefix_len {
            0 => 0,
            1..=127 => self & (u128::MAX << (128 - prefix_len)),
            _ => self,
        }
    }

    #[inline]
    fn from_mark(mark: u32) -> Self {
        u128::from(mark)
    }

    #[inline]
    fn hash_pair<H: std::hash::Hasher>(a: Self, b: Self, h: &mut H) {
        h.write_u128(a);
        h.write_u128(b);
    }
}

/// What identifies a connection: IPVS's inbound lookup key. A persistence
/// template has `template == true` (IPVS's TEMPLATE flag is part of its
/// lookup too): its key is (protocol or 0 for fwmark, client network, 0,
/// VIP or the mark, service port or 0), `spec/conn.md` §6.1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnKey<A = u32> {
    pub caddr: A,
    pub vaddr: A,
    pub cport: u16,
    pub vport: u16,
    pub protocol: u8,
    pub template: bool,
}

/// Every field, packed: two words for IPv4 (the derived impl writes six).
impl<A: Family> std::hash::Hash for ConnKey<A> {
    #[inline(always)]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        A::hash_pair(self.caddr, self.vaddr, h);
        h.write_u64(
            u64::from(self.cport) << 32
                | u64::from(self.vport) << 16
                | u64::from(self.protocol) << 8
                | u64::from(self.template),
        );
    }
}

/// [`Conn::flags`] bits.
pub mod flags {
    /// A connection made through a persistence template; the template's
    /// key follows from the entry's fields (see [`super::Conn::template_key`]).
    pub const CONTROLLED: u8 = 0x01;
    /// The controlling template has port 0 (port-0 and fwmark services,
    /// and port 21).
    pub const TEMPLATE_PORTLESS: u8 = 0x02;
    /// FullNAT between address families: the real server and the local
    /// address are of the other family (`daddr` and the companion's
    /// `laddr` unused: the dest's and the local address's slots say them),
    /// the reply indexed in the other family's cross index (decision 42).
    pub const XFAM: u8 = 0x04;
    /// Made by the SYN proxy: its companion says where the handshake with
    /// the real server is and the sequence numbers' shift.
    pub const SYNPROXY: u8 = 0x08;
}

/// One connection entry. `expires_ms == 0` marks an empty slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conn<A = u32> {
    pub key: ConnKey<A>,
    /// The real server.
    pub daddr: A,
    pub dport: u16,
    pub(crate) state: u8,
    /// The forwarding method, fixed at creation (`rvs_api::Forward` as u8).
    pub forward: u8,
    /// Stats slot of the dest (also how its availability is checked).
    pub dest_slot: u32,
    /// Stats slot of the service.
    pub service_slot: u32,
    /// Neighbour slot of the real server's next hop.
    pub neigh_slot: u32,
    /// The firewall mark of the service that made it (0: an address service).
    pub fwmark: u32,
    /// Templates: how many live connections they control (IPVS's
    /// `n_control`). Controlled connections: the persistence mask (an IPv4
    /// netmask in host order, an IPv6 prefix length), to find their
    /// template again.
    pub control: u32,
    /// Templates: the timeout the next connection re-arms them with, in
    /// seconds (the persistence timeout, then 60 once they outlived it).
    pub timeout_s: u32,
    /// [`flags`] bits.
    pub flags: u8,
    /// Packets from the client so far (IPVS's `in_pkts`): when a sync
    /// master sends the entry ([`crate::sync::needs_sync`]).
    pub in_pkts: u32,
    /// The state the entry was last sent (or received) by a sync daemon in
    /// (the kernel's `old_state`; `State::None` as u8 at creation).
    pub synced_state: u8,
    /// When the entry dies, in the worker's milliseconds; 0 = empty slot.
    pub expires_ms: u64,
}

// The DR entry budget of the design (issue 8 target: <= 64 bytes for IPv4).
const _: () = assert!(std::mem::size_of::<Conn<u32>>() <= 64);
// The companion with decision 42's `xaddr` and decision 40's SYN-proxy
// shift (`bench/RESULTS.md`'s sizes).
const _: () = assert!(std::mem::size_of::<ConnExt<u32>>() == 44);
const _: () = assert!(std::mem::size_of::<ConnExt<u128>>() == 64);

impl<A: Family> Conn<A> {
    /// An entry in `state`, other fields default (fill them in).
    pub fn new(state: State) -> Self {
        Conn {
            state: state as u8,
            ..Conn::default()
        }
    }

    pub fn state(&self) -> State {
        State::from_u8(self.state)
    }

    pub fn set_state(&mut self, s: State) {
        self.state = s as u8;
    }

    fn is_empty(&self) -> bool {
        self.expires_ms == 0
    }

    pub fn is_template(&self) -> bool {
        self.key.template
    }

    /// The key of the template controlling this connection, if any.
    pub fn template_key(&self) -> Option<ConnKey<A>> {
        if self.flags & flags::CONTROLLED == 0 {
            return None;
        }
        let portless = self.flags & flags::TEMPLATE_PORTLESS != 0;
        Some(ConnKey {
            caddr: self.key.caddr.masked(self.control),
            vaddr: if self.fwmark != 0 {
                A::from_mark(self.fwmark)
            } else {
                self.key.vaddr
            },
            cport: 0,
            vport: if portless { 0 } else { self.key.vport },
            protocol: if self.fwmark != 0 {
                0
            } else {
                self.key.protocol
            },
            template: true,
        })
    }
}

impl<A: Family> Slot for Conn<A> {
    type Key = ConnKey<A>;

    #[inline]
    fn key(&self) -> &ConnKey<A> {
        &self.key
    }

    #[inline]
    fn is_empty(&self) -> bool {
        Conn::is_empty(self)
    }
}

/// What a NAT or FullNAT connection keeps beside its [`Conn`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnExt<A = u32> {
    /// The MAC the client's packets came from (the client, or the router in
    /// front of the director): where the rewritten replies go.
    pub peer_mac: crate::wire::ethernet::MacAddr,
    /// The dataplane port the client's packets came in on.
    pub in_port: u16,
    /// FullNAT: the local address and port the real server sees as the
    /// client; NAT: 0.
    pub laddr: A,
    pub lport: u16,
    /// FullNAT: the local address's slot (its port pool).
    pub laddr_slot: u16,
    /// FullNAT with PROXY protocol v2 (TCP): the header is in the stream,
    /// after the client's ISN.
    pub pp2: bool,
    pub isn: u32,
    /// FullNAT between families (`flags::XFAM`): the real server's address
    /// of the other family (an IPv4 one in the last 4 bytes), which
    /// `Conn::daddr` cannot hold; its local address is its slot's.
    pub xaddr: [u8; 16],
    /// The SYN proxy (`pipeline/synproxy.rs`): 0 none, 1 waiting for the
    /// real server's SYN-ACK (`sp_seq` is the cookie, the client's view of
    /// the server's ISN), 2 shifting (`sp_seq` is the cookie minus the
    /// real server's ISN: added to its sequence numbers, taken from the
    /// client's acknowledgements).
    pub sp: u8,
    pub sp_seq: u32,
}

/// A real server's reply as the director sees it: from (`raddr`, `rport`)
/// to (`laddr`, `lport`), the client for NAT, the local address for
/// FullNAT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyKey<A = u32> {
    pub raddr: A,
    pub laddr: A,
    pub rport: u16,
    pub lport: u16,
    /// TCP or UDP; 0 marks an empty slot.
    pub protocol: u8,
}

/// Packed as [`ConnKey`]'s.
impl<A: Family> std::hash::Hash for ReplyKey<A> {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        A::hash_pair(self.raddr, self.laddr, h);
        h.write_u64(
            u64::from(self.rport) << 32 | u64::from(self.lport) << 16 | u64::from(self.protocol),
        );
    }
}

/// A reply index entry: the connection a reply belongs to, by its index
/// in the connection table. An entry never moves while it lives (decision
/// 43) and its reply index entry goes with it, so a reply reaches its
/// connection with no second hash and no second bucket (decision 47).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyEntry<A = u32> {
    pub key: ReplyKey<A>,
    pub conn: u32,
}

// 20 bytes: with the entry (64) and its companion (44) an IPv4 FullNAT
// connection is 128 bytes, the design's budget.
const _: () = assert!(std::mem::size_of::<ReplyEntry<u32>>() == 20);

impl<A: Family> Slot for ReplyEntry<A> {
    type Key = ReplyKey<A>;

    #[inline]
    fn key(&self) -> &ReplyKey<A> {
        &self.key
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.key.protocol == 0
    }
}

/// The index from a reply to its connection (NAT and FullNAT entries only).
pub type ReplyTable<A = u32> = Table<ReplyEntry<A>>;

/// A cross index entry: a reply in family `B` to a FullNAT connection whose
/// client is of family `A` (decision 42).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XReplyEntry<B, A> {
    pub key: ReplyKey<B>,
    pub conn: ConnKey<A>,
}

impl<B: Family, A: Family> Slot for XReplyEntry<B, A> {
    type Key = ReplyKey<B>;

    #[inline]
    fn key(&self) -> &ReplyKey<B> {
        &self.key
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.key.protocol == 0
    }
}

/// The index from a reply in family `B` to its connection of family `A`.
pub type XReplyTable<B, A> = Table<XReplyEntry<B, A>>;

/// A fixed-capacity, single-owner connection table, with the sweep cursor
/// of its lazy expiry.
pub struct ConnTable<A: Family = u32> {
    table: Table<Conn<A>, ConnExt<A>>,
    sweep_cursor: usize,
}

impl<A: Family> std::ops::Deref for ConnTable<A> {
    type Target = Table<Conn<A>, ConnExt<A>>;

    fn deref(&self) -> &Self::Target {
        &self.table
    }
}

impl<A: Family> std::ops::DerefMut for ConnTable<A> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.table
    }
}

impl<A: Family> ConnTable<A> {
    /// A table for up to `max` entries (at least 1).
    pub fn with_max(max: usize) -> Self {
        ConnTable {
            table: Table::with_max(max),
            sweep_cursor: 0,
        }
    }

    /// Walk on from where the last sweep stopped, examining at most
    /// `*budget` slots (the budget is decreased), and return the index of
    /// the next entry that expired by `now_ms`; the cursor stays on it. The
    /// caller removes it or re-arms it (a template that still controls
    /// connections), then calls again: a removal leaves the slot empty (no
    /// entry moves), so the next call steps past it.
    pub fn next_expired(&mut self, now_ms: u64, budget: &mut usize) -> Option<usize> {
        let n = self.table.slots_len();
        while *budget > 0 {
            let i = self.sweep_cursor;
            let c = self.table.get(i);
            if !c.is_empty() && c.expires_ms <= now_ms {
                return Some(i);
            }
            self.sweep_cursor = if i + 1 == n { 0 } else { i + 1 };
            *budget -= 1;
        }
        None
    }

    /// Examine up to `budget` slots from where the last sweep stopped and
    /// remove the entries that expired by `now_ms`, handing each to
    /// `on_expire`. Returns how many were removed. (The pipeline drives
    /// [`ConnTable::next_expired`] itself, to keep templates alive; this is
    /// the plain form the model test checks.)
    #[cfg(test)]
    pub fn sweep(
        &mut self,
        now_ms: u64,
        budget: usize,
        mut on_expire: impl FnMut(&Conn<A>),
    ) -> usize {
        let mut removed = 0;
        let mut budget = budget.min(self.slots_len());
        while let Some(i) = self.next_expired(now_ms, &mut budget) {
            let c = self.remove(i);
            on_expire(&c);
            removed += 1;
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An array big enough for the huge-page path holds what it was given,
    /// cache-line aligned, and drops its values once.
    #[test]
    fn huge_page_arrays_are_ordinary_slices() {
        for n in [0, 3, 1 << 20, (1 << 20) + 7] {
            let v = Pages::new(n, 0xabcd_u64, true);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0xabcd));
            assert!(n == 0 || (v.as_ptr() as usize).is_multiple_of(64));
            let want = if n >= 1 << 20 {
                [Backing::Hugetlb, Backing::Thp]
            } else {
                [Backing::Heap; 2]
            };
            assert!(want.contains(&v.backing()), "{n}: {:?}", v.backing());
            // Huge-page backed arrays start on a 2 MB page of their own.
            if v.backing() != Backing::Heap {
                assert!((v.as_ptr() as usize).is_multiple_of(2 << 20));
            }
        }
        let mut s = Pages::new(600_000, String::from("x"), true);
        s[599_999].push('y');
        assert_eq!(s[599_999], "xy");
        let rc = std::rc::Rc::new(());
        drop(Pages::new(1000, rc.clone(), false));
        assert_eq!(std::rc::Rc::strong_count(&rc), 1);
    }
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The key of test flow `n` (also the table's tests').
    pub(super) fn key(n: u32) -> ConnKey {
        ConnKey {
            caddr: n,
            vaddr: 0xc612_0064,
            cport: (n % 65535) as u16,
            vport: 80,
            protocol: 6,
            template: false,
        }
    }

    fn conn(n: u32, expires_ms: u64) -> Conn {
        Conn {
            key: key(n),
            daddr: n.wrapping_mul(7),
            expires_ms,
            ..Conn::default()
        }
    }

    #[test]
    fn full_table_refuses() {
        let mut t = ConnTable::with_max(4);
        for n in 0..4 {
            t.insert(conn(n, 10)).unwrap();
        }
        assert_eq!(t.insert(conn(9, 10)), Err(Full));
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn sweep_expires_only_the_old() {
        let mut t = ConnTable::with_max(100);
        for n in 0..100 {
            t.insert(conn(n, if n % 2 == 0 { 5 } else { 50 })).unwrap();
        }
        let mut gone = 0;
        t.sweep(10, usize::MAX, |_| gone += 1);
        assert_eq!(gone, 50);
        assert_eq!(t.len(), 50);
        for n in 0..100 {
            assert_eq!(t.find(&key(n)).is_some(), n % 2 == 1, "key {n}");
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32),
        Remove(u32),
        Find(u32),
        Sweep(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..64).prop_map(Op::Insert),
            (0u32..64).prop_map(Op::Remove),
            (0u32..64).prop_map(Op::Find),
            (0u64..40).prop_map(Op::Sweep),
        ]
    }

    /// Operations on a table of `max` entries, keys below `keys`, checked
    /// against a HashMap model and the index's own invariants
    /// ([`Table::check`]) after every step.
    fn against_model(max: usize, ops: &[Op], keys: u32) -> Result<(), TestCaseError> {
        let mut t = ConnTable::with_max(max);
        let mut model: HashMap<ConnKey, (usize, u64)> = HashMap::new();
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::Insert(n) => {
                    let n = n % keys;
                    if model.contains_key(&key(n)) {
                        continue;
                    }
                    let exp = 1 + (step as u64 % 37);
                    match t.insert(conn(n, exp)) {
                        Ok(i) => {
                            prop_assert!(model.len() < max);
                            model.insert(key(n), (i, exp));
                        }
                        Err(Full) => prop_assert_eq!(model.len(), max),
                    }
                }
                Op::Remove(n) => {
                    let k = key(n % keys);
                    match (t.find(&k), model.remove(&k)) {
                        (Some(i), Some((at, exp))) => {
                            prop_assert_eq!(i, at, "an entry moved");
                            prop_assert_eq!(t.remove(i).expires_ms, exp);
                        }
                        (None, None) => {}
                        (a, b) => prop_assert!(false, "find {:?} model {:?}", a, b),
                    }
                }
                Op::Find(n) => {
                    let k = key(n % keys);
                    let found = t.find(&k).map(|i| (i, t.get(i).expires_ms));
                    prop_assert_eq!(found, model.get(&k).copied());
                }
                Op::Sweep(now) => {
                    let mut expired = vec![];
                    t.sweep(now, usize::MAX, |c| expired.push(c.key));
                    for k in &expired {
                        prop_assert!(model.remove(k).is_some_and(|(_, e)| e <= now));
                    }
                    prop_assert!(model.values().all(|&(_, e)| e > now));
                }
            }
            prop_assert_eq!(t.len(), model.len());
            t.check();
        }
        Ok(())
    }

    fn ops(n: u32, len: usize) -> impl Strategy<Value = Vec<Op>> {
        let op = prop_oneof![
            3 => (0..n).prop_map(Op::Insert),
            2 => (0..n).prop_map(Op::Remove),
            2 => (0..n).prop_map(Op::Find),
            1 => (0u64..40).prop_map(Op::Sweep),
        ];
        proptest::collection::vec(op, 1..len)
    }

    /// Filled to the last entry (every bucket at its load limit, many
    /// overflowing), then emptied again: every entry still found, the
    /// overflow counts back to zero.
    #[test]
    fn full_to_the_last_entry_and_back() {
        for max in [1, 9, 10, 11, 120, 1000, 4099] {
            let mut t = ConnTable::with_max(max);
            let at: Vec<usize> = (0..max as u32)
                .map(|n| t.insert(conn(n, 5)).unwrap())
                .collect();
            assert_eq!(t.insert(conn(max as u32, 5)), Err(Full));
            t.check();
            for (n, &i) in at.iter().enumerate() {
                assert_eq!(t.find(&key(n as u32)), Some(i));
            }
            for &i in at.iter().step_by(2) {
                t.remove(i);
            }
            t.check();
            assert_eq!(t.sweep(10, usize::MAX, |_| {}), max / 2);
            assert!(t.is_empty());
            t.check();
        }
    }

    proptest! {
        /// Small tables at and near their load limit: the keys outnumber
        /// the entries, so inserts meet `Full` and buckets overflow.
        #[test]
        fn at_the_load_limit((max, ops) in (1usize..48).prop_flat_map(|m| (Just(m), ops(4 * m as u32 + 4, 400)))) {
            against_model(max, &ops, 4 * max as u32 + 4)?;
        }

        /// A bigger table churned: entries expire and come back.
        #[test]
        fn churned_with_expiry(ops in ops(3000, 3000)) {
            against_model(1000, &ops, 3000)?;
        }

        /// Arbitrary operation sequences against a HashMap model.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec(op(), 1..300)) {
            let mut t = ConnTable::with_max(32);
            let mut model: HashMap<ConnKey, u64> = HashMap::new();
            for (step, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert(n) => {
                        if model.contains_key(&key(n)) { continue; }
                        let exp = 1 + (step as u64 % 37);
                        let r = t.insert(conn(n, exp));
                        if model.len() >= 32 {
                            prop_assert_eq!(r, Err(Full));
                        } else {
                            prop_assert!(r.is_ok());
                            model.insert(key(n), exp);
                        }
                    }
                    Op::Remove(n) => {
                        match (t.find(&key(n)), model.remove(&key(n))) {
                            (Some(i), Some(exp)) => {
                                let c = t.remove(i);
                                prop_assert_eq!(c.expires_ms, exp);
                            }
                            (None, None) => {}
                            (a, b) => prop_assert!(false, "find {:?} model {:?}", a, b),
                        }
                    }
                    Op::Find(n) => {
                        let found = t.find(&key(n)).map(|i| t.get(i).expires_ms);
                        prop_assert_eq!(found, model.get(&key(n)).copied());
                    }
                    Op::Sweep(now) => {
                        let mut expired = vec![];
                        t.sweep(now, usize::MAX, |c| expired.push(c.key));
                        for k in &expired {
                            prop_assert!(model.remove(k).is_some_and(|e| e <= now));
                        }
                        prop_assert!(model.values().all(|&e| e > now));
                    }
                }
                prop_assert_eq!(t.len(), model.len());
            }
        }
    }
}
