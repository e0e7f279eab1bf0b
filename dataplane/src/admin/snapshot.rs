//! Building the immutable [`Snapshot`] a generation publishes: services,
//! dests by slot, built schedulers, the VIP and next-hop sets.

use super::*;

impl AdminState {
    /// The generation to publish now. Schedulers are rebuilt only for the
    /// services that changed since the last one.
    pub fn snapshot(&mut self) -> Snapshot {
        let mh_table_size = self.mh_table_size;
        // Slots no service has keep their address in the generation until
        // they are forgotten: replies to their connections still arrive.
        let laddr_slots: Vec<Option<IpAddr>> =
            self.laddr_slots.iter().map(|l| l.map(|l| l.addr)).collect();
        let services = self
            .services
            .iter_mut()
            .map(|s| {
                let dests: Vec<Dest> = s
                    .dests
                    .iter()
                    .map(|d| Dest {
                        addr: d.addr,
                        port: d.config.addr.port(),
                        weight: d.config.weight,
                        forward: d.config.forward,
                        slot: d.slot,
                        neigh_slot: d.neigh_slot,
                        next_hop: d.hop,
                        port_id: d.port_id,
                        u_threshold: d.config.u_threshold,
                        l_threshold: d.config.l_threshold,
                        tunnel: d.config.tunnel,
                    })
                    .collect();
                let views: Vec<DestView> = s
                    .dests
                    .iter()
                    .map(|d| DestView {
                        slot: d.slot,
                        addr: d.addr,
                        port: d.config.addr.port(),
                        weight: d.config.weight,
                        last_weight: d.last_weight,
                    })
                    .collect();
                let scheduler = match &s.built {
                    Some(b) => Arc::clone(b),
                    None => {
                        let params = BuildParams {
                            flags: Self::sched_flags(&s.config)
                                .expect("flags are validated when a service is added or edited"),
                            mh_table_size,
                        };
                        let b: Arc<dyn Scheduler> =
                            Arc::from(sched::build(&s.config.scheduler, &views, &params).expect(
                                "schedulers are validated when a service is added or edited",
                            ));
                        s.built = Some(Arc::clone(&b));
                        b
                    }
                };
                let persistence = s.config.persistent_timeout_s.map(|timeout_s| Persistence {
                    timeout_s,
                    netmask: s.config.netmask.unwrap_or(u32::MAX),
                });
                Service {
                    id: s.id,
                    key: s.addr,
                    fwmark: match s.key {
                        ServiceKey::Fwmark { mark, .. } => mark,
                        ServiceKey::Inet { .. } => 0,
                    },
                    slot: s.slot,
                    persistence,
                    one_packet: s.config.one_packet,
                    proxy_protocol: s.config.proxy_protocol,
                    locality_cache: s.locality_cache,
                    laddrs: s
                        .laddrs
                        .iter()
                        .filter_map(|a| laddr_slots.iter().position(|l| l == &Some(*a)))
                        .map(|i| i as u16)
                        .collect(),
                    scheduler,
                    dests,
                    views,
                }
            })
            .collect();
        Snapshot::new(
            self.generation,
            self.timeouts,
            self.ports.clone(),
            services,
            Classifier::new(&self.mark_rules),
            self.slots_max as usize,
            laddr_slots,
        )
        .with_released(&self.released)
        .with_sync_master(self.sync_master)
    }

    /// Workers report their connections (a sync master runs) or not;
    /// returns whether that changed (publish a generation then).
    pub fn set_sync_master(&mut self, on: bool) -> bool {
        if self.sync_master == on {
            return false;
        }
        self.sync_master = on;
        self.generation += 1;
        true
    }
}
