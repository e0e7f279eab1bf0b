//! Validation of a request against the state: every check a service or a
//! dest must pass before anything changes (ipvsadm's and the kernel's
//! refusals, as error values).

use super::*;

/// Why a sloppy service refuses FullNAT dests (decision 45).
pub(super) const SLOPPY_FULLNAT: &str = "FullNAT real servers are not supported in a sloppy TCP (--sloppy-tcp) service: an adopted connection would reach the real server from another local address and port, which it does not know";
/// Why a SYN-proxy service takes no DR or TUN dest (DPVS refuses them too).
pub(super) const SYNPROXY_NEEDS_NAT: &str =
    "the SYN proxy (--synproxy) needs NAT (-m) or FullNAT real servers: with direct routing (-g) or tunnelling (-i) the director does not see the replies";
/// Why a SYN-proxy service takes no real server of the other family: the
/// proxy's handshake with the real server is not translated (decisions 40
/// and 42 have not been combined).
pub(super) const SYNPROXY_XFAM: &str =
    "the SYN proxy (--synproxy) does not support FullNAT real servers of the other address family (not supported by this rvs version)";

impl AdminState {
    pub(super) fn service_addr(key: &ServiceKey) -> Result<ServiceAddr, ApiError> {
        match key {
            ServiceKey::Inet { protocol, addr } => Ok((protocol.number(), addr.ip(), addr.port())),
            ServiceKey::Fwmark { mark, ipv6 } => {
                if *ipv6 {
                    return Err(err(
                        ErrorKind::NotSupported,
                        "IPv6 firewall-mark services are not supported by this rvs version yet",
                    ));
                }
                if *mark == 0 {
                    return Err(err(ErrorKind::Invalid, "firewall mark 0 is not a mark"));
                }
                Ok((0, IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
            }
        }
    }

    /// The scheduler flags of `c`, checked against its scheduler the way
    /// ipvsadm does (sh-* only with sh, mh-* only with mh). `flag-1`..`flag-3`
    /// (what ipvsadm calls the bits no scheduler names) are kept and listed
    /// but act on nothing, as in IPVS.
    pub(super) fn sched_flags(c: &ServiceConfig) -> Result<SchedFlags, ApiError> {
        let mut flags = SchedFlags::default();
        for f in &c.sched_flags {
            let Some(flag) = rvs_api::sched_flag(f) else {
                return Err(err(
                    ErrorKind::Invalid,
                    format!("unknown scheduler flag {f:?}"),
                ));
            };
            let Some(family) = flag.scheduler else {
                continue;
            };
            if c.scheduler != family {
                return Err(err(
                    ErrorKind::Invalid,
                    format!("scheduler flag {f} is only for the {family} scheduler"),
                ));
            }
            // sh and mh name the same bits: 0 falls back, 1 hashes the port.
            if flag.bit == 0 {
                flags.fallback = true;
            } else {
                flags.port = true;
            }
        }
        Ok(flags)
    }

    pub(super) fn build_params(&self, c: &ServiceConfig) -> Result<BuildParams, ApiError> {
        Ok(BuildParams {
            flags: Self::sched_flags(c)?,
            mh_table_size: self.mh_table_size,
        })
    }

    pub(super) fn check_service_config(
        &self,
        key: &ServiceKey,
        c: &ServiceConfig,
    ) -> Result<(), ApiError> {
        let params = self.build_params(c)?;
        match sched::build(&c.scheduler, &[], &params) {
            Ok(_) => {}
            Err(sched::BuildError::Unknown) => {
                return Err(err(
                    ErrorKind::NotFound,
                    format!(
                        "scheduler {:?} is not available (this version has: {})",
                        c.scheduler,
                        sched::NAMES.join(", ")
                    ),
                ))
            }
            Err(sched::BuildError::Invalid(m)) => return Err(err(ErrorKind::Invalid, m)),
        }
        if let Some(pe) = &c.persistence_engine {
            return Err(err(
                ErrorKind::NotSupported,
                format!("persistence engine {pe:?} is not supported by this rvs version yet"),
            ));
        }
        match c.persistent_timeout_s {
            Some(t) if t == 0 || t > PERSISTENT_TIMEOUT_MAX_S => {
                return Err(err(
                    ErrorKind::Invalid,
                    format!("persistence timeout {t} is not 1..{PERSISTENT_TIMEOUT_MAX_S}"),
                ))
            }
            None if c.netmask.is_some() => {
                return Err(err(
                    ErrorKind::Invalid,
                    "a persistence netmask needs a persistent service (-p)",
                ))
            }
            _ => {}
        }
        if c.synproxy {
            if let ServiceKey::Inet {
                protocol: Protocol::Udp | Protocol::Sctp,
                ..
            } = key
            {
                return Err(err(
                    ErrorKind::Invalid,
                    "the SYN proxy (--synproxy) is only for TCP and firewall-mark services",
                ));
            }
            if c.sloppy_tcp {
                // The proxy takes an ACK without an entry only with its
                // cookie; a sloppy service would adopt it.
                return Err(err(
                    ErrorKind::Invalid,
                    "the SYN proxy (--synproxy) and --sloppy-tcp exclude each other: the proxy accepts an ACK without an entry only with its cookie",
                ));
            }
        }
        if c.one_packet {
            if let ServiceKey::Inet {
                protocol: Protocol::Tcp | Protocol::Sctp,
                ..
            } = key
            {
                return Err(err(
                    ErrorKind::Invalid,
                    "one-packet scheduling is only for UDP and firewall-mark services",
                ));
            }
        }
        if c.sloppy_tcp {
            if let ServiceKey::Inet {
                protocol: Protocol::Udp | Protocol::Sctp,
                ..
            } = key
            {
                return Err(err(
                    ErrorKind::Invalid,
                    "sloppy TCP (--sloppy-tcp) is only for TCP and firewall-mark services",
                ));
            }
        }
        if let ServiceKey::Inet { addr, .. } = key {
            if addr.port() == 0 && c.persistent_timeout_s.is_none() {
                return Err(err(
                    ErrorKind::Invalid,
                    "zero port specified for non-persistent service",
                ));
            }
            let ip = addr.ip();
            if ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() {
                return Err(err(
                    ErrorKind::Invalid,
                    format!("{ip} is not a unicast VIP"),
                ));
            }
        }
        Ok(())
    }

    /// Whether a service with scheduler `name` may hold `n` dests: the
    /// hash tables index dests in 16 bits, and Maglev needs at least as many
    /// slots as dests.
    pub(super) fn check_dest_count(&self, name: &str, n: usize) -> Result<(), ApiError> {
        let max = if name == "mh" {
            (self.mh_table_size as usize).min(DESTS_PER_SERVICE_MAX)
        } else {
            DESTS_PER_SERVICE_MAX
        };
        if n > max {
            return Err(err(
                ErrorKind::NoMemory,
                format!("a service with scheduler {name} holds at most {max} real servers"),
            ));
        }
        Ok(())
    }

    /// Whether the scheduler called `name` wants a locality cache.
    pub(super) fn wants_locality_cache(name: &str) -> bool {
        sched::build(name, &[], &BuildParams::default()).is_ok_and(|s| s.uses_locality_cache())
    }

    /// Give service `i` a locality cache if its scheduler wants one and it
    /// has none, or take it back if it no longer does.
    pub(super) fn assign_locality_cache(&mut self, i: usize) -> Result<(), ApiError> {
        let wants = Self::wants_locality_cache(&self.services[i].config.scheduler);
        match (wants, self.services[i].locality_cache) {
            (true, None) => {
                let c = self.free_locality_caches.pop().ok_or_else(|| {
                    err(
                        ErrorKind::NoMemory,
                        "every locality cache (for lblc and lblcr services) is in use (locality_caches)",
                    )
                })?;
                self.services[i].locality_cache = Some(c);
            }
            (false, Some(c)) => {
                self.free_locality_caches.push(c);
                self.services[i].locality_cache = None;
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `addr` is one of the director's own (the kernel's) addresses.
    pub(super) fn is_own_addr(&self, addr: IpAddr) -> bool {
        self.ports.iter().any(|p| match addr {
            IpAddr::V4(a) => p.addr == a,
            IpAddr::V6(a) => p.addr6 == Some(a),
        }) || self.network.addresses.iter().any(|a| a.addr == addr)
    }

    /// Check a dest against its service; returns the next hop to resolve
    /// and the port it is on.
    pub(super) fn check_dest(
        &self,
        svc: &ServiceEntry,
        d: &DestConfig,
    ) -> Result<(IpAddr, u16), ApiError> {
        let addr = d.addr.ip();
        if addr.is_ipv6() != svc.addr.1.is_ipv6() && d.forward != Forward::FullNat {
            // IPVS has tunnels between families; rvs does not (yet). FullNAT
            // translates between them (decision 42).
            return Err(err(
                ErrorKind::NotSupported,
                "a real server of the other address family is only supported with FullNAT (a tunnel between families is not supported by this rvs version)",
            ));
        }
        if matches!(d.forward, Forward::Masq | Forward::FullNat) && svc.config.one_packet {
            // A one-packet datagram leaves no entry, so its reply could not
            // be translated back (`spec/conn.md` §8).
            return Err(err(
                ErrorKind::NotSupported,
                "NAT (-m) and FullNAT real servers are not supported in a one-packet (-o) service: replies need the connection entry",
            ));
        }
        if d.forward == Forward::FullNat && svc.addr.0 == Protocol::Sctp.number() {
            // An association's other addresses (multi-homing) and the
            // verification tags would need more than a port swap.
            return Err(err(
                ErrorKind::NotSupported,
                "FullNAT real servers are not supported in an SCTP service: use NAT (-m), DR (-g) or tunnelling (-i)",
            ));
        }
        if d.forward == Forward::FullNat && svc.config.sloppy_tcp {
            return Err(err(ErrorKind::NotSupported, SLOPPY_FULLNAT));
        }
        if !matches!(d.forward, Forward::Masq | Forward::FullNat) && svc.config.synproxy {
            return Err(err(ErrorKind::NotSupported, SYNPROXY_NEEDS_NAT));
        }
        if addr.is_ipv6() != svc.addr.1.is_ipv6() && svc.config.synproxy {
            return Err(err(ErrorKind::NotSupported, SYNPROXY_XFAM));
        }
        if d.forward == Forward::Tunnel {
            use rvs_api::{TunnelCsum, TunnelKind};
            match (d.tunnel.kind, d.tunnel.csum) {
                (TunnelKind::Gre, _) => {
                    return Err(err(
                        ErrorKind::NotSupported,
                        "--tun-type gre is not supported by this rvs version (ipip and gue are)",
                    ))
                }
                (TunnelKind::Gue, TunnelCsum::RemCsum) => {
                    return Err(err(
                        ErrorKind::NotSupported,
                        "--tun-remcsum is not supported by this rvs version (--tun-nocsum and --tun-csum are)",
                    ))
                }
                (TunnelKind::Gue, _) if d.tunnel.port == 0 => {
                    return Err(err(ErrorKind::Invalid, "a GUE tunnel needs a port (--tun-port)"))
                }
                _ => {}
            }
        }
        if d.l_threshold > d.u_threshold {
            return Err(err(
                ErrorKind::Invalid,
                format!(
                    "lower threshold {} is above upper threshold {}",
                    d.l_threshold, d.u_threshold
                ),
            ));
        }
        if d.weight > i32::MAX as u32 {
            return Err(err(
                ErrorKind::Invalid,
                format!("weight {} is out of range", d.weight),
            ));
        }
        // A fwmark service's dests keep the port the client asked for in DR,
        // whatever port they are given. Only NAT maps ports.
        if matches!(svc.key, ServiceKey::Inet { .. })
            && !matches!(d.forward, Forward::Masq | Forward::FullNat)
            && d.addr.port() != svc.addr.2
        {
            return Err(err(
                ErrorKind::Invalid,
                "direct routing and tunnelling cannot map ports: the real server's port must be the service's",
            ));
        }
        if addr.is_unspecified()
            || addr.is_multicast()
            || matches!(addr, IpAddr::V4(a) if a.is_broadcast())
        {
            return Err(err(
                ErrorKind::Invalid,
                format!("{addr} is not a unicast address"),
            ));
        }
        network::way_for_dest(&self.ports, &self.port_names, &self.network, d)
    }
}
