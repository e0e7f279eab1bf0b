//! Reconcile: from the desired state and what the dataplane reports, the
//! changes that make the one the other, applied as one batch (one
//! generation, all or nothing).
//!
//! Contract: [`plan`] is pure. The desired state is given as the requests
//! that would build it from nothing (what a configuration turns into); the
//! current one as the dataplane's listings. The plan:
//! - deletes services the configuration does not have, adds those it adds;
//! - edits a service whose settings changed (`-E`, a full replacement);
//! - adds and deletes dests, and edits in place a dest whose weight,
//!   method or thresholds changed, so its connections live on (never a
//!   delete and add of the same dest);
//! - adds and deletes FullNAT local addresses, replaces the classifier
//!   rules when they differ, and sets the timeouts when they differ.
//!
//! An empty plan means the dataplane already is as configured; running the
//! plan and planning again gives an empty plan.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use rvs_api::{
    DestConfig, LaddrStatus, MarkRule, Network, Request, ServiceConfig, ServiceKey, ServiceStatus,
    SyncDaemon, Timeouts,
};

/// A service as desired: its settings, dests and local addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredService {
    pub config: Option<ServiceConfig>,
    pub dests: Vec<DestConfig>,
    pub laddrs: Vec<IpAddr>,
}

/// The whole desired state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// By service key, in the order the configuration gave them.
    pub services: Vec<(ServiceKey, DesiredService)>,
    pub marks: Vec<MarkRule>,
    pub timeouts: Option<Timeouts>,
    /// The director's extra addresses and routes (`None`: left alone).
    pub network: Option<Network>,
    /// The VIPs not owned now (VRRP backups'; `None`: left alone).
    pub released: Option<Vec<IpAddr>>,
    /// The sync daemons that run (`None`: left alone).
    pub daemons: Option<Vec<SyncDaemon>>,
}

impl Desired {
    /// The desired state of the requests that build it from nothing
    /// (`SetTimeouts`, `AddService`, `AddDest`, `AddLaddr`, `AddMarkRule`;
    /// others are ignored).
    pub fn from_requests(requests: &[Request]) -> Desired {
        let mut d = Desired::default();
        for r in requests {
            match r {
                Request::SetTimeouts(t) => d.timeouts = Some(*t),
                Request::SetNetwork(n) => d.network = Some(n.clone()),
                Request::ReleaseVips(v) => {
                    let mut v = v.clone();
                    v.sort();
                    v.dedup();
                    d.released = Some(v);
                }
                Request::AddService { key, config } => {
                    d.service_mut(*key).config = Some(config.clone());
                }
                Request::AddDest { service, dest } => {
                    d.service_mut(*service).dests.push(dest.clone())
                }
                Request::AddLaddr { service, addr } => d.service_mut(*service).laddrs.push(*addr),
                Request::AddMarkRule(rule) => d.marks.push(rule.clone()),
                Request::StartDaemon(sd) => d.daemons.get_or_insert_with(Vec::new).push(sd.clone()),
                _ => {}
            }
        }
        d
    }

    fn service_mut(&mut self, key: ServiceKey) -> &mut DesiredService {
        let i = match self.services.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.services.push((key, DesiredService::default()));
                self.services.len() - 1
            }
        };
        &mut self.services[i].1
    }
}

/// What the dataplane reports.
#[derive(Clone, Debug, Default)]
pub struct Current {
    pub services: Vec<ServiceStatus>,
    pub laddrs: Vec<LaddrStatus>,
    pub marks: Vec<MarkRule>,
    pub timeouts: Option<Timeouts>,
    pub network: Option<Network>,
    pub released: Option<Vec<IpAddr>>,
    pub daemons: Option<Vec<SyncDaemon>>,
}

