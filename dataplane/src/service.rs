//! The configuration generation workers forward with: an immutable
//! [`Snapshot`] of ports, services, dests and their schedulers.
//!
//! Contract: the control thread builds and validates a snapshot, then hands
//! the same `Arc<Snapshot>` to every worker; a worker switches between
//! bursts, so it never sees half an update. Stats slots (services and dests)
//! and neighbour slots are stable across generations: a dest keeps its slot
//! while it exists, so its counters and its connections outlive edits.

#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvs_api::Forward;

use crate::classify::Classifier;
use crate::conn::state::Timeouts;
use crate::sched::{DestView, Scheduler};

mod flat;
use crate::wire::ethernet::MacAddr;
use flat::{addr_key, dest_key, svc_key, FlatMap};

/// One dataplane port, as the pipeline needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub mac: MacAddr,
    /// The director's own address on this segment (it lives on the
    /// exception interface; the pipeline uses it as the ARP source).
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
    /// The director's IPv6 address on this segment, if it has one (the
    /// source of its Neighbour Solicitations and of IPv6 tunnels).
    pub addr6: Option<Ipv6Addr>,
    pub prefix6_len: u8,
    /// The largest IPv4 packet the segment carries (tunnel encapsulation
    /// must fit it).
    pub mtu: u16,
}

/// A dest in a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dest {
    pub addr: IpAddr,
    pub port: u16,
    pub weight: u32,
    pub forward: Forward,
    pub slot: u32,
    pub neigh_slot: u32,
    /// The neighbour `neigh_slot` resolves: the dest itself when directly
    /// connected, else its route's gateway.
    pub next_hop: IpAddr,
    /// The dataplane port the dest is reached through.
    pub port_id: u16,
    /// Connection thresholds (`-x`, `-y`), 0 = none.
    pub u_threshold: u32,
    pub l_threshold: u32,
    /// The encapsulation of a tunnel dest.
    pub tunnel: rvs_api::Tunnel,
}

impl Dest {
    /// The address of a dest of an IPv4 service (the admin state gives a
    /// service dests of its own family only).
    #[inline]
    pub fn addr4(&self) -> Ipv4Addr {
        match self.addr {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => {
                debug_assert!(false, "an IPv6 dest in an IPv4 connection");
                Ipv4Addr::UNSPECIFIED
            }
        }
    }

    /// The address of a dest of an IPv6 service.
    #[inline]
    pub fn addr6(&self) -> Ipv6Addr {
        match self.addr {
            IpAddr::V6(a) => a,
            IpAddr::V4(_) => {
                debug_assert!(false, "an IPv4 dest in an IPv6 connection");
                Ipv6Addr::UNSPECIFIED
            }
        }
    }
}

/// (protocol number, VIP, port): an address service's key.
pub type ServiceAddr = (u8, IpAddr, u16);

/// Persistence settings of a service (`-p`, `-M`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persistence {
    pub timeout_s: u32,
    /// The client-address mask of the template key, host order.
    pub netmask: u32,
}

/// A service in a generation.
#[derive(Debug)]
pub struct Service {
    /// Unique for the dataplane's lifetime (slots are reused, ids are not).
    pub id: u64,
    /// (protocol, VIP, port) of an address service; for a fwmark service
    /// (0, 0.0.0.0, 0).
    pub key: ServiceAddr,
    /// The mark of a fwmark service, 0 for an address service.
    pub fwmark: u32,
    pub slot: u32,
    pub persistence: Option<Persistence>,
    /// One-packet scheduling (`-o`): UDP datagrams are scheduled one by one
    /// and leave no entry.
    pub one_packet: bool,
    /// FullNAT TCP connections carry a PROXY protocol v2 header instead of
    /// TOA.
    pub proxy_protocol: bool,
    /// `--sloppy-tcp`: mid-connection TCP packets without an entry are
    /// adopted whatever the scheduler (decision 45).
    pub sloppy_tcp: bool,
    /// TCP connections are opened by the SYN proxy (`--synproxy`).
    pub synproxy: bool,
    /// The worker's locality cache this service uses (lblc, lblcr).
    pub locality_cache: Option<u16>,
    /// FullNAT: the slots of the service's local addresses, in the order
    /// they were added.
    pub laddrs: Vec<u16>,
    pub scheduler: std::sync::Arc<dyn Scheduler>,
    /// Kernel order: newest first.
    pub dests: Vec<Dest>,
    /// What the scheduler sees, index for index with `dests`.
    pub views: Vec<DestView>,
}

/// An address as a key of the per-packet sets: hashed as one word (the
/// derived `IpAddr` hash writes its variant, a length and the bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ip(IpAddr);

impl Hash for Ip {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self.0 {
            IpAddr::V4(a) => h.write_u32(u32::from(a)),
            IpAddr::V6(a) => h.write_u128(u128::from(a)),
        }
    }
}

