//! VRRP resolved: scripts, sync groups and instances with keepalived's
//! derivations (priority from state, advert interval, authentication).

use super::Resolver;
use crate::config::draft::Locus;
use crate::config::draft::{Draft, VrrpInstanceDraft, VrrpScriptDraft};
use crate::config::error::ConfigError;
use crate::config::model::{Global, Vrrp, VrrpInstance, VrrpScript, VrrpState};
use std::time::Duration;

impl Resolver<'_> {
    pub(super) fn vrrp(&mut self, draft: &Draft) -> Vrrp {
        let v = &draft.vrrp;
        let mut scripts = Vec::new();
        for (i, s) in v.script.iter().enumerate() {
            match self.script(i, s) {
                Ok(s) => scripts.push(s),
                Err(e) => self.errors.push(e),
            }
        }
        let mut instances = Vec::new();
        for (i, inst) in v.instance.iter().enumerate() {
            if v.instance[..i].iter().any(|o| o.name == inst.name) {
                let e = self.error(
                    Locus::Instance(i),
                    format!("vrrp_instance '{}' is defined twice", inst.name),
                );
                self.errors.push(e);
                continue;
            }
            match self.instance(i, inst, &draft.global) {
                Ok(inst) => instances.push(inst),
                Err(e) => self.errors.push(e),
            }
        }
        for (i, g) in v.sync_group.iter().enumerate() {
            for member in &g.group {
                if !instances
                    .iter()
                    .any(|inst: &VrrpInstance| &inst.name == member)
                {
                    self.warn(
                        Locus::SyncGroup(i),
                        format!(
                            "vrrp_sync_group {}: vrrp_instance '{member}' is not defined",
                            g.name
                        ),
                    );
                }
            }
        }
        Vrrp {
            scripts,
            sync_groups: v.sync_group.clone(),
            instances,
        }
    }

    pub(super) fn script(
        &mut self,
        i: usize,
        s: &VrrpScriptDraft,
    ) -> Result<VrrpScript, ConfigError> {
        let Some(script) = s.script.clone().filter(|c| !c.is_empty()) else {
            return Err(self.error(
                Locus::Script(i),
                format!("vrrp_script {} has no script", s.name),
            ));
        };
        let weight = s.weight.unwrap_or(0);
        if !(-253..=253).contains(&weight) {
            return Err(self.error(
                Locus::Script(i),
                format!(
                    "vrrp_script {}: weight {weight} is outside range -253..253",
                    s.name
                ),
            ));
        }
        let interval = s.interval.unwrap_or(Duration::from_secs(1));
        Ok(VrrpScript {
            name: s.name.clone(),
            script,
            interval,
            timeout: s.timeout.unwrap_or(interval),
            weight,
            reverse: s.reverse.unwrap_or(false),
            rise: s.rise.unwrap_or(1).max(1),
            fall: s.fall.unwrap_or(1).max(1),
            user: s.user.clone(),
            init_fail: s.init_fail.unwrap_or(false),
        })
    }

    pub(super) fn instance(
        &mut self,
        i: usize,
        d: &VrrpInstanceDraft,
        global: &Global,
    ) -> Result<VrrpInstance, ConfigError> {
        let here = Locus::Instance(i);
        let name = &d.name;
        let virtual_router_id = match d.virtual_router_id {
            Some(id) if id >= 1 => id,
            Some(id) => {
                return Err(self.error(
                    here,
                    format!("vrrp_instance {name}: virtual_router_id {id} is outside range 1..255"),
                ))
            }
            None => {
                return Err(self.error(
                    here,
                    format!("vrrp_instance {name} has no virtual_router_id"),
                ))
            }
        };
        if d.priority == Some(0) {
            return Err(self.error(
                here,
                format!("vrrp_instance {name}: priority 0 is outside range 1..255"),
            ));
        }
        // keepalived: no priority + MASTER = the address owner (255); no
        // priority otherwise = 100; no state = MASTER iff priority 255.
        let priority = d.priority.unwrap_or(match d.state {
            Some(VrrpState::Master) => 255,
            _ => 100,
        });
        let state = d.state.unwrap_or(if priority == 255 {
            VrrpState::Master
        } else {
            VrrpState::Backup
        });
        // keepalived takes the instance's family from virtual_ipaddress
        // alone: excluded addresses are not advertised, so IPv6 ones in an
        // IPv4 instance leave it on VRRPv2 (with its authentication).
        let advertised_v6 = d.virtual_ipaddress.iter().any(|v| v.address.addr.is_ipv6());
        let version = d.version.unwrap_or(if advertised_v6 {
            3
        } else {
            global.vrrp_version
        });
        if version != 2 && version != 3 {
            return Err(self.error(
                here,
                format!("vrrp_instance {name}: version {version} is not 2 or 3"),
            ));
        }
        if version == 2 && advertised_v6 {
            return Err(self.error(
                here,
                format!("vrrp_instance {name}: VRRP version 2 cannot advertise IPv6 addresses"),
            ));
        }
        let advert = d.advert_int.unwrap_or(Duration::from_secs(1));
        let advert_int_cs = if version == 2 {
            let secs = (advert.as_secs_f64()).round().clamp(1.0, 255.0) as u32;
            secs * 100
        } else {
            let cs = (advert.as_secs_f64() * 100.0).round();
            if cs > 4095.0 {
                self.warn(
                    here,
                    format!("vrrp_instance {name}: advert_int is above 40.95 s for VRRPv3 - using 40.95"),
                );
            }
            cs.clamp(1.0, 4095.0) as u32
        };
        let mut nopreempt = d.nopreempt.unwrap_or(false);
        if nopreempt && priority == 255 {
            self.warn(
                here,
                format!("vrrp_instance {name}: nopreempt is incompatible with priority 255 - clearing nopreempt"),
            );
            nopreempt = false;
        }
        let authentication = match &d.authentication {
            None => None,
            Some(_) if version == 3 || global.vrrp_strict => {
                self.warn(
                    here,
                    format!(
                        "vrrp_instance {name}: authentication is ignored with {} - none used",
                        if version == 3 {
                            "VRRPv3"
                        } else {
                            "vrrp_strict"
                        }
                    ),
                );
                None
            }
            Some(a) if a.pass.is_empty() => {
                self.warn(
                    here,
                    format!("vrrp_instance {name}: auth_pass is empty - authentication ignored"),
                );
                None
            }
            Some(a) => {
                let mut a = a.clone();
                if a.pass.chars().count() > 8 {
                    self.warn(
                        here,
                        format!("vrrp_instance {name}: auth_pass is longer than 8 characters - truncating"),
                    );
                    a.pass = a.pass.chars().take(8).collect();
                }
                Some(a)
            }
        };
        Ok(VrrpInstance {
            name: name.clone(),
            state,
            interface: d.interface.clone(),
            virtual_router_id,
            priority,
            advert_int_cs,
            version,
            nopreempt,
            preempt_delay: d.preempt_delay.unwrap_or(Duration::ZERO),
            authentication,
            virtual_ipaddress: d.virtual_ipaddress.clone(),
            virtual_ipaddress_excluded: d.virtual_ipaddress_excluded.clone(),
            track_interface: d.track_interface.clone(),
            track_script: d.track_script.clone(),
            notify_master: d.notify_master.clone(),
            notify_backup: d.notify_backup.clone(),
            notify_fault: d.notify_fault.clone(),
            notify_stop: d.notify_stop.clone(),
            notify: d.notify.clone(),
            unicast_src_ip: d.unicast_src_ip,
            unicast_peer: d.unicast_peer.clone(),
            mcast_src_ip: d.mcast_src_ip,
            garp_master_delay_s: d
                .garp_master_delay
                .unwrap_or(global.vrrp_garp_master_delay_s),
            garp_master_repeat: d
                .garp_master_repeat
                .unwrap_or(global.vrrp_garp_master_repeat),
            garp_master_refresh_s: d
                .garp_master_refresh
                .unwrap_or(global.vrrp_garp_master_refresh_s),
            dont_track_primary: d.dont_track_primary.unwrap_or(false),
            accept: d.accept.unwrap_or(!global.vrrp_strict),
            smtp_alert: d.smtp_alert,
        })
    }
}
