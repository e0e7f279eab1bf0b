//! A configuration as written, whatever its dialect: every setting that
//! has a default or inherits one is optional. The keepalived and ldirectord
//! parsers build a [`Draft`]; its serde form *is* the native TOML format
//! (documented in `configs/rvs.toml`); [`super::resolve`] turns it into the
//! [`super::Model`].
//!
//! Contract: values are checked where they are read (an address is an
//! address, a weight is in range); relations between values (inheritance,
//! defaults, duplicates, references by name) are [`super::resolve`]'s.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use rvs_api::{Forward, Prefix, Protocol, Tunnel, TunnelCsum, TunnelKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::Position;
use super::forms;
use super::model::{
    Auth, DnsType, Global, HttpProtocol, NegotiateCheck, PortAddress, Route, SyncGroup, Track,
    UnicastPeer, Url, VirtualIp, VrrpState,
};

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    #[serde(default, skip_serializing_if = "is_default")]
    pub global: Global,
    #[serde(default, skip_serializing_if = "NetworkDraft::is_empty")]
    pub network: NetworkDraft,
    /// `virtual_server_group`s.
    #[serde(
        default,
        rename = "service_group",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<GroupDraft>,
    /// `virtual_server`s.
    #[serde(default, rename = "service", skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceDraft>,
    #[serde(default, skip_serializing_if = "VrrpDraft::is_empty")]
    pub vrrp: VrrpDraft,
    /// `bgp { ... }` / `[bgp]`: routes announced through BIRD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<super::bgp::Bgp>,
    /// A `bgp` block was left out in error (keepalived.conf).
    #[serde(skip)]
    pub bgp_in_error: bool,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// `virtual_server_group NAME { ... }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDraft {
    pub name: String,
    #[serde(default, with = "forms::as_str_vec")]
    pub members: Vec<GroupMember>,
}

/// A line of a `virtual_server_group`: `ADDR[-END] [PORT]` or
/// `fwmark N [inet|inet6]`. Ranges are a last-octet range
/// (`192.168.1.20-30`), two full addresses (`A-B`), or a CIDR prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupMember {
    Addr {
        first: IpAddr,
        last: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
        /// `inet6`; `None`: the service's family.
        ipv6: Option<bool>,
    },
}

/// How many addresses one range may stand for.
pub const RANGE_ADDRS_MAX: u128 = 65_536;

impl GroupMember {
    /// Parse the words of a group line.
    pub fn from_words(words: &[&str]) -> Result<GroupMember, String> {
        match words {
            ["fwmark", mark, rest @ ..] => {
                let mark = mark
                    .parse::<u32>()
                    .ok()
                    .filter(|&m| m > 0)
                    .ok_or_else(|| format!("invalid firewall mark '{mark}'"))?;
                let ipv6 = match rest {
                    [] => None,
                    ["inet"] => Some(false),
                    ["inet6"] => Some(true),
                    [other, ..] => return Err(format!("unexpected '{other}' after fwmark {mark}")),
                };
                Ok(GroupMember::Fwmark { mark, ipv6 })
            }
            [range, rest @ ..] => {
                let (first, last) = parse_range(range)?;
                let port = match rest {
                    [] => 0,
                    [port] => parse_port(port)?,
                    [_, extra, ..] => return Err(format!("unexpected '{extra}' after the port")),
                };
                Ok(GroupMember::Addr { first, last, port })
            }
            [] => Err("empty group entry".to_string()),
        }
    }

    /// The addresses of an address entry, in order.
    pub fn addrs(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
        match (first, last) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a)..=u32::from(b))
                .map(|n| IpAddr::V4(n.into()))
                .collect(),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a)..=u128::from(b))
                .map(|n| IpAddr::V6(n.into()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for GroupMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupMember::Addr { first, last, port } => {
                if first == last {
                    write!(f, "{first} {port}")
                } else {
                    write!(f, "{first}-{last} {port}")
                }
            }
            GroupMember::Fwmark { mark, ipv6 } => match ipv6 {
                None => write!(f, "fwmark {mark}"),
                Some(false) => write!(f, "fwmark {mark} inet"),
                Some(true) => write!(f, "fwmark {mark} inet6"),
            },
        }
    }
}

