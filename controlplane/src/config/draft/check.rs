//! A dest's checkers as written: their kinds and settings, before
//! inheritance and defaults.

use crate::config::forms;
use crate::config::model::{DnsType, HttpProtocol, NegotiateCheck, Url};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

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
/// apply to which checker is [`crate::config::resolve`]'s to check.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDraft {
    pub kind: CheckKindName,
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub fwmark: Option<u32>,
    #[serde(default, with = "forms::secs_opt")]
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    #[serde(default, with = "forms::secs_opt")]
    pub delay_before_retry: Option<Duration>,
    #[serde(default, with = "forms::secs_opt")]
    pub delay_loop: Option<Duration>,
    #[serde(default, with = "forms::secs_opt")]
    pub warmup: Option<Duration>,
    pub alpha: Option<bool>,
    pub log_all_failures: Option<bool>,
    // HTTP_GET / SSL_GET
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url: Vec<Url>,
    pub http_protocol: Option<HttpProtocol>,
    pub virtualhost: Option<String>,
    pub fast_recovery: Option<bool>,
    pub enable_sni: Option<bool>,
    pub sni_name: Option<String>,
    pub tls_compliant: Option<bool>,
    // MISC_CHECK
    pub misc_path: Option<String>,
    #[serde(default, with = "forms::secs_opt")]
    pub misc_timeout: Option<Duration>,
    pub misc_dynamic: Option<bool>,
    pub user: Option<String>,
    // SMTP_CHECK
    pub helo_name: Option<String>,
    // DNS_CHECK
    #[serde(rename = "type")]
    pub dns_type: Option<DnsType>,
    #[serde(rename = "name")]
    pub dns_name: Option<String>,
    // UDP_CHECK
    pub payload: Option<String>,
    pub require_reply: Option<String>,
    pub min_reply_length: Option<u32>,
    pub max_reply_length: Option<u32>,
    // NEGOTIATE_CHECK (ldirectord)
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
