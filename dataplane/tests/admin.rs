//! The admin state: every invalid request is an error and changes nothing.

use std::net::Ipv4Addr;
use std::sync::Arc;

use rvs_api::{
    DestConfig, ErrorKind, Forward, Protocol, Request, Response, ServiceConfig, ServiceKey,
};
use rvs_dataplane::admin::{AdminSetup, AdminState};
use rvs_dataplane::service::PortInfo;
use rvs_dataplane::stats::CoreStats;
use rvs_dataplane::wire::ethernet::MacAddr;

fn state() -> (AdminState, Vec<Arc<CoreStats>>) {
    let ports = vec![PortInfo {
        mac: MacAddr([2, 0, 0, 0, 0, 2]),
        addr: Ipv4Addr::new(198, 18, 0, 2),
        prefix_len: 24,
        addr6: None,
        prefix6_len: 0,
        mtu: 1500,
    }];
    (
        AdminState::new(AdminSetup::new(ports, 8)),
        vec![Arc::new(CoreStats::new(8))],
    )
}

fn svc(port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: (Ipv4Addr::new(198, 18, 0, 100), port).into(),
    }
}

fn cfg(s: &str) -> ServiceConfig {
    ServiceConfig::new(s)
}

fn dest(last: u8, port: u16, forward: Forward) -> DestConfig {
    DestConfig {
        addr: (Ipv4Addr::new(198, 18, 0, last), port).into(),
        forward,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: Default::default(),
    }
}

/// `dest(12, 80, forward)` at `addr` instead (one this service refuses).
fn dest_at(addr: &str, forward: Forward) -> DestConfig {
    DestConfig {
        addr: addr.parse().unwrap(),
        ..dest(12, 80, forward)
    }
}

/// `ipvsadm -A -t VIP:80 -s rr`.
fn add_rr_service(a: &mut AdminState, c: &[Arc<CoreStats>]) -> Response {
    let add = Request::AddService {
        key: svc(80),
        config: cfg("rr"),
    };
    a.handle(add, c, 1).0
}

fn list(a: &mut AdminState, c: &[Arc<CoreStats>]) -> Response {
    a.handle(Request::List { service: None }, c, 1).0
}

