//! The checks' I/O shell: every checker of the configuration as a task on
//! a small async runtime (two threads run hundreds of probes at once: a
//! probe waiting on a slow or hung real server holds no thread and delays
//! no other check).
//!
//! Contract:
//! - [`Checks::start`] runs the checkers of a model on a runtime of its
//!   own, [`Checks::start_on`] on the caller's (the tests' paused clock);
//!   [`Checks::reload`] replaces the model, keeping the state of the
//!   checkers it still has ([`Health::carry_over`]), and stops the old
//!   tasks;
//! - each task sleeps until its checker is due, probes with its timeout,
//!   and hands the verdict to the shared [`Health`]; a change of a dest or
//!   a quorum is logged once, with its reason, runs the configured
//!   `notify_up`/`notify_down`/`quorum_up`/`quorum_down` command, and
//!   raises the `changed` flag the daemon reconciles on. Changes are queued
//!   under the board's lock and announced by one task, in the order they
//!   happened (a `quorum_down` never runs after the `quorum_up` that
//!   followed it);
//! - probes use kernel sockets: on a director their packets leave by the
//!   exception interface and travel the dataplane's wire.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::time::Instant;

use crate::config::{model::dest_addr, Check, CheckKind, Model};

use super::machine::Verdict;
use super::machine::{service_name, CheckId, Event, Health};
use super::probe::{self, Target};

/// The health of the running model, shared by the tasks, the daemon and
/// `/metrics`.
pub struct Board {
    state: Mutex<BoardState>,
    /// Changes to announce, in order (sent under the lock).
    events: tokio::sync::mpsc::UnboundedSender<(Arc<Model>, Event)>,
    /// Set when a dest or quorum changed: the daemon reconciles.
    pub changed: AtomicBool,
    start: Instant,
}

/// What the board holds.
pub struct BoardState {
    pub model: Arc<Model>,
    pub health: Health,
    /// Bumped by each reload: tasks of an older one stop.
    generation: u64,
    /// The last probe's duration and verdict, by checker.
    pub last: Vec<(CheckId, Duration, bool)>,
}

impl Board {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    pub fn lock(&self) -> MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The IPVS services whose configured service has lost its quorum: the
    /// hook VRRP tracking uses to lower a router's priority.
    pub fn without_quorum(&self) -> Vec<rvs_api::ServiceKey> {
        let st = self.lock();
        st.model
            .services
            .iter()
            .zip(&st.health.services)
            .filter(|(_, h)| !h.has_quorum())
            .flat_map(|(s, _)| s.keys.iter().copied())
            .collect()
    }
}

/// The runtime and the board.
pub struct Checks {
    /// The runtime [`Checks::start`] made; `None` when started on the
    /// caller's ([`Checks::start_on`]).
    runtime: Option<Runtime>,
    /// Where the tasks run.
    handle: Handle,
    pub board: Arc<Board>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Threads of the checks' runtime.
const THREADS: usize = 2;

impl Checks {
    /// Start checking `model`'s real servers on a runtime of their own.
    pub fn start(model: Arc<Model>) -> std::io::Result<Checks> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(THREADS)
            .thread_name("rvs-checks")
            .enable_all()
            .build()?;
        let mut c = Checks::start_on(runtime.handle().clone(), model);
        c.runtime = Some(runtime);
        Ok(c)
    }

