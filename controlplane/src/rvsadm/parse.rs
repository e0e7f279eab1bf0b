//! ipvsadm's grammar: argv → a typed [`Command`], with ipvsadm's defaults,
//! checks and error texts.
//!
//! Contract:
//! - [`parse_args`] never panics and never touches the network itself: names
//!   go through the [`Resolver`] it is given.
//! - Defaults are filled in as ipvsadm does, so `-E`/`-e` are full
//!   replacements: scheduler `wlc` for `-A` and `-E`, bare `-p` = 360 s,
//!   forwarding `-g`, weight 1, thresholds 0; `-r` without a port copies the
//!   service port, and `-g`/`-i` force the dest port to the service port on
//!   address services.
//! - Errors are [`ParseError`]s carrying ipvsadm's text and exit status.
//!
//! Where rvsadm differs from ipvsadm 1.31, on purpose:
//! - `-h`/`-v` count as commands (after another command they are an
//!   "invalid option", as in ipvsadm);
//! - `-r`, `-M` and `-b` are interpreted after all options are read, so their
//!   meaning does not depend on whether `-t`/`-s` came first;
//! - `--socket PATH` (an rvs extension) may appear anywhere; argv holding only
//!   `--socket` options lists like an empty argv;
//! - `--counters` (an rvs extension, long form only) is a command that takes
//!   no option of the matrix;
//! - options of the grammar that rvsadm does not implement yet are refused
//!   by name ([`ParseError::Unsupported`]) instead of being acted on.

use std::net::SocketAddr;

use rvs_api::{DestConfig, Forward, Protocol, Request, ServiceConfig, ServiceKey};

pub use super::command::{Command, Invocation, ParseError, EXIT_SYNTAX};

use super::command::syntax;
use super::list::{ListFormat, ListView};
use super::names::{atoi, inet_aton, parse_addr_port, parse_number, Resolver};
use super::options::{rule, Cmd, Kind, Opt, Rule, ServiceFlag, Token, Tokens};

/// A bare `-p` is ipvsadm's `IPVS_SVC_PERSISTENT_TIMEOUT` (its man page
/// wrongly says 300).
pub use rvs_api::{PERSISTENT_TIMEOUT_DEFAULT_S, PERSISTENT_TIMEOUT_MAX_S};
/// The scheduler of `-A`/`-E` when `-s` is not given.
pub const SCHEDULER_DEFAULT: &str = "wlc";
/// Longest scheduler or persistence engine name; longer ones are cut, as
/// ipvsadm's `strncpy` into a 16-byte field does.
pub const NAME_LEN_MAX: usize = 15;

/// Everything read from argv before defaults and checks.
#[derive(Debug)]
struct Draft {
    cmd: Cmd,
    /// Bits of [`Opt`]s given (ipvsadm's `options`).
    given: u64,
    service: Option<ServiceKey>,
    scheduler: Option<String>,
    persistent_timeout_s: Option<u32>,
    netmask: Option<String>,
    server: Option<String>,
    forward: Forward,
    weight: u32,
    u_threshold: u32,
    l_threshold: u32,
    persistence_engine: Option<String>,
    sched_flags: Option<String>,
    tunnel: rvs_api::Tunnel,
    /// `--start-daemon`/`--stop-daemon`'s argument, and the daemon's options.
    daemon: Option<rvs_api::SyncRole>,
    sync: rvs_api::SyncDaemon,
}

impl Draft {
    fn new(cmd: Cmd) -> Self {
        Draft {
            cmd,
            given: 0,
            service: None,
            scheduler: None,
            persistent_timeout_s: None,
            netmask: None,
            server: None,
            forward: Forward::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            persistence_engine: None,
            sched_flags: None,
            tunnel: rvs_api::Tunnel::default(),
            daemon: None,
            sync: rvs_api::SyncDaemon {
                role: rvs_api::SyncRole::Master,
                interface: None,
                syncid: 0,
                maxlen: None,
                group: None,
                port: None,
                ttl: None,
            },
        }
    }

    fn has(&self, opt: Opt) -> bool {
        self.given & opt.bit() != 0
    }

    /// ipvsadm's `set_option`: each option at most once.
    fn set(&mut self, opt: Opt) -> Result<(), ParseError> {
        if self.has(opt) {
            return syntax(format!("multiple '{}' options specified", opt.name()));
        }
        self.given |= opt.bit();
        Ok(())
    }

    /// The protocol service names are looked up for (TCP for fwmark
    /// services, as ipvsadm sets it).
    fn protocol(&self) -> Protocol {
        match self.service {
            Some(ServiceKey::Inet { protocol, .. }) => protocol,
            _ => Protocol::Tcp,
        }
    }

    fn service_port(&self) -> u16 {
        match self.service {
            Some(ServiceKey::Inet { addr, .. }) => addr.port(),
            _ => 0,
        }
    }

    fn service_is_ipv6(&self) -> bool {
        self.service.as_ref().is_some_and(rvs_api::key_is_ipv6)
    }

