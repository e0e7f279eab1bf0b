//! From a [`Draft`] (a configuration as written, any dialect) to the
//! validated [`Model`]: defaults, inheritance and the checks between
//! values, with keepalived's semantics (`check_data.c`'s
//! `validate_check_config`, `vrrp_parser.c`'s derivations).
//!
//! Contract: [`resolve_items`] returns the model of the items that
//! resolve, their warnings, and the error of each item left out, at
//! keepalived's granularity: a service, a real server, a checker, a sorry
//! server, a virtual_server_group, a local_address_group, a mark rule, a
//! vrrp_script, a vrrp_instance; what refers to an item left out is then
//! in error too (a service naming a missing group). [`resolve`] is the
//! all-or-nothing form: the first error, or the whole model. Positions come
//! from a [`Positions`] table the dialect filled in while reading (a
//! service's `virtual_server` line, a dest's `real_server` line ...).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use rvs_api::{Forward, MarkRule, PortRange, Protocol, ServiceKey, Tunnel, TunnelCsum, TunnelKind};

use super::draft::{
    CheckDraft, CheckKindName, DestDraft, Draft, Family, ForwardName, Granularity, GroupDraft,
    GroupMember, LaddrRange, MarkRuleDraft, PoolDraft, ServiceDraft, TunnelDraft,
    VrrpInstanceDraft, VrrpScriptDraft,
};
use super::draft::{Locus, Positions};
use super::error::{ConfigError, Warning};
use super::model::{
    self, Check, CheckKind, Dest, DnsCheck, Global, HttpCheck, LaddrPool, LocalAddress, MiscCheck,
    Model, Network, Service, SmtpCheck, SorryServer, StatusRange, UdpCheck, Vrrp, VrrpInstance,
    VrrpScript, VrrpState, CONNECT_TIMEOUT_DEFAULT, DELAY_LOOP_DEFAULT,
    PERSISTENT_TIMEOUT_DEFAULT_S, PERSISTENT_TIMEOUT_MAX_S, SCHEDULERS, SCHEDULER_DEFAULT,
    WEIGHT_MAX,
};

/// Turn `draft` into the model, all or nothing: the first error of
/// [`resolve_items`], if any.
pub fn resolve(draft: &Draft, pos: &Positions) -> Result<(Model, Vec<Warning>), ConfigError> {
    let (model, warnings, errors) = resolve_items(draft, pos);
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok((model, warnings)),
    }
}

/// Turn `draft` into the model of the items that resolve; the error of
/// each item left out.
pub fn resolve_items(draft: &Draft, pos: &Positions) -> (Model, Vec<Warning>, Vec<ConfigError>) {
    let mut r = Resolver {
        pos,
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    let network = r.network(draft);
    let vrrp = r.vrrp(draft);
    let global = r.global(&draft.global, &vrrp);
    let mut groups: HashMap<&str, (usize, &GroupDraft)> = HashMap::new();
    for (i, g) in draft.groups.iter().enumerate() {
        if let Some(&(first, _)) = groups.get(g.name.as_str()) {
            let e = r.error(
                Locus::Group(i),
                format!(
                    "virtual_server_group '{}' is already defined at {}",
                    g.name,
                    pos.at(Locus::Group(first))
                ),
            );
            r.errors.push(e);
            continue;
        }
        groups.insert(g.name.as_str(), (i, g));
    }
    let mut services = Vec::new();
    let mut keys_seen: HashMap<ServiceKey, usize> = HashMap::new();
    'service: for (i, sd) in draft.services.iter().enumerate() {
        let service = match r.service(i, sd, &groups, &draft.global, &network) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => {
                r.errors.push(e);
                continue;
            }
        };
        for key in &service.keys {
            if let Some(&first) = keys_seen.get(key) {
                let e = r.error(
                    Locus::Service(i),
                    format!(
                        "virtual server {} is already defined at {}",
                        model::key_text(key),
                        pos.at(Locus::Service(first))
                    ),
                );
                r.errors.push(e);
                continue 'service;
            }
        }
        for key in &service.keys {
            keys_seen.insert(*key, i);
        }
        services.push(service);
    }
    let model = Model {
        global,
        services,
        network,
        vrrp,
        bgp: draft.bgp.clone(),
        bgp_in_error: draft.bgp_in_error,
    };
    (model, r.warnings, r.errors)
}

