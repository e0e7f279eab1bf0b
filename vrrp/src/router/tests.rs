//! The router against `spec/vrrp.md`: timers, elections, checks,
//! preemption, sync groups, shutdown and fault.

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(super) fn router(version: Version, priority: u8, addr: &str) -> Router {
    Router::new(Config::new(
        version,
        51,
        priority,
        ip(addr),
        vec![ip("192.168.200.16")],
    ))
}

/// `r` hears `advert` from `src` at `now`, with `ttl`.
fn hear(r: &mut Router, now: u64, src: IpAddr, ttl: u8, advert: Advert) -> Vec<Action> {
    r.handle(now, Input::Advert { src, ttl, advert })
}

pub(super) fn advert_from(r: &Router, priority: u8) -> Advert {
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
    hear(&mut b, 10, ip("10.0.0.2"), 255, a);
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
        hear(
            &mut b,
            last,
            ip("10.0.0.2"),
            255,
            advert_from(&master, prio),
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
    let acts = hear(
        &mut lo,
        4_100_000,
        ip("10.0.0.2"),
        255,
        advert_from(&hi, 150),
    );
    assert_eq!(acts, [Action::BecomeBackup]);
    // The other way round: 10.0.0.2 as master keeps it, and answers.
    let mut hi = router(Version::V2, 150, "10.0.0.2");
    hi.handle(0, Input::Start);
    hi.handle(4_000_000, Input::Tick);
    let lo = router(Version::V2, 150, "10.0.0.1");
    let acts = hear(
        &mut hi,
        4_100_000,
        ip("10.0.0.1"),
        255,
        advert_from(&lo, 150),
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
        let acts = hear(
            &mut m,
            4_200_000,
            ip("10.0.0.1"),
            255,
            advert_from(&low, 100),
        );
        assert_eq!(acts.len(), usize::from(answer), "{acts:?}");
        assert_eq!(m.state(), State::Master);
    }
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
    let acts = hear(&mut b, 1_000, ip("10.0.0.2"), 255, a.clone());
    assert_eq!(acts, [Action::Dropped(DropReason::AuthFailure)]);
    let mut good = a.clone();
    good.auth = Auth::pass("secret");
    let acts = hear(&mut b, 1_000, ip("10.0.0.2"), 64, good.clone());
    assert_eq!(acts, [Action::Dropped(DropReason::IpTtl)]);
    let mut slow = good.clone();
    slow.interval = 2;
    let acts = hear(&mut b, 1_000, ip("10.0.0.2"), 255, slow);
    assert_eq!(acts, [Action::Dropped(DropReason::AdvertInterval)]);
    let mut v3 = good.clone();
    v3.version = Version::V3;
    let acts = hear(&mut b, 1_000, ip("10.0.0.2"), 255, v3);
    assert_eq!(acts, [Action::Dropped(DropReason::Version)]);
    // No password where one is configured: the type differs.
    let mut open = good.clone();
    open.auth = Auth::None;
    let acts = hear(&mut b, 1_000, ip("10.0.0.2"), 255, open);
    assert_eq!(acts, [Action::Dropped(DropReason::AuthTypeMismatch)]);
    // The address list: one more, one other, one fewer.
    for addrs in [
        vec![ip("192.168.200.16"), ip("192.168.200.17")],
        vec![ip("192.168.200.99")],
        vec![],
    ] {
        let mut list = good.clone();
        list.addrs = addrs;
        let acts = hear(&mut b, 1_000, ip("10.0.0.2"), 255, list.clone());
        assert_eq!(acts, [Action::Dropped(DropReason::AddrList)], "{list:?}");
    }
    let mut vrid = good;
    vrid.vrid = 52;
    assert!(hear(&mut b, 1_000, ip("10.0.0.2"), 255, vrid).is_empty());
    assert_eq!(b.deadline(), deadline, "nothing restarted the timer");
    // Unicast: the TTL is not checked.
    let mut u = router(Version::V2, 100, "10.0.0.1");
    u.cfg.unicast = true;
    u.handle(0, Input::Start);
    let a = advert_from(&router(Version::V2, 200, "10.0.0.2"), 200);
    assert!(hear(&mut u, 1_000, ip("10.0.0.2"), 3, a).is_empty());
    assert_eq!(u.deadline(), Some(1_000 + u.master_down_us()));
}

#[test]
fn nopreempt_and_preempt_delay() {
    let low = router(Version::V2, 100, "10.0.0.1");
    // Preempt (default): a higher backup ignores the lower master and
    // takes over when its timer runs out.
    let mut hi = router(Version::V2, 200, "10.0.0.2");
    hi.handle(0, Input::Start);
    hear(&mut hi, 100, ip("10.0.0.1"), 255, advert_from(&low, 100));
    assert_eq!(hi.deadline(), Some(hi.master_down_us()), "not restarted");
    // nopreempt: the lower master's adverts keep it backup.
    let mut np = router(Version::V2, 200, "10.0.0.2");
    np.cfg.preempt = false;
    np.handle(0, Input::Start);
    hear(&mut np, 100, ip("10.0.0.1"), 255, advert_from(&low, 100));
    assert_eq!(np.deadline(), Some(100 + np.master_down_us()));
    // preempt_delay 10 s: adverts restart the timer until then.
    let mut pd = router(Version::V2, 200, "10.0.0.2");
    pd.cfg.preempt_delay_us = 10_000_000;
    pd.handle(0, Input::Start);
    for t in [1_000_000, 2_000_000, 9_000_000] {
        hear(&mut pd, t, ip("10.0.0.1"), 255, advert_from(&low, 100));
        assert_eq!(pd.deadline(), Some(t + pd.master_down_us()));
    }
    hear(
        &mut pd,
        10_000_000,
        ip("10.0.0.1"),
        255,
        advert_from(&low, 100),
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
