//! Slots: stable stats slots for services and dests, the trash of deleted
//! dests (kept while connections count them), and FullNAT local addresses'
//! slots.

use super::*;

impl AdminState {
    pub(super) fn alloc_slot(&mut self) -> Result<u32, ApiError> {
        if let Some(s) = self.free_slots.pop() {
            self.overload.set(s, false);
            return Ok(s);
        }
        if self.next_slot < self.slots_max {
            self.next_slot += 1;
            self.overload.set(self.next_slot - 1, false);
            return Ok(self.next_slot - 1);
        }
        Err(err(
            ErrorKind::NoMemory,
            format!(
                "all {} service and dest slots are in use (stats_slots_max)",
                self.slots_max
            ),
        ))
    }

    /// Free the slots nothing can use any more, and return the neighbour
    /// slots that lost their last user (the caller clears them in the shared
    /// table). `workers_generation` is the oldest generation any worker still
    /// forwards with: a slot deleted in a later generation may still be
    /// counted by a worker, so it waits. A trashed dest's slot also waits
    /// until no connection on any core counts it. A reused slot's traffic
    /// counters are not reset: its next owner takes a baseline.
    pub fn collect_trash(&mut self, cores: &[Arc<CoreStats>], workers_generation: u64) -> Vec<u32> {
        let mut released = vec![];
        let resolver = &mut self.resolver;
        self.retiring_neigh.retain(|&(slot, since)| {
            if since > workers_generation {
                return true;
            }
            if resolver.unwant(slot) {
                released.push(slot);
            }
            false
        });
        let mut i = 0;
        while i < self.trash.len() {
            let t = &self.trash[i];
            let gauges = stats::slot_total(cores, t.dest.slot);
            if t.since_generation <= workers_generation
                && gauges.active == 0
                && gauges.inactive == 0
                && gauges.persist == 0
            {
                let gone = self.trash.swap_remove(i);
                self.free_slots.push(gone.dest.slot);
                if self.resolver.unwant(gone.dest.neigh_slot) {
                    released.push(gone.dest.neigh_slot);
                }
            } else {
                i += 1;
            }
        }
        // A local address no service has any more is forgotten once no
        // worker forwards with a generation that has it and no connection
        // holds one of its ports.
        for (i, l) in self.laddr_slots.iter_mut().enumerate() {
            if let Some(s) = l {
                if s.services == 0
                    && s.since_generation <= workers_generation
                    && stats::laddr_total(cores, i).0 == 0
                {
                    *l = None;
                }
            }
        }
        let free = &mut self.free_slots;
        self.retiring_service_slots.retain(|&(slot, since)| {
            let done = since <= workers_generation;
            if done {
                free.push(slot);
            }
            !done
        });
        released
    }

    pub(super) fn find_service(&self, key: &ServiceKey) -> Option<usize> {
        self.services.iter().position(|s| s.key == *key)
    }

    /// (service index, dest index) of a dest, or the error ipvsadm expects.
    pub(super) fn find_dest(
        &self,
        service: &ServiceKey,
        addr: SocketAddr,
    ) -> Result<(usize, usize), ApiError> {
        let i = self
            .find_service(service)
            .ok_or_else(|| err(ErrorKind::NoService, "service not defined"))?;
        let j = self.services[i]
            .dests
            .iter()
            .position(|d| d.config.addr == addr)
            .ok_or_else(|| err(ErrorKind::NotFound, "no such destination"))?;
        Ok((i, j))
    }

    pub(super) fn trash_dest(&mut self, service: ServiceKey, dest: DestEntry) {
        let since_generation = self.generation + 1;
        // The neighbour entry stays while the dest is in the trash: its
        // connections may come back to life.
        self.trash.push(Trashed {
            service,
            dest,
            since_generation,
        });
    }

    pub(super) fn remove_service(&mut self, i: usize) {
        let s = self.services.remove(i);
        for a in &s.laddrs {
            self.release_laddr(*a);
        }
        if let Some(c) = s.locality_cache {
            self.free_locality_caches.push(c);
        }
        for d in s.dests {
            self.trash_dest(s.key, d);
        }
        // Workers on an older generation may still count it.
        self.retiring_service_slots
            .push((s.slot, self.generation + 1));
    }

    /// One service fewer has local address `addr`.
    pub(super) fn release_laddr(&mut self, addr: IpAddr) {
        let generation = self.generation + 1;
        if let Some(s) = self
            .laddr_slots
            .iter_mut()
            .flatten()
            .find(|s| s.addr == addr)
        {
            s.services -= 1;
            s.since_generation = generation;
        }
    }

    /// The slot of local address `addr`, for one service more.
    pub(super) fn take_laddr(
        &mut self,
        addr: IpAddr,
        cores: &[Arc<CoreStats>],
    ) -> Result<(), ApiError> {
        if let Some(s) = self
            .laddr_slots
            .iter_mut()
            .flatten()
            .find(|s| s.addr == addr)
        {
            s.services += 1;
            return Ok(());
        }
        let Some(i) = self.laddr_slots.iter().position(|s| s.is_none()) else {
            return Err(err(
                ErrorKind::NoMemory,
                format!(
                    "all {} local address slots are in use",
                    stats::LADDR_SLOTS_MAX
                ),
            ));
        };
        self.laddr_slots[i] = Some(LaddrSlot {
            addr,
            services: 1,
            since_generation: 0,
            exhausted_base: stats::laddr_total(cores, i).1,
        });
        Ok(())
    }

    pub(super) fn laddr_slot_of(&self, addr: IpAddr) -> Option<usize> {
        self.laddr_slots
            .iter()
            .position(|s| s.is_some_and(|s| s.addr == addr))
    }
}
