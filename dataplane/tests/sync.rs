//! Connection sync between two directors, without sockets: the master's
//! worker reports entries, they go through the wire format
//! (`MessageBuilder` → `decode`), the backup places each on its owner core
//! and installs it; then the backup forwards the flow's next packets (and
//! its NAT replies) as the master would have.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rvs_api::{DestConfig, Forward, Protocol, Request, ServiceConfig, ServiceKey};
use rvs_dataplane::conn::state::State;
use rvs_dataplane::pipeline::{screen, sync_owner, ConnPolicy, Screened, VecFrame, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::sync::{self, MessageBuilder, SyncConn};
use rvs_dataplane::wire::ethernet::MacAddr;
use rvs_dataplane::wire::tcp::flags;

use common::director::{conns, Director};
use common::*;

const CPORT: u16 = 40000;
const LADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 201);
/// The router in front of both directors: where NAT replies go.
const ROUTER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x99]);

fn svc(port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: (VIP, port).into(),
    }
}

/// A director with one service on VIP:80 to rs1 and rs2 by `forward`
/// (FullNAT with a local address), `persistent` or not.
fn director(forward: Forward, persistent: bool) -> Director {
    let mut d = Director::new(ConnPolicy::default());
    let mut cfg = ServiceConfig::new("rr");
    if persistent {
        cfg.persistent_timeout_s = Some(300);
    }
    d.add_service(svc(80), cfg);
    let port = if forward == Forward::Route { 80 } else { 8080 };
    for rs in [RS1, RS2] {
        d.add_dest_by(svc(80), forward, rs, port);
    }
    if forward == Forward::FullNat {
        d.ok(Request::AddLaddr {
            service: svc(80),
            addr: LADDR.into(),
        });
    }
    d
}

fn master(forward: Forward, persistent: bool) -> Director {
    let mut d = director(forward, persistent);
    assert!(d.admin.set_sync_master(true));
    drop(d.worker.set_snapshot(Arc::new(d.admin.snapshot())));
    d
}

fn segment(src: MacAddr, ip: Vec<u8>) -> VecFrame {
    VecFrame(in4(src, &ip))
}

fn client(sport: u16, fl: u8, payload: &[u8]) -> VecFrame {
    segment(ROUTER_MAC, tcp(CLI, VIP, sport, 80, fl, payload))
}

fn run(d: &mut Director, mut f: VecFrame, now_ms: u64) -> (Verdict, VecFrame) {
    let v = d.worker.handle_frame(0, &mut f, now_ms, false);
    d.drain();
    (v, f)
}

/// Everything the master reported, through the wire and back.
fn over_the_wire(m: &Director) -> Vec<SyncConn> {
    let mut b = MessageBuilder::new(9, 1472);
    let mut datagrams = vec![];
    while let Some(c) = m.sync_out.pop() {
        if !b.push(&c) {
            datagrams.push(b.take());
            assert!(b.push(&c));
        }
    }
    if !b.is_empty() {
        datagrams.push(b.take());
    }
    datagrams
        .iter()
        .flat_map(|d| sync::decode(d, 9).expect("a datagram we built"))
        .collect()
}

/// Install on the backup as its control thread does (one core here).
fn install(b: &mut Director, entries: &[SyncConn], now_ms: u64) -> Vec<Counter> {
    entries
        .iter()
        .map(|c| {
            assert_eq!(sync_owner(b.worker.snapshot(), c, 1), 0);
            b.worker.install_synced(c, now_ms)
        })
        .collect()
}

fn rs_of(f: &VecFrame) -> Ipv4Addr {
    let mac = MacAddr(f.0[0..6].try_into().unwrap());
    REAL_SERVERS.iter().find(|(_, m)| *m == mac).unwrap().0
}

/// A NAT master, and the real server it chose for the client's connection
/// from CPORT (SYN at 1 ms), which answered (SYN+ACK at 2) and the client
/// acknowledged (at 3).
fn nat_master_established() -> (Director, Ipv4Addr) {
    let mut m = master(Forward::Masq, false);
    let (_, f) = run(&mut m, client(CPORT, flags::SYN, b""), 1);
    let rs = rs_of(&f);
    run(&mut m, nat_reply(rs, flags::SYN | flags::ACK), 2);
    run(&mut m, client(CPORT, flags::ACK, b""), 3);
    (m, rs)
}

