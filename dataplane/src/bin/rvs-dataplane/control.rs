//! The control thread and the admin server.
//!
//! The control thread applies admin requests, publishes generations,
//! resolves neighbours (ARP requests out, learned MACs in) and frees retired
//! generations and unused slots. It never waits on a worker (reads are from
//! per-core atomics, generations go into one-slot mailboxes that replace a
//! generation not yet taken) and never on an admin client: client I/O runs on
//! the admin server's threads, which pass each decoded request over a channel
//! and wait for its response.

use std::io::{self, ErrorKind as IoErrorKind, Read};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvs_api::{
    ApiError, Envelope, ErrorKind, FrameError, Request, Response, API_VERSION, REQUEST_BYTES_MAX,
};
use rvs_dataplane::admin::AdminState;
use rvs_dataplane::pipeline::WorkerEvent;
use rvs_dataplane::service::{PortInfo, Snapshot};
use rvs_dataplane::wire::{arp, ndp};

use crate::dpdk::{self, Pool};
use crate::shared::{DumpItem, Shared};
use crate::syncd::Daemons;

const TICK: Duration = Duration::from_millis(5);
const TRASH_EVERY: Duration = Duration::from_secs(1);
/// How long a connection listing may take, all workers together.
const DUMP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the rate estimators sample (IPVS's 2 s).
/// How often the SYN proxy's cookie key is replaced.
const SYN_KEY_EVERY: Duration = Duration::from_millis(rvs_dataplane::synproxy::ROTATE_MS);
const ESTIMATE_EVERY: Duration = Duration::from_millis(rvs_dataplane::stats::ESTIMATE_EVERY_MS);
/// One read may wait this long.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// A client connection lives at most this long, however it trickles.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Admin connections served at once; more are closed at once.
const CONNECTIONS_MAX: usize = 16;

/// Create the admin socket: its directory, no stale file, mode 0600.
pub fn bind_admin(path: &str) -> Result<UnixListener, String> {
    let p = Path::new(path);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("admin socket directory {}: {e}", dir.display()))?;
    }
    if p.exists() {
        // A live dataplane answers; a stale file from a crash does not.
        if UnixStream::connect(p).is_ok() {
            return Err(format!("{path}: another dataplane is listening there"));
        }
        std::fs::remove_file(p).map_err(|e| format!("{path}: cannot remove stale socket: {e}"))?;
    }
    let l = UnixListener::bind(p).map_err(|e| format!("{path}: {e}"))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{path}: chmod 0600: {e}"))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("{path}: {e}"))?;
    Ok(l)
}

/// A decoded request and where its response goes.
pub struct AdminCall {
    request: Request,
    reply: SyncSender<Response>,
}

/// Start the admin server: an accepting thread and a thread per connection.
/// Returns the receiving end the control thread polls.
pub fn start_admin_server(
    listener: UnixListener,
    shared: Arc<Shared>,
) -> io::Result<Receiver<AdminCall>> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("rvs-admin".into())
        .spawn(move || accept_loop(listener, shared, tx))?;
    Ok(rx)
}

fn accept_loop(listener: UnixListener, shared: Arc<Shared>, tx: Sender<AdminCall>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !shared.stop.load(Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.load(Relaxed) >= CONNECTIONS_MAX {
                    tracing::warn!("admin: too many connections, one refused");
                    continue;
                }
                active.fetch_add(1, Relaxed);
                let (tx, active) = (tx.clone(), Arc::clone(&active));
                let spawned = std::thread::Builder::new()
                    .name("rvs-admin-conn".into())
                    .spawn(move || {
                        serve_connection(stream, &tx);
                        active.fetch_sub(1, Relaxed);
                    });
                if spawned.is_err() {
                    tracing::warn!("admin: cannot start a connection thread");
                }
            }
            Err(e) if e.kind() == IoErrorKind::WouldBlock => std::thread::sleep(TICK),
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                std::thread::sleep(TICK);
            }
        }
    }
}

/// Reads that give up at a deadline, whatever the client does.
struct DeadlineReader<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                IoErrorKind::TimedOut,
                "connection lifetime over",
            ));
        }
        self.stream.set_read_timeout(Some(left.min(READ_TIMEOUT)))?;
        (&mut &*self.stream).read(buf)
    }
}

