//! The Prometheus text exposition of a dataplane's state (`/metrics`):
//! per service and dest the connection counts, packets, bytes and rates;
//! the dataplane's counters (verdicts and drops by reason); per worker core
//! its busy ratio and loop cycles and the depth of its hand-off ring; the
//! generation; the health checks' view: each dest's health, each checker's
//! state and last probe's duration, each service's quorum; the
//! configuration's loads: items left out in error, refused reloads; VRRP
//! adverts received and dropped per instance, by reason; IPVS's defence
//! strategies: their modes, whether each is on, the tables' pressure.
//!
//! Contract: [`render`] is pure (the state in, the text out), in the text
//! format version 0.0.4: a `# HELP` and a `# TYPE` line per family, then
//! its samples, label values escaped.

#![forbid(unsafe_code)]

use std::fmt::Write as _;

use rvs_api::{CoreStatus, Counters, Info, ServiceStatus};

/// Everything one scrape reads from the dataplane.
pub struct Scrape {
    pub info: Info,
    pub services: Vec<ServiceStatus>,
    pub counters: Counters,
    pub cores: Vec<CoreStatus>,
    pub health: HealthMetrics,
    pub config: ConfigMetrics,
    /// (instance, its advert counts).
    pub vrrp: Vec<(String, crate::ha::InstanceCounts)>,
    pub defense: rvs_api::DefenseStatus,
}

/// What the configuration's loads gave (start and every reload).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConfigMetrics {
    /// Items left out in error, over all loads.
    pub errors_total: u64,
    /// Items the running configuration's load left out.
    pub last_errors: u64,
    /// Reloads refused: the file did not load at all.
    pub failed_reloads_total: u64,
}

/// The daemon's running count of [`ConfigMetrics`], shared with the
/// metrics thread.
#[derive(Debug, Default)]
pub struct ConfigCounters {
    errors_total: std::sync::atomic::AtomicU64,
    last_errors: std::sync::atomic::AtomicU64,
    failed_reloads_total: std::sync::atomic::AtomicU64,
}

impl ConfigCounters {
    /// A load that gave a model, leaving `errors` items out.
    pub fn loaded(&self, errors: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.errors_total.fetch_add(errors, Relaxed);
        self.last_errors.store(errors, Relaxed);
    }

    /// A reload that did not load at all.
    pub fn failed(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.failed_reloads_total.fetch_add(1, Relaxed);
    }

    pub fn get(&self) -> ConfigMetrics {
        use std::sync::atomic::Ordering::Relaxed;
        ConfigMetrics {
            errors_total: self.errors_total.load(Relaxed),
            last_errors: self.last_errors.load(Relaxed),
            failed_reloads_total: self.failed_reloads_total.load(Relaxed),
        }
    }
}

/// What the health checks know, labelled.
#[derive(Clone, Debug, Default)]
pub struct HealthMetrics {
    /// (service, dest, up).
    pub dests: Vec<(String, String, bool)>,
    /// (service, dest, check, up, last probe's duration).
    pub checks: Vec<(String, String, String, bool, Option<std::time::Duration>)>,
    /// (service, has quorum).
    pub quorum: Vec<(String, bool)>,
}

/// The health checks' view of the running model.
pub fn health_of(st: &crate::health::runner::BoardState) -> HealthMetrics {
    let mut m = HealthMetrics::default();
    for (si, s) in st.model.services.iter().enumerate() {
        let h = &st.health.services[si];
        for key in &s.keys {
            let svc = key.label();
            m.quorum.push((svc.clone(), h.has_quorum()));
            for (di, d) in s.dests.iter().enumerate() {
                let dest = crate::config::model::dest_addr(key, d.addr, d.forward).to_string();
                let dh = &h.dests[di];
                m.dests.push((svc.clone(), dest.clone(), dh.is_up()));
                for (ci, c) in d.checks.iter().enumerate() {
                    let id = crate::health::machine::CheckId {
                        service: si,
                        dest: di,
                        check: ci,
                    };
                    let took = st.last.iter().find(|l| l.0 == id).map(|l| l.1);
                    m.checks.push((
                        svc.clone(),
                        dest.clone(),
                        format!("{}#{ci}", c.kind.keyword()),
                        dh.checkers[ci].is_up(),
                        took,
                    ));
                }
            }
        }
    }
    m
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.sample_text(name, labels, &value.to_string());
    }

    fn sample_text(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
}

