//! The decisions of health checking, sans-IO: `(now, probe verdict)` in,
//! state changes and the next due time out. Time is milliseconds on the
//! caller's clock; nothing here sleeps, reads a clock or touches a socket.
//!
//! Contract, keepalived's (`check_*.c` epilogues, `ipwrapper.c`):
//! - a checker probes every `delay_loop`. A failure of a checker that is up
//!   (or has not run yet) is retried `delay_before_retry` later until it
//!   has used its `retry` retries; the next failure takes it down. So an up
//!   checker goes down after `retry + 1` consecutive failures. A down
//!   checker probes every `delay_loop` and comes up on its first success.
//!   Every success and every end of a round waits `delay_loop`;
//! - a `misc_dynamic` exit status sets the weight; a success without one
//!   (exit 0) gives the configured weight back;
//! - the first probe is at a random point within `warmup`; a checker starts
//!   up, or down with `alpha`;
//! - a dest is up when all its checkers are (one with none is always up);
//!   its weight is the configured one, or the last `misc_dynamic` weight;
//! - a service's quorum is over the weights of its live dests: it starts up
//!   when they sum to at least `quorum + hysteresis`; up, it is lost when
//!   the sum is 0 or below `quorum - hysteresis`; down, it is regained at
//!   `quorum + hysteresis` again.

#![forbid(unsafe_code)]

use rvs_api::ServiceKey;

use crate::config::{Model, Service};

/// A checker's timers and retry budget, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub delay_loop_ms: u64,
    pub retry: u32,
    pub delay_before_retry_ms: u64,
    pub warmup_ms: u64,
}

/// One checker's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checker {
    timing: Timing,
    up: bool,
    has_run: bool,
    retries: u32,
    next_ms: u64,
    /// The last `misc_dynamic` weight.
    weight: Option<u32>,
    /// Why it went down, kept until it is up again.
    reason: Option<String>,
}

/// What one verdict changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    None,
    Up,
    Down(String),
    /// Still up, with a new `misc_dynamic` weight (`None`: the configured
    /// one again).
    Weight(Option<u32>),
}

impl Checker {
    /// A checker whose first probe is `first_delay_ms` (0..=warmup) after
    /// `now_ms`; down at first with `alpha`.
    pub fn new(timing: Timing, alpha: bool, now_ms: u64, first_delay_ms: u64) -> Checker {
        Checker {
            timing,
            up: !alpha,
            has_run: false,
            retries: 0,
            next_ms: now_ms + first_delay_ms.min(timing.warmup_ms),
            weight: None,
            reason: alpha.then(|| "not checked yet (alpha)".to_string()),
        }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// When the next probe is due.
    pub fn due_ms(&self) -> u64 {
        self.next_ms
    }

    pub fn weight(&self) -> Option<u32> {
        self.weight
    }

    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Take a probe's verdict, finished at `now_ms`.
    pub fn report(&mut self, now_ms: u64, verdict: &Verdict) -> Change {
        let t = self.timing;
        let first = !self.has_run;
        self.has_run = true;
        let why = match verdict {
            Verdict::Up | Verdict::UpWeight(_) => {
                self.next_ms = now_ms + t.delay_loop_ms;
                self.retries = 0;
                let old_weight = self.weight;
                self.weight = match verdict {
                    Verdict::UpWeight(w) => Some(*w),
                    _ => None,
                };
                if !self.up {
                    self.up = true;
                    self.reason = None;
                    return Change::Up;
                }
                return if self.weight != old_weight {
                    Change::Weight(self.weight)
                } else {
                    Change::None
                };
            }
            Verdict::Down(why) => why,
        };
        self.next_ms = now_ms + t.delay_loop_ms;
        if !(self.up || first) {
            // Down already: no retries, the next round.
            return Change::None;
        }
        if self.retries < t.retry {
            self.retries += 1;
            self.next_ms = now_ms + t.delay_before_retry_ms;
            return Change::None;
        }
        self.retries = 0;
        self.reason = Some(why.clone());
        let was_up = self.up;
        self.up = false;
        // keepalived reports a first failure even of a checker that
        // started down (alpha): its notify_down runs once.
        if was_up || first {
            Change::Down(why.clone())
        } else {
            Change::None
        }
    }

    /// Start the next round now + `delay_ms` at the latest (a reload that
    /// shortens the timers).
    fn due_within(&mut self, now_ms: u64, delay_ms: u64) {
        self.next_ms = self.next_ms.min(now_ms + delay_ms);
    }
}

/// The timing of a model check.
pub fn timing_of(c: &crate::config::Check) -> Timing {
    Timing {
        delay_loop_ms: c.delay_loop.as_millis() as u64,
        retry: c.retry,
        delay_before_retry_ms: c.delay_before_retry.as_millis() as u64,
        warmup_ms: c.warmup.as_millis() as u64,
    }
}

/// A dest's health: its checkers, and what they make of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestHealth {
    pub checkers: Vec<Checker>,
    configured_weight: u32,
}

