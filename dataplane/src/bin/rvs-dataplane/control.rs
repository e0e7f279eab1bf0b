//! The control thread: the admin API server, generation publishing,
//! neighbour resolution (ARP requests out, learned MACs in) and the
//! clean-up of retired generations and trashed slots. It never waits on a
//! worker: reads are from per-core atomics, writes go down rings.

use std::io::ErrorKind as IoErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvs_api::{
    ApiError, Envelope, ErrorKind, FrameError, Response, API_VERSION, REQUEST_BYTES_MAX,
};
use rvs_dataplane::admin::AdminState;
use rvs_dataplane::pipeline::WorkerEvent;
use rvs_dataplane::service::PortInfo;
use rvs_dataplane::wire::arp;

use crate::dpdk::{self, Pool};
use crate::shared::Shared;

const TICK: Duration = Duration::from_millis(5);
const TRASH_EVERY: Duration = Duration::from_secs(1);

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

pub struct Control {
    pub shared: Arc<Shared>,
    pub admin: AdminState,
    pub ports: Vec<PortInfo>,
    pub pool: Pool,
    pub start: Instant,
}

impl Control {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    /// Publish the admin state's current generation to every worker.
    pub fn publish(&self) {
        let snap = Arc::new(self.admin.snapshot());
        for ring in &self.shared.cfg_rings {
            let mut item = Arc::clone(&snap);
            // Workers take one generation per poll round; a full ring only
            // means they are behind, so wait for room.
            while let Err(back) = ring.push(item) {
                if self.shared.stop.load(Relaxed) {
                    return;
                }
                item = back;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    pub fn run(&mut self, listener: UnixListener) {
        let mut last_trash = Instant::now();
        let mut requests = Vec::new();
        let mut expired = Vec::new();
        while !self.shared.stop.load(Relaxed) {
            loop {
                match listener.accept() {
                    Ok((stream, _)) => self.serve(stream),
                    Err(e) if e.kind() == IoErrorKind::WouldBlock => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin accept failed");
                        break;
                    }
                }
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
                self.send_arp_request(r.port, r.target);
            }
            while let Some(old) = self.shared.retired.pop() {
                drop(old);
            }
            if last_trash.elapsed() >= TRASH_EVERY {
                last_trash = Instant::now();
                for slot in self.admin.collect_trash(&self.shared.cores) {
                    self.shared.neigh.set(slot, None);
                }
            }
            std::thread::sleep(TICK);
        }
    }

    fn send_arp_request(&self, port: u16, target: std::net::Ipv4Addr) {
        let Some(info) = self.ports.get(usize::from(port)) else {
            return;
        };
        let mut buf = [0u8; 60];
        let len = arp::build_request(&mut buf, info.mac, info.addr, target);
        let Some(m) = dpdk::alloc_frame(&self.pool, &buf[..len]) else {
            tracing::warn!("no mbuf for an ARP request");
            return;
        };
        if let Err((_, m)) = self.shared.ctl_tx.push((port, m)) {
            dpdk::free_bulk(&mut [m.0]);
        }
    }

    /// Serve one admin connection: requests until the client closes it.
    fn serve(&mut self, mut stream: UnixStream) {
        let timeout = Some(Duration::from_secs(2));
        if stream.set_nonblocking(false).is_err()
            || stream.set_read_timeout(timeout).is_err()
            || stream.set_write_timeout(timeout).is_err()
        {
            return;
        }
        loop {
            let envelope: Result<Envelope, FrameError> =
                rvs_api::read_frame(&mut stream, REQUEST_BYTES_MAX);
            let response = match envelope {
                Ok(env) if env.version != API_VERSION => Response::Error(ApiError::new(
                    ErrorKind::Version,
                    format!(
                        "this dataplane speaks admin API version {API_VERSION}, not {}",
                        env.version
                    ),
                )),
                Ok(env) => {
                    let desc = format!("{:?}", env.request);
                    let now = self.now_ms();
                    let (resp, changed) = self.admin.handle(env.request, &self.shared.cores, now);
                    if changed {
                        self.publish();
                        tracing::info!(generation = self.admin.generation(), request = %desc, "configuration applied");
                    } else if let Response::Error(e) = &resp {
                        tracing::info!(request = %desc, error = %e.message, "admin request refused");
                    }
                    resp
                }
                Err(FrameError::Io(_)) => return,
                Err(e @ FrameError::TooLarge { .. }) => {
                    let r = Response::Error(ApiError::new(ErrorKind::BadRequest, e.to_string()));
                    let _ = rvs_api::write_frame(&mut stream, &r);
                    // The rest of an oversized request is not read: close.
                    return;
                }
                Err(e @ FrameError::Decode(_)) => {
                    Response::Error(ApiError::new(ErrorKind::BadRequest, e.to_string()))
                }
            };
            if rvs_api::write_frame(&mut stream, &response).is_err() {
                return;
            }
        }
    }
}
