//! `vrrp_script`, `vrrp_sync_group` and `vrrp_instance` (§A.4–A.6), with
//! their tracks, virtual addresses and authentication.

use std::time::Duration;

use super::words::expanded;
use super::words::{err, Cx};
use crate::config::draft::Locus;
use crate::config::draft::{VrrpInstanceDraft, VrrpScriptDraft};
use crate::config::error::ConfigError;
use crate::config::lexer::{Node, Word};
use crate::config::model::{
    Auth, AuthType, IfAddr, SyncDaemon, SyncGroup, Track, UnicastPeer, VirtualIp, VrrpState,
};

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

/// vrrp_instance keywords that take a block.
const INSTANCE_BLOCKS: [&str; 6] = [
    "authentication",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "track_interface",
    "track_script",
    "unicast_peer",
];

impl Cx<'_> {
    pub(super) fn vrrp_script(&mut self, n: &Node) -> Result<(), ConfigError> {
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
    pub(super) fn track_weight(&mut self, n: &Node, words: &[Word]) -> Option<(i32, bool)> {
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
    pub(super) fn tracks(&mut self, n: &Node) -> Result<Vec<Track>, ConfigError> {
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

    pub(super) fn sync_group(&mut self, n: &Node) -> Result<(), ConfigError> {
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
    pub(super) fn vips(&mut self, n: &Node) -> Result<Vec<VirtualIp>, ConfigError> {
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
    pub(super) fn instance(&mut self, n: &Node) -> Result<(), ConfigError> {
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
                    _ => break 'kw self.not_ours(n, INSTANCE_UNSUPPORTED),
                }
                true
            };
            self.after(n, known, &INSTANCE_BLOCKS)?;
        }
        self.draft.vrrp.instance.push(d);
        Ok(())
    }

    pub(super) fn auth(&mut self, n: &Node) -> Result<Option<Auth>, ConfigError> {
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn vrrp_derivations() {
        let inst = |body: &str| {
            let text = format!("vrrp_instance V {{\n virtual_router_id 1\n{body}\n}}\n");
            parse_ok(&text)
        };
        // Part C 4: priority from state.
        assert_eq!(inst(" state MASTER").0.vrrp.instances[0].priority, 255);
        assert_eq!(inst(" state BACKUP").0.vrrp.instances[0].priority, 100);
        assert_eq!(
            inst(" priority 255").0.vrrp.instances[0].state,
            VrrpState::Master
        );
        // Part C 5: eight characters on the wire; none with VRRPv3.
        let (m, w) = inst(" authentication {\n  auth_type PASS\n  auth_pass 123456789\n }");
        assert_eq!(
            m.vrrp.instances[0].authentication.as_ref().unwrap().pass,
            "12345678"
        );
        assert_eq!(
        messages(&w),
        ["/nonexistent/test.conf:1:1: vrrp_instance V: auth_pass is longer than 8 characters - truncating"]
    );
        let (m, _) = inst(" version 3\n authentication {\n  auth_type PASS\n  auth_pass 1234\n }");
        assert_eq!(m.vrrp.instances[0].authentication, None);
        // Part C 6: advert_int 1.4 is 1 s with v2, 140 cs with v3.
        assert_eq!(
            inst(" advert_int 1.4").0.vrrp.instances[0].advert_int_cs,
            100
        );
        assert_eq!(
            inst(" advert_int 1.4\n version 3").0.vrrp.instances[0].advert_int_cs,
            140
        );
        // IPv6 addresses make an instance VRRPv3.
        let (m, _) = inst(" virtual_ipaddress {\n  2001:db8::1/64\n }");
        assert_eq!(m.vrrp.instances[0].version, 3);
        let e = parse("vrrp_instance V {\n state MASTER\n}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/test.conf:1:1: vrrp_instance V has no virtual_router_id"
        );
    }
}