struct Resolver<'a> {
    pos: &'a Positions,
    warnings: Vec<Warning>,
    /// The errors of the items left out.
    errors: Vec<ConfigError>,
}

/// What a service's messages call it, as keepalived's `FMT_VS` does.
fn service_name(sd: &ServiceDraft) -> String {
    if let Some(a) = sd.address {
        format!("{}", a.0)
    } else if let Some(m) = sd.fwmark {
        format!("fwmark {m}")
    } else if let Some(g) = &sd.group {
        format!("group {g}")
    } else {
        "(none)".to_string()
    }
}

fn method(forward: Option<ForwardName>, tunnel: Option<TunnelDraft>) -> Option<(Forward, Tunnel)> {
    forward.map(|f| (f.into(), tunnel.map(Tunnel::from).unwrap_or_default()))
}

/// The rules ipvsadm holds tunnel options to: a port for GUE and only for
/// it, remote checksum offload only for GUE.
pub fn check_tunnel(t: &Tunnel) -> Result<(), String> {
    match t.kind {
        TunnelKind::Gue if t.port == 0 => Err("a GUE tunnel needs a port".to_string()),
        TunnelKind::Ipip | TunnelKind::Gre if t.port != 0 => {
            Err("only a GUE tunnel takes a port".to_string())
        }
        TunnelKind::Ipip | TunnelKind::Gre if t.csum == TunnelCsum::RemCsum => {
            Err("remcsum is only for a GUE tunnel".to_string())
        }
        _ => Ok(()),
    }
}

