//! What the lines said of the virtual services (`Common`, `Virtual`,
//! `Real`), built into the draft's services, their real servers and
//! checkers.

use super::names::port_of_service;
use super::names::service_of_port;
use super::names::Names;
use crate::config::draft::{
    AddrPort, CheckDraft, CheckKindName, DestDraft, Draft, ForwardName, Granularity, ProtocolName,
    ServiceDraft, SorryDraft,
};
use crate::config::draft::{Locus, Positions};
use crate::config::error::{ConfigError, Position, Warning};
use crate::config::model::{NegotiateCheck, NegotiateService, StatusRange, Url};
use rvs_api::Protocol;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A `fallback=` line, its names resolved when its protocol is known.
#[derive(Clone, Debug)]
pub(super) struct Fallback {
    pub(super) host: String,
    pub(super) port: Option<String>,
    pub(super) forward: ForwardName,
    pub(super) v6: bool,
    pub(super) key_pos: Position,
    pub(super) value_pos: Position,
}

/// Settings that a virtual section may override.
#[derive(Clone, Debug, Default)]
pub(super) struct Common {
    pub(super) checktimeout: Option<Duration>,
    pub(super) negotiatetimeout: Option<Duration>,
    pub(super) checkinterval: Option<Duration>,
    pub(super) failurecount: Option<u32>,
    pub(super) quiescent: Option<bool>,
    /// `fallback=` (globally: the IPv4 virtuals').
    pub(super) fallback: Option<Fallback>,
    /// The global `fallback6=` (the IPv6 virtuals').
    pub(super) fallback6: Option<Fallback>,
}

/// A real server line, expanded.
#[derive(Clone, Debug)]
pub(super) struct Real {
    pub(super) ip: IpAddr,
    /// The port written (`None`: none, the virtual's or 0).
    pub(super) port: Option<u16>,
    pub(super) forward: ForwardName,
    pub(super) weight: u32,
    pub(super) request: Option<String>,
    pub(super) receive: Option<String>,
    pub(super) l_threshold: Option<u32>,
    pub(super) u_threshold: Option<u32>,
    pub(super) pos: Position,
}

/// A `virtual=` section being read.
#[derive(Clone, Debug)]
pub(super) struct Virtual {
    pub(super) pos: Position,
    /// `host:port` as written (`None` for a fwmark), and where.
    pub(super) spec: Option<(String, String, Position)>,
    pub(super) v6: bool,
    pub(super) fwmark: Option<u32>,
    pub(super) reals: Vec<Real>,
    pub(super) common: Common,
    pub(super) scheduler: Option<String>,
    pub(super) persistent: Option<u32>,
    pub(super) netmask: Option<Granularity>,
    pub(super) protocol: Option<(String, Position)>,
    pub(super) checktype: Option<(String, Position)>,
    pub(super) service: Option<(String, Position)>,
    pub(super) checkport: Option<u16>,
    pub(super) request: Option<String>,
    pub(super) receive: Option<String>,
    pub(super) httpmethod: Option<(String, Position)>,
    pub(super) virtualhost: Option<String>,
    pub(super) checkcommand: Option<String>,
    pub(super) login: Option<String>,
    pub(super) passwd: Option<String>,
    pub(super) ops: Option<bool>,
}

/// A virtual's checker, from `checktype` and `service`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Checker {
    /// A keepalived checker.
    Keepalived(CheckKindName),
    /// A NEGOTIATE_CHECK.
    Negotiate(NegotiateService),
}

/// The timeout of a check: `checktimeout` for connect, external and ping
/// checks, `negotiatetimeout` for negotiate checks, each falling back to
/// the other as ldirectord does (the virtual's own, then the global ones).
pub(super) fn timeouts(v: &Common, global: &Common) -> (Duration, Duration) {
    let check = v
        .checktimeout
        .or(v.negotiatetimeout)
        .or(global.checktimeout)
        .or(global.negotiatetimeout)
        .unwrap_or(Duration::from_secs(5));
    let negotiate = v
        .negotiatetimeout
        .or(v.checktimeout)
        .or(global.negotiatetimeout)
        .or(global.checktimeout)
        .unwrap_or(Duration::from_secs(30));
    (check, negotiate)
}

