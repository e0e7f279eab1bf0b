//! argv read into a [`Draft`]: each option at most once, its value
//! checked as ipvsadm checks it, before the options that depend on others
//! are interpreted ([`super::build`]).

use std::net::SocketAddr;

use rvs_api::{Forward, Protocol, ServiceKey};

use super::{NAME_LEN_MAX, PERSISTENT_TIMEOUT_DEFAULT_S, PERSISTENT_TIMEOUT_MAX_S};
use crate::rvsadm::command::{syntax, ParseError};
use crate::rvsadm::names::{parse_addr_port, parse_number, Resolver};
use crate::rvsadm::options::{Cmd, Kind, Opt, ServiceFlag};

/// Everything read from argv before defaults and checks.
#[derive(Debug)]
pub(super) struct Draft {
    pub(super) cmd: Cmd,
    /// Bits of [`Opt`]s given (ipvsadm's `options`).
    pub(super) given: u64,
    pub(super) service: Option<ServiceKey>,
    pub(super) scheduler: Option<String>,
    pub(super) persistent_timeout_s: Option<u32>,
    pub(super) netmask: Option<String>,
    pub(super) server: Option<String>,
    pub(super) forward: Forward,
    pub(super) weight: u32,
    pub(super) u_threshold: u32,
    pub(super) l_threshold: u32,
    pub(super) persistence_engine: Option<String>,
    pub(super) sched_flags: Option<String>,
    pub(super) tunnel: rvs_api::Tunnel,
    /// `--start-daemon`/`--stop-daemon`'s argument, and the daemon's options.
    pub(super) daemon: Option<rvs_api::SyncRole>,
    pub(super) sync: rvs_api::SyncDaemon,
}

impl Draft {
    pub(super) fn new(cmd: Cmd) -> Self {
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

    pub(super) fn has(&self, opt: Opt) -> bool {
        self.given & opt.bit() != 0
    }

    /// ipvsadm's `set_option`: each option at most once.
    pub(super) fn set(&mut self, opt: Opt) -> Result<(), ParseError> {
        if self.has(opt) {
            return syntax(format!("multiple '{}' options specified", opt.name()));
        }
        self.given |= opt.bit();
        Ok(())
    }

    /// The protocol service names are looked up for (TCP for fwmark
    /// services, as ipvsadm sets it).
    pub(super) fn protocol(&self) -> Protocol {
        match self.service {
            Some(ServiceKey::Inet { protocol, .. }) => protocol,
            _ => Protocol::Tcp,
        }
    }

    pub(super) fn service_port(&self) -> u16 {
        match self.service {
            Some(ServiceKey::Inet { addr, .. }) => addr.port(),
            _ => 0,
        }
    }

    pub(super) fn service_is_ipv6(&self) -> bool {
        self.service.as_ref().is_some_and(rvs_api::key_is_ipv6)
    }

    /// Act on one option after the command.
    pub(super) fn take(
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
                self.service = Some(parse_service(flag, &value, resolver)?);
            }
            Kind::Forward(forward) => {
                self.set(Opt::Forward)?;
                self.forward = forward;
            }
            Kind::Option(opt) => self.take_option(opt, shown, value)?,
        }
        Ok(())
    }

    pub(super) fn take_option(
        &mut self,
        opt: Opt,
        shown: &str,
        value: String,
    ) -> Result<(), ParseError> {
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
            | Opt::OnePacket
            | Opt::SloppyTcp => self.set(opt),
            Opt::Synproxy => self.set(opt),
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
pub(super) fn number(text: &str, min: i64, max: i64) -> Option<u32> {
    parse_number(text, min, max).and_then(|n| u32::try_from(n).ok())
}

/// Cut a name to [`NAME_LEN_MAX`] bytes, on a character boundary.
pub(super) fn truncate_name(name: &str) -> String {
    let mut end = name.len().min(NAME_LEN_MAX);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

pub(super) fn parse_service(
    flag: ServiceFlag,
    value: &str,
    resolver: &dyn Resolver,
) -> Result<ServiceKey, ParseError> {
    let protocol = match flag {
        ServiceFlag::Tcp => Protocol::Tcp,
        ServiceFlag::Udp => Protocol::Udp,
        ServiceFlag::Sctp => Protocol::Sctp,
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
