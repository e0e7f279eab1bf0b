//! The requests that change the desired state: services, dests, local
//! addresses, released VIPs, timeouts and classifier rules. Each either
//! changes the state and says so, or returns an error having changed
//! nothing.

use super::*;

impl AdminState {
    pub(super) fn zero(
        &mut self,
        service: Option<ServiceKey>,
        cores: &[Arc<CoreStats>],
    ) -> Result<(Response, bool), ApiError> {
        let targets: Vec<usize> = match service {
            None => (0..self.services.len()).collect(),
            Some(k) => vec![self
                .find_service(&k)
                .ok_or_else(|| err(ErrorKind::NoService, "no such service"))?],
        };
        for i in targets {
            let s = &mut self.services[i];
            // Counters and rate estimators (`spec/ipvsadm.md` §4).
            s.baseline = stats::slot_total(cores, s.slot);
            s.est = stats::Estimator::starting_at(&s.baseline);
            for d in &mut s.dests {
                d.baseline = stats::slot_total(cores, d.slot);
                d.est = stats::Estimator::starting_at(&d.baseline);
            }
        }
        Ok((Response::Ok, false))
    }

    pub(super) fn add_service(
        &mut self,
        key: ServiceKey,
        config: ServiceConfig,
        cores: &[Arc<CoreStats>],
    ) -> Result<(Response, bool), ApiError> {
        if self.find_service(&key).is_some() {
            return Err(err(ErrorKind::Exists, "service already exists"));
        }
        let addr = Self::service_addr(&key)?;
        self.check_service_config(&key, &config)?;
        let wants_cache = Self::wants_locality_cache(&config.scheduler);
        if wants_cache && self.free_locality_caches.is_empty() {
            return Err(err(
                ErrorKind::NoMemory,
                "every locality cache (for lblc and lblcr services) is in use (locality_caches)",
            ));
        }
        let slot = self.alloc_slot()?;
        let baseline = stats::slot_total(cores, slot);
        self.next_service_id += 1;
        self.services.push(ServiceEntry {
            id: self.next_service_id,
            key,
            addr,
            config,
            slot,
            dests: vec![],
            baseline,
            est: stats::Estimator::starting_at(&baseline),
            built: None,
            locality_cache: None,
            laddrs: vec![],
        });
        let i = self.services.len() - 1;
        self.assign_locality_cache(i)
            .expect("a free cache was checked for above");
        Ok((Response::Ok, true))
    }

    pub(super) fn edit_service(
        &mut self,
        key: ServiceKey,
        config: ServiceConfig,
    ) -> Result<(Response, bool), ApiError> {
        let i = self
            .find_service(&key)
            .ok_or_else(|| err(ErrorKind::NoService, "no such service"))?;
        self.check_service_config(&key, &config)?;
        self.check_dest_count(&config.scheduler, self.services[i].dests.len())?;
        if config.one_packet
            && self.services[i]
                .dests
                .iter()
                .any(|d| matches!(d.config.forward, Forward::Masq | Forward::FullNat))
        {
            return Err(err(
                ErrorKind::NotSupported,
                "one-packet scheduling (-o) is not supported with NAT (-m) or FullNAT real servers: replies need the connection entry",
            ));
        }
        if config.sloppy_tcp
            && self.services[i]
                .dests
                .iter()
                .any(|d| d.config.forward == Forward::FullNat)
        {
            return Err(err(
                ErrorKind::NotSupported,
                super::validate::SLOPPY_FULLNAT,
            ));
        }
        if config.synproxy
            && self.services[i]
                .dests
                .iter()
                .any(|d| !matches!(d.config.forward, Forward::Masq | Forward::FullNat))
        {
            return Err(err(
                ErrorKind::NotSupported,
                super::validate::SYNPROXY_NEEDS_NAT,
            ));
        }
        let family = self.services[i].addr.1.is_ipv6();
        if config.synproxy
            && self.services[i]
                .dests
                .iter()
                .any(|d| d.config.addr.ip().is_ipv6() != family)
        {
            return Err(err(ErrorKind::NotSupported, super::validate::SYNPROXY_XFAM));
        }
        let old = std::mem::replace(&mut self.services[i].config, config);
        if let Err(e) = self.assign_locality_cache(i) {
            self.services[i].config = old;
            return Err(e);
        }
        let s = &mut self.services[i];
        if s.config.scheduler != old.scheduler {
            // A new scheduler starts afresh on every core (IPVS's
            // init_service): a new id resets the per-core state and
            // locality cache entries.
            self.next_service_id += 1;
            s.id = self.next_service_id;
        }
        if s.config.scheduler != old.scheduler || s.config.sched_flags != old.sched_flags {
            s.built = None;
        }
        Ok((Response::Ok, true))
    }

