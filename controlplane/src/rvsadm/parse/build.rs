//! A [`Draft`] to a [`Command`]: the options that depend on others
//! (`-r`, `-M`, `-b`), ipvsadm's option matrix, the defaults, the service
//! and dest configurations, the tunnel checks and the list format.

use std::net::SocketAddr;

use rvs_api::{DestConfig, Forward, Protocol, Request, ServiceConfig, ServiceKey};

use super::draft::{number, Draft};
use super::SCHEDULER_DEFAULT;
use crate::rvsadm::command::{syntax, Command, ParseError};
use crate::rvsadm::list::{ListFormat, ListView};
use crate::rvsadm::names::{atoi, inet_aton, parse_addr_port, Resolver};
use crate::rvsadm::options::{rule, Cmd, Opt, Rule};

/// Interpret the options that depend on others, check the matrix, fill in
/// defaults and build the command.
pub(super) fn finish(draft: Draft, resolver: &dyn Resolver) -> Result<Command, ParseError> {
    let server = match &draft.server {
        Some(text) => Some(parse_server(&draft, text, resolver)?),
        None => None,
    };
    let netmask = match &draft.netmask {
        Some(text) => Some(parse_netmask(&draft, text, resolver)?),
        None => None,
    };
    check_matrix(&draft)?;
    let service = draft.service;
    let command = match draft.cmd {
        Cmd::AddService | Cmd::EditService => {
            let key = required(service, Opt::Service, draft.cmd)?;
            let config = service_config(&draft, &key, netmask)?;
            Command::Change(if draft.cmd == Cmd::AddService {
                Request::AddService { key, config }
            } else {
                Request::EditService { key, config }
            })
        }
        Cmd::DelService => Command::Change(Request::DelService {
            key: required(service, Opt::Service, draft.cmd)?,
        }),
        Cmd::Flush => Command::Change(Request::Clear),
        Cmd::AddServer | Cmd::EditServer => {
            let key = required(service, Opt::Service, draft.cmd)?;
            let dest = dest_config(&draft, &key, required(server, Opt::Server, draft.cmd)?)?;
            Command::Change(if draft.cmd == Cmd::AddServer {
                Request::AddDest { service: key, dest }
            } else {
                Request::EditDest { service: key, dest }
            })
        }
        Cmd::DelServer => Command::Change(Request::DelDest {
            service: required(service, Opt::Service, draft.cmd)?,
            addr: required(server, Opt::Server, draft.cmd)?,
        }),
        Cmd::Zero => Command::Change(Request::Zero { service }),
        Cmd::List
            if [Opt::Connection, Opt::Timeout, Opt::Daemon]
                .iter()
                .any(|&o| draft.has(o))
                && [Opt::Stats, Opt::Rate, Opt::Thresholds]
                    .iter()
                    .any(|&o| draft.has(o))
                || (draft.has(Opt::Timeout) || draft.has(Opt::Daemon))
                    && draft.has(Opt::PersistentConn) =>
        {
            return syntax("options conflicts in the list command")
        }
        Cmd::List if draft.has(Opt::Timeout) => Command::ListTimeouts,
        Cmd::List if draft.has(Opt::Connection) => Command::ListConns {
            numeric: draft.has(Opt::Numeric),
            persistent: draft.has(Opt::PersistentConn),
        },
        Cmd::List if draft.has(Opt::Daemon) => Command::ListDaemons,
        Cmd::List => Command::List {
            service,
            format: list_format(&draft),
        },
        Cmd::Save => Command::Save {
            numeric: draft.has(Opt::Numeric),
        },
        Cmd::Restore => Command::Restore,
        Cmd::Counters => Command::Counters,
        // Answered or refused by `parse_args` when read; kept for totality.
        Cmd::Help => Command::Help,
        Cmd::Version => Command::Version,
        Cmd::StartDaemon => Command::Change(Request::StartDaemon(rvs_api::SyncDaemon {
            role: draft.daemon.unwrap_or(rvs_api::SyncRole::Master),
            ..draft.sync.clone()
        })),
        Cmd::StopDaemon => Command::Change(Request::StopDaemon(
            draft.daemon.unwrap_or(rvs_api::SyncRole::Master),
        )),
        // `--set` is built by `parse_args`.
        Cmd::Set => return Err(ParseError::Unsupported(format!("--{}", draft.cmd.name()))),
    };
    Ok(command)
}

/// A `--set` value: 0..2678400 seconds.
pub(super) fn parse_timeout(text: &str) -> Result<u32, ParseError> {
    number(text, 0, i64::from(rvs_api::TIMEOUT_MAX_S))
        .ok_or_else(|| ParseError::Syntax(format!("invalid timeout value `{text}' specified")))
}

