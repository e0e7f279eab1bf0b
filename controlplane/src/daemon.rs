//! `rvs-controlplane --config FILE`: the daemon. It keeps the dataplane as
//! the configuration says, and serves `/metrics`.
//!
//! Contract:
//! - the configuration is loaded at start (one that does not load at all:
//!   exit 1, nothing sent) and again on SIGHUP; a reload that does not load
//!   at all is logged and changes nothing: the dataplane keeps what it has
//!   and the daemon the last good configuration. A load that leaves items
//!   out in error (keepalived.conf: see [`crate::config`]) applies the rest,
//!   as keepalived; the loader logs each item left out at error level, the
//!   daemon counts them (`rvs_config_errors_total`,
//!   `rvs_config_last_load_errors`) and logs at error level every
//!   virtual server of the running configuration that a reload with
//!   errors loses;
//! - its real servers are health-checked ([`crate::health`]); the desired
//!   state is the configuration as their health has it (down real servers
//!   out, or at weight 0 with `inhibit_on_failure`; a sorry server when a
//!   service lost its quorum);
//! - every [`RECONCILE_EVERY`] (and at once after a reload or a change of
//!   health) the dataplane's
//!   state is read and the plan of [`crate::reconcile`] sent as one batch
//!   (one generation, all or nothing) when it is not empty: a dataplane
//!   that restarted empty is refilled, drift is repaired, an unchanged
//!   dataplane is left alone;
//! - the daemon holds no state the dataplane needs: stopping or restarting
//!   it never touches forwarding;
//! - with a `bgp` block, every reconcile also brings the BIRD beside it
//!   up to date ([`crate::bgp`]): the VIPs announced, or withdrawn when
//!   their services lose quorum, the dataplane does not answer, or the
//!   director is drained (a change of the drain reconciles at once); a
//!   reload whose `bgp` block is in error keeps the running block (a typo
//!   does not withdraw every VIP), one without a block withdraws them all;
//! - after every reload and once every [`TRIM_EVERY`] it hands the
//!   allocator's free pages back to the kernel ([`crate::heap::trim`]), so its
//!   resident memory follows what it holds rather than what it once held;
//! - SIGTERM and SIGINT stop it, withdrawing the BGP routes first.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvs_api::{Request, Response};

use crate::config::Model;
use crate::ha::{Ha, VrrpCounters};
use crate::health::runner::{Board, Checks};
use crate::metrics;
use crate::reconcile::{self, Desired};

/// How often the dataplane is compared with the configuration.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(5);
/// The loop's nap between looks at the signals.
const TICK: Duration = Duration::from_millis(100);
/// How often the allocator's free pages are handed back ([`crate::heap::trim`]).
pub const TRIM_EVERY: Duration = Duration::from_secs(60);

/// What the daemon runs with.
#[derive(Clone, Debug)]
pub struct Options {
    pub config: PathBuf,
    pub socket: String,
    /// Where `/metrics` listens, if anywhere.
    pub metrics: Option<SocketAddr>,
}

/// What a load gave: the model of the items that load, and how many items
/// it left out in error (the loader has logged each).
pub struct Loaded {
    pub model: Model,
    pub errors: u64,
}

/// A configuration loader: the file's model, or an error naming file, line
/// and column when it does not load at all.
pub type Loader = dyn Fn(&Path) -> Result<Loaded, String>;

/// The virtual servers of `old` that `new` does not have, by name.
pub fn lost_services(old: &Model, new: &Model) -> Vec<String> {
    let have: std::collections::HashSet<&rvs_api::ServiceKey> =
        new.services.iter().flat_map(|s| s.keys.iter()).collect();
    old.services
        .iter()
        .flat_map(|s| s.keys.iter())
        .filter(|k| !have.contains(k))
        .map(rvs_api::ServiceKey::label)
        .collect()
}

/// The desired state: the model as its health has it, and the VIPs of the
/// VRRP instances that are not master released.
fn desired(board: &Board, ha: &Ha) -> Desired {
    let st = board.lock();
    let mut requests = st.model.requests_with(&st.health);
    requests.push(Request::ReleaseVips(ha.released()));
    requests.extend(
        sync_daemons(&st.model, &ha.board.states())
            .into_iter()
            .map(Request::StartDaemon),
    );
    Desired::from_requests(&requests)
}