    pub(super) fn add_laddr(
        &mut self,
        service: ServiceKey,
        addr: IpAddr,
        cores: &[Arc<CoreStats>],
    ) -> Result<(Response, bool), ApiError> {
        let i = self
            .find_service(&service)
            .ok_or_else(|| err(ErrorKind::NoService, "service not defined"))?;
        let a = addr;
        if self.services[i].laddrs.contains(&a) {
            return Err(err(ErrorKind::Exists, "local address already exists"));
        }
        if self.is_own_addr(a) {
            return Err(err(
                ErrorKind::Invalid,
                format!("{a} is the director's own address (the kernel's): a local address must be one of its own"),
            ));
        }
        if self
            .services
            .iter()
            .any(|s| s.addr.1 == a && !s.addr.1.is_unspecified())
        {
            return Err(err(
                ErrorKind::Invalid,
                format!("{a} is a virtual address: a local address must be another"),
            ));
        }
        self.take_laddr(a, cores)?;
        self.services[i].laddrs.push(a);
        Ok((Response::Ok, true))
    }

    pub(super) fn del_laddr(
        &mut self,
        service: ServiceKey,
        addr: IpAddr,
    ) -> Result<(Response, bool), ApiError> {
        let i = self
            .find_service(&service)
            .ok_or_else(|| err(ErrorKind::NoService, "service not defined"))?;
        let a = addr;
        let Some(j) = self.services[i].laddrs.iter().position(|&l| l == a) else {
            return Err(err(ErrorKind::NotFound, "no such local address"));
        };
        self.services[i].laddrs.remove(j);
        self.release_laddr(a);
        Ok((Response::Ok, true))
    }

    pub(super) fn release_vips(
        &mut self,
        mut addrs: Vec<IpAddr>,
    ) -> Result<(Response, bool), ApiError> {
        addrs.sort();
        addrs.dedup();
        if addrs == self.released {
            return Ok((Response::Ok, false));
        }
        self.released = addrs;
        Ok((Response::Ok, true))
    }

    pub(super) fn set_timeouts(
        &mut self,
        t: rvs_api::Timeouts,
    ) -> Result<(Response, bool), ApiError> {
        if [t.tcp_s, t.tcpfin_s, t.udp_s]
            .iter()
            .any(|&v| v > rvs_api::TIMEOUT_MAX_S)
        {
            return Err(err(
                ErrorKind::Invalid,
                format!("a timeout is above {} s", rvs_api::TIMEOUT_MAX_S),
            ));
        }
        // 0 leaves a value as it is (`spec/conn.md` §4); tcpfin is
        // FIN_WAIT's alone.
        if t.tcp_s != 0 {
            self.timeouts.tcp_s[State::Established as usize] = t.tcp_s;
        }
        if t.tcpfin_s != 0 {
            self.timeouts.tcp_s[State::FinWait as usize] = t.tcpfin_s;
        }
        if t.udp_s != 0 {
            self.timeouts.udp_s = t.udp_s;
        }
        Ok((Response::Ok, true))
    }

