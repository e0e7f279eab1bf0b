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
                    sloppy_tcp: s.config.sloppy_tcp,
                    synproxy: s.config.synproxy,
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
        .with_defense(self.defense)
    }

    /// `SetDefense`: the settings whole, checked; a new generation when
    /// they change.
    pub(super) fn set_defense(
        &mut self,
        d: rvs_api::Defense,
    ) -> Result<(Response, bool), ApiError> {
        d.validate()
            .map_err(|m| ApiError::new(ErrorKind::Invalid, m))?;
        if d == self.defense {
            return Ok((Response::Ok, false));
        }
        self.defense = d;
        Ok((Response::Ok, true))
    }

    /// `GetDefense`: the settings as IPVS shows them (an automatic mode
    /// reads 2 while its strategy is on somewhere), the cores' levels and
    /// the counters, summed over `cores`.
    pub(super) fn defense_status(&self, cores: &[Arc<CoreStats>]) -> rvs_api::DefenseStatus {
        use std::sync::atomic::Ordering::Relaxed;
        let levels: Vec<_> = cores
            .iter()
            .map(|c| stats::unpack_level(c.defense_level.load(Relaxed)))
            .collect();
        let shown = |mode: u8, on: bool| match mode {
            1 | 2 => 1 + u8::from(on),
            m => m,
        };
        let d = self.defense;
        rvs_api::DefenseStatus {
            shown: rvs_api::Defense {
                drop_entry: shown(d.drop_entry, levels.iter().any(|l| l.drop_entry)),
                drop_packet: shown(d.drop_packet, levels.iter().any(|l| l.drop_rate != 0)),
                secure_tcp: shown(d.secure_tcp, levels.iter().any(|l| l.secure_tcp)),
                ..d
            },
            cores_under_pressure: levels.iter().filter(|l| l.pressure).count() as u32,
            occupancy_ppm: cores
                .iter()
                .map(|c| c.occupancy_ppm.load(Relaxed))
                .max()
                .unwrap_or(0) as u32,
            drop_rate: levels
                .iter()
                .map(|l| l.drop_rate)
                .filter(|&r| r != 0)
                .min()
                .unwrap_or(0),
            secure_tcp_on: levels.iter().any(|l| l.secure_tcp),
            entries_dropped: stats::total(cores, Counter::DefenseDropEntry),
            packets_dropped: stats::total(cores, Counter::DefenseDropPacket),
            synproxy: rvs_api::SynproxyCounts {
                cookies_sent: stats::total(cores, Counter::SynproxyCookieSent),
                acks_valid: stats::total(cores, Counter::SynproxyAckValid),
                acks_bad: stats::total(cores, Counter::SynproxyAckBad),
                conns: stats::total(cores, Counter::SynproxyConn),
            },
        }
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
