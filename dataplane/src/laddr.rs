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
struct PortPool {
    /// The address, `None` while the slot is unused.
    addr: Option<IpAddr>,
    ring: Box<[u16]>,
    head: usize,
    len: usize,
}

impl PortPool {
    fn with_capacity(n: usize) -> Self {
        PortPool {
            addr: None,
            ring: vec![0; n].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// Every port of this core free, for `addr`.
    fn reset(&mut self, addr: Option<IpAddr>, core: u16, workers: u16) {
        self.addr = addr;
        self.head = 0;
        self.len = 0;
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
        if self.len == 0 {
            return None;
        }
        let p = self.ring[self.head];
        self.head = (self.head + 1) % self.ring.len();
        self.len -= 1;
        Some(p)
    }

    fn give(&mut self, port: u16) {
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

    /// Give back `port` of `addr`, taken from slot `slot` (ignored when the
    /// slot has another address by now).
    #[inline]
    pub fn give(&mut self, slot: u16, addr: IpAddr, port: u16) {
        if let Some(p) = self.pools.get_mut(usize::from(slot)) {
            if p.addr == Some(addr) {
                p.give(port);
            }
        }
    }

    /// Free ports of slot `slot` (tests and stats).
    pub fn free(&self, slot: u16) -> usize {
        self.pools.get(usize::from(slot)).map_or(0, |p| p.len)
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
}