impl DestHealth {
    /// Up when every checker is.
    pub fn is_up(&self) -> bool {
        self.checkers.iter().all(Checker::is_up)
    }

    /// The weight it has when up: the last `misc_dynamic` weight, else the
    /// configured one.
    pub fn weight(&self) -> u32 {
        self.checkers
            .iter()
            .rev()
            .find_map(Checker::weight)
            .unwrap_or(self.configured_weight)
    }

    /// The first reason a checker gives for being down.
    pub fn reason(&self) -> Option<&str> {
        self.checkers
            .iter()
            .find(|c| !c.is_up())
            .and_then(Checker::reason)
    }

    fn live_weight(&self) -> u64 {
        if self.is_up() {
            u64::from(self.weight())
        } else {
            0
        }
    }
}

/// A service's health: its dests', and its quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceHealth {
    pub dests: Vec<DestHealth>,
    quorum: u64,
    hysteresis: u64,
    quorum_up: bool,
}

impl ServiceHealth {
    pub fn has_quorum(&self) -> bool {
        self.quorum_up
    }

    fn live(&self) -> u64 {
        self.dests.iter().map(DestHealth::live_weight).sum()
    }

    /// Re-evaluate the quorum; `Some(new state)` when it changed.
    fn update_quorum(&mut self) -> Option<bool> {
        let live = self.live();
        let next = if self.quorum_up {
            !(live == 0 || live < self.quorum.saturating_sub(self.hysteresis))
        } else {
            live >= self.quorum + self.hysteresis
        };
        (next != self.quorum_up).then(|| {
            self.quorum_up = next;
            next
        })
    }
}

/// Something to log once, notify about, and act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    DestUp {
        service: usize,
        dest: usize,
    },
    DestDown {
        service: usize,
        dest: usize,
        reason: String,
    },
    DestWeight {
        service: usize,
        dest: usize,
        weight: u32,
    },
    QuorumGained {
        service: usize,
    },
    QuorumLost {
        service: usize,
    },
}

/// Where a checker is: service, dest and check indexes in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CheckId {
    pub service: usize,
    pub dest: usize,
    pub check: usize,
}

/// The health of every service of a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub services: Vec<ServiceHealth>,
}

impl Health {
    /// Fresh state for `model` at `now_ms`; `first_delay(warmup_ms)` picks
    /// each checker's first delay (random in the daemon, fixed in tests).
    pub fn new(model: &Model, now_ms: u64, first_delay: &mut dyn FnMut(u64) -> u64) -> Health {
        let services = model
            .services
            .iter()
            .map(|s| {
                let dests: Vec<DestHealth> = s
                    .dests
                    .iter()
                    .map(|d| DestHealth {
                        checkers: d
                            .checks
                            .iter()
                            .map(|c| {
                                let t = timing_of(c);
                                Checker::new(t, c.alpha, now_ms, first_delay(t.warmup_ms))
                            })
                            .collect(),
                        configured_weight: d.weight,
                    })
                    .collect();
                let mut h = ServiceHealth {
                    dests,
                    quorum: u64::from(s.quorum),
                    hysteresis: u64::from(s.hysteresis),
                    quorum_up: false,
                };
                h.quorum_up = h.live() >= h.quorum + h.hysteresis;
                h
            })
            .collect();
        Health { services }
    }

