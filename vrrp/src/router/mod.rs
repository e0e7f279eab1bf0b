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

use crate::wire::{Advert, Auth, Version, WireError, PRIORITY_OWNER, PRIORITY_RESIGN, TTL};

/// Why an advert was not taken, named after keepalived's per-instance
/// statistics (`vrrp_t.stats`, its `--signum=STATS` dump and SNMP
/// `vrrpStatistics`) where it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Shorter than its header or than its address list says.
    PacketLen,
    /// Not version 2 or 3, or not the instance's version.
    Version,
    /// Not an advertisement (type 1).
    InvalidType,
    /// The checksum does not match.
    Checksum,
    /// VRID 0.
    Vrid,
    /// Interval 0, or (v2) not the instance's `advert_int`.
    AdvertInterval,
    /// TTL or hop limit not 255 (multicast).
    IpTtl,
    /// An authentication type rvs does not know (AH).
    InvalidAuthType,
    /// Another authentication type than the instance's.
    AuthTypeMismatch,
    /// The password differs.
    AuthFailure,
    /// Not as many addresses as the instance's, or one of its missing.
    AddrList,
    /// Addresses of the other family.
    Family,
}

impl DropReason {
    pub const ALL: [DropReason; 12] = [
        DropReason::PacketLen,
        DropReason::Version,
        DropReason::InvalidType,
        DropReason::Checksum,
        DropReason::Vrid,
        DropReason::AdvertInterval,
        DropReason::IpTtl,
        DropReason::InvalidAuthType,
        DropReason::AuthTypeMismatch,
        DropReason::AuthFailure,
        DropReason::AddrList,
        DropReason::Family,
    ];