impl Resolver<'_> {
    fn error(&self, locus: Locus, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.pos.at(locus), message)
    }

    fn warn(&mut self, locus: Locus, message: impl Into<String>) {
        let w = Warning::new(self.pos.at(locus), message);
        self.warnings.push(w);
    }

    fn global(&mut self, g: &Global, vrrp: &Vrrp) -> Global {
        if let Some(inst) = g.lvs_sync_daemon.as_ref().and_then(|s| s.instance.as_ref()) {
            if !vrrp.instances.iter().any(|i| &i.name == inst) {
                self.warn(
                    Locus::Global,
                    format!("lvs_sync_daemon: vrrp_instance '{inst}' is not defined"),
                );
            }
        }
        g.clone()
    }

    fn network(&mut self, draft: &Draft) -> Network {
        let n = &draft.network;
        let mut pools: Vec<LaddrPool> = Vec::new();
        for (i, p) in n.local_address_pool.iter().enumerate() {
            if let Some(first) = n.local_address_pool[..i]
                .iter()
                .position(|q| q.name == p.name)
            {
                let e = self.error(
                    Locus::Pool(i),
                    format!(
                        "local_address_group '{}' is already defined at {}",
                        p.name,
                        self.pos.at(Locus::Pool(first))
                    ),
                );
                self.errors.push(e);
                continue;
            }
            match self.pool(i, p) {
                Ok(pool) => pools.push(pool),
                Err(e) => self.errors.push(e),
            }
        }
        let mut mark_rules = Vec::new();
        for (i, m) in n.mark_rule.iter().enumerate() {
            match mark_rule(m) {
                Ok(rule) => mark_rules.push(rule),
                Err(e) => {
                    let e = self.error(Locus::MarkRule(i), e);
                    self.errors.push(e);
                }
            }
        }
        Network {
            addresses: n.address.clone(),
            routes: n.route.clone(),
            local_address_pools: pools,
            mark_rules,
        }
    }

    fn pool(&mut self, i: usize, p: &PoolDraft) -> Result<LaddrPool, ConfigError> {
        let mut seen = HashSet::new();
        let mut addresses = Vec::new();
        for LaddrRange { first, last, port } in &p.addresses {
            for addr in GroupMember::addrs(*first, *last) {
                if !seen.insert(addr) {
                    return Err(self.error(
                        Locus::Pool(i),
                        format!("local_address_group '{}' has {addr} twice", p.name),
                    ));
                }
                addresses.push(LocalAddress {
                    addr,
                    port: port.clone(),
                });
            }
        }
        if addresses.is_empty() {
            self.warn(
                Locus::Pool(i),
                format!("local_address_group '{}' has no addresses", p.name),
            );
        }
        Ok(LaddrPool {
            name: p.name.clone(),
            addresses,
        })
    }

    #[allow(clippy::too_many_lines)]
    fn service(
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

        let laddr_pool = match &sd.laddr_pool {
            Some(p) if network.pool(p).is_none() => {
                return Err(self.error(here, format!("local_address_group '{p}' is not defined")))
            }
            p => p.clone(),
        };
        if laddr_pool.is_none() && dests.iter().any(|d| d.forward == Forward::FullNat) {
            self.warn(
                here,
                format!(
                    "Virtual server {name}: FNAT real servers need local addresses (laddr_group_name) - none given"
                ),
            );
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

    fn check_method(
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

    fn check_family(
        &self,
        locus: Locus,
        what: &str,
        addr: SocketAddr,
        v6: bool,
        forward: Forward,
    ) -> Result<(), ConfigError> {
        if addr.is_ipv6() != v6 && forward != Forward::Tunnel {
            return Err(self.error(
                locus,
                format!(
                    "{what} {addr} is {} but the virtual server is {} (only tunnelled real servers may differ)",
                    if addr.is_ipv6() { "IPv6" } else { "IPv4" },
                    if v6 { "IPv6" } else { "IPv4" }
                ),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn dest(
        &mut self,
        i: usize,
        j: usize,
        sd: &ServiceDraft,
        dd: &DestDraft,
        default_method: (Forward, Tunnel),
        v6: bool,
        global: &Global,
    ) -> Result<Dest, ConfigError> {
        let here = Locus::Dest(i, j);
        self.check_method(here, dd.forward, dd.tunnel)?;
        let (forward, tunnel) = method(dd.forward, dd.tunnel).unwrap_or(default_method);
        self.check_family(here, "real server", dd.address.0, v6, forward)?;
        let weight = dd.weight.or(sd.weight).unwrap_or(1);
        if weight > WEIGHT_MAX {
            return Err(self.error(
                here,
                format!("weight '{weight}' is outside range 0..{WEIGHT_MAX}"),
            ));
        }
        let alpha = dd.alpha.or(sd.alpha).unwrap_or(false);
        // A checker in error is left out alone.
        let mut checks = Vec::new();
        for (k, cd) in dd.check.iter().enumerate() {
            match self.check(Locus::Check(i, j, k), cd, dd, sd) {
                Ok(c) => checks.push(c),
                Err(e) => self.errors.push(e),
            }
        }
        Ok(Dest {
            addr: dd.address.0,
            forward,
            tunnel,
            weight,
            inhibit_on_failure: dd
                .inhibit_on_failure
                .or(sd.inhibit_on_failure)
                .unwrap_or(false),
            u_threshold: dd.u_threshold.unwrap_or(0),
            l_threshold: dd.l_threshold.unwrap_or(0),
            alpha,
            notify_up: dd.notify_up.clone(),
            notify_down: dd.notify_down.clone(),
            smtp_alert: dd
                .smtp_alert
                .or(global.smtp_alert_checker)
                .or(global.smtp_alert)
                .unwrap_or(true),
            checks,
        })
    }

    fn check(
        &mut self,
        here: Locus,
        cd: &CheckDraft,
        dd: &DestDraft,
        sd: &ServiceDraft,
    ) -> Result<Check, ConfigError> {
        let keyword = cd.kind.keyword();
        if let Some(key) = cd.foreign_keys().first() {
            return Err(self.error(here, format!("'{key}' is not a setting of {keyword}")));
        }
        let delay_loop = cd
            .delay_loop
            .or(dd.delay_loop)
            .or(sd.delay_loop)
            .unwrap_or(DELAY_LOOP_DEFAULT);
        let delay_before_retry = cd
            .delay_before_retry
            .or(dd.delay_before_retry)
            .or(sd.delay_before_retry)
            .or(cd.kind.default_delay_before_retry())
            .unwrap_or(delay_loop);
        let kind = match cd.kind {
            CheckKindName::TcpCheck => CheckKind::Tcp,
            CheckKindName::PingCheck => CheckKind::Ping,
            CheckKindName::HttpGet | CheckKindName::SslGet => {
                let mut urls = Vec::new();
                for u in &cd.url {
                    if u.path.is_empty() {
                        self.warn(here, format!("{keyword}: url without a path - ignoring"));
                        continue;
                    }
                    if let Some(d) = &u.digest {
                        if !is_md5_hex(d) {
                            return Err(self.error(
                                here,
                                format!("digest '{d}' is not an MD5 (32 hex digits)"),
                            ));
                        }
                    }
                    let mut u = u.clone();
                    u.digest = u.digest.map(|d| d.to_ascii_lowercase());
                    // keepalived: 200-299 unless status codes are given,
                    // whatever else the url checks.
                    if u.status_code.is_empty() {
                        u.status_code.push(StatusRange::SUCCESS);
                    }
                    if let Some(r) = &u.regex {
                        if let Err(e) = regex::bytes::Regex::new(r) {
                            return Err(
                                self.error(here, format!("regex '{r}' does not compile: {e}"))
                            );
                        }
                    }
                    urls.push(u);
                }
                if urls.is_empty() {
                    return Err(self.error(here, format!("{keyword} has no url with a path")));
                }
                let http = HttpCheck {
                    urls,
                    http_protocol: cd.http_protocol.unwrap_or_default(),
                    virtualhost: cd
                        .virtualhost
                        .clone()
                        .or_else(|| dd.virtualhost.clone())
                        .or_else(|| sd.virtualhost.clone()),
                    fast_recovery: cd.fast_recovery.unwrap_or(false),
                    enable_sni: cd.enable_sni.unwrap_or(false),
                    sni_name: cd.sni_name.clone(),
                    tls_compliant: cd.tls_compliant.unwrap_or(false),
                };
                if cd.kind == CheckKindName::HttpGet {
                    CheckKind::Http(http)
                } else {
                    CheckKind::Ssl(http)
                }
            }
            CheckKindName::MiscCheck => {
                let Some(path) = cd.misc_path.clone().filter(|p| !p.is_empty()) else {
                    return Err(self.error(here, "MISC_CHECK has no misc_path"));
                };
                CheckKind::Misc(MiscCheck {
                    path,
                    timeout: cd.misc_timeout.unwrap_or(delay_loop),
                    dynamic: cd.misc_dynamic.unwrap_or(false),
                    user: cd.user.clone(),
                })
            }
            CheckKindName::SmtpCheck => CheckKind::Smtp(SmtpCheck {
                helo_name: cd.helo_name.clone(),
            }),
            CheckKindName::NegotiateCheck => match &cd.negotiate {
                Some(n) => CheckKind::Negotiate(n.clone()),
                None => return Err(self.error(here, "NEGOTIATE_CHECK has no service")),
            },
            CheckKindName::DnsCheck => CheckKind::Dns(DnsCheck {
                query_type: cd.dns_type.unwrap_or_default(),
                name: cd.dns_name.clone().unwrap_or_else(|| ".".to_string()),
            }),
            CheckKindName::UdpCheck => {
                for (what, hex) in [
                    ("payload", &cd.payload),
                    ("require_reply", &cd.require_reply),
                ] {
                    if let Some(h) = hex {
                        let wild = what == "require_reply";
                        if !is_hex(h, wild) {
                            return Err(self.error(
                                here,
                                format!("{what} '{h}' is not an even number of hex digits"),
                            ));
                        }
                    }
                }
                CheckKind::Udp(UdpCheck {
                    payload: cd.payload.clone(),
                    require_reply: cd.require_reply.clone(),
                    min_reply_length: cd.min_reply_length.unwrap_or(0),
                    max_reply_length: cd.max_reply_length.unwrap_or(255),
                })
            }
        };
        Ok(Check {
            kind,
            connect_ip: cd.connect_ip,
            connect_port: cd.connect_port,
            bindto: cd.bindto,
            bind_port: cd.bind_port,
            bind_if: cd.bind_if.clone(),
            fwmark: cd.fwmark,
            // MISC_CHECK connects nowhere: its timeout is misc_timeout.
            connect_timeout: if cd.kind == CheckKindName::MiscCheck {
                CONNECT_TIMEOUT_DEFAULT
            } else {
                cd.connect_timeout
                    .or(dd.connect_timeout)
                    .or(sd.connect_timeout)
                    .unwrap_or(CONNECT_TIMEOUT_DEFAULT)
            },
            retry: cd
                .retry
                .or(dd.retry)
                .or(sd.retry)
                .unwrap_or(cd.kind.default_retry()),
            delay_before_retry,
            delay_loop,
            warmup: cd.warmup.or(dd.warmup).or(sd.warmup).unwrap_or(delay_loop),
            alpha: cd.alpha.or(dd.alpha).or(sd.alpha).unwrap_or(false),
            log_all_failures: cd.log_all_failures.unwrap_or(false),
        })
    }

    fn vrrp(&mut self, draft: &Draft) -> Vrrp {
        let v = &draft.vrrp;
        let mut scripts = Vec::new();
        for (i, s) in v.script.iter().enumerate() {
            match self.script(i, s) {
                Ok(s) => scripts.push(s),
                Err(e) => self.errors.push(e),
            }
        }
        let mut instances = Vec::new();
        for (i, inst) in v.instance.iter().enumerate() {
            if v.instance[..i].iter().any(|o| o.name == inst.name) {
                let e = self.error(
                    Locus::Instance(i),
                    format!("vrrp_instance '{}' is defined twice", inst.name),
                );
                self.errors.push(e);
                continue;
            }
            match self.instance(i, inst, &draft.global) {
                Ok(inst) => instances.push(inst),
                Err(e) => self.errors.push(e),
            }
        }
        for (i, g) in v.sync_group.iter().enumerate() {
            for member in &g.group {
                if !instances
                    .iter()
                    .any(|inst: &VrrpInstance| &inst.name == member)
                {
                    self.warn(
                        Locus::SyncGroup(i),
                        format!(
                            "vrrp_sync_group {}: vrrp_instance '{member}' is not defined",
                            g.name
                        ),
                    );
                }
            }
        }
        Vrrp {
            scripts,
            sync_groups: v.sync_group.clone(),
            instances,
        }
    }

    fn script(&mut self, i: usize, s: &VrrpScriptDraft) -> Result<VrrpScript, ConfigError> {
        let Some(script) = s.script.clone().filter(|c| !c.is_empty()) else {
            return Err(self.error(
                Locus::Script(i),
                format!("vrrp_script {} has no script", s.name),
            ));
        };
        let weight = s.weight.unwrap_or(0);
        if !(-253..=253).contains(&weight) {
            return Err(self.error(
                Locus::Script(i),
                format!(
                    "vrrp_script {}: weight {weight} is outside range -253..253",
                    s.name
                ),
            ));
        }
        let interval = s.interval.unwrap_or(Duration::from_secs(1));
        Ok(VrrpScript {
            name: s.name.clone(),
            script,
            interval,
            timeout: s.timeout.unwrap_or(interval),
            weight,
            reverse: s.reverse.unwrap_or(false),
            rise: s.rise.unwrap_or(1).max(1),
            fall: s.fall.unwrap_or(1).max(1),
            user: s.user.clone(),
            init_fail: s.init_fail.unwrap_or(false),
        })
    }

    fn instance(
        &mut self,
        i: usize,
        d: &VrrpInstanceDraft,
        global: &Global,
    ) -> Result<VrrpInstance, ConfigError> {
        let here = Locus::Instance(i);
        let name = &d.name;
        let virtual_router_id = match d.virtual_router_id {
            Some(id) if id >= 1 => id,
            Some(id) => {
                return Err(self.error(
                    here,
                    format!("vrrp_instance {name}: virtual_router_id {id} is outside range 1..255"),
                ))
            }
            None => {
                return Err(self.error(
                    here,
                    format!("vrrp_instance {name} has no virtual_router_id"),
                ))
            }
        };
        if d.priority == Some(0) {
            return Err(self.error(
                here,
                format!("vrrp_instance {name}: priority 0 is outside range 1..255"),
            ));
        }
        // keepalived: no priority + MASTER = the address owner (255); no
        // priority otherwise = 100; no state = MASTER iff priority 255.
        let priority = d.priority.unwrap_or(match d.state {
            Some(VrrpState::Master) => 255,
            _ => 100,
        });
        let state = d.state.unwrap_or(if priority == 255 {
            VrrpState::Master
        } else {
            VrrpState::Backup
        });
        // keepalived takes the instance's family from virtual_ipaddress
        // alone: excluded addresses are not advertised, so IPv6 ones in an
        // IPv4 instance leave it on VRRPv2 (with its authentication).
        let advertised_v6 = d.virtual_ipaddress.iter().any(|v| v.address.addr.is_ipv6());
        let version = d.version.unwrap_or(if advertised_v6 {
            3
        } else {
            global.vrrp_version
        });
        if version != 2 && version != 3 {
            return Err(self.error(
                here,
                format!("vrrp_instance {name}: version {version} is not 2 or 3"),
            ));
        }
        if version == 2 && advertised_v6 {
            return Err(self.error(
                here,
                format!("vrrp_instance {name}: VRRP version 2 cannot advertise IPv6 addresses"),
            ));
        }
        let advert = d.advert_int.unwrap_or(Duration::from_secs(1));
        let advert_int_cs = if version == 2 {
            let secs = (advert.as_secs_f64()).round().clamp(1.0, 255.0) as u32;
            secs * 100
        } else {
            let cs = (advert.as_secs_f64() * 100.0).round();
            if cs > 4095.0 {
                self.warn(
                    here,
                    format!("vrrp_instance {name}: advert_int is above 40.95 s for VRRPv3 - using 40.95"),
                );
            }
            cs.clamp(1.0, 4095.0) as u32
        };
        let mut nopreempt = d.nopreempt.unwrap_or(false);
        if nopreempt && priority == 255 {
            self.warn(
                here,
                format!("vrrp_instance {name}: nopreempt is incompatible with priority 255 - clearing nopreempt"),
            );
            nopreempt = false;
        }
        let authentication = match &d.authentication {
            None => None,
            Some(_) if version == 3 || global.vrrp_strict => {
                self.warn(
                    here,
                    format!(
                        "vrrp_instance {name}: authentication is ignored with {} - none used",
                        if version == 3 {
                            "VRRPv3"
                        } else {
                            "vrrp_strict"
                        }
                    ),
                );
                None
            }
            Some(a) if a.pass.is_empty() => {
                self.warn(
                    here,
                    format!("vrrp_instance {name}: auth_pass is empty - authentication ignored"),
                );
                None
            }
            Some(a) => {
                let mut a = a.clone();
                if a.pass.chars().count() > 8 {
                    self.warn(
                        here,
                        format!("vrrp_instance {name}: auth_pass is longer than 8 characters - truncating"),
                    );
                    a.pass = a.pass.chars().take(8).collect();
                }
                Some(a)
            }
        };
        Ok(VrrpInstance {
            name: name.clone(),
            state,
            interface: d.interface.clone(),
            virtual_router_id,
            priority,
            advert_int_cs,
            version,
            nopreempt,
            preempt_delay: d.preempt_delay.unwrap_or(Duration::ZERO),
            authentication,
            virtual_ipaddress: d.virtual_ipaddress.clone(),
            virtual_ipaddress_excluded: d.virtual_ipaddress_excluded.clone(),
            track_interface: d.track_interface.clone(),
            track_script: d.track_script.clone(),
            notify_master: d.notify_master.clone(),
            notify_backup: d.notify_backup.clone(),
            notify_fault: d.notify_fault.clone(),
            notify_stop: d.notify_stop.clone(),
            notify: d.notify.clone(),
            unicast_src_ip: d.unicast_src_ip,
            unicast_peer: d.unicast_peer.clone(),
            mcast_src_ip: d.mcast_src_ip,
            garp_master_delay_s: d
                .garp_master_delay
                .unwrap_or(global.vrrp_garp_master_delay_s),
            garp_master_repeat: d
                .garp_master_repeat
                .unwrap_or(global.vrrp_garp_master_repeat),
            garp_master_refresh_s: d
                .garp_master_refresh
                .unwrap_or(global.vrrp_garp_master_refresh_s),
            dont_track_primary: d.dont_track_primary.unwrap_or(false),
            accept: d.accept.unwrap_or(!global.vrrp_strict),
            smtp_alert: d.smtp_alert,
        })
    }
}

fn is_md5_hex(d: &str) -> bool {
    d.len() == 32 && d.chars().all(|c| c.is_ascii_hexdigit())
}

/// An even number of hex digits; with `wild`, `x`/`X` nibbles too.
fn is_hex(h: &str, wild: bool) -> bool {
    h.len().is_multiple_of(2)
        && h.chars()
            .all(|c| c.is_ascii_hexdigit() || (wild && (c == 'x' || c == 'X')))
}

fn mark_rule(m: &MarkRuleDraft) -> Result<MarkRule, String> {
    if m.mark == 0 {
        return Err("firewall mark 0 is not a mark".to_string());
    }
    if let Some(src) = m.src {
        if src.addr.is_ipv4() != m.dst.addr.is_ipv4() {
            return Err("src and dst of a mark rule must be of one family".to_string());
        }
    }
    Ok(MarkRule {
        mark: m.mark,
        protocol: m.protocol.map(Protocol::from),
        dst: m.dst,
        dst_ports: match &m.dst_ports {
            Some(p) => PortRange::parse_list(p).map_err(|e| format!("dst_ports: {e}"))?,
            None => Vec::new(),
        },
        src: m.src,
    })
}
