//! FullNAT local-address port pools, one set per worker core.
//!
//! Contract: each core owns the ports `p` of every local address with
//! `p % workers == core` (from [`PORT_MIN`] up), so the owner of a real
//! server's reply follows from its destination port alone
//! ([`owner_of_port`]) and no two cores ever hand out the same (address,
//! port). A pool is a FIFO of free ports sized at start-up: taking and
//! giving back never allocate, and the port given back longest ago is
//! reused first (TIME_WAIT on the real server has had the longest to end).
//! Pools follow the generation's local-address slots ([`Laddrs::sync`]): a
//! slot whose address changed starts over with every port free (a slot only
//! changes address after no connection holds one of its ports).

#![forbid(unsafe_code)]

use std::net::IpAddr;

/// The lowest local port handed out (below are the well-known and
/// registered ports a real server may itself use as a client).
pub const PORT_MIN: u16 = 1024;

/// The core owning local port `port` among `workers` cores.
#[inline]
pub fn owner_of_port(port: u16, workers: u16) -> u16 {
    if workers <= 1 {
        0
    } else {
        port % workers
    }
}

/// The free ports of one local address on one core.
///
/// A port a sync master's connection holds ([`Laddrs::take_port`]) stays
/// in the ring as a *ghost*: taking it skips it (it leaves the ring then),
/// giving it back before that only clears the mark. So each port is in the
/// ring at most once, taking a given port and giving back are O(1), and
/// taking the next is amortised O(1) (a take right after a takeover may
/// pass over many ports the old master's connections hold).
struct PortPool {
    /// The address, `None` while the slot is unused.
    addr: Option<IpAddr>,
    ring: Box<[u16]>,
    head: usize,
    len: usize,
    /// By port: taken (by a connection of this core).
    taken: Box<[u64]>,
    /// By port: taken while still in the ring.
    ghost: Box<[u64]>,
    ghosts: usize,
}

const PORT_WORDS: usize = 65536 / 64;

#[inline]
fn bit(map: &[u64], port: u16) -> bool {
    map[usize::from(port) / 64] & (1 << (port % 64)) != 0
}

#[inline]
fn set_bit(map: &mut [u64], port: u16, on: bool) {
    let w = &mut map[usize::from(port) / 64];
    if on {
        *w |= 1 << (port % 64);
    } else {
        *w &= !(1 << (port % 64));
    }
}

impl PortPool {
    fn with_capacity(n: usize) -> Self {
        PortPool {
            addr: None,
            ring: vec![0; n].into_boxed_slice(),
            head: 0,
            len: 0,
            taken: vec![0; PORT_WORDS].into_boxed_slice(),
            ghost: vec![0; PORT_WORDS].into_boxed_slice(),
            ghosts: 0,
        }
    }

    /// Every port of this core free, for `addr`.
    fn reset(&mut self, addr: Option<IpAddr>, core: u16, workers: u16) {
        self.addr = addr;
        self.head = 0;
        self.len = 0;
        self.taken.fill(0);
        self.ghost.fill(0);
        self.ghosts = 0;
        if addr.is_none() {
            return;
        }
        let workers = u32::from(workers.max(1));
        for p in u32::from(PORT_MIN)..=u32::from(u16::MAX) {
            if p % workers == u32::from(core) && self.len < self.ring.len() {
                self.ring[self.len] = p as u16;
                self.len += 1;
            }
        }
    }

    fn take(&mut self) -> Option<u16> {
        while self.len > 0 {
            let p = self.ring[self.head];
            self.head = (self.head + 1) % self.ring.len();
            self.len -= 1;
            if bit(&self.ghost, p) {
                // Held by a synced connection: out of the ring now, and
                // still taken.
                set_bit(&mut self.ghost, p, false);
                self.ghosts -= 1;
                continue;
            }
            set_bit(&mut self.taken, p, true);
            return Some(p);
        }
        None
    }

    /// Take `port` itself, if it is this pool's and free.
    fn take_port(&mut self, port: u16, core: u16, workers: u16) -> bool {
        if port < PORT_MIN || owner_of_port(port, workers) != core || bit(&self.taken, port) {
            return false;
        }
        set_bit(&mut self.taken, port, true);
        set_bit(&mut self.ghost, port, true);
        self.ghosts += 1;
        true
    }

    fn give(&mut self, port: u16) {
        if !bit(&self.taken, port) {
            debug_assert!(false, "port {port} given back but not taken");
            return;
        }
        set_bit(&mut self.taken, port, false);
        if bit(&self.ghost, port) {
            // Still in the ring: free again where it stands.
            set_bit(&mut self.ghost, port, false);
            self.ghosts -= 1;
            return;
        }
        debug_assert!(
            self.len < self.ring.len(),
            "more ports given back than taken"
        );
        if self.len < self.ring.len() {
            let at = (self.head + self.len) % self.ring.len();
            self.ring[at] = port;
            self.len += 1;
        }
    }
}

/// One core's pools, by local-address slot.
pub struct Laddrs {
    pools: Box<[PortPool]>,
    core: u16,
    workers: u16,
}

