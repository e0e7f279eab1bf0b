//! One VRRP instance's thread: the sans-IO [`Router`] fed with the adverts
//! of its socket, its timers, and what its trackers and sync group say;
//! its actions sent, logged, announced to the dataplane and handed to the
//! notify scripts.

#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvs_vrrp::router::{Action, Config, DropReason, Input, Router, State};
use rvs_vrrp::wire::{self, Auth, Checksum, Path, Version};
use socket2::{SockAddr, Socket};

use super::board::{HaBoard, VrrpCounters};
use super::socket;
use crate::config::model::{AuthType, SyncGroup, VrrpInstance};
use crate::tracking::Scripts;

/// One instance's thread.
pub(super) struct Run {
    pub(super) inst: VrrpInstance,
    pub(super) cfg: Config,
    pub(super) iface: String,
    pub(super) src: IpAddr,
    pub(super) board: Arc<HaBoard>,
    pub(super) idx: usize,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) socket: String,
    pub(super) scripts: Arc<Scripts>,
    /// The sync group this instance belongs to.
    pub(super) group: Option<SyncGroup>,
    pub(super) counters: Arc<VrrpCounters>,
}

/// What the trackers and the sync group last told the router.
pub(super) struct Tracked {
    pub(super) priority: u8,
    pub(super) fault: bool,
    /// The other members' states as last seen.
    pub(super) members: Vec<(String, State)>,
}