impl FromStr for GroupMember {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        GroupMember::from_words(&words)
    }
}

/// A port 0..65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .map_err(|_| format!("invalid port '{text}'"))
}

/// An address or a range: `A`, `A-B` (B a full address, or for IPv4 a last
/// octet, for IPv6 a last 16-bit group in hex), `A/LEN`. At most
/// [`RANGE_ADDRS_MAX`] addresses.
pub fn parse_range(text: &str) -> Result<(IpAddr, IpAddr), String> {
    let bad = || format!("invalid address '{text}'");
    let (first, last) = if let Some((a, len)) = text.split_once('/') {
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        let prefix = Prefix::new(addr, len).ok_or_else(bad)?;
        let host_bits = u32::from(if addr.is_ipv4() { 32u8 } else { 128 } - len);
        let span = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
        match prefix.addr {
            IpAddr::V4(a) => {
                let start = u32::from(a);
                let end = u128::from(start) + span - 1;
                (
                    IpAddr::V4(a),
                    IpAddr::V4(u32::try_from(end).unwrap_or(u32::MAX).into()),
                )
            }
            IpAddr::V6(a) => {
                let start = u128::from(a);
                (
                    IpAddr::V6(a),
                    IpAddr::V6(start.saturating_add(span - 1).into()),
                )
            }
        }
    } else if let Some((a, b)) = text.split_once('-') {
        let first: IpAddr = a.parse().map_err(|_| bad())?;
        let last: IpAddr = match (b.parse::<IpAddr>(), first) {
            (Ok(b), _) => b,
            (Err(_), IpAddr::V4(f)) => {
                let octet: u8 = b.parse().map_err(|_| bad())?;
                let mut o = f.octets();
                o[3] = octet;
                IpAddr::V4(o.into())
            }
            (Err(_), IpAddr::V6(f)) => {
                let group = u16::from_str_radix(b, 16).map_err(|_| bad())?;
                let mut s = f.segments();
                s[7] = group;
                IpAddr::V6(s.into())
            }
        };
        (first, last)
    } else {
        let a: IpAddr = text.parse().map_err(|_| bad())?;
        (a, a)
    };
    let count = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) if u32::from(a) <= u32::from(b) => {
            u128::from(u32::from(b) - u32::from(a)) + 1
        }
        (IpAddr::V6(a), IpAddr::V6(b)) if u128::from(a) <= u128::from(b) => {
            (u128::from(b) - u128::from(a)).saturating_add(1)
        }
        _ => return Err(format!("address range '{text}' is empty or mixes families")),
    };
    if count > RANGE_ADDRS_MAX {
        return Err(format!(
            "address range '{text}' has more than {RANGE_ADDRS_MAX} addresses"
        ));
    }
    Ok((first, last))
}

/// An address with an optional port: `A.B.C.D[:PORT]`, `[V6]:PORT` or a
/// bare IPv6 address; no port is port 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrPort(pub SocketAddr);

impl fmt::Display for AddrPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for AddrPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(AddrPort(sa));
        }
        s.parse::<IpAddr>()
            .map(|ip| AddrPort(SocketAddr::new(ip, 0)))
            .map_err(|_| format!("invalid address '{s}'"))
    }
}

/// `tcp` or `udp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolName {
    Tcp,
    Udp,
}

impl From<ProtocolName> for Protocol {
    fn from(p: ProtocolName) -> Protocol {
        match p {
            ProtocolName::Tcp => Protocol::Tcp,
            ProtocolName::Udp => Protocol::Udp,
        }
    }
}

impl From<Protocol> for ProtocolName {
    fn from(p: Protocol) -> ProtocolName {
        match p {
            Protocol::Tcp => ProtocolName::Tcp,
            Protocol::Udp => ProtocolName::Udp,
        }
    }
}

/// `inet` or `inet6`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Inet,
    Inet6,
}

/// A forwarding method: `route` (DR), `tunnel` (TUN), `masq` (NAT),
/// `fullnat` (FNAT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardName {
    Route,
    Tunnel,
    Masq,
    Fullnat,
}