/// Requests from one client until it closes, misbehaves or runs out of time.
fn serve_connection(mut stream: UnixStream, tx: &Sender<AdminCall>) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_write_timeout(Some(READ_TIMEOUT)).is_err()
    {
        return;
    }
    let deadline = Instant::now() + CONNECTION_LIFETIME;
    loop {
        let mut reader = DeadlineReader {
            stream: &stream,
            deadline,
        };
        let envelope: Result<Envelope, FrameError> =
            rvs_api::read_frame(&mut reader, REQUEST_BYTES_MAX);
        let (response, close) = match envelope {
            Ok(env) if env.version != API_VERSION => (
                Response::Error(ApiError::new(
                    ErrorKind::Version,
                    format!(
                        "this dataplane speaks admin API version {API_VERSION}, not {}",
                        env.version
                    ),
                )),
                false,
            ),
            Ok(env) => {
                let (reply, wait) = mpsc::sync_channel(1);
                if tx
                    .send(AdminCall {
                        request: env.request,
                        reply,
                    })
                    .is_err()
                {
                    return;
                }
                match wait.recv() {
                    Ok(r) => (r, false),
                    Err(_) => return,
                }
            }
            Err(FrameError::Io(_)) => return,
            // The rest of an oversized request is not read: answer and close.
            Err(e @ FrameError::TooLarge { .. }) => (
                Response::Error(ApiError::new(ErrorKind::BadRequest, e.to_string())),
                true,
            ),
            Err(e @ FrameError::Decode(_)) => (
                Response::Error(ApiError::new(ErrorKind::BadRequest, e.to_string())),
                false,
            ),
        };
        if rvs_api::write_frame(&mut stream, &response).is_err() || close {
            return;
        }
    }
}

pub struct Control {
    pub shared: Arc<Shared>,
    pub admin: AdminState,
    pub ports: Vec<PortInfo>,
    pub pool: Pool,
    pub start: Instant,
    /// The exception interface of each port (the kernel's side, where the
    /// director's addresses and routes go).
    pub ifaces: Vec<String>,
    /// Per core: (cycles, busy cycles) at the last estimator tick, and the
    /// busy share since the tick before, in millionths.
    pub loads: Vec<((u64, u64), u32)>,
    /// The generation last published (the sync backup places entries by it).
    pub current: Arc<Snapshot>,
    pub syncd: Daemons,
}

impl Control {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    /// Publish the admin state's current generation to every worker. A
    /// generation a worker has not taken yet is replaced (and freed here).
    pub fn publish(&mut self) {
        let snap = Arc::new(self.admin.snapshot());
        for mailbox in &self.shared.cfg_rings {
            drop(mailbox.force_push(Arc::clone(&snap)));
        }
        self.current = snap;
    }

    /// `--start-daemon`, `--stop-daemon`, `--list --daemon`. A master
    /// starting or stopping turns the workers' reporting on or off.
    fn daemon(&mut self, request: Request) -> Response {
        let done = match request {
            Request::StartDaemon(cfg) => {
                let iface = cfg
                    .interface
                    .clone()
                    .or_else(|| self.ifaces.first().cloned())
                    .unwrap_or_default();
                let mtu = self
                    .ifaces
                    .iter()
                    .position(|i| *i == iface)
                    .map(|i| self.ports[i].mtu);
                self.syncd.start(cfg, &iface, mtu)
            }
            Request::StopDaemon(role) => self.syncd.stop(role),
            _ => return Response::Daemons(self.syncd.status()),
        };
        if let Err(e) = done {
            return Response::Error(e);
        }
        if self.admin.set_sync_master(self.syncd.is_master()) {
            self.publish();
        }
        Response::Ok
    }

    /// The oldest generation a worker still forwards with.
    fn workers_generation(&self) -> u64 {
        self.shared
            .worker_generations
            .iter()
            .map(|g| g.load(Relaxed))
            .min()
            .unwrap_or(0)
    }