    /// Start checking `model`'s real servers on the runtime of `handle`
    /// (its clock is the checks' clock: a test's paused one, say). Call
    /// [`Checks::omega`] from outside that runtime.
    pub fn start_on(handle: Handle, model: Arc<Model>) -> Checks {
        let _in_runtime = handle.enter();
        let start = Instant::now();
        let health = Health::new(&model, 0, &mut |w| fastrand::u64(0..=w));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Arc<Model>, Event)>();
        handle.spawn(async move {
            while let Some((model, e)) = rx.recv().await {
                announce(&model, &e);
            }
        });
        for w in unsupported(&model) {
            tracing::warn!("{w}");
        }
        for e in health.starting_without_quorum() {
            let _ = tx.send((Arc::clone(&model), e));
        }
        let board = Arc::new(Board {
            state: Mutex::new(BoardState {
                model,
                health,
                generation: 0,
                last: vec![],
            }),
            events: tx,
            changed: AtomicBool::new(false),
            start,
        });
        let mut c = Checks {
            runtime: None,
            handle,
            board,
            tasks: vec![],
        };
        c.spawn_all();
        c
    }

    /// Check `model` from now on, keeping what the old model's checkers
    /// knew of the real servers both have.
    pub fn reload(&mut self, model: Arc<Model>) {
        for w in unsupported(&model) {
            tracing::warn!("{w}");
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
        {
            let now = self.board.now_ms();
            let mut st = self.board.lock();
            let mut health = Health::new(&model, now, &mut |w| fastrand::u64(0..=w));
            let events = health.carry_over(&model, &st.health, &st.model, now);
            for e in events {
                let _ = self.board.events.send((Arc::clone(&model), e));
            }
            st.health = health;
            st.model = model;
            st.generation += 1;
            st.last.clear();
        }
        self.spawn_all();
    }

    fn spawn_all(&mut self) {
        let (model, generation, ids) = {
            let st = self.board.lock();
            (Arc::clone(&st.model), st.generation, st.health.check_ids())
        };
        let ssl = model.global.ssl.clone().map(Arc::new);
        for id in ids {
            let service = &model.services[id.service];
            let dest = &service.dests[id.dest];
            let check = dest.checks[id.check].clone();
            let Some(key) = service.keys.first() else {
                continue;
            };
            let port = dest_addr(key, dest.addr, dest.forward).port();
            let target = target_of(&check, dest.addr.ip(), port);
            let board = Arc::clone(&self.board);
            let ssl = ssl.clone();
            self.tasks.push(self.handle.spawn(async move {
                check_loop(board, generation, id, check.kind, target, ssl).await;
            }));
        }
    }
}

impl Checks {
    /// At shutdown, keepalived's `omega`: the `notify_down` of each live
    /// real server and the `quorum_down` of each service with quorum, for
    /// the services that ask for it; each command is waited for.
    pub fn omega(&self) {
        let mut commands: Vec<(String, String)> = vec![];
        {
            let st = self.board.lock();
            for (si, s) in st.model.services.iter().enumerate() {
                if !s.omega {
                    continue;
                }
                let h = &st.health.services[si];
                for (d, dh) in s.dests.iter().zip(&h.dests) {
                    if let (true, Some(cmd)) = (dh.is_up(), &d.notify_down) {
                        commands.push((service_name(s), cmd.clone()));
                    }
                }
                // keepalived runs quorum_down at stop whatever the quorum.
                if let Some(cmd) = &s.quorum_down {
                    commands.push((service_name(s), cmd.clone()));
                }
            }
        }
        // Each gets a second, as keepalived gives its shutdown scripts.
        let scripts = async {
            for (service, cmd) in commands {
                let child = tokio::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&cmd)
                    .stdin(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn();
                let status = match child {
                    Ok(mut c) => {
                        match tokio::time::timeout(Duration::from_secs(1), c.wait()).await {
                            Ok(s) => format!("{s:?}"),
                            Err(_) => "killed after 1s".to_string(),
                        }
                    }
                    Err(e) => e.to_string(),
                };
                tracing::info!(%service, command = %cmd, %status, "omega script");
            }
        };
        match &self.runtime {
            Some(runtime) => runtime.block_on(scripts),
            None => self.handle.block_on(scripts),
        }
    }
}