#[test]
fn invalid_requests_are_errors_and_change_nothing() {
    let (mut a, c) = state();
    assert_eq!(add_rr_service(&mut a, &c), Response::Ok);
    assert_eq!(
        a.handle(
            Request::AddDest {
                service: svc(80),
                dest: dest(11, 80, Forward::Route)
            },
            &c,
            1
        )
        .0,
        Response::Ok
    );
    let before = list(&mut a, &c);
    let generation = a.generation();
    let with = |f: &dyn Fn(&mut ServiceConfig)| {
        let mut c = cfg("rr");
        f(&mut c);
        c
    };
    let sip = with(&|c| {
        c.persistent_timeout_s = Some(360);
        c.persistence_engine = Some("sip".into());
    });
    let fwmark = |mark| ServiceKey::Fwmark { mark, ipv6: false };
    let rule = |mark: u32, dst: &str| rvs_api::MarkRule {
        mark,
        protocol: Some(Protocol::Tcp),
        dst: dst.parse().unwrap(),
        dst_ports: vec![],
        src: None,
    };
    let udp = ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: (Ipv4Addr::new(198, 18, 0, 100), 53).into(),
    };
    let mut mh_sh_flag = cfg("mh");
    mh_sh_flag.sched_flags = vec!["sh-port".into()];
    let cases: Vec<(Request, ErrorKind)> = vec![
        (
            Request::AddService {
                key: svc(80),
                config: cfg("rr"),
            },
            ErrorKind::Exists,
        ),
        (
            Request::AddService {
                key: svc(81),
                config: cfg("nosuch"),
            },
            ErrorKind::NotFound,
        ),
        (
            Request::AddService {
                key: svc(0),
                config: cfg("rr"),
            },
            ErrorKind::Invalid,
        ),
        (
            Request::AddService {
                key: svc(81),
                config: sip,
            },
            ErrorKind::NotSupported,
        ),
        (
            Request::AddService {
                key: svc(81),
                config: with(&|c| c.persistent_timeout_s = Some(0)),
            },
            ErrorKind::Invalid,
        ),
        (
            Request::AddService {
                key: svc(81),
                config: with(&|c| c.persistent_timeout_s = Some(2_678_401)),
            },
            ErrorKind::Invalid,
        ),
        (
            Request::AddService {
                key: svc(81),
                config: with(&|c| c.netmask = Some(0xffff_ff00)),
            },
            ErrorKind::Invalid,
        ),
        (
            Request::AddService {
                key: svc(81),
                config: with(&|c| c.sched_flags = vec!["sh-port".into()]),
            },
            ErrorKind::Invalid,
        ),
        (
            Request::AddService {
                key: svc(81),
                config: mh_sh_flag,
            },
            ErrorKind::Invalid,
        ),
        (
            Request::AddService {
                key: svc(81),
                config: with(&|c| c.one_packet = true),
            },
            ErrorKind::Invalid,
        ),
        (
            Request::AddService {
                key: udp,
                config: with(&|c| c.sched_flags = vec!["bogus".into()]),
            },
            ErrorKind::Invalid,
        ),
        (
            Request::AddService {
                key: fwmark(0),
                config: cfg("rr"),
            },
            ErrorKind::Invalid,
        ),
        (
            Request::AddService {
                key: ServiceKey::Fwmark {
                    mark: 5,
                    ipv6: true,
                },
                config: cfg("rr"),
            },
            ErrorKind::NotSupported,
        ),
        (
            Request::AddMarkRule(rule(0, "198.18.0.100")),
            ErrorKind::Invalid,
        ),
        (
            Request::AddMarkRule(rule(5, "2001:db8::1")),
            ErrorKind::NotSupported,
        ),
        (
            Request::DelMarkRule(rule(5, "198.18.0.100")),
            ErrorKind::NotFound,
        ),
        (Request::DelMarkRules { mark: 5 }, ErrorKind::NotFound),
        (
            Request::AddDest {
                service: svc(80),
                dest: DestConfig {
                    u_threshold: 2,
                    l_threshold: 3,
                    tunnel: Default::default(),
                    ..dest(12, 80, Forward::Route)
                },
            },
            ErrorKind::Invalid,
        ),
        (
            // A real server of the other family (a tunnel between
            // families) is refused.
            Request::AddDest {
                service: svc(80),
                dest: dest_at("[2001:db8::5]:80", Forward::Tunnel),
            },
            ErrorKind::NotSupported,
        ),
        (
            Request::EditService {
                key: svc(81),
                config: cfg("rr"),
            },
            ErrorKind::NoService,
        ),
        (
            Request::EditService {
                key: svc(80),
                config: cfg("wlcx"),
            },
            ErrorKind::NotFound,
        ),
        (Request::DelService { key: svc(81) }, ErrorKind::NoService),
        (
            Request::AddDest {
                service: svc(81),
                dest: dest(12, 81, Forward::Route),
            },
            ErrorKind::NoService,
        ),
        (
            Request::AddDest {
                service: svc(80),
                dest: dest(11, 80, Forward::Route),
            },
            ErrorKind::Exists,
        ),
        (
            Request::AddDest {
                service: svc(80),
                dest: DestConfig {
                    tunnel: rvs_api::Tunnel {
                        kind: rvs_api::TunnelKind::Gre,
                        port: 0,
                        csum: rvs_api::TunnelCsum::NoCsum,
                    },
                    ..dest(12, 80, Forward::Tunnel)
                },
            },
            ErrorKind::NotSupported,
        ),
        (
            Request::AddDest {
                service: svc(80),
                dest: dest(12, 8080, Forward::Route),
            },
            ErrorKind::Invalid,
        ),
        (
            Request::AddDest {
                service: svc(80),
                dest: dest_at("203.0.113.5:80", Forward::Route),
            },
            ErrorKind::Invalid,
        ),
        (
            Request::EditDest {
                service: svc(80),
                dest: dest(13, 80, Forward::Route),
            },
            ErrorKind::NotFound,
        ),
        (
            Request::DelDest {
                service: svc(80),
                addr: "198.18.0.13:80".parse().unwrap(),
            },
            ErrorKind::NotFound,
        ),
        (
            Request::Zero {
                service: Some(svc(81)),
            },
            ErrorKind::NoService,
        ),
    ];
    for (req, kind) in cases {
        let desc = format!("{req:?}");
        let (resp, changed) = a.handle(req, &c, 1);
        match resp {
            Response::Error(e) => assert_eq!(e.kind, kind, "{desc}: {}", e.message),
            other => panic!("{desc}: expected an error, got {other:?}"),
        }
        assert!(!changed, "{desc}");
        assert_eq!(list(&mut a, &c), before, "{desc} changed the state");
        assert_eq!(a.generation(), generation, "{desc}");
    }
}

#[test]
fn unnamed_scheduler_flags_are_kept_and_listed() {
    // ipvsadm -A -t VIP:80 -s rr -b flag-1,flag-3: IPVS stores the bits.
    let (mut a, c) = state();
    let mut config = cfg("rr");
    config.sched_flags = vec!["flag-1".into(), "flag-3".into()];
    let add = Request::AddService {
        key: svc(80),
        config: config.clone(),
    };
    assert_eq!(a.handle(add, &c, 1).0, Response::Ok);
    let Response::Services(s) = list(&mut a, &c) else {
        panic!()
    };
    assert_eq!(s[0].config, config);
}

