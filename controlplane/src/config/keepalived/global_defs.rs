//! `global_defs` (§A.3): the router id, notification, the LVS globals
//! (`lvs_sync_daemon`, `lvs_timeouts`, `lvs_flush_onstop`) and the
//! keywords rvs does not act on.

use std::net::IpAddr;

use super::words::expanded;
use super::words::Cx;
use crate::config::draft::Locus;
use crate::config::error::ConfigError;
use crate::config::lexer::Node;
use crate::config::model::{FlushOnStop, LvsTimeouts, SmtpServer, SyncDaemon};

/// Keywords of `global_defs` keepalived knows that do nothing in rvs.
const GLOBAL_UNSUPPORTED: &[&str] = &[
    "checker_process_name",
    "vrrp_process_name",
    "bfd_process_name",
    "process_names",
    "enable_traps",
    "enable_snmp_vrrp",
    "enable_snmp_checker",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_keepalived",
    "snmp_socket",
    "max_auto_priority",
    "min_auto_priority_delay",
    "vrrp_priority",
    "checker_priority",
    "bfd_priority",
    "vrrp_no_swap",
    "checker_no_swap",
    "bfd_no_swap",
    "vrrp_rt_priority",
    "checker_rt_priority",
    "bfd_rt_priority",
    "vrrp_rlimit_rttime",
    "checker_rlimit_rttime",
    "bfd_rlimit_rttime",
    "vrrp_cpu_affinity",
    "checker_cpu_affinity",
    "bfd_cpu_affinity",
    "dynamic_interfaces",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "vrrp_garp_extra_if",
    "vrrp_iptables",
    "vrrp_ipsets",
    "nftables",
    "nftables_priority",
    "nftables_counters",
    "nftables_ifindex",
    "notify_fifo",
    "notify_fifo_script",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "rs_init_notifies",
    "no_checker_emails",
    "vrrp_rx_bufs_policy",
    "vrrp_rx_bufs_multiplier",
    "vrrp_startup_delay",
    "vrrp_log_unknown_vrids",
    "umask",
    "instance",
    "net_namespace",
    "namespace_with_ipsets",
    "use_pid_dir",
    "script_security",
    "linkbeat_use_polling",
    "vrrp_dont_track_primary",
    "vrrp_skip_check_adv_addr_on_master",
    "checker_log_all_failures",
    "smtp_alert_bfd",
    "random_seed",
    "reload_time_file",
    "reload_repeat",
    "reload_file",
    "data_use_instance",
    "tmp_config_directory",
    "config_save_dir",
    "startup_script",
    "startup_script_timeout",
    "shutdown_script",
    "shutdown_script_timeout",
    "fifo_write_vrrp_states_on_reload",
    "vrrp_own_all_vips",
    "vrrp_garp_extra_if_all",
];

