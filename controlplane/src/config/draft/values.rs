//! The values a draft's items are written with: group members and
//! address ranges, `ADDR[:PORT]`, protocol, family, forwarding method,
//! tunnel, persistence granularity; each parses from (and prints as) its
//! text.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use rvs_api::{Forward, Prefix, Protocol, Tunnel, TunnelCsum, TunnelKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::forms;

pub(super) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
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

/// `tcp`, `udp` or `sctp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolName {
    Tcp,
    Udp,
    Sctp,
}

impl From<ProtocolName> for Protocol {
    fn from(p: ProtocolName) -> Protocol {
        match p {
            ProtocolName::Tcp => Protocol::Tcp,
            ProtocolName::Udp => Protocol::Udp,
            ProtocolName::Sctp => Protocol::Sctp,
        }
    }
}

impl From<Protocol> for ProtocolName {
    fn from(p: Protocol) -> ProtocolName {
        match p {
            Protocol::Tcp => ProtocolName::Tcp,
            Protocol::Udp => ProtocolName::Udp,
            Protocol::Sctp => ProtocolName::Sctp,
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

pub(super) fn ipip() -> TunnelKindName {
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
        forms::int_or_str(d, "a netmask (\"255.255.255.0\") or a prefix length (64)")
    }
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
