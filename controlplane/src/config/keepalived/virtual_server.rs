//! `virtual_server_group`, `local_address_group` and `virtual_server`
//! (§A.7–A.8): addresses, scheduler, forwarding method, persistence,
//! sorry server; its `real_server`s are read by `real_server`.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use super::words::expanded;
use super::words::{err, Cx};
use crate::config::draft::Locus;
use crate::config::draft::{
    AddrPort, CsumName, Family, ForwardName, Granularity, GroupDraft, GroupMember, LaddrRange,
    PoolDraft, ProtocolName, ServiceDraft, SorryDraft, TunnelDraft, TunnelKindName,
};
use crate::config::error::ConfigError;
use crate::config::lexer::{Node, Word};
use crate::config::model::{PERSISTENT_TIMEOUT_DEFAULT_S, PERSISTENT_TIMEOUT_MAX_S, SCHEDULERS};

impl Cx<'_> {
    pub(super) fn group(&mut self, n: &Node) -> Result<(), ConfigError> {
        let name = self.name(n)?;
        let block = self.lines(n)?;
        let i = self.draft.groups.len();
        self.pos.set(Locus::Group(i), n.key.pos.clone());
        let mut g = GroupDraft {
            name,
            members: Vec::new(),
        };
        for line in block {
            let member = self
                .no_block(line)
                .and_then(|()| expanded(line))
                .and_then(|()| {
                    GroupMember::from_words(&line.words()).map_err(|e| err(&line.key, e))
                });
            match member {
                Ok(m) => g.members.push(m),
                Err(e) => self.errors.push(e),
            }
        }
        self.draft.groups.push(g);
        Ok(())
    }

    pub(super) fn pool(&mut self, n: &Node) -> Result<(), ConfigError> {
        let name = self.name(n)?;
        let block = self.lines(n)?;
        let i = self.draft.network.local_address_pool.len();
        self.pos.set(Locus::Pool(i), n.key.pos.clone());
        let mut p = PoolDraft {
            name,
            addresses: Vec::new(),
        };
        for line in block {
            let range = self
                .no_block(line)
                .and_then(|()| expanded(line))
                .and_then(|()| {
                    LaddrRange::from_words(&line.words())
                        .map_err(|e| err(&line.key, format!("invalid local address: {e}")))
                });
            match range {
                Ok(r) => p.addresses.push(r),
                Err(e) => self.errors.push(e),
            }
        }
        self.draft.network.local_address_pool.push(p);
        Ok(())
    }

    /// `lb_kind`/`lvs_method` (and `sorry_server_lvs_method`):
    /// `NAT | DR | TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum] | FNAT`.
    pub(super) fn method(
        &mut self,
        n: &Node,
    ) -> Result<Option<(ForwardName, Option<TunnelDraft>)>, ConfigError> {
        let Some((v, rest)) = n.args.split_first() else {
            self.value(n);
            return Ok(None);
        };
        let forward = match v.text.to_ascii_uppercase().as_str() {
            "NAT" => ForwardName::Masq,
            "DR" => ForwardName::Route,
            "TUN" => ForwardName::Tunnel,
            "FNAT" | "FULLNAT" => ForwardName::Fullnat,
            _ => return Err(err(v, format!("unknown {} '{}'", n.key.text, v.text))),
        };
        if forward != ForwardName::Tunnel {
            if let Some(extra) = rest.first() {
                let m = format!("'{}': extra argument '{}' ignored", n.key.text, extra.text);
                self.warn(extra, m);
            }
            return Ok(Some((forward, None)));
        }
        let mut t = TunnelDraft {
            kind: TunnelKindName::Ipip,
            port: 0,
            csum: CsumName::Nocsum,
        };
        let mut words = rest.iter();
        while let Some(w) = words.next() {
            match w.text.as_str() {
                "type" => {
                    let Some(k) = words.next() else {
                        return Err(err(w, "TUN type needs ipip, gue or gre"));
                    };
                    t.kind = match k.text.as_str() {
                        "ipip" => TunnelKindName::Ipip,
                        "gue" => TunnelKindName::Gue,
                        "gre" => TunnelKindName::Gre,
                        other => return Err(err(k, format!("unknown tunnel type '{other}'"))),
                    };
                }
                "port" => {
                    let Some(p) = words.next() else {
                        return Err(err(w, "TUN port needs a port"));
                    };
                    t.port = p
                        .text
                        .parse::<u16>()
                        .ok()
                        .filter(|&p| p > 0)
                        .ok_or_else(|| err(p, format!("invalid tunnel port '{}'", p.text)))?;
                }
                "nocsum" => t.csum = CsumName::Nocsum,
                "csum" => t.csum = CsumName::Csum,
                "remcsum" => t.csum = CsumName::Remcsum,
                other => return Err(err(w, format!("unexpected '{other}' in {}", n.key.text))),
            }
        }
        crate::config::resolve::check_tunnel(&t.into()).map_err(|e| err(v, e))?;
        Ok(Some((forward, Some(t))))
    }

    /// `IP [PORT]` of a virtual, real or sorry server.
    pub(super) fn addr_port(
        &self,
        what: &str,
        words: &[Word],
        key: &Word,
    ) -> Result<SocketAddr, ConfigError> {
        let Some(a) = words.first() else {
            return Err(err(key, format!("{what} needs an address")));
        };
        let ip: IpAddr = a
            .text
            .parse()
            .map_err(|_| err(a, format!("invalid {what} address '{}'", a.text)))?;
        let port = match words.get(1) {
            None => 0,
            Some(p) => p
                .text
                .parse::<u16>()
                .map_err(|_| err(p, format!("invalid {what} port '{}'", p.text)))?,
        };
        Ok(SocketAddr::new(ip, port))
    }

    #[allow(clippy::too_many_lines)]
    pub(super) fn service(&mut self, n: &Node) -> Result<(), ConfigError> {
        let i = self.draft.services.len();
        self.pos.set(Locus::Service(i), n.key.pos.clone());
        let mut s = ServiceDraft::default();
        match n.args.first().map(|w| w.text.as_str()) {
            Some("fwmark") => {
                let Some(m) = n.args.get(1) else {
                    return Err(err(&n.key, "virtual_server fwmark needs a mark"));
                };
                let mark = m
                    .text
                    .parse::<u32>()
                    .ok()
                    .filter(|&m| m > 0)
                    .ok_or_else(|| err(m, format!("invalid firewall mark '{}'", m.text)))?;
                s.fwmark = Some(mark);
            }
            Some("group") => {
                let Some(g) = n.args.get(1) else {
                    return Err(err(&n.key, "virtual_server group needs a name"));
                };
                s.group = Some(g.text.clone());
            }
            _ => {
                let addr = self.addr_port("virtual server", &n.args, &n.key)?;
                s.address = Some(AddrPort(addr));
            }
        }
        let block = self.block(n)?;
        for n in block {
            let kw = n.key.text.as_str();
            let known = 'kw: {
                match kw {
                    "lb_algo" | "lvs_sched" => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        if !SCHEDULERS.contains(&v.text.as_str()) {
                            return Err(err(v, format!("unknown {kw} '{}'", v.text)));
                        }
                        s.scheduler = Some(v.text.clone());
                    }
                    "lb_kind" | "lvs_method" => {
                        if let Some((f, t)) = self.method(n)? {
                            s.forward = Some(f);
                            s.tunnel = t;
                        }
                    }
                    "ops" => {
                        if let Some(b) = self.boolean(n) {
                            s.one_packet = Some(b);
                        }
                    }
                    // An rvs extension: IPVS's sloppy_tcp for this service.
                    "sloppy_tcp" => {
                        if let Some(b) = self.boolean(n) {
                            s.sloppy_tcp = Some(b);
                        }
                    }
                    // An rvs extension (DPVS's synproxy): the director's
                    // SYN proxy for NAT and FullNAT real servers.
                    "syn_proxy" => {
                        if let Some(b) = self.boolean(n) {
                            s.synproxy = Some(b);
                        }
                    }
                    kw if rvs_api::sched_flag(kw).is_some() => {
                        let needs = rvs_api::sched_flag(kw).and_then(|f| f.scheduler);
                        if let Some(sched) = needs {
                            if s.scheduler.as_deref() != Some(sched) {
                                let m = format!(
                                    "'{kw}' is only valid after 'lb_algo {sched}' - ignoring"
                                );
                                self.warn(&n.key, m);
                                break 'kw true;
                            }
                        }
                        if !s.sched_flags.iter().any(|f| f == kw) {
                            s.sched_flags.push(kw.to_string());
                        }
                    }
                    "persistence_timeout" => match n.args.first() {
                        None => s.persistence_timeout = Some(PERSISTENT_TIMEOUT_DEFAULT_S),
                        Some(_) => {
                            if let Some(t) = self.number(n, 1u32, PERSISTENT_TIMEOUT_MAX_S) {
                                s.persistence_timeout = Some(t);
                            }
                        }
                    },
                    "persistence_granularity" => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        match Granularity::from_str(&v.text) {
                            Ok(g) => s.persistence_netmask = Some(g),
                            Err(e) => {
                                let m = format!("persistence_granularity: {e} - ignoring");
                                self.warn(v, m);
                            }
                        }
                    }
                    "persistence_engine" => {
                        s.persistence_engine = self.value(n).map(|v| v.text.clone())
                    }
                    "protocol" => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        s.protocol = Some(match v.text.to_ascii_uppercase().as_str() {
                            "TCP" => ProtocolName::Tcp,
                            "UDP" => ProtocolName::Udp,
                            "SCTP" => ProtocolName::Sctp,
                            _ => return Err(err(v, format!("unknown protocol '{}'", v.text))),
                        });
                    }
                    "delay_loop" => s.delay_loop = self.timer(n).or(s.delay_loop),
                    "connect_timeout" => s.connect_timeout = self.timer(n).or(s.connect_timeout),
                    "retry" => s.retry = self.number(n, 0u32, u32::MAX).or(s.retry),
                    "delay_before_retry" => {
                        s.delay_before_retry = self.timer(n).or(s.delay_before_retry)
                    }
                    "warmup" => s.warmup = self.timer(n).or(s.warmup),
                    "sorry_server" => {
                        // A bad sorry server is lost alone, as keepalived.
                        let addr = match self.addr_port("sorry server", &n.args, &n.key) {
                            Ok(a) => a,
                            Err(e) => {
                                self.errors.push(e);
                                break 'kw true;
                            }
                        };
                        self.pos.set(Locus::Sorry(i), n.key.pos.clone());
                        let old = s.sorry_server.take();
                        s.sorry_server = Some(SorryDraft {
                            address: AddrPort(addr),
                            forward: old.as_ref().and_then(|o| o.forward),
                            tunnel: old.as_ref().and_then(|o| o.tunnel),
                            inhibit: old.and_then(|o| o.inhibit),
                        });
                    }
                    "sorry_server_inhibit" => {
                        let b = self.boolean(n);
                        match &mut s.sorry_server {
                            Some(sorry) => sorry.inhibit = b,
                            None => self.warn(
                                &n.key,
                                "sorry_server_inhibit before sorry_server - ignoring",
                            ),
                        }
                    }
                    "sorry_server_lvs_method" => {
                        let m = self.method(n)?;
                        match (&mut s.sorry_server, m) {
                            (Some(sorry), Some((f, t))) => {
                                sorry.forward = Some(f);
                                sorry.tunnel = t;
                            }
                            (None, _) => self.warn(
                                &n.key,
                                "sorry_server_lvs_method before sorry_server - ignoring",
                            ),
                            _ => {}
                        }
                    }
                    "quorum" => s.quorum = self.number(n, 1u32, u32::MAX).or(s.quorum),
                    "hysteresis" => s.hysteresis = self.number(n, 0u32, u32::MAX).or(s.hysteresis),
                    "quorum_up" => s.quorum_up = self.command(n),
                    "quorum_down" => s.quorum_down = self.command(n),
                    "alpha" => s.alpha = self.boolean(n).or(s.alpha),
                    "omega" => s.omega = self.boolean(n).or(s.omega),
                    "inhibit_on_failure" => {
                        s.inhibit_on_failure = self.boolean(n).or(s.inhibit_on_failure)
                    }
                    "ha_suspend" => s.ha_suspend = self.boolean(n).or(s.ha_suspend),
                    "virtualhost" => s.virtualhost = self.value(n).map(|v| v.text.clone()),
                    "ip_family" => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        match v.text.as_str() {
                            "inet" => s.ip_family = Some(Family::Inet),
                            "inet6" => s.ip_family = Some(Family::Inet6),
                            other => {
                                let m =
                                    format!("ip_family '{other}' is not inet or inet6 - ignoring");
                                self.warn(v, m);
                            }
                        }
                    }
                    "weight" => s.weight = Some(self.weight(n)?),
                    "smtp_alert" => s.smtp_alert = self.boolean(n).or(s.smtp_alert),
                    "laddr_group_name" => s.laddr_pool = self.value(n).map(|v| v.text.clone()),
                    "bgp_community" => s
                        .bgp_communities
                        .extend(crate::config::bgp::service_communities(n)?),
                    "real_server" => {
                        // A real server in error is lost alone, as
                        // keepalived skips its block.
                        let j = s.dest.len();
                        self.pos.set(Locus::Dest(i, j), n.key.pos.clone());
                        match self.dest(i, j, n) {
                            Ok(d) => s.dest.push(d),
                            Err(e) => self.errors.push(e),
                        }
                        break 'kw true;
                    }
                    _ => {
                        self.unknown(n);
                        break 'kw false;
                    }
                }
                true
            };
            if kw != "real_server" {
                self.after(n, known, &[])?;
            }
        }
        self.draft.services.push(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    fn one_service(body: &str) -> String {
        format!(
            "virtual_server 10.0.0.1 80 {{\n{body}\n    real_server 10.0.0.2 80 {{\n    }}\n}}\n"
        )
    }

    #[test]
    fn keepalived_defaults_and_their_warnings() {
        let (m, w) = parse_ok(&one_service("    persistence_timeout"));
        let s = &m.services[0];
        assert_eq!(
            s.persistence_timeout_s,
            Some(360),
            "bare persistence_timeout"
        );
        assert_eq!(s.keys, [udp("10.0.0.1:80")], "no protocol: UDP");
        assert_eq!((s.scheduler.as_str(), s.forward), ("wlc", Forward::Masq));
        assert_eq!(
        messages(&w),
        [
            "/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:80: no protocol set - defaulting to UDP",
            "/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:80: no scheduler set, setting default 'wlc'",
            "/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:80: no forwarding method set, setting default NAT",
        ]
    );
        assert_eq!(s.dests[0].weight, 1);

        // Zero port on a non-persistent service: made persistent 360.
        let text = "virtual_server 10.0.0.1 0 {\n protocol TCP\n lb_algo rr\n lb_kind DR\n real_server 10.0.0.2 {\n }\n}\n";
        let (m, w) = parse_ok(text);
        assert_eq!(m.services[0].persistence_timeout_s, Some(360));
        assert_eq!(
        messages(&w),
        ["/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:0: zero port only valid for persistent services - setting persistence_timeout 360"]
    );

        // persistence_granularity implies persistence; ops is UDP only.
        let (m, w) = parse_ok(
        &one_service("    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    persistence_granularity 255.255.0.0\n    ops"));
        let s = &m.services[0];
        assert_eq!(
            (s.persistence_timeout_s, s.persistence_netmask),
            (Some(360), Some(0xFFFF_0000))
        );
        assert!(!s.one_packet);
        assert_eq!(
        messages(&w),
        ["/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:80: one packet scheduling requires UDP - resetting"]
    );

        // A virtual server with no real servers is dropped.
        let (m, w) = parse_ok("virtual_server 10.0.0.1 80 {\n protocol TCP\n}\n");
        assert!(m.services.is_empty());
        assert_eq!(
        messages(&w),
        ["/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:80 has no real servers - ignoring"]
    );
    }

    #[test]
    fn hard_errors_of_values() {
        let e = parse(&one_service("    lb_algo fastest")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:2:13: unknown lb_algo 'fastest'"
        );
        let e = parse(&one_service("    lvs_method MAGIC")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:2:16: unknown lvs_method 'MAGIC'"
        );
        let e = parse(&one_service("    protocol DCCP")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:2:14: unknown protocol 'DCCP'"
        );
        let e = parse("virtual_server 10.0.0.x 80 {\n}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:1:16: invalid virtual server address '10.0.0.x'"
        );
        let e = parse(&one_service("    sorry_server 10.0.0.999 80")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:2:18: invalid sorry server address '10.0.0.999'"
        );
        let e = parse(&one_service("    lb_kind TUN type gue")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:2:13: a GUE tunnel needs a port"
        );
        let e =
            parse("virtual_server group nope {\n real_server 10.0.0.2 80 {\n }\n}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:1:1: virtual_server_group 'nope' is not defined"
        );
        let e = parse(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n MISC_CHECK {\n misc_timeout 3\n }\n }\n}\n")
    .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:4:2: MISC_CHECK has no misc_path"
        );
    }

    #[test]
    fn scripts_users_groups_and_port_mapping() {
        let text = "virtual_server_group empty {\n}\n\
virtual_server group empty {\n real_server 10.0.0.2 80 {\n }\n}\n\
virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind DR\n quorum_down \"/bin/alert down\" nobody\n real_server 10.0.0.2 8080 {\n }\n}\n";
        let (m, w) = parse_ok(text);
        assert_eq!(
            m.services.len(),
            1,
            "the empty group's virtual server is dropped"
        );
        let s = &m.services[0];
        assert_eq!(s.quorum_down.as_deref(), Some("/bin/alert down"));
        assert_eq!(s.dests[0].addr, sa("10.0.0.2:8080"), "kept as written");
        let r = m.requests();
        assert!(
            matches!(&r[2], Request::AddDest { dest, .. } if dest.addr == sa("10.0.0.2:80")),
            "direct routing takes the service's port: {r:?}"
        );
        assert_eq!(
        messages(&w),
        [
            "/nonexistent/test.conf:11:32: quorum_down: running the script as 'nobody' is not supported by rvs - ignoring the user",
            "/nonexistent/test.conf:1:1: virtual_server_group 'empty' has no members - ignoring its virtual server",
            "/nonexistent/test.conf:12:2: Virtual server 10.0.0.1:80: real server 10.0.0.2:8080 cannot map ports with DR - it gets port 80",
        ]
    );
    }
}
