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
//!
//! The `Resolver` walks the draft: the globals and the network here, a
//! service in `service`, a dest and its checks in `dest`, VRRP in `vrrp`.

use std::collections::{HashMap, HashSet};

use rvs_api::{Forward, MarkRule, PortRange, Protocol, ServiceKey, Tunnel, TunnelCsum, TunnelKind};

use super::draft::{
    Draft, ForwardName, GroupDraft, GroupMember, LaddrRange, MarkRuleDraft, PoolDraft,
    ServiceDraft, TunnelDraft,
};
use super::draft::{Locus, Positions};
use super::error::{ConfigError, Warning};
use super::model::{self, Global, LaddrPool, LocalAddress, Model, Network, Vrrp};

mod dest;
mod service;
mod vrrp;

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