    /// Keep, from `old` (the health of `old_model`), the state of every
    /// checker the new model still has: same service (by its first key),
    /// same dest address, same checker kind at the same place. A reload
    /// does not bring a dead real server back or take a live one out.
    /// Returns the quorum changes the new settings make at once.
    pub fn carry_over(
        &mut self,
        model: &Model,
        old: &Health,
        old_model: &Model,
        now_ms: u64,
    ) -> Vec<Event> {
        let mut events = vec![];
        for (si, s) in model.services.iter().enumerate() {
            let Some(osi) = old_model
                .services
                .iter()
                .position(|o| o.keys.first() == s.keys.first())
            else {
                continue;
            };
            for (di, d) in s.dests.iter().enumerate() {
                let Some(odi) = old_model.services[osi]
                    .dests
                    .iter()
                    .position(|o| o.addr == d.addr)
                else {
                    continue;
                };
                let od = &old_model.services[osi].dests[odi];
                for (ci, c) in d.checks.iter().enumerate() {
                    let same = od
                        .checks
                        .get(ci)
                        .is_some_and(|oc| oc.kind.keyword() == c.kind.keyword());
                    if same {
                        let mut kept = old.services[osi].dests[odi].checkers[ci].clone();
                        kept.timing = timing_of(c);
                        kept.due_within(now_ms, kept.timing.delay_loop_ms);
                        if !matches!(&c.kind, crate::config::CheckKind::Misc(m) if m.dynamic) {
                            kept.weight = None;
                        }
                        self.services[si].dests[di].checkers[ci] = kept;
                    }
                }
            }
            let h = &mut self.services[si];
            h.quorum_up = old.services[osi].quorum_up;
            match h.update_quorum() {
                Some(true) => events.push(Event::QuorumGained { service: si }),
                Some(false) => events.push(Event::QuorumLost { service: si }),
                None => {}
            }
        }
        events
    }

    /// The services that start without their quorum (keepalived logs it
    /// and, for one with a sorry server, runs its `quorum_down`).
    pub fn starting_without_quorum(&self) -> Vec<Event> {
        self.services
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.quorum_up)
            .map(|(service, _)| Event::QuorumLost { service })
            .collect()
    }

    pub fn checker(&self, id: CheckId) -> &Checker {
        &self.services[id.service].dests[id.dest].checkers[id.check]
    }

    /// Every checker's place.
    pub fn check_ids(&self) -> Vec<CheckId> {
        let mut out = vec![];
        for (service, s) in self.services.iter().enumerate() {
            for (dest, d) in s.dests.iter().enumerate() {
                for check in 0..d.checkers.len() {
                    out.push(CheckId {
                        service,
                        dest,
                        check,
                    });
                }
            }
        }
        out
    }

    /// Take checker `id`'s verdict at `now_ms`; the events it causes.
    pub fn report(&mut self, id: CheckId, now_ms: u64, verdict: &Verdict) -> Vec<Event> {
        let s = &mut self.services[id.service];
        let d = &mut s.dests[id.dest];
        let was_up = d.is_up();
        let old_weight = d.weight();
        let change = d.checkers[id.check].report(now_ms, verdict);
        let mut events = vec![];
        if change == Change::None {
            return events;
        }
        let (service, dest) = (id.service, id.dest);
        match (was_up, d.is_up()) {
            (false, true) => events.push(Event::DestUp { service, dest }),
            (true, false) => events.push(Event::DestDown {
                service,
                dest,
                reason: d.reason().unwrap_or("down").to_string(),
            }),
            // A checker that started down (alpha) failed its first round.
            (false, false) if matches!(change, Change::Down(_)) => events.push(Event::DestDown {
                service,
                dest,
                reason: d.reason().unwrap_or("down").to_string(),
            }),
            (true, true) if d.weight() != old_weight => events.push(Event::DestWeight {
                service,
                dest,
                weight: d.weight(),
            }),
            _ => {}
        }
        match s.update_quorum() {
            Some(true) => events.push(Event::QuorumGained { service }),
            Some(false) => events.push(Event::QuorumLost { service }),
            None => {}
        }
        events
    }
}

impl crate::config::HealthView for Health {
    fn dest(&self, service: usize, dest: usize) -> (bool, u32) {
        let d = &self.services[service].dests[dest];
        (d.is_up(), d.weight())
    }

    fn quorum(&self, service: usize) -> bool {
        self.services[service].quorum_up
    }
}

/// What one probe found: the machine's input, which the probes produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Up,
    /// MISC_CHECK with misc_dynamic and exit code 2..=255: up, weight =
    /// code - 2.
    UpWeight(u32),
    /// Down, with the reason a log line shows once (e.g. "connection
    /// refused", "timeout after 3s", "HTTP status 500 not in 200-299").
    Down(String),
}

impl From<Result<(), String>> for Verdict {
    fn from(r: Result<(), String>) -> Verdict {
        match r {
            Ok(()) => Verdict::Up,
            Err(reason) => Verdict::Down(reason),
        }
    }
}