impl Run {
    /// Feed the router what changed in its trackers and its sync group
    /// (`rvs_vrrp::track`; keepalived's sync-group rules: a member in
    /// FAULT puts all in FAULT, one becoming MASTER or falling back to
    /// BACKUP takes the others along).
    fn track(&self, router: &Router, seen: &mut Tracked) -> Vec<Input> {
        let mut scripts = self.inst.track_script.clone();
        let mut ifaces = self.inst.track_interface.clone();
        if let Some(g) = &self.group {
            scripts.extend(g.track_script.iter().cloned());
            ifaces.extend(g.track_interface.iter().cloned());
        }
        let trackers = self.scripts.trackers(&scripts, &ifaces);
        let (priority, own_fault) =
            rvs_vrrp::track::effective(self.inst.priority, &trackers, self.group.is_some());
        self.board.set_own_fault(self.idx, own_fault);
        let mut inputs = vec![];
        if priority != seen.priority {
            tracing::info!(instance = %self.inst.name, from = seen.priority, to = priority, "effective priority changed");
            seen.priority = priority;
            inputs.push(Input::Priority(priority));
        }
        let mut fault = own_fault;
        if let Some(g) = &self.group {
            let others: Vec<(String, State, bool)> = self
                .board
                .members(&g.group)
                .into_iter()
                .filter(|(n, _, _)| *n != self.inst.name)
                .collect();
            fault |= others.iter().any(|(_, _, f)| *f);
            for (name, state, _) in &others {
                let before = seen
                    .members
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, s)| *s);
                if before == Some(*state) {
                    continue;
                }
                match (before, *state, router.state()) {
                    (_, State::Master, State::Backup) => inputs.push(Input::GroupMaster),
                    (Some(State::Master), State::Backup, State::Master) => {
                        inputs.push(Input::GroupBackup)
                    }
                    _ => {}
                }
            }
            seen.members = others.into_iter().map(|(n, s, _)| (n, s)).collect();
        }
        if fault != seen.fault {
            seen.fault = fault;
            inputs.push(Input::Fault(fault));
        }
        inputs
    }

    /// The sync group's notify script for `state`, run by the member whose
    /// transition brought the whole group to it.
    fn group_notify(&self, state: State) {
        let Some(g) = &self.group else { return };
        if self
            .board
            .members(&g.group)
            .iter()
            .all(|(_, s, _)| *s == state)
        {
            tracing::info!(group = %g.name, ?state, "sync group changed state");
            script(match state {
                State::Master => g.notify_master.as_deref(),
                State::Backup => g.notify_backup.as_deref(),
                State::Fault => g.notify_fault.as_deref(),
                State::Initialize => None,
            });
        }
    }

    pub(super) fn run(self) {
        let sock = match socket::open(self.src, &self.iface, self.cfg.unicast) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(instance = %self.inst.name, iface = %self.iface, error = %e, "cannot open the VRRP socket");
                return;
            }
        };
        // A backup holds none (an earlier run may have left them).
        self.kernel_vips(false);
        let t0 = Instant::now();
        let now = || t0.elapsed().as_micros() as u64;
        let mut router = Router::new(self.cfg.clone());
        let mut second_garp: Option<u64> = None;
        let mut tracked = Tracked {
            priority: self.inst.priority,
            fault: false,
            members: vec![],
        };
        let acts = router.handle(now(), Input::Start);
        self.act(&sock, &router, acts, now(), &mut second_garp);
        let mut buf = [0u8; 2048];
        let mut drops = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            let t = now();
            let wait = router
                .deadline()
                .map_or(100_000, |d| d.saturating_sub(t))
                .clamp(1_000, 100_000);
            let _ = sock.set_read_timeout(Some(Duration::from_micros(wait)));
            if let Some((src, dst, ttl, msg)) = socket::receive(&sock, self.src.is_ipv6(), &mut buf)
            {
                {
                    let path = Path { src, dst };
                    self.counters.received(&self.inst.name);
                    match wire::decode(msg, src.is_ipv6(), Some(&path), Checksum::Either) {
                        Ok(advert) => {
                            let acts = router.handle(now(), Input::Advert { src, ttl, advert });
                            self.act(&sock, &router, acts, now(), &mut second_garp);
                        }
                        Err(e) => {
                            self.counters
                                .dropped(&self.inst.name, DropReason::of_wire(&e));
                            drops += 1;
                            if drops.is_power_of_two() {
                                tracing::warn!(instance = %self.inst.name, %src, error = %e, drops, "advert dropped");
                            }
                        }
                    }
                }
            }
            let t = now();
            if router.deadline().is_some_and(|d| t >= d) {
                let acts = router.handle(t, Input::Tick);
                self.act(&sock, &router, acts, t, &mut second_garp);
            }
            for input in self.track(&router, &mut tracked) {
                let acts = router.handle(t, input);
                self.act(&sock, &router, acts, t, &mut second_garp);
            }
            if second_garp.is_some_and(|d| t >= d) {
                second_garp = None;
                if router.state() == State::Master {
                    self.announce();
                }
            }
        }
        let acts = router.handle(now(), Input::Shutdown);
        self.act(&sock, &router, acts, now(), &mut second_garp);
        self.board.set(self.idx, State::Initialize);
        self.kernel_vips(false);
    }

    fn act(
        &self,
        sock: &Socket,
        router: &Router,
        acts: Vec<Action>,
        now: u64,
        second_garp: &mut Option<u64>,
    ) {
        for a in acts {
            match a {
                Action::Send(advert) => {
                    let v6 = self.src.is_ipv6();
                    let peers: Vec<IpAddr> = if self.cfg.unicast {
                        self.inst
                            .unicast_peer
                            .iter()
                            .map(|p| p.address)
                            .filter(|a| a.is_ipv6() == v6)
                            .collect()
                    } else if v6 {
                        vec![IpAddr::V6(wire::GROUP_V6)]
                    } else {
                        vec![IpAddr::V4(wire::GROUP_V4)]
                    };
                    let idx = if v6 { socket::ifindex(&self.iface) } else { 0 };
                    for dst in peers {
                        let path = Path { src: self.src, dst };
                        let bytes = wire::encode(&advert, Some(&path), Checksum::PseudoHeader);
                        let to = SockAddr::from(match dst {
                            IpAddr::V4(d) => SocketAddr::V4(SocketAddrV4::new(d, 0)),
                            IpAddr::V6(d) => SocketAddr::V6(SocketAddrV6::new(d, 0, 0, idx)),
                        });
                        if let Err(e) = sock.send_to(&bytes, &to) {
                            tracing::warn!(instance = %self.inst.name, %dst, error = %e, "cannot send an advert");
                        }
                    }
                }
                Action::BecomeMaster => {
                    tracing::info!(instance = %self.inst.name, priority = router.priority(), "Entering MASTER STATE");
                    self.board.set(self.idx, State::Master);
                    self.release();
                    self.announce();
                    self.kernel_vips(true);
                    *second_garp = Some(now + u64::from(self.inst.garp_master_delay_s) * 1_000_000);
                    script(self.inst.notify_master.as_deref());
                    self.group_notify(State::Master);
                }
                Action::BecomeBackup => {
                    tracing::info!(instance = %self.inst.name, "Entering BACKUP STATE");
                    self.board.set(self.idx, State::Backup);
                    self.release();
                    self.kernel_vips(false);
                    script(self.inst.notify_backup.as_deref());
                    self.group_notify(State::Backup);
                }
                Action::BecomeFault => {
                    tracing::warn!(instance = %self.inst.name, "Entering FAULT STATE");
                    self.board.set(self.idx, State::Fault);
                    self.release();
                    self.kernel_vips(false);
                    script(self.inst.notify_fault.as_deref());
                    self.group_notify(State::Fault);
                }
                Action::Dropped(why) => {
                    self.counters.dropped(&self.inst.name, why);
                    tracing::warn!(instance = %self.inst.name, reason = why.label(), "advert dropped: {}", why.message());
                }
            }
        }
    }

    /// The VIPs on the kernel's interface (`dev`, else the instance's), as
    /// keepalived puts them there: a master has them, so the director's
    /// kernel answers for an address no service has (the real servers'
    /// gateway of a NAT pair); services' VIPs are answered by the
    /// dataplane before the kernel sees the ARP.
    fn kernel_vips(&self, add: bool) {
        for v in &self.inst.virtual_ipaddress {
            let dev = v.dev.as_deref().unwrap_or(&self.iface);
            let addr = v.address.to_string();
            let verb = if add { "replace" } else { "del" };
            let mut args = vec!["addr", verb, &addr, "dev", dev];
            if add && v.address.addr.is_ipv6() {
                // Usable at once (the peer held it a moment ago).
                args.push("nodad");
            }
            let done = std::process::Command::new("ip")
                .args(&args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            match done {
                Ok(s) if s.success() || !add => {}
                Ok(s) => tracing::warn!(%addr, %dev, %s, "cannot add the VIP to the interface"),
                Err(e) => tracing::warn!(%addr, %dev, error = %e, "cannot run ip"),
            }
        }
    }

    /// Tell the dataplane which VIPs are not ours now.
    fn release(&self) {
        let released = self.board.released();
        if let Err(e) = rvs_api::call(&self.socket, rvs_api::Request::ReleaseVips(released)) {
            tracing::warn!(error = ?e, "cannot update the dataplane's VIPs (the daemon will retry)");
        }
    }

    /// `garp_master_repeat` gratuitous ARPs for each VIP.
    fn announce(&self) {
        for _ in 0..self.inst.garp_master_repeat.max(1) {
            if let Err(e) = rvs_api::call(
                &self.socket,
                rvs_api::Request::Announce(self.cfg.vips.clone()),
            ) {
                tracing::warn!(error = ?e, "cannot announce the VIPs");
                return;
            }
        }
    }
}