#[allow(clippy::too_many_lines)]
pub(super) fn build(
    file: &Arc<Path>,
    global: &Common,
    virtuals: &[Virtual],
    names: &Names,
    warnings: &mut Vec<Warning>,
) -> Result<(Draft, Positions), ConfigError> {
    let mut draft = Draft::default();
    let mut pos = Positions::new(Position::whole(file.clone()));
    for (i, v) in virtuals.iter().enumerate() {
        pos.set(Locus::Service(i), v.pos.clone());
        let mut s = ServiceDraft::default();
        let default_protocol = match (&v.spec, v.fwmark) {
            (_, Some(_)) => "fwm",
            (Some((_, port, _)), None) if port == "53" || port == "domain" => "udp",
            _ => "tcp",
        };
        let protocol = v
            .protocol
            .as_ref()
            .map_or(default_protocol, |(p, _)| p.as_str());
        let proto_err = |what: &str| {
            let at = v
                .protocol
                .as_ref()
                .map_or(v.pos.clone(), |(_, p)| p.clone());
            ConfigError::new(at, what.to_string())
        };
        let mut vaddr: Option<SocketAddr> = None;
        match (v.fwmark, protocol) {
            (Some(m), "fwm") => s.fwmark = Some(m),
            (Some(_), _) => return Err(proto_err("protocol of a fwmark virtual must be fwm")),
            (None, "tcp" | "udp") => {
                let proto = if protocol == "tcp" {
                    Protocol::Tcp
                } else {
                    Protocol::Udp
                };
                if let Some((host, port, at)) = &v.spec {
                    let err = |e: String| {
                        ConfigError::new(
                            at.clone(),
                            format!("invalid address for virtual service: {e}"),
                        )
                    };
                    let ip = names.host(host, v.v6).map_err(err)?;
                    let port = names.port(port, Some(proto)).map_err(err)?;
                    vaddr = Some(SocketAddr::new(ip, port));
                }
                s.address = vaddr.map(AddrPort);
                s.protocol = Some(if protocol == "tcp" {
                    ProtocolName::Tcp
                } else {
                    ProtocolName::Udp
                });
            }
            (None, "fwm") => return Err(proto_err("protocol fwm needs a fwmark virtual")),
            (None, other) => {
                return Err(proto_err(&format!(
                    "protocol '{other}' is not tcp, udp or fwm"
                )))
            }
        }
        let vport = vaddr.map_or(0, |a| a.port());
        let udp = s.protocol == Some(ProtocolName::Udp);
        s.scheduler = Some(v.scheduler.clone().unwrap_or_else(|| "wrr".to_string()));
        s.persistence_timeout = v.persistent;
        s.persistence_netmask = v.netmask;
        s.one_packet = v.ops;
        s.forward = Some(ForwardName::Route);
        s.quorum = Some(1);
        s.hysteresis = Some(0);
        let interval = v
            .common
            .checkinterval
            .or(global.checkinterval)
            .unwrap_or(Duration::from_secs(10));
        let (check_timeout, negotiate_timeout) = timeouts(&v.common, global);
        let failures = v.common.failurecount.or(global.failurecount).unwrap_or(1);
        let quiescent = v.common.quiescent.or(global.quiescent).unwrap_or(true);
        s.inhibit_on_failure = Some(quiescent);
        s.delay_loop = Some(interval);
        let fallback = v.common.fallback.as_ref().or(if v.v6 {
            global.fallback6.as_ref()
        } else {
            global.fallback.as_ref()
        });
        if let Some(f) = fallback.filter(|f| f.v6 == v.v6) {
            pos.set(Locus::Sorry(i), f.key_pos.clone());
            let proto = if udp { Protocol::Udp } else { Protocol::Tcp };
            let err = |e: String| {
                ConfigError::new(f.value_pos.clone(), format!("invalid fallback server: {e}"))
            };
            let ip = names.host(&f.host, f.v6).map_err(err)?;
            let port = match &f.port {
                Some(p) => names.port(p, Some(proto)).map_err(err)?,
                None => vport,
            };
            s.sorry_server = Some(SorryDraft {
                address: AddrPort(SocketAddr::new(ip, port)),
                forward: Some(f.forward),
                tunnel: None,
                inhibit: None,
            });
        }
        let (service, service_pos) = match &v.service {
            Some((name, at)) => (name.clone(), at.clone()),
            None => (service_of_port(vport).to_string(), v.pos.clone()),
        };
        let (checktype, checktype_pos) = match &v.checktype {
            Some((t, p)) => (t.clone(), p.clone()),
            None => ("negotiate".to_string(), v.pos.clone()),
        };
        let head = v.httpmethod.as_ref().is_some_and(|(m, _)| m == "HEAD");
        let checker = checker(
            &checktype,
            &checktype_pos,
            &service,
            &service_pos,
            udp,
            head,
            warnings,
        )?;
        if checker == Some(Checker::Negotiate(NegotiateService::Dns))
            && v.receive.as_deref().unwrap_or("").is_empty()
            && v.reals
                .iter()
                .any(|r| r.receive.as_deref().unwrap_or("").is_empty())
        {
            warnings.push(Warning::new(
                service_pos.clone(),
                "a DNS check without receive never succeeds (ldirectord compares the answers with receive)",
            ));
        }
        let off = checktype == "off";
        if off {
            warnings.push(Warning::new(
                checktype_pos.clone(),
                "checktype=off: ldirectord never activates the real servers - rvs leaves them out",
            ));
        }
        for r in v.reals.iter().filter(|_| !off) {
            let j = s.dest.len();
            pos.set(Locus::Dest(i, j), r.pos.clone());
            // Only NAT maps ports: other methods (and no port at all) take
            // the virtual's.
            let port = match (r.forward, r.port) {
                (ForwardName::Masq, Some(p)) => p,
                _ => vport,
            };
            let raddr = SocketAddr::new(r.ip, port);
            let mut d = DestDraft::new(raddr);
            d.forward = Some(r.forward);
            d.weight = Some(r.weight);
            d.l_threshold = r.l_threshold;
            d.u_threshold = r.u_threshold;
            if let Some(checker) = checker {
                let request = r.request.clone().or_else(|| v.request.clone());
                let receive = r.receive.clone().or_else(|| v.receive.clone());
                let kind = match checker {
                    Checker::Keepalived(k) => k,
                    Checker::Negotiate(_) => CheckKindName::NegotiateCheck,
                };
                let mut c = CheckDraft::new(kind);
                c.delay_loop = Some(interval);
                c.delay_before_retry = Some(interval);
                c.retry = Some(failures - 1);
                let negotiate = matches!(
                    kind,
                    CheckKindName::HttpGet
                        | CheckKindName::SslGet
                        | CheckKindName::SmtpCheck
                        | CheckKindName::NegotiateCheck
                );
                let timeout = if negotiate {
                    negotiate_timeout
                } else {
                    check_timeout
                };
                if kind == CheckKindName::MiscCheck {
                    let cmd = v
                        .checkcommand
                        .clone()
                        .unwrap_or_else(|| "/bin/true".to_string());
                    let (vip, vp) = match (vaddr, v.fwmark) {
                        (Some(a), _) => (a.ip().to_string(), a.port()),
                        (None, m) => (m.unwrap_or(0).to_string(), 0),
                    };
                    c.misc_path = Some(format!("{cmd} {vip} {vp} {} {}", raddr.ip(), port));
                    c.misc_timeout = Some(timeout);
                } else {
                    c.connect_timeout = Some(timeout);
                    // ldirectord checks `checkport`, else the real server's
                    // port, else (port 0: a fwmark's) the service's port.
                    c.connect_port = v
                        .checkport
                        .or_else(|| (port == 0).then(|| port_of_service(&service)).flatten());
                }
                match checker {
                    Checker::Keepalived(CheckKindName::HttpGet | CheckKindName::SslGet) => {
                        let path = request.unwrap_or_else(|| "/".to_string());
                        let path = if path.starts_with('/') {
                            path
                        } else {
                            format!("/{path}")
                        };
                        // ldirectord wants a 2xx answer, then the regex.
                        c.url.push(Url {
                            path,
                            digest: None,
                            status_code: vec![StatusRange::SUCCESS],
                            virtualhost: None,
                            regex: receive.filter(|r| !r.is_empty()),
                        });
                        c.virtualhost = v.virtualhost.clone();
                    }
                    Checker::Negotiate(service) => {
                        let receive = receive.unwrap_or_default();
                        if let Err(e) = regex::bytes::Regex::new(&receive) {
                            return Err(ConfigError::new(
                                r.pos.clone(),
                                format!("receive '{receive}' is not a regex: {e}"),
                            ));
                        }
                        let request = request.unwrap_or_else(|| "/".to_string());
                        c.negotiate = Some(NegotiateCheck {
                            service,
                            login: v.login.clone().filter(|l| !l.is_empty()),
                            passwd: v.passwd.clone().filter(|p| !p.is_empty()),
                            request: if request.starts_with('/') {
                                request
                            } else {
                                format!("/{request}")
                            },
                            receive,
                            udp,
                            virtualhost: v.virtualhost.clone(),
                        });
                    }
                    Checker::Keepalived(_) => {}
                }
                d.check.push(c);
            }
            s.dest.push(d);
        }
        draft.services.push(s);
    }
    Ok((draft, pos))
}