impl From<ForwardName> for Forward {
    fn from(f: ForwardName) -> Forward {
        match f {
            ForwardName::Route => Forward::Route,
            ForwardName::Tunnel => Forward::Tunnel,
            ForwardName::Masq => Forward::Masq,
            ForwardName::Fullnat => Forward::FullNat,
        }
    }
}

impl From<Forward> for ForwardName {
    fn from(f: Forward) -> ForwardName {
        match f {
            Forward::Route => ForwardName::Route,
            Forward::Tunnel => ForwardName::Tunnel,
            Forward::Masq => ForwardName::Masq,
            Forward::FullNat => ForwardName::Fullnat,
        }
    }
}

/// A forwarding method and, for a tunnel, its encapsulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Method {
    pub forward: Forward,
    pub tunnel: Tunnel,
}

/// A tunnel's encapsulation: `{ type = "gue", port = 6080, csum = "csum" }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelDraft {
    #[serde(rename = "type", default = "ipip")]
    pub kind: TunnelKindName,
    #[serde(default, skip_serializing_if = "is_default")]
    pub port: u16,
    #[serde(default, skip_serializing_if = "is_default")]
    pub csum: CsumName,
}

fn ipip() -> TunnelKindName {
    TunnelKindName::Ipip
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKindName {
    Ipip,
    Gue,
    Gre,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CsumName {
    #[default]
    Nocsum,
    Csum,
    Remcsum,
}

impl From<TunnelDraft> for Tunnel {
    fn from(t: TunnelDraft) -> Tunnel {
        Tunnel {
            kind: match t.kind {
                TunnelKindName::Ipip => TunnelKind::Ipip,
                TunnelKindName::Gue => TunnelKind::Gue,
                TunnelKindName::Gre => TunnelKind::Gre,
            },
            port: t.port,
            csum: match t.csum {
                CsumName::Nocsum => TunnelCsum::NoCsum,
                CsumName::Csum => TunnelCsum::Csum,
                CsumName::Remcsum => TunnelCsum::RemCsum,
            },
        }
    }
}

impl From<Tunnel> for TunnelDraft {
    fn from(t: Tunnel) -> TunnelDraft {
        TunnelDraft {
            kind: match t.kind {
                TunnelKind::Ipip => TunnelKindName::Ipip,
                TunnelKind::Gue => TunnelKindName::Gue,
                TunnelKind::Gre => TunnelKindName::Gre,
            },
            port: t.port,
            csum: match t.csum {
                TunnelCsum::NoCsum => CsumName::Nocsum,
                TunnelCsum::Csum => CsumName::Csum,
                TunnelCsum::RemCsum => CsumName::Remcsum,
            },
        }
    }
}

/// `persistence_granularity`: an IPv4 netmask, or a prefix length (IPv6;
/// accepted for IPv4 too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Mask(std::net::Ipv4Addr),
    Prefix(u8),
}

impl FromStr for Granularity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.contains('.') {
            s.parse()
                .map(Granularity::Mask)
                .map_err(|_| format!("invalid netmask '{s}'"))
        } else {
            s.parse::<u8>()
                .ok()
                .filter(|&l| (1..=128).contains(&l))
                .map(Granularity::Prefix)
                .ok_or_else(|| format!("invalid prefix length '{s}' (1..128)"))
        }
    }
}

impl Serialize for Granularity {
    /// A mask as `"255.255.255.0"`, a prefix length as an integer.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Granularity::Mask(m) => s.collect_str(m),
            Granularity::Prefix(l) => s.serialize_u8(*l),
        }
    }
}

impl<'de> Deserialize<'de> for Granularity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Granularity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a netmask (\"255.255.255.0\") or a prefix length (64)")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Granularity, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Granularity, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Granularity, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// `virtual_server`: the service and its defaults for its dests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDraft {
    /// `virtual_server IP PORT`: exactly one of `address`, `fwmark`, `group`.
    #[serde(
        default,
        with = "forms::as_str_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub address: Option<AddrPort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<ProtocolName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<Family>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    /// By name: `flag-1`..`flag-3`, `sh-fallback`, `sh-port`, `mh-fallback`,
    /// `mh-port` (an `sh-`/`mh-` flag is its scheduler's `flag-1`/`flag-2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sched_flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_packet: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<ForwardName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelDraft>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_netmask: Option<Granularity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub laddr_pool: Option<String>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay_loop: Option<Duration>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay_before_retry: Option<Duration>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub warmup: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omega: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inhibit_on_failure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_suspend: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hysteresis: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_up: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_down: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// The default weight of the dests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<SorryDraft>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dest: Vec<DestDraft>,
    /// `bgp_community`: added to the communities of this service's VIPs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bgp_communities: Vec<super::bgp::Community>,
}

