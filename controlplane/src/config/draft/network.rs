//! The network as written: addresses, routes, local address pools
//! and mark rules.

use super::values::{parse_range, ProtocolName};
use crate::config::forms;
use crate::config::model::{PortAddress, Route};
use rvs_api::Prefix;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// `[network]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDraft {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<PortAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<Route>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_address_pool: Vec<PoolDraft>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mark_rule: Vec<MarkRuleDraft>,
}

impl NetworkDraft {
    pub fn is_empty(&self) -> bool {
        *self == NetworkDraft::default()
    }
}

/// A local address pool; keepalived for DPVS: `local_address_group NAME {
/// ADDR[-END] [IFNAME] ... }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolDraft {
    pub name: String,
    #[serde(default, with = "forms::as_str_vec")]
    pub addresses: Vec<LaddrRange>,
}

/// `ADDR[-END] [PORT]`: addresses (a range as [`parse_range`] reads it) on
/// a dataplane port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaddrRange {
    pub first: IpAddr,
    pub last: IpAddr,
    pub port: Option<String>,
}

impl LaddrRange {
    pub fn from_words(words: &[&str]) -> Result<LaddrRange, String> {
        match words {
            [range, rest @ ..] => {
                let (first, last) = parse_range(range)?;
                let port = match rest {
                    [] => None,
                    [port] => Some(port.to_string()),
                    [_, extra, ..] => return Err(format!("unexpected '{extra}'")),
                };
                Ok(LaddrRange { first, last, port })
            }
            [] => Err("empty local address entry".to_string()),
        }
    }
}

impl fmt::Display for LaddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first)?;
        if self.last != self.first {
            write!(f, "-{}", self.last)?;
        }
        if let Some(p) = &self.port {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

impl FromStr for LaddrRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        LaddrRange::from_words(&words)
    }
}

/// A classifier rule, as `rvsadm --add-mark` takes it.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRuleDraft {
    pub mark: u32,
    pub protocol: Option<ProtocolName>,
    #[serde(with = "forms::as_str")]
    pub dst: Prefix,
    /// `80,443,8000:8080`; absent: every port.
    pub dst_ports: Option<String>,
    #[serde(default, with = "forms::as_str_opt")]
    pub src: Option<Prefix>,
}
