//! A dest's health checks, every timing resolved: the checker kinds
//! (TCP, HTTP/SSL GET with their urls, MISC, SMTP, DNS, UDP, ldirectord's
//! negotiate checks).

use crate::config::forms;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// One health checker of a dest, every timing resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub kind: CheckKind,
    /// The address probed; `None`: the dest's.
    pub connect_ip: Option<IpAddr>,
    /// The port probed; `None`: the dest's port in the dataplane (for a
    /// direct-routing or tunnelled dest of an address service, the
    /// service's port).
    pub connect_port: Option<u16>,
    /// `bindto`: the source address.
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    /// Firewall mark set on the probes.
    pub fwmark: Option<u32>,
    pub connect_timeout: Duration,
    /// Failures after the first before an up checker goes down.
    pub retry: u32,
    pub delay_before_retry: Duration,
    /// The interval between checks.
    pub delay_loop: Duration,
    /// The longest random delay before the first check.
    pub warmup: Duration,
    /// Start down until the first success.
    pub alpha: bool,
    pub log_all_failures: bool,
}

/// A checker and its own settings.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckKind {
    /// `TCP_CHECK`: up when a connection succeeds.
    Tcp,
    /// `HTTP_GET`.
    Http(HttpCheck),
    /// `SSL_GET`: HTTP over TLS.
    Ssl(HttpCheck),
    /// `MISC_CHECK`: a script's exit status.
    Misc(MiscCheck),
    /// `SMTP_CHECK`.
    Smtp(SmtpCheck),
    /// `DNS_CHECK`.
    Dns(DnsCheck),
    /// `PING_CHECK`: ICMP echo.
    Ping,
    /// `UDP_CHECK`.
    Udp(UdpCheck),
    /// An ldirectord negotiate check keepalived has no checker for.
    Negotiate(NegotiateCheck),
}

impl CheckKind {
    /// keepalived's keyword for this checker.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http(_) => "HTTP_GET",
            CheckKind::Ssl(_) => "SSL_GET",
            CheckKind::Misc(_) => "MISC_CHECK",
            CheckKind::Smtp(_) => "SMTP_CHECK",
            CheckKind::Dns(_) => "DNS_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::Udp(_) => "UDP_CHECK",
            CheckKind::Negotiate(_) => "NEGOTIATE_CHECK",
        }
    }
}

/// `HTTP_GET` / `SSL_GET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    /// At least one; all must pass.
    pub urls: Vec<Url>,
    pub http_protocol: HttpProtocol,
    /// The Host header (from the checker, else the real server, else the
    /// virtual server); `None`: the address.
    pub virtualhost: Option<String>,
    pub fast_recovery: bool,
    pub enable_sni: bool,
    pub sni_name: Option<String>,
    pub tls_compliant: bool,
}

/// A `url { }` block of an HTTP checker.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Url {
    pub path: String,
    /// MD5 of the body, 32 lower-case hex digits.
    pub digest: Option<String>,
    /// Accepted statuses. keepalived's default (no status, digest nor
    /// regex given: 200-299) is filled in; empty: any status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_code: Vec<StatusRange>,
    /// The Host header for this URL.
    pub virtualhost: Option<String>,
    /// A regular expression the body must match.
    pub regex: Option<String>,
}

/// HTTP statuses `first..=last` (100..599); one status has `first == last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatusRange {
    pub first: u16,
    pub last: u16,
}

impl StatusRange {
    /// keepalived's default: 200-299.
    pub const SUCCESS: StatusRange = StatusRange {
        first: 200,
        last: 299,
    };
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl FromStr for StatusRange {
    type Err = String;

    /// `NNN` or `NNN-MMM`, 100..599.
    fn from_str(s: &str) -> Result<Self, String> {
        let code = |t: &str| {
            t.parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| format!("'{s}' is not an HTTP status or range 100..599"))
        };
        let (first, last) = match s.split_once('-') {
            Some((a, b)) => (code(a)?, code(b)?),
            None => {
                let c = code(s)?;
                (c, c)
            }
        };
        if first > last {
            return Err(format!("status range '{s}' is empty"));
        }
        Ok(StatusRange { first, last })
    }
}

impl Serialize for StatusRange {
    /// One status as an integer, a range as `"300-399"`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.first == self.last {
            s.serialize_u16(self.first)
        } else {
            s.collect_str(self)
        }
    }
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        forms::int_or_str(d, "an HTTP status (200) or range (\"300-399\")")
    }
}

