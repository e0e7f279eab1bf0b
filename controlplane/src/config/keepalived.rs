//! keepalived.conf (`spec/keepalived.md` Part A) into a [`Draft`].
//!
//! Contract, keepalived's behaviour unless noted:
//! - the keywords of §A.3–A.10 are read into the draft, with the old names
//!   of §A.10 (`lb_algo`/`lb_kind`, `nb_get_retry` with its deprecation
//!   warning, `lvs_flush_onstop`, the positional `lvs_sync_daemon`, ...);
//!   keepalived for DPVS adds `lb_kind FNAT`, `laddr_group_name` and
//!   `local_address_group NAME { ADDR[-END] [IFNAME] ... }`;
//! - an unknown keyword is a warning (`Unknown keyword 'X'`) and the line
//!   is ignored. **Decision** (the spec leaves it open): an unknown keyword
//!   with a block has its whole block skipped, balanced, with the warning
//!   `Unknown keyword 'X' - skipping its block`. keepalived's own quirk
//!   (the block's lines read at the current level, its `}` closing the
//!   enclosing block) silently changes what the rest of the file means; we
//!   do not reproduce it;
//! - `static_ipaddress` and `static_routes` become the network's addresses
//!   and routes, `dev` naming a dataplane port (an address without `dev`:
//!   `default_interface`, else `eth0`); routes follow keepalived's `ip
//!   route` grammar ([`super::iproute`]);
//! - known keepalived keywords rvs does not act on (SNMP, process tuning,
//!   `static_rules`, `FILE_CHECK` ...) warn `Keyword 'X' is not supported
//!   by rvs - ignoring` and are skipped;
//! - a malformed value of an ordinary keyword is a warning and the keyword
//!   is ignored (keepalived logs it and keeps the default); these are
//!   errors, each losing its item only (keepalived's granularity: the
//!   top-level block, or a `real_server`, a checker, a `sorry_server`, a
//!   `global_defs` keyword, one line of `virtual_ipaddress`,
//!   `unicast_peer`, `static_ipaddress`, `static_routes`, a group or a
//!   pool): a bad address (virtual server, real server, sorry server, group
//!   entry, local address, VIP, route), a weight outside 0..2147483647, an
//!   unknown `lb_algo`/`lvs_sched` or `lb_kind`/`lvs_method`, a protocol rvs
//!   cannot serve (SCTP, or an unknown name), a block where none belongs or
//!   none where one must, an unexpanded `$NAME` (see `expanded`), and what
//!   [`super::resolve`] refuses (a duplicate real server ...); a bad brace
//!   or an include loop is the whole file's error ([`lexer`]);

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::draft::{
    AddrPort, CheckDraft, CheckKindName, CsumName, DestDraft, Draft, Family, ForwardName,
    Granularity, GroupDraft, GroupMember, LaddrRange, PoolDraft, ProtocolName, ServiceDraft,
    SorryDraft, TunnelDraft, TunnelKindName, VrrpInstanceDraft, VrrpScriptDraft,
};
use super::draft::{Locus, Positions};
use super::error::{ConfigError, Position, Warning};
use super::forms::parse_timer;
use super::lexer::{self, Node, Word};
use super::model::{
    Auth, AuthType, DnsType, FlushOnStop, HttpProtocol, IfAddr, LvsTimeouts, SmtpServer, Ssl,
    StatusRange, SyncDaemon, SyncGroup, Track, UnicastPeer, Url, VirtualIp, VrrpState,
    PERSISTENT_TIMEOUT_DEFAULT_S, PERSISTENT_TIMEOUT_MAX_S, SCHEDULERS, WEIGHT_MAX,
};
use super::preprocess;

/// Read `text`, the contents of `path`, into a draft and its positions.
/// The `Err` is a file that cannot be read at all (a brace, an include);
/// an item in error is left out of the draft and its error added to
/// `errors`.
pub fn parse_text(
    text: &str,
    path: &Path,
    opts: &preprocess::Options,
    warnings: &mut Vec<Warning>,
    errors: &mut Vec<ConfigError>,
) -> Result<(Draft, Positions), ConfigError> {
    let file: Arc<Path> = Arc::from(path);
    let tree = lexer::parse_text_with(text, file.clone(), opts, warnings, errors)?;
    let mut cx = Cx {
        draft: Draft::default(),
        pos: Positions::new(Position::whole(file)),
        warnings,
        errors,
    };
    cx.top(&tree);
    Ok((cx.draft, cx.pos))
}

/// keepalived's interface when `default_interface` does not name one.
const DEFAULT_INTERFACE: &str = "eth0";

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

/// Top-level blocks keepalived knows that rvs does not act on.
const TOP_UNSUPPORTED: &[&str] = &[
    "static_rules",
    "vrrp_track_process",
    "track_process",
    "track_file",
    "vrrp_track_file",
    "garp_group",
    "linkbeat_interfaces",
    "bfd_instance",
    "static_track_group",
];

/// Keywords of `vrrp_instance` keepalived knows that rvs does not act on.
const INSTANCE_UNSUPPORTED: &[&str] = &[
    "use_vmac",
    "vmac_xmit_base",
    "native_ipv6",
    "kernel_rx_buf_size",
    "debug",
    "strict_mode",
    "skip_check_adv_addr",
    "check_unicast_src",
    "track_process",
    "track_file",
    "track_bfd",
    "virtual_routes",
    "virtual_rules",
    "promote_secondaries",
    "linkbeat_use_polling",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "lower_prio_no_advert",
    "higher_prio_send_advert",
    "garp_extra_if",
    "unicast_ttl",
    "unicast_fault_no_peer",
    "notify_master_rx_lower_pri",
    "notify_deleted",
    "old_unicast_checksum",
    "iptable_ip_lookup",
    "no_ipsets",
    "vrrp_version",
    "sync_group_tracking_weight",
    "mcast_dst",
];

struct Cx<'w> {
    draft: Draft,
    pos: Positions,
    warnings: &'w mut Vec<Warning>,
    /// The errors of the items left out.
    errors: &'w mut Vec<ConfigError>,
}

fn err(w: &Word, message: impl Into<String>) -> ConfigError {
    ConfigError::new(w.pos.clone(), message)
}