/// A value the matrix has already made sure of (so the error is the matrix's).
pub(super) fn required<T>(value: Option<T>, opt: Opt, cmd: Cmd) -> Result<T, ParseError> {
    value.ok_or_else(|| {
        ParseError::Syntax(format!(
            "You need to supply the '{}' option for the '{}' command",
            opt.name(),
            cmd.name()
        ))
    })
}

/// ipvsadm's `generic_opt_check`, in matrix order.
pub(super) fn check_matrix(draft: &Draft) -> Result<(), ParseError> {
    let cmd = draft.cmd;
    let mut exclusive: Option<Opt> = None;
    for opt in Opt::ALL {
        match (rule(cmd, opt), draft.has(opt)) {
            (Rule::Required, false) => {
                return syntax(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    opt.name(),
                    cmd.name()
                ))
            }
            (Rule::Illegal, true) => {
                return syntax(format!(
                    "Illegal '{}' option with the '{}' command",
                    opt.name(),
                    cmd.name()
                ))
            }
            (Rule::Exclusive, true) => match exclusive {
                Some(first) => {
                    return syntax(format!(
                        "The option '{}' conflicts with the '{}' option in the '{}' command",
                        opt.name(),
                        first.name(),
                        cmd.name()
                    ))
                }
                None => exclusive = Some(opt),
            },
            _ => {}
        }
    }
    Ok(())
}

/// `-r ADDR[:PORT]`: the port defaults to the service port.
pub(super) fn parse_server(
    draft: &Draft,
    text: &str,
    resolver: &dyn Resolver,
) -> Result<SocketAddr, ParseError> {
    match parse_addr_port(text, draft.protocol(), resolver) {
        Some((ip, port)) => Ok(SocketAddr::new(
            ip,
            port.unwrap_or_else(|| draft.service_port()),
        )),
        None => syntax("illegal real server address[:port] specified"),
    }
}

/// `-M`: an IPv4 mask (dotted, any bits, or a host name) as a u32, or an
/// IPv6 prefix length 1..=128 for IPv6 services.
pub(super) fn parse_netmask(
    draft: &Draft,
    text: &str,
    resolver: &dyn Resolver,
) -> Result<u32, ParseError> {
    if draft.service_is_ipv6() {
        let prefix = atoi(text);
        return match u32::try_from(prefix) {
            Ok(p @ 1..=128) => Ok(p),
            _ => syntax("illegal ipv6 netmask specified"),
        };
    }
    inet_aton(text)
        .or_else(|| resolver.host_v4(text))
        .map(u32::from)
        .ok_or_else(|| {
            ParseError::Syntax("illegal virtual server persistent mask specified".into())
        })
}

pub(super) fn service_config(
    draft: &Draft,
    key: &ServiceKey,
    netmask: Option<u32>,
) -> Result<ServiceConfig, ParseError> {
    let persistent = draft.persistent_timeout_s.is_some();
    if let ServiceKey::Inet { protocol, addr } = key {
        if addr.port() == 0 && !persistent {
            return syntax("Zero port specified for non-persistent service");
        }
        if draft.has(Opt::OnePacket) && *protocol != Protocol::Udp {
            return syntax("One-Packet Scheduling is only for UDP virtual services");
        }
        if draft.has(Opt::SloppyTcp) && *protocol != Protocol::Tcp {
            return syntax("Sloppy TCP is only for TCP and firewall-mark virtual services");
        }
    }
    let scheduler = match draft.scheduler.as_deref() {
        None | Some("") => SCHEDULER_DEFAULT.to_string(),
        Some(name) => name.to_string(),
    };
    let sched_flags = match &draft.sched_flags {
        Some(text) => parse_sched_flags(&scheduler, text)?,
        None => Vec::new(),
    };
    Ok(ServiceConfig {
        scheduler,
        persistent_timeout_s: draft.persistent_timeout_s,
        netmask,
        sched_flags,
        one_packet: draft.has(Opt::OnePacket),
        persistence_engine: draft.persistence_engine.clone().filter(|pe| !pe.is_empty()),
        proxy_protocol: draft.has(Opt::ProxyProtocol),
        sloppy_tcp: draft.has(Opt::SloppyTcp),
        synproxy: draft.has(Opt::Synproxy),
    })
}

