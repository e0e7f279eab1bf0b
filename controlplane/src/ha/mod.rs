//! VRRP in the control plane: each `vrrp_instance` of the
//! configuration is a [`rvs_vrrp::router::Router`] driven by a thread with a
//! raw protocol-112 socket on the instance's `interface`, which on a
//! director is the dataplane's exception interface: adverts travel the
//! dataplane's wire like any of the director's own traffic.
//!
//! Contract:
//! - IPv4 adverts go to 224.0.0.18 (or each `unicast_peer`) from the
//!   interface's primary address (or `unicast_src_ip`/`mcast_src_ip`),
//!   TTL 255, TOS 0xC0; received ones are checked by the router (TTL,
//!   version, VRID, authentication, interval, address list) with either
//!   IPv4 checksum convention accepted; each advert received and each
//!   dropped, by keepalived's reason, is counted per instance
//!   ([`VrrpCounters`], kept across reloads, shown in `/metrics`);
//! - every instance starts as backup, its VIPs released: the dataplane
//!   does not answer ARP for them ([`rvs_api::Request::ReleaseVips`]). On
//!   MASTER the VIPs are taken (answered for), `garp_master_repeat`
//!   gratuitous ARPs go out at once and as many again after
//!   `garp_master_delay`, and `notify_master` runs; BACKUP and FAULT
//!   release them and run their scripts. Each transition is logged once,
//!   with keepalived's words;
//! - the daemon keeps the released list as part of the desired state
//!   ([`Ha::released`]), so a restarted dataplane gets it back;
//! - stopping sends priority-0 adverts from the masters (a peer takes over
//!   after its skew time);
//! - `track_script` and `track_interface` (the instance's and its sync
//!   group's) set the router's effective priority and FAULT
//!   ([`crate::tracking`], [`rvs_vrrp::track`]); the members of a
//!   `vrrp_sync_group` follow each other (one in FAULT puts all in FAULT,
//!   one becoming MASTER or falling back to BACKUP takes the others along)
//!   and the group's notify scripts run when all members share a state.
//!
//! - an instance of IPv6 addresses is VRRPv3 over IPv6: adverts to
//!   ff02::12 (or its IPv6 unicast peers) from the interface's link-local
//!   address (or `unicast_src_ip`), hop limit 255, the IPv6 pseudo-header
//!   checksum; received ones carry their hop limit and destination as
//!   ancillary data. A new master sends unsolicited Neighbour
//!   Advertisements for its VIPs.
//!
//! Not yet: `use_vmac` (warned at start; the real MAC is used).

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rvs_vrrp::router::{Config, DropReason, State};
use rvs_vrrp::wire::{Auth, Version};

use crate::config::model::{AuthType, VrrpInstance};
use crate::config::Model;
use crate::tracking::Scripts;

mod run;
mod socket;

use run::Run;
use socket::source_address;

/// What the instances are, for the daemon and `/metrics`.
pub struct HaBoard {
    states: Mutex<Vec<Entry>>,
    /// Set on every transition: the daemon reconciles.
    pub changed: AtomicBool,
}

/// One instance on the board.
struct Entry {
    name: String,
    state: State,
    vips: Vec<IpAddr>,
    /// Its own trackers put it in FAULT (not its sync group's).
    own_fault: bool,
}

impl HaBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The VIPs of the instances that are not MASTER.
    pub fn released(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = self
            .lock()
            .iter()
            .filter(|e| e.state != State::Master)
            .flat_map(|e| e.vips.iter().copied())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// (instance, state) of each.
    pub fn states(&self) -> Vec<(String, State)> {
        self.lock()
            .iter()
            .map(|e| (e.name.clone(), e.state))
            .collect()
    }

    fn set(&self, i: usize, state: State) {
        if let Some(e) = self.lock().get_mut(i) {
            e.state = state;
        }
        self.changed.store(true, Ordering::Relaxed);
    }

    fn set_own_fault(&self, i: usize, fault: bool) {
        if let Some(e) = self.lock().get_mut(i) {
            e.own_fault = fault;
        }
    }

    /// (state, own fault) of each instance named in `names`.
    fn members(&self, names: &[String]) -> Vec<(String, State, bool)> {
        self.lock()
            .iter()
            .filter(|e| names.contains(&e.name))
            .map(|e| (e.name.clone(), e.state, e.own_fault))
            .collect()
    }
}

/// Adverts each instance received and dropped (by reason), since the
/// daemon started: the metrics thread reads it, reloads keep it.
#[derive(Debug, Default)]
pub struct VrrpCounters {
    inner: Mutex<std::collections::BTreeMap<String, InstanceCounts>>,
}

/// One instance's count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceCounts {
    /// Adverts that reached the instance's socket (before any check).
    pub received: u64,
    /// Adverts dropped, by reason.
    pub dropped: std::collections::BTreeMap<DropReason, u64>,
}