/// A [`ServiceAddr`] packed the same way: one word for IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SvcKey(ServiceAddr);

impl Hash for SvcKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        let (protocol, addr, port) = self.0;
        let tail = u64::from(protocol) << 48 | u64::from(port) << 32;
        match addr {
            IpAddr::V4(a) => h.write_u64(tail | u64::from(u32::from(a))),
            IpAddr::V6(a) => {
                h.write_u128(u128::from(a));
                h.write_u64(tail);
            }
        }
    }
}

type IpSet = HashSet<Ip, ahash::RandomState>;

/// What an IPv4 address is to this generation, as bits of [`V4Index`]'s
/// address table.
mod addr_bits {
    pub const VIP: u8 = 1;
    pub const NAT_DEST: u8 = 2;
    pub const LADDR: u8 = 4;
    pub const NEIGHBOUR: u8 = 8;
    pub const RELEASED: u8 = 16;
}

/// The IPv4 half of the sets and maps a packet asks, as direct tables
/// (`service/flat.rs`): what each address is, the address services, and
/// the NAT dests' persistence. Built from the `HashMap`s, which stay the
/// answer for IPv6.
#[derive(Clone, Debug)]
struct V4Index {
    addrs: FlatMap<u8>,
    services: FlatMap<u32>,
    nat_dests: FlatMap<Option<u32>>,
}

impl V4Index {
    fn build(s: &Snapshot) -> Self {
        use addr_bits::*;
        let mut bits: HashMap<u32, u8> = HashMap::new();
        let sets = [
            (&s.vips, VIP),
            (&s.nat_addrs, NAT_DEST),
            (&s.laddrs, LADDR),
            (&s.neighbours, NEIGHBOUR),
            (&s.released, RELEASED),
        ];
        for (set, bit) in sets {
            for ip in set {
                if let IpAddr::V4(a) = ip.0 {
                    *bits.entry(u32::from(a)).or_default() |= bit;
                }
            }
        }
        let services = s.index.iter().filter_map(|(k, &i)| match k.0 {
            (p, IpAddr::V4(a), port) => Some((svc_key(p, u32::from(a), port), i as u32)),
            _ => None,
        });
        let nat_dests = s
            .nat_dests
            .iter()
            .filter_map(|(&(ip, port), &m)| match ip.0 {
                IpAddr::V4(a) => Some((dest_key(u32::from(a), port), m)),
                IpAddr::V6(_) => None,
            });
        V4Index {
            addrs: FlatMap::build(bits.into_iter().map(|(a, b)| (addr_key(a), b))),
            services: FlatMap::build(services),
            nat_dests: FlatMap::build(nat_dests),
        }
    }

    /// Whether IPv4 `addr` has any of `bits`.
    #[inline]
    fn is(&self, addr: Ipv4Addr, bits: u8) -> bool {
        self.addrs
            .get(addr_key(u32::from(addr)))
            .is_some_and(|b| b & bits != 0)
    }
}

/// One configuration generation.
#[derive(Debug)]
pub struct Snapshot {
    pub generation: u64,
    pub timeouts: Timeouts,
    pub ports: Vec<PortInfo>,
    services: Vec<Service>,
    index: HashMap<SvcKey, usize, ahash::RandomState>,
    fwmarks: HashMap<u32, usize, ahash::RandomState>,
    pub classifier: Classifier,
    vips: IpSet,
    /// Addresses this director does not own now (a VRRP backup's VIPs):
    /// ARP and ND for them are not answered.
    released: IpSet,
    /// Next hops of dests: the neighbours whose ARP the control thread wants.
    neighbours: IpSet,
    /// By dest slot: the dest, when it exists in this generation.
    dests_by_slot: Vec<Option<Dest>>,
    /// By service slot: the service's index in `services`.
    services_by_slot: Vec<Option<u32>>,
    /// NAT dests by (address, port): the persistence netmask of their
    /// service, whose connections are owned by the client's network
    /// (`None`: by the client's address and port). A reply finds its owner
    /// core from this.
    nat_dests: HashMap<(Ip, u16), Option<u32>, ahash::RandomState>,
    nat_addrs: IpSet,
    /// FullNAT local addresses by slot, and the set of them.
    pub laddr_slots: Vec<Option<IpAddr>>,
    laddrs: IpSet,
    /// The IPv4 answers of the sets and maps above, rebuilt whenever they
    /// change (`new`, `with_released`).
    v4: V4Index,
    /// A sync master daemon runs: connections are reported.
    pub sync_master: bool,
    /// IPVS's defence strategies (`conn::defense`).
    pub defense: rvs_api::Defense,
}