/// The changes from `current` to `desired`, in an order the dataplane
/// accepts: deletions first, then the network (a route may serve only
/// the dests just deleted, or only those about to be added), then additions
/// and edits.
pub fn plan(desired: &Desired, current: &Current) -> Vec<Request> {
    let mut dels = vec![];
    let mut out = vec![];
    let now: BTreeMap<String, &ServiceStatus> = current
        .services
        .iter()
        .map(|s| (format!("{:?}", s.key), s))
        .collect();
    let wanted: BTreeMap<String, &(ServiceKey, DesiredService)> = desired
        .services
        .iter()
        .filter(|(_, s)| s.config.is_some())
        .map(|e| (format!("{:?}", e.0), e))
        .collect();
    // Services no longer wanted go first, with their dests and addresses.
    for (name, s) in &now {
        if !wanted.contains_key(name) {
            dels.push(Request::DelService { key: s.key });
        }
    }
    if current.marks != desired.marks {
        let mut marks: Vec<u32> = current.marks.iter().map(|m| m.mark).collect();
        marks.dedup();
        for mark in marks {
            out.push(Request::DelMarkRules { mark });
        }
        for rule in &desired.marks {
            out.push(Request::AddMarkRule(rule.clone()));
        }
    }
    if let Some(t) = desired.timeouts {
        if current.timeouts != Some(t) {
            out.push(Request::SetTimeouts(t));
        }
    }
    for (key, want) in &desired.services {
        let Some(config) = &want.config else {
            continue;
        };
        let have = now.get(&format!("{key:?}")).copied();
        match have {
            None => out.push(Request::AddService {
                key: *key,
                config: config.clone(),
            }),
            Some(s) if s.config != *config => out.push(Request::EditService {
                key: *key,
                config: config.clone(),
            }),
            Some(_) => {}
        }
        let have_dests: Vec<&DestConfig> = have
            .map(|s| s.dests.iter().map(|d| &d.config).collect())
            .unwrap_or_default();
        let by_addr = |addr: &SocketAddr| have_dests.iter().find(|d| d.addr == *addr).copied();
        for d in &have_dests {
            if !want.dests.iter().any(|w| w.addr == d.addr) {
                dels.push(Request::DelDest {
                    service: *key,
                    addr: d.addr,
                });
            }
        }
        // Newest first in the dataplane: add in the configuration's order.
        for w in &want.dests {
            match by_addr(&w.addr) {
                None => out.push(Request::AddDest {
                    service: *key,
                    dest: w.clone(),
                }),
                Some(d) if d != w => out.push(Request::EditDest {
                    service: *key,
                    dest: w.clone(),
                }),
                Some(_) => {}
            }
        }
        let have_laddrs: Vec<IpAddr> = current
            .laddrs
            .iter()
            .filter(|l| l.service == *key)
            .map(|l| l.addr)
            .collect();
        for a in &have_laddrs {
            if !want.laddrs.contains(a) {
                dels.push(Request::DelLaddr {
                    service: *key,
                    addr: *a,
                });
            }
        }
        for a in &want.laddrs {
            if !have_laddrs.contains(a) {
                out.push(Request::AddLaddr {
                    service: *key,
                    addr: *a,
                });
            }
        }
    }
    if let Some(r) = &desired.released {
        if current.released.as_ref() != Some(r) {
            out.push(Request::ReleaseVips(r.clone()));
        }
    }
    if let Some(n) = &desired.network {
        if current.network.as_ref() != Some(n) {
            dels.push(Request::SetNetwork(n.clone()));
        }
    }
    // A daemon that changed role or settings is stopped, then started.
    if let Some(want) = &desired.daemons {
        let have = current.daemons.clone().unwrap_or_default();
        for d in &have {
            if !want.contains(d) {
                dels.push(Request::StopDaemon(d.role));
            }
        }
        for w in want {
            if !have.contains(w) {
                out.push(Request::StartDaemon(w.clone()));
            }
        }
    }
    dels.extend(out);
    dels
}

