//! One VRRP router (one `vrrp_instance`), sans-IO: `(now, input)` in,
//! actions out; time is microseconds on the caller's clock (keepalived
//! computes its timers in microseconds, `spec/vrrp.md` §4).
//!
//! Contract (RFC 3768 / 5798 as keepalived behaves, `spec/vrrp.md` §5-6):
//! - [`Input::Start`] enters Backup with the Master_Down_Timer running
//!   (keepalived starts everything as backup; an address owner's first
//!   down timer is one advert interval plus the skew, so it takes over at
//!   once in practice);
//! - Backup: the down timer firing makes it Master (an advert is sent, and
//!   [`Action::BecomeMaster`] tells the shell to own the VIPs and send
//!   gratuitous ARPs). An advert of priority 0 sets the timer to Skew_Time;
//!   one we do not preempt (higher or equal priority, or preemption off or
//!   still delayed by `preempt_delay`) restarts it (v3: adopting the
//!   master's interval); a lower-priority one is ignored when we preempt;
//! - Master: sends an advert every interval. A priority-0 advert is
//!   answered by an advert at once; a higher priority, or an equal one from
//!   a greater source address, makes it Backup ([`Action::BecomeBackup`]:
//!   release the VIPs); a lower one is answered by an advert at once
//!   (keepalived's default, "forcing new election") unless
//!   `lower_prio_no_advert`;
//! - receive checks, keepalived's (`vrrp_in_chk`): version, VRID (another
//!   VRID's adverts are not ours: silently ignored), TTL 255 unless
//!   unicast, for v2 the authentication type and password and the advert
//!   interval, and the address list: as many addresses as ours, each of
//!   ours in it. A failed check is [`Action::Dropped`] with its
//!   [`DropReason`] (keepalived's log line and statistics counter) and
//!   changes nothing (so a password mismatch makes both sides Master, as
//!   with keepalived). The wire's own checks (length, type, checksum, VRID
//!   0, interval 0) are [`crate::wire::WireError`]s, which
//!   [`DropReason::of_wire`] names the same way;
//! - [`Input::Shutdown`] from Master sends a priority-0 advert; any state
//!   goes to Initialize. [`Input::Fault`] enters and leaves Fault the same
//!   way (tracked interfaces, scripts), back to Backup when it clears.

use std::net::IpAddr;

use crate::wire::{Advert, Auth, Version, PRIORITY_OWNER, PRIORITY_RESIGN, TTL};

mod drop;
#[cfg(test)]
mod tests;

pub use drop::DropReason;

/// A router's settings (a `vrrp_instance`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub version: Version,
    pub vrid: u8,
    /// Configured priority, 1..=255 (255: the address owner).
    pub priority: u8,
    /// v2: seconds; v3: centiseconds.
    pub interval: u16,
    /// Preempt a lower-priority master (keepalived's default; `nopreempt`
    /// turns it off).
    pub preempt: bool,
    /// `preempt_delay`: after start-up, or after first seeing a
    /// lower-priority master, wait this long before preempting.
    pub preempt_delay_us: u64,
    /// `down_timer_adverts` (3).
    pub down_timer_adverts: u32,
    /// Answer a lower-priority master's advert with ours at once
    /// (keepalived's default; `lower_prio_no_advert` clears it).
    pub lower_prio_advert: bool,
    /// Unicast peers: the TTL is not checked.
    pub unicast: bool,
    pub auth: Auth,
    /// Our source address: the tie-break between equal priorities.
    pub addr: IpAddr,
    pub vips: Vec<IpAddr>,
}

impl Config {
    /// The settings keepalived gives an instance that names only these.
    pub fn new(
        version: Version,
        vrid: u8,
        priority: u8,
        addr: IpAddr,
        vips: Vec<IpAddr>,
    ) -> Config {
        Config {
            version,
            vrid,
            priority,
            interval: match version {
                Version::V2 => 1,
                Version::V3 => 100,
            },
            preempt: true,
            preempt_delay_us: 0,
            down_timer_adverts: 3,
            lower_prio_advert: true,
            unicast: false,
            auth: Auth::None,
            addr,
            vips,
        }
    }

    fn interval_us(&self) -> u64 {
        match self.version {
            Version::V2 => u64::from(self.interval) * 1_000_000,
            Version::V3 => u64::from(self.interval) * 10_000,
        }
    }
}

/// Where a router is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Initialize,
    Backup,
    Master,
    Fault,
}