impl Snapshot {
    /// Build a generation. `slots_max` bounds the slot numbers.
    pub fn new(
        generation: u64,
        timeouts: Timeouts,
        ports: Vec<PortInfo>,
        services: Vec<Service>,
        classifier: Classifier,
        slots_max: usize,
        laddr_slots: Vec<Option<IpAddr>>,
    ) -> Self {
        let mut index = HashMap::with_hasher(ahash::RandomState::new());
        let mut fwmarks = HashMap::with_hasher(ahash::RandomState::new());
        let mut vips = HashSet::with_hasher(ahash::RandomState::new());
        let mut neighbours = HashSet::with_hasher(ahash::RandomState::new());
        let mut dests_by_slot = vec![None; slots_max];
        let mut services_by_slot = vec![None; slots_max];
        let mut nat_dests = HashMap::with_hasher(ahash::RandomState::new());
        let mut nat_addrs = HashSet::with_hasher(ahash::RandomState::new());
        for (i, s) in services.iter().enumerate() {
            assert!((s.slot as usize) < slots_max, "service slot within bounds");
            services_by_slot[s.slot as usize] = Some(i as u32);
            if s.fwmark != 0 {
                fwmarks.insert(s.fwmark, i);
            } else {
                index.insert(SvcKey(s.key), i);
                vips.insert(Ip(s.key.1));
            }
            for d in &s.dests {
                assert!((d.slot as usize) < slots_max, "dest slot within bounds");
                dests_by_slot[d.slot as usize] = Some(*d);
                neighbours.insert(Ip(d.next_hop));
                if d.forward == Forward::Masq {
                    // One real server port in services of different
                    // persistence is ambiguous for a reply's owner: the
                    // first service's rule wins (ARCHITECTURE.md).
                    let mask = s.persistence.map(|p| p.netmask);
                    nat_dests.entry((Ip(d.addr), d.port)).or_insert(mask);
                    // Port-0, fwmark and port-mapped template services keep
                    // the client's port toward the dest: its replies come
                    // from any port.
                    if mask.is_some() {
                        nat_dests.entry((Ip(d.addr), 0)).or_insert(mask);
                    }
                    nat_addrs.insert(Ip(d.addr));
                }
            }
        }
        vips.extend(
            classifier
                .host_addrs(|m| fwmarks.contains_key(&m))
                .map(|a| Ip(IpAddr::V4(a))),
        );
        let mut s = Snapshot {
            generation,
            timeouts,
            ports,
            services,
            index,
            fwmarks,
            classifier,
            vips,
            released: HashSet::with_hasher(ahash::RandomState::new()),
            neighbours,
            dests_by_slot,
            services_by_slot,
            nat_dests,
            nat_addrs,
            laddrs: laddr_slots.iter().flatten().map(|&a| Ip(a)).collect(),
            laddr_slots,
            v4: V4Index {
                addrs: FlatMap::build([]),
                services: FlatMap::build([]),
                nat_dests: FlatMap::build([]),
            },
            sync_master: false,
            defense: rvs_api::Defense::default(),
        };
        s.v4 = V4Index::build(&s);
        s
    }

    /// This generation with `released` not owned (not answered for).
    pub fn with_released(mut self, released: &[IpAddr]) -> Self {
        self.released = released.iter().map(|&a| Ip(a)).collect();
        self.v4 = V4Index::build(&self);
        self
    }

    /// This generation with the sync master on or off: workers report
    /// their connections to the control thread ([`crate::sync`]).
    pub fn with_sync_master(mut self, on: bool) -> Self {
        self.sync_master = on;
        self
    }

    pub fn with_defense(mut self, d: rvs_api::Defense) -> Self {
        self.defense = d;
        self
    }

    /// The fwmark service of `mark`.
    #[inline]
    pub fn fwmark_service(&self, mark: u32) -> Option<&Service> {
        self.fwmarks.get(&mark).map(|&i| &self.services[i])
    }

