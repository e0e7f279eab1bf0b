//! A service resolved: its keys, scheduler, method, persistence,
//! sorry server and dests, with keepalived's defaults and warnings.

use super::check_tunnel;
use super::method;
use super::service_name;
use super::Resolver;
use crate::config::draft::Locus;
use crate::config::draft::{
    Family, ForwardName, Granularity, GroupDraft, GroupMember, ServiceDraft, TunnelDraft,
};
use crate::config::error::ConfigError;
use crate::config::model::{
    self, Dest, Global, Network, Service, SorryServer, DELAY_LOOP_DEFAULT,
    PERSISTENT_TIMEOUT_DEFAULT_S, PERSISTENT_TIMEOUT_MAX_S, SCHEDULERS, SCHEDULER_DEFAULT,
};
use rvs_api::{Forward, Protocol, ServiceKey, Tunnel};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

impl Resolver<'_> {
    #[allow(clippy::too_many_lines)]
    pub(super) fn service(
        &mut self,
        i: usize,
        sd: &ServiceDraft,
        groups: &HashMap<&str, (usize, &GroupDraft)>,
        global: &Global,
        network: &Network,
    ) -> Result<Option<Service>, ConfigError> {
        let here = Locus::Service(i);
        let name = service_name(sd);
        let targets = [
            sd.address.is_some(),
            sd.fwmark.is_some(),
            sd.group.is_some(),
        ];
        if targets.iter().filter(|&&t| t).count() != 1 {
            return Err(self.error(
                here,
                "a service needs exactly one of address, fwmark and group",
            ));
        }
        // The dests' family decides a firewall-mark service's, unless
        // ip_family says (for tunnelled dests of the other family).
        let dest_v6 = sd.dest.first().map(|d| d.address.0.is_ipv6());
        let family_v6 = sd.ip_family.map(|f| f == Family::Inet6);
        // The members, before a protocol is known: (addr, port) or mark.
        let mut members: Vec<GroupMember> = Vec::new();
        if let Some(a) = sd.address {
            members.push(GroupMember::Addr {
                first: a.0.ip(),
                last: a.0.ip(),
                port: a.0.port(),
            });
        } else if let Some(mark) = sd.fwmark {
            if mark == 0 {
                return Err(self.error(here, "firewall mark 0 is not a mark"));
            }
            members.push(GroupMember::Fwmark { mark, ipv6: None });
        } else if let Some(g) = &sd.group {
            let Some((gi, group)) = groups.get(g.as_str()) else {
                return Err(self.error(here, format!("virtual_server_group '{g}' is not defined")));
            };
            members.extend(group.members.iter().copied());
            if members.is_empty() {
                self.warn(
                    Locus::Group(*gi),
                    format!(
                        "virtual_server_group '{g}' has no members - ignoring its virtual server"
                    ),
                );
                return Ok(None);
            }
        }
        let addr_v6 = members.iter().find_map(|m| match m {
            GroupMember::Addr { first, .. } => Some(first.is_ipv6()),
            GroupMember::Fwmark { .. } => None,
        });
        let has_addr = addr_v6.is_some();
        let has_mark = members
            .iter()
            .any(|m| matches!(m, GroupMember::Fwmark { .. }));
        let v6 = addr_v6.or(family_v6).or(dest_v6).unwrap_or(false);

        let protocol = match (has_addr, sd.protocol) {
            (true, Some(p)) => Protocol::from(p),
            (true, None) => {
                self.warn(
                    here,
                    format!("Virtual server {name}: no protocol set - defaulting to UDP"),
                );
                Protocol::Udp
            }
            (false, Some(_)) => {
                self.warn(
                    here,
                    format!(
                        "Virtual server {name}: protocol specified for fwmark - protocol will be ignored"
                    ),
                );
                Protocol::Udp
            }
            (false, None) => Protocol::Udp,
        };
        let mut keys = Vec::new();
        for m in &members {
            match *m {
                GroupMember::Addr { first, last, port } => {
                    for ip in GroupMember::addrs(first, last) {
                        if ip.is_ipv6() != v6 {
                            return Err(self.error(
                                here,
                                format!("virtual server {name} cannot mix IPv4 and IPv6 addresses"),
                            ));
                        }
                        keys.push(ServiceKey::Inet {
                            protocol,
                            addr: SocketAddr::new(ip, port),
                        });
                    }
                }
                GroupMember::Fwmark { mark, ipv6 } => {
                    let ipv6 = ipv6.or(family_v6).unwrap_or(v6);
                    if ipv6 != v6 {
                        return Err(self.error(
                            here,
                            format!("virtual server {name} cannot mix IPv4 and IPv6"),
                        ));
                    }
                    keys.push(ServiceKey::Fwmark { mark, ipv6 });
                }
            }
        }
        let mut unique = HashSet::new();
        for k in &keys {
            if !unique.insert(*k) {
                return Err(self.error(
                    here,
                    format!("virtual server {name} has {} twice", model::key_text(k)),
                ));
            }
        }

        if sd.dest.is_empty() {
            self.warn(
                here,
                format!("Virtual server {name} has no real servers - ignoring"),
            );
            return Ok(None);
        }

        let scheduler = match &sd.scheduler {
            Some(s) if SCHEDULERS.contains(&s.as_str()) => s.clone(),
            Some(s) => return Err(self.error(here, format!("unknown lb_algo '{s}'"))),
            None => {
                self.warn(
                    here,
                    format!(
                        "Virtual server {name}: no scheduler set, setting default '{SCHEDULER_DEFAULT}'"
                    ),
                );
                SCHEDULER_DEFAULT.to_string()
            }
        };
        let mut bits = [false; 3];
        for flag in &sd.sched_flags {
            let Some(&rvs_api::SchedFlag {
                bit,
                scheduler: only,
                ..
            }) = rvs_api::sched_flag(flag)
            else {
                return Err(self.error(here, format!("unknown scheduler flag '{flag}'")));
            };
            if let Some(only) = only.filter(|&s| s != scheduler) {
                self.warn(
                    here,
                    format!(
                        "Virtual server {name}: scheduler flag '{flag}' is only for lb_algo {only} - ignoring"
                    ),
                );
                continue;
            }
            bits[bit] = true;
        }
        let names = rvs_api::sched_flag_names(&scheduler);
        let sched_flags = (0..3)
            .filter(|&b| bits[b])
            .map(|b| names[b].to_string())
            .collect();

        let mut one_packet = sd.one_packet.unwrap_or(false);
        if one_packet && has_addr && protocol != Protocol::Udp {
            self.warn(
                here,
                format!("Virtual server {name}: one packet scheduling requires UDP - resetting"),
            );
            one_packet = false;
        }

        let synproxy = sd.synproxy.unwrap_or(false);
        if synproxy && has_addr && protocol != Protocol::Tcp {
            return Err(self.error(
                here,
                format!(
                    "Virtual server {name}: syn_proxy is only for TCP and firewall-mark services"
                ),
            ));
        }

        let mut persistence_timeout_s = match sd.persistence_timeout {
            Some(t) if t == 0 || t > PERSISTENT_TIMEOUT_MAX_S => {
                return Err(self.error(
                    here,
                    format!(
                        "persistence_timeout {t} is outside range 1..{PERSISTENT_TIMEOUT_MAX_S}"
                    ),
                ))
            }
            t => t,
        };
        if sd.persistence_netmask.is_some() && persistence_timeout_s.is_none() {
            persistence_timeout_s = Some(PERSISTENT_TIMEOUT_DEFAULT_S);
        }
        if persistence_timeout_s.is_none()
            && keys
                .iter()
                .any(|k| matches!(k, ServiceKey::Inet { addr, .. } if addr.port() == 0))
        {
            self.warn(
                here,
                format!(
                    "Virtual server {name}: zero port only valid for persistent services - setting persistence_timeout {PERSISTENT_TIMEOUT_DEFAULT_S}"
                ),
            );
            persistence_timeout_s = Some(PERSISTENT_TIMEOUT_DEFAULT_S);
        }
        let persistence_netmask = match sd.persistence_netmask {
            None => None,
            Some(Granularity::Mask(m)) if !v6 => Some(u32::from(m)),
            Some(Granularity::Prefix(l)) if !v6 && l <= 32 => {
                Some(u32::MAX.checked_shl(32 - u32::from(l)).unwrap_or(0))
            }
            Some(Granularity::Prefix(l)) if v6 => Some(u32::from(l)),
            Some(_) => {
                return Err(self.error(
                    here,
                    format!(
                        "persistence_granularity does not fit the {} virtual server {name}",
                        if v6 { "IPv6" } else { "IPv4" }
                    ),
                ))
            }
        };

        let own_method = method(sd.forward, sd.tunnel);
        self.check_method(here, sd.forward, sd.tunnel)?;
        if own_method.is_none() && sd.dest.iter().any(|d| d.forward.is_none()) {
            self.warn(
                here,
                format!("Virtual server {name}: no forwarding method set, setting default NAT"),
            );
        }
        let (forward, tunnel) = own_method.unwrap_or((Forward::Masq, Tunnel::default()));

        let mut ha_suspend = sd.ha_suspend.unwrap_or(false);
        if ha_suspend && has_mark {
            self.warn(
                here,
                format!(
                    "Virtual server {name}: cannot use ha_suspend with fwmarks - clearing ha_suspend"
                ),
            );
            ha_suspend = false;
        }

        // A sorry server in error is left out alone.
        let sorry_server = match &sd.sorry_server {
            None => None,
            Some(s) => {
                let (forward, tunnel) = method(s.forward, s.tunnel).unwrap_or((forward, tunnel));
                let ok = self
                    .check_method(Locus::Sorry(i), s.forward, s.tunnel)
                    .and_then(|()| {
                        self.check_family(Locus::Sorry(i), "sorry server", s.address.0, v6, forward)
                    });
                match ok {
                    Ok(()) => Some(SorryServer {
                        addr: s.address.0,
                        forward,
                        tunnel,
                        inhibit: s.inhibit.unwrap_or(false),
                    }),
                    Err(e) => {
                        self.errors.push(e);
                        None
                    }
                }
            }
        };

        // A real server in error is left out alone.
        let mut dests: Vec<Dest> = Vec::new();
        let mut dest_locus: Vec<usize> = Vec::new();
        'dest: for (j, dd) in sd.dest.iter().enumerate() {
            let dest = match self.dest(i, j, sd, dd, (forward, tunnel), v6, global) {
                Ok(d) => d,
                Err(e) => {
                    self.errors.push(e);
                    continue;
                }
            };
            let remapped = keys
                .iter()
                .map(|k| model::dest_addr(k, dest.addr, dest.forward))
                .find(|a| *a != dest.addr);
            if let Some(addr) = remapped.filter(|_| dest.addr.port() != 0) {
                self.warn(
                    Locus::Dest(i, j),
                    format!(
                        "Virtual server {name}: real server {} cannot map ports with {} - it gets port {}",
                        dest.addr,
                        if dest.forward == Forward::Route { "DR" } else { "TUN" },
                        addr.port()
                    ),
                );
            }
            // keepalived compares real servers by address and port as
            // written: DR or TUN ones that differ in port only are two
            // (the kernel keeps both); the dataplane gets them as one dest
            // whose weight is theirs added up ([`Service::dests_with`]).
            if let Some(k) = dests.iter().position(|d| d.addr == dest.addr) {
                let e = self.error(
                    Locus::Dest(i, j),
                    format!(
                        "real server {} is defined twice in virtual server {name} (first at {})",
                        dest.addr,
                        self.pos.at(Locus::Dest(i, dest_locus[k]))
                    ),
                );
                self.errors.push(e);
                continue;
            }
            for key in &keys {
                let addr = model::dest_addr(key, dest.addr, dest.forward);
                if let Some(k) = dests.iter().position(|d| {
                    model::dest_addr(key, d.addr, d.forward) == addr && d.forward != dest.forward
                }) {
                    let e = self.error(
                        Locus::Dest(i, j),
                        format!(
                            "real server {} is {addr} in virtual server {name}, as the one at {} with another forwarding method",
                            dest.addr,
                            self.pos.at(Locus::Dest(i, dest_locus[k]))
                        ),
                    );
                    self.errors.push(e);
                    continue 'dest;
                }
                if let Some(k) = dests
                    .iter()
                    .position(|d| model::dest_addr(key, d.addr, d.forward) == addr)
                {
                    let m = format!(
                        "Virtual server {name}: real servers {} and {} are both {addr} with {} - the dataplane has them as one dest, their weights added up",
                        self.pos.at(Locus::Dest(i, dest_locus[k])),
                        dest.addr,
                        if dest.forward == Forward::Route { "DR" } else { "TUN" },
                    );
                    self.warn(Locus::Dest(i, j), m);
                    break;
                }
            }
            dests.push(dest);
            dest_locus.push(j);
        }

        let weight_sum: u64 = dests.iter().map(|d| u64::from(d.weight)).sum();
        let weight_sum = u32::try_from(weight_sum).unwrap_or(u32::MAX).max(1);
        let mut quorum = sd.quorum.unwrap_or(1).max(1);
        if quorum > weight_sum {
            self.warn(
                here,
                format!(
                    "Virtual server {name}: quorum {quorum} exceeds total weight of real servers {weight_sum}, reducing quorum to {weight_sum}"
                ),
            );
            quorum = weight_sum;
        }
        let mut hysteresis = sd.hysteresis.unwrap_or(0);
        if hysteresis >= quorum {
            self.warn(
                here,
                format!(
                    "Virtual server {name}: hysteresis {hysteresis} >= quorum {quorum}; setting hysteresis to {}",
                    quorum - 1
                ),
            );
            hysteresis = quorum - 1;
        }

        // The SYN proxy sees both directions of a connection: DR and TUN
        // real servers answer around the director (DPVS refuses them too).
        let dr_or_tun = |f: Forward| matches!(f, Forward::Route | Forward::Tunnel);
        if synproxy
            && (dests.iter().any(|d| dr_or_tun(d.forward))
                || sorry_server.as_ref().is_some_and(|s| dr_or_tun(s.forward)))
        {
            return Err(self.error(
                here,
                format!("Virtual server {name}: syn_proxy needs NAT or FNAT real servers and sorry server (the director must see the replies), not DR or TUN"),
            ));
        }
        // Decisions 40 and 42 are not combined: the proxy's handshake with
        // the real server is not translated between families.
        if synproxy
            && (dests.iter().any(|d| d.addr.is_ipv6() != v6)
                || sorry_server
                    .as_ref()
                    .is_some_and(|s| s.addr.is_ipv6() != v6))
        {
            return Err(self.error(
                here,
                format!("Virtual server {name}: syn_proxy does not support real servers of the other address family"),
            ));
        }

        let laddr_pool = match &sd.laddr_pool {
            Some(p) if network.pool(p).is_none() => {
                return Err(self.error(here, format!("local_address_group '{p}' is not defined")))
            }
            p => p.clone(),
        };
        // Between families (decision 42) a FullNAT real server's
        // connections come from a local address of its own family.
        if let Some(pool) = laddr_pool.as_deref().and_then(|p| network.pool(p)) {
            let fnat = dests.iter().filter(|d| d.forward == Forward::FullNat);
            for d in fnat {
                let v6 = d.addr.is_ipv6();
                if !pool.addresses.iter().any(|a| a.addr.is_ipv6() == v6) {
                    return Err(self.error(
                        here,
                        format!(
                            "Virtual server {name}: FNAT real server {} is {} but local_address_group '{}' has no {} address",
                            d.addr,
                            if v6 { "IPv6" } else { "IPv4" },
                            pool.name,
                            if v6 { "IPv6" } else { "IPv4" },
                        ),
                    ));
                }
            }
        }
        if laddr_pool.is_none() && dests.iter().any(|d| d.forward == Forward::FullNat) {
            self.warn(
                here,
                format!(
                    "Virtual server {name}: FNAT real servers need local addresses (laddr_group_name) - none given"
                ),
            );
        }
        let mut sloppy_tcp =
            self.sloppy_tcp(sd, here, &name, (has_addr, protocol), &scheduler, &dests);
        if sloppy_tcp && synproxy {
            // The proxy takes an ACK without an entry only with its cookie.
            self.warn(
                here,
                format!("Virtual server {name}: sloppy_tcp cannot adopt connections of a syn_proxy service (an ACK needs its cookie) - resetting"),
            );
            sloppy_tcp = false;
        }

        let smtp_alert = sd
            .smtp_alert
            .or(global.smtp_alert_checker)
            .or(global.smtp_alert)
            .unwrap_or(false);
        Ok(Some(Service {
            group: sd.group.clone(),
            keys,
            scheduler,
            sched_flags,
            one_packet,
            persistence_timeout_s,
            persistence_netmask,
            persistence_engine: sd.persistence_engine.clone(),
            proxy_protocol: sd.proxy_protocol.unwrap_or(false),
            sloppy_tcp,
            synproxy,
            laddr_pool,
            forward,
            tunnel,
            delay_loop: sd.delay_loop.unwrap_or(DELAY_LOOP_DEFAULT),
            alpha: sd.alpha.unwrap_or(false),
            omega: sd.omega.unwrap_or(false),
            inhibit_on_failure: sd.inhibit_on_failure.unwrap_or(false),
            ha_suspend,
            quorum,
            hysteresis,
            quorum_up: sd.quorum_up.clone(),
            quorum_down: sd.quorum_down.clone(),
            smtp_alert,
            sorry_server,
            dests,
            bgp_communities: sd.bgp_communities.clone(),
        }))
    }

    pub(super) fn check_method(
        &self,
        locus: Locus,
        forward: Option<ForwardName>,
        tunnel: Option<TunnelDraft>,
    ) -> Result<(), ConfigError> {
        match (forward, tunnel) {
            (Some(ForwardName::Tunnel), Some(t)) => {
                check_tunnel(&Tunnel::from(t)).map_err(|e| self.error(locus, e))
            }
            (_, Some(_)) => Err(self.error(locus, "tunnel settings need forward = \"tunnel\"")),
            _ => Ok(()),
        }
    }

    pub(super) fn check_family(
        &self,
        locus: Locus,
        what: &str,
        addr: SocketAddr,
        v6: bool,
        forward: Forward,
    ) -> Result<(), ConfigError> {
        // FullNAT translates between families (decision 42).
        if addr.is_ipv6() != v6 && !matches!(forward, Forward::Tunnel | Forward::FullNat) {
            return Err(self.error(
                locus,
                format!(
                    "{what} {addr} is {} but the virtual server is {} (only FNAT and tunnelled real servers may differ)",
                    if addr.is_ipv6() { "IPv6" } else { "IPv4" },
                    if v6 { "IPv6" } else { "IPv4" }
                ),
            ));
        }
        Ok(())
    }
}