/// What happens to a router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Start,
    /// Time passed (the shell calls at [`Router::deadline`] or later).
    Tick,
    /// An advert arrived from `src` with IP TTL `ttl`.
    Advert {
        src: IpAddr,
        ttl: u8,
        advert: Advert,
    },
    /// The effective priority changed (trackers): clamped to 1..=254
    /// unless the router owns the addresses (255 never changes).
    Priority(u8),
    /// A tracked interface or script failed (`true`) or recovered.
    Fault(bool),
    /// A member of this router's sync group became MASTER: a backup
    /// follows at once (keepalived's `vrrp_sync_master`).
    GroupMaster,
    /// A member of this router's sync group fell back to BACKUP: a master
    /// follows (keepalived's `vrrp_sync_backup`).
    GroupBackup,
    Shutdown,
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Send(Advert),
    /// Own the VIPs: answer ARP/ND for them, send gratuitous ARPs and
    /// unsolicited NAs, run `notify_master`.
    BecomeMaster,
    /// Release the VIPs, run `notify_backup`.
    BecomeBackup,
    /// Release the VIPs, run `notify_fault`.
    BecomeFault,
    /// An advert failed a check: keepalived's log line and counter.
    Dropped(DropReason),
}

/// One router.
#[derive(Clone, Debug)]
pub struct Router {
    cfg: Config,
    state: State,
    /// The priority adverts carry.
    priority: u8,
    /// v3: the current master's interval (backup); else ours.
    master_adver_us: u64,
    adver_at: Option<u64>,
    down_at: Option<u64>,
    started_us: u64,
    /// `preempt_delay`: preemption allowed from this time on.
    preempt_from: Option<u64>,
}