#[test]
fn edits_replace_and_dests_are_newest_first() {
    let (mut a, c) = state();
    add_rr_service(&mut a, &c);
    for last in [11, 12] {
        a.handle(
            Request::AddDest {
                service: svc(80),
                dest: dest(last, 80, Forward::Route),
            },
            &c,
            1,
        );
    }
    let mut heavier = dest(11, 80, Forward::Route);
    heavier.weight = 5;
    assert_eq!(
        a.handle(
            Request::EditDest {
                service: svc(80),
                dest: heavier
            },
            &c,
            1
        )
        .0,
        Response::Ok
    );
    let Response::Services(s) = list(&mut a, &c) else {
        panic!()
    };
    let got: Vec<(String, u32)> = s[0]
        .dests
        .iter()
        .map(|d| (d.config.addr.to_string(), d.config.weight))
        .collect();
    assert_eq!(
        got,
        [
            ("198.18.0.12:80".to_string(), 1),
            ("198.18.0.11:80".to_string(), 5)
        ]
    );
    assert_eq!(a.handle(Request::Clear, &c, 1).0, Response::Ok);
    assert_eq!(list(&mut a, &c), Response::Services(vec![]));
}

#[test]
fn deleted_slots_wait_for_every_worker_to_move_on() {
    let (mut a, c) = state();
    // 8 slots: 1 service + 7 dests fill them; the 8th dest is refused cleanly.
    add_rr_service(&mut a, &c);
    for last in 11..18 {
        let r = a.handle(
            Request::AddDest {
                service: svc(80),
                dest: dest(last, 80, Forward::Route),
            },
            &c,
            1,
        );
        assert_eq!(r.0, Response::Ok);
    }
    let add = |a: &mut AdminState| {
        a.handle(
            Request::AddDest {
                service: svc(80),
                dest: dest(30, 80, Forward::Route),
            },
            &c,
            1,
        )
        .0
    };
    assert!(matches!(add(&mut a), Response::Error(e) if e.kind == ErrorKind::NoMemory));
    let del = Request::DelDest {
        service: svc(80),
        addr: "198.18.0.11:80".parse().unwrap(),
    };
    assert_eq!(a.handle(del, &c, 1).0, Response::Ok);
    let deleted_in = a.generation();
    // A worker still forwards with the generation before the delete.
    a.collect_trash(&c, deleted_in - 1);
    assert!(matches!(add(&mut a), Response::Error(e) if e.kind == ErrorKind::NoMemory));
    // Every worker has moved on, and no connection counts the slot.
    a.collect_trash(&c, deleted_in);
    assert_eq!(add(&mut a), Response::Ok);
}