/// `service` label text of a model service, for logs: its first key.
pub fn service_name(s: &Service) -> String {
    s.keys
        .first()
        .map(ServiceKey::label)
        .unwrap_or_else(|| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(delay_loop: u64, retry: u32, before_retry: u64) -> Timing {
        Timing {
            delay_loop_ms: delay_loop,
            retry,
            delay_before_retry_ms: before_retry,
            warmup_ms: 0,
        }
    }

    fn down() -> Verdict {
        Verdict::Down("connection refused".into())
    }

    /// Drive a checker through `verdicts`, each probe taking `probe_ms`;
    /// returns (time, change) of each probe.
    fn run(c: &mut Checker, verdicts: &[Verdict], probe_ms: u64) -> Vec<(u64, Change)> {
        verdicts
            .iter()
            .map(|v| {
                let t = c.due_ms() + probe_ms;
                (t, c.report(t, v))
            })
            .collect()
    }

    #[test]
    fn an_up_checker_falls_after_retry_plus_one_failures_spaced_by_delay_before_retry() {
        // delay_loop 6 s, retry 3, delay_before_retry 3 s, each probe 1 s.
        let mut c = Checker::new(timing(6000, 3, 3000), false, 0, 0);
        let steps = run(
            &mut c,
            &[Verdict::Up, down(), down(), down(), down(), down()],
            1000,
        );
        let times: Vec<u64> = steps.iter().map(|s| s.0).collect();
        // Down at 20 s, the next round is a delay_loop later (27 s).
        assert_eq!(times, [1000, 8000, 12000, 16000, 20000, 27000]);
        assert_eq!(steps[1].1, Change::None);
        assert_eq!(steps[3].1, Change::None);
        assert_eq!(steps[4].1, Change::Down("connection refused".into()));
        assert!(!c.is_up());
        // Down, it probes every delay_loop, without retries...
        assert_eq!(steps[5].1, Change::None);
        assert_eq!(c.due_ms(), 33000);
        // ... and comes up on the first success.
        assert_eq!(run(&mut c, &[Verdict::Up], 0), [(33000, Change::Up)]);
        assert_eq!(c.due_ms(), 39000);
        assert_eq!(c.reason(), None);
    }

    /// The bound of the lab test: from the last success, a dead server is
    /// out within delay_loop + connect_timeout * (retry + 1) +
    /// delay_before_retry * retry.
    #[test]
    fn detection_is_within_keepalived_bound() {
        for retry in 0..4 {
            let (delay_loop, before_retry, timeout) = (2000, 1000, 700);
            let mut c = Checker::new(timing(delay_loop, retry, before_retry), false, 0, 0);
            run(&mut c, &[Verdict::Up], 10);
            let died = c.due_ms() - delay_loop; // just after that success
            let mut t = 0;
            while c.is_up() {
                t = c.due_ms() + timeout;
                c.report(t, &down());
            }
            let bound =
                delay_loop + timeout * u64::from(retry + 1) + before_retry * u64::from(retry);
            assert!(t - died <= bound, "retry {retry}: {} > {bound}", t - died);
            assert!(
                t - died + before_retry > bound,
                "retry {retry}: the bound is tight"
            );
        }
    }

    #[test]
    fn a_flapping_server_goes_down_only_on_consecutive_failures() {
        let mut c = Checker::new(timing(1000, 1, 500), false, 0, 0);
        let seq = [
            down(),
            Verdict::Up,
            down(),
            Verdict::Up,
            down(),
            down(),
            Verdict::Up,
        ];
        let changes: Vec<Change> = run(&mut c, &seq, 0).into_iter().map(|s| s.1).collect();
        assert_eq!(
            changes,
            [
                Change::None,
                Change::None,
                Change::None,
                Change::None,
                Change::None,
                Change::Down("connection refused".into()),
                Change::Up
            ]
        );
    }

    #[test]
    fn alpha_starts_down_and_a_fresh_checker_retries_before_its_first_verdict() {
        let mut a = Checker::new(timing(1000, 2, 100), true, 0, 0);
        assert!(!a.is_up());
        assert_eq!(run(&mut a, &[Verdict::Up], 5), [(5, Change::Up)]);
        // Without alpha: up at first, and failures of the first round use
        // the retries before it goes down.
        let mut b = Checker::new(timing(1000, 2, 100), false, 0, 0);
        let changes: Vec<Change> = run(&mut b, &[down(), down(), down()], 0)
            .into_iter()
            .map(|s| s.1)
            .collect();
        assert_eq!(changes[2], Change::Down("connection refused".into()));
        // alpha and failing, without retries: its first verdict is a Down
        // (notify_down runs once), later failures say nothing; with
        // retries, the first failure is retried and later ones find it
        // down already (keepalived's rule).
        for (retry, first) in [
            (0, Change::Down("connection refused".into())),
            (1, Change::None),
        ] {
            let mut c = Checker::new(timing(1000, retry, 100), true, 0, 0);
            let changes: Vec<Change> = run(&mut c, &[down(), down(), down()], 0)
                .into_iter()
                .map(|s| s.1)
                .collect();
            assert_eq!(
                changes,
                [first, Change::None, Change::None],
                "retry {retry}"
            );
            assert!(!c.is_up());
        }
    }

    #[test]
    fn warmup_delays_the_first_probe_and_dynamic_weights_report_changes() {
        let t = Timing {
            warmup_ms: 5000,
            ..timing(1000, 0, 100)
        };
        let mut c = Checker::new(t, false, 100, 9999);
        assert_eq!(c.due_ms(), 5100, "clamped to warmup");
        assert_eq!(
            c.report(5100, &Verdict::UpWeight(10)),
            Change::Weight(Some(10))
        );
        assert_eq!(c.report(6100, &Verdict::UpWeight(10)), Change::None);
        assert_eq!(
            c.report(7100, &Verdict::UpWeight(3)),
            Change::Weight(Some(3))
        );
        assert_eq!(c.weight(), Some(3));
        // Exit 0: the configured weight again.
        assert_eq!(c.report(8100, &Verdict::Up), Change::Weight(None));
        assert_eq!(c.weight(), None);
    }

    fn service(weights: &[u32], quorum: u64, hysteresis: u64) -> ServiceHealth {
        let t = timing(1000, 0, 100);
        let mut s = ServiceHealth {
            dests: weights
                .iter()
                .map(|&w| DestHealth {
                    checkers: vec![Checker::new(t, false, 0, 0)],
                    configured_weight: w,
                })
                .collect(),
            quorum,
            hysteresis,
            quorum_up: false,
        };
        s.quorum_up = s.live() >= quorum + hysteresis;
        s
    }

    /// `spec/keepalived.md` §A.8's walk: 4 real servers of weight 1,
    /// quorum 3, hysteresis 1.
    #[test]
    fn quorum_and_hysteresis_walk() {
        let mut h = Health {
            services: vec![service(&[1, 1, 1, 1], 3, 1)],
        };
        assert!(h.services[0].has_quorum(), "starts up: 4 >= 4");
        let id = |dest| CheckId {
            service: 0,
            dest,
            check: 0,
        };
        let mut quorum = vec![];
        for (dest, v) in [(0, down()), (1, down()), (2, down())] {
            let events = h.report(id(dest), 0, &v);
            assert!(matches!(events[0], Event::DestDown { .. }));
            quorum.push((dest, h.services[0].has_quorum(), events.len()));
        }
        // Up at 3 and 2 live, lost at 1 (< 2).
        assert_eq!(quorum, [(0, true, 1), (1, true, 1), (2, false, 2)]);
        // Climbing back: 2 and 3 are not enough, 4 is.
        let back: Vec<bool> = [2, 1, 0]
            .iter()
            .map(|&d| {
                h.report(id(d), 0, &Verdict::Up);
                h.services[0].has_quorum()
            })
            .collect();
        assert_eq!(back, [false, false, true]);
    }

    #[test]
    fn a_dest_is_up_when_all_its_checkers_are_and_takes_the_dynamic_weight() {
        let t = timing(1000, 0, 100);
        let mut h = Health {
            services: vec![ServiceHealth {
                dests: vec![DestHealth {
                    checkers: vec![Checker::new(t, false, 0, 0), Checker::new(t, false, 0, 0)],
                    configured_weight: 5,
                }],
                quorum: 1,
                hysteresis: 0,
                quorum_up: true,
            }],
        };
        let id = |check| CheckId {
            service: 0,
            dest: 0,
            check,
        };
        assert_eq!(
            h.report(id(1), 0, &Verdict::UpWeight(10)),
            [Event::DestWeight {
                service: 0,
                dest: 0,
                weight: 10
            }]
        );
        let e = h.report(id(0), 0, &Verdict::Down("timeout".into()));
        assert_eq!(
            e,
            [
                Event::DestDown {
                    service: 0,
                    dest: 0,
                    reason: "timeout".into()
                },
                Event::QuorumLost { service: 0 }
            ]
        );
        assert_eq!(
            crate::config::HealthView::dest(&h, 0, 0),
            (false, 10),
            "down; its weight when up is the dynamic one"
        );
    }
}
