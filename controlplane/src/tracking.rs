//! VRRP trackers' shell: the `vrrp_script`s some instance or sync group
//! tracks run on a small runtime of their own, and tracked interfaces are
//! read from the kernel; [`rvs_vrrp::track`] turns their statuses into an
//! instance's priority and FAULT.
//!
//! Contract:
//! - a script runs every `interval`, through `sh -c` in its own process
//!   group (killed with it after `timeout`), as `user` when given, exactly
//!   as a MISC_CHECK runs; exit 0 is a success. Its status changes are
//!   logged once each, in keepalived's words (`VRRP_Script(NAME)
//!   succeeded` / `failed`). Scripts nobody tracks do not run;
//! - an interface is up while it exists with IFF_UP and IFF_RUNNING;
//! - a track entry's weight is its own, else its script's; its `reverse`
//!   is its own or its script's.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rvs_vrrp::track::{ScriptStatus, Tracker};

use crate::config::model::{MiscCheck, Track, VrrpScript};
use crate::config::Model;
use crate::health::machine::Verdict;
use crate::health::probe;

/// The statuses of the tracked scripts, by name.
#[derive(Default)]
pub struct ScriptBoard {
    status: Mutex<HashMap<String, ScriptStatus>>,
}

impl ScriptBoard {
    pub fn ok(&self, name: &str) -> Option<bool> {
        let st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        st.get(name).map(ScriptStatus::ok)
    }

    /// Record a run; true when the status changed.
    fn record(&self, name: &str, success: bool) -> bool {
        let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        st.get_mut(name).is_some_and(|s| s.record(success))
    }
}

/// The running scripts.
pub struct Scripts {
    pub board: Arc<ScriptBoard>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    scripts: Vec<VrrpScript>,
}

