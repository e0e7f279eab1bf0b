//! The firewall-mark classifier: what `iptables -t mangle ... -j MARK
//! --set-mark N` does for kernel LVS. No iptables sees the dataplane's
//! packets, so fwmark services (`rvsadm -A -f N`, keepalived's
//! `virtual_server fwmark N`) get their marks here.
//!
//! Contract: the control thread compiles the admin API's
//! [`MarkRule`]s into a [`Classifier`] that goes into the generation; on the
//! packet path [`Classifier::mark`] tries the rules in the order they were
//! added and returns the first match's mark (first match wins, unlike
//! iptables where a later MARK rule overwrites an earlier one; overlapping
//! rules are rare and this is cheaper and easier to read). A lookup is one
//! pass over at most [`RULES_MAX`] rules, without allocation.

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr};

use rvs_api::{ApiError, ErrorKind, MarkRule, PortRange, Prefix};

/// The most rules a dataplane holds.
pub const RULES_MAX: usize = 256;
/// The most port ranges one rule lists.
pub const PORT_RANGES_MAX: usize = 32;

/// An IPv4 prefix as a (network, mask) pair in host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Net4 {
    net: u32,
    mask: u32,
}

impl Net4 {
    fn from_prefix(p: &Prefix) -> Option<Net4> {
        let IpAddr::V4(a) = p.addr else { return None };
        let mask = u32::MAX.checked_shl(32 - u32::from(p.len)).unwrap_or(0);
        Some(Net4 {
            net: u32::from(a) & mask,
            mask,
        })
    }

    #[inline]
    fn contains(&self, addr: u32) -> bool {
        addr & self.mask == self.net
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    mark: u32,
    /// IP protocol number; 0 = TCP or UDP.
    protocol: u8,
    dst: Net4,
    ports: Vec<PortRange>,
    src: Option<Net4>,
}

/// The compiled rules of one generation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classifier {
    rules: Vec<Rule>,
}

/// Why a rule cannot be used (an admin API error: `Invalid`, or
/// `NotSupported` for what a later version will do).
pub fn check_rule(r: &MarkRule) -> Result<(), ApiError> {
    let invalid = |m: String| Err(ApiError::new(ErrorKind::Invalid, m));
    if r.mark == 0 {
        return invalid("mark 0 means \"no mark\": use 1 or more".into());
    }
    if !r.dst.addr.is_ipv4() || r.src.is_some_and(|s| !s.addr.is_ipv4()) {
        return Err(ApiError::new(
            ErrorKind::NotSupported,
            "IPv6 classifier rules are not supported by this rvs version yet",
        ));
    }
    // A prefix from the API is not made by `Prefix::new`: check it is one.
    for p in std::iter::once(&r.dst).chain(&r.src) {
        if Prefix::new(p.addr, p.len) != Some(*p) {
            return invalid(format!(
                "{}/{} is not a prefix (length 0..32, host bits zero)",
                p.addr, p.len
            ));
        }
    }
    if r.dst_ports.len() > PORT_RANGES_MAX {
        return invalid(format!(
            "a rule lists at most {PORT_RANGES_MAX} port ranges"
        ));
    }
    if let Some(p) = r.dst_ports.iter().find(|p| p.first > p.last) {
        return invalid(format!("port range {}:{} is empty", p.first, p.last));
    }
    Ok(())
}

impl Classifier {
    /// Compile `rules` (already checked with [`check_rule`]; a rule that
    /// does not pass is left out).
    pub fn new(rules: &[MarkRule]) -> Self {
        let rules = rules
            .iter()
            .filter(|r| check_rule(r).is_ok())
            .filter_map(|r| {
                Some(Rule {
                    mark: r.mark,
                    protocol: r.protocol.map_or(0, |p| p.number()),
                    dst: Net4::from_prefix(&r.dst)?,
                    ports: r.dst_ports.clone(),
                    src: match &r.src {
                        Some(s) => Some(Net4::from_prefix(s)?),
                        None => None,
                    },
                })
            })
            .take(RULES_MAX)
            .collect();
        Classifier { rules }
    }

    /// The mark of a TCP or UDP packet, 0 when no rule matches.
    #[inline]
    pub fn mark(&self, protocol: u8, src: Ipv4Addr, dst: Ipv4Addr, dport: u16) -> u32 {
        let (src, dst) = (u32::from(src), u32::from(dst));
        for r in &self.rules {
            if (r.protocol == 0 || r.protocol == protocol)
                && r.dst.contains(dst)
                && (r.ports.is_empty()
                    || r.ports.iter().any(|p| p.first <= dport && dport <= p.last))
                && r.src.is_none_or(|s| s.contains(src))
            {
                return r.mark;
            }
        }
        0
    }

