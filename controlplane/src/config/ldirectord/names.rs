//! ldirectord's service names and ports (`service = http` ↔ 80).

use crate::services::ServicesDb;
use rvs_api::Protocol;
use std::net::{IpAddr, ToSocketAddrs};

/// The `service=` values ldirectord accepts.
pub(super) const SERVICES: &[&str] = &[
    "dns",
    "ftp",
    "http",
    "https",
    "http_proxy",
    "imap",
    "imaps",
    "ldap",
    "ldaps",
    "nntp",
    "mysql",
    "none",
    "oracle",
    "pop",
    "pops",
    "radius",
    "pgsql",
    "sip",
    "smtp",
    "submission",
    "simpletcp",
];

/// Host and service names, resolved as ldirectord resolves them at load.
pub(super) struct Names {
    services: ServicesDb,
}

impl Names {
    pub(super) fn load() -> Self {
        Names {
            services: ServicesDb::load(),
        }
    }

    /// `host` (an address, bracketed for IPv6, or a host name) in the
    /// family `v6` says: getaddrinfo's first address of that family.
    pub(super) fn host(&self, host: &str, v6: bool) -> Result<IpAddr, String> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let family = |ipv6: bool| if ipv6 { "IPv6" } else { "IPv4" };
        if let Ok(ip) = bare.parse::<IpAddr>() {
            if ip.is_ipv6() != v6 {
                return Err(format!(
                    "'{bare}' is an {} address: use {}",
                    family(ip.is_ipv6()),
                    if ip.is_ipv6() {
                        "virtual6/real6/fallback6"
                    } else {
                        "virtual/real/fallback"
                    }
                ));
            }
            return Ok(ip);
        }
        let valid = !bare.is_empty()
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
        if !valid {
            return Err(format!("'{host}' is not an address or a host name"));
        }
        (bare, 0)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.find(|a| a.is_ipv6() == v6))
            .map(|a| a.ip())
            .ok_or_else(|| {
                format!(
                    "could not resolve host '{bare}' to an {} address",
                    family(v6)
                )
            })
    }

    /// `port`, a number 0..65535 or a service name of `protocol` (`None`:
    /// any protocol, as `getservbyname(name, "")`).
    pub(super) fn port(&self, port: &str, protocol: Option<Protocol>) -> Result<u16, String> {
        if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) {
            return port
                .parse::<u16>()
                .map_err(|_| format!("port '{port}' is not 0..65535"));
        }
        let found = match protocol {
            Some(p) => self.services.port_of(port, p),
            None => self
                .services
                .port_of(port, Protocol::Tcp)
                .or_else(|| self.services.port_of(port, Protocol::Udp)),
        };
        found.ok_or_else(|| {
            format!(
                "could not resolve service '{port}'{} (/etc/services)",
                match protocol {
                    Some(Protocol::Udp) => "/udp",
                    Some(Protocol::Sctp) => "/sctp",
                    Some(_) => "/tcp",
                    None => "",
                }
            )
        })
    }
}

/// The ports of ldirectord's services: `service=`'s default for a
/// virtual's port, and the port its checks use when a real server has none.
pub(super) const SERVICE_PORTS: &[(&str, u16)] = &[
    ("ftp", 21),
    ("smtp", 25),
    ("dns", 53),
    ("http", 80),
    ("pop", 110),
    ("nntp", 119),
    ("imap", 143),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pops", 995),
    ("oracle", 1521),
    ("radius", 1812),
    ("http_proxy", 3128),
    ("mysql", 3306),
    ("sip", 5060),
    ("pgsql", 5432),
];

/// `service=`'s default for a port.
pub(super) fn service_of_port(port: u16) -> &'static str {
    SERVICE_PORTS
        .iter()
        .find(|(_, p)| *p == port)
        .map_or("none", |(name, _)| name)
}

/// The port of an ldirectord `service=` (the checks of a real server
/// without one).
pub(super) fn port_of_service(service: &str) -> Option<u16> {
    SERVICE_PORTS
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, p)| *p)
}