    /// Whether `addr` is a FullNAT local address: packets to it may be
    /// replies, and ARP for it is ours.
    #[inline]
    pub fn is_laddr(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => !self.laddrs.is_empty() && self.v4.is(a, addr_bits::LADDR),
            IpAddr::V6(_) => !self.laddrs.is_empty() && self.laddrs.contains(&Ip(addr)),
        }
    }

    /// Whether `addr` is a NAT dest's: its packets may be replies.
    #[inline]
    pub fn is_nat_dest(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => !self.nat_addrs.is_empty() && self.v4.is(a, addr_bits::NAT_DEST),
            IpAddr::V6(_) => !self.nat_addrs.is_empty() && self.nat_addrs.contains(&Ip(addr)),
        }
    }

    /// The persistence netmask of the service of NAT dest (`addr`, `port`)
    /// (a port-0 dest matches any port), if it is persistent.
    #[inline]
    pub fn nat_persist_mask(&self, addr: IpAddr, port: u16) -> Option<u32> {
        if let IpAddr::V4(a) = addr {
            let a = u32::from(a);
            let d = &self.v4.nat_dests;
            return d
                .get(dest_key(a, port))
                .or_else(|| d.get(dest_key(a, 0)))
                .flatten();
        }
        self.nat_dests
            .get(&(Ip(addr), port))
            .or_else(|| self.nat_dests.get(&(Ip(addr), 0)))
            .copied()
            .flatten()
    }

    /// The address service (protocol, VIP, port), exactly.
    #[inline]
    pub fn service(&self, key: &ServiceAddr) -> Option<&Service> {
        if let (p, IpAddr::V4(a), port) = *key {
            return self
                .v4
                .services
                .get(svc_key(p, u32::from(a), port))
                .map(|i| &self.services[i as usize]);
        }
        self.index.get(&SvcKey(*key)).map(|&i| &self.services[i])
    }

    /// The service a TCP/UDP packet belongs to, in IPVS's order
    /// (`spec/conn.md` §1.3): the fwmark service of the packet's mark, then
    /// the address service (protocol, VIP, port), then the port-0 service
    /// of (protocol, VIP).
    #[inline]
    pub fn lookup(&self, protocol: u8, src: IpAddr, dst: IpAddr, dport: u16) -> Option<&Service> {
        if !self.fwmarks.is_empty() {
            // The classifier holds IPv4 rules (IPv6 fwmark services are
            // refused).
            if let (IpAddr::V4(src), IpAddr::V4(dst)) = (src, dst) {
                let mark = self.classifier.mark(protocol, src, dst, dport);
                if let Some(&i) = self.fwmarks.get(&mark) {
                    return Some(&self.services[i]);
                }
            }
        }
        if let IpAddr::V4(a) = dst {
            let (a, m) = (u32::from(a), &self.v4.services);
            let i = m
                .get(svc_key(protocol, a, dport))
                .or_else(|| m.get(svc_key(protocol, a, 0)))?;
            return Some(&self.services[i as usize]);
        }
        self.service(&(protocol, dst, dport))
            .or_else(|| self.service(&(protocol, dst, 0)))
    }

    /// Whether packets to `addr` may be ours: a VIP, or an address some
    /// classifier rule covers.
    #[inline]
    pub fn is_vip(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => {
                self.v4.is(a, addr_bits::VIP)
                    || (!self.fwmarks.is_empty() && self.classifier.covers(a))
            }
            IpAddr::V6(_) => self.vips.contains(&Ip(addr)),
        }
    }

    /// Whether ARP for `addr` is ours to answer: the VIP of an address
    /// service, or a FullNAT local address, unless released (a VRRP
    /// backup does not answer for its instance's addresses).
    /// Addresses inside a wider rule are not: they are routed to the
    /// director, and answering for them could take over a whole segment.
    #[inline]
    pub fn answers_arp_for(&self, addr: IpAddr) -> bool {
        if let IpAddr::V4(a) = addr {
            use addr_bits::*;
            let bits = self.v4.addrs.get(addr_key(u32::from(a))).unwrap_or(0);
            return bits & (VIP | LADDR) != 0 && bits & RELEASED == 0;
        }
        (self.vips.contains(&Ip(addr)) || self.is_laddr(addr))
            && (self.released.is_empty() || !self.released.contains(&Ip(addr)))
    }

    /// A dest's address: a next hop whose ARP matters.
    #[inline]
    pub fn is_neighbour(&self, addr: IpAddr) -> bool {
        if let IpAddr::V4(a) = addr {
            return self.v4.is(a, addr_bits::NEIGHBOUR);
        }
        self.neighbours.contains(&Ip(addr))
    }

    /// The dest with stats slot `slot`, if it exists in this generation
    /// (a deleted dest's connections find nothing here).
    #[inline]
    pub fn dest(&self, slot: u32) -> Option<&Dest> {
        self.dests_by_slot.get(slot as usize)?.as_ref()
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The service a packet of an entry made by service `slot` belongs to,
    /// when that is sure without [`Snapshot::lookup`]: the slot's service
    /// is the address service of the packet's very (protocol, VIP, port)
    /// and no fwmark service could take the packet first, so `lookup`
    /// would answer the same. `None`: ask `lookup` (the slot is another
    /// service's now or none's, the entry was made by a port-0 or fwmark
    /// service, or a fwmark service exists).
    #[inline(always)]
    pub fn entry_service(
        &self,
        slot: u32,
        protocol: u8,
        vaddr: IpAddr,
        vport: u16,
    ) -> Option<&Service> {
        if !self.fwmarks.is_empty() {
            return None;
        }
        let i = (*self.services_by_slot.get(slot as usize)?)?;
        let s = self.services.get(i as usize)?;
        (s.key.2 == vport && s.key.0 == protocol && s.key.1 == vaddr).then_some(s)
    }
}