    pub fn run(&mut self, calls: Receiver<AdminCall>) {
        let mut last_trash = Instant::now();
        let mut last_estimate = Instant::now();
        let mut last_rotate = Instant::now();
        let mut requests = Vec::new();
        let mut expired = Vec::new();
        while !self.shared.stop.load(Relaxed) {
            while let Ok(call) = calls.try_recv() {
                let response = match call.request {
                    Request::ListConns => self.list_conns(),
                    Request::Cores => self.cores(),
                    Request::Counters => self.counters(),
                    Request::Announce(addrs) => self.announce(&addrs),
                    r @ (Request::StartDaemon(_) | Request::StopDaemon(_) | Request::Daemons) => {
                        self.daemon(r)
                    }
                    request => self.apply(request),
                };
                let _ = call.reply.send(response);
            }
            let now = self.now_ms();
            while let Some(ev) = self.shared.events.pop() {
                let WorkerEvent::NeighLearned { port, addr, mac } = ev;
                if let Some((slot, mac)) = self.admin.resolver.handle_learned(port, addr, mac, now)
                {
                    tracing::info!(%addr, %mac, port, "neighbour resolved");
                    self.shared.neigh.set(slot, Some(mac));
                }
            }
            requests.clear();
            expired.clear();
            self.admin.resolver.poll(now, &mut requests, &mut expired);
            for &slot in &expired {
                tracing::warn!(slot, "neighbour unreachable: entry expired");
                self.shared.neigh.set(slot, None);
            }
            for r in &requests {
                match r.target {
                    IpAddr::V4(a) => self.send_arp_request(r.port, a),
                    IpAddr::V6(a) => self.send_neighbor_solicit(r.port, a),
                }
            }
            self.syncd.poll(&self.shared, &self.current, now);
            if last_rotate.elapsed() >= SYN_KEY_EVERY {
                last_rotate = Instant::now();
                self.shared.syn_keys.rotate();
            }
            while let Some(old) = self.shared.retired.pop() {
                drop(old);
            }
            if last_estimate.elapsed() >= ESTIMATE_EVERY {
                last_estimate = Instant::now();
                self.admin.estimate(&self.shared.cores);
                self.sample_loads();
            }
            if last_trash.elapsed() >= TRASH_EVERY {
                last_trash = Instant::now();
                let oldest = self.workers_generation();
                for slot in self.admin.collect_trash(&self.shared.cores, oldest) {
                    self.shared.neigh.set(slot, None);
                }
            }
            std::thread::sleep(TICK);
        }
    }

    /// `-Lnc`: every worker's entries. Each worker answers between its
    /// bursts, in bounded rounds (`worker::serve_dump`); the control thread
    /// drains the answers as they come, within [`DUMP_TIMEOUT`] for all.
    fn list_conns(&mut self) -> Response {
        use rvs_dataplane::conn::state::State;
        use std::net::SocketAddr;
        let deadline = Instant::now() + DUMP_TIMEOUT;
        let mut conns = Vec::new();
        for ch in &self.shared.dumps {
            while ch.replies.pop().is_some() {}
            if ch.requests.push(()).is_err() {
                // A listing already asked for and not answered: wait for it.
            }
            loop {
                match ch.replies.pop() {
                    Some(DumpItem::Conn(r)) => {
                        let protocol = rvs_api::Protocol::from_number(r.protocol);
                        let state = if r.template && r.state == State::None {
                            "NONE"
                        } else {
                            r.state.name()
                        };
                        conns.push(rvs_api::ConnStatus {
                            protocol,
                            client: SocketAddr::new(r.caddr, r.cport),
                            virtual_addr: SocketAddr::new(r.vaddr, r.vport),
                            dest: SocketAddr::new(r.daddr, r.dport),
                            state: state.to_string(),
                            expires_s: r.expires_in_ms.div_ceil(1000),
                        });
                    }
                    Some(DumpItem::End) => break,
                    None if Instant::now() >= deadline => {
                        return Response::Error(ApiError::new(
                            ErrorKind::NoMemory,
                            "a worker did not list its connections in time",
                        ));
                    }
                    None => std::thread::sleep(Duration::from_micros(200)),
                }
            }
        }
        Response::Conns(conns)
    }