/// The checker of a `checktype` for `service` (`head`: `httpmethod=HEAD`);
/// `None`: no checker.
pub(super) fn checker(
    checktype: &str,
    checktype_pos: &Position,
    service: &str,
    service_pos: &Position,
    udp: bool,
    head: bool,
    warnings: &mut Vec<Warning>,
) -> Result<Option<Checker>, ConfigError> {
    let connect = Checker::Keepalived(if udp {
        CheckKindName::UdpCheck
    } else {
        CheckKindName::TcpCheck
    });
    let negotiate = |warnings: &mut Vec<Warning>| match service {
        "http" if head => Checker::Negotiate(NegotiateService::HttpHead),
        "https" if head => Checker::Negotiate(NegotiateService::HttpsHead),
        "http" => Checker::Keepalived(CheckKindName::HttpGet),
        "https" => Checker::Keepalived(CheckKindName::SslGet),
        "smtp" | "submission" => Checker::Keepalived(CheckKindName::SmtpCheck),
        "ftp" => Checker::Negotiate(NegotiateService::Ftp),
        "pop" => Checker::Negotiate(NegotiateService::Pop),
        "pops" => Checker::Negotiate(NegotiateService::Pops),
        "imap" => Checker::Negotiate(NegotiateService::Imap),
        "imaps" => Checker::Negotiate(NegotiateService::Imaps),
        "nntp" => Checker::Negotiate(NegotiateService::Nntp),
        "sip" => Checker::Negotiate(NegotiateService::Sip),
        "dns" => Checker::Negotiate(NegotiateService::Dns),
        "none" => connect,
        other => {
            let why = match other {
                "ldap" | "ldaps" => "needs a directory client",
                "mysql" | "pgsql" | "oracle" => "needs a database client",
                "radius" => "needs a RADIUS client",
                _ => "is not supported",
            };
            warnings.push(Warning::new(
                service_pos.clone(),
                format!("checktype=negotiate for service={other} {why} - rvs uses a connect check"),
            ));
            connect
        }
    };
    Ok(match checktype {
        "connect" => Some(connect),
        "negotiate" => Some(negotiate(warnings)),
        "external" | "external-perl" => Some(Checker::Keepalived(CheckKindName::MiscCheck)),
        "ping" => Some(Checker::Keepalived(CheckKindName::PingCheck)),
        "on" | "off" => None,
        n if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
            warnings.push(Warning::new(
                checktype_pos.clone(),
                format!(
                    "checktype={n} ({n} connect checks, then a negotiate check) is approximated by the negotiate check alone"
                ),
            ));
            Some(negotiate(warnings))
        }
        other => {
            return Err(ConfigError::new(
                checktype_pos.clone(),
                format!("checktype: '{other}' is not connect, negotiate, external, external-perl, ping, on, off or a number"),
            ))
        }
    })
}