/// The NAT real server `rs`'s segment of `fl` to the client.
fn nat_reply(rs: Ipv4Addr, fl: u8) -> VecFrame {
    segment(RS1_MAC, tcp(rs, CLI, 8080, CPORT, fl, b""))
}

#[test]
fn dr_connection_is_sent_at_its_third_packet_and_the_backup_carries_it_on() {
    let mut m = master(Forward::Route, false);
    // Another client first, so this flow is rr's second pick (rs1).
    let (v, _) = run(
        &mut m,
        segment(CLI_MAC, tcp(CLI, VIP, 1, 80, flags::SYN, b"")),
        1,
    );
    assert_eq!(v, Verdict::Forward(0));
    let (_, f) = run(&mut m, client(CPORT, flags::SYN, b""), 2);
    let rs = rs_of(&f);
    run(&mut m, client(CPORT, flags::ACK, b""), 3);
    assert!(m.sync_out.is_empty(), "nothing before the 3rd packet");
    run(&mut m, client(CPORT, flags::ACK | flags::PSH, b"GET /"), 4);
    let sent = over_the_wire(&m);
    assert_eq!(sent.len(), 1);
    assert_eq!(m.counter(Counter::SyncQueued), 1);
    let c = sent[0];
    assert_eq!(
        (
            c.caddr,
            c.cport,
            c.vport,
            c.daddr,
            c.state,
            c.forward,
            c.timeout_s
        ),
        (
            IpAddr::V4(CLI),
            CPORT,
            80,
            IpAddr::V4(rs),
            State::Established,
            Forward::Route,
            900
        )
    );

    // The backup: nothing for the flow until the entry arrives.
    let mut b = director(Forward::Route, false);
    let (v, _) = run(&mut b, client(CPORT, flags::ACK, b""), 10);
    assert_eq!(v, Verdict::Drop(Counter::DropTcpNoConn));
    assert_eq!(install(&mut b, &sent, 10), vec![Counter::SyncInstalled]);
    let listed = conns(&b, 10);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, State::Established);
    assert_eq!(listed[0].expires_in_ms, 900_000);
    assert_eq!(b.conns_of(svc(80), rs), (1, 0, 0), "counted active");
    let (v, f) = run(&mut b, client(CPORT, flags::ACK, b""), 11);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(rs_of(&f), rs, "the same real server");

    // 50 packets later it is sent again (a lost datagram is repaired), and
    // its FIN at once: the backup's entry follows.
    for i in 0..50 {
        run(&mut m, client(CPORT, flags::ACK, b""), 20 + i);
    }
    assert_eq!(over_the_wire(&m).len(), 1, "packet 53");
    run(&mut m, client(CPORT, flags::FIN | flags::ACK, b""), 100);
    let fin = over_the_wire(&m);
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].state, State::FinWait);
    assert_eq!(install(&mut b, &fin, 100), vec![Counter::SyncUpdated]);
    assert_eq!(conns(&b, 100)[0].state, State::FinWait);
    assert_eq!(b.conns_of(svc(80), rs), (0, 1, 0), "now inactive");
}

#[test]
fn nat_replies_are_translated_by_the_backup_to_the_clients_router() {
    let (mut m, rs) = nat_master_established();
    let reply = |fl| nat_reply(rs, fl);
    run(&mut m, client(CPORT, flags::ACK | flags::PSH, b"GET /"), 4);
    let sent = over_the_wire(&m);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].extra.peer_mac, ROUTER_MAC);

    let mut b = director(Forward::Masq, false);
    assert_eq!(install(&mut b, &sent, 10), vec![Counter::SyncInstalled]);
    let (v, f) = run(&mut b, reply(flags::ACK | flags::PSH), 11);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(
        f.0,
        out4(
            ROUTER_MAC,
            &tcp(VIP, CLI, 80, CPORT, flags::ACK | flags::PSH, b"")
        ),
        "from VIP:80, to the MAC the client's frames came from"
    );
    let (v, f) = run(&mut b, client(CPORT, flags::ACK, b""), 12);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(rs_of(&f), rs);
}

