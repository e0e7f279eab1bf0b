//! The read-only requests (listings, counters, rates, local addresses) and
//! the rate estimators' tick.

use super::*;

impl AdminState {
    pub(super) fn counters(&self, cores: &[Arc<CoreStats>]) -> Result<(Response, bool), ApiError> {
        let counters = Counter::ALL
            .iter()
            .map(|&c| rvs_api::Counter {
                name: c.name().to_string(),
                value: stats::total(cores, c),
            })
            .collect();
        Ok((Response::Counters(rvs_api::Counters { counters }), false))
    }

    /// The rows `row` makes of each service a listing asks for: all of
    /// them, or the one `service` names (an error when there is none).
    fn listing<T, R: IntoIterator<Item = T>>(
        &self,
        service: Option<ServiceKey>,
        row: impl Fn(&ServiceEntry) -> R,
    ) -> Result<Vec<T>, ApiError> {
        let services = match service {
            None => &self.services[..],
            Some(k) => {
                let i = self
                    .find_service(&k)
                    .ok_or_else(|| err(ErrorKind::NoService, "no such service"))?;
                std::slice::from_ref(&self.services[i])
            }
        };
        Ok(services.iter().flat_map(row).collect())
    }

    pub(super) fn list(
        &self,
        service: Option<ServiceKey>,
        cores: &[Arc<CoreStats>],
    ) -> Result<(Response, bool), ApiError> {
        let list = self.listing(service, |s| [self.status(s, cores)])?;
        Ok((Response::Services(list), false))
    }

    pub(super) fn list_laddrs(
        &self,
        service: Option<ServiceKey>,
        cores: &[Arc<CoreStats>],
    ) -> Result<(Response, bool), ApiError> {
        let list = self.listing(service, |s| self.laddr_status(s, cores))?;
        Ok((Response::Laddrs(list), false))
    }

    pub(super) fn laddr_status(
        &self,
        s: &ServiceEntry,
        cores: &[Arc<CoreStats>],
    ) -> Vec<rvs_api::LaddrStatus> {
        s.laddrs
            .iter()
            .map(|&a| {
                let (conns, exhausted) = self.laddr_slot_of(a).map_or((0, 0), |i| {
                    let (conns, exhausted) = stats::laddr_total(cores, i);
                    let base = self.laddr_slots[i].map_or(0, |l| l.exhausted_base);
                    (conns, exhausted.wrapping_sub(base))
                });
                rvs_api::LaddrStatus {
                    service: s.key,
                    addr: a,
                    conns,
                    exhausted,
                }
            })
            .collect()
    }

    pub(super) fn api_timeouts(&self) -> rvs_api::Timeouts {
        rvs_api::Timeouts {
            tcp_s: self.timeouts.of(State::Established),
            tcpfin_s: self.timeouts.of(State::FinWait),
            udp_s: self.timeouts.udp_s,
        }
    }

    /// Feed every service's and dest's rate estimator (the control thread
    /// calls this every `stats::ESTIMATE_EVERY_MS`).
    pub fn estimate(&mut self, cores: &[Arc<CoreStats>]) {
        for s in &mut self.services {
            s.est.sample(&stats::slot_total(cores, s.slot));
            for d in &mut s.dests {
                d.est.sample(&stats::slot_total(cores, d.slot));
            }
        }
    }

    pub(super) fn info(&self) -> Info {
        Info {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ipvs_version: IPVS_VERSION,
            conn_table_size: self.conn_table_size,
            workers: self.workers,
            generation: self.generation,
        }
    }

    pub(super) fn status(&self, s: &ServiceEntry, cores: &[Arc<CoreStats>]) -> ServiceStatus {
        let to_stats = |t: SlotTotals| Stats {
            conns: t.conns,
            in_pkts: t.in_pkts,
            out_pkts: t.out_pkts,
            in_bytes: t.in_bytes,
            out_bytes: t.out_bytes,
        };
        let to_rates = |e: &stats::Estimator| {
            let r = e.rates();
            rvs_api::Rates {
                cps: r.cps,
                in_pps: r.in_pps,
                out_pps: r.out_pps,
                in_bps: r.in_bps,
                out_bps: r.out_bps,
            }
        };
        let dests = s
            .dests
            .iter()
            .map(|d| {
                let t = stats::slot_total(cores, d.slot).since(&d.baseline);
                DestStatus {
                    config: d.config.clone(),
                    active_conns: t.active,
                    inactive_conns: t.inactive,
                    persist_conns: t.persist,
                    stats: to_stats(t),
                    rates: to_rates(&d.est),
                }
            })
            .collect();
        ServiceStatus {
            key: s.key,
            config: s.config.clone(),
            stats: to_stats(stats::slot_total(cores, s.slot).since(&s.baseline)),
            rates: to_rates(&s.est),
            dests,
        }
    }
}