/// The sync daemons keepalived's `lvs_sync_daemon` asks for now: with an
/// instance, the master daemon while it is MASTER and the backup daemon
/// otherwise; without one, both. The sync id is the `id` given, else the
/// instance's virtual_router_id, else 0.
pub fn sync_daemons(
    model: &crate::config::Model,
    states: &[(String, rvs_vrrp::router::State)],
) -> Vec<rvs_api::SyncDaemon> {
    use rvs_api::{SyncDaemon, SyncRole};
    let Some(sd) = &model.global.lvs_sync_daemon else {
        return vec![];
    };
    let inst = sd
        .instance
        .as_ref()
        .and_then(|n| model.vrrp.instances.iter().find(|i| i.name == *n));
    let daemon = |role| SyncDaemon {
        role,
        interface: Some(sd.interface.clone()),
        syncid: sd
            .sync_id
            .or(inst.map(|i| i.virtual_router_id))
            .unwrap_or(0),
        maxlen: sd.maxlen,
        group: sd.group,
        port: sd.port,
        ttl: sd.ttl,
    };
    match inst {
        Some(i) => {
            let master = states
                .iter()
                .any(|(n, s)| *n == i.name && *s == rvs_vrrp::router::State::Master);
            vec![daemon(if master {
                SyncRole::Master
            } else {
                SyncRole::Backup
            })]
        }
        None => vec![daemon(SyncRole::Master), daemon(SyncRole::Backup)],
    }
}

/// Run until SIGTERM or SIGINT; returns the exit status.
pub fn run(opts: &Options, load: &Loader) -> i32 {
    let reload = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [
        (signal_hook::consts::SIGHUP, &reload),
        (signal_hook::consts::SIGTERM, &stop),
        (signal_hook::consts::SIGINT, &stop),
    ] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(flag)) {
            tracing::error!(error = %e, "cannot handle signals");
            return 1;
        }
    }
    let counters = Arc::new(metrics::ConfigCounters::default());
    let mut bgp = crate::bgp::Driver::new();
    let model = match load(&opts.config) {
        Ok(l) => {
            counters.loaded(l.errors);
            if l.errors > 0 {
                tracing::error!(
                    errors = l.errors,
                    "the configuration has errors: the items in error are left out, the rest applies"
                );
            }
            l.model
        }
        Err(e) => {
            tracing::error!(error = %e, "the configuration does not load");
            return 1;
        }
    };
    let services = model.services.len();
    let mut running = model.clone();
    let model = Arc::new(model);
    let vrrp_counters = Arc::new(VrrpCounters::default());
    let mut ha = Ha::start(&model, &opts.socket, &vrrp_counters);
    let mut checks = match Checks::start(model) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the health checks");
            return 1;
        }
    };
    tracing::info!(config = %opts.config.display(), services, "configuration loaded");
    if let Some(addr) = opts.metrics {
        match TcpListener::bind(addr) {
            Ok(listener) => {
                let socket = opts.socket.clone();
                let board = Arc::clone(&checks.board);
                let counters = Arc::clone(&counters);
                let vrrp = Arc::clone(&vrrp_counters);
                let bgp = bgp.status();
                let spawned = std::thread::Builder::new()
                    .name("rvs-metrics".into())
                    .spawn(move || {
                        serve_metrics(listener, &socket, &board, &counters, &vrrp, &bgp)
                    });
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start the metrics thread");
                    return 1;
                }
                tracing::info!(%addr, "serving /metrics");
            }
            Err(e) => {
                tracing::error!(%addr, error = %e, "cannot listen for /metrics");
                return 1;
            }
        }
    }
    let mut call = |r: Request| rvs_api::call(&opts.socket, r);
    let mut last: Option<Instant> = None;
    let mut trimmed = Instant::now();
    let mut drain = None;
    while !stop.load(Ordering::Relaxed) {
        let mut now_due = last.is_none_or(|t| t.elapsed() >= RECONCILE_EVERY);
        if trimmed.elapsed() >= TRIM_EVERY {
            crate::heap::trim();
            trimmed = Instant::now();
        }
        if reload.swap(false, Ordering::Relaxed) {
            match load(&opts.config) {
                Ok(Loaded { model: m, errors }) => {
                    counters.loaded(errors);
                    if errors > 0 {
                        tracing::error!(
                            errors,
                            "the new configuration has errors: the items in error are left out, the rest applies"
                        );
                        for lost in lost_services(&running, &m) {
                            tracing::error!(
                                service = %lost,
                                "virtual server removed by the reload: the new configuration has errors, check whether it lost it to one"
                            );
                        }
                    }
                    let mut m = m;
                    if m.bgp_in_error && running.bgp.is_some() {
                        tracing::error!("the new bgp block has errors: keeping the running one");
                        m.bgp = running.bgp.clone();
                    }
                    running = m.clone();
                    tracing::info!(services = m.services.len(), "configuration reloaded");
                    if m.vrrp.instances != ha.instances {
                        ha.stop();
                        ha = Ha::start(&m, &opts.socket, &vrrp_counters);
                    }
                    checks.reload(Arc::new(m));
                    crate::heap::trim();
                    now_due = true;
                }
                Err(e) => {
                    counters.failed();
                    tracing::error!(
                        error = %e,
                        "the new configuration does not load: keeping the running one, the dataplane unchanged"
                    )
                }
            }
        }
        let drain_now = crate::bgp::drain_now(&checks.board);
        if checks.board.changed.swap(false, Ordering::Relaxed)
            | ha.board.changed.swap(false, Ordering::Relaxed)
            | (std::mem::replace(&mut drain, drain_now) != drain_now)
        {
            now_due = true;
        }
        if now_due {
            last = Some(Instant::now());
            let up = reconcile_once(&desired(&checks.board, &ha), &mut call);
            crate::bgp::step_board(&mut bgp, &checks.board, up);
        }
        std::thread::sleep(TICK);
    }
    bgp.withdraw_all();
    ha.stop();
    checks.omega();
    tracing::info!("stopping (the dataplane keeps forwarding)");
    0
}

