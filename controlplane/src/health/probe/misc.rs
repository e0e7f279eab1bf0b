//! MISC_CHECK (keepalived's `check_misc.c`): a script through `/bin/sh -c`
//! in a process group of its own, as `user` when given, bounded by
//! `misc_timeout`; its exit code is the verdict (misc_dynamic: a weight).

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::MiscCheck;

use crate::health::machine::Verdict;

use super::{describe, secs};

/// Warned once that `user` cannot be honoured (not running as root).
static USER_WARNED: AtomicBool = AtomicBool::new(false);

pub(crate) async fn misc(check: &MiscCheck) -> Verdict {
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&check.path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(user) = &check.user {
        match run_as(user) {
            Ok(Some((uid, gid))) => {
                cmd.uid(uid).gid(gid);
            }
            Ok(None) => {}
            Err(reason) => return Verdict::Down(reason),
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Verdict::Down(format!("cannot run /bin/sh: {}", describe(&e))),
    };
    let pid = child.id();
    match tokio::time::timeout(check.timeout, child.wait()).await {
        Ok(Ok(status)) => exit_verdict(status, check.dynamic),
        Ok(Err(e)) => Verdict::Down(format!("wait: {}", describe(&e))),
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
                // SAFETY: kill(2) has no memory-safety preconditions; the
                // group is the script's own (process_group(0)), and the
                // child is not reaped yet, so its id is not reused.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            let _ = child.kill().await;
            Verdict::Down(format!("killed after misc_timeout {}", secs(check.timeout)))
        }
    }
}

/// keepalived's reading of a script's exit.
fn exit_verdict(status: ExitStatus, dynamic: bool) -> Verdict {
    match status.code() {
        Some(0) => Verdict::Up,
        Some(code @ 2..=255) if dynamic => Verdict::UpWeight(code as u32 - 2),
        Some(code) => Verdict::Down(format!("exit status {code}")),
        None => Verdict::Down(format!(
            "killed by signal {}",
            status.signal().unwrap_or_default()
        )),
    }
}

/// The uid and gid to run a script as `user`; `None`: as we are (not
/// root, warned once).
fn run_as(user: &str) -> Result<Option<(u32, u32)>, String> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        if !USER_WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                user,
                "MISC_CHECK user: not running as root, scripts run as the current user"
            );
        }
        return Ok(None);
    }
    lookup_user(user).map(Some)
}

/// `user`'s uid and primary gid from the password database.
fn lookup_user(user: &str) -> Result<(u32, u32), String> {
    let name = CString::new(user).map_err(|_| format!("bad user name {user:?}"))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let mut pwd = MaybeUninit::<libc::passwd>::uninit();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: `name` is a
        // NUL-terminated string, `pwd` and `result` are writable, and `buf`
        // is writable for `buf.len()` bytes; the strings the entry points
        // to live in `buf`, which outlives the reads below.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                pwd.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 {
            return Err(format!("user {user}: {}", io::Error::from_raw_os_error(rc)));
        }
        if result.is_null() {
            return Err(format!("user {user}: no such user"));
        }
        // SAFETY: getpwnam_r returned 0 with `result` non-null, so it
        // filled in `pwd` (and `result` points to it).
        let pwd = unsafe { pwd.assume_init() };
        return Ok((pwd.pw_uid, pwd.pw_gid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckKind;
    use crate::health::machine::Verdict;
    use crate::health::probe::probe;
    use crate::health::probe::testing::*;
    use std::time::Duration;

    fn misc_check(cmd: &str, dynamic: bool, timeout_ms: u64) -> CheckKind {
        CheckKind::Misc(MiscCheck {
            path: cmd.to_string(),
            timeout: Duration::from_millis(timeout_ms),
            dynamic,
            user: None,
        })
    }

    #[tokio::test]
    async fn misc_exit_codes() {
        let t = target(closed_port(), 1);
        assert_eq!(
            probe(&misc_check("exit 0", false, 5000), &t, None).await,
            Verdict::Up
        );
        assert_eq!(
            probe(&misc_check("exit 1", false, 5000), &t, None).await,
            Verdict::Down("exit status 1".to_string())
        );
        assert_eq!(
            probe(&misc_check("exit 12", true, 5000), &t, None).await,
            Verdict::UpWeight(10)
        );
        assert_eq!(
            probe(&misc_check("exit 1", true, 5000), &t, None).await,
            Verdict::Down("exit status 1".to_string())
        );
        assert_eq!(
            probe(&misc_check("exit 12", false, 5000), &t, None).await,
            Verdict::Down("exit status 12".to_string())
        );
        let v = probe(&misc_check("kill -TERM $$", false, 5000), &t, None).await;
        assert_eq!(v, Verdict::Down("killed by signal 15".to_string()));
    }

    #[tokio::test]
    async fn misc_timeout_kills() {
        let t = target(closed_port(), 1);
        // A compound command, so the shell forks sleep and both must die.
        let v = probe(&misc_check("sleep 5; true", false, 200), &t, None).await;
        assert_eq!(
            v,
            Verdict::Down("killed after misc_timeout 0.2s".to_string())
        );
    }

    #[tokio::test]
    async fn misc_user() {
        let t = target(closed_port(), 1);
        let CheckKind::Misc(mut m) = misc_check("test \"$(id -u)\" = 65534", false, 5000) else {
            unreachable!()
        };
        m.user = Some("nobody".to_string());
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root && lookup_user("nobody").is_ok_and(|(uid, _)| uid == 65534) {
            assert_eq!(
                probe(&CheckKind::Misc(m.clone()), &t, None).await,
                Verdict::Up
            );
        } else {
            println!("skipped: not root or no user nobody (65534)");
        }
        m.user = Some("no-such-user-rvs".to_string());
        if root {
            let v = probe(&CheckKind::Misc(m), &t, None).await;
            assert!(down_with(&v, "no such user"), "{v:?}");
        }
    }
}