    /// Whether some rule's destination prefix holds `dst` (so a packet to
    /// it may belong to a fwmark service).
    #[inline]
    pub fn covers(&self, dst: Ipv4Addr) -> bool {
        let dst = u32::from(dst);
        self.rules.iter().any(|r| r.dst.contains(dst))
    }

    /// The host addresses (/32 destinations) of rules setting one of
    /// `marks`: the director answers ARP for them like for VIPs. Wider
    /// prefixes are routed to the director, not ARPed for.
    pub fn host_addrs(&self, marks: impl Fn(u32) -> bool) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let marks: Vec<u32> = self
            .rules
            .iter()
            .map(|r| r.mark)
            .filter(|&m| marks(m))
            .collect();
        self.rules
            .iter()
            .filter(move |r| r.dst.mask == u32::MAX && marks.contains(&r.mark))
            .map(|r| Ipv4Addr::from(r.dst.net))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_api::Protocol;

    fn rule(mark: u32, proto: Option<Protocol>, dst: &str, ports: &[(u16, u16)]) -> MarkRule {
        MarkRule {
            mark,
            protocol: proto,
            dst: dst.parse().unwrap(),
            dst_ports: ports
                .iter()
                .map(|&(first, last)| PortRange { first, last })
                .collect(),
            src: None,
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn http_and_https_share_a_mark() {
        // The LVS guides' case: ports 80 and 443 of one VIP, mark 5.
        let c = Classifier::new(&[rule(
            5,
            Some(Protocol::Tcp),
            "198.18.0.100",
            &[(80, 80), (443, 443)],
        )]);
        let client = ip("198.18.0.1");
        let vip = ip("198.18.0.100");
        assert_eq!(c.mark(6, client, vip, 80), 5);
        assert_eq!(c.mark(6, client, vip, 443), 5);
        assert_eq!(c.mark(6, client, vip, 8080), 0);
        assert_eq!(c.mark(17, client, vip, 80), 0);
        assert_eq!(c.mark(6, client, ip("198.18.0.101"), 80), 0);
        assert!(c.covers(vip));
        assert!(!c.covers(ip("198.18.0.101")));
        assert_eq!(c.host_addrs(|m| m == 5).collect::<Vec<_>>(), [vip]);
        assert_eq!(c.host_addrs(|_| false).count(), 0);
    }

    #[test]
    fn ranges_sources_any_protocol_and_first_match_wins() {
        let mut narrow = rule(7, None, "198.18.0.0/24", &[(8000, 8099)]);
        narrow.src = Some("198.18.0.0/28".parse().unwrap());
        let c = Classifier::new(&[narrow, rule(9, None, "198.18.0.0/24", &[])]);
        let dst = ip("198.18.0.55");
        assert_eq!(c.mark(17, ip("198.18.0.3"), dst, 8050), 7);
        assert_eq!(c.mark(6, ip("198.18.0.3"), dst, 8100), 9);
        assert_eq!(c.mark(6, ip("198.18.0.99"), dst, 8050), 9);
        assert_eq!(c.mark(6, ip("198.18.0.3"), ip("198.19.0.1"), 8050), 0);
        // A /24 is routed to us, not ARPed for.
        assert_eq!(c.host_addrs(|_| true).count(), 0);
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(check_rule(&rule(0, None, "198.18.0.1", &[])).is_err());
        assert!(check_rule(&rule(1, None, "2001:db8::1", &[])).is_err());
        assert!(check_rule(&rule(1, None, "198.18.0.1", &[(90, 80)])).is_err());
        let many: Vec<(u16, u16)> = (0..33).map(|p| (p, p)).collect();
        assert!(check_rule(&rule(1, None, "198.18.0.1", &many)).is_err());
        assert!(check_rule(&rule(1, None, "198.18.0.1", &[(80, 90)])).is_ok());
        // Prefixes as the API may carry them, not made by Prefix::new.
        let mut r = rule(1, None, "198.18.0.1", &[]);
        r.dst.len = 33;
        assert!(check_rule(&r).is_err());
        let mut r = rule(1, None, "198.18.0.1", &[]);
        r.dst.len = 24;
        assert!(check_rule(&r).is_err(), "host bits set");
        let mut r = rule(1, None, "198.18.0.1", &[]);
        r.src = Some(Prefix {
            addr: "10.0.0.0".parse().unwrap(),
            len: 200,
        });
        assert!(check_rule(&r).is_err());
    }
}