    /// Act on one option after the command.
    fn take(
        &mut self,
        kind: Kind,
        shown: &str,
        value: Option<String>,
        resolver: &dyn Resolver,
    ) -> Result<(), ParseError> {
        let value = value.unwrap_or_default();
        match kind {
            // ipvsadm reads the command first; a command after it is an
            // option its second loop does not know.
            Kind::Command(_) => return syntax(format!("invalid option `{shown}'")),
            // `--socket` is taken by `parse_args`; `--sort` does nothing.
            Kind::Socket | Kind::Sort => {}
            Kind::Ipv6 => match &mut self.service {
                Some(ServiceKey::Fwmark { ipv6, .. }) => *ipv6 = true,
                _ => return syntax("-6 used before -f"),
            },
            Kind::Service(flag) => {
                self.set(Opt::Service)?;
                self.service = Some(parse_service(flag, shown, &value, resolver)?);
            }
            Kind::Forward(forward) => {
                self.set(Opt::Forward)?;
                self.forward = forward;
            }
            Kind::Option(opt) => self.take_option(opt, shown, value)?,
        }
        Ok(())
    }

    fn take_option(&mut self, opt: Opt, shown: &str, value: String) -> Result<(), ParseError> {
        match opt {
            Opt::Numeric
            | Opt::Connection
            | Opt::Timeout
            | Opt::Daemon
            | Opt::Rate
            | Opt::Stats
            | Opt::Thresholds
            | Opt::PersistentConn
            | Opt::NoSort
            | Opt::Exact
            | Opt::TunInfo
            | Opt::OnePacket => self.set(opt),
            Opt::ProxyProtocol => {
                self.set(opt)?;
                if value != "v2" {
                    return syntax(format!(
                        "invalid proxy protocol `{value}' specified (only v2 is supported)"
                    ));
                }
                Ok(())
            }
            Opt::TunType => {
                self.set(opt)?;
                self.tunnel.kind = match value.as_str() {
                    "ipip" => rvs_api::TunnelKind::Ipip,
                    "gue" => rvs_api::TunnelKind::Gue,
                    "gre" => rvs_api::TunnelKind::Gre,
                    _ => return syntax("illegal tunnel type specified"),
                };
                Ok(())
            }
            Opt::TunPort => {
                self.set(opt)?;
                self.tunnel.port = number(&value, 1, 65535)
                    .ok_or_else(|| ParseError::Syntax("illegal tunnel port specified".into()))?
                    as u16;
                Ok(())
            }
            Opt::TunNoCsum | Opt::TunCsum | Opt::TunRemCsum => {
                self.set(opt)?;
                self.tunnel.csum = match opt {
                    Opt::TunCsum => rvs_api::TunnelCsum::Csum,
                    Opt::TunRemCsum => rvs_api::TunnelCsum::RemCsum,
                    _ => rvs_api::TunnelCsum::NoCsum,
                };
                Ok(())
            }
            Opt::Scheduler => {
                self.set(opt)?;
                self.scheduler = Some(truncate_name(&value));
                Ok(())
            }
            Opt::PersistenceEngine => {
                self.set(opt)?;
                self.persistence_engine = Some(truncate_name(&value));
                Ok(())
            }
            Opt::Persistent => {
                self.set(opt)?;
                // An absent argument arrives as "": the default.
                let timeout = if value.is_empty() {
                    PERSISTENT_TIMEOUT_DEFAULT_S
                } else {
                    number(&value, 1, PERSISTENT_TIMEOUT_MAX_S.into()).ok_or_else(|| {
                        ParseError::Syntax(format!("invalid timeout value `{value}' specified"))
                    })?
                };
                self.persistent_timeout_s = Some(timeout);
                Ok(())
            }
            Opt::Netmask => {
                self.set(opt)?;
                self.netmask = Some(value);
                Ok(())
            }
            Opt::Server => {
                self.set(opt)?;
                self.server = Some(value);
                Ok(())
            }
            Opt::SchedFlags => {
                self.set(opt)?;
                self.sched_flags = Some(value);
                Ok(())
            }
            Opt::Weight => {
                self.set(opt)?;
                self.weight = number(&value, 0, 65535)
                    .ok_or_else(|| ParseError::Syntax("illegal weight specified".into()))?;
                Ok(())
            }
            Opt::UThreshold => {
                self.set(opt)?;
                self.u_threshold = number(&value, 0, i64::from(i32::MAX))
                    .ok_or_else(|| ParseError::Syntax("illegal u_threshold specified".into()))?;
                Ok(())
            }
            Opt::LThreshold => {
                self.set(opt)?;
                self.l_threshold = number(&value, 0, i64::from(i32::MAX))
                    .ok_or_else(|| ParseError::Syntax("illegal l_threshold specified".into()))?;
                Ok(())
            }
            Opt::McastInterface => {
                self.set(opt)?;
                // IP_VS_IFNAME_MAXLEN.
                if value.is_empty() || value.len() > 15 {
                    return syntax("illegal mcast-interface specified");
                }
                self.sync.interface = Some(value);
                Ok(())
            }
            Opt::SyncId => {
                self.set(opt)?;
                self.sync.syncid = number(&value, 0, 255)
                    .ok_or_else(|| ParseError::Syntax("illegal syncid specified".into()))?
                    as u8;
                Ok(())
            }
            Opt::SyncMaxlen => {
                self.set(opt)?;
                self.sync.maxlen = Some(
                    number(&value, 1, 65535 - 20 - 8)
                        .ok_or_else(|| ParseError::Syntax("illegal sync-maxlen specified".into()))?
                        as u16,
                );
                Ok(())
            }
            Opt::McastGroup => {
                self.set(opt)?;
                // ipvsadm: a ':' makes it an IPv6 group; either must be multicast.
                let group: Option<std::net::IpAddr> = if value.contains(':') {
                    value
                        .parse::<std::net::Ipv6Addr>()
                        .ok()
                        .filter(|a| a.is_multicast())
                        .map(Into::into)
                } else {
                    value
                        .parse::<std::net::Ipv4Addr>()
                        .ok()
                        .filter(|a| a.is_multicast())
                        .map(Into::into)
                };
                match group {
                    Some(g) => {
                        self.sync.group = Some(g);
                        Ok(())
                    }
                    None => syntax(format!(
                        "invalid IPv{} mcast-group `{value}'",
                        if value.contains(':') { 6 } else { 4 }
                    )),
                }
            }
            Opt::McastPort => {
                self.set(opt)?;
                self.sync.port = Some(
                    number(&value, 1, 65535)
                        .ok_or_else(|| ParseError::Syntax("illegal mcast-port specified".into()))?
                        as u16,
                );
                Ok(())
            }
            Opt::McastTtl => {
                self.set(opt)?;
                self.sync.ttl = Some(
                    number(&value, 1, 255)
                        .ok_or_else(|| ParseError::Syntax("illegal mcast-ttl specified".into()))?
                        as u8,
                );
                Ok(())
            }
            // `Service` and `Forward` come as their own kinds, never here.
            Opt::Service | Opt::Forward => Err(ParseError::Unsupported(shown.to_string())),
        }
    }
}