impl Drop for Checks {
    fn drop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

/// What a model asks of the checkers that rvs does not do, once each: said
/// at load rather than silently ignored.
pub fn unsupported(model: &Model) -> Vec<String> {
    let mut out = vec![];
    if model.services.iter().any(|s| s.ha_suspend) {
        out.push("ha_suspend: checks are not suspended while a VIP is not local (rvs has no VRRP yet) - ignoring".to_string());
    }
    let fast = model
        .services
        .iter()
        .flat_map(|s| &s.dests)
        .flat_map(|d| &d.checks)
        .any(|c| matches!(&c.kind, CheckKind::Http(h) | CheckKind::Ssl(h) if h.fast_recovery));
    if fast {
        out.push("fast_recovery is not supported by rvs - ignoring".to_string());
    }
    if !model.global.notification_email.is_empty() {
        out.push("notification_email: rvs sends no email alerts; transitions are logged (and notify scripts run)".to_string());
    }
    out
}

/// Where checker `c` of a dest at `ip` (dataplane port `port`) connects.
pub fn target_of(c: &Check, ip: std::net::IpAddr, port: u16) -> Target {
    Target {
        addr: SocketAddr::new(c.connect_ip.unwrap_or(ip), c.connect_port.unwrap_or(port)),
        bind: c
            .bindto
            .map(|a| SocketAddr::new(a, c.bind_port.unwrap_or(0))),
        bind_if: c.bind_if.clone(),
        fwmark: c.fwmark,
        timeout: c.connect_timeout,
    }
}

async fn check_loop(
    board: Arc<Board>,
    generation: u64,
    id: CheckId,
    kind: CheckKind,
    target: Target,
    ssl: Option<Arc<crate::config::Ssl>>,
) {
    loop {
        let due = {
            let st = board.lock();
            if st.generation != generation {
                return;
            }
            st.health.checker(id).due_ms()
        };
        tokio::time::sleep_until(board.start + Duration::from_millis(due)).await;
        let began = Instant::now();
        let verdict = probe::probe(&kind, &target, ssl.as_deref()).await;
        let took = began.elapsed();
        let now = board.now_ms();
        let (changed, model) = {
            let mut st = board.lock();
            if st.generation != generation {
                return;
            }
            let events = st.health.report(id, now, &verdict);
            let ok = !matches!(verdict, Verdict::Down(_));
            match st.last.iter_mut().find(|l| l.0 == id) {
                Some(l) => *l = (id, took, ok),
                None => st.last.push((id, took, ok)),
            }
            let changed = !events.is_empty();
            for e in events {
                let _ = board.events.send((Arc::clone(&st.model), e));
            }
            (changed, Arc::clone(&st.model))
        };
        if let Verdict::Down(why) = &verdict {
            let s = &model.services[id.service];
            let d = &s.dests[id.dest];
            let c = &d.checks[id.check];
            if c.log_all_failures {
                tracing::warn!(service = %service_name(s), dest = %d.addr, check = c.kind.keyword(), reason = %why, "check failed");
            } else {
                tracing::debug!(service = %service_name(s), dest = %d.addr, check = c.kind.keyword(), reason = %why, "check failed");
            }
        }
        if changed {
            board.changed.store(true, Ordering::Relaxed);
        }
    }
}

/// Log an event once, and run the command the configuration has for it.
fn announce(model: &Model, e: &Event) {
    let (line, command) = match *e {
        Event::DestUp { service, dest } => {
            let (s, d) = (
                &model.services[service],
                &model.services[service].dests[dest],
            );
            tracing::info!(service = %service_name(s), dest = %d.addr, "real server UP");
            ("up", d.notify_up.clone())
        }
        Event::DestDown {
            service,
            dest,
            ref reason,
        } => {
            let (s, d) = (
                &model.services[service],
                &model.services[service].dests[dest],
            );
            let action = if d.inhibit_on_failure {
                "weight 0 (inhibit_on_failure)"
            } else {
                "removed"
            };
            tracing::warn!(service = %service_name(s), dest = %d.addr, %reason, action, "real server DOWN");
            ("down", d.notify_down.clone())
        }
        Event::DestWeight {
            service,
            dest,
            weight,
        } => {
            let (s, d) = (
                &model.services[service],
                &model.services[service].dests[dest],
            );
            tracing::info!(service = %service_name(s), dest = %d.addr, weight, "real server weight (misc_dynamic)");
            ("weight", None)
        }
        Event::QuorumGained { service } => {
            let s = &model.services[service];
            tracing::info!(service = %service_name(s), "quorum gained");
            ("quorum up", s.quorum_up.clone())
        }
        Event::QuorumLost { service } => {
            let s = &model.services[service];
            let sorry = s.sorry_server.as_ref().map(|x| x.addr.to_string());
            tracing::warn!(service = %service_name(s), sorry_server = ?sorry, "quorum lost");
            ("quorum down", s.quorum_down.clone())
        }
    };
    if let Some(cmd) = command {
        run_script(line, cmd);
    }
}

/// Start a notify command with `/bin/sh -c`; it is waited for on the
/// runtime, never by the caller.
fn run_script(what: &'static str, cmd: String) {
    let child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(false)
        .spawn();
    match child {
        Ok(mut child) => {
            tokio::spawn(async move {
                match child.wait().await {
                    Ok(status) if !status.success() => {
                        tracing::warn!(command = %cmd, %status, "{what} script failed")
                    }
                    Err(e) => tracing::warn!(command = %cmd, error = %e, "{what} script"),
                    _ => {}
                }
            });
        }
        Err(e) => tracing::warn!(command = %cmd, error = %e, "cannot run the {what} script"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Dialect};
    use std::path::Path;

    fn model(text: &str) -> Arc<Model> {
        let (m, _) = config::parse(
            text,
            Path::new("/test/keepalived.conf"),
            Dialect::Keepalived,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Arc::new(m)
    }

    /// Poll `f` every 20 ms of the checks' clock (paused: it jumps to the
    /// next timer whenever the runtime is idle) until it holds, giving up
    /// after 10 s of real time (an event awaited, not a time asserted: the
    /// kernel and the notify scripts run in real time).
    async fn eventually(mut f: impl FnMut() -> bool) -> bool {
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < give_up {
            if f() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        f()
    }

    /// The whole loop on real sockets: a TCP_CHECK'd real server whose
    /// listener goes away is found down, the board says so, the requests
    /// leave it out, and its notify_down runs; back, it returns. The
    /// checks' clock is paused: `delay_loop` and the timeouts cost no real
    /// time.
    #[tokio::test(start_paused = true)]
    async fn a_real_server_that_goes_away_is_taken_out_and_notified() {
        let dir = std::env::temp_dir().join(format!("rvs-runner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("notify.log");
        // The real server accepts (and drops) each check's connection, so
        // its backlog never fills however many checks the paused clock
        // runs.
        let serve = |l: std::net::TcpListener| {
            l.set_nonblocking(true).unwrap();
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            tokio::spawn(async move {
                loop {
                    let _ = l.accept().await;
                }
            })
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = serve(listener);
        let text = format!(
            "virtual_server 10.0.0.1 80 {{\n protocol TCP\n lb_kind NAT\n delay_loop 0.1\n \
             real_server 127.0.0.1 {port} {{\n  notify_down \"/bin/sh -c 'echo down >> {log}'\"\n  \
             notify_up \"/bin/sh -c 'echo up >> {log}'\"\n  \
             TCP_CHECK {{\n   connect_timeout 0.5\n   retry 0\n   warmup 0\n  }}\n }}\n \
             real_server 127.0.0.2 {port} {{\n }}\n}}\n",
            log = log.display()
        );
        let checks = Checks::start_on(Handle::current(), model(&text));
        let dests = |c: &Checks| -> Vec<String> {
            let st = c.board.lock();
            st.model
                .requests_with(&st.health)
                .into_iter()
                .filter_map(|r| match r {
                    rvs_api::Request::AddDest { dest, .. } => Some(dest.addr.ip().to_string()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(dests(&checks), ["127.0.0.1", "127.0.0.2"]);
        server.abort();
        assert!(
            eventually(|| dests(&checks) == ["127.0.0.2"]).await,
            "{:?}",
            dests(&checks)
        );
        assert!(checks.board.changed.swap(false, Ordering::Relaxed));
        let read = || std::fs::read_to_string(&log).unwrap_or_default();
        assert!(eventually(|| read() == "down\n").await, "{:?}", read());
        let back = serve(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
        assert!(
            eventually(|| dests(&checks).len() == 2).await,
            "{:?}",
            dests(&checks)
        );
        assert!(eventually(|| read() == "down\nup\n").await, "{:?}", read());
        assert!(checks.board.without_quorum().is_empty());
        drop(checks);
        back.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn what_rvs_does_not_do_is_said() {
        let m = model(
            "global_defs {\n notification_email {\n  ops@example.com\n }\n}\n\
             virtual_server 10.0.0.1 80 {\n protocol TCP\n ha_suspend\n \
             real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n   }\n   fast_recovery\n  }\n }\n}\n",
        );
        let w = unsupported(&m);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(unsupported(&model(
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n }\n}\n"
        ))
        .is_empty());
    }

    /// keepalived's omega: at stop, the notify_down of live real servers
    /// and the quorum_down of the service run, each waited for.
    #[test]
    fn omega_runs_the_down_scripts_at_stop() {
        let dir = std::env::temp_dir().join(format!("rvs-omega-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("omega.log");
        let text = format!(
            "virtual_server 10.0.0.1 80 {{\n protocol TCP\n lb_kind NAT\n omega\n \
             quorum_down \"/bin/sh -c 'echo quorum_down >> {log}'\"\n \
             real_server 10.0.0.2 80 {{\n  notify_down \"/bin/sh -c 'echo rs_down >> {log}'\"\n }}\n}}\n",
            log = log.display()
        );
        let checks = Checks::start(model(&text)).unwrap();
        checks.omega();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "rs_down\nquorum_down\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