#[test]
fn fullnat_keeps_the_masters_local_port_and_the_backup_never_hands_it_out() {
    let mut m = master(Forward::FullNat, false);
    let (_, f) = run(&mut m, client(CPORT, flags::SYN, b""), 1);
    let rs = rs_of(&f);
    let lport = u16::from_be_bytes([f.0[34], f.0[35]]);
    run(&mut m, client(CPORT, flags::ACK, b""), 2);
    run(&mut m, client(CPORT, flags::ACK | flags::PSH, b"GET /"), 3);
    let sent = over_the_wire(&m);
    assert_eq!(sent[0].extra.laddr, Some((IpAddr::V4(LADDR), lport)));

    let mut b = director(Forward::FullNat, false);
    assert_eq!(install(&mut b, &sent, 10), vec![Counter::SyncInstalled]);
    let reply = segment(RS1_MAC, tcp(rs, LADDR, 8080, lport, flags::ACK, b""));
    let (v, f) = run(&mut b, reply, 11);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(
        f.0,
        out4(ROUTER_MAC, &tcp(VIP, CLI, 80, CPORT, flags::ACK, b""))
    );
    // The backup's own new connections take other ports.
    for sport in 1..200 {
        let (v, f) = run(
            &mut b,
            segment(CLI_MAC, tcp(CLI, VIP, sport, 80, flags::SYN, b"")),
            12,
        );
        assert_eq!(v, Verdict::Forward(0));
        assert_ne!(u16::from_be_bytes([f.0[34], f.0[35]]), lport);
    }
    // The same entry again is an update, not a second port.
    assert_eq!(install(&mut b, &sent, 13), vec![Counter::SyncUpdated]);
}

#[test]
fn a_persistent_clients_template_goes_first_and_steers_its_next_connection() {
    let mut m = master(Forward::Route, true);
    run(
        &mut m,
        segment(
            CLI_MAC,
            tcp(Ipv4Addr::new(198, 18, 0, 3), VIP, 1, 80, flags::SYN, b""),
        ),
        1,
    );
    over_the_wire(&m);
    let (_, f) = run(&mut m, client(CPORT, flags::SYN, b""), 2);
    let rs = rs_of(&f);
    // The new connection's template is sent when it schedules it (a
    // client of short flows keeps its server on the backup too).
    let at_syn = over_the_wire(&m);
    assert_eq!(at_syn.len(), 1);
    assert!(at_syn[0].template && at_syn[0].caddr == IpAddr::V4(CLI));
    run(&mut m, client(CPORT, flags::ACK, b""), 3);
    run(&mut m, client(CPORT, flags::ACK, b""), 4);
    let sent = over_the_wire(&m);
    assert_eq!(sent.len(), 2);
    assert!(sent[0].template, "the template first");
    assert_eq!((sent[0].cport, sent[0].timeout_s), (0, 300));
    assert!(sent[1].extra.controlled.is_some());

    let mut b = director(Forward::Route, true);
    assert_eq!(
        install(&mut b, &sent, 10),
        vec![Counter::SyncInstalled, Counter::SyncInstalled]
    );
    assert_eq!(b.conns_of(svc(80), rs), (1, 0, 1));
    // A new connection of the client goes to the template's server,
    // whichever rr would pick.
    for sport in 1..5 {
        let (v, f) = run(&mut b, client(sport, flags::SYN, b""), 11);
        assert_eq!(v, Verdict::Forward(0));
        assert_eq!(rs_of(&f), rs);
    }
}

#[test]
fn entries_this_director_cannot_place_are_counted_not_installed() {
    let mut m = master(Forward::Route, false);
    run(&mut m, client(CPORT, flags::SYN, b""), 1);
    run(&mut m, client(CPORT, flags::ACK, b""), 2);
    run(&mut m, client(CPORT, flags::ACK, b""), 3);
    let sent = over_the_wire(&m);
    // A backup whose service has other real servers.
    let mut b = Director::new(ConnPolicy::default());
    b.add_service(svc(80), ServiceConfig::new("rr"));
    b.add_dest(svc(80), RS3, 80, 1);
    assert_eq!(install(&mut b, &sent, 10), vec![Counter::SyncNoDest]);
    // One whose dest forwards by another method.
    let mut nat = director(Forward::Masq, false);
    assert_eq!(install(&mut nat, &sent, 10), vec![Counter::SyncNoDest]);
    assert!(conns(&b, 10).is_empty() && conns(&nat, 10).is_empty());
}