impl Cx<'_> {
    /// `global_defs`, keyword by keyword: one in error is ignored.
    pub(super) fn global(&mut self, nodes: &[Node]) {
        for n in nodes {
            let r = self.global_keyword(n);
            self.keep(r);
        }
    }

    pub(super) fn global_keyword(&mut self, n: &Node) -> Result<(), ConfigError> {
        expanded(n)?;
        let kw = n.key.text.as_str();
        let known = 'kw: {
            match kw {
                "router_id" => {
                    if let Some(v) = self.value(n) {
                        self.draft.global.router_id = Some(v.text.clone());
                    }
                }
                "notification_email" => {
                    let block = self.block(n)?;
                    for line in block {
                        self.draft
                            .global
                            .notification_email
                            .extend(line.words().iter().map(|w| w.to_string()));
                    }
                }
                "notification_email_from" => {
                    if let Some(v) = self.text(n) {
                        self.draft.global.notification_email_from = Some(v);
                    }
                }
                "smtp_server" => match n.args.as_slice() {
                    [] => {
                        self.value(n);
                    }
                    [host, rest @ ..] => {
                        let port = match rest.first() {
                            None => 25,
                            Some(p) => match p.text.parse::<u16>() {
                                Ok(p) => p,
                                Err(_) => {
                                    let m = format!(
                                        "smtp_server port '{}' is invalid - ignoring",
                                        p.text
                                    );
                                    self.warn(p, m);
                                    break 'kw true;
                                }
                            },
                        };
                        self.draft.global.smtp_server = Some(SmtpServer {
                            host: host.text.clone(),
                            port,
                        });
                    }
                },
                "smtp_helo_name" => {
                    if let Some(v) = self.value(n) {
                        self.draft.global.smtp_helo_name = Some(v.text.clone());
                    }
                }
                "smtp_connect_timeout" => {
                    if let Some(v) = self.number(n, 1u32, 3600) {
                        self.draft.global.smtp_connect_timeout_s = v;
                    }
                }
                "smtp_alert" => self.draft.global.smtp_alert = self.boolean(n),
                "smtp_alert_vrrp" => self.draft.global.smtp_alert_vrrp = self.boolean(n),
                "smtp_alert_checker" => self.draft.global.smtp_alert_checker = self.boolean(n),
                "lvs_sync_daemon" => {
                    self.pos.set(Locus::Global, n.key.pos.clone());
                    self.sync_daemon(n);
                }
                "lvs_timeouts" => self.lvs_timeouts(n),
                "lvs_flush" => {
                    if let Some(b) = self.boolean(n) {
                        self.draft.global.lvs_flush = b;
                    }
                }
                "lvs_flush_on_stop" | "lvs_flush_onstop" => {
                    self.draft.global.lvs_flush_on_stop = match n.args.first() {
                        None => FlushOnStop::All,
                        Some(w) if w.text == "VS" => FlushOnStop::Vs,
                        Some(w) => {
                            let m = format!("lvs_flush_on_stop '{}' is not VS - ignoring", w.text);
                            self.warn(w, m);
                            break 'kw true;
                        }
                    };
                }
                "vrrp_version" => {
                    if let Some(v) = self.number(n, 2u8, 3) {
                        self.draft.global.vrrp_version = v;
                    }
                }
                "vrrp_mcast_group4" => {
                    if let Some(IpAddr::V4(a)) = self.ip(n) {
                        self.draft.global.vrrp_mcast_group4 = a;
                    }
                }
                "vrrp_mcast_group6" => {
                    if let Some(IpAddr::V6(a)) = self.ip(n) {
                        self.draft.global.vrrp_mcast_group6 = a;
                    }
                }
                "vrrp_garp_master_delay" => {
                    if let Some(v) = self.number(n, 0u32, 86400) {
                        self.draft.global.vrrp_garp_master_delay_s = v;
                    }
                }
                "vrrp_garp_master_repeat" => {
                    if let Some(v) = self.number(n, 0u32, 10000) {
                        self.draft.global.vrrp_garp_master_repeat = v;
                    }
                }
                "vrrp_garp_master_refresh" => {
                    if let Some(v) = self.number(n, 0u32, 86400) {
                        self.draft.global.vrrp_garp_master_refresh_s = v;
                    }
                }
                "vrrp_garp_interval" => {
                    if let Some(v) = self.timer(n) {
                        self.draft.global.vrrp_garp_interval = v;
                    }
                }
                "vrrp_gna_interval" => {
                    if let Some(v) = self.timer(n) {
                        self.draft.global.vrrp_gna_interval = v;
                    }
                }
                "vrrp_min_garp" => {
                    if let Some(b) = self.boolean(n) {
                        self.draft.global.vrrp_min_garp = b;
                    }
                }
                "vrrp_strict" => {
                    if let Some(b) = self.boolean(n) {
                        self.draft.global.vrrp_strict = b;
                    }
                }
                "vrrp_skip_check_adv_addr" => {
                    if let Some(b) = self.boolean(n) {
                        self.draft.global.vrrp_skip_check_adv_addr = b;
                    }
                }
                "vrrp_check_unicast_src" => {
                    if let Some(b) = self.boolean(n) {
                        self.draft.global.vrrp_check_unicast_src = b;
                    }
                }
                "enable_script_security" => {
                    if let Some(b) = self.boolean(n) {
                        self.draft.global.enable_script_security = b;
                    }
                }
                "script_user" => {
                    if let Some(v) = self.text(n) {
                        self.draft.global.script_user = Some(v);
                    }
                }
                "default_interface" => {
                    if let Some(v) = self.value(n) {
                        self.draft.global.default_interface = Some(v.text.clone());
                    }
                }
                "lvs_process_name" => self.deprecated(n, "checker_process_name"),
                "vrrp_rlimit_rtime" => self.deprecated(n, "vrrp_rlimit_rttime"),
                "checker_rlimit_rtime" => self.deprecated(n, "checker_rlimit_rttime"),
                "bfd_rlimit_rtime" => self.deprecated(n, "bfd_rlimit_rttime"),
                "vrrp_vmac_garp_intvl" => self.deprecated(n, "vrrp_garp_extra_if"),
                _ => break 'kw self.not_ours(n, GLOBAL_UNSUPPORTED),
            }
            true
        };
        self.after(n, known, &["notification_email"])?;
        Ok(())
    }

    /// `lvs_sync_daemon IFNAME [[inst] INSTANCE] [id N] [maxlen N] [port N]
    /// [ttl N] [group ADDR]`, and the old `IFNAME INSTANCE SYNCID`.
    pub(super) fn sync_daemon(&mut self, n: &Node) {
        let Some((ifname, rest)) = n.args.split_first() else {
            self.value(n);
            return;
        };
        let mut d = SyncDaemon {
            interface: ifname.text.clone(),
            instance: None,
            sync_id: None,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        };
        let mut i = 0;
        while i < rest.len() {
            let w = &rest[i];
            let next = rest.get(i + 1);
            let opt = matches!(
                w.text.as_str(),
                "inst" | "id" | "maxlen" | "port" | "ttl" | "group"
            );
            if opt {
                let Some(v) = next else {
                    let m = format!("lvs_sync_daemon '{}' needs a value - ignoring", w.text);
                    self.warn(w, m);
                    break;
                };
                let bad = |cx: &mut Self| {
                    let m = format!(
                        "lvs_sync_daemon {} '{}' is invalid - ignoring",
                        w.text, v.text
                    );
                    cx.warn(v, m);
                };
                match w.text.as_str() {
                    "inst" => d.instance = Some(v.text.clone()),
                    "id" => match v.text.parse() {
                        Ok(x) => d.sync_id = Some(x),
                        Err(_) => bad(self),
                    },
                    "maxlen" => match v.text.parse() {
                        Ok(x) => d.maxlen = Some(x),
                        Err(_) => bad(self),
                    },
                    "port" => match v.text.parse() {
                        Ok(x) => d.port = Some(x),
                        Err(_) => bad(self),
                    },
                    "ttl" => match v.text.parse() {
                        Ok(x) => d.ttl = Some(x),
                        Err(_) => bad(self),
                    },
                    _ => match v.text.parse() {
                        Ok(x) => d.group = Some(x),
                        Err(_) => bad(self),
                    },
                }
                i += 2;
                continue;
            }
            if d.instance.is_none() {
                d.instance = Some(w.text.clone());
            } else if d.sync_id.is_none() && w.text.parse::<u8>().is_ok() {
                self.warn(
                    w,
                    "lvs_sync_daemon: a positional sync id is deprecated - please use 'id'",
                );
                d.sync_id = w.text.parse().ok();
            } else {
                let m = format!("lvs_sync_daemon: unexpected '{}' - ignoring", w.text);
                self.warn(w, m);
            }
            i += 1;
        }
        self.draft.global.lvs_sync_daemon = Some(d);
    }

    pub(super) fn lvs_timeouts(&mut self, n: &Node) {
        let mut t = self.draft.global.lvs_timeouts.unwrap_or_default();
        let mut words = n.args.iter();
        while let Some(w) = words.next() {
            let Some(v) = words.next() else {
                let m = format!("lvs_timeouts '{}' needs a value - ignoring", w.text);
                self.warn(w, m);
                break;
            };
            let Some(secs) = v
                .text
                .parse::<u32>()
                .ok()
                .filter(|&s| s <= rvs_api::TIMEOUT_MAX_S)
            else {
                let m = format!(
                    "lvs_timeouts {} '{}' is outside range 0..{} - ignoring",
                    w.text,
                    v.text,
                    rvs_api::TIMEOUT_MAX_S
                );
                self.warn(v, m);
                continue;
            };
            match w.text.as_str() {
                "tcp" => t.tcp_s = secs,
                "tcpfin" => t.tcpfin_s = secs,
                "udp" => t.udp_s = secs,
                other => {
                    let m = format!("lvs_timeouts: unknown timeout '{other}' - ignoring");
                    self.warn(w, m);
                }
            }
        }
        if t != LvsTimeouts::default() {
            self.draft.global.lvs_timeouts = Some(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn lvs_globals() {
        let text = "global_defs {\n lvs_timeouts tcp 900 udp 60\n lvs_sync_daemon eth1 VI_9 12\n lvs_flush_onstop VS\n}\n";
        let (m, w) = parse_ok(text);
        let t = m.global.lvs_timeouts.unwrap();
        assert_eq!((t.tcp_s, t.tcpfin_s, t.udp_s), (900, 0, 60));
        let s = m.global.lvs_sync_daemon.as_ref().unwrap();
        assert_eq!((s.instance.as_deref(), s.sync_id), (Some("VI_9"), Some(12)));
        assert_eq!(m.global.lvs_flush_on_stop, model::FlushOnStop::Vs);
        assert_eq!(
        messages(&w),
        [
            "/nonexistent/test.conf:3:28: lvs_sync_daemon: a positional sync id is deprecated - please use 'id'",
            "/nonexistent/test.conf:3:2: lvs_sync_daemon: vrrp_instance 'VI_9' is not defined",
        ]
    );
        assert!(matches!(
            m.requests()[0],
            Request::SetTimeouts(rvs_api::Timeouts {
                tcp_s: 900,
                tcpfin_s: 0,
                udp_s: 60
            })
        ));
    }
}
