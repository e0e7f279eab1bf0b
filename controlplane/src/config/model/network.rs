//! The dataplane's network: the director's own addresses, static routes
//! and the FullNAT local address pools.

use crate::config::forms;
use rvs_api::{MarkRule, Prefix};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The dataplane's network settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Network {
    /// The director's own addresses, per dataplane port, beyond the one the
    /// dataplane's configuration gives it (`SetNetwork`: on the port's
    /// exception interface, and directly connected for the dataplane).
    pub addresses: Vec<PortAddress>,
    /// Static routes, for the dataplane and the kernel (`SetNetwork`).
    pub routes: Vec<Route>,
    /// FullNAT local address pools, by name.
    pub local_address_pools: Vec<LaddrPool>,
    /// Firewall-mark classifier rules, in match order.
    pub mark_rules: Vec<MarkRule>,
}

impl Network {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
            && self.routes.is_empty()
            && self.local_address_pools.is_empty()
            && self.mark_rules.is_empty()
    }

    /// The pool called `name`.
    pub fn pool(&self, name: &str) -> Option<&LaddrPool> {
        self.local_address_pools.iter().find(|p| p.name == name)
    }
}

/// An address of the director on a dataplane port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortAddress {
    /// The port's name (`[[ports]] name` of the dataplane's configuration).
    pub port: String,
    #[serde(with = "forms::as_str")]
    pub address: IfAddr,
}

/// A static route.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(with = "forms::as_str")]
    pub dst: Prefix,
    pub via: Option<IpAddr>,
    pub port: Option<String>,
}

/// A FullNAT local address pool (keepalived for DPVS: `local_address_group`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaddrPool {
    pub name: String,
    /// Ranges expanded, in order, no address twice.
    pub addresses: Vec<LocalAddress>,
}

/// One local address and the port it lives on (DPVS's `ADDR IFNAME`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LocalAddress {
    pub addr: IpAddr,
    pub port: Option<String>,
}

/// An interface address: `addr/prefix_len`, host bits kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for IfAddr {
    type Err = String;

    /// `ADDR[/LEN]`; no length is /32 (/128).
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("'{a}' is not an IP address"))?;
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match l {
            None => full,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= full)
                .ok_or_else(|| format!("'{l}' is not a prefix length 0..{full}"))?,
        };
        Ok(IfAddr { addr, prefix_len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_addresses_keep_host_bits() {
        let a: IfAddr = "192.168.10.100/24".parse().unwrap();
        assert_eq!(a.to_string(), "192.168.10.100/24");
        assert_eq!("10.0.0.1".parse::<IfAddr>().unwrap().prefix_len, 32);
        assert_eq!("2001:db8::1".parse::<IfAddr>().unwrap().prefix_len, 128);
        assert!("10.0.0.1/33".parse::<IfAddr>().is_err());
    }
}
