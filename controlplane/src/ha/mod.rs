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
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::model::VrrpInstance;
use crate::config::Model;
use crate::tracking::Scripts;

mod board;
mod run;
mod socket;

pub use board::{HaBoard, InstanceCounts, VrrpCounters};
pub use run::router_config;
use run::Run;
use socket::source_address;

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
        let board = Arc::new(HaBoard::new());
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
            let idx = board.add(&inst.name, vips.clone());
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