    /// The workers' counters and the control thread's own (the sync
    /// backup's refusals).
    fn counters(&mut self) -> Response {
        let mut response = self.apply(Request::Counters);
        if let Response::Counters(c) = &mut response {
            for (name, value) in self.syncd.counters() {
                c.counters.push(rvs_api::Counter {
                    name: name.to_string(),
                    value,
                });
            }
        }
        response
    }

    fn apply(&mut self, request: Request) -> Response {
        let desc = format!("{request:?}");
        let now = self.now_ms();
        let before = self.admin.network().clone();
        let (response, changed) = self.admin.handle(request, &self.shared.cores, now);
        if changed {
            self.publish();
            tracing::info!(generation = self.admin.generation(), request = %desc, "configuration applied");
            if *self.admin.network() != before {
                self.apply_kernel_network(&before);
            }
        } else if let Response::Error(e) = &response {
            tracing::info!(request = %desc, error = %e.message, "admin request refused");
        }
        response
    }

    /// A gratuitous ARP or unsolicited NA for each address, from the port
    /// whose network holds it.
    fn announce(&self, addrs: &[IpAddr]) -> Response {
        for &a in addrs {
            let port = self.admin.announce_port(a);
            let Some(info) = self.ports.get(usize::from(port)) else {
                continue;
            };
            let mut buf = [0u8; 128];
            match a {
                IpAddr::V4(v) => {
                    let len = arp::build_gratuitous(&mut buf, info.mac, v);
                    self.send_control_frame(port, &buf[..len], "a gratuitous ARP");
                }
                IpAddr::V6(v) => {
                    let all_nodes = std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
                    let len = ndp::emit_neighbor_advert(
                        &mut buf,
                        info.mac,
                        ndp::multicast_mac(all_nodes),
                        v,
                        all_nodes,
                        v,
                        false,
                    );
                    self.send_control_frame(port, &buf[..len], "an unsolicited NA");
                }
            }
        }
        tracing::debug!(?addrs, "announced");
        Response::Ok
    }

    /// Each core's load, from the last estimator tick, and its ring's depth.
    fn cores(&self) -> Response {
        let list = self
            .shared
            .cores
            .iter()
            .enumerate()
            .map(|(i, c)| rvs_api::CoreStatus {
                core: i as u32,
                cycles: c.cycles.load(Relaxed),
                busy_cycles: c.busy_cycles.load(Relaxed),
                busy_ppm: self.loads.get(i).map_or(0, |l| l.1),
                handoff_depth: self.shared.handoff[i].len() as u32,
                handoff_capacity: self.shared.handoff[i].capacity() as u32,
            })
            .collect();
        Response::Cores(list)
    }

    fn sample_loads(&mut self) {
        self.loads.resize(self.shared.cores.len(), ((0, 0), 0));
        for (c, l) in self.shared.cores.iter().zip(self.loads.iter_mut()) {
            let now = (c.cycles.load(Relaxed), c.busy_cycles.load(Relaxed));
            let (d, b) = (now.0.wrapping_sub(l.0 .0), now.1.wrapping_sub(l.0 .1));
            l.1 = if d == 0 {
                0
            } else {
                (u128::from(b.min(d)) * 1_000_000 / u128::from(d)) as u32
            };
            l.0 = now;
        }
    }