    /// The metric label: keepalived's statistics field where it has one.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::PacketLen => "packet_len_err",
            DropReason::Version => "version_err",
            DropReason::InvalidType => "invalid_type_rcvd",
            DropReason::Checksum => "checksum_err",
            DropReason::Vrid => "vrid_err",
            DropReason::AdvertInterval => "advert_interval_err",
            DropReason::IpTtl => "ip_ttl_err",
            DropReason::InvalidAuthType => "invalid_authtype",
            DropReason::AuthTypeMismatch => "authtype_mismatch",
            DropReason::AuthFailure => "auth_failure",
            DropReason::AddrList => "addr_list_err",
            DropReason::Family => "family_err",
        }
    }

    /// The log line (keepalived's words where it logs one).
    pub fn message(self) -> &'static str {
        match self {
            DropReason::PacketLen => "invalid packet length",
            DropReason::Version => "wrong VRRP version",
            DropReason::InvalidType => "invalid packet type",
            DropReason::Checksum => "invalid VRRP checksum",
            DropReason::Vrid => "invalid VRID",
            DropReason::AdvertInterval => "advertisement interval mismatch",
            DropReason::IpTtl => "invalid TTL/HL",
            DropReason::InvalidAuthType => "invalid authentication type",
            DropReason::AuthTypeMismatch => {
                "received a packet with a different authentication type"
            }
            DropReason::AuthFailure => "received an invalid passwd",
            DropReason::AddrList => {
                "one or more VIP associated with VRID mismatch actual MASTER advert"
            }
            DropReason::Family => "addresses of the wrong family",
        }
    }

    /// The reason a decoding error counts as.
    pub fn of_wire(e: &WireError) -> DropReason {
        match e {
            WireError::Truncated | WireError::BadLength => DropReason::PacketLen,
            WireError::BadVersion(_) => DropReason::Version,
            WireError::BadType(_) => DropReason::InvalidType,
            WireError::BadChecksum => DropReason::Checksum,
            WireError::UnsupportedAuth(_) => DropReason::InvalidAuthType,
            WireError::BadField(w) if w.contains("router id") => DropReason::Vrid,
            WireError::BadField(_) => DropReason::AdvertInterval,
            WireError::BadFamily => DropReason::Family,
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn router(version: Version, priority: u8, addr: &str) -> Router {
        Router::new(Config::new(
            version,
            51,
            priority,
            ip(addr),
            vec![ip("192.168.200.16")],
        ))
    }

    fn advert_from(r: &Router, priority: u8) -> Advert {
        r.advert(priority)
    }

    /// `spec/vrrp.md` §4's worked values: skew and Master_Down_Interval.
    #[test]
    fn timers_match_the_worked_values() {
        for (prio, skew, mdi) in [
            (254, 7_812, 3_007_812),
            (150, 414_062, 3_414_062),
            (128, 500_000, 3_500_000),
            (100, 609_375, 3_609_375),
            (1, 996_093, 3_996_093),
        ] {
            let r = router(Version::V2, prio, "10.0.0.1");
            assert_eq!(
                (r.skew_us(), r.master_down_us()),
                (skew, mdi),
                "priority {prio}"
            );
        }
        // v3: a master advertising 50 cs, a backup at 200: 1.609375 s.
        let mut b = router(Version::V3, 200, "10.0.0.1");
        let mut m = router(Version::V3, 250, "10.0.0.2");
        m.cfg.interval = 50;
        b.handle(0, Input::Start);
        let a = advert_from(&m, 250);
        b.handle(
            10,
            Input::Advert {
                src: ip("10.0.0.2"),
                ttl: 255,
                advert: a,
            },
        );
        assert_eq!(b.master_down_us(), 1_609_375);
        assert_eq!(b.deadline(), Some(10 + 1_609_375));
    }

    /// §8.2: a v2 backup at 100 whose master falls silent takes over
    /// 3.609375 s after the last advert; after a priority-0 advert,
    /// 0.609375 s.
    #[test]
    fn a_silent_or_resigning_master_is_replaced_on_time() {
        let master = router(Version::V2, 200, "10.0.0.2");
        for (prio, after) in [(200, 3_609_375), (0, 609_375)] {
            let mut b = router(Version::V2, 100, "10.0.0.1");
            b.handle(0, Input::Start);
            let last = 5_000_000;
            b.handle(
                last,
                Input::Advert {
                    src: ip("10.0.0.2"),
                    ttl: 255,
                    advert: advert_from(&master, prio),
                },
            );
            assert_eq!(b.deadline(), Some(last + after));
            assert!(b.handle(last + after - 1, Input::Tick).is_empty());
            let acts = b.handle(last + after, Input::Tick);
            assert_eq!(b.state(), State::Master);
            assert!(matches!(&acts[0], Action::Send(a) if a.priority == 100));
            assert_eq!(acts[1], Action::BecomeMaster);
        }
    }

    /// §8.4: equal priorities, the greater source address wins.
    #[test]
    fn equal_priorities_go_to_the_greater_address() {
        let mut lo = router(Version::V2, 150, "10.0.0.1");
        let hi = router(Version::V2, 150, "10.0.0.2");
        lo.handle(0, Input::Start);
        lo.handle(4_000_000, Input::Tick);
        assert_eq!(lo.state(), State::Master);
        let acts = lo.handle(
            4_100_000,
            Input::Advert {
                src: ip("10.0.0.2"),
                ttl: 255,
                advert: advert_from(&hi, 150),
            },
        );
        assert_eq!(acts, [Action::BecomeBackup]);
        // The other way round: 10.0.0.2 as master keeps it, and answers.
        let mut hi = router(Version::V2, 150, "10.0.0.2");
        hi.handle(0, Input::Start);
        hi.handle(4_000_000, Input::Tick);
        let lo = router(Version::V2, 150, "10.0.0.1");
        let acts = hi.handle(
            4_100_000,
            Input::Advert {
                src: ip("10.0.0.1"),
                ttl: 255,
                advert: advert_from(&lo, 150),
            },
        );
        assert_eq!(hi.state(), State::Master);
        assert!(matches!(&acts[..], [Action::Send(_)]));
    }

    /// §8.5: a master hearing a lower priority answers at once (keepalived
    /// default), or not with lower_prio_no_advert.
    #[test]
    fn a_lower_priority_advert_is_answered_at_once() {
        for answer in [true, false] {
            let mut m = router(Version::V2, 200, "10.0.0.2");
            m.cfg.lower_prio_advert = answer;
            m.handle(0, Input::Start);
            m.handle(4_000_000, Input::Tick);
            let low = router(Version::V2, 100, "10.0.0.1");
            let acts = m.handle(
                4_200_000,
                Input::Advert {
                    src: ip("10.0.0.1"),
                    ttl: 255,
                    advert: advert_from(&low, 100),
                },
            );
            assert_eq!(acts.len(), usize::from(answer), "{acts:?}");
            assert_eq!(m.state(), State::Master);
        }
    }

    /// Every wire error is named, and every label is distinct (they are
    /// `/metrics` label values).
    #[test]
    fn drop_reasons_name_wire_errors_and_are_distinct() {
        use crate::wire::{decode, encode, Checksum};
        let good = advert_from(&router(Version::V2, 200, "10.0.0.2"), 200);
        let bytes = encode(&good, None, Checksum::AsV2);
        let cases: [(Vec<u8>, DropReason); 5] = [
            (bytes[..6].to_vec(), DropReason::PacketLen),
            (bytes[..bytes.len() - 1].to_vec(), DropReason::PacketLen),
            (
                {
                    let mut b = bytes.clone();
                    b[0] = 0x22;
                    b
                },
                DropReason::InvalidType,
            ),
            (
                {
                    let mut b = bytes.clone();
                    b[0] = 0x71;
                    b
                },
                DropReason::Version,
            ),
            (
                {
                    let mut b = bytes.clone();
                    b[2] ^= 1;
                    b
                },
                DropReason::Checksum,
            ),
        ];
        for (b, want) in cases {
            let e = decode(&b, false, None, Checksum::AsV2).unwrap_err();
            assert_eq!(DropReason::of_wire(&e), want, "{e:?}");
        }
        let mut labels: Vec<&str> = DropReason::ALL.iter().map(|r| r.label()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), DropReason::ALL.len());
    }

    /// §8.6 and §6.8: mismatched passwords, TTL, interval: dropped with
    /// keepalived's reason, and the backup's timer is left to run out.
    #[test]
    fn failed_checks_are_dropped_and_change_nothing() {
        let mut b = router(Version::V2, 100, "10.0.0.1");
        b.cfg.auth = Auth::pass("secret");
        b.handle(0, Input::Start);
        let deadline = b.deadline();
        let mut other = router(Version::V2, 200, "10.0.0.2");
        other.cfg.auth = Auth::pass("other");
        let a = advert_from(&other, 200);
        let acts = b.handle(
            1_000,
            Input::Advert {
                src: ip("10.0.0.2"),
                ttl: 255,
                advert: a.clone(),
            },
        );
        assert_eq!(acts, [Action::Dropped(DropReason::AuthFailure)]);
        let mut good = a.clone();
        good.auth = Auth::pass("secret");
        let acts = b.handle(
            1_000,
            Input::Advert {
                src: ip("10.0.0.2"),
                ttl: 64,
                advert: good.clone(),
            },
        );
        assert_eq!(acts, [Action::Dropped(DropReason::IpTtl)]);
        let mut slow = good.clone();
        slow.interval = 2;
        let acts = b.handle(
            1_000,
            Input::Advert {
                src: ip("10.0.0.2"),
                ttl: 255,
                advert: slow,
            },
        );
        assert_eq!(acts, [Action::Dropped(DropReason::AdvertInterval)]);
        let mut v3 = good.clone();
        v3.version = Version::V3;
        let acts = b.handle(
            1_000,
            Input::Advert {
                src: ip("10.0.0.2"),
                ttl: 255,
                advert: v3,
            },
        );
        assert_eq!(acts, [Action::Dropped(DropReason::Version)]);
        // No password where one is configured: the type differs.
        let mut open = good.clone();
        open.auth = Auth::None;
        let acts = b.handle(
            1_000,
            Input::Advert {
                src: ip("10.0.0.2"),
                ttl: 255,
                advert: open,
            },
        );
        assert_eq!(acts, [Action::Dropped(DropReason::AuthTypeMismatch)]);
        // The address list: one more, one other, one fewer.
        for addrs in [
            vec![ip("192.168.200.16"), ip("192.168.200.17")],
            vec![ip("192.168.200.99")],
            vec![],
        ] {
            let mut list = good.clone();
            list.addrs = addrs;
            let acts = b.handle(
                1_000,
                Input::Advert {
                    src: ip("10.0.0.2"),
                    ttl: 255,
                    advert: list.clone(),
                },
            );
            assert_eq!(acts, [Action::Dropped(DropReason::AddrList)], "{list:?}");
        }
        let mut vrid = good;
        vrid.vrid = 52;
        assert!(b
            .handle(
                1_000,
                Input::Advert {
                    src: ip("10.0.0.2"),
                    ttl: 255,
                    advert: vrid
                }
            )
            .is_empty());
        assert_eq!(b.deadline(), deadline, "nothing restarted the timer");
        // Unicast: the TTL is not checked.
        let mut u = router(Version::V2, 100, "10.0.0.1");
        u.cfg.unicast = true;
        u.handle(0, Input::Start);
        let a = advert_from(&router(Version::V2, 200, "10.0.0.2"), 200);
        assert!(u
            .handle(
                1_000,
                Input::Advert {
                    src: ip("10.0.0.2"),
                    ttl: 3,
                    advert: a
                }
            )
            .is_empty());
        assert_eq!(u.deadline(), Some(1_000 + u.master_down_us()));
    }

    #[test]
    fn nopreempt_and_preempt_delay() {
        let low = router(Version::V2, 100, "10.0.0.1");
        // Preempt (default): a higher backup ignores the lower master and
        // takes over when its timer runs out.
        let mut hi = router(Version::V2, 200, "10.0.0.2");
        hi.handle(0, Input::Start);
        hi.handle(
            100,
            Input::Advert {
                src: ip("10.0.0.1"),
                ttl: 255,
                advert: advert_from(&low, 100),
            },
        );
        assert_eq!(hi.deadline(), Some(hi.master_down_us()), "not restarted");
        // nopreempt: the lower master's adverts keep it backup.
        let mut np = router(Version::V2, 200, "10.0.0.2");
        np.cfg.preempt = false;
        np.handle(0, Input::Start);
        np.handle(
            100,
            Input::Advert {
                src: ip("10.0.0.1"),
                ttl: 255,
                advert: advert_from(&low, 100),
            },
        );
        assert_eq!(np.deadline(), Some(100 + np.master_down_us()));
        // preempt_delay 10 s: adverts restart the timer until then.
        let mut pd = router(Version::V2, 200, "10.0.0.2");
        pd.cfg.preempt_delay_us = 10_000_000;
        pd.handle(0, Input::Start);
        for t in [1_000_000, 2_000_000, 9_000_000] {
            pd.handle(
                t,
                Input::Advert {
                    src: ip("10.0.0.1"),
                    ttl: 255,
                    advert: advert_from(&low, 100),
                },
            );
            assert_eq!(pd.deadline(), Some(t + pd.master_down_us()));
        }
        pd.handle(
            10_000_000,
            Input::Advert {
                src: ip("10.0.0.1"),
                ttl: 255,
                advert: advert_from(&low, 100),
            },
        );
        assert_eq!(
            pd.deadline(),
            Some(9_000_000 + pd.master_down_us()),
            "now it preempts"
        );
    }

    #[test]
    fn sync_group_members_follow_each_other() {
        let mut r = router(Version::V2, 100, "10.0.0.2");
        r.handle(0, Input::Start);
        assert_eq!(r.state(), State::Backup);
        let acts = r.handle(10, Input::GroupMaster);
        assert_eq!(r.state(), State::Master);
        assert!(acts.contains(&Action::BecomeMaster));
        assert!(matches!(acts[0], Action::Send(_)), "an advert at once");
        assert!(
            r.handle(20, Input::GroupMaster).is_empty(),
            "already master"
        );
        let acts = r.handle(30, Input::GroupBackup);
        assert_eq!(
            (r.state(), acts),
            (State::Backup, vec![Action::BecomeBackup])
        );
        // A faulted member stays in FAULT whatever the group does.
        r.handle(40, Input::Fault(true));
        assert!(r.handle(50, Input::GroupMaster).is_empty());
        assert_eq!(r.state(), State::Fault);
    }

    #[test]
    fn shutdown_and_fault_resign_with_priority_zero() {
        for input in [Input::Shutdown, Input::Fault(true)] {
            let mut m = router(Version::V2, 200, "10.0.0.2");
            m.handle(0, Input::Start);
            m.handle(4_000_000, Input::Tick);
            assert_eq!(m.state(), State::Master);
            let acts = m.handle(5_000_000, input.clone());
            assert!(
                matches!(&acts[0], Action::Send(a) if a.priority == 0),
                "{acts:?}"
            );
            assert_eq!(m.deadline(), None);
        }
        let mut f = router(Version::V2, 200, "10.0.0.2");
        f.handle(0, Input::Start);
        assert_eq!(f.handle(1, Input::Fault(true)), [Action::BecomeFault]);
        assert_eq!(f.handle(2, Input::Fault(false)), [Action::BecomeBackup]);
        assert_eq!(f.deadline(), Some(2 + f.master_down_us()));
    }

    #[test]
    fn the_owner_takes_over_after_one_interval_and_keeps_255() {
        let mut o = router(Version::V2, 255, "10.0.0.9");
        o.handle(0, Input::Start);
        assert_eq!(o.deadline(), Some(1_000_000 + o.skew_us()));
        o.handle(1_000_000, Input::Priority(10));
        assert_eq!(o.priority(), 255);
        let mut r = router(Version::V2, 100, "10.0.0.1");
        r.handle(0, Input::Priority(0));
        assert_eq!(r.priority(), 1, "clamped to 1..254");
        r.handle(0, Input::Priority(255));
        assert_eq!(r.priority(), 254);
    }
}
