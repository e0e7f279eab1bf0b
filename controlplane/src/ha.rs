//! VRRP in the control plane: each IPv4 `vrrp_instance` of the
//! configuration is a [`rvs_vrrp::router::Router`] driven by a thread with a
//! raw protocol-112 socket on the instance's `interface`, which on a
//! director is the dataplane's exception interface: adverts travel the
//! dataplane's wire like any of the director's own traffic.
//!
//! Contract:
//! - adverts go to 224.0.0.18 (or each `unicast_peer`) from the
//!   interface's primary address (or `unicast_src_ip`/`mcast_src_ip`),
//!   TTL 255, TOS 0xC0; received ones are checked by the router (TTL,
//!   version, VRID, authentication, interval) with either IPv4 checksum
//!   convention accepted;
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
//!   after its skew time).
//!
//! - `track_script` and `track_interface` (the instance's and its sync
//!   group's) set the router's effective priority and FAULT
//!   ([`crate::tracking`], [`rvs_vrrp::track`]); the members of a
//!   `vrrp_sync_group` follow each other (one in FAULT puts all in FAULT,
//!   one becoming MASTER or falling back to BACKUP takes the others along)
//!   and the group's notify scripts run when all members share a state.
//!
//! Not yet: IPv6 instances and `use_vmac` (an IPv6 instance is warned at
//! start and does not run).

use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rvs_vrrp::router::{Action, Config, Input, Router, State};
use rvs_vrrp::wire::{self, Auth, Checksum, Path, Version};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::config::model::{AuthType, SyncGroup, VrrpInstance};
use crate::config::Model;
use crate::tracking::Scripts;

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
    pub fn start(model: &Model, socket: &str) -> Ha {
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
            if vips.iter().any(IpAddr::is_ipv6) {
                tracing::warn!(instance = %inst.name, "IPv6 VRRP instances are not supported by rvs yet - not started");
                continue;
            }
            let Some(iface) = inst.interface.clone() else {
                tracing::error!(instance = %inst.name, "no interface - not started");
                continue;
            };
            let src = match inst
                .unicast_src_ip
                .or(inst.mcast_src_ip)
                .and_then(|a| match a {
                    IpAddr::V4(v) => Some(v),
                    IpAddr::V6(_) => None,
                })
                .or_else(|| primary_address(&iface))
            {
                Some(a) => a,
                None => {
                    tracing::error!(instance = %inst.name, %iface, "the interface has no IPv4 address - not started");
                    continue;
                }
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
            let cfg = router_config(inst, IpAddr::V4(src), vips);
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

/// The first IPv4 address of `iface` (`ip -4 -o addr show dev IFACE`).
fn primary_address(iface: &str) -> Option<Ipv4Addr> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", iface])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
}

/// One instance's thread.
struct Run {
    inst: VrrpInstance,
    cfg: Config,
    iface: String,
    src: Ipv4Addr,
    board: Arc<HaBoard>,
    idx: usize,
    stop: Arc<AtomicBool>,
    socket: String,
    scripts: Arc<Scripts>,
    /// The sync group this instance belongs to.
    group: Option<SyncGroup>,
}

/// What the trackers and the sync group last told the router.
struct Tracked {
    priority: u8,
    fault: bool,
    /// The other members' states as last seen.
    members: Vec<(String, State)>,
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

    fn open(&self) -> std::io::Result<Socket> {
        let s = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(i32::from(wire::PROTOCOL))),
        )?;
        s.bind_device(Some(self.iface.as_bytes()))?;
        s.set_ttl(u32::from(wire::TTL))?;
        s.set_tos(0xc0)?;
        if !self.cfg.unicast {
            s.join_multicast_v4(&wire::GROUP_V4, &self.src)?;
            s.set_multicast_if_v4(&self.src)?;
            s.set_multicast_ttl_v4(u32::from(wire::TTL))?;
            s.set_multicast_loop_v4(false)?;
        }
        Ok(s)
    }

    fn run(self) {
        let sock = match self.open() {
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
        let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
        let mut drops = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            let t = now();
            let wait = router
                .deadline()
                .map_or(100_000, |d| d.saturating_sub(t))
                .clamp(1_000, 100_000);
            let _ = sock.set_read_timeout(Some(Duration::from_micros(wait)));
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                // SAFETY: recv_from initialised the first n bytes.
                let bytes: &[u8] =
                    unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
                if let Some((src, dst, ttl, msg)) = ipv4_payload(bytes) {
                    let path = Path {
                        src: IpAddr::V4(src),
                        dst: IpAddr::V4(dst),
                    };
                    match wire::decode(msg, false, Some(&path), Checksum::Either) {
                        Ok(advert) => {
                            let acts = router.handle(
                                now(),
                                Input::Advert {
                                    src: IpAddr::V4(src),
                                    ttl,
                                    advert,
                                },
                            );
                            self.act(&sock, &router, acts, now(), &mut second_garp);
                        }
                        Err(e) => {
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
                    let peers: Vec<Ipv4Addr> = if self.cfg.unicast {
                        self.inst
                            .unicast_peer
                            .iter()
                            .filter_map(|p| match p.address {
                                IpAddr::V4(v) => Some(v),
                                IpAddr::V6(_) => None,
                            })
                            .collect()
                    } else {
                        vec![wire::GROUP_V4]
                    };
                    for dst in peers {
                        let path = Path {
                            src: IpAddr::V4(self.src),
                            dst: IpAddr::V4(dst),
                        };
                        let bytes = wire::encode(&advert, Some(&path), Checksum::PseudoHeader);
                        let to = SockAddr::from(SocketAddr::V4(SocketAddrV4::new(dst, 0)));
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
                    tracing::warn!(instance = %self.inst.name, "advert dropped: {why}");
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
            let done = std::process::Command::new("ip")
                .args(["addr", verb, &addr, "dev", dev])
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

/// (src, dst, ttl, payload) of an IPv4 packet carrying VRRP.
fn ipv4_payload(b: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, &[u8])> {
    if b.len() < 20 || b[0] >> 4 != 4 || b[9] != wire::PROTOCOL {
        return None;
    }
    let ihl = usize::from(b[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([b[2], b[3]])).min(b.len());
    if ihl < 20 || total < ihl {
        return None;
    }
    let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
    let dst = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
    Some((src, dst, b[8], &b[ihl..total]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_payload_reads_the_header() {
        let mut p = vec![
            0x45, 0xc0, 0, 40, 0, 0, 0, 0, 255, 112, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18,
        ];
        p.extend_from_slice(&[0x21; 20]);
        let (s, d, ttl, m) = ipv4_payload(&p).unwrap();
        assert_eq!(
            (s, d, ttl, m.len()),
            ("10.0.0.1".parse().unwrap(), wire::GROUP_V4, 255, 20)
        );
        p[9] = 6;
        assert!(ipv4_payload(&p).is_none());
        assert!(ipv4_payload(&p[..10]).is_none());
    }

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
        let board = Arc::new(HaBoard {
            states: Mutex::new(vec![]),
            changed: AtomicBool::new(false),
        });
        let scripts = Arc::new(Scripts::start(&m));
        (m, board, scripts)
    }

    /// Instance `i` of `m` on `board` as its thread would run it (no
    /// socket), and the trackers' memory it starts with.
    fn run_of(m: &Model, i: usize, board: &Arc<HaBoard>, scripts: &Arc<Scripts>) -> (Run, Tracked) {
        let inst = m.vrrp.instances[i].clone();
        board.lock().push(Entry {
            name: inst.name.clone(),
            state: State::Backup,
            vips: vec![],
            own_fault: false,
        });
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