/// What the dataplane reports now, through `call` (the admin API).
pub fn fetch(
    call: &mut dyn FnMut(Request) -> Result<rvs_api::Response, rvs_api::FrameError>,
) -> Result<Current, String> {
    use rvs_api::Response;
    let mut ask = |r: Request| match call(r) {
        Ok(Response::Error(e)) => Err(e.message),
        Ok(resp) => Ok(resp),
        Err(e) => Err(format!("{e:?}")),
    };
    let Response::Services(services) = ask(Request::List { service: None })? else {
        return Err("unexpected answer to List".into());
    };
    let Response::Laddrs(laddrs) = ask(Request::ListLaddrs { service: None })? else {
        return Err("unexpected answer to ListLaddrs".into());
    };
    let Response::MarkRules(marks) = ask(Request::ListMarkRules)? else {
        return Err("unexpected answer to ListMarkRules".into());
    };
    let Response::Timeouts(t) = ask(Request::GetTimeouts)? else {
        return Err("unexpected answer to GetTimeouts".into());
    };
    let Response::Network(network) = ask(Request::GetNetwork)? else {
        return Err("unexpected answer to GetNetwork".into());
    };
    let Response::Released(released) = ask(Request::ReleasedVips)? else {
        return Err("unexpected answer to ReleasedVips".into());
    };
    let Response::Daemons(daemons) = ask(Request::Daemons)? else {
        return Err("unexpected answer to Daemons".into());
    };
    Ok(Current {
        services,
        laddrs,
        marks,
        timeouts: Some(t),
        network: Some(network),
        released: Some(released),
        daemons: Some(daemons.into_iter().map(|d| d.config).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_api::{DestStatus, Forward, Protocol, Stats};

    fn key(port: u16) -> ServiceKey {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: SocketAddr::from(([198, 18, 0, 100], port)),
        }
    }

    fn dest(last: u8, weight: u32) -> DestConfig {
        DestConfig {
            addr: SocketAddr::from(([198, 18, 0, last], 80)),
            forward: Forward::Route,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: Default::default(),
        }
    }

    /// The dataplane after `requests` (a tiny model of it, for the tests).
    fn current_of(requests: &[Request]) -> Current {
        let d = Desired::from_requests(requests);
        Current {
            services: d
                .services
                .iter()
                .map(|(k, s)| ServiceStatus {
                    key: *k,
                    config: s.config.clone().unwrap(),
                    stats: Stats::default(),
                    rates: Default::default(),
                    dests: s
                        .dests
                        .iter()
                        .map(|c| DestStatus {
                            config: c.clone(),
                            active_conns: 0,
                            inactive_conns: 0,
                            persist_conns: 0,
                            stats: Stats::default(),
                            rates: Default::default(),
                        })
                        .collect(),
                })
                .collect(),
            laddrs: d
                .services
                .iter()
                .flat_map(|(k, s)| {
                    s.laddrs.iter().map(|a| LaddrStatus {
                        service: *k,
                        addr: *a,
                        conns: 0,
                        exhausted: 0,
                    })
                })
                .collect(),
            marks: d.marks.clone(),
            timeouts: d.timeouts,
            network: d.network.clone(),
            released: d.released.clone(),
            daemons: d.daemons.clone(),
        }
    }

    /// (port, scheduler, dests as (last address byte, weight)).
    type Spec<'a> = (u16, &'a str, &'a [(u8, u32)]);

    fn build(services: &[Spec]) -> Vec<Request> {
        let mut r = vec![];
        for (port, sched, dests) in services {
            r.push(Request::AddService {
                key: key(*port),
                config: ServiceConfig::new(*sched),
            });
            for (last, w) in *dests {
                r.push(Request::AddDest {
                    service: key(*port),
                    dest: dest(*last, *w),
                });
            }
        }
        r
    }

    #[test]
    fn from_nothing_the_plan_is_the_configuration() {
        let want = build(&[(80, "rr", &[(11, 1), (12, 2)])]);
        let p = plan(&Desired::from_requests(&want), &Current::default());
        assert_eq!(p, want);
    }

    #[test]
    fn a_changed_weight_is_an_edit_in_place_and_the_rest_is_left_alone() {
        let old = build(&[(80, "rr", &[(11, 1), (12, 2)]), (443, "wlc", &[(11, 1)])]);
        let new = build(&[(80, "rr", &[(11, 5), (12, 2)]), (443, "wlc", &[(11, 1)])]);
        let p = plan(&Desired::from_requests(&new), &current_of(&old));
        assert_eq!(
            p,
            vec![Request::EditDest {
                service: key(80),
                dest: dest(11, 5)
            }]
        );
    }

    #[test]
    fn removed_and_added_services_and_dests_and_settings() {
        let old = build(&[(80, "rr", &[(11, 1), (12, 1)]), (443, "wlc", &[(11, 1)])]);
        let mut new = build(&[(80, "wrr", &[(12, 1), (13, 1)]), (8080, "rr", &[(11, 1)])]);
        new.push(Request::SetTimeouts(Timeouts {
            tcp_s: 3600,
            tcpfin_s: 120,
            udp_s: 300,
        }));
        let p = plan(&Desired::from_requests(&new), &current_of(&old));
        assert_eq!(
            p,
            vec![
                Request::DelService { key: key(443) },
                Request::DelDest {
                    service: key(80),
                    addr: dest(11, 1).addr
                },
                Request::SetTimeouts(Timeouts {
                    tcp_s: 3600,
                    tcpfin_s: 120,
                    udp_s: 300
                }),
                Request::EditService {
                    key: key(80),
                    config: ServiceConfig::new("wrr")
                },
                Request::AddDest {
                    service: key(80),
                    dest: dest(13, 1)
                },
                Request::AddService {
                    key: key(8080),
                    config: ServiceConfig::new("rr")
                },
                Request::AddDest {
                    service: key(8080),
                    dest: dest(11, 1)
                },
            ]
        );
    }

    #[test]
    fn the_network_changes_after_deletions_and_before_additions() {
        let route = |dst: &str, via: &str| rvs_api::NetRoute {
            dst: dst.parse().unwrap(),
            via: Some(via.parse().unwrap()),
            port: None,
        };
        let net = |routes: Vec<rvs_api::NetRoute>| {
            Request::SetNetwork(Network {
                addresses: vec![],
                routes,
            })
        };
        let mut old = vec![net(vec![route("198.19.1.0/24", "198.18.0.11")])];
        old.extend(build(&[(80, "rr", &[(11, 1)])]));
        let mut new = vec![net(vec![route("198.19.2.0/24", "198.18.0.12")])];
        new.extend(build(&[(80, "rr", &[(12, 1)])]));
        let p = plan(&Desired::from_requests(&new), &current_of(&old));
        assert_eq!(
            p,
            vec![
                Request::DelDest {
                    service: key(80),
                    addr: dest(11, 1).addr
                },
                net(vec![route("198.19.2.0/24", "198.18.0.12")]),
                Request::AddDest {
                    service: key(80),
                    dest: dest(12, 1)
                },
            ]
        );
        // The same network again: nothing to do.
        assert!(plan(&Desired::from_requests(&new), &current_of(&new)).is_empty());
    }

    #[test]
    fn planning_again_after_the_plan_is_empty() {
        let old = build(&[(80, "rr", &[(11, 1), (12, 1)]), (443, "wlc", &[(11, 1)])]);
        let new = build(&[(80, "wrr", &[(12, 3), (13, 1)]), (8080, "rr", &[(11, 1)])]);
        let desired = Desired::from_requests(&new);
        let p = plan(&desired, &current_of(&old));
        // Apply the plan to the model of the dataplane.
        let mut state = Desired::from_requests(&old);
        for r in &p {
            match r {
                Request::DelService { key } => state.services.retain(|(k, _)| k != key),
                Request::EditService { key, config } => {
                    state.service_mut(*key).config = Some(config.clone())
                }
                Request::AddService { key, config } => {
                    state.service_mut(*key).config = Some(config.clone())
                }
                Request::DelDest { service, addr } => state
                    .service_mut(*service)
                    .dests
                    .retain(|d| d.addr != *addr),
                Request::AddDest { service, dest } => {
                    state.service_mut(*service).dests.push(dest.clone())
                }
                Request::EditDest { service, dest } => {
                    for d in &mut state.service_mut(*service).dests {
                        if d.addr == dest.addr {
                            *d = dest.clone();
                        }
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        let mut rebuilt = vec![];
        for (k, s) in &state.services {
            rebuilt.push(Request::AddService {
                key: *k,
                config: s.config.clone().unwrap(),
            });
            for d in &s.dests {
                rebuilt.push(Request::AddDest {
                    service: *k,
                    dest: d.clone(),
                });
            }
        }
        assert_eq!(plan(&desired, &current_of(&rebuilt)), vec![]);
    }

    #[test]
    fn a_sync_daemon_that_changes_role_is_stopped_then_started() {
        use rvs_api::SyncRole;
        let d = |role| SyncDaemon {
            role,
            interface: Some("rvs0".into()),
            syncid: 51,
            maxlen: None,
            group: None,
            port: None,
            ttl: None,
        };
        let backup = [Request::StartDaemon(d(SyncRole::Backup))];
        let master = [Request::StartDaemon(d(SyncRole::Master))];
        assert_eq!(
            plan(&Desired::from_requests(&master), &current_of(&backup)),
            vec![
                Request::StopDaemon(SyncRole::Backup),
                Request::StartDaemon(d(SyncRole::Master))
            ]
        );
        assert!(plan(&Desired::from_requests(&master), &current_of(&master)).is_empty());
        // A configuration without lvs_sync_daemon leaves daemons alone.
        assert!(plan(&Desired::from_requests(&[]), &current_of(&master)).is_empty());
    }
}
