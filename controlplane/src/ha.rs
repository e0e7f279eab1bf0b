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

use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rvs_vrrp::router::{Action, Config, DropReason, Input, Router, State};
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

/// The address adverts come from: the first IPv4 address of `iface`, or
/// for IPv6 its link-local one, as keepalived (`ip -o addr show dev IFACE`).
fn source_address(iface: &str, v6: bool) -> Option<IpAddr> {
    let args: &[&str] = if v6 {
        &["-6", "-o", "addr", "show", "dev", iface, "scope", "link"]
    } else {
        &["-4", "-o", "addr", "show", "dev", iface]
    };
    let out = std::process::Command::new("ip").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "inet" && *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
}

/// The index of `iface` (0 if there is none).
fn ifindex(iface: &str) -> u32 {
    nix::net::if_::if_nametoindex(iface).unwrap_or(0)
}

/// One instance's thread.
struct Run {
    inst: VrrpInstance,
    cfg: Config,
    iface: String,
    src: IpAddr,
    board: Arc<HaBoard>,
    idx: usize,
    stop: Arc<AtomicBool>,
    socket: String,
    scripts: Arc<Scripts>,
    /// The sync group this instance belongs to.
    group: Option<SyncGroup>,
    counters: Arc<VrrpCounters>,
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
        let proto = Some(Protocol::from(i32::from(wire::PROTOCOL)));
        match self.src {
            IpAddr::V4(src) => {
                let s = Socket::new(Domain::IPV4, Type::RAW, proto)?;
                s.bind_device(Some(self.iface.as_bytes()))?;
                s.set_ttl(u32::from(wire::TTL))?;
                s.set_tos(0xc0)?;
                if !self.cfg.unicast {
                    s.join_multicast_v4(&wire::GROUP_V4, &src)?;
                    s.set_multicast_if_v4(&src)?;
                    s.set_multicast_ttl_v4(u32::from(wire::TTL))?;
                    s.set_multicast_loop_v4(false)?;
                }
                Ok(s)
            }
            IpAddr::V6(src) => {
                let s = Socket::new(Domain::IPV6, Type::RAW, proto)?;
                s.bind_device(Some(self.iface.as_bytes()))?;
                let idx = ifindex(&self.iface);
                s.bind(&SockAddr::from(SocketAddr::V6(SocketAddrV6::new(
                    src, 0, 0, idx,
                ))))?;
                s.set_unicast_hops_v6(u32::from(wire::TTL))?;
                s.set_tclass_v6(0xc0)?;
                if !self.cfg.unicast {
                    s.join_multicast_v6(&wire::GROUP_V6, idx)?;
                    s.set_multicast_if_v6(idx)?;
                    s.set_multicast_hops_v6(u32::from(wire::TTL))?;
                    s.set_multicast_loop_v6(false)?;
                }
                // The hop limit and the destination of each advert come as
                // ancillary data (the kernel strips the IPv6 header).
                for opt in [libc::IPV6_RECVHOPLIMIT, libc::IPV6_RECVPKTINFO] {
                    set_int(&s, libc::IPPROTO_IPV6, opt, 1)?;
                }
                Ok(s)
            }
        }
    }

    /// The next advert on `sock` within its read timeout: (source,
    /// destination, TTL or hop limit, the VRRP message).
    fn receive<'b>(
        &self,
        sock: &Socket,
        buf: &'b mut [u8],
    ) -> Option<(IpAddr, IpAddr, u8, &'b [u8])> {
        match self.src {
            IpAddr::V4(_) => {
                // SAFETY: MaybeUninit<u8> has u8's layout; recv_from only
                // writes into the buffer, and only its first n bytes are
                // read below.
                let raw =
                    unsafe { &mut *(std::ptr::from_mut::<[u8]>(buf) as *mut [MaybeUninit<u8>]) };
                let (n, _) = sock.recv_from(raw).ok()?;
                let (src, dst, ttl, msg) = ipv4_payload(&buf[..n])?;
                Some((IpAddr::V4(src), IpAddr::V4(dst), ttl, msg))
            }
            IpAddr::V6(_) => {
                let (n, src, dst, hops) = recv6(sock, buf)?;
                Some((IpAddr::V6(src), IpAddr::V6(dst?), hops?, &buf[..n]))
            }
        }
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
        let mut buf = [0u8; 2048];
        let mut drops = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            let t = now();
            let wait = router
                .deadline()
                .map_or(100_000, |d| d.saturating_sub(t))
                .clamp(1_000, 100_000);
            let _ = sock.set_read_timeout(Some(Duration::from_micros(wait)));
            if let Some((src, dst, ttl, msg)) = self.receive(&sock, &mut buf) {
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
                    let idx = if v6 { ifindex(&self.iface) } else { 0 };
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

/// setsockopt(2) of an int option.
fn set_int(
    s: &Socket,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the pointer and length describe `v`, a live c_int, for the
    // duration of the call; the descriptor is the socket's own.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            opt,
            std::ptr::from_ref(&v).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// One datagram of an IPv6 raw socket: its length, source, and from the
/// ancillary data its destination and hop limit.
fn recv6(s: &Socket, buf: &mut [u8]) -> Option<(usize, Ipv6Addr, Option<Ipv6Addr>, Option<u8>)> {
    use std::os::fd::AsRawFd;
    // SAFETY: all-zero is a valid value of these plain C structs.
    let mut name: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 32];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = std::ptr::from_mut(&mut name).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in `msg` is valid for its length (the name,
    // the one iovec over `buf`, the control buffer) for the call.
    let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return None;
    }
    let (mut dst, mut hops) = (None, None);
    // SAFETY: `msg` was filled in by recvmsg; the CMSG macros walk its
    // control buffer within msg_controllen, and each header's data is read
    // at its type's size, unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                    let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    hops = u8::try_from(v).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let p = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    dst = Some(Ipv6Addr::from(p.ipi6_addr.s6_addr));
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some((
        n as usize,
        Ipv6Addr::from(name.sin6_addr.s6_addr),
        dst,
        hops,
    ))
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