impl Resolver<'_> {
    /// `sloppy_tcp` (an rvs extension, decision 45): reset with a warning
    /// on a UDP service or with FNAT real servers (an adopted connection
    /// reaches the real server from another local address), kept with a
    /// warning when the scheduler picks differently on each director.
    fn sloppy_tcp(
        &mut self,
        sd: &ServiceDraft,
        here: Locus,
        name: &str,
        (has_addr, protocol): (bool, Protocol),
        scheduler: &str,
        dests: &[Dest],
    ) -> bool {
        if !sd.sloppy_tcp.unwrap_or(false) {
            return false;
        }
        if has_addr && protocol != Protocol::Tcp {
            self.warn(
                here,
                format!("Virtual server {name}: sloppy_tcp requires TCP - resetting"),
            );
            return false;
        }
        if dests.iter().any(|d| d.forward == Forward::FullNat) {
            self.warn(
                here,
                format!(
                    "Virtual server {name}: sloppy_tcp cannot adopt connections of FNAT real servers (their local address and port are another director's) - resetting"
                ),
            );
            return false;
        }
        if !rvs_api::scheduler_picks_alike(scheduler) {
            self.warn(
                here,
                format!(
                    "Virtual server {name}: sloppy_tcp with lb_algo {scheduler}: another director picks another real server for a connection it adopts (only mh, sh and dh with the same real servers pick alike)"
                ),
            );
        }
        true
    }
}
