//! Route announcement through the BIRD 2 beside rvs-controlplane
//! (issue 21): rvs never speaks BGP, it writes BIRD's configuration.
//!
//! ```text
//!  model + health + dataplane answering + drain ─ decide ─ include::text
//!      ─ include::write (temp, rename) ─ bird::command("configure") ─ BIRD ─ BGP ─ routers
//! ```
//!
//! Contract:
//! - the operator's bird.conf holds `router id`, `protocol device {}` and
//!   `include "<bird_include>";`; rvs owns the included file ([`include`](mod@include));
//! - at every reconcile (and at once after a reload, a change of health or
//!   of the drain) [`Driver::step`] computes the include
//!   ([`decide`](fn@decide)): when its text differs from the last one BIRD accepted
//!   (or the last attempt failed) it is written and `configure` sent through
//!   the control socket ([`bird`]); then `show protocols` reads the
//!   sessions. A BIRD that is missing, not running or refuses the include
//!   is logged at error level (once per distinct error), counted
//!   (`rvs_bgp_bird_errors_total`), shown as `rvs_bgp_bird_up 0` with every
//!   VIP `rvs_bgp_announced 0`, and retried at the next reconcile;
//!   forwarding is never touched;
//! - `rvs_bgp_announced{vip}` is 1 only for a VIP in the include BIRD
//!   last accepted while BIRD answers, and with a neighbor of its family
//!   (an IPv6 VIP needs an IPv6 neighbor);
//! - drain: the block's `drain`, overridden by the state file
//!   [`drain_file`] that `rvs-controlplane --drain on|off|config` writes
//!   (`config` removes it): a command's state holds across reloads and
//!   restarts of the daemon until undone;
//! - [`Driver::withdraw_all`] (graceful stop; a reload that removes the
//!   block) writes [`include::EMPTY`] and configures: the sessions close,
//!   the routers withdraw the routes at once;
//! - dest sets (decision 45, [`dest_set`]): an `mh` VIP's route carries
//!   the hash of its dests; after `show protocols` the driver reads each
//!   session's import table (the other directors' paths, sent back by
//!   the routers with ADD-PATH) and compares: `rvs_bgp_dest_set_mismatch
//!   {vip}` is 1 while a path carries another hash, `rvs_bgp_peers_seen
//!   {vip}` counts the tagged paths, and a change of the mismatch is
//!   logged once (a warning when it starts, info when it ends). A table
//!   BIRD cannot show is logged once and counts as no paths seen.

#![forbid(unsafe_code)]

pub mod bird;
pub mod decide;
pub mod dest_set;
pub mod include;

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::bgp::Bgp;
pub use decide::{decide, Vip, Why};

/// What the driver knows, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// A `bgp` block is configured.
    pub enabled: bool,
    /// BIRD answers and runs the include rvs wants.
    pub bird_up: bool,
    /// Failed attempts to write the include or to talk to BIRD.
    pub errors_total: u64,
    pub drained: bool,
    /// Every configured VIP: announced or not.
    pub announced: Vec<(IpAddr, bool)>,
    /// Each neighbor's session: established or not.
    pub sessions: Vec<(IpAddr, bool)>,
    /// The last error, while it lasts.
    pub last_error: Option<String>,
    /// Each `mh` VIP's dest set against the other directors'.
    pub dest_sets: Vec<dest_set::DestSet>,
}

/// The drain state file of `bgp`: `<bird_include>.drain`.
pub fn drain_file(bgp: &Bgp) -> PathBuf {
    let mut p = bgp.bird_include.clone().into_os_string();
    p.push(".drain");
    PathBuf::from(p)
}