/// Compare and, when they differ, send the plan as one batch; false when
/// the dataplane does not answer.
fn reconcile_once(
    desired: &Desired,
    call: &mut dyn FnMut(Request) -> Result<Response, rvs_api::FrameError>,
) -> bool {
    let current = match reconcile::fetch(call) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the dataplane's state (is rvs-dataplane running?)");
            return false;
        }
    };
    // The sync daemons are the dataplane's sockets, not part of its state:
    // they are started and stopped one by one, after the state changes.
    let (daemons, plan): (Vec<Request>, Vec<Request>) = reconcile::plan(desired, &current)
        .into_iter()
        .partition(|r| matches!(r, Request::StartDaemon(_) | Request::StopDaemon(_)));
    if !plan.is_empty() {
        let n = plan.len();
        match call(Request::Batch(plan)) {
            Ok(Response::Ok) => tracing::info!(changes = n, "dataplane reconciled"),
            Ok(Response::Error(e)) => {
                tracing::error!(error = %e.message, "the dataplane refused the changes: nothing applied")
            }
            Ok(other) => tracing::error!(answer = ?other, "unexpected answer to the changes"),
            Err(e) => tracing::warn!(error = ?e, "cannot send the changes"),
        }
    }
    for r in daemons {
        let what = format!("{r:?}");
        match call(r) {
            Ok(Response::Ok) => tracing::info!(request = %what, "sync daemon changed"),
            Ok(Response::Error(e)) => {
                tracing::error!(request = %what, error = %e.message, "the dataplane refused")
            }
            Ok(other) => tracing::error!(answer = ?other, "unexpected answer"),
            Err(e) => tracing::warn!(error = ?e, "cannot send the change"),
        }
    }
    true
}

