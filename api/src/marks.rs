//! The firewall-mark classifier's rules (rvs's `--add-mark`): prefixes,
//! port ranges, rules.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Protocol;

/// An address prefix: `addr/len` with the host bits zero.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// `addr/len`, with the host bits cleared; `None` if `len` is longer
    /// than the address.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        match addr {
            IpAddr::V4(a) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                Some(Prefix {
                    addr: IpAddr::V4((u32::from(a) & mask).into()),
                    len,
                })
            }
            IpAddr::V6(a) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                Some(Prefix {
                    addr: IpAddr::V6((u128::from(a) & mask).into()),
                    len,
                })
            }
            _ => None,
        }
    }

    /// Whether `addr` lies in this prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        Prefix::new(addr, self.len).is_some_and(|p| p.addr == self.addr)
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;

    /// `ADDR` (a host) or `ADDR/LEN`.
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("{a:?} is not an address"))?;
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => full,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= full)
                .ok_or_else(|| format!("{l:?} is not a prefix length 0..{full}"))?,
        };
        Prefix::new(addr, len).ok_or_else(|| format!("{s:?} is not a prefix"))
    }
}

/// An inclusive range of ports.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// `ports` as [`PortRange::parse_list`] reads them: `80,443,8000:8080`.
    pub fn list_text(ports: &[PortRange]) -> String {
        ports
            .iter()
            .map(|r| {
                if r.first == r.last {
                    r.first.to_string()
                } else {
                    format!("{}:{}", r.first, r.last)
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A comma-separated list of ports and `FIRST:LAST` ranges, as
    /// iptables' `--dports` takes it: `80,443,8000:8080`.
    pub fn parse_list(s: &str) -> Result<Vec<PortRange>, String> {
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port 0..65535"))
        };
        s.split(',')
            .map(|item| {
                let (first, last) = match item.split_once(':') {
                    Some((a, b)) => (port(a)?, port(b)?),
                    None => {
                        let p = port(item)?;
                        (p, p)
                    }
                };
                if first > last {
                    return Err(format!("port range {item:?} is empty"));
                }
                Ok(PortRange { first, last })
            })
            .collect()
    }
}

/// A firewall-mark classifier rule: what `iptables -t mangle -A PREROUTING
/// ... -j MARK --set-mark N` does for kernel LVS, since no iptables sees the
/// dataplane's packets. Rules are tried in the order they were added; the
/// first that matches sets the packet's mark.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct MarkRule {
    /// The mark to set (1..); a fwmark service with this mark takes the packet.
    pub mark: u32,
    /// TCP or UDP; `None` matches both.
    pub protocol: Option<Protocol>,
    /// Destination prefix (a VIP is a /32 or /128).
    pub dst: Prefix,
    /// Destination ports; empty matches every port.
    pub dst_ports: Vec<PortRange>,
    /// Source prefix; `None` matches every client.
    pub src: Option<Prefix>,
}

impl std::fmt::Display for MarkRule {
    /// The rule as the `rvsadm` options that add it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--add-mark {}", self.mark)?;
        if let Some(p) = self.protocol {
            write!(
                f,
                " --proto {}",
                if p == Protocol::Tcp { "tcp" } else { "udp" }
            )?;
        }
        write!(f, " --dst {}", self.dst)?;
        if !self.dst_ports.is_empty() {
            write!(f, " --dport {}", PortRange::list_text(&self.dst_ports))?;
        }
        if let Some(s) = self.src {
            write!(f, " --src {s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_clear_host_bits_and_contain() {
        let p: Prefix = "198.18.0.77/24".parse().unwrap();
        assert_eq!(p.to_string(), "198.18.0.0/24");
        assert!(p.contains("198.18.0.1".parse().unwrap()));
        assert!(!p.contains("198.18.1.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        let host: Prefix = "198.18.0.100".parse().unwrap();
        assert_eq!(host.len, 32);
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let v6: Prefix = "2001:db8::1/64".parse().unwrap();
        assert_eq!(v6.to_string(), "2001:db8::/64");
        for bad in ["198.18.0.0/33", "x/8", "::/129", "1.2.3.4/-1"] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn port_lists_parse() {
        assert_eq!(
            PortRange::parse_list("80,443:444").unwrap(),
            [
                PortRange {
                    first: 80,
                    last: 80
                },
                PortRange {
                    first: 443,
                    last: 444
                }
            ]
        );
        for bad in ["", "80,", "x", "90:80", "65536", "1:2:3"] {
            assert!(PortRange::parse_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mark_rules_print_as_the_options_that_add_them() {
        let r = MarkRule {
            mark: 5,
            protocol: Some(Protocol::Tcp),
            dst: "198.18.0.100".parse().unwrap(),
            dst_ports: vec![
                PortRange {
                    first: 80,
                    last: 80,
                },
                PortRange {
                    first: 443,
                    last: 444,
                },
            ],
            src: Some("198.18.0.0/24".parse().unwrap()),
        };
        assert_eq!(
            r.to_string(),
            "--add-mark 5 --proto tcp --dst 198.18.0.100/32 --dport 80,443:444 --src 198.18.0.0/24"
        );
    }
}
