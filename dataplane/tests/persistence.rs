//! Persistence and firewall marks through the real admin state and
//! pipeline: templates, their lifetime and netmask, quiesced and deleted
//! dests, port-zero and fwmark services (`spec/conn.md`'s worked examples
//! that need connections, templates and time).

mod common;

use std::net::Ipv4Addr;

use proptest::prelude::*;
use rvs_api::{DestConfig, Request, Response, ServiceConfig};
use rvs_dataplane::pipeline::{ConnPolicy, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::tcp::flags;

use common::director::{dest, Director, Sent};
use common::sched::*;
use common::*;

#[test]
fn a_persistent_client_stays_on_its_dest() {
    // -A -t VIP:80 -s rr -p 360; rs1 then rs2 (list [rs2, rs1]).
    let mut d = with_service(
        ConnPolicy::default(),
        persistent("rr", 360),
        &[(RS1, 1), (RS2, 1)],
    );
    let a = ip("198.51.100.9");
    for sport in 1000..1005 {
        assert_eq!(d.syn(a, sport, V80, 1), Sent::To(RS2), "sport {sport}");
    }
    // Another client gets its own template, from the scheduler's next pick.
    assert_eq!(d.syn(ip("198.51.100.10"), 1000, V80, 1), Sent::To(RS1));
    assert_eq!(d.conns_of(tcp_svc(80), RS2), (5, 0, 1));
    assert_eq!(d.conns_of(tcp_svc(80), RS1), (1, 0, 1));
    assert_eq!(d.counter(Counter::TemplateCreated), 2);
    assert_eq!(
        d.list()[0].stats.conns,
        6,
        "templates are not counted as Conns"
    );
}

#[test]
fn a_netmask_groups_clients_onto_one_template() {
    // -p 360 -M 255.255.255.0: 198.51.100.9 and .77 share 198.51.100.0.
    let mut config = persistent("rr", 360);
    config.netmask = Some(0xffff_ff00);
    let mut d = with_service(ConnPolicy::default(), config, &[(RS1, 1), (RS2, 1)]);
    assert_eq!(d.syn(ip("198.51.100.9"), 1000, V80, 1), Sent::To(RS2));
    assert_eq!(d.syn(ip("198.51.100.77"), 1000, V80, 1), Sent::To(RS2));
    assert_eq!(d.syn(ip("198.51.101.5"), 1000, V80, 1), Sent::To(RS1));
    assert_eq!(d.syn(ip("198.51.100.200"), 2000, V80, 1), Sent::To(RS2));
    assert_eq!(d.counter(Counter::TemplateCreated), 2);
}

#[test]
fn template_lifetime_follows_the_kernel() {
    // spec/conn.md §6.3 with -p 360.
    let mut d = with_service(
        ConnPolicy::default(),
        persistent("rr", 360),
        &[(RS1, 1), (RS2, 1)],
    );
    let a = ip("198.51.100.9");
    assert_eq!(d.syn(a, 1000, V80, 0), Sent::To(RS2));
    assert_eq!(d.tcp(a, 1000, V80, flags::ACK, 0), Sent::To(RS2));
    // At 360 s the template still controls a live connection: kept, and
    // from now on refreshed for 60 s only.
    d.sweep(361);
    assert_eq!(d.conns_of(tcp_svc(80), RS2), (1, 0, 1));
    assert_eq!(d.counter(Counter::TemplateExpired), 0);
    // A second connection at 500 s goes to the same dest and refreshes the
    // template to 560 s, not 860 s.
    assert_eq!(d.syn(a, 1001, V80, 500), Sent::To(RS2));
    assert_eq!(d.tcp(a, 1001, V80, flags::ACK, 500), Sent::To(RS2));
    for sport in [1000, 1001] {
        assert_eq!(d.tcp(a, sport, V80, flags::RST, 501), Sent::To(RS2));
    }
    d.sweep(512); // both connections closed (CLOSE lasts 10 s)
    assert_eq!(d.conns_of(tcp_svc(80), RS2), (0, 0, 1));
    d.sweep(559);
    assert_eq!(
        d.conns_of(tcp_svc(80), RS2).2,
        1,
        "template alive until 560 s"
    );
    d.sweep(561);
    assert_eq!(d.conns_of(tcp_svc(80), RS2).2, 0);
    assert_eq!(d.counter(Counter::TemplateExpired), 1);
    // Persistence is over: the client is scheduled afresh (rr's next pick).
    assert_eq!(d.syn(a, 1002, V80, 562), Sent::To(RS1));
}

#[test]
fn quiesced_dest_keeps_its_persistent_clients_unless_told_otherwise() {
    // spec/conn.md §7, weight 0 row, with both expire_quiescent_template values.
    for expire_quiescent_template in [false, true] {
        let policy = ConnPolicy {
            expire_quiescent_template,
            ..ConnPolicy::default()
        };
        let mut d = with_service(policy, persistent("rr", 360), &[(RS1, 1), (RS2, 1)]);
        let (a, b) = (ip("198.51.100.9"), ip("198.51.100.10"));
        assert_eq!(d.syn(a, 1000, V80, 1), Sent::To(RS2));
        assert_eq!(d.tcp(a, 1000, V80, flags::ACK, 1), Sent::To(RS2));
        d.edit_dest(tcp_svc(80), RS2, 80, 0);
        // Existing connections continue.
        assert_eq!(d.tcp(a, 1000, V80, flags::ACK, 2), Sent::To(RS2));
        // New clients are not scheduled there.
        assert_eq!(d.syn(b, 1000, V80, 2), Sent::To(RS1));
        // The persistent client's new connection: to the quiesced dest
        // (templates bypass the scheduler), or rescheduled.
        let want = if expire_quiescent_template { RS1 } else { RS2 };
        assert_eq!(
            d.syn(a, 1001, V80, 3),
            Sent::To(want),
            "expire_quiescent_template={expire_quiescent_template}"
        );
    }
}

/// [`rr_with_a_client`] under `expire_nodest_conn`, its connection on rs2
/// established (the client's ACK at 1 s).
fn established_on_rs2(expire_nodest_conn: bool) -> (Director, Ipv4Addr) {
    let policy = ConnPolicy {
        expire_nodest_conn,
        ..ConnPolicy::default()
    };
    let (mut d, a) = rr_with_a_client(policy);
    assert_eq!(d.tcp(a, 1000, V80, flags::ACK, 1), Sent::To(RS2));
    (d, a)
}

#[test]
fn deleted_dest_drops_or_expires_its_connections() {
    // spec/conn.md §7, delete row, with both expire_nodest_conn values.
    for expire_nodest_conn in [false, true] {
        let (mut d, a) = established_on_rs2(expire_nodest_conn);
        d.ok(Request::DelDest {
            service: tcp_svc(80),
            addr: (RS2, 80).into(),
        });
        let got = d.tcp(a, 1000, V80, flags::ACK, 2);
        if expire_nodest_conn {
            // The entry is expired and the packet, not a SYN, has no
            // connection to go by.
            assert_eq!(got, Sent::Not(Verdict::Drop(Counter::DropTcpNoConn)));
            assert_eq!(d.counter(Counter::ConnNodestExpired), 1);
            // The client's retried SYN is scheduled on what is left.
            assert_eq!(d.syn(a, 1000, V80, 3), Sent::To(RS1));
        } else {
            assert_eq!(got, Sent::Not(Verdict::Drop(Counter::DropDestUnavailable)));
            assert_eq!(
                d.syn(a, 1000, V80, 3),
                Sent::Not(Verdict::Drop(Counter::DropDestUnavailable)),
                "the entry lives on until it times out"
            );
        }
    }
}

#[test]
fn a_syn_on_a_quiesced_dests_entry_is_rescheduled_with_expire_nodest_conn() {
    for expire_nodest_conn in [false, true] {
        let (mut d, a) = established_on_rs2(expire_nodest_conn);
        d.edit_dest(tcp_svc(80), RS2, 80, 0);
        let want = if expire_nodest_conn { RS1 } else { RS2 };
        assert_eq!(d.syn(a, 1000, V80, 2), Sent::To(want));
    }
}

#[test]
fn a_deleted_dests_template_is_not_honoured() {
    let mut d = with_service(
        ConnPolicy::default(),
        persistent("rr", 360),
        &[(RS1, 1), (RS2, 1), (RS3, 1)],
    );
    let a = ip("198.51.100.9");
    assert_eq!(d.syn(a, 1000, V80, 1), Sent::To(RS3));
    d.ok(Request::DelDest {
        service: tcp_svc(80),
        addr: (RS3, 80).into(),
    });
    let got = d.syn(a, 1001, V80, 2);
    assert!(matches!(got, Sent::To(RS1 | RS2)), "{got:?}");
    assert_eq!(d.syn(a, 1002, V80, 3), got, "the new template holds");
}

#[test]
fn port_zero_service_pins_every_port_of_the_vip() {
    // -A -t VIP:0 -s rr -p 300 (persistent client connections).
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(tcp_svc(0), persistent("rr", 300));
    for rs in [RS1, RS2] {
        d.add_dest(tcp_svc(0), rs, 0, 1);
    }
    let a = ip("198.51.100.9");
    let first = d.syn(a, 1000, (VIP, 80), 1);
    assert_eq!(first, Sent::To(RS2));
    assert_eq!(d.syn(a, 1001, (VIP, 22), 1), first);
    assert_eq!(d.syn(a, 1002, (VIP, 443), 1), first);
    assert_eq!(
        d.syn(ip("198.51.100.10"), 1000, (VIP, 22), 1),
        Sent::To(RS1)
    );
    // A non-persistent port-0 service is refused.
    let refused = d.admin(Request::AddService {
        key: tcp_svc(0),
        config: sched("rr"),
    });
    assert!(matches!(refused, Response::Error(_)), "{refused:?}");
}

#[test]
fn an_address_service_wins_over_the_port_zero_one() {
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(tcp_svc(0), persistent("rr", 300));
    d.add_dest(tcp_svc(0), RS1, 0, 1);
    d.add_service(tcp_svc(80), sched("rr"));
    d.add_dest(tcp_svc(80), RS2, 80, 1);
    let a = ip("198.51.100.9");
    assert_eq!(d.syn(a, 1000, (VIP, 80), 1), Sent::To(RS2));
    assert_eq!(d.syn(a, 1001, (VIP, 81), 1), Sent::To(RS1));
}

#[test]
fn a_fwmark_service_pins_http_and_https_to_one_dest() {
    // The LVS guides' case: mark 5 on VIP ports 80 and 443, then
    // -A -f 5 -s rr -p 1200 with both real servers.
    let mut d = Director::new(ConnPolicy::default());
    d.ok(Request::AddMarkRule(mark_rule(
        5,
        "198.18.0.100",
        &[80, 443],
    )));
    d.add_service(fwm(5), persistent("rr", 1200));
    for rs in [RS1, RS2] {
        d.add_dest(fwm(5), rs, 0, 1);
    }
    // The VIP of a host rule is answered for like any VIP.
    let mut arp = arp_request(VIP);
    assert_eq!(d.worker.handle_frame(0, &mut arp, 1, false), Verdict::Reply);
    for (client, want) in [("198.51.100.9", RS2), ("198.51.100.10", RS1)] {
        let c = ip(client);
        for (sport, port) in [(1000, 80), (1001, 443), (1002, 80), (1003, 443)] {
            let mut f = tcp_frame(c, sport, VIP, port, flags::SYN);
            let v = d.worker.handle_frame(0, &mut f, 1001, false);
            assert_eq!(v, Verdict::Forward(0), "{client} port {port}");
            let mac = &f.0[0..6];
            let want_mac = REAL_SERVERS.iter().find(|r| r.0 == want).unwrap().1;
            assert_eq!(mac, want_mac.0, "{client} port {port}");
            assert_eq!(
                u16::from_be_bytes([f.0[36], f.0[37]]),
                port,
                "DR keeps the port"
            );
        }
    }
    // A port no rule marks belongs to no service.
    assert_eq!(
        d.syn(ip("198.51.100.9"), 2000, (VIP, 8080), 2),
        Sent::Not(Verdict::Drop(Counter::DropVipNoService))
    );
    // Rules can be listed and deleted; without its rule the service gets
    // nothing.
    match d.admin(Request::ListMarkRules) {
        Response::MarkRules(r) => assert_eq!(r, [mark_rule(5, "198.18.0.100", &[80, 443])]),
        other => panic!("{other:?}"),
    }
    d.ok(Request::DelMarkRules { mark: 5 });
    assert_eq!(
        d.syn(ip("198.51.100.9"), 2001, (VIP, 80), 3),
        Sent::Not(Verdict::Exception),
        "no longer an address of ours"
    );
}

#[test]
fn a_rule_over_the_directors_own_segment_answers_no_arp_for_its_hosts() {
    let mut d = Director::new(ConnPolicy::default());
    d.ok(Request::AddMarkRule(mark_rule(3, "198.18.0.0/24", &[8080])));
    d.add_service(fwm(3), sched("rr"));
    d.add_dest(fwm(3), RS1, 0, 1);
    for host in [RS1, RS2, VIP] {
        let mut arp = arp_request(host);
        assert_eq!(
            d.worker.handle_frame(0, &mut arp, 1, false),
            Verdict::Exception,
            "{host}"
        );
    }
    // Traffic to a marked port of any address in it is still ours; other
    // traffic to those addresses (the director's own, here) is the kernel's.
    assert_eq!(
        d.syn(ip("198.51.100.9"), 1000, (RS2, 8080), 1),
        Sent::To(RS1)
    );
    assert_eq!(
        d.syn(ip("198.51.100.9"), 1001, (LB, 22), 1),
        Sent::Not(Verdict::Exception)
    );
    assert_eq!(
        d.udp(ip("198.51.100.9"), 1002, (LB, 53), 1),
        Sent::Not(Verdict::Exception)
    );
}

#[test]
fn a_fwmark_service_takes_precedence_over_an_address_service() {
    // spec/conn.md §1.3: a marked packet goes to its fwmark service first.
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(tcp_svc(80), sched("rr"));
    d.add_dest(tcp_svc(80), RS1, 80, 1);
    d.ok(Request::AddMarkRule(mark_rule(7, "198.18.0.100", &[80])));
    d.add_service(fwm(7), sched("rr"));
    d.add_dest(fwm(7), RS2, 0, 1);
    assert_eq!(d.syn(ip("198.51.100.9"), 1000, V80, 1), Sent::To(RS2));
}

/// The service lookup decides the service of an entry's packets too: an
/// entry made before a mark rule keeps its dest, and its packets count
/// under the fwmark service that takes them now.
#[test]
fn a_live_entry_s_packets_count_under_the_fwmark_service_that_now_takes_them() {
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(tcp_svc(80), sched("rr"));
    d.add_dest(tcp_svc(80), RS1, 80, 1);
    let client = ip("198.51.100.9");
    assert_eq!(d.syn(client, 1000, V80, 1), Sent::To(RS1));
    d.ok(Request::AddMarkRule(mark_rule(7, "198.18.0.100", &[80])));
    d.add_service(fwm(7), sched("rr"));
    d.add_dest(fwm(7), RS2, 0, 1);
    assert_eq!(d.tcp(client, 1000, V80, flags::ACK, 2), Sent::To(RS1));
    let in_pkts = |d: &mut Director, key| {
        let list = d.list();
        list.iter()
            .find(|s| s.key == key)
            .expect("the service")
            .stats
            .in_pkts
    };
    assert_eq!(in_pkts(&mut d, tcp_svc(80)), 1, "the SYN");
    assert_eq!(in_pkts(&mut d, fwm(7)), 1, "the ACK");
}

#[test]
fn a_persistent_client_of_an_overloaded_dest_still_goes_there() {
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(tcp_svc(80), persistent("rr", 360));
    d.add_dest_with(
        tcp_svc(80),
        DestConfig {
            u_threshold: 1,
            ..dest(RS1, 80, 1)
        },
    );
    let a = ip("198.51.100.9");
    assert_eq!(d.syn(a, 1, V80, 1), Sent::To(RS1));
    d.add_dest(tcp_svc(80), RS2, 80, 1);
    assert_eq!(d.syn(ip("198.51.100.10"), 1, V80, 1), Sent::To(RS2));
    assert_eq!(
        d.syn(a, 2, V80, 1),
        Sent::To(RS1),
        "templates ignore OVERLOAD"
    );
}

proptest! {
    /// A persistent client keeps its dest while its template lives and is
    /// scheduled afresh (a new template) once it has expired. One-packet UDP
    /// with -p 10: no connection entry keeps a template alive, so it lives
    /// exactly 10 s after the client's last datagram.
    #[test]
    fn persistence_holds_while_the_template_lives(
        events in proptest::collection::vec((0u8..4, 0u64..25), 1..60)
    ) {
        let mut d = Director::new(ConnPolicy::default());
        d.add_service(
            udp_svc(53),
            ServiceConfig { one_packet: true, ..persistent("rr", 10) },
        );
        for rs in [RS1, RS2, RS3] {
            d.add_dest(udp_svc(53), rs, 53, 1);
        }
        let mut now = 0;
        let mut last: [Option<(u64, Sent)>; 4] = [None; 4];
        let mut templates = 0;
        for (client, dt) in events {
            now += dt;
            let c = Ipv4Addr::new(198, 51, 100, client + 1);
            let got = d.udp(c, 5000 + u16::from(client), (VIP, 53), now);
            prop_assert!(matches!(got, Sent::To(_)));
            match last[client as usize] {
                Some((t, dest)) if now - t < 10 => prop_assert_eq!(got, dest),
                _ => templates += 1,
            }
            last[client as usize] = Some((now, got));
        }
        prop_assert_eq!(d.counter(Counter::TemplateCreated), templates);
    }
}

#[test]
fn a_full_table_still_honours_templates() {
    // Room for 6 entries: 3 clients' template and first connection each.
    let mut d = Director::sized(ConnPolicy::default(), 6);
    d.add_service(tcp_svc(80), persistent("rr", 360));
    for rs in [RS1, RS2, RS3] {
        d.add_dest(tcp_svc(80), rs, 80, 1);
    }
    let clients: Vec<Ipv4Addr> = (1..=3).map(|n| Ipv4Addr::new(198, 51, 100, n)).collect();
    let first: Vec<Sent> = clients.iter().map(|&c| d.syn(c, 1000, V80, 1)).collect();
    assert_eq!(first, [Sent::To(RS3), Sent::To(RS2), Sent::To(RS1)]);
    for (c, want) in clients.iter().zip(&first) {
        for sport in 2000..2005 {
            assert_eq!(d.syn(*c, sport, V80, 2), *want, "{c} sport {sport}");
        }
    }
    assert!(d.counter(Counter::ConnTableFull) >= 15);
}

/// With two workers, a persistent service's flows are owned by the
/// client's network (`-M`), whatever their ports: one worker forwards
/// every port's SYN of a client network, the other hands every one to it
/// (the owner comes from the service, `flow_owner`).
#[test]
fn a_persistent_service_s_flows_go_to_the_core_of_the_client_s_network() {
    let mut config = persistent("rr", 360);
    config.netmask = Some(0xffff_ff00);
    let mut owners = [0usize; 2];
    for net in 0..8u8 {
        let mut verdicts = vec![];
        for id in 0..2u16 {
            let mut d = Director::core_of(ConnPolicy::default(), 4096, id, 2);
            d.add_service(tcp_svc(80), config.clone());
            d.add_dest(tcp_svc(80), RS1, 80, 1);
            let client = Ipv4Addr::new(198, 51, net, 9);
            let v: Vec<Sent> = (40000..40016).map(|p| d.syn(client, p, V80, 1)).collect();
            verdicts.push(v);
        }
        // Every port alike on each worker: all forwarded by one, all
        // handed to it by the other.
        let own = |v: &[Sent]| v.iter().all(|s| *s == Sent::To(RS1));
        let other = |v: &[Sent], to: u16| v.iter().all(|s| *s == Sent::Not(Verdict::Handoff(to)));
        match (own(&verdicts[0]), own(&verdicts[1])) {
            (true, false) => assert!(other(&verdicts[1], 0), "{net}: {:?}", verdicts[1]),
            (false, true) => assert!(other(&verdicts[0], 1), "{net}: {:?}", verdicts[0]),
            _ => panic!("network {net}: {verdicts:?}"),
        }
        owners[usize::from(own(&verdicts[1]))] += 1;
    }
    assert!(
        owners[0] > 0 && owners[1] > 0,
        "both workers own some of 8 networks: {owners:?}"
    );
}

/// With two workers, a packet to a VIP's port that no service has is
/// dropped by the worker that got it, never handed to another (a flood of
/// such packets stays off the hand-off rings).
#[test]
fn a_packet_for_no_service_is_dropped_where_it_arrives() {
    for id in 0..2u16 {
        let mut d = Director::core_of(ConnPolicy::default(), 4096, id, 2);
        d.add_service(tcp_svc(80), sched("rr"));
        d.add_dest(tcp_svc(80), RS1, 80, 1);
        for sport in 40000..40016 {
            assert_eq!(
                d.syn(ip("198.51.100.9"), sport, (VIP, 81), 1),
                Sent::Not(Verdict::Drop(Counter::DropVipNoService)),
                "worker {id}, port {sport}"
            );
        }
        assert_eq!(d.counter(Counter::HandedOff), 0);
    }
}