impl VrrpCounters {
    fn with(&self, instance: &str, f: impl FnOnce(&mut InstanceCounts)) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(instance.to_string()).or_default());
    }

    pub fn received(&self, instance: &str) {
        self.with(instance, |c| c.received += 1);
    }

    pub fn dropped(&self, instance: &str, why: DropReason) {
        self.with(instance, |c| *c.dropped.entry(why).or_default() += 1);
    }

    /// (instance, counts) of each instance that received anything.
    pub fn get(&self) -> Vec<(String, InstanceCounts)> {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// The running instances.
pub struct Ha {
    pub board: Arc<HaBoard>,
    scripts: Arc<Scripts>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The configuration they run, to tell whether a reload changes it.
    pub instances: Vec<VrrpInstance>,
}

impl Ha {
    /// Start the IPv4 instances of `model`; `socket` is the dataplane's
    /// admin socket (for the VIP lists and the announcements).
    pub fn start(model: &Model, socket: &str, counters: &Arc<VrrpCounters>) -> Ha {
        let board = Arc::new(HaBoard {
            states: Mutex::new(vec![]),
            changed: AtomicBool::new(false),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let scripts = Arc::new(Scripts::start(model));
        let mut threads = vec![];
        for inst in &model.vrrp.instances {
            let vips: Vec<IpAddr> = inst
                .virtual_ipaddress
                .iter()
                .map(|v| v.address.addr)
                .collect();
            let v6 = vips.first().is_some_and(IpAddr::is_ipv6);
            if vips.iter().any(|a| a.is_ipv6() != v6) {
                tracing::error!(instance = %inst.name, "IPv4 and IPv6 addresses in one instance - not started");
                continue;
            }
            let Some(iface) = inst.interface.clone() else {
                tracing::error!(instance = %inst.name, "no interface - not started");
                continue;
            };
            let given = inst
                .unicast_src_ip
                .or(inst.mcast_src_ip)
                .filter(|a| a.is_ipv6() == v6);
            let Some(src) = given.or_else(|| source_address(&iface, v6)) else {
                let kind = if v6 { "IPv6 link-local" } else { "IPv4" };
                tracing::error!(instance = %inst.name, %iface, "the interface has no {kind} address - not started");
                continue;
            };
            let idx = {
                let mut st = board.lock();
                st.push(Entry {
                    name: inst.name.clone(),
                    state: State::Backup,
                    vips: vips.clone(),
                    own_fault: false,
                });
                st.len() - 1
            };
            let group = model
                .vrrp
                .sync_groups
                .iter()
                .find(|g| g.group.contains(&inst.name))
                .cloned();
            let cfg = router_config(inst, src, vips);
            let run = Run {
                inst: inst.clone(),
                cfg,
                iface,
                src,
                board: Arc::clone(&board),
                idx,
                stop: Arc::clone(&stop),
                socket: socket.to_string(),
                scripts: Arc::clone(&scripts),
                group,
                counters: Arc::clone(counters),
            };
            match std::thread::Builder::new()
                .name(format!("vrrp-{}", inst.virtual_router_id))
                .spawn(move || run.run())
            {
                Ok(t) => threads.push(t),
                Err(e) => tracing::error!(instance = %inst.name, error = %e, "cannot start"),
            }
        }
        board.changed.store(true, Ordering::Relaxed);
        Ha {
            board,
            scripts,
            stop,
            threads,
            instances: model.vrrp.instances.clone(),
        }
    }

    /// The VIPs the dataplane must not answer for now.
    pub fn released(&self) -> Vec<IpAddr> {
        self.board.released()
    }

    /// Stop every instance: masters send a priority-0 advert.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.scripts.stop();
    }
}

impl Drop for Ha {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The router settings of a `vrrp_instance`.
pub fn router_config(inst: &VrrpInstance, addr: IpAddr, vips: Vec<IpAddr>) -> Config {
    let version = if inst.version == 3 {
        Version::V3
    } else {
        Version::V2
    };
    let mut c = Config::new(version, inst.virtual_router_id, inst.priority, addr, vips);
    c.interval = match version {
        Version::V2 => (inst.advert_int_cs / 100).clamp(1, 255) as u16,
        Version::V3 => inst.advert_int_cs.clamp(1, 4095) as u16,
    };
    c.preempt = !inst.nopreempt;
    c.preempt_delay_us = inst.preempt_delay.as_micros() as u64;
    c.unicast = !inst.unicast_peer.is_empty();
    c.auth = match &inst.authentication {
        Some(a) if version == Version::V2 && a.kind == AuthType::Pass => Auth::pass(&a.pass),
        Some(_) if version == Version::V2 => {
            tracing::warn!(instance = %inst.name, "auth_type AH is not supported by rvs - no authentication");
            Auth::None
        }
        _ => Auth::None,
    };
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_become_router_settings() {
        let text = "vrrp_instance VI_1 {\n state BACKUP\n interface rvs0\n virtual_router_id 51\n priority 150\n \
                    advert_int 2\n nopreempt\n authentication {\n  auth_type PASS\n  auth_pass secret99\n }\n \
                    virtual_ipaddress {\n  198.18.0.120/24\n }\n}\n";
        let (m, _) = crate::config::parse(
            text,
            std::path::Path::new("/test/keepalived.conf"),
            crate::config::Dialect::Keepalived,
        )
        .unwrap();
        let inst = &m.vrrp.instances[0];
        let c = router_config(
            inst,
            "198.18.0.2".parse().unwrap(),
            vec!["198.18.0.120".parse().unwrap()],
        );
        assert_eq!(
            (c.version, c.vrid, c.priority, c.interval),
            (Version::V2, 51, 150, 2)
        );
        assert!(!c.preempt);
        assert_eq!(c.auth, Auth::pass("secret99"));
    }
}