/// A minimal HTTP/1.1 server for `GET /metrics`: one request per
/// connection, bounded reads (2 s, 8 KiB), every scrape read fresh from the
/// dataplane's admin API.
fn serve_metrics(
    listener: TcpListener,
    socket: &str,
    board: &Board,
    counters: &metrics::ConfigCounters,
    vrrp: &VrrpCounters,
    bgp: &std::sync::Mutex<crate::bgp::Status>,
) {
    for stream in listener.incoming().flatten() {
        if let Err(e) = answer(stream, socket, board, counters, vrrp, bgp) {
            tracing::debug!(error = %e, "a /metrics request failed");
        }
    }
}

fn answer(
    stream: TcpStream,
    socket: &str,
    board: &Board,
    counters: &metrics::ConfigCounters,
    vrrp: &VrrpCounters,
    bgp: &std::sync::Mutex<crate::bgp::Status>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(std::io::Read::take(stream.try_clone()?, 8192));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The rest of the head, up to the blank line.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut out = stream;
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    if !request_line.starts_with("GET ") || (path != "/metrics" && path != "/") {
        return out.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n",
        );
    }
    let (status, mut body) = match scrape(socket, board, counters, vrrp) {
        Ok(text) => ("200 OK", text),
        Err(e) => ("503 Service Unavailable", format!("# rvs-dataplane: {e}\n")),
    };
    // The control plane's own BGP state, even when the dataplane is down.
    body.push_str(&crate::bgp::metrics(
        &bgp.lock().unwrap_or_else(|p| p.into_inner()),
    ));
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn scrape(
    socket: &str,
    board: &Board,
    loads: &metrics::ConfigCounters,
    vrrp: &VrrpCounters,
) -> Result<String, String> {
    let ask = |r: Request| rvs_api::call(socket, r).map_err(|e| format!("{e:?}"));
    let Response::Info(info) = ask(Request::Info)? else {
        return Err("unexpected answer to Info".into());
    };
    let Response::Services(services) = ask(Request::List { service: None })? else {
        return Err("unexpected answer to List".into());
    };
    let Response::Counters(counters) = ask(Request::Counters)? else {
        return Err("unexpected answer to Counters".into());
    };
    let Response::Cores(cores) = ask(Request::Cores)? else {
        return Err("unexpected answer to Cores".into());
    };
    let Response::Defense(defense) = ask(Request::GetDefense)? else {
        return Err("unexpected answer to GetDefense".into());
    };
    let health = metrics::health_of(&board.lock());
    Ok(metrics::render(&metrics::Scrape {
        info,
        services,
        counters,
        cores,
        health,
        config: loads.get(),
        vrrp: vrrp.get(),
        defense,
    }))
}

#[cfg(test)]
mod tests {
    use super::sync_daemons;
    use crate::config::{parse, Dialect};
    use rvs_api::SyncRole;
    use rvs_vrrp::router::State;

    fn model(global: &str) -> crate::config::Model {
        let text = format!(
            "global_defs {{\n{global}\n}}\n\
             vrrp_instance VI_1 {{\n interface rvs0\n virtual_router_id 51\n priority 100\n \
             virtual_ipaddress {{\n 198.18.0.100\n }}\n}}\n"
        );
        parse(&text, std::path::Path::new("k.conf"), Dialect::Keepalived)
            .expect("parses")
            .0
    }

    #[test]
    fn lvs_sync_daemon_follows_its_instance() {
        let m = model("lvs_sync_daemon rvs0 inst VI_1");
        let master = [("VI_1".to_string(), State::Master)];
        let backup = [("VI_1".to_string(), State::Backup)];
        let d = sync_daemons(&m, &master);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].role, d[0].syncid),
            (SyncRole::Master, 51),
            "id from the VRID"
        );
        assert_eq!(d[0].interface.as_deref(), Some("rvs0"));
        assert_eq!(sync_daemons(&m, &backup)[0].role, SyncRole::Backup);
        // Without an instance both run; `id` wins over the VRID.
        let both = sync_daemons(&model("lvs_sync_daemon rvs0 id 7"), &master);
        assert_eq!(
            both.iter().map(|d| (d.role, d.syncid)).collect::<Vec<_>>(),
            vec![(SyncRole::Master, 7), (SyncRole::Backup, 7)]
        );
        assert!(sync_daemons(&model(""), &master).is_empty());
    }
}
