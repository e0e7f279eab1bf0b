//! The checkers of a `real_server` (§A.9: `TCP_CHECK`, `HTTP_GET`,
//! `SSL_GET`, `MISC_CHECK`, `SMTP_CHECK`, `DNS_CHECK`, `UDP_CHECK`, ...)
//! with their `url` blocks, and the top-level `SSL` block they use.

use std::str::FromStr;

use super::words::expanded;
use super::words::Cx;
use crate::config::draft::{CheckDraft, CheckKindName};
use crate::config::error::ConfigError;
use crate::config::lexer::Node;
use crate::config::model::{DnsType, HttpProtocol, Ssl, StatusRange, Url};

impl Cx<'_> {
    pub(super) fn ssl(&mut self, n: &Node) -> Result<(), ConfigError> {
        let block = self.block(n)?;
        let mut ssl = self.draft.global.ssl.take().unwrap_or_default();
        for n in block {
            let slot = match n.key.text.as_str() {
                "password" => &mut ssl.password,
                "ca" => &mut ssl.ca,
                "certificate" => &mut ssl.certificate,
                "key" => &mut ssl.key,
                _ => {
                    self.unknown(n);
                    continue;
                }
            };
            self.no_block(n)?;
            if let Some(v) = n.args.first() {
                *slot = Some(v.text.clone());
            }
        }
        if ssl != Ssl::default() {
            self.draft.global.ssl = Some(ssl);
        }
        Ok(())
    }

    /// A checker block; an `SMTP_CHECK` with old `host { }` sub-blocks gives
    /// one checker per host.
    #[allow(clippy::too_many_lines)]
    pub(super) fn check(
        &mut self,
        kind: CheckKindName,
        n: &Node,
    ) -> Result<Vec<CheckDraft>, ConfigError> {
        use CheckKindName::*;
        expanded(n)?;
        let block = self.block(n)?;
        let mut c = CheckDraft::new(kind);
        let mut hosts = Vec::new();
        let http = matches!(kind, HttpGet | SslGet);
        let net = kind != MiscCheck;
        for n in block {
            let kw = n.key.text.as_str();
            let known = 'kw: {
                match kw {
                    "retry" => c.retry = self.number(n, 0u32, u32::MAX).or(c.retry),
                    "nb_get_retry" => {
                        self.deprecated(n, "retry");
                        c.retry = self.number(n, 0u32, u32::MAX).or(c.retry);
                    }
                    "delay_before_retry" => {
                        c.delay_before_retry = self.timer(n).or(c.delay_before_retry)
                    }
                    "warmup" => c.warmup = self.timer(n).or(c.warmup),
                    "delay_loop" => c.delay_loop = self.timer(n).or(c.delay_loop),
                    "alpha" => c.alpha = self.boolean(n).or(c.alpha),
                    "log_all_failures" => {
                        c.log_all_failures = self.boolean(n).or(c.log_all_failures)
                    }
                    "connect_ip" if net => c.connect_ip = self.ip(n),
                    "connect_port" if net => {
                        c.connect_port = self.number(n, 1u16, u16::MAX).or(c.connect_port)
                    }
                    "bindto" if net => c.bindto = self.ip(n),
                    "bind_port" if net => {
                        c.bind_port = self.number(n, 1u16, u16::MAX).or(c.bind_port)
                    }
                    "bind_if" if net => c.bind_if = self.value(n).map(|v| v.text.clone()),
                    "connect_timeout" if net => {
                        c.connect_timeout = self.timer(n).or(c.connect_timeout)
                    }
                    "fwmark" if net => c.fwmark = self.number(n, 1u32, u32::MAX).or(c.fwmark),
                    "url" if http => {
                        if let Some(u) = self.url(n)? {
                            c.url.push(u);
                        }
                    }
                    "http_protocol" if http => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        c.http_protocol = match v.text.as_str() {
                            "1.0" => Some(HttpProtocol::Http10),
                            "1.0C" | "1.0c" => Some(HttpProtocol::Http10Close),
                            "1.1" => Some(HttpProtocol::Http11),
                            other => {
                                let m = format!(
                                    "http_protocol '{other}' is not 1.0, 1.0C or 1.1 - ignoring"
                                );
                                self.warn(v, m);
                                c.http_protocol
                            }
                        };
                    }
                    "virtualhost" if http => c.virtualhost = self.value(n).map(|v| v.text.clone()),
                    "fast_recovery" if http => {
                        c.fast_recovery = self.boolean(n).or(c.fast_recovery)
                    }
                    "enable_sni" if kind == SslGet => {
                        c.enable_sni = self.boolean(n).or(c.enable_sni)
                    }
                    "sni_name" if kind == SslGet => {
                        c.sni_name = self.value(n).map(|v| v.text.clone())
                    }
                    "tls_compliant" if kind == SslGet => {
                        c.tls_compliant = self.boolean(n).or(c.tls_compliant)
                    }
                    "misc_path" if kind == MiscCheck => c.misc_path = self.text(n),
                    "misc_timeout" if kind == MiscCheck => {
                        c.misc_timeout = self.timer(n).or(c.misc_timeout)
                    }
                    "misc_dynamic" if kind == MiscCheck => {
                        c.misc_dynamic = self.boolean(n).or(c.misc_dynamic)
                    }
                    "user" if kind == MiscCheck => c.user = self.text(n),
                    "helo_name" if kind == SmtpCheck => {
                        c.helo_name = self.value(n).map(|v| v.text.clone())
                    }
                    "host" if kind == SmtpCheck => {
                        self.warn(
                        &n.key,
                        "SMTP_CHECK host is deprecated - please use a separate SMTP_CHECK per host",
                    );
                        let sub = Node {
                            key: n.key.clone(),
                            args: Vec::new(),
                            block: n.block.clone(),
                        };
                        let mut h = self.check(SmtpCheck, &sub)?;
                        hosts.append(&mut h);
                    }
                    "type" if kind == DnsCheck => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        match DnsType::from_str(&v.text) {
                            Ok(t) => c.dns_type = Some(t),
                            Err(e) => {
                                let m = format!("{e} - ignoring");
                                self.warn(v, m);
                            }
                        }
                    }
                    "name" if kind == DnsCheck => {
                        c.dns_name = self.value(n).map(|v| v.text.clone())
                    }
                    "payload" if kind == UdpCheck => c.payload = self.hex(n, false),
                    "require_reply" if kind == UdpCheck => {
                        c.require_reply = if n.args.is_empty() {
                            Some(String::new())
                        } else {
                            self.hex(n, true)
                        }
                    }
                    "min_reply_length" if kind == UdpCheck => {
                        c.min_reply_length = self.number(n, 0u32, 65535).or(c.min_reply_length)
                    }
                    "max_reply_length" if kind == UdpCheck => {
                        c.max_reply_length = self.number(n, 0u32, 65535).or(c.max_reply_length)
                    }
                    _ => {
                        self.unknown(n);
                        break 'kw false;
                    }
                }
                true
            };
            self.after(n, known, &["url", "host"])?;
        }
        // A host block only makes checkers of its own.
        if !hosts.is_empty() {
            for h in &mut hosts {
                h.helo_name = h.helo_name.clone().or_else(|| c.helo_name.clone());
                h.retry = h.retry.or(c.retry);
                h.delay_before_retry = h.delay_before_retry.or(c.delay_before_retry);
                h.delay_loop = h.delay_loop.or(c.delay_loop);
                h.connect_timeout = h.connect_timeout.or(c.connect_timeout);
            }
            return Ok(hosts);
        }
        Ok(vec![c])
    }

    pub(super) fn hex(&mut self, n: &Node, wild: bool) -> Option<String> {
        let v = self.value(n)?;
        let ok = v.text.len().is_multiple_of(2)
            && v.text
                .chars()
                .all(|c| c.is_ascii_hexdigit() || (wild && (c == 'x' || c == 'X')));
        if ok {
            Some(v.text.clone())
        } else {
            let m = format!("{} '{}' is not hex digits - ignoring", n.key.text, v.text);
            self.warn(v, m);
            None
        }
    }

    /// `url { path P  digest MD5  status_code 200 300-399  virtualhost H  regex R }`.
    pub(super) fn url(&mut self, n: &Node) -> Result<Option<Url>, ConfigError> {
        expanded(n)?;
        let block = self.block(n)?;
        let mut u = Url::default();
        for line in block {
            let known = 'kw: {
                match line.key.text.as_str() {
                    "path" => {
                        if let Some(v) = self.text(line) {
                            u.path = v;
                        }
                    }
                    "digest" => {
                        let Some(v) = self.value(line) else {
                            break 'kw true;
                        };
                        if v.text.len() == 32 && v.text.chars().all(|c| c.is_ascii_hexdigit()) {
                            u.digest = Some(v.text.to_ascii_lowercase());
                        } else {
                            let m = format!(
                                "digest '{}' is not an MD5 (32 hex digits) - ignoring",
                                v.text
                            );
                            self.warn(v, m);
                        }
                    }
                    "status_code" => {
                        if line.args.is_empty() {
                            self.value(line);
                        }
                        for w in &line.args {
                            match StatusRange::from_str(&w.text) {
                                Ok(r) => u.status_code.push(r),
                                Err(e) => {
                                    let m = format!("status_code: {e} - ignoring");
                                    self.warn(w, m);
                                }
                            }
                        }
                    }
                    "virtualhost" => u.virtualhost = self.value(line).map(|v| v.text.clone()),
                    "regex" => u.regex = self.text(line),
                    _ => {
                        self.unknown(line);
                        break 'kw false;
                    }
                }
                true
            };
            self.after(line, known, &[])?;
        }
        if u.path.is_empty() {
            self.warn(&n.key, "url without a path - ignoring");
            return Ok(None);
        }
        Ok(Some(u))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn old_names_and_checker_inheritance() {
        let text = "virtual_server 10.0.0.1 80 {
    protocol TCP
    lb_algo sh
    sh-port
    mh-port
    lb_kind DR
    delay_loop 2.5
    retry 7
    real_server 10.0.0.2 80 {
        delay_before_retry 4
        HTTP_GET {
            nb_get_retry 2
            url {
                path /a
            }
            url {
                status_code 200
            }
        }
        DNS_CHECK {
            type AAAA
        }
    }
}
";
        let (m, w) = parse_ok(text);
        let s = &m.services[0];
        assert_eq!(s.sched_flags, ["sh-port"]);
        let d = &s.dests[0];
        let http = &d.checks[0];
        assert_eq!(http.retry, 2, "nb_get_retry is retry");
        assert_eq!(
            http.delay_before_retry,
            Duration::from_secs(4),
            "from the real server"
        );
        assert_eq!(
            http.delay_loop,
            Duration::from_micros(2_500_000),
            "from the virtual server"
        );
        let CheckKind::Http(h) = &http.kind else {
            panic!()
        };
        assert_eq!(h.urls.len(), 1, "the url without a path is dropped");
        assert_eq!(h.urls[0].status_code, [model::StatusRange::SUCCESS]);
        let dns = &d.checks[1];
        assert_eq!(dns.retry, 7, "from the virtual server");
        let CheckKind::Dns(q) = &dns.kind else {
            panic!()
        };
        assert_eq!((q.query_type, q.name.as_str()), (DnsType::Aaaa, "."));
        assert_eq!(
            messages(&w),
            [
                "/nonexistent/test.conf:5:5: 'mh-port' is only valid after 'lb_algo mh' - ignoring",
                "/nonexistent/test.conf:12:13: nb_get_retry is deprecated - please use 'retry'",
                "/nonexistent/test.conf:16:13: url without a path - ignoring",
            ]
        );
    }
}
