//! Addresses, ports and names as ipvsadm reads and writes them.
//!
//! Contract:
//! - [`parse_addr_port`] accepts exactly what ipvsadm's `parse_service()` accepts:
//!   `ADDR[:PORT]` with ADDR an IPv4 address in `inet_aton` syntax, an IPv4 host
//!   name (looked up through a [`Resolver`]), a bare IPv6 address (no port), or
//!   `[IPv6]:PORT`; PORT is a decimal 0..=65535 or a service name for the protocol.
//!   A string of digits only (`80`) is refused, as ipvsadm does.
//! - Nothing here touches the network or the file system except [`SystemResolver`];
//!   parsing is pure given a resolver, so tests use a fixed one.
//! - [`ServicesDb`] is a parsed `/etc/services`: name → port for input,
//!   port → name for non-numeric listings (`TCP  10.0.0.1:http`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

use rvs_api::Protocol;

pub use crate::services::{ServicesDb, SERVICES_PATH};

/// Looks names up for the parser: host names (first IPv4 address, like
/// `gethostbyname`) and service names (like `getservbyname`).
pub trait Resolver {
    /// The first IPv4 address of `name`, if it has one.
    fn host_v4(&self, name: &str) -> Option<Ipv4Addr>;
    /// The port of service `name` for `protocol`, if known.
    fn port_of(&self, name: &str, protocol: Protocol) -> Option<u16>;
}

/// The resolver `rvsadm` uses: the system's resolver for host names and
/// [`ServicesDb`] for service names.
#[derive(Clone, Debug, Default)]
pub struct SystemResolver {
    /// The services database used for port names.
    pub services: ServicesDb,
}

impl Resolver for SystemResolver {
    fn host_v4(&self, name: &str) -> Option<Ipv4Addr> {
        if name.is_empty() {
            return None;
        }
        (name, 0)
            .to_socket_addrs()
            .ok()?
            .find_map(|sa| match sa.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
    }

    fn port_of(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.services.port_of(name, protocol)
    }
}

/// C's `strtol(s, &end, 10)` with ipvsadm's `string_to_number()` checks: the
/// whole string must be one number (leading blanks and a sign allowed) within
/// `min..=max`.
pub fn parse_number(text: &str, min: i64, max: i64) -> Option<i64> {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Anything past i64 is out of range for every caller (ERANGE in C).
    let magnitude: i64 = digits.parse().ok()?;
    let value = if negative { -magnitude } else { magnitude };
    (min..=max).contains(&value).then_some(value)
}

/// C's `atoi`: the leading number of `text`, 0 when there is none.
pub fn atoi(text: &str) -> i64 {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (sign, rest) = match trimmed.as_bytes().first() {
        Some(b'-') => (-1, &trimmed[1..]),
        Some(b'+') => (1, &trimmed[1..]),
        _ => (1, trimmed),
    };
    let end = rest
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    let digits = &rest[..end.min(18)];
    sign * digits.parse::<i64>().unwrap_or(0)
}

/// glibc's `inet_aton`: one to four parts separated by dots, each decimal,
/// octal (`0` prefix) or hexadecimal (`0x` prefix); the last part fills the
/// remaining bytes (`10.1` is 10.0.0.1, `167772161` is 10.0.0.1).
pub fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let values = parts
        .iter()
        .map(|part| parse_c_unsigned(part))
        .collect::<Option<Vec<u32>>>()?;
    let (last, head) = values.split_last()?;
    if head.iter().any(|&v| v > 0xff) {
        return None;
    }
    let last_max: u32 = match head.len() {
        0 => u32::MAX,
        1 => 0x00ff_ffff,
        2 => 0xffff,
        _ => 0xff,
    };
    if *last > last_max {
        return None;
    }
    let high = head
        .iter()
        .enumerate()
        .fold(0u32, |acc, (i, &v)| acc | (v << (24 - 8 * i)));
    Some(Ipv4Addr::from(high | last))
}

/// One `inet_aton` part: `strtoul(part, &end, 0)` that must consume it all.
fn parse_c_unsigned(part: &str) -> Option<u32> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() && radix != 16 {
        return None;
    }
    if digits.is_empty() {
        // "0x" alone: strtoul reads the 0 and stops at 'x', so the part is not consumed.
        return None;
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// ipvsadm's `parse_service()`: an address and, when given, a port.
/// `protocol` selects which service names apply to the port.
/// `None` is ipvsadm's `SERVICE_NONE` (the caller prints its own message).
pub fn parse_addr_port(
    text: &str,
    protocol: Protocol,
    resolver: &dyn Resolver,
) -> Option<(IpAddr, Option<u16>)> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (host, bracket_port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (inside, after) = rest.split_once(']')?;
            (inside, Some(after.strip_prefix(':')?))
        }
        None => (text, None),
    };
    let (ip, port_text) = match host.parse::<Ipv6Addr>() {
        Ok(v6) => (IpAddr::V6(v6), bracket_port),
        Err(_) => {
            // Like ipvsadm, a bracketed non-IPv6 address loses its port here.
            let (name, port_text) = match host.rsplit_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (host, None),
            };
            let v4 = inet_aton(name).or_else(|| resolver.host_v4(name))?;
            (IpAddr::V4(v4), port_text)
        }
    };
    let port = match port_text {
        None => None,
        Some(p) => Some(port_number(p, protocol, resolver)?),
    };
    Some((ip, port))
}

/// A port: a number 0..=65535 or a service name.
fn port_number(text: &str, protocol: Protocol, resolver: &dyn Resolver) -> Option<u16> {
    parse_number(text, 0, 65535)
        .and_then(|n| u16::try_from(n).ok())
        .or_else(|| resolver.port_of(text, protocol))
}

