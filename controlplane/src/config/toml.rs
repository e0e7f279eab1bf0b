//! The native dialect: TOML whose schema is the serde form of [`Draft`]
//! (every table and key is documented in `configs/rvs.toml`).
//!
//! Contract:
//! - reading is strict: an unknown key, a value of the wrong type or out of
//!   range is an error at its line and column; then the draft resolves as
//!   every dialect does (same defaults, same warnings);
//! - [`to_string`] writes a model with every resolved value explicit, so
//!   reading the text back gives the same model (`model → TOML → model` is
//!   the identity; the tests hold it for generated models);
//! - the vocabulary is IPVS's (`service`, `dest`, `scheduler`, `forward`);
//!   the other keys keep keepalived's names (`delay_loop`, `quorum`, ...).

use std::path::Path;
use std::sync::Arc;

use rvs_api::{Forward, PortRange, ServiceKey};
use serde::de::IgnoredAny;
use serde::Deserialize;
use toml::Spanned;

use super::draft::{
    AddrPort, CheckDraft, CheckKindName, DestDraft, Draft, Family, Granularity, GroupDraft,
    GroupMember, LaddrRange, MarkRuleDraft, NetworkDraft, PoolDraft, ProtocolName, ServiceDraft,
    SorryDraft, TunnelDraft, VrrpDraft, VrrpInstanceDraft, VrrpScriptDraft,
};
use super::draft::{Locus, Positions};
use super::error::{ConfigError, Position};
use super::model::{Check, CheckKind, Model, Service};

/// Read `text`, the contents of `path`, into a draft and its positions.
pub fn parse(text: &str, path: &Path) -> Result<(Draft, Positions), ConfigError> {
    let file: Arc<Path> = Arc::from(path);
    let at = |offset: usize| Position::of_offset(file.clone(), text, offset);
    let to_error = |e: toml::de::Error| {
        let pos = e
            .span()
            .map_or_else(|| Position::whole(file.clone()), |s| at(s.start));
        ConfigError::new(pos, e.message().trim_end().to_string())
    };
    let draft: Draft = toml::from_str(text).map_err(to_error)?;
    let skeleton: Skeleton = toml::from_str(text).map_err(to_error)?;
    let mut pos = Positions::new(Position::whole(file.clone()));
    if let Some(g) = &skeleton.global {
        pos.set(Locus::Global, at(g.span().start));
    }
    for (i, g) in skeleton.service_group.iter().enumerate() {
        pos.set(Locus::Group(i), at(g.span().start));
    }
    for (i, s) in skeleton.service.iter().enumerate() {
        pos.set(Locus::Service(i), at(s.span().start));
        let s = s.get_ref();
        if let Some(sorry) = &s.sorry_server {
            pos.set(Locus::Sorry(i), at(sorry.span().start));
        }
        for (j, d) in s.dest.iter().enumerate() {
            pos.set(Locus::Dest(i, j), at(d.span().start));
            for (k, c) in d.get_ref().check.iter().enumerate() {
                pos.set(Locus::Check(i, j, k), at(c.span().start));
            }
        }
    }
    for (i, p) in skeleton.network.local_address_pool.iter().enumerate() {
        pos.set(Locus::Pool(i), at(p.span().start));
    }
    for (i, m) in skeleton.network.mark_rule.iter().enumerate() {
        pos.set(Locus::MarkRule(i), at(m.span().start));
    }
    for (i, s) in skeleton.vrrp.script.iter().enumerate() {
        pos.set(Locus::Script(i), at(s.span().start));
    }
    for (i, s) in skeleton.vrrp.sync_group.iter().enumerate() {
        pos.set(Locus::SyncGroup(i), at(s.span().start));
    }
    for (i, s) in skeleton.vrrp.instance.iter().enumerate() {
        pos.set(Locus::Instance(i), at(s.span().start));
    }
    Ok((draft, pos))
}