    pub(super) fn add_dest(
        &mut self,
        service: ServiceKey,
        dest: DestConfig,
        cores: &[Arc<CoreStats>],
        now_ms: u64,
    ) -> Result<(Response, bool), ApiError> {
        let i = self
            .find_service(&service)
            .ok_or_else(|| err(ErrorKind::NoService, "service not defined"))?;
        if self.services[i]
            .dests
            .iter()
            .any(|d| d.config.addr == dest.addr)
        {
            return Err(err(ErrorKind::Exists, "destination already exists"));
        }
        let (hop, port_id) = self.check_dest(&self.services[i], &dest)?;
        let addr = dest.addr.ip();
        self.check_dest_count(
            &self.services[i].config.scheduler,
            self.services[i].dests.len() + 1,
        )?;
        // Back from the trash, with its connections, as IPVS does.
        let mut entry = if let Some(t) = self
            .trash
            .iter()
            .position(|t| t.service == service && t.dest.config.addr == dest.addr)
        {
            let mut e = self.trash.swap_remove(t).dest;
            // §15: as for an edit, removing or raising the upper
            // threshold clears OVERLOAD.
            if dest.u_threshold == 0 || dest.u_threshold > e.config.u_threshold {
                self.overload.set(e.slot, false);
            }
            e.config = dest;
            // The network may have changed while it was deleted.
            if self.resolver.target(e.neigh_slot) != Some((port_id, hop)) {
                let Some(slot) = self.resolver.want(port_id, hop, now_ms) else {
                    return Err(err(ErrorKind::NoMemory, "the neighbour table is full"));
                };
                self.retiring_neigh
                    .push((e.neigh_slot, self.generation + 1));
                e.neigh_slot = slot;
                e.hop = hop;
                e.port_id = port_id;
            }
            e
        } else {
            let slot = self.alloc_slot()?;
            let Some(neigh_slot) = self.resolver.want(port_id, hop, now_ms) else {
                self.free_slots.push(slot);
                return Err(err(ErrorKind::NoMemory, "the neighbour table is full"));
            };
            DestEntry {
                config: dest,
                last_weight: 0,
                addr,
                slot,
                neigh_slot,
                hop,
                port_id,
                baseline: stats::slot_total(cores, slot),
                est: stats::Estimator::starting_at(&stats::slot_total(cores, slot)),
            }
        };
        // On an add the last weight is the weight given, 0 too (a dest
        // added with weight 0 gets no Maglev slots).
        entry.last_weight = entry.config.weight;
        self.services[i].dests.insert(0, entry);
        self.services[i].built = None;
        Ok((Response::Ok, true))
    }

    pub(super) fn edit_dest(
        &mut self,
        service: ServiceKey,
        dest: DestConfig,
    ) -> Result<(Response, bool), ApiError> {
        let (i, j) = self.find_dest(&service, dest.addr)?;
        self.check_dest(&self.services[i], &dest)?;
        let d = &mut self.services[i].dests[j];
        // §15: an edit that removes or raises the upper threshold
        // clears OVERLOAD.
        if dest.u_threshold == 0 || dest.u_threshold > d.config.u_threshold {
            self.overload.set(d.slot, false);
        }
        if dest.weight > 0 {
            d.last_weight = dest.weight;
        }
        d.config = dest;
        self.services[i].built = None;
        Ok((Response::Ok, true))
    }

    pub(super) fn del_dest(
        &mut self,
        service: ServiceKey,
        addr: SocketAddr,
    ) -> Result<(Response, bool), ApiError> {
        let (i, j) = self.find_dest(&service, addr)?;
        let d = self.services[i].dests.remove(j);
        self.services[i].built = None;
        let svc = self.services[i].key;
        self.trash_dest(svc, d);
        Ok((Response::Ok, true))
    }

    pub(super) fn add_mark_rule(&mut self, rule: MarkRule) -> Result<(Response, bool), ApiError> {
        classify::check_rule(&rule)?;
        if self.mark_rules.contains(&rule) {
            return Err(err(ErrorKind::Exists, "the rule already exists"));
        }
        if self.mark_rules.len() >= classify::RULES_MAX {
            return Err(err(
                ErrorKind::NoMemory,
                format!("the classifier holds at most {} rules", classify::RULES_MAX),
            ));
        }
        self.mark_rules.push(rule);
        Ok((Response::Ok, true))
    }

    pub(super) fn del_mark_rule(&mut self, rule: MarkRule) -> Result<(Response, bool), ApiError> {
        let i = self
            .mark_rules
            .iter()
            .position(|r| *r == rule)
            .ok_or_else(|| err(ErrorKind::NotFound, "no such rule"))?;
        self.mark_rules.remove(i);
        Ok((Response::Ok, true))
    }

    pub(super) fn del_mark_rules(&mut self, mark: u32) -> Result<(Response, bool), ApiError> {
        let before = self.mark_rules.len();
        self.mark_rules.retain(|r| r.mark != mark);
        if self.mark_rules.len() == before {
            return Err(err(
                ErrorKind::NotFound,
                format!("no rule sets mark {mark}"),
            ));
        }
        Ok((Response::Ok, true))
    }
}