impl Router {
    pub fn new(cfg: Config) -> Router {
        let priority = cfg.priority;
        let master_adver_us = cfg.interval_us();
        Router {
            cfg,
            state: State::Initialize,
            priority,
            master_adver_us,
            adver_at: None,
            down_at: None,
            started_us: 0,
            preempt_from: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn priority(&self) -> u8 {
        self.priority
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// When the router next needs a [`Input::Tick`].
    pub fn deadline(&self) -> Option<u64> {
        match self.state {
            State::Master => self.adver_at,
            State::Backup => self.down_at,
            State::Initialize | State::Fault => None,
        }
    }

    /// Skew_Time for the current master interval.
    pub fn skew_us(&self) -> u64 {
        (256 - u64::from(self.priority)) * self.master_adver_us / 256
    }

    /// Master_Down_Interval.
    pub fn master_down_us(&self) -> u64 {
        u64::from(self.cfg.down_timer_adverts) * self.master_adver_us + self.skew_us()
    }

    fn advert(&self, priority: u8) -> Advert {
        Advert {
            version: self.cfg.version,
            vrid: self.cfg.vrid,
            priority,
            interval: self.cfg.interval,
            auth: match self.cfg.version {
                Version::V2 => self.cfg.auth,
                Version::V3 => Auth::None,
            },
            addrs: self.cfg.vips.clone(),
        }
    }

    fn enter_master(&mut self, now: u64, out: &mut Vec<Action>) {
        self.state = State::Master;
        self.down_at = None;
        self.master_adver_us = self.cfg.interval_us();
        out.push(Action::Send(self.advert(self.priority)));
        out.push(Action::BecomeMaster);
        self.adver_at = Some(now + self.cfg.interval_us());
    }

    fn enter_backup(&mut self, now: u64, out: &mut Vec<Action>, announce: bool) {
        self.state = State::Backup;
        self.adver_at = None;
        self.down_at = Some(now + self.master_down_us());
        if announce {
            out.push(Action::BecomeBackup);
        }
    }

    /// Whether a backup may preempt a lower-priority master now.
    fn may_preempt(&mut self, now: u64) -> bool {
        if !self.cfg.preempt {
            return false;
        }
        if self.cfg.preempt_delay_us == 0 {
            return true;
        }
        let from = *self
            .preempt_from
            .get_or_insert(now.max(self.started_us + self.cfg.preempt_delay_us));
        now >= from
    }

    /// Take `input` at `now`.
    pub fn handle(&mut self, now: u64, input: Input) -> Vec<Action> {
        let mut out = vec![];
        match input {
            Input::Start => {
                if self.state == State::Initialize {
                    self.started_us = now;
                    self.preempt_from = None;
                    self.state = State::Backup;
                    let first = if self.priority == PRIORITY_OWNER {
                        self.cfg.interval_us() + self.skew_us()
                    } else {
                        self.master_down_us()
                    };
                    self.down_at = Some(now + first);
                    out.push(Action::BecomeBackup);
                }
            }
            Input::Tick => match self.state {
                State::Master if self.adver_at.is_some_and(|t| now >= t) => {
                    out.push(Action::Send(self.advert(self.priority)));
                    self.adver_at = Some(now + self.cfg.interval_us());
                }
                State::Backup if self.down_at.is_some_and(|t| now >= t) => {
                    self.enter_master(now, &mut out);
                }
                _ => {}
            },
            Input::Advert { src, ttl, advert } => self.receive(now, src, ttl, &advert, &mut out),
            Input::Priority(p) => {
                if self.cfg.priority != PRIORITY_OWNER {
                    self.priority = p.clamp(1, 254);
                }
            }
            Input::Fault(true) => {
                if self.state == State::Master {
                    out.push(Action::Send(self.advert(PRIORITY_RESIGN)));
                }
                if self.state != State::Initialize && self.state != State::Fault {
                    self.state = State::Fault;
                    self.adver_at = None;
                    self.down_at = None;
                    out.push(Action::BecomeFault);
                }
            }
            Input::Fault(false) => {
                if self.state == State::Fault {
                    self.master_adver_us = self.cfg.interval_us();
                    self.enter_backup(now, &mut out, true);
                }
            }
            Input::GroupMaster => {
                if self.state == State::Backup {
                    self.enter_master(now, &mut out);
                }
            }
            Input::GroupBackup => {
                if self.state == State::Master {
                    self.enter_backup(now, &mut out, true);
                }
            }
            Input::Shutdown => {
                if self.state == State::Master {
                    out.push(Action::Send(self.advert(PRIORITY_RESIGN)));
                }
                self.state = State::Initialize;
                self.adver_at = None;
                self.down_at = None;
            }
        }
        out
    }

    fn receive(&mut self, now: u64, src: IpAddr, ttl: u8, a: &Advert, out: &mut Vec<Action>) {
        if a.vrid != self.cfg.vrid {
            return;
        }
        if a.version != self.cfg.version {
            out.push(Action::Dropped(DropReason::Version));
            return;
        }
        if !self.cfg.unicast && ttl != TTL {
            out.push(Action::Dropped(DropReason::IpTtl));
            return;
        }
        if a.version == Version::V2 {
            let type_of = |x: &Auth| matches!(x, Auth::Pass(_));
            if type_of(&a.auth) != type_of(&self.cfg.auth) {
                out.push(Action::Dropped(DropReason::AuthTypeMismatch));
                return;
            }
            if a.auth != self.cfg.auth {
                out.push(Action::Dropped(DropReason::AuthFailure));
                return;
            }
            if a.interval != self.cfg.interval {
                out.push(Action::Dropped(DropReason::AdvertInterval));
                return;
            }
        }
        if a.addrs.len() != self.cfg.vips.len()
            || self.cfg.vips.iter().any(|v| !a.addrs.contains(v))
        {
            out.push(Action::Dropped(DropReason::AddrList));
            return;
        }
        if src == self.cfg.addr {
            // Our own advert, looped back.
            return;
        }
        match self.state {
            State::Backup => {
                if a.priority == PRIORITY_RESIGN {
                    self.down_at = Some(now + self.skew_us());
                } else if a.priority >= self.priority || !self.may_preempt(now) {
                    if a.version == Version::V3 {
                        self.master_adver_us = a.interval_us();
                    }
                    self.down_at = Some(now + self.master_down_us());
                }
            }
            State::Master => {
                let wins = a.priority > self.priority
                    || (a.priority == self.priority && src > self.cfg.addr);
                if a.priority == PRIORITY_RESIGN {
                    out.push(Action::Send(self.advert(self.priority)));
                    self.adver_at = Some(now + self.cfg.interval_us());
                } else if wins {
                    if a.version == Version::V3 {
                        self.master_adver_us = a.interval_us();
                    }
                    self.enter_backup(now, out, true);
                } else if self.cfg.lower_prio_advert {
                    out.push(Action::Send(self.advert(self.priority)));
                    self.adver_at = Some(now + self.cfg.interval_us());
                }
            }
            State::Initialize | State::Fault => {}
        }
    }
}