    /// Make the kernel's side (the exception interfaces) hold what the
    /// admin state's network now says, `before` being what it held: what
    /// went is removed, what came is added. A command the kernel refuses
    /// is logged; the dataplane's own view stands.
    fn apply_kernel_network(&self, before: &rvs_api::Network) {
        let net = self.admin.network().clone();
        let iface = |port: Option<u16>| port.and_then(|p| self.ifaces.get(usize::from(p)));
        let mut cmds: Vec<Vec<String>> = vec![];
        let route_args = |r: &rvs_api::NetRoute, port: Option<u16>| {
            let mut a = vec![format!("{}/{}", r.dst.addr, r.dst.len)];
            if let Some(via) = r.via {
                a.extend(["via".into(), via.to_string()]);
            }
            if let Some(i) = iface(port) {
                a.extend(["dev".into(), i.clone()]);
            }
            a
        };
        for r in before.routes.iter().filter(|r| !net.routes.contains(r)) {
            let mut c = vec!["route".into(), "del".into()];
            c.extend(route_args(r, None));
            cmds.push(c);
        }
        for a in before
            .addresses
            .iter()
            .filter(|a| !net.addresses.contains(a))
        {
            if let Some(i) = iface(self.admin.port_id(&a.port)) {
                cmds.push(vec![
                    "addr".into(),
                    "del".into(),
                    format!("{}/{}", a.addr, a.prefix_len),
                    "dev".into(),
                    i.clone(),
                ]);
            }
        }
        for a in net
            .addresses
            .iter()
            .filter(|a| !before.addresses.contains(a))
        {
            if let Some(i) = iface(self.admin.port_id(&a.port)) {
                let mut c = vec![
                    "addr".into(),
                    "replace".into(),
                    format!("{}/{}", a.addr, a.prefix_len),
                    "dev".into(),
                    i.clone(),
                ];
                if a.addr.is_ipv6() {
                    c.push("nodad".into());
                }
                cmds.push(c);
            }
        }
        for r in net.routes.iter().filter(|r| !before.routes.contains(r)) {
            let mut c = vec!["route".into(), "replace".into()];
            c.extend(route_args(r, self.admin.route_port(r)));
            cmds.push(c);
        }
        for c in cmds {
            match std::process::Command::new("ip").args(&c).output() {
                Ok(o) if o.status.success() => {
                    tracing::info!(command = %format!("ip {}", c.join(" ")), "kernel network set")
                }
                Ok(o) => tracing::error!(
                    command = %format!("ip {}", c.join(" ")),
                    error = %String::from_utf8_lossy(&o.stderr).trim(),
                    "the kernel refused a network change"
                ),
                Err(e) => {
                    tracing::error!(command = %format!("ip {}", c.join(" ")), error = %e, "cannot run ip")
                }
            }
        }
    }

    fn send_arp_request(&self, port: u16, target: std::net::Ipv4Addr) {
        let Some(info) = self.ports.get(usize::from(port)) else {
            return;
        };
        // From the port's address, or from an extra address on the
        // target's network.
        let src = self
            .admin
            .network()
            .addresses
            .iter()
            .filter(|a| self.admin.port_id(&a.port) == Some(port))
            .find_map(|a| match a.addr {
                IpAddr::V4(mine)
                    if rvs_api::Prefix::new(a.addr, a.prefix_len)
                        .is_some_and(|n| n.contains(IpAddr::V4(target))) =>
                {
                    Some(mine)
                }
                _ => None,
            })
            .filter(|_| {
                !rvs_api::Prefix::new(IpAddr::V4(info.addr), info.prefix_len)
                    .is_some_and(|n| n.contains(IpAddr::V4(target)))
            })
            .unwrap_or(info.addr);
        let mut buf = [0u8; 60];
        let len = arp::build_request(&mut buf, info.mac, src, target);
        self.send_control_frame(port, &buf[..len], "an ARP request");
    }

    /// Resolve an IPv6 next hop: a Neighbour Solicitation from the port's
    /// IPv6 address (none configured: nothing to send from).
    fn send_neighbor_solicit(&self, port: u16, target: std::net::Ipv6Addr) {
        let Some(info) = self.ports.get(usize::from(port)) else {
            return;
        };
        let Some(src) = info.addr6 else {
            return;
        };
        let mut buf = [0u8; 128];
        let len = ndp::emit_neighbor_solicit(&mut buf, info.mac, src, target);
        self.send_control_frame(port, &buf[..len], "a Neighbour Solicitation");
    }

    fn send_control_frame(&self, port: u16, frame: &[u8], what: &str) {
        let Some(m) = dpdk::alloc_frame(&self.pool, frame) else {
            tracing::warn!("no mbuf for {what}");
            return;
        };
        if let Err((_, m)) = self.shared.ctl_tx.push((port, m)) {
            dpdk::free_bulk(&mut [m.0]);
        }
    }
}