impl Laddrs {
    /// Pools for `slots` local addresses on core `core` of `workers`.
    pub fn new(slots: usize, core: u16, workers: u16) -> Self {
        let workers = workers.max(1);
        let per_core =
            (usize::from(u16::MAX) - usize::from(PORT_MIN) + 1).div_ceil(usize::from(workers));
        Laddrs {
            pools: (0..slots)
                .map(|_| PortPool::with_capacity(per_core))
                .collect(),
            core,
            workers,
        }
    }

    /// Follow a generation's slots (see the module contract).
    pub fn sync(&mut self, slots: &[Option<IpAddr>]) {
        for (i, pool) in self.pools.iter_mut().enumerate() {
            let addr = slots.get(i).copied().flatten();
            if pool.addr != addr {
                pool.reset(addr, self.core, self.workers);
            }
        }
    }

    /// A free port of slot `slot`'s address.
    #[inline]
    pub fn take(&mut self, slot: u16) -> Option<u16> {
        self.pools.get_mut(usize::from(slot))?.take()
    }

    /// Take `port` of slot `slot`'s address itself (a connection a sync
    /// master made): false when it is another core's or already taken.
    pub fn take_port(&mut self, slot: u16, port: u16) -> bool {
        let (core, workers) = (self.core, self.workers);
        self.pools
            .get_mut(usize::from(slot))
            .is_some_and(|p| p.addr.is_some() && p.take_port(port, core, workers))
    }

    /// Give back `port` of `addr`, taken from slot `slot` (ignored when the
    /// slot has another address by now).
    #[inline]
    /// The address of local-address slot `slot`, if it is in use.
    pub fn addr(&self, slot: u16) -> Option<IpAddr> {
        self.pools.get(usize::from(slot)).and_then(|p| p.addr)
    }

    pub fn give(&mut self, slot: u16, addr: IpAddr, port: u16) {
        if let Some(p) = self.pools.get_mut(usize::from(slot)) {
            if p.addr == Some(addr) {
                p.give(port);
            }
        }
    }

    /// Free ports of slot `slot` (tests and stats).
    pub fn free(&self, slot: u16) -> usize {
        self.pools
            .get(usize::from(slot))
            .map_or(0, |p| p.len - p.ghosts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_core_owns_its_slice_of_ports() {
        let slots = [Some(IpAddr::from([198, 18, 0, 201]))];
        let mut taken = std::collections::HashSet::new();
        for core in 0..2 {
            let mut l = Laddrs::new(1, core, 2);
            l.sync(&slots);
            while let Some(p) = l.take(0) {
                assert!(p >= PORT_MIN);
                assert_eq!(owner_of_port(p, 2), core, "port {p}");
                assert!(taken.insert(p), "port {p} on two cores");
            }
        }
        assert_eq!(taken.len(), usize::from(u16::MAX - PORT_MIN) + 1);
    }

    #[test]
    fn ports_come_back_oldest_first_and_a_new_address_starts_over() {
        let a = [Some(IpAddr::from([198, 18, 0, 201]))];
        let mut l = Laddrs::new(1, 0, 1);
        l.sync(&a);
        let all = l.free(0);
        let first = l.take(0).unwrap();
        let second = l.take(0).unwrap();
        l.give(0, IpAddr::from([198, 18, 0, 201]), first);
        // `first` went to the back: everything else comes out before it.
        let mut n = 0;
        while let Some(p) = l.take(0) {
            n += 1;
            if p == first {
                break;
            }
        }
        assert_eq!(n, all - 1, "first is last");
        assert_ne!(first, second);
        // A port of an address the slot no longer has is not taken back.
        l.give(0, IpAddr::from([0, 0, 0, 1]), second);
        assert_eq!(l.free(0), 0);
        l.sync(&[Some(IpAddr::from([198, 18, 0, 202]))]);
        assert_eq!(l.free(0), all);
        l.sync(&[None]);
        assert_eq!(l.take(0), None);
    }

    /// Ports held by synced connections are never handed out twice, in
    /// any order of taking and giving back; the pool ends full again.
    #[test]
    fn specific_ports_and_the_fifo_agree() {
        let addr = IpAddr::from([198, 18, 0, 201]);
        let mut l = Laddrs::new(1, 1, 2);
        l.sync(&[Some(addr)]);
        let all = l.free(0);
        assert!(!l.take_port(0, 1026), "core 0's port");
        assert!(!l.take_port(0, 99), "below PORT_MIN");
        let mut held = std::collections::BTreeSet::new();
        let mut x: u32 = 12345;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let port = (PORT_MIN as u32 + x % 200) as u16 | 1;
            match x % 3 {
                0 => {
                    if let Some(p) = l.take(0) {
                        assert!(held.insert(p), "{p} handed out twice");
                    }
                }
                1 => {
                    if l.take_port(0, port) {
                        assert!(held.insert(port), "{port} taken twice");
                    } else {
                        assert!(held.contains(&port), "{port} refused but free");
                    }
                }
                _ => {
                    if held.remove(&port) {
                        l.give(0, addr, port);
                    }
                }
            }
            assert_eq!(l.free(0), all - held.len());
        }
        for p in std::mem::take(&mut held) {
            l.give(0, addr, p);
        }
        assert_eq!(l.free(0), all);
        let mut n = 0;
        while let Some(p) = l.take(0) {
            assert!(held.insert(p));
            n += 1;
        }
        assert_eq!(n, all);
    }
}