/// `sorry_server IP [PORT]` + `sorry_server_inhibit` + `sorry_server_lvs_method`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SorryDraft {
    #[serde(with = "forms::as_str")]
    pub address: AddrPort,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<ForwardName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelDraft>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inhibit: Option<bool>,
}

/// `real_server IP [PORT] { ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestDraft {
    #[serde(with = "forms::as_str")]
    pub address: AddrPort,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<ForwardName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelDraft>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inhibit_on_failure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u_threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l_threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_up: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_down: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay_loop: Option<Duration>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay_before_retry: Option<Duration>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub warmup: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check: Vec<CheckDraft>,
}

impl DestDraft {
    /// A dest at `addr` with nothing else set.
    pub fn new(addr: SocketAddr) -> Self {
        DestDraft {
            address: AddrPort(addr),
            forward: None,
            tunnel: None,
            weight: None,
            inhibit_on_failure: None,
            u_threshold: None,
            l_threshold: None,
            alpha: None,
            notify_up: None,
            notify_down: None,
            smtp_alert: None,
            delay_loop: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            virtualhost: None,
            check: Vec::new(),
        }
    }
}

/// A checker's keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKindName {
    TcpCheck,
    HttpGet,
    SslGet,
    MiscCheck,
    SmtpCheck,
    DnsCheck,
    PingCheck,
    UdpCheck,
    /// ldirectord's negotiate checks keepalived has no checker for.
    NegotiateCheck,
}

impl CheckKindName {
    /// From keepalived's keyword (`TCP_CHECK` ...).
    pub fn from_keyword(word: &str) -> Option<Self> {
        Some(match word {
            "TCP_CHECK" => CheckKindName::TcpCheck,
            "HTTP_GET" => CheckKindName::HttpGet,
            "SSL_GET" => CheckKindName::SslGet,
            "MISC_CHECK" => CheckKindName::MiscCheck,
            "SMTP_CHECK" => CheckKindName::SmtpCheck,
            "DNS_CHECK" => CheckKindName::DnsCheck,
            "PING_CHECK" | "ICMP_CHECK" => CheckKindName::PingCheck,
            "UDP_CHECK" => CheckKindName::UdpCheck,
            _ => return None,
        })
    }

    /// keepalived's keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            CheckKindName::TcpCheck => "TCP_CHECK",
            CheckKindName::HttpGet => "HTTP_GET",
            CheckKindName::SslGet => "SSL_GET",
            CheckKindName::MiscCheck => "MISC_CHECK",
            CheckKindName::SmtpCheck => "SMTP_CHECK",
            CheckKindName::DnsCheck => "DNS_CHECK",
            CheckKindName::PingCheck => "PING_CHECK",
            CheckKindName::UdpCheck => "UDP_CHECK",
            CheckKindName::NegotiateCheck => "NEGOTIATE_CHECK",
        }
    }

    /// keepalived's `retry` default for this checker.
    pub fn default_retry(self) -> u32 {
        match self {
            CheckKindName::MiscCheck => 0,
            CheckKindName::DnsCheck => 3,
            _ => 1,
        }
    }

    /// keepalived's `delay_before_retry` default; `None`: the delay_loop.
    pub fn default_delay_before_retry(self) -> Option<Duration> {
        match self {
            CheckKindName::HttpGet | CheckKindName::SslGet => Some(Duration::from_secs(3)),
            CheckKindName::DnsCheck => None,
            _ => Some(Duration::from_secs(1)),
        }
    }
}