/// A notify script, started and not waited for (a thread reaps it).
fn script(cmd: Option<&str>) {
    let Some(cmd) = cmd else {
        return;
    };
    let cmd = cmd.to_string();
    let _ = std::thread::Builder::new()
        .name("vrrp-notify".into())
        .spawn(move || {
            match std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&cmd)
                .status()
            {
                Ok(s) if !s.success() => tracing::warn!(command = %cmd, %s, "notify script failed"),
                Err(e) => {
                    tracing::warn!(command = %cmd, error = %e, "cannot run the notify script")
                }
                _ => {}
            }
        });
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
    use crate::config::Model;

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

    /// The model of `text`, an empty board and its scripts.
    fn setup(text: &str) -> (Model, Arc<HaBoard>, Arc<Scripts>) {
        let (m, _) = crate::config::parse(
            text,
            std::path::Path::new("k.conf"),
            crate::config::Dialect::Keepalived,
        )
        .unwrap();
        let board = Arc::new(HaBoard::new());
        let scripts = Arc::new(Scripts::start(&m));
        (m, board, scripts)
    }

    /// Instance `i` of `m` on `board` as its thread would run it (no
    /// socket), and the trackers' memory it starts with.
    fn run_of(m: &Model, i: usize, board: &Arc<HaBoard>, scripts: &Arc<Scripts>) -> (Run, Tracked) {
        let inst = m.vrrp.instances[i].clone();
        assert_eq!(board.add(&inst.name, vec![]), i);
        let run = Run {
            cfg: router_config(&inst, "10.0.0.1".parse().unwrap(), vec![]),
            group: m
                .vrrp
                .sync_groups
                .iter()
                .find(|g| g.group.contains(&inst.name))
                .cloned(),
            inst,
            iface: "lo".into(),
            src: "10.0.0.1".parse().unwrap(),
            board: Arc::clone(board),
            idx: i,
            stop: Arc::new(AtomicBool::new(false)),
            socket: String::new(),
            scripts: Arc::clone(scripts),
            counters: Arc::default(),
        };
        let seen = Tracked {
            priority: 100,
            fault: false,
            members: vec![],
        };
        (run, seen)
    }

    /// Two instances of a sync group on one board, driven as their threads
    /// drive them.
    #[test]
    fn sync_group_members_follow_each_other() {
        let (m, board, scripts) = setup(
            "vrrp_sync_group G {\n group {\n VI_A\n VI_B\n }\n}\n\
             vrrp_instance VI_A {\n interface lo\n virtual_router_id 1\n priority 100\n \
             virtual_ipaddress {\n 198.18.0.121\n }\n track_interface {\n no-such-if0 weight -20\n }\n}\n\
             vrrp_instance VI_B {\n interface lo\n virtual_router_id 2\n priority 100\n \
             virtual_ipaddress {\n 198.18.0.122\n }\n}\n",
        );
        let (a, mut seen_a) = run_of(&m, 0, &board, &scripts);
        let (b, mut seen) = run_of(&m, 1, &board, &scripts);
        let mut rb = Router::new(b.cfg.clone());
        rb.handle(0, Input::Start);
        // A's tracked interface is down, but its weight is ignored in a
        // group: no priority change, no fault.
        let ra = Router::new(a.cfg.clone());
        assert!(a.track(&ra, &mut seen_a).is_empty());
        assert!(b.track(&rb, &mut seen).is_empty());
        // A becomes MASTER: B follows.
        board.set(0, State::Master);
        assert_eq!(b.track(&rb, &mut seen), vec![Input::GroupMaster]);
        rb.handle(1, Input::GroupMaster);
        assert!(b.track(&rb, &mut seen).is_empty(), "once per change");
        // A falls back: so does B.
        board.set(0, State::Backup);
        assert_eq!(b.track(&rb, &mut seen), vec![Input::GroupBackup]);
        // A's own fault puts B in FAULT, and its recovery takes B out.
        board.set_own_fault(0, true);
        board.set(0, State::Fault);
        assert_eq!(b.track(&rb, &mut seen), vec![Input::Fault(true)]);
        board.set_own_fault(0, false);
        board.set(0, State::Backup);
        assert_eq!(b.track(&rb, &mut seen), vec![Input::Fault(false)]);
        scripts.stop();
    }

    /// Outside a group, a tracked interface's weight moves the priority,
    /// and a weight-0 one (the default) puts the instance in FAULT.
    #[test]
    fn tracked_interfaces_weigh_and_fault() {
        let (m, board, scripts) = setup(
            "vrrp_instance VI_A {\n interface lo\n virtual_router_id 1\n priority 100\n \
             virtual_ipaddress {\n 198.18.0.121\n }\n track_interface {\n no-such-if0 weight -20\n lo weight 7\n }\n}\n\
             vrrp_instance VI_B {\n interface lo\n virtual_router_id 2\n priority 100\n \
             virtual_ipaddress {\n 198.18.0.122\n }\n track_interface {\n no-such-if0\n }\n}\n",
        );
        let want = [vec![Input::Priority(87)], vec![Input::Fault(true)]];
        for (i, want) in want.into_iter().enumerate() {
            let (r, mut seen) = run_of(&m, i, &board, &scripts);
            let router = Router::new(r.cfg.clone());
            assert_eq!(r.track(&router, &mut seen), want);
        }
    }
}