/// An IPv6 address as glibc's `inet_ntop` writes it. Rust's formatting agrees
/// except for IPv4-compatible addresses (`::a.b.c.d`), which glibc still writes
/// in dotted form.
pub fn format_ipv6(addr: &Ipv6Addr) -> String {
    let seg = addr.segments();
    if seg[..6].iter().all(|&s| s == 0) && seg[6] != 0 {
        let [_, _, _, _, _, _, _, _, _, _, _, _, a, b, c, d] = addr.octets();
        return format!("::{a}.{b}.{c}.{d}");
    }
    addr.to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A resolver with a fixed table: host `lb.example.com` = 192.0.2.10, and
    /// the services of [`SERVICES_TEXT`].
    pub(crate) struct FixedResolver {
        pub(crate) services: ServicesDb,
    }

    pub(crate) const SERVICES_TEXT: &str = "\
# comment line
ssh\t\t22/tcp\t\t\t\t# SSH Remote Login Protocol
domain\t\t53/tcp
domain\t\t53/udp
http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP
https\t\t443/tcp
sctp-only\t9/sctp
";

    impl FixedResolver {
        pub(crate) fn new() -> Self {
            FixedResolver {
                services: ServicesDb::parse(SERVICES_TEXT),
            }
        }
    }

    impl Resolver for FixedResolver {
        fn host_v4(&self, name: &str) -> Option<Ipv4Addr> {
            (name == "lb.example.com").then_some(Ipv4Addr::new(192, 0, 2, 10))
        }
        fn port_of(&self, name: &str, protocol: Protocol) -> Option<u16> {
            self.services.port_of(name, protocol)
        }
    }

    #[test]
    fn services_db_resolves_names_aliases_and_ports() {
        let db = ServicesDb::parse(SERVICES_TEXT);
        assert_eq!(db.port_of("http", Protocol::Tcp), Some(80));
        assert_eq!(db.port_of("www", Protocol::Tcp), Some(80));
        assert_eq!(db.port_of("http", Protocol::Udp), None);
        assert_eq!(db.port_of("domain", Protocol::Udp), Some(53));
        assert_eq!(db.port_of("sctp-only", Protocol::Tcp), None);
        assert_eq!(db.name_of(443, Protocol::Tcp), Some("https"));
        assert_eq!(db.name_of(443, Protocol::Udp), None);
    }

    #[test]
    fn numbers_follow_strtol() {
        assert_eq!(parse_number("80", 0, 65535), Some(80));
        assert_eq!(parse_number(" +80", 0, 65535), Some(80));
        assert_eq!(parse_number("-0", 0, 65535), Some(0));
        assert_eq!(parse_number("0080", 0, 65535), Some(80));
        assert_eq!(parse_number("65536", 0, 65535), None);
        assert_eq!(parse_number("80x", 0, 65535), None);
        assert_eq!(parse_number("", 0, 65535), None);
        assert_eq!(parse_number("-", 0, 65535), None);
        assert_eq!(parse_number("99999999999999999999999", 0, 65535), None);
        assert_eq!(atoi("64abc"), 64);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("-3"), -3);
    }

    #[test]
    fn inet_aton_forms() {
        let a = |s: &str| inet_aton(s);
        assert_eq!(a("192.168.10.100"), Some(Ipv4Addr::new(192, 168, 10, 100)));
        assert_eq!(a("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(a("10.1.2"), Some(Ipv4Addr::new(10, 1, 0, 2)));
        assert_eq!(a("167772161"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(a("0x0a.010.0.1"), Some(Ipv4Addr::new(10, 8, 0, 1)));
        assert_eq!(a("256.0.0.1"), None);
        assert_eq!(a("1.2.3.4.5"), None);
        assert_eq!(a("1..2"), None);
        assert_eq!(a("09.1.1.1"), None);
        assert_eq!(a("0x"), None);
        assert_eq!(a(""), None);
    }

    #[test]
    fn addr_port_forms() {
        let r = FixedResolver::new();
        let p = |s: &str| parse_addr_port(s, Protocol::Tcp, &r);
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert_eq!(
            p("192.168.10.100:80"),
            Some((v4(192, 168, 10, 100), Some(80)))
        );
        assert_eq!(p("192.168.10.100"), Some((v4(192, 168, 10, 100), None)));
        assert_eq!(
            p("192.168.10.100:http"),
            Some((v4(192, 168, 10, 100), Some(80)))
        );
        assert_eq!(
            p("lb.example.com:https"),
            Some((v4(192, 0, 2, 10), Some(443)))
        );
        assert_eq!(p("192.168.10.100:nosuch"), None);
        assert_eq!(p("192.168.10.100:70000"), None);
        assert_eq!(p("80"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("unknown.example:80"), None);
        let v6: IpAddr = "2001:db8::100"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(p("[2001:db8::100]:80"), Some((v6, Some(80))));
        assert_eq!(p("2001:db8::100"), Some((v6, None)));
        assert_eq!(p("[2001:db8::100]"), None);
        assert_eq!(p("[2001:db8::100]:"), None);
        assert_eq!(p("[2001:db8::100"), None);
        assert_eq!(p("[1.2.3.4]:80"), Some((v4(1, 2, 3, 4), None)));
    }

    #[test]
    fn ipv6_text_matches_inet_ntop() {
        let f = |s: &str| format_ipv6(&s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED));
        assert_eq!(f("2001:db8::100"), "2001:db8::100");
        assert_eq!(f("::1"), "::1");
        assert_eq!(f("::"), "::");
        assert_eq!(f("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(f("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(f("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
    }
}