/// A batch is one generation, all or nothing.
#[test]
fn a_batch_applies_whole_or_not_at_all() {
    let (mut a, c) = state();
    let g = a.generation();
    let good = Request::Batch(vec![
        Request::AddService {
            key: svc(80),
            config: cfg("rr"),
        },
        Request::AddDest {
            service: svc(80),
            dest: dest(11, 80, Forward::Route),
        },
        Request::AddDest {
            service: svc(80),
            dest: dest(12, 80, Forward::Route),
        },
    ]);
    assert_eq!(a.handle(good, &c, 1), (Response::Ok, true));
    assert_eq!(a.generation(), g + 1, "one generation for the batch");
    let before = list(&mut a, &c);
    let bad = Request::Batch(vec![
        Request::DelDest {
            service: svc(80),
            addr: dest(11, 80, Forward::Route).addr,
        },
        // Already there: refused, and the deletion above with it.
        Request::AddDest {
            service: svc(80),
            dest: dest(12, 80, Forward::Route),
        },
    ]);
    let (resp, changed) = a.handle(bad, &c, 2);
    assert!(!changed);
    match resp {
        Response::Error(e) => {
            assert_eq!(e.kind, ErrorKind::Exists);
            assert!(
                e.message.starts_with("request 2 of the batch"),
                "{}",
                e.message
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(list(&mut a, &c), before);
    assert_eq!(a.generation(), g + 1);
}

fn net(addresses: &[(&str, u8)], routes: &[(&str, Option<&str>)]) -> Request {
    Request::SetNetwork(rvs_api::Network {
        addresses: addresses
            .iter()
            .map(|(a, len)| rvs_api::NetAddress {
                port: "port0".into(),
                addr: a.parse().unwrap(),
                prefix_len: *len,
            })
            .collect(),
        routes: routes
            .iter()
            .map(|(dst, via)| rvs_api::NetRoute {
                dst: dst.parse().unwrap(),
                via: via.map(|v| v.parse().unwrap()),
                port: None,
            })
            .collect(),
    })
}

fn remote(a: u8, port: u16, forward: Forward) -> DestConfig {
    DestConfig {
        addr: (Ipv4Addr::new(198, 19, 5, a), port).into(),
        ..dest(0, port, forward)
    }
}

fn refused(r: Response, words: &str) {
    match r {
        Response::Error(e) => assert!(e.message.contains(words), "{}", e.message),
        other => panic!("{other:?} instead of an error about {words:?}"),
    }
}

/// The next hop the newest snapshot gives the dest in stats slot order.
fn next_hops(a: &mut AdminState) -> Vec<String> {
    let snap = a.snapshot();
    (0..8)
        .filter_map(|slot| snap.dest(slot))
        .map(|d| format!("{} via {}", d.addr, d.next_hop))
        .collect()
}

/// Routes and extra addresses decide how real servers are reached: NAT and
/// tunnel real servers may sit behind a gateway, direct routing needs a
/// connected one, and a change that would strand a real server is refused.
#[test]
fn routes_and_addresses_lead_to_real_servers() {
    let (mut a, c) = state();
    assert_eq!(add_rr_service(&mut a, &c), Response::Ok);
    let add = |a: &mut AdminState, d: DestConfig| {
        a.handle(
            Request::AddDest {
                service: svc(80),
                dest: d,
            },
            &c,
            1,
        )
        .0
    };
    refused(
        add(&mut a, remote(1, 8080, Forward::Masq)),
        "no route leads there",
    );

    // A gateway on no connected network, and a port that does not exist.
    refused(
        a.handle(net(&[], &[("198.19.0.0/16", Some("10.1.1.1"))]), &c, 1)
            .0,
        "no directly connected network",
    );
    let mut bad_port = net(&[("198.20.0.2", 24)], &[]);
    if let Request::SetNetwork(n) = &mut bad_port {
        n.addresses[0].port = "wan9".into();
    }
    refused(
        a.handle(bad_port, &c, 1).0,
        "no dataplane port is called \"wan9\"",
    );
    assert_eq!(
        a.handle(Request::GetNetwork, &c, 1).0,
        Response::Network(Default::default())
    );

    let g = a.generation();
    assert_eq!(
        a.handle(net(&[], &[("198.19.0.0/16", Some("198.18.0.1"))]), &c, 1)
            .0,
        Response::Ok
    );
    assert_eq!(a.generation(), g + 1);
    // The same again changes nothing.
    assert_eq!(
        a.handle(net(&[], &[("198.19.0.0/16", Some("198.18.0.1"))]), &c, 1)
            .0,
        Response::Ok
    );
    assert_eq!(a.generation(), g + 1);

    assert_eq!(add(&mut a, remote(1, 8080, Forward::Masq)), Response::Ok);
    refused(
        add(&mut a, remote(2, 80, Forward::Route)),
        "direct routing needs a directly connected",
    );
    assert_eq!(next_hops(&mut a), ["198.19.5.1 via 198.18.0.1"]);

    // A longer prefix through another gateway moves the real server.
    let two = net(
        &[],
        &[
            ("198.19.0.0/16", Some("198.18.0.1")),
            ("198.19.5.0/24", Some("198.18.0.3")),
        ],
    );
    assert_eq!(a.handle(two, &c, 1).0, Response::Ok);
    assert_eq!(next_hops(&mut a), ["198.19.5.1 via 198.18.0.3"]);

    // Taking the routes away would strand it: refused, nothing changed.
    refused(
        a.handle(net(&[], &[]), &c, 1).0,
        "198.19.5.1:8080 of a service would lose its way",
    );
    let Response::Network(now) = a.handle(Request::GetNetwork, &c, 1).0 else {
        panic!()
    };
    assert_eq!(now.routes.len(), 2);

    // An extra address makes its network directly connected: direct
    // routing works there, and the address is the director's own.
    assert_eq!(
        a.handle(
            net(
                &[("198.19.5.254", 24)],
                &[("198.19.0.0/16", Some("198.18.0.1"))]
            ),
            &c,
            1
        )
        .0,
        Response::Ok
    );
    assert_eq!(add(&mut a, remote(2, 80, Forward::Route)), Response::Ok);
    let mut hops = next_hops(&mut a);
    hops.sort();
    assert_eq!(
        hops,
        ["198.19.5.1 via 198.19.5.1", "198.19.5.2 via 198.19.5.2"]
    );
    refused(
        a.handle(
            Request::AddLaddr {
                service: svc(80),
                addr: "198.19.5.254".parse().unwrap(),
            },
            &c,
            1,
        )
        .0,
        "the director's own address",
    );
    // The port's own address cannot be added again.
    refused(
        a.handle(net(&[("198.18.0.2", 24)], &[]), &c, 1).0,
        "given twice",
    );
}