/// A checker block, every keyword of every checker in one table; which
/// apply to which checker is [`super::resolve`]'s to check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDraft {
    pub kind: CheckKindName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bindto: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_if: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay_before_retry: Option<Duration>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay_loop: Option<Duration>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub warmup: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_all_failures: Option<bool>,
    // HTTP_GET / SSL_GET
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url: Vec<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_protocol: Option<HttpProtocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_recovery: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_sni: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_compliant: Option<bool>,
    // MISC_CHECK
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misc_path: Option<String>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub misc_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misc_dynamic: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    // SMTP_CHECK
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo_name: Option<String>,
    // DNS_CHECK
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub dns_type: Option<DnsType>,
    #[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    // UDP_CHECK
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_reply: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_reply_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_reply_length: Option<u32>,
    // NEGOTIATE_CHECK (ldirectord)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negotiate: Option<NegotiateCheck>,
}

impl CheckDraft {
    /// A checker of `kind` with nothing set.
    pub fn new(kind: CheckKindName) -> Self {
        CheckDraft {
            kind,
            connect_ip: None,
            connect_port: None,
            bindto: None,
            bind_port: None,
            bind_if: None,
            fwmark: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            delay_loop: None,
            warmup: None,
            alpha: None,
            log_all_failures: None,
            url: Vec::new(),
            http_protocol: None,
            virtualhost: None,
            fast_recovery: None,
            enable_sni: None,
            sni_name: None,
            tls_compliant: None,
            misc_path: None,
            misc_timeout: None,
            misc_dynamic: None,
            user: None,
            helo_name: None,
            dns_type: None,
            dns_name: None,
            payload: None,
            require_reply: None,
            min_reply_length: None,
            max_reply_length: None,
            negotiate: None,
        }
    }

    /// The keys set that `kind` has no use for, by their TOML names.
    pub fn foreign_keys(&self) -> Vec<&'static str> {
        use CheckKindName::*;
        let k = self.kind;
        let http = matches!(k, HttpGet | SslGet);
        let mut out = Vec::new();
        let mut check = |set: bool, applies: bool, name: &'static str| {
            if set && !applies {
                out.push(name);
            }
        };
        let net = k != MiscCheck;
        check(self.connect_ip.is_some(), net, "connect_ip");
        check(self.connect_port.is_some(), net, "connect_port");
        check(self.bindto.is_some(), net, "bindto");
        check(self.bind_port.is_some(), net, "bind_port");
        check(self.bind_if.is_some(), net, "bind_if");
        check(self.fwmark.is_some(), net, "fwmark");
        check(self.connect_timeout.is_some(), net, "connect_timeout");
        check(!self.url.is_empty(), http, "url");
        check(self.http_protocol.is_some(), http, "http_protocol");
        check(self.virtualhost.is_some(), http, "virtualhost");
        check(self.fast_recovery.is_some(), http, "fast_recovery");
        check(self.enable_sni.is_some(), k == SslGet, "enable_sni");
        check(self.sni_name.is_some(), k == SslGet, "sni_name");
        check(self.tls_compliant.is_some(), k == SslGet, "tls_compliant");
        check(self.misc_path.is_some(), k == MiscCheck, "misc_path");
        check(self.misc_timeout.is_some(), k == MiscCheck, "misc_timeout");
        check(self.misc_dynamic.is_some(), k == MiscCheck, "misc_dynamic");
        check(self.user.is_some(), k == MiscCheck, "user");
        check(self.helo_name.is_some(), k == SmtpCheck, "helo_name");
        check(self.dns_type.is_some(), k == DnsCheck, "type");
        check(self.dns_name.is_some(), k == DnsCheck, "name");
        check(self.payload.is_some(), k == UdpCheck, "payload");
        check(self.require_reply.is_some(), k == UdpCheck, "require_reply");
        check(
            self.min_reply_length.is_some(),
            k == UdpCheck,
            "min_reply_length",
        );
        check(
            self.max_reply_length.is_some(),
            k == UdpCheck,
            "max_reply_length",
        );
        check(self.negotiate.is_some(), k == NegotiateCheck, "negotiate");
        out
    }
}

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRuleDraft {
    pub mark: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<ProtocolName>,
    #[serde(with = "forms::as_str")]
    pub dst: Prefix,
    /// `80,443,8000:8080`; absent: every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ports: Option<String>,
    #[serde(
        default,
        with = "forms::as_str_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub src: Option<Prefix>,
}