/// Where the tables are: the same document read for spans only.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Skeleton {
    global: Option<Spanned<IgnoredAny>>,
    service_group: Vec<Spanned<IgnoredAny>>,
    service: Vec<Spanned<SkeletonService>>,
    network: SkeletonNetwork,
    vrrp: SkeletonVrrp,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SkeletonService {
    sorry_server: Option<Spanned<IgnoredAny>>,
    dest: Vec<Spanned<SkeletonDest>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SkeletonDest {
    check: Vec<Spanned<IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SkeletonNetwork {
    local_address_pool: Vec<Spanned<IgnoredAny>>,
    mark_rule: Vec<Spanned<IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SkeletonVrrp {
    script: Vec<Spanned<IgnoredAny>>,
    sync_group: Vec<Spanned<IgnoredAny>>,
    instance: Vec<Spanned<IgnoredAny>>,
}

/// The model as native TOML.
pub fn to_string(model: &Model) -> String {
    let draft = to_draft(model);
    // Serialising plain data cannot fail: every map key is a string.
    toml::to_string(&draft).unwrap_or_else(|e| format!("# cannot write the model: {e}\n"))
}

/// A draft that resolves to `model`: every value explicit.
pub fn to_draft(model: &Model) -> Draft {
    let mut draft = Draft {
        global: model.global.clone(),
        network: network_draft(model),
        groups: Vec::new(),
        services: Vec::new(),
        vrrp: vrrp_draft(model),
        bgp: model.bgp.clone(),
        bgp_in_error: false,
    };
    for s in &model.services {
        if let Some(name) = &s.group {
            draft.groups.push(GroupDraft {
                name: name.clone(),
                members: s
                    .keys
                    .iter()
                    .map(|k| match *k {
                        ServiceKey::Inet { addr, .. } => GroupMember::Addr {
                            first: addr.ip(),
                            last: addr.ip(),
                            port: addr.port(),
                        },
                        ServiceKey::Fwmark { mark, ipv6 } => GroupMember::Fwmark {
                            mark,
                            ipv6: Some(ipv6),
                        },
                    })
                    .collect(),
            });
        }
        draft.services.push(service_draft(s));
    }
    draft
}

fn some_if(b: bool) -> Option<bool> {
    b.then_some(true)
}

fn tunnel_of(forward: Forward, t: rvs_api::Tunnel) -> Option<TunnelDraft> {
    (forward == Forward::Tunnel).then(|| TunnelDraft::from(t))
}

fn service_draft(s: &Service) -> ServiceDraft {
    let mut d = ServiceDraft::default();
    let protocol = s.keys.iter().find_map(super::model::key_protocol);
    match (&s.group, s.keys.first()) {
        (Some(name), _) => d.group = Some(name.clone()),
        (None, Some(ServiceKey::Inet { addr, .. })) => d.address = Some(AddrPort(*addr)),
        (None, Some(ServiceKey::Fwmark { mark, .. })) => d.fwmark = Some(*mark),
        (None, None) => {}
    }
    d.protocol = protocol.map(ProtocolName::from);
    let v6 = s.keys.first().is_some_and(rvs_api::key_is_ipv6);
    if protocol.is_none() {
        d.ip_family = Some(if v6 { Family::Inet6 } else { Family::Inet });
    }
    d.scheduler = Some(s.scheduler.clone());
    d.sched_flags = s.sched_flags.clone();
    d.one_packet = some_if(s.one_packet);
    d.forward = Some(s.forward.into());
    d.tunnel = tunnel_of(s.forward, s.tunnel);
    d.persistence_timeout = s.persistence_timeout_s;
    d.persistence_netmask = s.persistence_netmask.map(|m| {
        if v6 {
            Granularity::Prefix(u8::try_from(m).unwrap_or(128))
        } else {
            Granularity::Mask(m.into())
        }
    });
    d.persistence_engine = s.persistence_engine.clone();
    d.proxy_protocol = some_if(s.proxy_protocol);
    d.sloppy_tcp = some_if(s.sloppy_tcp);
    d.synproxy = some_if(s.synproxy);
    d.laddr_pool = s.laddr_pool.clone();
    d.delay_loop = Some(s.delay_loop);
    d.alpha = some_if(s.alpha);
    d.omega = some_if(s.omega);
    d.inhibit_on_failure = some_if(s.inhibit_on_failure);
    d.ha_suspend = some_if(s.ha_suspend);
    d.quorum = Some(s.quorum);
    d.hysteresis = Some(s.hysteresis);
    d.quorum_up = s.quorum_up.clone();
    d.quorum_down = s.quorum_down.clone();
    d.bgp_communities = s.bgp_communities.clone();
    d.smtp_alert = Some(s.smtp_alert);
    d.sorry_server = s.sorry_server.as_ref().map(|x| SorryDraft {
        address: AddrPort(x.addr),
        forward: Some(x.forward.into()),
        tunnel: tunnel_of(x.forward, x.tunnel),
        inhibit: some_if(x.inhibit),
    });
    d.dest = s
        .dests
        .iter()
        .map(|x| {
            let mut dd = DestDraft::new(x.addr);
            dd.forward = Some(x.forward.into());
            dd.tunnel = tunnel_of(x.forward, x.tunnel);
            dd.weight = Some(x.weight);
            dd.inhibit_on_failure = Some(x.inhibit_on_failure);
            dd.u_threshold = (x.u_threshold != 0).then_some(x.u_threshold);
            dd.l_threshold = (x.l_threshold != 0).then_some(x.l_threshold);
            dd.alpha = Some(x.alpha);
            dd.notify_up = x.notify_up.clone();
            dd.notify_down = x.notify_down.clone();
            dd.smtp_alert = Some(x.smtp_alert);
            dd.check = x.checks.iter().map(check_draft).collect();
            dd
        })
        .collect();
    d
}

fn check_draft(c: &Check) -> CheckDraft {
    let kind = match &c.kind {
        CheckKind::Tcp => CheckKindName::TcpCheck,
        CheckKind::Http(_) => CheckKindName::HttpGet,
        CheckKind::Ssl(_) => CheckKindName::SslGet,
        CheckKind::Misc(_) => CheckKindName::MiscCheck,
        CheckKind::Smtp(_) => CheckKindName::SmtpCheck,
        CheckKind::Dns(_) => CheckKindName::DnsCheck,
        CheckKind::Ping => CheckKindName::PingCheck,
        CheckKind::Udp(_) => CheckKindName::UdpCheck,
        CheckKind::Negotiate(_) => CheckKindName::NegotiateCheck,
    };
    let mut d = CheckDraft::new(kind);
    if kind != CheckKindName::MiscCheck {
        d.connect_ip = c.connect_ip;
        d.connect_port = c.connect_port;
        d.bindto = c.bindto;
        d.bind_port = c.bind_port;
        d.bind_if = c.bind_if.clone();
        d.fwmark = c.fwmark;
        d.connect_timeout = Some(c.connect_timeout);
    }
    d.retry = Some(c.retry);
    d.delay_before_retry = Some(c.delay_before_retry);
    d.delay_loop = Some(c.delay_loop);
    d.warmup = Some(c.warmup);
    d.alpha = Some(c.alpha);
    d.log_all_failures = some_if(c.log_all_failures);
    match &c.kind {
        CheckKind::Http(h) | CheckKind::Ssl(h) => {
            d.url = h.urls.clone();
            d.http_protocol = Some(h.http_protocol);
            d.virtualhost = h.virtualhost.clone();
            d.fast_recovery = some_if(h.fast_recovery);
            if kind == CheckKindName::SslGet {
                d.enable_sni = some_if(h.enable_sni);
                d.sni_name = h.sni_name.clone();
                d.tls_compliant = some_if(h.tls_compliant);
            }
        }
        CheckKind::Misc(m) => {
            d.misc_path = Some(m.path.clone());
            d.misc_timeout = Some(m.timeout);
            d.misc_dynamic = some_if(m.dynamic);
            d.user = m.user.clone();
        }
        CheckKind::Smtp(s) => d.helo_name = s.helo_name.clone(),
        CheckKind::Dns(q) => {
            d.dns_type = Some(q.query_type);
            d.dns_name = Some(q.name.clone());
        }
        CheckKind::Udp(u) => {
            d.payload = u.payload.clone();
            d.require_reply = u.require_reply.clone();
            d.min_reply_length = Some(u.min_reply_length);
            d.max_reply_length = Some(u.max_reply_length);
        }
        CheckKind::Negotiate(n) => d.negotiate = Some(n.clone()),
        CheckKind::Tcp | CheckKind::Ping => {}
    }
    d
}

fn network_draft(model: &Model) -> NetworkDraft {
    let n = &model.network;
    NetworkDraft {
        address: n.addresses.clone(),
        route: n.routes.clone(),
        local_address_pool: n
            .local_address_pools
            .iter()
            .map(|p| PoolDraft {
                name: p.name.clone(),
                addresses: p
                    .addresses
                    .iter()
                    .map(|a| LaddrRange {
                        first: a.addr,
                        last: a.addr,
                        port: a.port.clone(),
                    })
                    .collect(),
            })
            .collect(),
        mark_rule: n
            .mark_rules
            .iter()
            .map(|r| MarkRuleDraft {
                mark: r.mark,
                protocol: r.protocol.map(ProtocolName::from),
                dst: r.dst,
                dst_ports: (!r.dst_ports.is_empty()).then(|| PortRange::list_text(&r.dst_ports)),
                src: r.src,
            })
            .collect(),
    }
}

fn vrrp_draft(model: &Model) -> VrrpDraft {
    let v = &model.vrrp;
    VrrpDraft {
        script: v
            .scripts
            .iter()
            .map(|s| VrrpScriptDraft {
                name: s.name.clone(),
                script: Some(s.script.clone()),
                interval: Some(s.interval),
                timeout: Some(s.timeout),
                weight: Some(s.weight),
                reverse: some_if(s.reverse),
                rise: Some(s.rise),
                fall: Some(s.fall),
                user: s.user.clone(),
                init_fail: some_if(s.init_fail),
            })
            .collect(),
        sync_group: v.sync_groups.clone(),
        instance: v
            .instances
            .iter()
            .map(|i| VrrpInstanceDraft {
                name: i.name.clone(),
                state: Some(i.state),
                interface: i.interface.clone(),
                virtual_router_id: Some(i.virtual_router_id),
                priority: Some(i.priority),
                advert_int: Some(std::time::Duration::from_millis(
                    u64::from(i.advert_int_cs) * 10,
                )),
                version: Some(i.version),
                nopreempt: some_if(i.nopreempt),
                preempt_delay: (!i.preempt_delay.is_zero()).then_some(i.preempt_delay),
                authentication: i.authentication.clone(),
                virtual_ipaddress: i.virtual_ipaddress.clone(),
                virtual_ipaddress_excluded: i.virtual_ipaddress_excluded.clone(),
                track_interface: i.track_interface.clone(),
                track_script: i.track_script.clone(),
                notify_master: i.notify_master.clone(),
                notify_backup: i.notify_backup.clone(),
                notify_fault: i.notify_fault.clone(),
                notify_stop: i.notify_stop.clone(),
                notify: i.notify.clone(),
                unicast_src_ip: i.unicast_src_ip,
                unicast_peer: i.unicast_peer.clone(),
                mcast_src_ip: i.mcast_src_ip,
                garp_master_delay: Some(i.garp_master_delay_s),
                garp_master_repeat: Some(i.garp_master_repeat),
                garp_master_refresh: Some(i.garp_master_refresh_s),
                dont_track_primary: some_if(i.dont_track_primary),
                accept: Some(i.accept),
                smtp_alert: i.smtp_alert,
            })
            .collect(),
    }
}

impl Model {
    /// The model as native TOML text; reading it back gives this model.
    pub fn to_toml(&self) -> String {
        to_string(self)
    }
}
