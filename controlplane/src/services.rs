//! The services database (`/etc/services`): service names and ports, as
//! `getservbyname`/`getservbyport` read them. Shared by rvsadm (`-t
//! VIP:http`, non-numeric listings) and the config readers (ldirectord's
//! `real=host:http`), so neither depends on the other.

#![forbid(unsafe_code)]

use rvs_api::Protocol;

/// Where the services database lives.
pub const SERVICES_PATH: &str = "/etc/services";

/// One line of `/etc/services`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ServiceEntry {
    name: String,
    aliases: Vec<String>,
    port: u16,
    protocol: Protocol,
}

/// A parsed services database (`/etc/services` format). Lines of protocols
/// other than `tcp` and `udp`, and malformed lines, are skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServicesDb {
    entries: Vec<ServiceEntry>,
}

impl ServicesDb {
    /// Parse text in `/etc/services` format.
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|line| {
                let line = line.split('#').next().unwrap_or("");
                let mut words = line.split_whitespace();
                let name = words.next()?;
                let (port, protocol) = words.next()?.split_once('/')?;
                let protocol = match protocol {
                    "tcp" => Protocol::Tcp,
                    "udp" => Protocol::Udp,
                    "sctp" => Protocol::Sctp,
                    _ => return None,
                };
                Some(ServiceEntry {
                    name: name.to_string(),
                    aliases: words.map(str::to_string).collect(),
                    port: port.parse().ok()?,
                    protocol,
                })
            })
            .collect();
        ServicesDb { entries }
    }

    /// Read [`SERVICES_PATH`]; an absent or unreadable file gives an empty
    /// database (names then simply do not resolve).
    pub fn load() -> Self {
        std::fs::read_to_string(SERVICES_PATH)
            .map(|text| Self::parse(&text))
            .unwrap_or_default()
    }

    /// The port of `name` (official name or alias) for `protocol`.
    pub fn port_of(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.entries
            .iter()
            .find(|e| {
                e.protocol == protocol && (e.name == name || e.aliases.iter().any(|a| a == name))
            })
            .map(|e| e.port)
    }

    /// The official name of `port` for `protocol` (the first matching line).
    pub fn name_of(&self, port: u16, protocol: Protocol) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.protocol == protocol && e.port == port)
            .map(|e| e.name.as_str())
    }
}