/// `[vrrp]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpDraft {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub script: Vec<VrrpScriptDraft>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_group: Vec<SyncGroup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance: Vec<VrrpInstanceDraft>,
}

impl VrrpDraft {
    pub fn is_empty(&self) -> bool {
        *self == VrrpDraft::default()
    }
}

/// `vrrp_script NAME { }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpScriptDraft {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_fail: Option<bool>,
}

/// `vrrp_instance NAME { }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpInstanceDraft {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<VrrpState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_router_id: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub advert_int: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nopreempt: Option<bool>,
    #[serde(
        default,
        with = "forms::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub preempt_delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Auth>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress: Vec<VirtualIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress_excluded: Vec<VirtualIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interface: Vec<Track>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_script: Vec<Track>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_master: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_fault: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_stop: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast_src_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peer: Vec<UnicastPeer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_src_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_master_delay: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_master_repeat: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_master_refresh: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dont_track_primary: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_lines_parse_like_keepalived() {
        assert_eq!(
            "192.168.1.20-30 80".parse::<GroupMember>().unwrap(),
            GroupMember::Addr {
                first: "192.168.1.20".parse().unwrap(),
                last: "192.168.1.30".parse().unwrap(),
                port: 80
            }
        );
        let cidr: GroupMember = "10.0.0.0/30 443".parse().unwrap();
        assert_eq!(cidr.to_string(), "10.0.0.0-10.0.0.3 443");
        assert_eq!(
            "fwmark 7 inet6".parse::<GroupMember>().unwrap(),
            GroupMember::Fwmark {
                mark: 7,
                ipv6: Some(true)
            }
        );
        let v6: GroupMember = "2001:db8::1-a 80".parse().unwrap();
        assert_eq!(v6.to_string(), "2001:db8::1-2001:db8::a 80");
        for bad in [
            "192.168.1.30-20 80",
            "10.0.0.0/8 80",
            "1.2.3.4 http",
            "fwmark x",
            "fwmark 0",
            "1.2.3.4 80 extra",
            "10.0.0.1-2001:db8::1 80",
        ] {
            assert!(bad.parse::<GroupMember>().is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_take_an_optional_port() {
        assert_eq!(
            "10.0.0.1".parse::<AddrPort>().unwrap().0,
            "10.0.0.1:0".parse::<SocketAddr>().unwrap()
        );
        assert_eq!("[2001:db8::1]:80".parse::<AddrPort>().unwrap().0.port(), 80);
        assert_eq!("2001:db8::1".parse::<AddrPort>().unwrap().0.port(), 0);
        assert!("10.0.0.300".parse::<AddrPort>().is_err());
    }
}

/// A thing of a draft that has a position: indexes into the draft's lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Locus {
    Service(usize),
    /// Service, dest.
    Dest(usize, usize),
    /// Service, dest, check.
    Check(usize, usize, usize),
    Sorry(usize),
    Group(usize),
    Pool(usize),
    MarkRule(usize),
    Script(usize),
    SyncGroup(usize),
    Instance(usize),
    Global,
}

/// Where each [`Locus`] of a draft was written.
#[derive(Clone, Debug)]
pub struct Positions {
    whole: Position,
    map: HashMap<Locus, Position>,
}

impl Positions {
    /// A table for a configuration whose main file is `whole`.
    pub fn new(whole: Position) -> Self {
        Positions {
            whole,
            map: HashMap::new(),
        }
    }

    pub fn set(&mut self, locus: Locus, pos: Position) {
        self.map.insert(locus, pos);
    }

    /// The position of `locus`, else of what contains it, else the file.
    pub fn at(&self, locus: Locus) -> Position {
        if let Some(p) = self.map.get(&locus) {
            return p.clone();
        }
        let parent = match locus {
            Locus::Check(s, d, _) => Some(Locus::Dest(s, d)),
            Locus::Dest(s, _) | Locus::Sorry(s) => Some(Locus::Service(s)),
            _ => None,
        };
        match parent {
            Some(p) => self.at(p),
            None => self.whole.clone(),
        }
    }
}