/// The whole exposition.
pub fn render(scrape: &Scrape) -> String {
    let (info, services, counters) = (&scrape.info, &scrape.services, &scrape.counters);
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    f.head(
        "rvs_generation",
        "gauge",
        "The configuration generation the dataplane forwards with.",
    );
    f.sample("rvs_generation", &[], info.generation);
    f.head("rvs_workers", "gauge", "Worker cores of the dataplane.");
    f.sample("rvs_workers", &[], u64::from(info.workers));
    let config = &scrape.config;
    f.head(
        "rvs_config_errors_total",
        "counter",
        "Configuration items left out in error, over all loads (start and reloads).",
    );
    f.sample("rvs_config_errors_total", &[], config.errors_total);
    f.head(
        "rvs_config_last_load_errors",
        "gauge",
        "Configuration items the running configuration's load left out in error.",
    );
    f.sample("rvs_config_last_load_errors", &[], config.last_errors);
    f.head(
        "rvs_config_failed_reloads_total",
        "counter",
        "Reloads refused because the configuration did not load at all.",
    );
    f.sample(
        "rvs_config_failed_reloads_total",
        &[],
        config.failed_reloads_total,
    );

    type Get = fn(&rvs_api::Stats) -> u64;
    let traffic: [(&str, &str, &str, Get); 5] = [
        (
            "rvs_connections_total",
            "counter",
            "Connections scheduled.",
            |s| s.conns,
        ),
        (
            "rvs_in_packets_total",
            "counter",
            "Packets from clients.",
            |s| s.in_pkts,
        ),
        (
            "rvs_out_packets_total",
            "counter",
            "Packets to clients (NAT, FullNAT).",
            |s| s.out_pkts,
        ),
        (
            "rvs_in_bytes_total",
            "counter",
            "Bytes from clients.",
            |s| s.in_bytes,
        ),
        (
            "rvs_out_bytes_total",
            "counter",
            "Bytes to clients (NAT, FullNAT).",
            |s| s.out_bytes,
        ),
    ];
    for (name, kind, help, get) in traffic {
        f.head(name, kind, help);
        for s in services {
            let svc = s.key.label();
            f.sample(name, &[("service", &svc)], get(&s.stats));
            for d in &s.dests {
                let dest = d.config.addr.to_string();
                f.sample(name, &[("service", &svc), ("dest", &dest)], get(&d.stats));
            }
        }
    }
    type GetRate = fn(&rvs_api::Rates) -> u64;
    let rates: [(&str, &str, GetRate); 5] = [
        (
            "rvs_connections_per_second",
            "Estimated connections per second.",
            |r| r.cps,
        ),
        (
            "rvs_in_packets_per_second",
            "Estimated packets per second from clients.",
            |r| r.in_pps,
        ),
        (
            "rvs_out_packets_per_second",
            "Estimated packets per second to clients.",
            |r| r.out_pps,
        ),
        (
            "rvs_in_bytes_per_second",
            "Estimated bytes per second from clients.",
            |r| r.in_bps,
        ),
        (
            "rvs_out_bytes_per_second",
            "Estimated bytes per second to clients.",
            |r| r.out_bps,
        ),
    ];
    for (name, help, get) in rates {
        f.head(name, "gauge", help);
        for s in services {
            let svc = s.key.label();
            f.sample(name, &[("service", &svc)], get(&s.rates));
            for d in &s.dests {
                let dest = d.config.addr.to_string();
                f.sample(name, &[("service", &svc), ("dest", &dest)], get(&d.rates));
            }
        }
    }
    f.head(
        "rvs_dest_connections",
        "gauge",
        "A dest's connection entries by state class.",
    );
    for s in services {
        let svc = s.key.label();
        for d in &s.dests {
            let dest = d.config.addr.to_string();
            for (state, v) in [
                ("active", d.active_conns),
                ("inactive", d.inactive_conns),
                ("persistent", d.persist_conns),
            ] {
                f.sample(
                    "rvs_dest_connections",
                    &[("service", &svc), ("dest", &dest), ("state", state)],
                    v,
                );
            }
        }
    }
    f.head("rvs_dest_weight", "gauge", "A dest's weight (0: quiesced).");
    for s in services {
        let svc = s.key.label();
        for d in &s.dests {
            let dest = d.config.addr.to_string();
            f.sample(
                "rvs_dest_weight",
                &[("service", &svc), ("dest", &dest)],
                u64::from(d.config.weight),
            );
        }
    }
    f.head(
        "rvs_dataplane_events_total",
        "counter",
        "The dataplane's counters: every verdict and drop reason (drop_*).",
    );
    for c in &counters.counters {
        f.sample(
            "rvs_dataplane_events_total",
            &[("counter", &c.name)],
            c.value,
        );
    }
    f.head(
        "rvs_core_busy_ratio",
        "gauge",
        "A worker core's share of poll-loop time spent on iterations with work, over the last 2 s.",
    );
    for c in &scrape.cores {
        let core = c.core.to_string();
        let ratio = format!("{:.6}", f64::from(c.busy_ppm) / 1e6);
        f.sample_text("rvs_core_busy_ratio", &[("core", &core)], &ratio);
    }
    f.head(
        "rvs_core_cycles_total",
        "counter",
        "A worker core's poll-loop time-stamp-counter cycles (state=\"busy\": of iterations with work).",
    );
    for c in &scrape.cores {
        let core = c.core.to_string();
        f.sample(
            "rvs_core_cycles_total",
            &[("core", &core), ("state", "all")],
            c.cycles,
        );
        f.sample(
            "rvs_core_cycles_total",
            &[("core", &core), ("state", "busy")],
            c.busy_cycles,
        );
    }
    type GetCore = fn(&CoreStatus) -> u32;
    let rings: [(&str, &str, GetCore); 2] = [
        (
            "rvs_ring_depth",
            "Frames waiting in a worker core's hand-off ring (frames other cores pass it).",
            |c| c.handoff_depth,
        ),
        (
            "rvs_ring_capacity",
            "The size of a worker core's hand-off ring.",
            |c| c.handoff_capacity,
        ),
    ];
    for (name, help, get) in rings {
        f.head(name, "gauge", help);
        for c in &scrape.cores {
            let core = c.core.to_string();
            f.sample(
                name,
                &[("core", &core), ("ring", "handoff")],
                u64::from(get(c)),
            );
        }
    }
    let h = &scrape.health;
    f.head(
        "rvs_dest_up",
        "gauge",
        "A real server's health as its checkers have it (1 up, 0 down).",
    );
    for (svc, dest, up) in &h.dests {
        f.sample(
            "rvs_dest_up",
            &[("service", svc), ("dest", dest)],
            u64::from(*up),
        );
    }
    f.head("rvs_check_up", "gauge", "A checker's state (1 up, 0 down).");
    for (svc, dest, check, up, _) in &h.checks {
        f.sample(
            "rvs_check_up",
            &[("service", svc), ("dest", dest), ("check", check)],
            u64::from(*up),
        );
    }
    f.head(
        "rvs_check_duration_seconds",
        "gauge",
        "How long a checker's last probe took.",
    );
    for (svc, dest, check, _, took) in &h.checks {
        if let Some(t) = took {
            f.sample_text(
                "rvs_check_duration_seconds",
                &[("service", svc), ("dest", dest), ("check", check)],
                &format!("{:.6}", t.as_secs_f64()),
            );
        }
    }
    f.head(
        "rvs_service_quorum",
        "gauge",
        "Whether a service has its quorum (1) or lost it (0: its sorry server serves, if it has one).",
    );
    for (svc, up) in &h.quorum {
        f.sample("rvs_service_quorum", &[("service", svc)], u64::from(*up));
    }
    let d = &scrape.defense;
    f.head(
        "rvs_defense_mode",
        "gauge",
        "A defence strategy's mode as IPVS shows it (0 off, 1 automatic, 2 automatic and on, 3 always).",
    );
    for (name, mode) in [
        ("drop_entry", d.shown.drop_entry),
        ("drop_packet", d.shown.drop_packet),
        ("secure_tcp", d.shown.secure_tcp),
    ] {
        f.sample("rvs_defense_mode", &[("strategy", name)], u64::from(mode));
    }
    f.head(
        "rvs_defense_active",
        "gauge",
        "Whether a defence strategy is in force on some worker core now.",
    );
    for (name, on) in [
        ("drop_entry", matches!(d.shown.drop_entry, 2 | 3)),
        ("drop_packet", d.drop_rate != 0),
        ("secure_tcp", d.secure_tcp_on),
    ] {
        f.sample("rvs_defense_active", &[("strategy", name)], u64::from(on));
    }
    f.head(
        "rvs_defense_cores_under_pressure",
        "gauge",
        "Worker cores whose connection table has fewer free entries than amemthresh.",
    );
    f.sample(
        "rvs_defense_cores_under_pressure",
        &[],
        u64::from(d.cores_under_pressure),
    );
    f.head(
        "rvs_conn_table_occupancy_ratio",
        "gauge",
        "The fullest worker core's connection table occupancy.",
    );
    f.sample_text(
        "rvs_conn_table_occupancy_ratio",
        &[],
        &format!("{:.6}", f64::from(d.occupancy_ppm) / 1e6),
    );
    f.head(
        "rvs_defense_drop_rate",
        "gauge",
        "drop_packet's rate in force: one new connection in this many is dropped (0: none).",
    );
    f.sample("rvs_defense_drop_rate", &[], u64::from(d.drop_rate));
    f.head(
        "rvs_vrrp_adverts_received_total",
        "counter",
        "VRRP adverts that reached an instance's socket, before any check.",
    );
    for (inst, c) in &scrape.vrrp {
        f.sample(
            "rvs_vrrp_adverts_received_total",
            &[("instance", inst)],
            c.received,
        );
    }
    f.head(
        "rvs_vrrp_adverts_dropped_total",
        "counter",
        "VRRP adverts an instance dropped, by reason (keepalived's statistics names).",
    );
    for (inst, c) in &scrape.vrrp {
        for (why, n) in &c.dropped {
            f.sample(
                "rvs_vrrp_adverts_dropped_total",
                &[("instance", inst), ("reason", why.label())],
                *n,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_api::ServiceKey;
    use rvs_api::{Counter, DestConfig, DestStatus, Forward, Protocol, ServiceConfig, Stats};

    #[test]
    fn exposition_shape() {
        let info = Info {
            version: "0.1.0".into(),
            ipvs_version: 0x010201,
            conn_table_size: 4096,
            workers: 2,
            generation: 7,
        };
        let key = ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: "198.18.0.100:80".parse().unwrap(),
        };
        let services = vec![ServiceStatus {
            key,
            config: ServiceConfig::new("rr"),
            stats: Stats {
                conns: 3,
                in_pkts: 18,
                out_pkts: 0,
                in_bytes: 1188,
                out_bytes: 0,
            },
            rates: Default::default(),
            dests: vec![DestStatus {
                config: DestConfig {
                    addr: "198.18.0.11:80".parse().unwrap(),
                    forward: Forward::Route,
                    weight: 2,
                    u_threshold: 0,
                    l_threshold: 0,
                    tunnel: Default::default(),
                },
                active_conns: 1,
                inactive_conns: 2,
                persist_conns: 0,
                stats: Stats {
                    conns: 3,
                    ..Stats::default()
                },
                rates: Default::default(),
            }],
        }];
        let counters = Counters {
            counters: vec![Counter {
                name: "drop_no_dest".into(),
                value: 4,
            }],
        };
        let cores = vec![CoreStatus {
            core: 1,
            cycles: 1000,
            busy_cycles: 250,
            busy_ppm: 250_000,
            handoff_depth: 3,
            handoff_capacity: 4096,
        }];
        let health = HealthMetrics {
            dests: vec![("tcp/198.18.0.100:80".into(), "198.18.0.11:80".into(), false)],
            checks: vec![(
                "tcp/198.18.0.100:80".into(),
                "198.18.0.11:80".into(),
                "HTTP_GET#0".into(),
                false,
                Some(std::time::Duration::from_millis(1500)),
            )],
            quorum: vec![("tcp/198.18.0.100:80".into(), true)],
        };
        let counters_cfg = ConfigCounters::default();
        counters_cfg.loaded(3);
        counters_cfg.loaded(1);
        counters_cfg.failed();
        let text = render(&Scrape {
            info,
            services,
            counters,
            cores,
            health,
            config: counters_cfg.get(),
            vrrp: vec![("VI_1".into(), {
                let c = crate::ha::VrrpCounters::default();
                c.received("VI_1");
                c.received("VI_1");
                c.dropped("VI_1", rvs_vrrp::router::DropReason::AuthFailure);
                c.get().remove(0).1
            })],
            defense: rvs_api::DefenseStatus {
                shown: rvs_api::Defense {
                    drop_packet: 2,
                    ..Default::default()
                },
                cores_under_pressure: 1,
                occupancy_ppm: 950_000,
                drop_rate: 2,
                ..Default::default()
            },
        });
        for line in [
            "# TYPE rvs_connections_total counter",
            "rvs_generation 7",
            "rvs_connections_total{service=\"tcp/198.18.0.100:80\"} 3",
            "rvs_connections_total{service=\"tcp/198.18.0.100:80\",dest=\"198.18.0.11:80\"} 3",
            "rvs_in_bytes_total{service=\"tcp/198.18.0.100:80\"} 1188",
            "rvs_dest_connections{service=\"tcp/198.18.0.100:80\",dest=\"198.18.0.11:80\",state=\"inactive\"} 2",
            "rvs_dest_weight{service=\"tcp/198.18.0.100:80\",dest=\"198.18.0.11:80\"} 2",
            "rvs_dataplane_events_total{counter=\"drop_no_dest\"} 4",
            "rvs_core_busy_ratio{core=\"1\"} 0.250000",
            "rvs_core_cycles_total{core=\"1\",state=\"busy\"} 250",
            "rvs_ring_depth{core=\"1\",ring=\"handoff\"} 3",
            "rvs_dest_up{service=\"tcp/198.18.0.100:80\",dest=\"198.18.0.11:80\"} 0",
            "rvs_check_duration_seconds{service=\"tcp/198.18.0.100:80\",dest=\"198.18.0.11:80\",check=\"HTTP_GET#0\"} 1.500000",
            "rvs_service_quorum{service=\"tcp/198.18.0.100:80\"} 1",
            "rvs_config_errors_total 4",
            "rvs_config_last_load_errors 1",
            "rvs_config_failed_reloads_total 1",
            "rvs_vrrp_adverts_received_total{instance=\"VI_1\"} 2",
            "rvs_defense_mode{strategy=\"drop_packet\"} 2",
            "rvs_defense_active{strategy=\"drop_packet\"} 1",
            "rvs_defense_active{strategy=\"secure_tcp\"} 0",
            "rvs_defense_cores_under_pressure 1",
            "rvs_conn_table_occupancy_ratio 0.950000",
            "rvs_defense_drop_rate 2",
            "rvs_vrrp_adverts_dropped_total{instance=\"VI_1\",reason=\"auth_failure\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // Every sample line belongs to a family announced before it.
        let mut declared = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_string());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                assert!(declared.contains(name), "{l}");
            }
        }
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