/// `http_protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpProtocol {
    /// HTTP/1.0 (the default).
    #[default]
    #[serde(rename = "1.0")]
    Http10,
    /// HTTP/1.0 with `Connection: close`.
    #[serde(rename = "1.0C")]
    Http10Close,
    #[serde(rename = "1.1")]
    Http11,
}

/// `MISC_CHECK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiscCheck {
    /// `misc_path`: the command line.
    pub path: String,
    /// `misc_timeout` (default: the checker's delay_loop).
    pub timeout: Duration,
    /// `misc_dynamic`: exit 2..255 sets the weight to exit - 2.
    pub dynamic: bool,
    pub user: Option<String>,
}

/// `SMTP_CHECK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpCheck {
    /// `helo_name`; `None`: the host name.
    pub helo_name: Option<String>,
}

/// `DNS_CHECK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsCheck {
    /// `type` (default SOA).
    pub query_type: DnsType,
    /// `name` (default `.`).
    pub name: String,
}

/// The query type of a `DNS_CHECK`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsType {
    A,
    Ns,
    Cname,
    #[default]
    Soa,
    Mx,
    Txt,
    Aaaa,
}

impl FromStr for DnsType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "A" => DnsType::A,
            "NS" => DnsType::Ns,
            "CNAME" => DnsType::Cname,
            "SOA" => DnsType::Soa,
            "MX" => DnsType::Mx,
            "TXT" => DnsType::Txt,
            "AAAA" => DnsType::Aaaa,
            _ => {
                return Err(format!(
                    "'{s}' is not a DNS type (A NS CNAME SOA MX TXT AAAA)"
                ))
            }
        })
    }
}

/// `UDP_CHECK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpCheck {
    /// `payload`: hex digits.
    pub payload: Option<String>,
    /// `require_reply [HEX]`: hex digits with `x` nibble wildcards; `Some("")`
    /// requires any reply.
    pub require_reply: Option<String>,
    pub min_reply_length: u32,
    pub max_reply_length: u32,
}

/// An ldirectord `checktype=negotiate` check of a protocol keepalived has
/// no checker for (`service=ftp|pop|pops|imap|imaps|nntp|sip`, a DNS check
/// that compares `receive`, HTTP with `httpmethod=HEAD`); the probes are
/// [`crate::health::negotiate`]'s.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegotiateCheck {
    pub service: NegotiateService,
    /// `login` (ftp, pop, imap; sip's OPTIONS URI); `None`: no login.
    pub login: Option<String>,
    /// `passwd`.
    pub passwd: Option<String>,
    /// `request`: the file an FTP check fetches, the name a DNS check asks
    /// for, the path of an HTTP check.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request: String,
    /// `receive`: a regular expression the answer must match; empty: none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub receive: String,
    /// Over UDP rather than TCP (sip, dns: the virtual service's protocol).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub udp: bool,
    /// The Host header of an HTTP check; `None`: the address.
    pub virtualhost: Option<String>,
}

/// The protocol of a [`NegotiateCheck`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NegotiateService {
    Ftp,
    Pop,
    /// POP3 over TLS.
    Pops,
    Imap,
    /// IMAP over TLS.
    Imaps,
    Nntp,
    Sip,
    Dns,
    /// HTTP with the HEAD method.
    HttpHead,
    /// HTTPS with the HEAD method.
    HttpsHead,
}

impl NegotiateService {
    /// ldirectord's `service=` name.
    pub fn name(self) -> &'static str {
        match self {
            NegotiateService::Ftp => "ftp",
            NegotiateService::Pop => "pop",
            NegotiateService::Pops => "pops",
            NegotiateService::Imap => "imap",
            NegotiateService::Imaps => "imaps",
            NegotiateService::Nntp => "nntp",
            NegotiateService::Sip => "sip",
            NegotiateService::Dns => "dns",
            NegotiateService::HttpHead => "http",
            NegotiateService::HttpsHead => "https",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges_parse_and_print() {
        assert_eq!(
            "300-399".parse::<StatusRange>().unwrap(),
            StatusRange {
                first: 300,
                last: 399
            }
        );
        assert_eq!("200".parse::<StatusRange>().unwrap().to_string(), "200");
        for bad in ["99", "600", "400-300", "x", "200-"] {
            assert!(bad.parse::<StatusRange>().is_err(), "{bad}");
        }
    }
}