/// `-b flag[,flag...]` → the canonical flag names for `scheduler`, in bit order.
pub(super) fn parse_sched_flags(scheduler: &str, text: &str) -> Result<Vec<String>, ParseError> {
    let mut bits = [false; 3];
    let mut any = false;
    for flag in text.split(',').filter(|f| !f.is_empty()) {
        any = true;
        let Some(&rvs_api::SchedFlag {
            bit,
            scheduler: needs,
            ..
        }) = rvs_api::sched_flag(flag)
        else {
            return syntax(format!("invalid scheduler flag `{flag}'"));
        };
        if needs.is_some_and(|s| s != scheduler) {
            return syntax(format!("incompatible scheduler flag `{flag}'"));
        }
        bits[bit] = true;
    }
    if !any {
        return syntax(format!("invalid scheduler flag `{text}'"));
    }
    let names = rvs_api::sched_flag_names(scheduler);
    Ok((0..3)
        .filter(|&i| bits[i])
        .map(|i| names[i].to_string())
        .collect())
}

pub(super) fn dest_config(
    draft: &Draft,
    key: &ServiceKey,
    mut addr: SocketAddr,
) -> Result<DestConfig, ParseError> {
    let fwmark = matches!(key, ServiceKey::Fwmark { .. });
    // Port mapping only works with NAT: DR and tunnel dests take the service port.
    if !fwmark && matches!(draft.forward, Forward::Route | Forward::Tunnel) {
        addr.set_port(draft.service_port());
    }
    // ipvsadm's rule, and rvs's FullNAT, which translates between families
    // (decision 42); the dataplane refuses tunnels between families.
    if addr.is_ipv6() != rvs_api::key_is_ipv6(key)
        && !matches!(draft.forward, Forward::Tunnel | Forward::FullNat)
    {
        return syntax("Different address family is allowed only for tunneling servers");
    }
    check_tunnel(draft)?;
    Ok(DestConfig {
        addr,
        forward: draft.forward,
        weight: draft.weight,
        u_threshold: draft.u_threshold,
        l_threshold: draft.l_threshold,
        tunnel: draft.tunnel,
    })
}

/// The `--tun-*` options fit together, checked as ipvsadm 1.31 checks
/// them (`spec/ipvsadm.md` §1) and in its words: only with `-i`; then per
/// tunnel type, in the order port, nocsum, csum, remcsum: ipip takes none,
/// gue needs the port and at most one checksum option, gre takes one
/// checksum option but neither the port nor remcsum.
pub(super) fn check_tunnel(draft: &Draft) -> Result<(), ParseError> {
    use rvs_api::TunnelKind;
    let options = [Opt::TunPort, Opt::TunNoCsum, Opt::TunCsum, Opt::TunRemCsum];
    let any = draft.has(Opt::TunType) || options.iter().any(|&o| draft.has(o));
    if any && draft.forward != Forward::Tunnel {
        return syntax("Tunnel options conflict with forward method");
    }
    // '+' needed, 'x' refused, '1' at most one of them, ' ' optional.
    let (name, rules) = match draft.tunnel.kind {
        TunnelKind::Ipip => ("ipip", *b"xxxx"),
        TunnelKind::Gue => ("gue", *b"+111"),
        TunnelKind::Gre => ("gre", *b"x11x"),
    };
    let mut first_exclusive: Option<Opt> = None;
    for (&opt, rule) in options.iter().zip(rules) {
        let given = draft.has(opt);
        match rule {
            b'+' if !given => {
                return syntax(format!(
                    "You need to supply the '{}' option for the '{name}' tunnel type",
                    opt.name()
                ))
            }
            b'x' if given => {
                return syntax(format!(
                    "Illegal '{}' option with the '{name}' tunnel type",
                    opt.name()
                ))
            }
            b'1' if given => match first_exclusive {
                None => first_exclusive = Some(opt),
                Some(first) => {
                    return syntax(format!(
                    "The option '{}' conflicts with the '{}' option in the '{name}' tunnel type",
                    opt.name(),
                    first.name()
                ))
                }
            },
            _ => {}
        }
    }
    Ok(())
}

pub(super) fn list_format(draft: &Draft) -> ListFormat {
    let view = if draft.has(Opt::Rate) {
        ListView::Rate
    } else if draft.has(Opt::Stats) {
        ListView::Stats
    } else if draft.has(Opt::Thresholds) {
        ListView::Thresholds
    } else if draft.has(Opt::PersistentConn) {
        ListView::PersistentConn
    } else if draft.has(Opt::TunInfo) {
        ListView::TunInfo
    } else {
        ListView::Services
    };
    ListFormat {
        numeric: draft.has(Opt::Numeric),
        exact: draft.has(Opt::Exact),
        nosort: draft.has(Opt::NoSort),
        view,
    }
}