/// Item 5 of issue 20: a forged entry for a VIP or port this backup has
/// no service for is skipped before any worker sees it, and a forged
/// timeout is lowered to this director's for the state.
#[test]
fn a_backup_screens_forged_entries_by_service_and_timeout() {
    let mut m = master(Forward::Route, true);
    run(&mut m, client(CPORT, flags::SYN, b""), 1);
    run(&mut m, client(CPORT, flags::ACK, b""), 2);
    run(&mut m, client(CPORT, flags::ACK, b""), 3);
    let mut sent = over_the_wire(&m);
    // The template (when it scheduled, and again before its connection),
    // then the connection.
    sent.dedup();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0].template && !sent[1].template);
    let b = director(Forward::Route, true);
    let snap = b.worker.snapshot();
    // The master's own entries pass unchanged.
    for r in &sent {
        let mut c = *r;
        assert_eq!(screen(snap, &mut c), Screened::Pass);
        assert_eq!(c, *r);
    }
    // Another VIP, another port: no service here.
    let mut other_vip = sent[1];
    other_vip.vaddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 250));
    assert_eq!(screen(snap, &mut other_vip), Screened::NoService);
    let mut other_port = sent[1];
    other_port.vport = 443;
    assert_eq!(screen(snap, &mut other_port), Screened::NoService);
    let mut udp = sent[1];
    udp.protocol = 17;
    udp.state = State::Udp;
    assert_eq!(screen(snap, &mut udp), Screened::NoService);
    // A connection asking for a day in ESTABLISHED gets 900 s; a template
    // asking for a year gets its service's 300 s.
    let mut long = sent[1];
    long.timeout_s = 86_400;
    assert_eq!(screen(snap, &mut long), Screened::Clamped);
    assert_eq!(long.timeout_s, 900);
    let mut sticky = sent[0];
    assert!(sticky.template);
    sticky.timeout_s = 365 * 86_400;
    assert_eq!(screen(snap, &mut sticky), Screened::Clamped);
    assert_eq!(sticky.timeout_s, 300);
    // What was lowered installs and expires on this director's clock.
    let mut b = b;
    assert_eq!(
        install(&mut b, &[sticky, long], 10),
        vec![Counter::SyncInstalled, Counter::SyncInstalled]
    );
    let c = conns(&b, 10);
    assert!(c.iter().all(|r| r.expires_in_ms <= 900_000), "{c:?}");
}

#[test]
fn no_master_no_reports() {
    let mut d = director(Forward::Route, false);
    for (i, fl) in [flags::SYN, flags::ACK, flags::ACK, flags::ACK]
        .into_iter()
        .enumerate()
    {
        run(&mut d, client(CPORT, fl, b""), i as u64 + 1);
    }
    assert!(d.sync_out.is_empty());
    assert_eq!(d.counter(Counter::SyncQueued), 0);
}

