//! `--sloppy-tcp` and the global `sloppy_tcp` (decision 45): a TCP ACK
//! without an entry is scheduled by the service's scheduler, whatever it
//! is, and gets an ESTABLISHED entry; without the option only `mh` DR/TUN
//! services adopt (decision 39, `scheduling.rs`). Golden frames for the
//! adopted packets (`common::golden`), and what the admin side refuses.

mod common;

use std::net::Ipv4Addr;

use rvs_api::{
    DestConfig, ErrorKind, Forward, Protocol, Request, Response, ServiceConfig, ServiceKey,
};
use rvs_dataplane::pipeline::{ConnPolicy, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::ethernet::ethertype;
use rvs_dataplane::wire::tcp::flags;

use common::director::{dest, Director, Sent};
use common::golden::*;
use common::*;

fn sloppy(scheduler: &str) -> ServiceConfig {
    ServiceConfig {
        sloppy_tcp: true,
        ..ServiceConfig::new(scheduler)
    }
}

fn tcp80() -> ServiceKey {
    svc(Protocol::Tcp, 80)
}

/// A director with `config` on TCP VIP:80 and DR dests `rss`, in order.
fn director(policy: ConnPolicy, config: ServiceConfig, rss: &[Ipv4Addr]) -> Director {
    let mut d = Director::new(policy);
    d.add_service(tcp80(), config);
    for &rs in rss {
        d.add_dest(tcp80(), rs, 80, 1);
    }
    d
}

/// A client's segment to VIP:80 with `fl`, as it arrives.
fn from_client(cport: u16, fl: u8, payload: &[u8]) -> Vec<u8> {
    eth(
        LB_MAC,
        CLI_MAC,
        ethertype::IPV4,
        &tcp(CLI, VIP, cport, 80, fl, payload),
    )
}

#[test]
fn a_sloppy_rr_service_adopts_an_ack_as_an_established_entry() {
    let mut d = director(ConnPolicy::default(), sloppy("rr"), &[RS1]);
    let ack = from_client(CPORT, flags::ACK, b"GET / HTTP/1.0\r\n\r\n");
    let fin = from_client(CPORT, flags::FIN | flags::ACK, b"");
    run_table(
        &mut d,
        vec![
            Step::new(
                "a mid-connection ACK: scheduled by rr, DR to rs1",
                1,
                ack.clone(),
                Verdict::Forward(0),
                dr_rewrite(&ack, RS1_MAC),
            ),
            Step::new(
                "the next one by the entry",
                2,
                ack.clone(),
                Verdict::Forward(0),
                dr_rewrite(&ack, RS1_MAC),
            ),
        ],
        &[
            (Counter::ConnAdopted, 1),
            (Counter::ConnCreated, 1),
            (Counter::DropTcpNoConn, 0),
        ],
    );
    assert_eq!(d.conns_of(tcp80(), RS1), (1, 0, 0), "ESTABLISHED: active");
    // The client's FIN moves it on as on the director that made it.
    run_table(
        &mut d,
        vec![Step::new(
            "the FIN",
            3,
            fin.clone(),
            Verdict::Forward(0),
            dr_rewrite(&fin, RS1_MAC),
        )],
        &[(Counter::ConnAdopted, 1)],
    );
    assert_eq!(d.conns_of(tcp80(), RS1), (0, 1, 0), "FIN_WAIT: inactive");
    // A RST or a segment without ACK still makes no entry.
    for fl in [flags::RST | flags::ACK, flags::PSH] {
        run_table(
            &mut d,
            vec![Step::verdict(
                "no entry for it",
                4,
                from_client(CPORT + 1, fl, b""),
                Verdict::Drop(Counter::DropTcpNoConn),
            )],
            &[],
        );
    }
    assert_eq!(d.counter(Counter::ConnAdopted), 1);
}

#[test]
fn without_the_option_rr_and_sh_drop_a_mid_connection_ack() {
    for scheduler in ["rr", "sh"] {
        let mut d = director(
            ConnPolicy::default(),
            ServiceConfig::new(scheduler),
            &[RS1, RS2],
        );
        run_table(
            &mut d,
            vec![Step::verdict(
                "dropped as before decision 45",
                1,
                from_client(CPORT, flags::ACK, b""),
                Verdict::Drop(Counter::DropTcpNoConn),
            )],
            &[(Counter::ConnAdopted, 0), (Counter::ConnCreated, 0)],
        );
    }
}

#[test]
fn two_sloppy_sh_directors_send_a_moved_connection_to_the_same_server() {
    // sh hashes the client's address over a table built from the dests:
    // two directors with the same dests agree, as mh's do.
    let rss = [RS1, RS2, RS3];
    let mut a = director(ConnPolicy::default(), sloppy("sh"), &rss);
    let mut b = director(ConnPolicy::default(), sloppy("sh"), &rss);
    let mut seen = std::collections::HashSet::new();
    for n in 0..60u8 {
        let client = Ipv4Addr::new(198, 51, 100, n + 1);
        let sport = 3000 + u16::from(n);
        let Sent::To(rs) = a.syn(client, sport, (VIP, 80), 1) else {
            panic!("the SYN is forwarded");
        };
        seen.insert(rs);
        assert_eq!(b.tcp(client, sport, (VIP, 80), flags::ACK, 2), Sent::To(rs));
    }
    assert_eq!(seen.len(), 3, "the clients spread over the dests");
    assert_eq!(b.counter(Counter::ConnAdopted), 60);
    // And one of them as a golden frame: CLI's connection on b goes where
    // its SYN went on a.
    let Sent::To(rs) = a.syn(CLI, CPORT, (VIP, 80), 3) else {
        panic!("the SYN is forwarded");
    };
    let mac = REAL_SERVERS.iter().find(|(ip, _)| *ip == rs).unwrap().1;
    let ack = from_client(CPORT, flags::ACK, b"x");
    run_table(
        &mut b,
        vec![Step::new(
            "adopted where a sent the SYN",
            4,
            ack.clone(),
            Verdict::Forward(0),
            dr_rewrite(&ack, mac),
        )],
        &[(Counter::ConnAdopted, 61), (Counter::DropTcpNoConn, 0)],
    );
}

#[test]
fn the_global_sloppy_tcp_makes_every_service_adopt() {
    let policy = ConnPolicy {
        sloppy_tcp: true,
        ..ConnPolicy::default()
    };
    let mut d = director(policy, ServiceConfig::new("wlc"), &[RS1]);
    let ack = from_client(CPORT, flags::ACK, b"");
    run_table(
        &mut d,
        vec![Step::new(
            "wlc adopts it",
            1,
            ack.clone(),
            Verdict::Forward(0),
            dr_rewrite(&ack, RS1_MAC),
        )],
        &[(Counter::ConnAdopted, 1)],
    );
}

#[test]
fn a_sloppy_persistent_service_adopts_and_makes_its_template() {
    let config = ServiceConfig {
        persistent_timeout_s: Some(300),
        ..sloppy("rr")
    };
    let mut d = director(ConnPolicy::default(), config, &[RS1, RS2]);
    let Sent::To(rs) = d.tcp(CLI, CPORT, (VIP, 80), flags::ACK, 1) else {
        panic!("adopted");
    };
    // The client's next connection follows the template.
    assert_eq!(d.syn(CLI, CPORT + 1, (VIP, 80), 2), Sent::To(rs));
    assert_eq!(d.counter(Counter::TemplateCreated), 1);
    assert_eq!(d.conns_of(tcp80(), rs).2, 1, "one template");
}

#[test]
fn a_sloppy_nat_service_adopts_and_translates_the_reply() {
    let mut d = nat_director();
    d.ok(Request::EditService {
        key: tcp80(),
        config: sloppy("rr"),
    });
    let ack = from_client(CPORT, flags::ACK, b"more");
    run_table(
        &mut d,
        vec![
            Step::new(
                "VIP:80 -> rs1:8080",
                1,
                ack,
                Verdict::Forward(0),
                eth(
                    RS1_MAC,
                    LB_MAC,
                    ethertype::IPV4,
                    &tcp(CLI, RS1, CPORT, 8080, flags::ACK, b"more"),
                ),
            ),
            Step::new(
                "the reply comes back from VIP:80",
                2,
                eth(
                    LB_MAC,
                    RS1_MAC,
                    ethertype::IPV4,
                    &tcp(RS1, CLI, 8080, CPORT, flags::ACK, b""),
                ),
                Verdict::Forward(0),
                eth(
                    CLI_MAC,
                    LB_MAC,
                    ethertype::IPV4,
                    &tcp(VIP, CLI, 80, CPORT, flags::ACK, b""),
                ),
            ),
        ],
        &[(Counter::ConnAdopted, 1), (Counter::ForwardNatReply, 1)],
    );
}

fn fullnat_dest() -> DestConfig {
    DestConfig {
        forward: Forward::FullNat,
        ..dest(RS1, 8080, 1)
    }
}

fn refused(r: Response, kind: ErrorKind) {
    match r {
        Response::Error(e) => {
            assert_eq!(e.kind, kind, "{}", e.message);
            assert!(e.message.contains("sloppy"), "{}", e.message);
        }
        other => panic!("accepted: {other:?}"),
    }
}

#[test]
fn fullnat_is_refused_in_a_sloppy_service_and_never_adopted() {
    // A FullNAT dest in a sloppy service, either way round.
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(tcp80(), sloppy("rr"));
    let r = d.admin(Request::AddDest {
        service: tcp80(),
        dest: fullnat_dest(),
    });
    refused(r, ErrorKind::NotSupported);
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(tcp80(), ServiceConfig::new("rr"));
    d.add_dest_with(tcp80(), fullnat_dest());
    let r = d.admin(Request::EditService {
        key: tcp80(),
        config: sloppy("rr"),
    });
    refused(r, ErrorKind::NotSupported);

    // The global option leaves FullNAT connections alone.
    let policy = ConnPolicy {
        sloppy_tcp: true,
        ..ConnPolicy::default()
    };
    let mut d = Director::new(policy);
    d.add_service(tcp80(), ServiceConfig::new("rr"));
    d.add_dest_with(tcp80(), fullnat_dest());
    d.ok(Request::AddLaddr {
        service: tcp80(),
        addr: Ipv4Addr::new(198, 18, 0, 201).into(),
    });
    run_table(
        &mut d,
        vec![Step::verdict(
            "not adopted",
            1,
            from_client(CPORT, flags::ACK, b""),
            Verdict::Drop(Counter::DropTcpNoConn),
        )],
        &[(Counter::ConnAdopted, 0), (Counter::ConnCreated, 0)],
    );
}

#[test]
fn sloppy_tcp_is_refused_on_a_udp_service() {
    let mut d = Director::new(ConnPolicy::default());
    let r = d.admin(Request::AddService {
        key: svc(Protocol::Udp, 53),
        config: sloppy("rr"),
    });
    refused(r, ErrorKind::Invalid);
    // A fwmark service may carry TCP: accepted.
    let r = d.admin(Request::AddService {
        key: ServiceKey::Fwmark {
            mark: 7,
            ipv6: false,
        },
        config: sloppy("rr"),
    });
    assert!(!matches!(r, Response::Error(_)), "{r:?}");
}
