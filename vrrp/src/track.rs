//! Trackers, sans-IO: what `vrrp_script`, `track_script` and
//! `track_interface` make of a router's priority (`spec/keepalived.md`
//! §A.4, `spec/vrrp.md` §6.3).
//!
//! Contract:
//! - A script's status follows keepalived's counter: it is OK after
//!   `rise` successes in a row and KO after `fall` failures in a row; it
//!   starts OK (or KO with `init_fail`).
//! - Each tracker of an instance is (status, weight, reverse). `reverse`
//!   makes it act on the opposite status. Weight 0: KO puts the instance
//!   in FAULT. Weight > 0: +weight while OK. Weight < 0: -|weight| while
//!   KO.
//! - The effective priority is base + the adjustments, clamped to
//!   1..=254; base 255 (the address owner) is never adjusted. Inside a
//!   sync group the weights are ignored (only FAULT applies), as
//!   keepalived does.

/// One script's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScriptStatus {
    rise: u32,
    fall: u32,
    /// keepalived's `result`: OK while `>= rise`.
    result: u32,
}

impl ScriptStatus {
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        ScriptStatus {
            rise,
            fall,
            result: if init_fail { 0 } else { rise + fall - 1 },
        }
    }

    pub fn ok(&self) -> bool {
        self.result >= self.rise
    }

    /// A run ended (`success`: exit 0 within the timeout). Returns whether
    /// the status changed.
    pub fn record(&mut self, success: bool) -> bool {
        let was = self.ok();
        let top = self.rise + self.fall - 1;
        if success {
            self.result = if self.result + 1 < self.rise {
                self.result + 1
            } else {
                top
            };
        } else {
            self.result = if self.result > self.rise {
                self.result - 1
            } else {
                0
            };
        }
        self.ok() != was
    }
}

/// One tracker's effect, as configured on the instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracker {
    pub ok: bool,
    pub weight: i32,
    pub reverse: bool,
}

/// The effective priority and whether the instance is in FAULT.
pub fn effective(base: u8, trackers: &[Tracker], in_sync_group: bool) -> (u8, bool) {
    let mut fault = false;
    let mut delta: i32 = 0;
    for t in trackers {
        let ok = t.ok != t.reverse;
        match t.weight {
            0 => fault |= !ok,
            _ if in_sync_group => {}
            w if w > 0 && ok => delta += w,
            w if w < 0 && !ok => delta += w,
            _ => {}
        }
    }
    if base == crate::wire::PRIORITY_OWNER {
        return (base, fault);
    }
    ((i32::from(base) + delta).clamp(1, 254) as u8, fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rise_and_fall_count_runs_in_a_row() {
        let mut s = ScriptStatus::new(2, 3, false);
        assert!(s.ok(), "starts OK");
        assert!(!s.record(false));
        assert!(!s.record(false));
        assert!(
            !s.record(true),
            "a success in between starts the count again"
        );
        assert!(!s.record(false) && !s.record(false));
        assert!(s.record(false), "3rd failure in a row: KO");
        assert!(!s.ok());
        assert!(!s.record(true));
        assert!(s.record(true), "2nd success in a row: OK");
        let mut f = ScriptStatus::new(1, 1, true);
        assert!(!f.ok(), "init_fail");
        assert!(f.record(true) && f.ok());
        assert!(f.record(false) && !f.ok());
    }

    fn t(ok: bool, weight: i32, reverse: bool) -> Tracker {
        Tracker {
            ok,
            weight,
            reverse,
        }
    }

    #[test]
    fn weights_as_keepalived_applies_them() {
        assert_eq!(effective(100, &[t(true, 20, false)], false), (120, false));
        assert_eq!(effective(100, &[t(false, 20, false)], false), (100, false));
        assert_eq!(effective(100, &[t(false, -30, false)], false), (70, false));
        assert_eq!(effective(100, &[t(true, -30, false)], false), (100, false));
        assert_eq!(
            effective(100, &[t(true, 20, true)], false),
            (100, false),
            "reverse"
        );
        assert_eq!(effective(100, &[t(false, 20, true)], false), (120, false));
        assert_eq!(
            effective(100, &[t(false, 0, false)], false),
            (100, true),
            "weight 0: FAULT"
        );
        assert_eq!(effective(100, &[t(true, 0, true)], false), (100, true));
        // Clamped to 1..=254; the owner never moves.
        assert_eq!(effective(250, &[t(true, 50, false)], false), (254, false));
        assert_eq!(effective(10, &[t(false, -50, false)], false), (1, false));
        assert_eq!(effective(255, &[t(false, -50, false)], false), (255, false));
        // A sync group ignores the weights, not the faults.
        assert_eq!(
            effective(100, &[t(false, -50, false), t(false, 0, false)], true),
            (100, true)
        );
    }
}