#[test]
fn ipv6_nat_connections_sync_too() {
    let svc6 = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: (VIP6, 80).into(),
    };
    let director6 = |master: bool| {
        let mut d = Director::new(ConnPolicy::default());
        d.add_service(svc6, ServiceConfig::new("rr"));
        d.add_dest_with(
            svc6,
            DestConfig {
                addr: (RS1_6, 8080).into(),
                forward: Forward::Masq,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
                tunnel: Default::default(),
            },
        );
        if master {
            assert!(d.admin.set_sync_master(true));
            drop(d.worker.set_snapshot(Arc::new(d.admin.snapshot())));
        }
        d
    };
    let six = |src: MacAddr, ip: Vec<u8>| VecFrame(in6(src, &ip));
    let client6 = |fl| six(ROUTER_MAC, tcp6(CLI6, VIP6, CPORT, 80, fl, &[], b""));
    let mut m = director6(true);
    for (i, fl) in [flags::SYN, flags::ACK, flags::ACK].into_iter().enumerate() {
        let (v, _) = run(&mut m, client6(fl), i as u64 + 1);
        assert_eq!(v, Verdict::Forward(0));
    }
    let sent = over_the_wire(&m);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].caddr, IpAddr::V6(CLI6));
    let mut b = director6(false);
    assert_eq!(install(&mut b, &sent, 10), vec![Counter::SyncInstalled]);
    let reply = six(
        RS1_MAC,
        tcp6(RS1_6, CLI6, 8080, CPORT, flags::ACK, &[], b""),
    );
    let (v, f) = run(&mut b, reply, 11);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(
        f.0,
        out6(
            ROUTER_MAC,
            &tcp6(VIP6, CLI6, 80, CPORT, flags::ACK, &[], b"")
        ),
        "the backup translates the reply from [VIP6]:80"
    );
}

#[test]
fn a_state_a_nat_reply_set_is_sent_with_the_clients_next_packet() {
    let (mut m, rs) = nat_master_established();
    let reply = |fl| nat_reply(rs, fl);
    run(&mut m, client(CPORT, flags::ACK, b""), 4);
    assert_eq!(over_the_wire(&m)[0].state, State::Established);
    // The real server closes: the reply moves the entry on; the client's
    // next packet (the 5th, no 50-packet mark) carries it to the backup.
    run(&mut m, reply(flags::FIN | flags::ACK), 5);
    run(&mut m, client(CPORT, flags::ACK, b""), 6);
    let sent = over_the_wire(&m);
    assert_eq!(sent.len(), 1, "sent at once");
    assert_ne!(sent[0].state, State::Established);
    run(&mut m, client(CPORT, flags::ACK, b""), 7);
    assert!(over_the_wire(&m).is_empty(), "once per state");
}

#[test]
fn a_backup_follows_a_reused_fullnat_tuple_and_ignores_stale_ends() {
    let mut m = master(Forward::FullNat, false);
    let (_, f) = run(&mut m, client(CPORT, flags::SYN, b""), 1);
    let rs = rs_of(&f);
    run(&mut m, client(CPORT, flags::ACK, b""), 2);
    run(&mut m, client(CPORT, flags::ACK, b""), 3);
    let first = over_the_wire(&m)[0];
    let (laddr, p1) = first.extra.laddr.unwrap();
    let mut b = director(Forward::FullNat, false);
    install(&mut b, &[first], 10);
    // The master reused the tuple with another local port: the backup's
    // entry moves to it, the old port is free again.
    let mut again = first;
    again.extra.laddr = Some((laddr, p1 + 7));
    assert_eq!(install(&mut b, &[again], 11), vec![Counter::SyncUpdated]);
    let to = |port| segment(RS1_MAC, tcp(rs, LADDR, 8080, port, flags::ACK, b""));
    assert_eq!(run(&mut b, to(p1 + 7), 12).0, Verdict::Forward(0));
    assert_ne!(
        run(&mut b, to(p1), 12).0,
        Verdict::Forward(0),
        "the old port is not the entry's"
    );
    // An inactive record for another dest ends a connection already
    // replaced: ignored. An active one moves the entry.
    let other = if rs == RS1 { RS2 } else { RS1 };
    let mut late = again;
    late.daddr = IpAddr::V4(other);
    late.state = State::TimeWait;
    assert_eq!(install(&mut b, &[late], 13), vec![Counter::SyncStale]);
    late.state = State::Established;
    assert_eq!(install(&mut b, &[late], 14), vec![Counter::SyncUpdated]);
    assert_eq!(conns(&b, 14)[0].daddr, IpAddr::V4(other));
    // A NAT record without rvs's parameter (a kernel master's): refused.
    let mut n = director(Forward::Masq, false);
    let mut kernel = first;
    kernel.forward = Forward::Masq;
    kernel.extra = sync::Extra::default();
    assert_eq!(
        install(&mut n, &[kernel], 15),
        vec![Counter::SyncUnplaceable]
    );
}
