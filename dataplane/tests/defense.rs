//! IPVS's defence strategies through the pipeline (issue 20, item 1):
//! the level against table occupancy in each mode, drop_packet's rate,
//! drop_entry removing half-open entries only, and secure_tcp's state
//! table. The worker's clock is the test's: a sweep at a given
//! millisecond is when the level is judged (once a second).

mod common;

use std::net::Ipv4Addr;

use rvs_api::{Defense, DefenseStatus, Protocol, Request, Response, ServiceConfig, ServiceKey};
use rvs_dataplane::conn::state::State;
use rvs_dataplane::pipeline::{ConnPolicy, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::tcp::flags;

use common::director::{conns, Director, Sent};
use common::*;

const PORT: u16 = 80;

fn svc() -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: (VIP, PORT).into(),
    }
}

fn udp_svc() -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: (VIP, 53).into(),
    }
}

/// A DR director whose table holds `max` entries, a TCP and a UDP service.
fn director(max: usize) -> Director {
    let mut d = Director::sized(ConnPolicy::default(), max);
    d.add_service(svc(), ServiceConfig::new("rr"));
    d.add_dest(svc(), RS1, PORT, 1);
    d.add_service(udp_svc(), ServiceConfig::new("rr"));
    d.add_dest(udp_svc(), RS1, 53, 1);
    d
}

fn set(d: &mut Director, def: Defense) {
    d.ok(Request::SetDefense(def));
}

fn status(d: &mut Director) -> DefenseStatus {
    match d.admin(Request::GetDefense) {
        Response::Defense(s) => s,
        other => panic!("{other:?}"),
    }
}

fn client(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 0)) + i)
}

/// `n` half-open connections (a SYN each, never answered), at `now_ms`.
fn syns(d: &mut Director, from: u32, n: u32, now_ms: u64) -> Vec<Sent> {
    (from..from + n)
        .map(|i| d.send(tcp_frame(client(i), 1000, VIP, PORT, flags::SYN), now_ms))
        .collect()
}

fn defense(drop_entry: u8, drop_packet: u8, secure_tcp: u8) -> Defense {
    Defense {
        drop_entry,
        drop_packet,
        secure_tcp,
        ..Defense::default()
    }
}

/// Automatic mode: off below the threshold (90 % of the table, amemthresh
/// 10), on above it with IPVS's rate thresh / (thresh - free), shown as
/// mode 2 while on, back to 1 when the table drains.
#[test]
fn automatic_drop_packet_follows_occupancy() {
    let mut d = director(100);
    set(&mut d, defense(0, 1, 0));
    syns(&mut d, 0, 90, 1);
    d.worker.sweep(1_000, usize::MAX);
    let s = status(&mut d);
    assert_eq!(
        s.shown.drop_packet, 1,
        "90 of 100: 10 free is not fewer than 10"
    );
    assert_eq!((s.cores_under_pressure, s.drop_rate), (0, 0));
    assert_eq!(s.occupancy_ppm, 900_000);
    assert!(syns(&mut d, 90, 5, 1_500)
        .iter()
        .all(|s| matches!(s, Sent::To(_))));
    // 95 of 100: 5 free of a threshold of 10, one in 10 / 5 = 2 dropped.
    d.worker.sweep(2_000, usize::MAX);
    let s = status(&mut d);
    assert_eq!(s.shown.drop_packet, 2);
    assert_eq!((s.cores_under_pressure, s.drop_rate), (1, 2));
    let sent = syns(&mut d, 100, 4, 2_100);
    let dropped = sent
        .iter()
        .filter(|s| **s == Sent::Not(Verdict::Drop(Counter::DefenseDropPacket)))
        .count();
    assert_eq!(dropped, 2, "{sent:?}");
    assert_eq!(d.counter(Counter::DefenseDropPacket), 2);
    // A packet of a connection that exists is never dropped.
    for i in 0..10 {
        let s = d.send(tcp_frame(client(i), 1000, VIP, PORT, flags::ACK), 2_200);
        assert_eq!(s, Sent::To(RS1));
    }
    // The half-open entries expire (SYN_RECV: 60 s): the level drops.
    d.worker.sweep(200_000, usize::MAX);
    d.worker.sweep(201_000, usize::MAX);
    let s = status(&mut d);
    assert_eq!(s.shown.drop_packet, 1);
    assert_eq!((s.cores_under_pressure, s.drop_rate), (0, 0));
    assert!(syns(&mut d, 200, 10, 201_500)
        .iter()
        .all(|s| matches!(s, Sent::To(_))));
    assert_eq!(status(&mut d).packets_dropped, 2);
}