/// The names of the scripts some instance or sync group tracks.
fn tracked(model: &Model) -> Vec<String> {
    let v = &model.vrrp;
    let mut names: Vec<String> = v
        .instances
        .iter()
        .flat_map(|i| i.track_script.iter())
        .chain(v.sync_groups.iter().flat_map(|g| g.track_script.iter()))
        .map(|t| t.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

impl Scripts {
    pub fn start(model: &Model) -> Scripts {
        let names = tracked(model);
        let scripts: Vec<VrrpScript> = model
            .vrrp
            .scripts
            .iter()
            .filter(|s| names.contains(&s.name))
            .cloned()
            .collect();
        let board = Arc::new(ScriptBoard::default());
        {
            let mut st = board.status.lock().unwrap_or_else(|p| p.into_inner());
            for s in &scripts {
                st.insert(
                    s.name.clone(),
                    ScriptStatus::new(s.rise, s.fall, s.init_fail),
                );
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = if scripts.is_empty() {
            None
        } else {
            let (board, stop, scripts) = (Arc::clone(&board), Arc::clone(&stop), scripts.clone());
            std::thread::Builder::new()
                .name("vrrp-scripts".into())
                .spawn(move || run(scripts, board, stop))
                .map_err(|e| tracing::error!(error = %e, "cannot start the VRRP scripts"))
                .ok()
        };
        Scripts {
            board,
            stop,
            thread: Mutex::new(thread),
            scripts,
        }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let t = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = t {
            let _ = t.join();
        }
    }

    fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.scripts.iter().find(|s| s.name == name)
    }

    /// An instance's trackers now.
    pub fn trackers(&self, scripts: &[Track], interfaces: &[Track]) -> Vec<Tracker> {
        let mut out = Vec::new();
        for t in scripts {
            let Some(s) = self.script(&t.name) else {
                continue;
            };
            out.push(Tracker {
                ok: self.board.ok(&t.name).unwrap_or(true),
                weight: t.weight.unwrap_or(s.weight),
                reverse: t.reverse || s.reverse,
            });
        }
        for t in interfaces {
            out.push(Tracker {
                ok: interface_up(&t.name),
                weight: t.weight.unwrap_or(0),
                reverse: t.reverse,
            });
        }
        out
    }
}

impl Drop for Scripts {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One task per script on a one-thread runtime, until `stop`.
fn run(scripts: Vec<VrrpScript>, board: Arc<ScriptBoard>, stop: Arc<AtomicBool>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the VRRP scripts' runtime");
            return;
        }
    };
    rt.block_on(async move {
        let tasks: Vec<_> = scripts
            .into_iter()
            .map(|s| {
                let (board, stop) = (Arc::clone(&board), Arc::clone(&stop));
                tokio::spawn(async move {
                    let check = MiscCheck {
                        path: s.script.clone(),
                        timeout: s.timeout,
                        dynamic: false,
                        user: s.user.clone(),
                    };
                    while !stop.load(Ordering::Relaxed) {
                        let verdict = probe::misc(&check).await;
                        let success = matches!(verdict, Verdict::Up | Verdict::UpWeight(_));
                        if board.record(&s.name, success) {
                            if success {
                                tracing::info!("VRRP_Script({}) succeeded", s.name);
                            } else {
                                tracing::warn!(reason = ?verdict, "VRRP_Script({}) failed", s.name);
                            }
                        }
                        // The interval, in slices, so a stop is prompt.
                        let mut left = s.interval.max(Duration::from_millis(10));
                        while !left.is_zero() && !stop.load(Ordering::Relaxed) {
                            let step = left.min(Duration::from_millis(100));
                            tokio::time::sleep(step).await;
                            left -= step;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    });
}

/// Whether `iface` exists, is up (IFF_UP in `/sys/class/net/IF/flags`)
/// and has a carrier (`carrier`, which the kernel refuses to read while
/// the interface is down).
pub fn interface_up(iface: &str) -> bool {
    const IFF_UP: u32 = 0x1;
    if iface.is_empty() || iface.contains('/') || iface.starts_with('.') {
        return false;
    }
    let read = |f: &str| std::fs::read_to_string(format!("/sys/class/net/{iface}/{f}")).ok();
    let up = read("flags")
        .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
        .is_some_and(|f| f & IFF_UP != 0);
    up && read("carrier").is_some_and(|c| c.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_up_and_nonsense_is_down() {
        assert!(interface_up("lo"));
        assert!(!interface_up("no-such-if0"));
        assert!(!interface_up("../lo"));
    }

    fn model(text: &str) -> Model {
        crate::config::parse(
            text,
            std::path::Path::new("k.conf"),
            crate::config::Dialect::Keepalived,
        )
        .expect("parses")
        .0
    }

    /// Scripts run, their status follows rise and fall, and the track
    /// entries weigh them as configured.
    #[test]
    fn scripts_run_and_weigh() {
        let dir = std::env::temp_dir().join(format!("rvs-track-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let flag = dir.join("ok");
        std::fs::write(&flag, "").unwrap();
        let m = model(&format!(
            "vrrp_script chk {{\n script \"test -e {}\"\n interval 0.05\n weight -30\n fall 2\n rise 1\n}}\n\
             vrrp_script idle {{\n script \"false\"\n}}\n\
             vrrp_instance VI_1 {{\n interface lo\n virtual_router_id 9\n priority 100\n \
             virtual_ipaddress {{\n 198.18.0.100\n }}\n track_script {{\n chk\n }}\n \
             track_interface {{\n lo weight 5\n }}\n}}\n",
            flag.display()
        ));
        let s = Scripts::start(&m);
        assert_eq!(s.scripts.len(), 1, "an untracked script does not run");
        let inst = &m.vrrp.instances[0];
        let now = |s: &Scripts| {
            rvs_vrrp::track::effective(
                100,
                &s.trackers(&inst.track_script, &inst.track_interface),
                false,
            )
        };
        let wait_for = |s: &Scripts, want: (u8, bool)| {
            for _ in 0..100 {
                if now(s) == want {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        };
        assert!(
            wait_for(&s, (105, false)),
            "lo up: +5; chk OK: {:?}",
            now(&s)
        );
        std::fs::remove_file(&flag).unwrap();
        assert!(wait_for(&s, (75, false)), "chk KO: -30; {:?}", now(&s));
        std::fs::write(&flag, "").unwrap();
        assert!(wait_for(&s, (105, false)), "back: {:?}", now(&s));
        s.stop();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
