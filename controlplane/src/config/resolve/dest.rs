//! A dest and its checks resolved: the values inherited from the
//! virtual server, the checkers' defaults.

use super::is_hex;
use super::is_md5_hex;
use super::method;
use super::Resolver;
use crate::config::draft::Locus;
use crate::config::draft::{CheckDraft, CheckKindName, DestDraft, ServiceDraft};
use crate::config::error::ConfigError;
use crate::config::model::{
    Check, CheckKind, Dest, DnsCheck, Global, HttpCheck, MiscCheck, SmtpCheck, StatusRange,
    UdpCheck, CONNECT_TIMEOUT_DEFAULT, DELAY_LOOP_DEFAULT, WEIGHT_MAX,
};
use rvs_api::{Forward, Tunnel};

impl Resolver<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dest(
        &mut self,
        i: usize,
        j: usize,
        sd: &ServiceDraft,
        dd: &DestDraft,
        default_method: (Forward, Tunnel),
        v6: bool,
        global: &Global,
    ) -> Result<Dest, ConfigError> {
        let here = Locus::Dest(i, j);
        self.check_method(here, dd.forward, dd.tunnel)?;
        let (forward, tunnel) = method(dd.forward, dd.tunnel).unwrap_or(default_method);
        self.check_family(here, "real server", dd.address.0, v6, forward)?;
        let weight = dd.weight.or(sd.weight).unwrap_or(1);
        if weight > WEIGHT_MAX {
            return Err(self.error(
                here,
                format!("weight '{weight}' is outside range 0..{WEIGHT_MAX}"),
            ));
        }
        let alpha = dd.alpha.or(sd.alpha).unwrap_or(false);
        // A checker in error is left out alone.
        let mut checks = Vec::new();
        for (k, cd) in dd.check.iter().enumerate() {
            match self.check(Locus::Check(i, j, k), cd, dd, sd) {
                Ok(c) => checks.push(c),
                Err(e) => self.errors.push(e),
            }
        }
        Ok(Dest {
            addr: dd.address.0,
            forward,
            tunnel,
            weight,
            inhibit_on_failure: dd
                .inhibit_on_failure
                .or(sd.inhibit_on_failure)
                .unwrap_or(false),
            u_threshold: dd.u_threshold.unwrap_or(0),
            l_threshold: dd.l_threshold.unwrap_or(0),
            alpha,
            notify_up: dd.notify_up.clone(),
            notify_down: dd.notify_down.clone(),
            smtp_alert: dd
                .smtp_alert
                .or(global.smtp_alert_checker)
                .or(global.smtp_alert)
                .unwrap_or(true),
            checks,
        })
    }

    pub(super) fn check(
        &mut self,
        here: Locus,
        cd: &CheckDraft,
        dd: &DestDraft,
        sd: &ServiceDraft,
    ) -> Result<Check, ConfigError> {
        let keyword = cd.kind.keyword();
        if let Some(key) = cd.foreign_keys().first() {
            return Err(self.error(here, format!("'{key}' is not a setting of {keyword}")));
        }
        let delay_loop = cd
            .delay_loop
            .or(dd.delay_loop)
            .or(sd.delay_loop)
            .unwrap_or(DELAY_LOOP_DEFAULT);
        let delay_before_retry = cd
            .delay_before_retry
            .or(dd.delay_before_retry)
            .or(sd.delay_before_retry)
            .or(cd.kind.default_delay_before_retry())
            .unwrap_or(delay_loop);
        let kind = match cd.kind {
            CheckKindName::TcpCheck => CheckKind::Tcp,
            CheckKindName::PingCheck => CheckKind::Ping,
            CheckKindName::HttpGet | CheckKindName::SslGet => {
                let mut urls = Vec::new();
                for u in &cd.url {
                    if u.path.is_empty() {
                        self.warn(here, format!("{keyword}: url without a path - ignoring"));
                        continue;
                    }
                    if let Some(d) = &u.digest {
                        if !is_md5_hex(d) {
                            return Err(self.error(
                                here,
                                format!("digest '{d}' is not an MD5 (32 hex digits)"),
                            ));
                        }
                    }
                    let mut u = u.clone();
                    u.digest = u.digest.map(|d| d.to_ascii_lowercase());
                    // keepalived: 200-299 unless status codes are given,
                    // whatever else the url checks.
                    if u.status_code.is_empty() {
                        u.status_code.push(StatusRange::SUCCESS);
                    }
                    if let Some(r) = &u.regex {
                        if let Err(e) = regex::bytes::Regex::new(r) {
                            return Err(
                                self.error(here, format!("regex '{r}' does not compile: {e}"))
                            );
                        }
                    }
                    urls.push(u);
                }
                if urls.is_empty() {
                    return Err(self.error(here, format!("{keyword} has no url with a path")));
                }
                let http = HttpCheck {
                    urls,
                    http_protocol: cd.http_protocol.unwrap_or_default(),
                    virtualhost: cd
                        .virtualhost
                        .clone()
                        .or_else(|| dd.virtualhost.clone())
                        .or_else(|| sd.virtualhost.clone()),
                    fast_recovery: cd.fast_recovery.unwrap_or(false),
                    enable_sni: cd.enable_sni.unwrap_or(false),
                    sni_name: cd.sni_name.clone(),
                    tls_compliant: cd.tls_compliant.unwrap_or(false),
                };
                if cd.kind == CheckKindName::HttpGet {
                    CheckKind::Http(http)
                } else {
                    CheckKind::Ssl(http)
                }
            }
            CheckKindName::MiscCheck => {
                let Some(path) = cd.misc_path.clone().filter(|p| !p.is_empty()) else {
                    return Err(self.error(here, "MISC_CHECK has no misc_path"));
                };
                CheckKind::Misc(MiscCheck {
                    path,
                    timeout: cd.misc_timeout.unwrap_or(delay_loop),
                    dynamic: cd.misc_dynamic.unwrap_or(false),
                    user: cd.user.clone(),
                })
            }
            CheckKindName::SmtpCheck => CheckKind::Smtp(SmtpCheck {
                helo_name: cd.helo_name.clone(),
            }),
            CheckKindName::NegotiateCheck => match &cd.negotiate {
                Some(n) => CheckKind::Negotiate(n.clone()),
                None => return Err(self.error(here, "NEGOTIATE_CHECK has no service")),
            },
            CheckKindName::DnsCheck => CheckKind::Dns(DnsCheck {
                query_type: cd.dns_type.unwrap_or_default(),
                name: cd.dns_name.clone().unwrap_or_else(|| ".".to_string()),
            }),
            CheckKindName::UdpCheck => {
                for (what, hex) in [
                    ("payload", &cd.payload),
                    ("require_reply", &cd.require_reply),
                ] {
                    if let Some(h) = hex {
                        let wild = what == "require_reply";
                        if !is_hex(h, wild) {
                            return Err(self.error(
                                here,
                                format!("{what} '{h}' is not an even number of hex digits"),
                            ));
                        }
                    }
                }
                CheckKind::Udp(UdpCheck {
                    payload: cd.payload.clone(),
                    require_reply: cd.require_reply.clone(),
                    min_reply_length: cd.min_reply_length.unwrap_or(0),
                    max_reply_length: cd.max_reply_length.unwrap_or(255),
                })
            }
        };
        Ok(Check {
            kind,
            connect_ip: cd.connect_ip,
            connect_port: cd.connect_port,
            bindto: cd.bindto,
            bind_port: cd.bind_port,
            bind_if: cd.bind_if.clone(),
            fwmark: cd.fwmark,
            // MISC_CHECK connects nowhere: its timeout is misc_timeout.
            connect_timeout: if cd.kind == CheckKindName::MiscCheck {
                CONNECT_TIMEOUT_DEFAULT
            } else {
                cd.connect_timeout
                    .or(dd.connect_timeout)
                    .or(sd.connect_timeout)
                    .unwrap_or(CONNECT_TIMEOUT_DEFAULT)
            },
            retry: cd
                .retry
                .or(dd.retry)
                .or(sd.retry)
                .unwrap_or(cd.kind.default_retry()),
            delay_before_retry,
            delay_loop,
            warmup: cd.warmup.or(dd.warmup).or(sd.warmup).unwrap_or(delay_loop),
            alpha: cd.alpha.or(dd.alpha).or(sd.alpha).unwrap_or(false),
            log_all_failures: cd.log_all_failures.unwrap_or(false),
        })
    }
}