/// Modes 0 and 3 ignore the table; mode 3 drops one in am_droprate.
#[test]
fn mode_0_never_and_mode_3_always() {
    let mut d = director(100);
    syns(&mut d, 0, 99, 1);
    d.worker.sweep(1_000, usize::MAX);
    let s = status(&mut d);
    assert_eq!(s.shown, Defense::default(), "mode 0 at 99 %: nothing");
    assert_eq!(
        s.cores_under_pressure, 1,
        "the pressure is seen all the same"
    );
    let mut d = director(100);
    set(
        &mut d,
        Defense {
            am_droprate: 4,
            ..defense(3, 3, 3)
        },
    );
    d.worker.sweep(1_000, usize::MAX);
    let s = status(&mut d);
    assert_eq!(
        (s.shown.drop_entry, s.shown.drop_packet, s.shown.secure_tcp),
        (3, 3, 3)
    );
    assert_eq!((s.cores_under_pressure, s.drop_rate), (0, 4));
    assert!(s.secure_tcp_on);
    let sent = syns(&mut d, 0, 20, 1_100);
    assert_eq!(d.counter(Counter::DefenseDropPacket), 5, "{sent:?}");
    // UDP's new flows count too, as udp_conn_schedule's todrop.
    let before = d.counter(Counter::DefenseDropPacket);
    for i in 0..8 {
        d.send(udp_frame(client(100 + i), 5000, VIP, 53), 1_200);
    }
    assert_eq!(d.counter(Counter::DefenseDropPacket) - before, 2);
}

/// A new generation is judged at the next sweep, not a second later.
#[test]
fn a_changed_setting_applies_at_the_next_sweep() {
    let mut d = director(100);
    d.worker.sweep(1_000, usize::MAX);
    set(&mut d, defense(0, 3, 0));
    d.worker.sweep(1_001, usize::MAX);
    assert_eq!(status(&mut d).drop_rate, 10);
}