/// The drain a command set (`Some`) or none (the file is absent or says
/// neither on nor off).
pub fn drain_override(file: &Path) -> Option<bool> {
    match std::fs::read_to_string(file).ok()?.trim() {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

/// `--drain on|off|config`: write (or remove, `None`) the state file.
pub fn set_drain(file: &Path, drain: Option<bool>) -> std::io::Result<()> {
    match drain {
        Some(on) => include::write(file, if on { "on\n" } else { "off\n" }),
        None => match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// Keeps BIRD's include as the decision says.
pub struct Driver {
    status: Arc<Mutex<Status>>,
    /// The include file, socket and text BIRD last accepted.
    applied: Option<(PathBuf, PathBuf, String)>,
    /// The VIPs whose dest sets differ from a peer's, as last logged.
    mismatched: std::collections::BTreeSet<IpAddr>,
    /// The last error reading the import tables, as logged.
    peers_error: Option<String>,
}

impl Default for Driver {
    fn default() -> Self {
        Self::new()
    }
}

impl Driver {
    pub fn new() -> Driver {
        Driver {
            status: Arc::new(Mutex::new(Status::default())),
            applied: None,
            mismatched: Default::default(),
            peers_error: None,
        }
    }

    /// The status, shared with `/metrics`.
    pub fn status(&self) -> Arc<Mutex<Status>> {
        Arc::clone(&self.status)
    }

    fn lock(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bring BIRD to `bgp` with the VIPs `vips` (drained or not as
    /// `drained`); without a block, withdraw what an earlier one
    /// announced.
    pub fn step(&mut self, bgp: Option<&Bgp>, vips: &[Vip], drained: bool) {
        let Some(bgp) = bgp else {
            if self.applied.is_some() {
                self.withdraw_all();
            }
            let errors_total = self.lock().errors_total;
            *self.lock() = Status {
                errors_total,
                ..Status::default()
            };
            return;
        };
        let text = include::text(bgp, vips);
        let want = (bgp.bird_include.clone(), bgp.bird_socket.clone(), text);
        let mut result = Ok(());
        if self.applied.as_ref() != Some(&want) {
            result = apply(&want.0, &want.1, &want.2);
            match &result {
                Ok(()) => {
                    let n = vips.iter().filter(|v| v.announce()).count();
                    tracing::info!(
                        include = %want.0.display(),
                        announced = n,
                        withdrawn = vips.len() - n,
                        drained,
                        "BIRD reconfigured"
                    );
                    self.applied = Some(want.clone());
                }
                Err(_) => self.applied = None,
            }
        }
        let sessions = match &result {
            Ok(()) => {
                bird::command(&bgp.bird_socket, "show protocols").map(|r| bird::protocols(&r))
            }
            Err(e) => Err(e.clone()),
        };
        if sessions.is_err() {
            // A BIRD that stopped answering may come back with another
            // configuration: configure again next time.
            self.applied = None;
        }
        let dest_sets = match &sessions {
            Ok(_) => self.dest_sets(bgp, vips),
            Err(_) => Vec::new(),
        };
        let mut st = self.lock();
        st.enabled = true;
        st.drained = drained;
        match sessions {
            Ok(protocols) => {
                st.bird_up = true;
                if st.last_error.take().is_some() {
                    tracing::info!("BIRD answers again and runs rvs's include");
                }
                st.sessions = bgp
                    .neighbors
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let name = include::protocol_name(i);
                        let up = protocols.iter().any(|(p, up)| *p == name && *up);
                        (n.address, up)
                    })
                    .collect();
            }
            Err(e) => {
                st.bird_up = false;
                st.errors_total += 1;
                st.sessions = bgp.neighbors.iter().map(|n| (n.address, false)).collect();
                if st.last_error.as_deref() != Some(e.as_str()) {
                    tracing::error!(
                        error = %e,
                        socket = %bgp.bird_socket.display(),
                        "BIRD is not running rvs's routes: nothing is announced as far as rvs knows (forwarding continues; retrying at every reconcile)"
                    );
                }
                st.last_error = Some(e);
            }
        }
        st.dest_sets = dest_sets;
        let up = st.bird_up;
        // A VIP of a family no neighbor carries is announced to nobody.
        let carried = |a: &IpAddr| {
            bgp.neighbors
                .iter()
                .any(|n| n.address.is_ipv6() == a.is_ipv6())
        };
        st.announced = vips
            .iter()
            .map(|v| (v.addr, up && v.announce() && carried(&v.addr)))
            .collect();
    }

    /// Each `mh` VIP's dest set against the tagged paths of every
    /// session's import table; a change of mismatch logged.
    fn dest_sets(&mut self, bgp: &Bgp, vips: &[Vip]) -> Vec<dest_set::DestSet> {
        let ours: std::collections::BTreeMap<IpAddr, u32> = vips
            .iter()
            .filter_map(|v| Some((v.addr, v.dest_set?)))
            .collect();
        if ours.is_empty() {
            return Vec::new();
        }
        let mut seen = Vec::new();
        let mut error = None;
        for (i, n) in bgp.neighbors.iter().enumerate() {
            let channel = if n.address.is_ipv6() { "ipv6" } else { "ipv4" };
            let cmd = format!(
                "show route import table {}.{channel} all",
                include::protocol_name(i)
            );
            match bird::command(&bgp.bird_socket, &cmd) {
                Ok(reply) => seen.extend(dest_set::peer_hashes(&reply)),
                Err(e) => error = Some(e),
            }
        }
        if error != self.peers_error {
            if let Some(e) = &error {
                tracing::warn!(error = %e, "cannot read the other directors' routes from BIRD: their dest sets are not compared");
            }
            self.peers_error = error;
        }
        let sets = dest_set::compare(&ours, &seen);
        for s in &sets {
            if s.mismatch && self.mismatched.insert(s.vip) {
                tracing::warn!(vip = %s.vip, hash = s.hash, peers = s.peers, "another director has other mh dests for this VIP: its Maglev table differs, connections that move between directors may reach another real server");
            } else if !s.mismatch && self.mismatched.remove(&s.vip) {
                tracing::info!(vip = %s.vip, peers = s.peers, "the directors' mh dests agree again for this VIP");
            }
        }
        sets
    }

    /// Write the empty include and configure: every route withdrawn, every
    /// session closed (graceful stop).
    pub fn withdraw_all(&mut self) {
        let Some((file, socket, _)) = self.applied.take() else {
            return;
        };
        match apply(&file, &socket, include::EMPTY) {
            Ok(()) => tracing::info!(include = %file.display(), "BGP routes withdrawn"),
            Err(e) => {
                self.lock().errors_total += 1;
                tracing::error!(error = %e, "cannot withdraw the BGP routes: BIRD may still announce them")
            }
        }
        let mut st = self.lock();
        st.bird_up = false;
        for (_, a) in st.announced.iter_mut() {
            *a = false;
        }
    }
}

/// Write `text` to `file` and have the BIRD at `socket` read it.
fn apply(file: &Path, socket: &Path, text: &str) -> Result<(), String> {
    include::write(file, text)
        .map_err(|e| format!("cannot write BIRD's include {}: {e}", file.display()))?;
    bird::command(socket, "configure").map(|_| ())
}

/// The `rvs_bgp_*` metrics of `st` (nothing without a `bgp` block).
pub fn metrics(st: &Status) -> String {
    let mut out = String::new();
    if !st.enabled {
        return out;
    }
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    family(
        "rvs_bgp_bird_up",
        "gauge",
        "1 when BIRD answers on its control socket and runs the include rvs wrote.",
        &[(String::new(), u64::from(st.bird_up))],
    );
    family(
        "rvs_bgp_bird_errors_total",
        "counter",
        "Failed attempts to write BIRD's include, to configure BIRD or to read it.",
        &[(String::new(), st.errors_total)],
    );
    family(
        "rvs_bgp_drained",
        "gauge",
        "1 when the director is drained: every VIP withdrawn.",
        &[(String::new(), u64::from(st.drained))],
    );
    let announced: Vec<(String, u64)> = st
        .announced
        .iter()
        .map(|(vip, a)| (format!("{{vip=\"{vip}\"}}"), u64::from(*a)))
        .collect();
    family(
        "rvs_bgp_announced",
        "gauge",
        "1 when BIRD announces the VIP (BIRD accepted it and answers).",
        &announced,
    );
    let sessions: Vec<(String, u64)> = st
        .sessions
        .iter()
        .map(|(n, up)| (format!("{{neighbor=\"{n}\"}}"), u64::from(*up)))
        .collect();
    family(
        "rvs_bgp_session_up",
        "gauge",
        "1 when the BGP session with the neighbor is established.",
        &sessions,
    );
    if !st.dest_sets.is_empty() {
        let by_vip = |f: &dyn Fn(&dest_set::DestSet) -> u64| -> Vec<(String, u64)> {
            st.dest_sets
                .iter()
                .map(|d| (format!("{{vip=\"{}\"}}", d.vip), f(d)))
                .collect()
        };
        family(
            "rvs_bgp_dest_set_mismatch",
            "gauge",
            "1 when another director announces this mh VIP with other dests (its Maglev table differs).",
            &by_vip(&|d| u64::from(d.mismatch)),
        );
        family(
            "rvs_bgp_peers_seen",
            "gauge",
            "Other directors' routes to this mh VIP seen with a dest-set hash.",
            &by_vip(&|d| u64::from(d.peers)),
        );
        family(
            "rvs_bgp_dest_set_hash",
            "gauge",
            "The hash of this director's mh dests for the VIP (carried as the large community (local_as, 45, hash)).",
            &by_vip(&|d| u64::from(d.hash)),
        );
    }
    out
}

/// Whether `bgp` is drained now: the command's state, else the block's.
pub fn drained(bgp: &Bgp) -> bool {
    drain_override(&drain_file(bgp)).unwrap_or(bgp.drain)
}

/// The drain of the board's model now (`None` without a `bgp` block): the
/// daemon looks at it every tick and reconciles at once when it changes.
pub fn drain_now(board: &crate::health::runner::Board) -> Option<bool> {
    let model = Arc::clone(&board.lock().model);
    model.bgp.as_ref().map(drained)
}

/// One step of `driver` for the board's model and health, the dataplane
/// answering or not.
pub fn step_board(driver: &mut Driver, board: &crate::health::runner::Board, dataplane_up: bool) {
    use crate::config::HealthView;
    let (model, vips) = {
        let st = board.lock();
        let Some(bgp) = &st.model.bgp else {
            drop(st);
            driver.step(None, &[], false);
            return;
        };
        let drained = drained(bgp);
        let mut vips = decide(&st.model, &|i| st.health.quorum(i), dataplane_up, drained);
        let hashes = dest_set::hashes(&st.model.requests_with(&st.health));
        for v in &mut vips {
            v.dest_set = hashes.get(&v.addr).copied();
        }
        (Arc::clone(&st.model), (vips, drained))
    };
    driver.step(model.bgp.as_ref(), &vips.0, vips.1);
}