/// Keywords whose words are a shell command (or a secret, a pattern):
/// a `$NAME` there is the shell's (or plain text), as keepalived leaves
/// an undefined parameter as written.
const VERBATIM: &[&str] = &[
    "script",
    "misc_path",
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify_up",
    "notify_down",
    "quorum_up",
    "quorum_down",
    "startup_script",
    "shutdown_script",
    "notify_fifo_script",
    "vrrp_notify_fifo_script",
    "lvs_notify_fifo_script",
    "auth_pass",
    "password",
    "regex",
    "path",
];

/// Items inside a block that are checked by their own handler, so that an
/// error there loses only them.
const SUB_ITEMS: &[&str] = &["real_server", "url"];

/// An error if `n`'s keyword or arguments carry a `$NAME` the preprocessor
/// left as written: an undefined parameter (or one not followed by a
/// blank: `${NAME}` is needed then). keepalived would use the text as it
/// is (an interface literally named `$IF`); rvs refuses it.
fn expanded(n: &Node) -> Result<(), ConfigError> {
    let verbatim = VERBATIM.contains(&n.key.text.as_str());
    let words = std::iter::once(&n.key).chain(n.args.iter().filter(|_| !verbatim));
    for w in words {
        if let Some((_, name)) = preprocess::unexpanded(&w.text) {
            return Err(ConfigError::new(
                w.dollar.clone().unwrap_or_else(|| w.pos.clone()),
                format!(
                    "'{}': parameter ${name} is not defined (keepalived would use the text as written): \
                     define it with ${name}=VALUE, or write ${{{name}}} when text follows it",
                    w.text
                ),
            ));
        }
    }
    Ok(())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

impl Cx<'_> {
    fn warn(&mut self, w: &Word, message: impl Into<String>) {
        self.warnings.push(Warning::new(w.pos.clone(), message));
    }

    fn unknown(&mut self, n: &Node) {
        let m = if n.block.is_some() {
            format!("Unknown keyword '{}' - skipping its block", n.key.text)
        } else {
            format!("Unknown keyword '{}'", n.key.text)
        };
        self.warn(&n.key, m);
    }

    fn unsupported(&mut self, n: &Node) {
        let m = format!(
            "Keyword '{}' is not supported by rvs - ignoring",
            n.key.text
        );
        self.warn(&n.key, m);
    }

    fn deprecated(&mut self, n: &Node, instead: &str) {
        let m = format!("{} is deprecated - please use '{instead}'", n.key.text);
        self.warn(&n.key, m);
    }

    /// `n`'s block, or an error if it has none or if one of its lines
    /// carries an unexpanded `$NAME` (then the item that owns the block is
    /// left out). Sub-items (`real_server`, checkers) are checked on their
    /// own, by their handler.
    fn block<'n>(&self, n: &'n Node) -> Result<&'n [Node], ConfigError> {
        match &n.block {
            Some(b) => {
                for line in &b.nodes {
                    if !SUB_ITEMS.contains(&line.key.text.as_str())
                        && CheckKindName::from_keyword(&line.key.text).is_none()
                    {
                        expanded(line)?;
                    }
                }
                Ok(&b.nodes)
            }
            None => Err(err(
                &n.key,
                format!("'{}' needs a block: missing '{{'", n.key.text),
            )),
        }
    }

    /// `n`'s block, or an error if it has none; its lines are items of
    /// their own, each checked for `$NAME` by the caller ([`expanded`]).
    fn lines<'n>(&self, n: &'n Node) -> Result<&'n [Node], ConfigError> {
        match &n.block {
            Some(b) => Ok(&b.nodes),
            None => Err(err(
                &n.key,
                format!("'{}' needs a block: missing '{{'", n.key.text),
            )),
        }
    }

    /// An error if `n` has a block it cannot have.
    fn no_block(&self, n: &Node) -> Result<(), ConfigError> {
        match &n.block {
            Some(b) => Err(ConfigError::new(
                b.open.clone(),
                format!("unexpected '{{': '{}' takes no block", n.key.text),
            )),
            None => Ok(()),
        }
    }

    /// After `n` was handled as a keyword of its block: an error if it
    /// carries a block and is not one of `blocks` (an unknown keyword's
    /// block was skipped, `known` is false then).
    fn after(&self, n: &Node, known: bool, blocks: &[&str]) -> Result<(), ConfigError> {
        if known && !blocks.contains(&n.key.text.as_str()) {
            self.no_block(n)
        } else {
            Ok(())
        }
    }

    /// The single value of `n`, warning (and `None`) when there is none;
    /// extra words are warned about and ignored.
    fn value<'n>(&mut self, n: &'n Node) -> Option<&'n Word> {
        match n.args.as_slice() {
            [] => {
                let m = format!("'{}' needs a value - ignoring", n.key.text);
                self.warn(&n.key, m);
                None
            }
            [v] => Some(v),
            [v, extra, ..] => {
                let m = format!("'{}': extra argument '{}' ignored", n.key.text, extra.text);
                self.warn(extra, m);
                Some(v)
            }
        }
    }

    /// The value as a string, all words joined (for `script`-like keywords
    /// keepalived takes the rest of the line).
    fn text(&mut self, n: &Node) -> Option<String> {
        if n.args.is_empty() {
            let m = format!("'{}' needs a value - ignoring", n.key.text);
            self.warn(&n.key, m);
            return None;
        }
        Some(
            n.args
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// A script keyword's command (`notify_master "<cmd>" [USER [GROUP]]`):
    /// the first word; running it as another user is not supported.
    fn command(&mut self, n: &Node) -> Option<String> {
        let cmd = match n.args.first() {
            Some(w) => w.text.clone(),
            None => {
                let m = format!("'{}' needs a value - ignoring", n.key.text);
                self.warn(&n.key, m);
                return None;
            }
        };
        if let Some(user) = n.args.get(1) {
            let m = format!(
                "{}: running the script as '{}' is not supported by rvs - ignoring the user",
                n.key.text, user.text
            );
            self.warn(user, m);
        }
        Some(cmd)
    }

    /// A number `min..=max`, else a warning and `None`.
    fn number<T>(&mut self, n: &Node, min: T, max: T) -> Option<T>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        let v = self.value(n)?;
        match v.text.parse::<T>() {
            Ok(x) if x >= min && x <= max => Some(x),
            _ => {
                let m = format!(
                    "{} '{}' is outside range {min}..{max} - ignoring",
                    n.key.text, v.text
                );
                self.warn(v, m);
                None
            }
        }
    }

    fn timer(&mut self, n: &Node) -> Option<Duration> {
        let v = self.value(n)?;
        match parse_timer(&v.text) {
            Some(d) => Some(d),
            None => {
                let m = format!(
                    "{} '{}' is not a number of seconds - ignoring",
                    n.key.text, v.text
                );
                self.warn(v, m);
                None
            }
        }
    }

    /// `<BOOL>`; no value is true.
    fn boolean(&mut self, n: &Node) -> Option<bool> {
        let Some(v) = n.args.first() else {
            return Some(true);
        };
        match parse_bool(&v.text) {
            Some(b) => Some(b),
            None => {
                let m = format!("{} '{}' is not a boolean - ignoring", n.key.text, v.text);
                self.warn(v, m);
                None
            }
        }
    }

    fn ip(&mut self, n: &Node) -> Option<IpAddr> {
        let v = self.value(n)?;
        match v.text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                let m = format!(
                    "{} '{}' is not an IP address - ignoring",
                    n.key.text, v.text
                );
                self.warn(v, m);
                None
            }
        }
    }

    /// `r`'s error, if any, as the error of an item left out.
    fn keep(&mut self, r: Result<(), ConfigError>) {
        if let Err(e) = r {
            self.errors.push(e);
        }
    }

    /// The top-level items, each on its own: one in error is left out.
    fn top(&mut self, nodes: &[Node]) {
        for n in nodes {
            let kw = n.key.text.as_str();
            if let Err(e) = expanded(n) {
                self.errors.push(e);
                continue;
            }
            let r = match kw {
                "global_defs" => {
                    self.pos.set(Locus::Global, n.key.pos.clone());
                    self.lines(n).map(|block| self.global(block))
                }
                "vrrp_script" => self.vrrp_script(n),
                "vrrp_sync_group" => self.sync_group(n),
                "vrrp_instance" => self.instance(n),
                "virtual_server_group" => self.group(n),
                "virtual_server" => self.service(n),
                "local_address_group" => self.pool(n),
                "static_ipaddress" => self.static_addresses(n),
                "static_routes" => self.static_routes(n),
                "SSL" => self.ssl(n),
                "bgp" => self.bgp(n),
                _ if TOP_UNSUPPORTED.contains(&kw) => {
                    self.unsupported(n);
                    Ok(())
                }
                _ => {
                    self.unknown(n);
                    Ok(())
                }
            };
            self.keep(r);
        }
    }

    /// `bgp { ... }` ([`super::bgp`]): all or nothing, once.
    fn bgp(&mut self, n: &Node) -> Result<(), ConfigError> {
        if self.draft.bgp.is_some() {
            return Err(err(
                &n.key,
                "bgp: the block is given twice (the first one applies)",
            ));
        }
        let b = super::bgp::from_keepalived(n, self.warnings);
        self.draft.bgp_in_error = b.is_err();
        self.draft.bgp = Some(b?);
        Ok(())
    }

    /// `global_defs`, keyword by keyword: one in error is ignored.
    fn global(&mut self, nodes: &[Node]) {
        for n in nodes {
            let r = self.global_keyword(n);
            self.keep(r);
        }
    }

    fn global_keyword(&mut self, n: &Node) -> Result<(), ConfigError> {
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
                _ if GLOBAL_UNSUPPORTED.contains(&kw) => {
                    self.unsupported(n);
                    break 'kw false;
                }
                _ => {
                    self.unknown(n);
                    break 'kw false;
                }
            }
            true
        };
        self.after(n, known, &["notification_email"])?;
        Ok(())
    }

    /// `lvs_sync_daemon IFNAME [[inst] INSTANCE] [id N] [maxlen N] [port N]
    /// [ttl N] [group ADDR]`, and the old `IFNAME INSTANCE SYNCID`.
    fn sync_daemon(&mut self, n: &Node) {
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

    fn lvs_timeouts(&mut self, n: &Node) {
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

    fn ssl(&mut self, n: &Node) -> Result<(), ConfigError> {
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

    /// The name after a block keyword (`vrrp_instance VI_1`).
    fn name(&self, n: &Node) -> Result<String, ConfigError> {
        n.args
            .first()
            .map(|w| w.text.clone())
            .ok_or_else(|| err(&n.key, format!("'{}' needs a name", n.key.text)))
    }

    fn vrrp_script(&mut self, n: &Node) -> Result<(), ConfigError> {
        let name = self.name(n)?;
        let block = self.block(n)?;
        let i = self.draft.vrrp.script.len();
        self.pos.set(Locus::Script(i), n.key.pos.clone());
        let mut s = VrrpScriptDraft {
            name,
            ..VrrpScriptDraft::default()
        };
        for n in block {
            let known = 'kw: {
                match n.key.text.as_str() {
                    "script" => s.script = self.text(n),
                    "interval" => s.interval = self.timer(n).or(s.interval),
                    "timeout" => s.timeout = self.timer(n).or(s.timeout),
                    "weight" => {
                        if let Some((w, reverse)) = self.track_weight(n, &n.args) {
                            s.weight = Some(w);
                            s.reverse = Some(reverse);
                        }
                    }
                    "rise" => s.rise = self.number(n, 1u32, u32::MAX).or(s.rise),
                    "fall" => s.fall = self.number(n, 1u32, u32::MAX).or(s.fall),
                    "user" => s.user = self.text(n),
                    "init_fail" => s.init_fail = Some(true),
                    _ => {
                        self.unknown(n);
                        break 'kw false;
                    }
                }
                true
            };
            self.after(n, known, &[])?;
        }
        self.draft.vrrp.script.push(s);
        Ok(())
    }

    /// `W [reverse|noreverse]` of a weight, -253..253.
    fn track_weight(&mut self, n: &Node, words: &[Word]) -> Option<(i32, bool)> {
        let Some(w) = words.first() else {
            self.value(n);
            return None;
        };
        let Some(weight) = w
            .text
            .parse::<i32>()
            .ok()
            .filter(|v| (-253..=253).contains(v))
        else {
            let m = format!("weight '{}' is outside range -253..253 - ignoring", w.text);
            self.warn(w, m);
            return None;
        };
        let reverse = match words.get(1).map(|w| w.text.as_str()) {
            Some("reverse") => true,
            Some("noreverse") | None => false,
            Some(other) => {
                let m = format!("unexpected '{other}' after the weight - ignoring it");
                self.warn(&words[1], m);
                false
            }
        };
        Some((weight, reverse))
    }

    /// A `track_interface` / `track_script` block: `NAME [weight W [reverse]]`.
    fn tracks(&mut self, n: &Node) -> Result<Vec<Track>, ConfigError> {
        let block = self.block(n)?;
        let mut out = Vec::new();
        for line in block {
            self.no_block(line)?;
            let mut t = Track {
                name: line.key.text.clone(),
                weight: None,
                reverse: false,
            };
            match line.args.split_first() {
                None => {}
                Some((w, rest)) if w.text == "weight" => {
                    if let Some((weight, reverse)) = self.track_weight(line, rest) {
                        t.weight = Some(weight);
                        t.reverse = reverse;
                    }
                }
                Some((w, _)) => {
                    let m = format!("unexpected '{}' - ignoring it", w.text);
                    self.warn(w, m);
                }
            }
            out.push(t);
        }
        Ok(out)
    }

    fn sync_group(&mut self, n: &Node) -> Result<(), ConfigError> {
        let name = self.name(n)?;
        let block = self.block(n)?;
        let i = self.draft.vrrp.sync_group.len();
        self.pos.set(Locus::SyncGroup(i), n.key.pos.clone());
        let mut g = SyncGroup {
            name,
            ..SyncGroup::default()
        };
        for n in block {
            let kw = n.key.text.as_str();
            let known = 'kw: {
                match kw {
                    "group" => {
                        for line in self.block(n)? {
                            g.group.extend(line.words().iter().map(|w| w.to_string()));
                        }
                    }
                    "notify_master" => g.notify_master = self.command(n),
                    "notify_backup" => g.notify_backup = self.command(n),
                    "notify_fault" => g.notify_fault = self.command(n),
                    "notify_stop" => g.notify_stop = self.command(n),
                    "notify" => g.notify = self.command(n),
                    "track_interface" => g.track_interface = self.tracks(n)?,
                    "track_script" => g.track_script = self.tracks(n)?,
                    "smtp_alert" => g.smtp_alert = self.boolean(n),
                    "global_tracking" => {
                        self.warn(
                            &n.key,
                            "global_tracking is deprecated - put the trackers on the sync group",
                        );
                    }
                    "sync_group_tracking_weight" => {
                        self.unsupported(n);
                        break 'kw false;
                    }
                    _ => {
                        self.unknown(n);
                        break 'kw false;
                    }
                }
                true
            };
            self.after(n, known, &["group", "track_interface", "track_script"])?;
        }
        self.draft.vrrp.sync_group.push(g);
        Ok(())
    }

    /// A `virtual_ipaddress` block; a bad line is an error and only that
    /// address is lost, as keepalived.
    fn vips(&mut self, n: &Node) -> Result<Vec<VirtualIp>, ConfigError> {
        let block = self.lines(n)?;
        let mut out = Vec::new();
        for line in block {
            if let Err(e) = self.no_block(line).and_then(|()| expanded(line)) {
                self.errors.push(e);
                continue;
            }
            let address: IfAddr = match line.key.text.parse() {
                Ok(a) => a,
                Err(e) => {
                    self.errors
                        .push(err(&line.key, format!("invalid virtual address: {e}")));
                    continue;
                }
            };
            let mut vip = VirtualIp {
                address,
                brd: None,
                dev: None,
                scope: None,
                label: None,
            };
            let mut words = line.args.iter();
            while let Some(w) = words.next() {
                let opt = w.text.as_str();
                let takes_value = matches!(opt, "brd" | "broadcast" | "dev" | "scope" | "label");
                if !takes_value {
                    let m = format!(
                        "virtual_ipaddress option '{opt}' is not supported by rvs - ignoring"
                    );
                    self.warn(w, m);
                    continue;
                }
                let Some(v) = words.next() else {
                    let m = format!("virtual_ipaddress '{opt}' needs a value - ignoring");
                    self.warn(w, m);
                    break;
                };
                match opt {
                    "brd" | "broadcast" => match v.text.parse() {
                        Ok(a) => vip.brd = Some(a),
                        Err(_) => {
                            let m = format!("invalid broadcast address '{}' - ignoring", v.text);
                            self.warn(v, m);
                        }
                    },
                    "dev" => vip.dev = Some(v.text.clone()),
                    "scope" => vip.scope = Some(v.text.clone()),
                    _ => {
                        if v.text
                            .split_once(':')
                            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
                        {
                            vip.label = Some(v.text.clone());
                        } else {
                            let m = format!("label '{}' is not IF:TAG - ignoring", v.text);
                            self.warn(v, m);
                        }
                    }
                }
            }
            out.push(vip);
        }
        Ok(out)
    }

    #[allow(clippy::too_many_lines)]
    fn instance(&mut self, n: &Node) -> Result<(), ConfigError> {
        let name = self.name(n)?;
        let block = self.block(n)?;
        let i = self.draft.vrrp.instance.len();
        self.pos.set(Locus::Instance(i), n.key.pos.clone());
        let mut d = VrrpInstanceDraft {
            name: name.clone(),
            ..VrrpInstanceDraft::default()
        };
        for n in block {
            let kw = n.key.text.as_str();
            let known = 'kw: {
                match kw {
                    "state" => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        match v.text.as_str() {
                            "MASTER" => d.state = Some(VrrpState::Master),
                            "BACKUP" => {
                                if d.state == Some(VrrpState::Master) {
                                    let m = "state BACKUP after state MASTER - ignoring";
                                    self.warn(v, m);
                                } else {
                                    d.state = Some(VrrpState::Backup);
                                }
                            }
                            other => {
                                let m = format!("unknown state '{other}' - using BACKUP");
                                self.warn(v, m);
                                d.state = Some(VrrpState::Backup);
                            }
                        }
                    }
                    "interface" => d.interface = self.value(n).map(|v| v.text.clone()),
                    "virtual_router_id" => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        match v.text.parse::<u8>() {
                            Ok(id) if id >= 1 => d.virtual_router_id = Some(id),
                            _ => {
                                return Err(err(
                                    v,
                                    format!(
                                        "virtual_router_id '{}' is outside range 1..255",
                                        v.text
                                    ),
                                ))
                            }
                        }
                    }
                    "priority" => {
                        if let Some(p) = self.number(n, 1u8, 255) {
                            d.priority = Some(p);
                        }
                    }
                    "advert_int" => {
                        if let Some(t) = self.timer(n) {
                            if t < Duration::from_millis(10) || t > Duration::from_secs(255) {
                                let m = "advert_int is outside range 0.01..255 - ignoring";
                                self.warn(&n.key, m);
                            } else {
                                d.advert_int = Some(t);
                            }
                        }
                    }
                    "version" => d.version = self.number(n, 2u8, 3).or(d.version),
                    "nopreempt" => d.nopreempt = Some(true),
                    "preempt" => {}
                    "preempt_delay" => {
                        if let Some(t) = self.timer(n) {
                            if t > Duration::from_secs(1000) {
                                self.warn(
                                    &n.key,
                                    "preempt_delay is outside range 0..1000 - ignoring",
                                );
                            } else {
                                d.preempt_delay = Some(t);
                            }
                        }
                    }
                    "authentication" => d.authentication = self.auth(n)?,
                    "virtual_ipaddress" => d.virtual_ipaddress.extend(self.vips(n)?),
                    "virtual_ipaddress_excluded" => {
                        d.virtual_ipaddress_excluded.extend(self.vips(n)?)
                    }
                    "track_interface" => d.track_interface.extend(self.tracks(n)?),
                    "track_script" => d.track_script.extend(self.tracks(n)?),
                    "notify_master" => d.notify_master = self.command(n),
                    "notify_backup" => d.notify_backup = self.command(n),
                    "notify_fault" => d.notify_fault = self.command(n),
                    "notify_stop" => d.notify_stop = self.command(n),
                    "notify" => d.notify = self.command(n),
                    "unicast_src_ip" => d.unicast_src_ip = self.ip(n),
                    "mcast_src_ip" => d.mcast_src_ip = self.ip(n),
                    "unicast_peer" => {
                        for line in self.lines(n)? {
                            if let Err(e) = self.no_block(line).and_then(|()| expanded(line)) {
                                self.errors.push(e);
                                continue;
                            }
                            let Ok(address) = line.key.text.parse() else {
                                self.errors.push(err(
                                    &line.key,
                                    format!("invalid unicast peer address '{}'", line.key.text),
                                ));
                                continue;
                            };
                            let mut peer = UnicastPeer {
                                address,
                                min_ttl: None,
                                max_ttl: None,
                            };
                            let mut words = line.args.iter();
                            while let Some(w) = words.next() {
                                let v = words.next().and_then(|v| v.text.parse::<u8>().ok());
                                match (w.text.as_str(), v) {
                                    ("min_ttl", Some(v)) => peer.min_ttl = Some(v),
                                    ("max_ttl", Some(v)) => peer.max_ttl = Some(v),
                                    _ => {
                                        let m = format!(
                                            "unicast_peer: unexpected '{}' - ignoring",
                                            w.text
                                        );
                                        self.warn(w, m);
                                    }
                                }
                            }
                            d.unicast_peer.push(peer);
                        }
                    }
                    "garp_master_delay" => {
                        d.garp_master_delay = self.number(n, 0u32, 86400).or(d.garp_master_delay)
                    }
                    "garp_master_repeat" => {
                        d.garp_master_repeat = self.number(n, 0u32, 10000).or(d.garp_master_repeat)
                    }
                    "garp_master_refresh" => {
                        d.garp_master_refresh =
                            self.number(n, 0u32, 86400).or(d.garp_master_refresh)
                    }
                    "dont_track_primary" => d.dont_track_primary = Some(true),
                    "accept" => d.accept = Some(true),
                    "no_accept" => d.accept = Some(false),
                    "smtp_alert" => d.smtp_alert = self.boolean(n),
                    "lvs_sync_daemon_interface" => {
                        self.deprecated(n, "lvs_sync_daemon");
                        if self.draft.global.lvs_sync_daemon.is_none() {
                            if let Some(v) = self.value(n) {
                                self.draft.global.lvs_sync_daemon = Some(SyncDaemon {
                                    interface: v.text.clone(),
                                    instance: Some(name.clone()),
                                    sync_id: None,
                                    maxlen: None,
                                    port: None,
                                    ttl: None,
                                    group: None,
                                });
                            }
                        }
                    }
                    "vmac_garp_intvl" => self.deprecated(n, "garp_extra_if"),
                    _ if INSTANCE_UNSUPPORTED.contains(&kw) => {
                        self.unsupported(n);
                        break 'kw false;
                    }
                    _ => {
                        self.unknown(n);
                        break 'kw false;
                    }
                }
                true
            };
            self.after(n, known, &INSTANCE_BLOCKS)?;
        }
        self.draft.vrrp.instance.push(d);
        Ok(())
    }

    fn auth(&mut self, n: &Node) -> Result<Option<Auth>, ConfigError> {
        let block = self.block(n)?;
        let mut kind = None;
        let mut pass = String::new();
        for line in block {
            let known = 'kw: {
                match line.key.text.as_str() {
                    "auth_type" => {
                        let Some(v) = self.value(line) else {
                            break 'kw true;
                        };
                        kind = match v.text.as_str() {
                            "PASS" => Some(AuthType::Pass),
                            "AH" => Some(AuthType::Ah),
                            other => {
                                let m = format!("unknown auth_type '{other}' - ignoring");
                                self.warn(v, m);
                                None
                            }
                        };
                    }
                    "auth_pass" => {
                        if let Some(v) = self.value(line) {
                            pass = v.text.clone();
                        }
                    }
                    _ => {
                        self.unknown(line);
                        break 'kw false;
                    }
                }
                true
            };
            self.after(line, known, &[])?;
        }
        Ok(kind.map(|kind| Auth { kind, pass }))
    }

    fn group(&mut self, n: &Node) -> Result<(), ConfigError> {
        let name = self.name(n)?;
        let block = self.lines(n)?;
        let i = self.draft.groups.len();
        self.pos.set(Locus::Group(i), n.key.pos.clone());
        let mut g = GroupDraft {
            name,
            members: Vec::new(),
        };
        for line in block {
            let member = self
                .no_block(line)
                .and_then(|()| expanded(line))
                .and_then(|()| {
                    GroupMember::from_words(&line.words()).map_err(|e| err(&line.key, e))
                });
            match member {
                Ok(m) => g.members.push(m),
                Err(e) => self.errors.push(e),
            }
        }
        self.draft.groups.push(g);
        Ok(())
    }

    fn pool(&mut self, n: &Node) -> Result<(), ConfigError> {
        let name = self.name(n)?;
        let block = self.lines(n)?;
        let i = self.draft.network.local_address_pool.len();
        self.pos.set(Locus::Pool(i), n.key.pos.clone());
        let mut p = PoolDraft {
            name,
            addresses: Vec::new(),
        };
        for line in block {
            let range = self
                .no_block(line)
                .and_then(|()| expanded(line))
                .and_then(|()| {
                    LaddrRange::from_words(&line.words())
                        .map_err(|e| err(&line.key, format!("invalid local address: {e}")))
                });
            match range {
                Ok(r) => p.addresses.push(r),
                Err(e) => self.errors.push(e),
            }
        }
        self.draft.network.local_address_pool.push(p);
        Ok(())
    }

    /// `static_ipaddress { ADDR[/LEN] [dev PORT] ... }`: the director's own
    /// addresses, `dev` naming a dataplane port (keepalived's interface);
    /// without `dev`, keepalived's default interface (`default_interface`,
    /// else `eth0`). keepalived's other words (`brd`, `scope`, `label` ...)
    /// are warned and ignored. A bad line is an error and only that address
    /// is lost.
    fn static_addresses(&mut self, n: &Node) -> Result<(), ConfigError> {
        let block = self.lines(n)?;
        for line in block {
            if let Err(e) = self.static_address(line) {
                self.errors.push(e);
            }
        }
        Ok(())
    }

    fn static_address(&mut self, line: &Node) -> Result<(), ConfigError> {
        self.no_block(line)?;
        expanded(line)?;
        let address: super::model::IfAddr = line
            .key
            .text
            .parse()
            .map_err(|e| err(&line.key, format!("invalid address: {e}")))?;
        let mut port = None;
        let mut words = line.args.iter();
        while let Some(w) = words.next() {
            match w.text.as_str() {
                "dev" => match words.next() {
                    Some(d) => port = Some(d.text.clone()),
                    None => return Err(err(w, "'dev' needs an interface (a dataplane port)")),
                },
                other => {
                    let m =
                        format!("static_ipaddress: '{other}' is not supported by rvs - ignoring");
                    self.warn(w, m);
                    // Its value, when it takes one.
                    if matches!(
                        other,
                        "brd" | "broadcast" | "scope" | "label" | "peer" | "track_group"
                    ) {
                        words.next();
                    }
                }
            }
        }
        let port = port.unwrap_or_else(|| {
            self.draft
                .global
                .default_interface
                .clone()
                .unwrap_or_else(|| DEFAULT_INTERFACE.to_string())
        });
        self.draft
            .network
            .address
            .push(super::model::PortAddress { port, address });
        Ok(())
    }

    /// `static_routes { [OPTIONS] [to] [TYPE] DST[/LEN]|default [OPTIONS] }`
    /// in keepalived's `ip route` grammar ([`super::iproute`]): rvs acts on
    /// the destination, `via` and `dev` (a dataplane port); other options
    /// are warned about and ignored, and a route of another type than
    /// unicast (`blackhole`, `unreachable` ...) is warned about and skipped.
    /// A line that does not parse is an error and only that route is lost.
    fn static_routes(&mut self, n: &Node) -> Result<(), ConfigError> {
        let block = self.lines(n)?;
        for line in block {
            if let Err(e) = self.static_route(line) {
                self.errors.push(e);
            }
        }
        Ok(())
    }

    fn static_route(&mut self, line: &Node) -> Result<(), ConfigError> {
        self.no_block(line)?;
        expanded(line)?;
        let words: Vec<Word> = std::iter::once(line.key.clone())
            .chain(line.args.iter().cloned())
            .collect();
        let p = super::iproute::parse(&words).map_err(|e| {
            let at = e.at.map_or(&line.key, |i| &words[i]);
            err(at, e.message)
        })?;
        for w in &p.ignored {
            let m = format!(
                "static_routes: '{}' is not supported by rvs - ignoring",
                w.text
            );
            self.warn(w, m);
        }
        if let Some(kind) = &p.kind {
            let m = format!("static_routes: a {kind} is not supported by rvs - ignoring the route");
            self.warn(&line.key, m);
            return Ok(());
        }
        if p.via.is_none() && p.dev.is_none() {
            return Err(err(
                &line.key,
                "a static route needs 'via GW' or 'dev PORT'",
            ));
        }
        self.draft.network.route.push(super::model::Route {
            dst: p.dst,
            via: p.via,
            port: p.dev,
        });
        Ok(())
    }

    /// `lb_kind`/`lvs_method` (and `sorry_server_lvs_method`):
    /// `NAT | DR | TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum] | FNAT`.
    fn method(
        &mut self,
        n: &Node,
    ) -> Result<Option<(ForwardName, Option<TunnelDraft>)>, ConfigError> {
        let Some((v, rest)) = n.args.split_first() else {
            self.value(n);
            return Ok(None);
        };
        let forward = match v.text.to_ascii_uppercase().as_str() {
            "NAT" => ForwardName::Masq,
            "DR" => ForwardName::Route,
            "TUN" => ForwardName::Tunnel,
            "FNAT" | "FULLNAT" => ForwardName::Fullnat,
            _ => return Err(err(v, format!("unknown {} '{}'", n.key.text, v.text))),
        };
        if forward != ForwardName::Tunnel {
            if let Some(extra) = rest.first() {
                let m = format!("'{}': extra argument '{}' ignored", n.key.text, extra.text);
                self.warn(extra, m);
            }
            return Ok(Some((forward, None)));
        }
        let mut t = TunnelDraft {
            kind: TunnelKindName::Ipip,
            port: 0,
            csum: CsumName::Nocsum,
        };
        let mut words = rest.iter();
        while let Some(w) = words.next() {
            match w.text.as_str() {
                "type" => {
                    let Some(k) = words.next() else {
                        return Err(err(w, "TUN type needs ipip, gue or gre"));
                    };
                    t.kind = match k.text.as_str() {
                        "ipip" => TunnelKindName::Ipip,
                        "gue" => TunnelKindName::Gue,
                        "gre" => TunnelKindName::Gre,
                        other => return Err(err(k, format!("unknown tunnel type '{other}'"))),
                    };
                }
                "port" => {
                    let Some(p) = words.next() else {
                        return Err(err(w, "TUN port needs a port"));
                    };
                    t.port = p
                        .text
                        .parse::<u16>()
                        .ok()
                        .filter(|&p| p > 0)
                        .ok_or_else(|| err(p, format!("invalid tunnel port '{}'", p.text)))?;
                }
                "nocsum" => t.csum = CsumName::Nocsum,
                "csum" => t.csum = CsumName::Csum,
                "remcsum" => t.csum = CsumName::Remcsum,
                other => return Err(err(w, format!("unexpected '{other}' in {}", n.key.text))),
            }
        }
        super::resolve::check_tunnel(&t.into()).map_err(|e| err(v, e))?;
        Ok(Some((forward, Some(t))))
    }

    /// `IP [PORT]` of a virtual, real or sorry server.
    fn addr_port(&self, what: &str, words: &[Word], key: &Word) -> Result<SocketAddr, ConfigError> {
        let Some(a) = words.first() else {
            return Err(err(key, format!("{what} needs an address")));
        };
        let ip: IpAddr = a
            .text
            .parse()
            .map_err(|_| err(a, format!("invalid {what} address '{}'", a.text)))?;
        let port = match words.get(1) {
            None => 0,
            Some(p) => p
                .text
                .parse::<u16>()
                .map_err(|_| err(p, format!("invalid {what} port '{}'", p.text)))?,
        };
        Ok(SocketAddr::new(ip, port))
    }

    #[allow(clippy::too_many_lines)]
    fn service(&mut self, n: &Node) -> Result<(), ConfigError> {
        let i = self.draft.services.len();
        self.pos.set(Locus::Service(i), n.key.pos.clone());
        let mut s = ServiceDraft::default();
        match n.args.first().map(|w| w.text.as_str()) {
            Some("fwmark") => {
                let Some(m) = n.args.get(1) else {
                    return Err(err(&n.key, "virtual_server fwmark needs a mark"));
                };
                let mark = m
                    .text
                    .parse::<u32>()
                    .ok()
                    .filter(|&m| m > 0)
                    .ok_or_else(|| err(m, format!("invalid firewall mark '{}'", m.text)))?;
                s.fwmark = Some(mark);
            }
            Some("group") => {
                let Some(g) = n.args.get(1) else {
                    return Err(err(&n.key, "virtual_server group needs a name"));
                };
                s.group = Some(g.text.clone());
            }
            _ => {
                let addr = self.addr_port("virtual server", &n.args, &n.key)?;
                s.address = Some(AddrPort(addr));
            }
        }
        let block = self.block(n)?;
        for n in block {
            let kw = n.key.text.as_str();
            let known = 'kw: {
                match kw {
                    "lb_algo" | "lvs_sched" => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        if !SCHEDULERS.contains(&v.text.as_str()) {
                            return Err(err(v, format!("unknown {kw} '{}'", v.text)));
                        }
                        s.scheduler = Some(v.text.clone());
                    }
                    "lb_kind" | "lvs_method" => {
                        if let Some((f, t)) = self.method(n)? {
                            s.forward = Some(f);
                            s.tunnel = t;
                        }
                    }
                    "ops" => {
                        if let Some(b) = self.boolean(n) {
                            s.one_packet = Some(b);
                        }
                    }
                    kw if rvs_api::sched_flag(kw).is_some() => {
                        let needs = rvs_api::sched_flag(kw).and_then(|f| f.scheduler);
                        if let Some(sched) = needs {
                            if s.scheduler.as_deref() != Some(sched) {
                                let m = format!(
                                    "'{kw}' is only valid after 'lb_algo {sched}' - ignoring"
                                );
                                self.warn(&n.key, m);
                                break 'kw true;
                            }
                        }
                        if !s.sched_flags.iter().any(|f| f == kw) {
                            s.sched_flags.push(kw.to_string());
                        }
                    }
                    "persistence_timeout" => match n.args.first() {
                        None => s.persistence_timeout = Some(PERSISTENT_TIMEOUT_DEFAULT_S),
                        Some(_) => {
                            if let Some(t) = self.number(n, 1u32, PERSISTENT_TIMEOUT_MAX_S) {
                                s.persistence_timeout = Some(t);
                            }
                        }
                    },
                    "persistence_granularity" => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        match Granularity::from_str(&v.text) {
                            Ok(g) => s.persistence_netmask = Some(g),
                            Err(e) => {
                                let m = format!("persistence_granularity: {e} - ignoring");
                                self.warn(v, m);
                            }
                        }
                    }
                    "persistence_engine" => {
                        s.persistence_engine = self.value(n).map(|v| v.text.clone())
                    }
                    "protocol" => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        s.protocol = Some(match v.text.to_ascii_uppercase().as_str() {
                            "TCP" => ProtocolName::Tcp,
                            "UDP" => ProtocolName::Udp,
                            "SCTP" => {
                                return Err(err(v, "protocol SCTP is not supported by rvs"));
                            }
                            _ => return Err(err(v, format!("unknown protocol '{}'", v.text))),
                        });
                    }
                    "delay_loop" => s.delay_loop = self.timer(n).or(s.delay_loop),
                    "connect_timeout" => s.connect_timeout = self.timer(n).or(s.connect_timeout),
                    "retry" => s.retry = self.number(n, 0u32, u32::MAX).or(s.retry),
                    "delay_before_retry" => {
                        s.delay_before_retry = self.timer(n).or(s.delay_before_retry)
                    }
                    "warmup" => s.warmup = self.timer(n).or(s.warmup),
                    "sorry_server" => {
                        // A bad sorry server is lost alone, as keepalived.
                        let addr = match self.addr_port("sorry server", &n.args, &n.key) {
                            Ok(a) => a,
                            Err(e) => {
                                self.errors.push(e);
                                break 'kw true;
                            }
                        };
                        self.pos.set(Locus::Sorry(i), n.key.pos.clone());
                        let old = s.sorry_server.take();
                        s.sorry_server = Some(SorryDraft {
                            address: AddrPort(addr),
                            forward: old.as_ref().and_then(|o| o.forward),
                            tunnel: old.as_ref().and_then(|o| o.tunnel),
                            inhibit: old.and_then(|o| o.inhibit),
                        });
                    }
                    "sorry_server_inhibit" => {
                        let b = self.boolean(n);
                        match &mut s.sorry_server {
                            Some(sorry) => sorry.inhibit = b,
                            None => self.warn(
                                &n.key,
                                "sorry_server_inhibit before sorry_server - ignoring",
                            ),
                        }
                    }
                    "sorry_server_lvs_method" => {
                        let m = self.method(n)?;
                        match (&mut s.sorry_server, m) {
                            (Some(sorry), Some((f, t))) => {
                                sorry.forward = Some(f);
                                sorry.tunnel = t;
                            }
                            (None, _) => self.warn(
                                &n.key,
                                "sorry_server_lvs_method before sorry_server - ignoring",
                            ),
                            _ => {}
                        }
                    }
                    "quorum" => s.quorum = self.number(n, 1u32, u32::MAX).or(s.quorum),
                    "hysteresis" => s.hysteresis = self.number(n, 0u32, u32::MAX).or(s.hysteresis),
                    "quorum_up" => s.quorum_up = self.command(n),
                    "quorum_down" => s.quorum_down = self.command(n),
                    "alpha" => s.alpha = self.boolean(n).or(s.alpha),
                    "omega" => s.omega = self.boolean(n).or(s.omega),
                    "inhibit_on_failure" => {
                        s.inhibit_on_failure = self.boolean(n).or(s.inhibit_on_failure)
                    }
                    "ha_suspend" => s.ha_suspend = self.boolean(n).or(s.ha_suspend),
                    "virtualhost" => s.virtualhost = self.value(n).map(|v| v.text.clone()),
                    "ip_family" => {
                        let Some(v) = self.value(n) else {
                            break 'kw true;
                        };
                        match v.text.as_str() {
                            "inet" => s.ip_family = Some(Family::Inet),
                            "inet6" => s.ip_family = Some(Family::Inet6),
                            other => {
                                let m =
                                    format!("ip_family '{other}' is not inet or inet6 - ignoring");
                                self.warn(v, m);
                            }
                        }
                    }
                    "weight" => s.weight = Some(self.weight(n)?),
                    "smtp_alert" => s.smtp_alert = self.boolean(n).or(s.smtp_alert),
                    "laddr_group_name" => s.laddr_pool = self.value(n).map(|v| v.text.clone()),
                    "bgp_community" => s
                        .bgp_communities
                        .extend(super::bgp::service_communities(n)?),
                    "real_server" => {
                        // A real server in error is lost alone, as
                        // keepalived skips its block.
                        let j = s.dest.len();
                        self.pos.set(Locus::Dest(i, j), n.key.pos.clone());
                        match self.dest(i, j, n) {
                            Ok(d) => s.dest.push(d),
                            Err(e) => self.errors.push(e),
                        }
                        break 'kw true;
                    }
                    _ => {
                        self.unknown(n);
                        break 'kw false;
                    }
                }
                true
            };
            if kw != "real_server" {
                self.after(n, known, &[])?;
            }
        }
        self.draft.services.push(s);
        Ok(())
    }

    /// A weight 0..2147483647: out of range is an error.
    fn weight(&mut self, n: &Node) -> Result<u32, ConfigError> {
        let Some(v) = n.args.first() else {
            return Err(err(&n.key, "weight needs a value"));
        };
        match v.text.parse::<u64>() {
            Ok(w) if w <= u64::from(WEIGHT_MAX) => Ok(w as u32),
            _ => Err(err(
                v,
                format!("weight '{}' is outside range 0..{WEIGHT_MAX}", v.text),
            )),
        }
    }

    fn dest(&mut self, i: usize, j: usize, n: &Node) -> Result<DestDraft, ConfigError> {
        expanded(n)?;
        let addr = self.addr_port("real server", &n.args, &n.key)?;
        let block = self.block(n)?;
        let mut d = DestDraft::new(addr);
        for n in block {
            let kw = n.key.text.as_str();
            if let Some(kind) = CheckKindName::from_keyword(kw) {
                // A checker in error is lost alone.
                let k = d.check.len();
                self.pos.set(Locus::Check(i, j, k), n.key.pos.clone());
                match self.check(kind, n) {
                    Ok(checks) => d.check.extend(checks),
                    Err(e) => self.errors.push(e),
                }
                continue;
            }
            if matches!(kw, "FILE_CHECK" | "BFD_CHECK") {
                self.unsupported(n);
                continue;
            }
            let known = 'kw: {
                match kw {
                    "weight" => d.weight = Some(self.weight(n)?),
                    "lvs_method" | "lb_kind" => {
                        if let Some((f, t)) = self.method(n)? {
                            d.forward = Some(f);
                            d.tunnel = t;
                        }
                    }
                    "inhibit_on_failure" => {
                        d.inhibit_on_failure = self.boolean(n).or(d.inhibit_on_failure)
                    }
                    "uthreshold" => {
                        d.u_threshold = self.number(n, 0u32, u32::MAX).or(d.u_threshold)
                    }
                    "lthreshold" => {
                        d.l_threshold = self.number(n, 0u32, u32::MAX).or(d.l_threshold)
                    }
                    "notify_up" => d.notify_up = self.command(n),
                    "notify_down" => d.notify_down = self.command(n),
                    "alpha" => d.alpha = self.boolean(n).or(d.alpha),
                    "retry" => d.retry = self.number(n, 0u32, u32::MAX).or(d.retry),
                    "delay_before_retry" => {
                        d.delay_before_retry = self.timer(n).or(d.delay_before_retry)
                    }
                    "warmup" => d.warmup = self.timer(n).or(d.warmup),
                    "delay_loop" => d.delay_loop = self.timer(n).or(d.delay_loop),
                    "connect_timeout" => d.connect_timeout = self.timer(n).or(d.connect_timeout),
                    "virtualhost" => d.virtualhost = self.value(n).map(|v| v.text.clone()),
                    "smtp_alert" => d.smtp_alert = self.boolean(n).or(d.smtp_alert),
                    _ => {
                        self.unknown(n);
                        break 'kw false;
                    }
                }
                true
            };
            self.after(n, known, &[])?;
        }
        Ok(d)
    }

    /// A checker block; an `SMTP_CHECK` with old `host { }` sub-blocks gives
    /// one checker per host.
    #[allow(clippy::too_many_lines)]
    fn check(&mut self, kind: CheckKindName, n: &Node) -> Result<Vec<CheckDraft>, ConfigError> {
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

    fn hex(&mut self, n: &Node, wild: bool) -> Option<String> {
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
    fn url(&mut self, n: &Node) -> Result<Option<Url>, ConfigError> {
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

/// vrrp_instance keywords that take a block.
const INSTANCE_BLOCKS: [&str; 6] = [
    "authentication",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "track_interface",
    "track_script",
    "unicast_peer",
];