/// drop_entry removes half-open TCP entries only: established ones, UDP
/// entries and templates stay, and the gauges follow.
#[test]
fn drop_entry_removes_only_half_open_entries() {
    let mut d = director(1000);
    // A persistent service: its templates must stay too.
    let sticky = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: (VIP, 443).into(),
    };
    let mut cfg = ServiceConfig::new("rr");
    cfg.persistent_timeout_s = Some(600);
    d.add_service(sticky, cfg);
    d.add_dest(sticky, RS2, 443, 1);
    // 40 established connections, 40 UDP flows, 20 persistent
    // established ones (and their templates), 200 half-open.
    for i in 0..40 {
        d.send(tcp_frame(client(i), 2000, VIP, PORT, flags::SYN), 1);
        d.send(tcp_frame(client(i), 2000, VIP, PORT, flags::ACK), 2);
        d.send(udp_frame(client(i), 5000, VIP, 53), 2);
    }
    for i in 0..20 {
        d.send(tcp_frame(client(i), 3000, VIP, 443, flags::SYN), 1);
        d.send(tcp_frame(client(i), 3000, VIP, 443, flags::ACK), 2);
    }
    syns(&mut d, 1000, 200, 3);
    let count = |d: &Director, now: u64| {
        let c = conns(d, now);
        let half = c
            .iter()
            .filter(|r| !r.template && r.state == State::SynRecv)
            .count();
        (half, c.len() - half)
    };
    let (half, others) = count(&d, 10);
    assert_eq!((half, others), (200, 40 + 40 + 20 + 20));
    let active = d.conns_of(svc(), RS1).0;
    assert_eq!(active, 240);
    // Mode 1 on a table at 32 %: nothing goes.
    set(&mut d, defense(1, 0, 0));
    for t in 1..=5 {
        d.worker.sweep(t * 1_000, usize::MAX);
    }
    assert_eq!(count(&d, 5_000), (200, 120));
    // Always: a 1/32 slice a second, half-open entries only.
    set(&mut d, defense(3, 0, 0));
    for t in 6..=55 {
        d.worker.sweep(t * 1_000, usize::MAX);
    }
    let (left, others) = count(&d, 55_000);
    let gone = d.counter(Counter::DefenseDropEntry);
    assert!(gone > 0, "50 slices of 1/32 found none of 200");
    assert_eq!(
        left as u64 + gone,
        200,
        "only half-open entries were removed"
    );
    assert_eq!(others, 120, "established, UDP and templates all stay");
    assert_eq!(d.conns_of(svc(), RS1).0, 240 - gone, "ActiveConn follows");
    assert_eq!(status(&mut d).entries_dropped, gone);
    assert_eq!(d.counter(Counter::ConnExpired), 0, "none had timed out yet");
}

/// secure_tcp's table and the timeouts that come with its states: a DR
/// SYN makes SYNACK (120 s) instead of SYN_RECV (60 s), the handshake's
/// ACK ESTABLISHED (900 s); in automatic mode only under pressure.
#[test]
fn secure_tcp_states_and_their_timeouts() {
    let expiry = |d: &Director, c: Ipv4Addr, now: u64| {
        let r = conns(d, now)
            .into_iter()
            .find(|r| r.caddr == c && !r.template)
            .expect("the entry");
        (r.state, r.expires_in_ms)
    };
    let mut d = director(100);
    set(&mut d, defense(0, 0, 1));
    d.worker.sweep(1_000, usize::MAX);
    d.send(tcp_frame(client(1), 1000, VIP, PORT, flags::SYN), 1_000);
    assert_eq!(expiry(&d, client(1), 1_000), (State::SynRecv, 60_000));
    // Under pressure (91 of 100), the secure table.
    syns(&mut d, 10, 90, 1_000);
    d.worker.sweep(2_000, usize::MAX);
    assert!(status(&mut d).secure_tcp_on);
    assert_eq!(status(&mut d).shown.secure_tcp, 2);
    d.send(tcp_frame(client(2), 1000, VIP, PORT, flags::SYN), 2_000);
    assert_eq!(expiry(&d, client(2), 2_000), (State::SynAck, 120_000));
    d.send(tcp_frame(client(2), 1000, VIP, PORT, flags::ACK), 3_000);
    assert_eq!(expiry(&d, client(2), 3_000), (State::Established, 900_000));
    // ActiveConn counts SYNACK as active, as the kernel does.
    assert_eq!(d.conns_of(svc(), RS1).0, 92);
}

#[test]
fn bad_settings_are_refused_and_change_nothing() {
    let mut d = director(100);
    for bad in [
        defense(4, 0, 0),
        defense(0, 9, 0),
        defense(0, 0, 4),
        Defense {
            amemthresh: 0,
            ..Defense::default()
        },
        Defense {
            amemthresh: 100,
            ..Defense::default()
        },
        Defense {
            am_droprate: 0,
            ..Defense::default()
        },
    ] {
        match d.admin(Request::SetDefense(bad)) {
            Response::Error(e) => assert_eq!(e.kind, rvs_api::ErrorKind::Invalid, "{bad:?}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert_eq!(status(&mut d).shown, Defense::default());
}