/// A number in `min..=max` that fits a u32 (all callers' ranges do).
fn number(text: &str, min: i64, max: i64) -> Option<u32> {
    parse_number(text, min, max).and_then(|n| u32::try_from(n).ok())
}

/// Cut a name to [`NAME_LEN_MAX`] bytes, on a character boundary.
fn truncate_name(name: &str) -> String {
    let mut end = name.len().min(NAME_LEN_MAX);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

fn parse_service(
    flag: ServiceFlag,
    shown: &str,
    value: &str,
    resolver: &dyn Resolver,
) -> Result<ServiceKey, ParseError> {
    let protocol = match flag {
        ServiceFlag::Tcp => Protocol::Tcp,
        ServiceFlag::Udp => Protocol::Udp,
        ServiceFlag::Sctp => return Err(ParseError::Unsupported(shown.to_string())),
        ServiceFlag::Fwmark => {
            let mark = number(value, 1, i64::from(u32::MAX)).ok_or_else(|| {
                ParseError::Syntax(format!("invalid fwmark value `{value}' specified"))
            })?;
            return Ok(ServiceKey::Fwmark { mark, ipv6: false });
        }
    };
    match parse_addr_port(value, protocol, resolver) {
        Some((ip, port)) => Ok(ServiceKey::Inet {
            protocol,
            addr: SocketAddr::new(ip, port.unwrap_or(0)),
        }),
        None => syntax("illegal virtual server address[:port] specified"),
    }
}

/// Parse argv (without the program name). An empty argv lists, like `-L`
/// without `-n`.
pub fn parse_args(args: &[String], resolver: &dyn Resolver) -> Result<Invocation, ParseError> {
    if super::marks::is_mark_command(args) {
        return super::marks::parse(args);
    }
    if super::laddrs::is_laddr_command(args) {
        return super::laddrs::parse(args);
    }
    if super::defense::is_defense_command(args) {
        return super::defense::parse(args);
    }
    let mut socket: Option<String> = None;
    let mut draft: Option<Draft> = None;
    let mut positionals: Vec<String> = vec![];
    for token in Tokens::new(args) {
        let (spec, shown, value) = match token {
            Ok(Token::Option { spec, shown, value }) => (spec, shown, value),
            Ok(Token::Positional(word)) => {
                positionals.push(word);
                continue;
            }
            Err(_) if draft.is_none() => return Err(ParseError::TryHelp),
            Err(e) => return Err(ParseError::Popt(e)),
        };
        if spec.kind == Kind::Socket {
            if socket.is_some() {
                return syntax("multiple 'socket' options specified");
            }
            socket = Some(value.unwrap_or_default());
            continue;
        }
        match &mut draft {
            Some(d) => d.take(spec.kind, &shown, value, resolver)?,
            None => {
                let Kind::Command(cmd) = spec.kind else {
                    return Err(ParseError::TryHelp);
                };
                match cmd {
                    Cmd::Help => {
                        return Ok(Invocation {
                            command: Command::Help,
                            socket,
                        })
                    }
                    Cmd::Version => {
                        return Ok(Invocation {
                            command: Command::Version,
                            socket,
                        })
                    }
                    Cmd::StartDaemon | Cmd::StopDaemon => {
                        let role = match value.as_deref() {
                            Some("master") => rvs_api::SyncRole::Master,
                            Some("backup") => rvs_api::SyncRole::Backup,
                            _ if cmd == Cmd::StartDaemon => {
                                return syntax("illegal start-daemon parameter specified")
                            }
                            // ipvsadm 1.31's text for --stop-daemon, word for word.
                            _ => return syntax("illegal start_daemon specified"),
                        };
                        let mut d = Draft::new(cmd);
                        d.daemon = Some(role);
                        draft = Some(d);
                    }
                    _ => draft = Some(Draft::new(cmd)),
                }
            }
        }
    }
    let Some(draft) = draft else {
        return match positionals.first() {
            None => Ok(Invocation {
                command: Command::List {
                    service: None,
                    format: ListFormat::default(),
                },
                socket,
            }),
            Some(_) => Err(ParseError::TryHelp),
        };
    };
    let mut positionals = positionals.into_iter();
    let timeouts = if draft.cmd == Cmd::Set {
        // ipvsadm takes the three values with poptGetArg.
        let (Some(tcp), Some(tcpfin), Some(udp)) =
            (positionals.next(), positionals.next(), positionals.next())
        else {
            return syntax("--set option requires 3 timeout values");
        };
        Some(rvs_api::Timeouts {
            tcp_s: parse_timeout(&tcp)?,
            tcpfin_s: parse_timeout(&tcpfin)?,
            udp_s: parse_timeout(&udp)?,
        })
    } else {
        None
    };
    if let Some(word) = positionals.next() {
        return syntax(format!("unexpected argument {word}"));
    }
    let command = match timeouts {
        Some(t) => {
            check_matrix(&draft)?;
            Command::Change(Request::SetTimeouts(t))
        }
        None => finish(draft, resolver)?,
    };
    Ok(Invocation { command, socket })
}

/// Interpret the options that depend on others, check the matrix, fill in
/// defaults and build the command.
fn finish(draft: Draft, resolver: &dyn Resolver) -> Result<Command, ParseError> {
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
fn parse_timeout(text: &str) -> Result<u32, ParseError> {
    number(text, 0, i64::from(rvs_api::TIMEOUT_MAX_S))
        .ok_or_else(|| ParseError::Syntax(format!("invalid timeout value `{text}' specified")))
}

/// A value the matrix has already made sure of (so the error is the matrix's).
fn required<T>(value: Option<T>, opt: Opt, cmd: Cmd) -> Result<T, ParseError> {
    value.ok_or_else(|| {
        ParseError::Syntax(format!(
            "You need to supply the '{}' option for the '{}' command",
            opt.name(),
            cmd.name()
        ))
    })
}

/// ipvsadm's `generic_opt_check`, in matrix order.
fn check_matrix(draft: &Draft) -> Result<(), ParseError> {
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
fn parse_server(
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
fn parse_netmask(draft: &Draft, text: &str, resolver: &dyn Resolver) -> Result<u32, ParseError> {
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

fn service_config(
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
    })
}

/// `-b flag[,flag...]` → the canonical flag names for `scheduler`, in bit order.
fn parse_sched_flags(scheduler: &str, text: &str) -> Result<Vec<String>, ParseError> {
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

fn dest_config(
    draft: &Draft,
    key: &ServiceKey,
    mut addr: SocketAddr,
) -> Result<DestConfig, ParseError> {
    let fwmark = matches!(key, ServiceKey::Fwmark { .. });
    // Port mapping only works with NAT: DR and tunnel dests take the service port.
    if !fwmark && matches!(draft.forward, Forward::Route | Forward::Tunnel) {
        addr.set_port(draft.service_port());
    }
    if addr.is_ipv6() != rvs_api::key_is_ipv6(key) && draft.forward != Forward::Tunnel {
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
fn check_tunnel(draft: &Draft) -> Result<(), ParseError> {
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

fn list_format(draft: &Draft) -> ListFormat {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::names::tests::FixedResolver;
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn parse(line: &str) -> Result<Command, ParseError> {
        parse_args(&words(line), &FixedResolver::new()).map(|i| i.command)
    }

    fn error(line: &str) -> String {
        match parse(line) {
            Err(e) => e.to_string(),
            Ok(c) => panic!("{line:?} parsed as {c:?}"),
        }
    }

    fn status(line: &str) -> i32 {
        parse(line).err().map_or(0, |e| e.exit_code())
    }

    fn tcp(addr: &str) -> ServiceKey {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: addr.parse().unwrap(),
        }
    }

    fn added_service(line: &str) -> ServiceConfig {
        match parse(line) {
            Ok(Command::Change(
                Request::AddService { config, .. } | Request::EditService { config, .. },
            )) => config,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn added_dest(line: &str) -> DestConfig {
        match parse(line) {
            Ok(Command::Change(Request::AddDest { dest, .. } | Request::EditDest { dest, .. })) => {
                dest
            }
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn add_service_defaults() {
        let c = added_service("-A -t 192.168.10.100:80");
        assert_eq!(c.scheduler, "wlc");
        assert_eq!(c.persistent_timeout_s, None);
        assert_eq!(c.netmask, None);
        assert!(c.sched_flags.is_empty() && !c.one_packet && c.persistence_engine.is_none());
        assert_eq!(
            parse("-A -t 192.168.10.100:80 -s rr"),
            Ok(Command::Change(Request::AddService {
                key: tcp("192.168.10.100:80"),
                config: ServiceConfig {
                    scheduler: "rr".into(),
                    ..c
                },
            }))
        );
    }

    #[test]
    fn edit_service_is_a_full_replacement() {
        // -E without -s resets the scheduler to wlc; without -p it drops persistence.
        let c = added_service("-E -t 192.168.10.100:80 -p 600");
        assert_eq!(
            (c.scheduler.as_str(), c.persistent_timeout_s),
            ("wlc", Some(600))
        );
        let c = added_service("-E -t 192.168.10.100:80 -s rr");
        assert_eq!((c.scheduler.as_str(), c.persistent_timeout_s), ("rr", None));
        assert!(c.sched_flags.is_empty() && !c.one_packet);
    }

    #[test]
    fn persistence_defaults_and_limits() {
        assert_eq!(
            added_service("-A -t 10.0.0.1:80 -p").persistent_timeout_s,
            Some(360)
        );
        assert_eq!(
            added_service("-A -t 10.0.0.1:80 -p -s rr").persistent_timeout_s,
            Some(360)
        );
        assert_eq!(
            added_service("-A -t 10.0.0.1:80 -p 2678400").persistent_timeout_s,
            Some(2_678_400)
        );
        assert_eq!(
            added_service("-A -t 10.0.0.1:80 --persistent=5").persistent_timeout_s,
            Some(5)
        );
        assert_eq!(
            error("-A -t 10.0.0.1:80 -p 0"),
            "invalid timeout value `0' specified"
        );
        assert_eq!(
            error("-A -t 10.0.0.1:80 -p 2678401"),
            "invalid timeout value `2678401' specified"
        );
        assert_eq!(
            error("-A -t 10.0.0.1:80 -p x"),
            "invalid timeout value `x' specified"
        );
        // Port 0 needs persistence.
        assert_eq!(
            error("-A -t 10.0.0.1"),
            "Zero port specified for non-persistent service"
        );
        assert_eq!(
            error("-A -t 10.0.0.1:0"),
            "Zero port specified for non-persistent service"
        );
        assert_eq!(
            added_service("-A -t 10.0.0.1 -p").persistent_timeout_s,
            Some(360)
        );
    }

    #[test]
    fn netmask_scheduler_flags_ops_pe() {
        let c = added_service("-A -t 10.0.0.1:443 -s rr -p -M 255.255.255.0");
        assert_eq!(c.netmask, Some(0xffff_ff00));
        let c = added_service("-A -t [2001:db8::100]:443 -p -M 64");
        assert_eq!(c.netmask, Some(64));
        let c = added_service("-A -f 7 -6 -p -M 48");
        assert_eq!(c.netmask, Some(48));
        assert_eq!(
            error("-A -t [2001:db8::100]:443 -p -M 129"),
            "illegal ipv6 netmask specified"
        );
        assert_eq!(
            error("-A -t 10.0.0.1:443 -p -M 255.255.255.256"),
            "illegal virtual server persistent mask specified"
        );
        let c = added_service("-A -t [2001:db8::100]:80 -s mh -b mh-port,mh-fallback");
        assert_eq!(c.sched_flags, ["mh-fallback", "mh-port"]);
        assert_eq!(
            added_service("-A -t 10.0.0.1:80 -b flag-3,flag-1").sched_flags,
            ["flag-1", "flag-3"]
        );
        assert_eq!(
            added_service("-A -t 10.0.0.1:80 -s sh -b flag-1").sched_flags,
            ["sh-fallback"]
        );
        assert_eq!(
            error("-A -t 10.0.0.1:80 -b sh-port"),
            "incompatible scheduler flag `sh-port'"
        );
        assert_eq!(
            error("-A -t 10.0.0.1:80 -b bogus"),
            "invalid scheduler flag `bogus'"
        );
        assert!(added_service("-A -u 10.0.0.1:53 -o").one_packet);
        assert!(added_service("-A -f 3 -o").one_packet);
        assert_eq!(
            error("-A -t 10.0.0.1:80 -o"),
            "One-Packet Scheduling is only for UDP virtual services"
        );
        assert_eq!(
            added_service("-A -t 10.0.0.1:80 -p --pe sip")
                .persistence_engine
                .as_deref(),
            Some("sip")
        );
        assert_eq!(
            added_service("-A -t 10.0.0.1:80 -s 0123456789abcdefXYZ").scheduler,
            "0123456789abcde"
        );
        assert_eq!(added_service("-A -t 10.0.0.1:80 -s=").scheduler, "=");
    }

    #[test]
    fn dest_defaults() {
        // -e without -m is DR with weight 1 and no thresholds.
        let d = added_dest("-e -t 10.0.0.1:80 -r 10.0.1.1:80");
        assert_eq!(
            d,
            DestConfig {
                addr: "10.0.1.1:80".parse().unwrap(),
                forward: Forward::Route,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
                tunnel: Default::default(),
            }
        );
        let d = added_dest("-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3 -x 100 -y 20");
        assert_eq!(
            (
                d.addr.port(),
                d.forward,
                d.weight,
                d.u_threshold,
                d.l_threshold
            ),
            (8080, Forward::Masq, 3, 100, 20)
        );
    }

    #[test]
    fn dest_ports() {
        // -g and -i force the service port; -m keeps the mapping; no port copies it.
        assert_eq!(
            added_dest("-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -g")
                .addr
                .port(),
            80
        );
        assert_eq!(
            added_dest("-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -i")
                .addr
                .port(),
            80
        );
        assert_eq!(
            added_dest("-a -t 10.0.0.1:80 -r 10.0.1.1:8080").addr.port(),
            80
        );
        assert_eq!(
            added_dest("-a -t 10.0.0.1:80 -r 10.0.1.1 -m").addr.port(),
            80
        );
        assert_eq!(added_dest("-a -f 7 -r 10.0.1.1:8080 -g").addr.port(), 8080);
        assert_eq!(added_dest("-a -f 7 -r 10.0.1.1").addr.port(), 0);
        assert_eq!(
            added_dest("-a -t 10.0.0.1:http -r 10.0.1.1:https -m")
                .addr
                .port(),
            443
        );
        assert_eq!(
            parse("-d -t 10.0.0.1:80 -r 10.0.1.1"),
            Ok(Command::Change(Request::DelDest {
                service: tcp("10.0.0.1:80"),
                addr: "10.0.1.1:80".parse().unwrap(),
            }))
        );
        assert_eq!(
            error("-a -t 10.0.0.1:80 -r [2001:db8::1]:80"),
            "Different address family is allowed only for tunneling servers"
        );
        assert!(added_dest("-a -t 10.0.0.1:80 -r [2001:db8::1]:80 -i")
            .addr
            .is_ipv6());
        assert_eq!(
            error("-a -t 10.0.0.1:80 -r 80"),
            "illegal real server address[:port] specified"
        );
        assert_eq!(
            error("-a -t 10.0.0.1:80 -r 10.0.1.1 -w 65536"),
            "illegal weight specified"
        );
        assert_eq!(
            error("-a -t 10.0.0.1:80 -r 10.0.1.1 -x -1"),
            "illegal u_threshold specified"
        );
        assert_eq!(
            error("-a -t 10.0.0.1:80 -r 10.0.1.1 -y 2147483648"),
            "illegal l_threshold specified"
        );
    }

    #[test]
    fn service_addresses() {
        assert_eq!(
            parse("-D -t 192.168.10.100:80"),
            Ok(Command::Change(Request::DelService {
                key: tcp("192.168.10.100:80")
            }))
        );
        assert_eq!(
            parse("-D -t lb.example.com:www"),
            Ok(Command::Change(Request::DelService {
                key: tcp("192.0.2.10:80")
            }))
        );
        assert_eq!(
            parse("-D -u 10.0.0.1:domain"),
            Ok(Command::Change(Request::DelService {
                key: ServiceKey::Inet {
                    protocol: Protocol::Udp,
                    addr: "10.0.0.1:53".parse().unwrap()
                }
            }))
        );
        assert_eq!(
            parse("-D -t [2001:db8::100]:80"),
            Ok(Command::Change(Request::DelService {
                key: tcp("[2001:db8::100]:80")
            }))
        );
        assert_eq!(
            parse("-D -f 7 -6"),
            Ok(Command::Change(Request::DelService {
                key: ServiceKey::Fwmark {
                    mark: 7,
                    ipv6: true
                }
            }))
        );
        assert_eq!(
            parse("-D --fwmark-service=4294967295"),
            Ok(Command::Change(Request::DelService {
                key: ServiceKey::Fwmark {
                    mark: u32::MAX,
                    ipv6: false
                }
            }))
        );
        assert_eq!(
            error("-A -t 80"),
            "illegal virtual server address[:port] specified"
        );
        assert_eq!(
            error("-A -t nowhere.invalid:80"),
            "illegal virtual server address[:port] specified"
        );
        assert_eq!(
            error("-A -t 10.0.0.1:nosuch"),
            "illegal virtual server address[:port] specified"
        );
        assert_eq!(error("-D -f 0"), "invalid fwmark value `0' specified");
        assert_eq!(
            error("-D -f 4294967296"),
            "invalid fwmark value `4294967296' specified"
        );
        assert_eq!(error("-D -6 -f 7"), "-6 used before -f");
        assert_eq!(error("-D -t 10.0.0.1:80 -6"), "-6 used before -f");
    }

    #[test]
    fn matrix_errors() {
        assert_eq!(
            error("-A -s rr"),
            "You need to supply the 'service-address' option for the 'add-service' command"
        );
        assert_eq!(
            error("-a -t 10.0.0.1:80"),
            "You need to supply the 'real-server' option for the 'add-server' command"
        );
        assert_eq!(
            error("-d -r 10.0.0.1"),
            "You need to supply the 'service-address' option for the 'delete-server' command"
        );
        assert_eq!(
            error("-A -t 10.0.0.1:80 -w 2"),
            "Illegal 'weight' option with the 'add-service' command"
        );
        assert_eq!(
            error("-A -t 10.0.0.1:80 -n"),
            "Illegal 'numeric' option with the 'add-service' command"
        );
        assert_eq!(
            error("-C -t 10.0.0.1:80"),
            "Illegal 'service-address' option with the 'flush' command"
        );
        assert_eq!(
            error("-d -t 10.0.0.1:80 -r 10.0.1.1 -m"),
            "Illegal 'forwarding-method' option with the 'delete-server' command"
        );
        assert_eq!(
            error("-D -t 10.0.0.1:80 -s rr"),
            "Illegal 'scheduler' option with the 'delete-service' command"
        );
        assert_eq!(
            error("-Z -n"),
            "Illegal 'numeric' option with the 'zero' command"
        );
        assert_eq!(
            error("-L -s rr"),
            "Illegal 'scheduler' option with the 'list' command"
        );
        assert_eq!(
            error("-A -t 10.0.0.1:80 -s rr -s wlc"),
            "multiple 'scheduler' options specified"
        );
        assert_eq!(
            error("-a -t 10.0.0.1:80 -r 10.0.1.1 -g -m"),
            "multiple 'forwarding-method' options specified"
        );
        assert_eq!(
            error("-A -t 10.0.0.1:80 -f 3"),
            "multiple 'service-address' options specified"
        );
        assert_eq!(error("-A -D"), "invalid option `-D'");
        assert_eq!(error("-L -L"), "invalid option `-L'");
        assert_eq!(error("-L -n extra"), "unexpected argument extra");
        assert_eq!(status("-A -s rr"), 2);
        assert_eq!(status("-L -n extra"), 2);
    }

    #[test]
    fn try_help_and_popt_errors() {
        let try_help = "Try `rvsadm -h' or 'rvsadm --help' for more information.";
        assert_eq!(error("-n -L"), try_help);
        assert_eq!(error("-t 10.0.0.1:80 -A"), try_help);
        assert_eq!(error("foo"), try_help);
        assert_eq!(error("--bogus"), try_help);
        assert_eq!(status("foo"), 255);
        assert_eq!(error("-L --bogus"), "--bogus: unknown option");
        assert_eq!(error("-A -t"), "-t: missing argument");
        assert_eq!(status("-A -t"), 255);
    }

    #[test]
    fn save_restore_set_timeout_daemon() {
        assert_eq!(parse("-S -n"), Ok(Command::Save { numeric: true }));
        assert_eq!(parse("--save"), Ok(Command::Save { numeric: false }));
        assert_eq!(parse("-R"), Ok(Command::Restore));
        assert_eq!(
            error("-S -s rr"),
            "Illegal 'scheduler' option with the 'save' command"
        );
        assert_eq!(
            parse("--set 3600 30 60"),
            Ok(Command::Change(Request::SetTimeouts(rvs_api::Timeouts {
                tcp_s: 3600,
                tcpfin_s: 30,
                udp_s: 60
            })))
        );
        assert_eq!(error("--set 1 2"), "--set option requires 3 timeout values");
        assert_eq!(
            error("--set 1 2 2678401"),
            "invalid timeout value `2678401' specified"
        );
        assert_eq!(error("--set 1 2 3 4"), "unexpected argument 4");
        assert_eq!(parse("-L --timeout"), Ok(Command::ListTimeouts));
        assert_eq!(parse("-L --daemon"), Ok(Command::ListDaemons));
        assert_eq!(
            error("-L --timeout --stats"),
            "options conflicts in the list command"
        );
        assert_eq!(
            error("-L --daemon --persistent-conn"),
            "options conflicts in the list command"
        );
    }

    #[test]
    fn proxy_protocol_v2_is_a_service_option() {
        assert!(added_service("-A -t 10.0.0.1:80 -s rr --proxy-protocol v2").proxy_protocol);
        assert!(!added_service("-A -t 10.0.0.1:80 -s rr").proxy_protocol);
        assert_eq!(
            parse("-A -t 10.0.0.1:80 --proxy-protocol v1"),
            Err(ParseError::Syntax(
                "invalid proxy protocol `v1' specified (only v2 is supported)".into()
            ))
        );
    }

    #[test]
    fn tunnel_options_parse_and_fit_together() {
        use rvs_api::{Tunnel, TunnelCsum, TunnelKind};
        let gue = added_dest("-a -u 10.0.0.1:53 -r 10.0.1.1 -i --tun-type gue --tun-port 6080");
        assert_eq!(
            gue.tunnel,
            Tunnel {
                kind: TunnelKind::Gue,
                port: 6080,
                csum: TunnelCsum::NoCsum
            }
        );
        let csum = added_dest(
            "-a -u 10.0.0.1:53 -r 10.0.1.1 -i --tun-type gue --tun-port 6080 --tun-csum",
        );
        assert_eq!(csum.tunnel.csum, TunnelCsum::Csum);
        assert_eq!(
            added_dest("-a -u 10.0.0.1:53 -r 10.0.1.1 -i").tunnel,
            Tunnel::default(),
            "ipip by default"
        );
        for (line, message) in [
            (
                "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type vxlan",
                "illegal tunnel type specified",
            ),
            (
                "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 0",
                "illegal tunnel port specified",
            ),
            (
                "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue",
                "You need to supply the 'tun-port' option for the 'gue' tunnel type",
            ),
            (
                "-a -t 10.0.0.1:80 -r 10.0.1.1 -m --tun-type gue --tun-port 1",
                "Tunnel options conflict with forward method",
            ),
            (
                "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-port 1",
                "Illegal 'tun-port' option with the 'ipip' tunnel type",
            ),
            (
                "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gre --tun-remcsum",
                "Illegal 'tun-remcsum' option with the 'gre' tunnel type",
            ),
            (
                "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 1 --tun-csum --tun-nocsum",
                "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type",
            ),
        ] {
            assert_eq!(parse(line), Err(ParseError::Syntax(message.into())), "{line}");
        }
        assert!(matches!(
            parse("-L --tun-info"),
            Ok(Command::List {
                format: ListFormat {
                    view: ListView::TunInfo,
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn sync_daemon_commands() {
        use rvs_api::{SyncDaemon, SyncRole};
        assert_eq!(
            parse("--start-daemon master --mcast-interface rvs0 --syncid 51"),
            Ok(Command::Change(Request::StartDaemon(SyncDaemon {
                role: SyncRole::Master,
                interface: Some("rvs0".into()),
                syncid: 51,
                maxlen: None,
                group: None,
                port: None,
                ttl: None,
            })))
        );
        assert_eq!(
            parse("--start-daemon backup --sync-maxlen 1000 --mcast-group 224.0.0.82 --mcast-port 8849 --mcast-ttl 2"),
            Ok(Command::Change(Request::StartDaemon(SyncDaemon {
                role: SyncRole::Backup,
                interface: None,
                syncid: 0,
                maxlen: Some(1000),
                group: Some("224.0.0.82".parse().unwrap()),
                port: Some(8849),
                ttl: Some(2),
            })))
        );
        assert_eq!(
            parse("--stop-daemon backup --syncid 3"),
            Ok(Command::Change(Request::StopDaemon(SyncRole::Backup)))
        );
        for (line, text) in [
            (
                "--start-daemon primary",
                "illegal start-daemon parameter specified",
            ),
            ("--stop-daemon x", "illegal start_daemon specified"),
            (
                "--start-daemon master --syncid 256",
                "illegal syncid specified",
            ),
            (
                "--start-daemon master --mcast-group 10.0.0.1",
                "invalid IPv4 mcast-group `10.0.0.1'",
            ),
            (
                "--start-daemon master --mcast-ttl 0",
                "illegal mcast-ttl specified",
            ),
            (
                "--start-daemon master --sync-maxlen 65508",
                "illegal sync-maxlen specified",
            ),
            (
                "--stop-daemon master --mcast-port 1",
                "Illegal 'mcast-port' option with the 'stop-daemon' command",
            ),
        ] {
            assert_eq!(error(line), text, "{line}");
            assert_eq!(status(line), 2, "{line}");
        }
    }

    #[test]
    fn unsupported_options_are_named() {
        let line = "-A --sctp-service 10.0.0.1:80";
        assert_eq!(error(line), "rvsadm: --sctp-service is not supported yet");
        assert_eq!(status(line), 2);
    }

    #[test]
    fn list_forms() {
        let list = |line: &str| match parse(line) {
            Ok(Command::List { service, format }) => (service, format),
            other => panic!("{line:?} gave {other:?}"),
        };
        assert_eq!(list(""), (None, ListFormat::default()));
        assert_eq!(list("-L"), (None, ListFormat::default()));
        let numeric = ListFormat {
            numeric: true,
            ..ListFormat::default()
        };
        assert_eq!(list("-Ln"), (None, numeric));
        assert_eq!(list("-l -n"), (None, numeric));
        assert_eq!(list("--list --numeric --sort"), (None, numeric));
        assert_eq!(
            list("-L -n -t 10.0.0.1:80"),
            (Some(tcp("10.0.0.1:80")), numeric)
        );
        let (_, f) = list("-LnX --stats --nosort");
        assert_eq!(
            f,
            ListFormat {
                numeric: true,
                exact: true,
                nosort: true,
                view: ListView::Stats
            }
        );
        assert_eq!(list("-L --thresholds").1.view, ListView::Thresholds);
        assert_eq!(
            list("-L --persistent-conn").1.view,
            ListView::PersistentConn
        );
        assert_eq!(list("-L --stats --thresholds").1.view, ListView::Stats);
        assert_eq!(
            parse("-Z"),
            Ok(Command::Change(Request::Zero { service: None }))
        );
        assert_eq!(
            parse("-Z -t 10.0.0.1:80"),
            Ok(Command::Change(Request::Zero {
                service: Some(tcp("10.0.0.1:80"))
            }))
        );
        assert_eq!(parse("-C"), Ok(Command::Change(Request::Clear)));
        assert_eq!(parse("--clear"), Ok(Command::Change(Request::Clear)));
    }

    #[test]
    fn counters() {
        assert_eq!(parse("--counters"), Ok(Command::Counters));
        let inv = parse_args(
            &words("--socket /tmp/a.sock --counters"),
            &FixedResolver::new(),
        )
        .unwrap();
        assert_eq!(
            (inv.command, inv.socket.as_deref()),
            (Command::Counters, Some("/tmp/a.sock"))
        );
        assert_eq!(
            error("--counters -n"),
            "Illegal 'numeric' option with the 'counters' command"
        );
        assert_eq!(
            error("--counters -t 1.2.3.4:80"),
            "Illegal 'service-address' option with the 'counters' command"
        );
        assert_eq!(status("--counters -n"), 2);
        assert_eq!(status("--counters -t 1.2.3.4:80"), 2);
        assert_eq!(error("--counters -L"), "invalid option `-L'");
        assert_eq!(error("-L --counters"), "invalid option `--counters'");
        assert_eq!(error("--counters extra"), "unexpected argument extra");
    }

    #[test]
    fn help_version_and_socket() {
        assert_eq!(parse("-h"), Ok(Command::Help));
        assert_eq!(parse("--help -A"), Ok(Command::Help));
        assert_eq!(parse("-v"), Ok(Command::Version));
        let inv = parse_args(&words("--socket /tmp/a.sock -Ln"), &FixedResolver::new()).unwrap();
        assert_eq!(inv.socket.as_deref(), Some("/tmp/a.sock"));
        let inv = parse_args(&words("-C --socket=/tmp/b.sock"), &FixedResolver::new()).unwrap();
        assert_eq!(
            (inv.command, inv.socket.as_deref()),
            (Command::Change(Request::Clear), Some("/tmp/b.sock"))
        );
        let inv = parse_args(&words("--socket /tmp/a.sock"), &FixedResolver::new()).unwrap();
        assert!(matches!(inv.command, Command::List { service: None, .. }));
        assert_eq!(
            error("-C --socket a --socket b"),
            "multiple 'socket' options specified"
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_argv(args in proptest::collection::vec(".{0,12}", 0..8)) {
            let _ = parse_args(&args, &FixedResolver::new());
        }

        #[test]
        fn never_panics_on_option_soup(
            args in proptest::collection::vec(
                prop_oneof![
                    Just("-A".to_string()), Just("-E".to_string()), Just("-a".to_string()),
                    Just("-e".to_string()), Just("-d".to_string()), Just("-L".to_string()),
                    Just("-Ln".to_string()), Just("-t".to_string()), Just("-f".to_string()),
                    Just("-6".to_string()), Just("-p".to_string()), Just("-M".to_string()),
                    Just("-r".to_string()), Just("-b".to_string()), Just("-w".to_string()),
                    Just("-s".to_string()), Just("10.0.0.1:80".to_string()),
                    Just("[2001:db8::1]:80".to_string()), Just("7".to_string()),
                    Just("mh-port".to_string()), "[-:\\[\\]0-9a-z.]{0,10}",
                ],
                0..10,
            )
        ) {
            let _ = parse_args(&args, &FixedResolver::new());
        }
    }
}
