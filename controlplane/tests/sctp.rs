//! SCTP services in the control plane (issue 19 item 9, decision 41):
//! keepalived's `protocol SCTP`, TOML's `protocol = "sctp"`, and rvsadm's
//! listings (`-Ln`, `-Lnc`, `-S`) in ipvsadm's formats.

mod common;
use common::{parse_ok, sa};
use std::net::SocketAddr;

use rvs_api::{
    ConnStatus, DestConfig, DestStatus, Forward, Info, Protocol, ServiceConfig, ServiceKey,
    ServiceStatus,
};
use rvs_controlplane::config::{CheckKind, Dialect};
use rvs_controlplane::rvsadm::list::format_conns;
use rvs_controlplane::rvsadm::save::format_save;
use rvs_controlplane::rvsadm::{format_all, ListFormat, ServicesDb};

fn sctp(text: &str) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Sctp,
        addr: text.parse().unwrap(),
    }
}

/// keepalived loads `protocol SCTP` (any case); its checkers are what
/// the file says: keepalived has no SCTP checker, MISC_CHECK is the one
/// that can speak SCTP, and a TCP_CHECK stays a TCP connect to the real
/// server's port, as keepalived runs it.
#[test]
fn keepalived_sctp_services_load_with_their_checkers() {
    let text = "\
virtual_server 10.0.0.1 38412 {
    lb_algo wlc
    lb_kind NAT
    protocol sctp
    real_server 10.0.1.5 9000 {
        MISC_CHECK {
            misc_path \"/usr/local/bin/check_sctp 10.0.1.5 9000\"
        }
    }
    real_server 10.0.1.6 9000 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
virtual_server 2001:db8::1 38412 {
    lb_kind DR
    protocol SCTP
    real_server 2001:db8::5 38412 {
    }
}
";
    let (m, _) = parse_ok(text, Dialect::Keepalived);
    assert_eq!(m.services.len(), 2);
    let s = &m.services[0];
    assert_eq!(s.keys, [sctp("10.0.0.1:38412")]);
    assert_eq!(s.scheduler, "wlc");
    assert_eq!(
        (s.dests[0].addr, s.dests[0].forward),
        (sa("10.0.1.5:9000"), Forward::Masq)
    );
    let CheckKind::Misc(mc) = &s.dests[0].checks[0].kind else {
        panic!("{:?}", s.dests[0].checks[0].kind)
    };
    assert_eq!(mc.path, "/usr/local/bin/check_sctp 10.0.1.5 9000");
    assert_eq!(s.dests[1].checks[0].kind, CheckKind::Tcp);
    assert_eq!(m.services[1].keys, [sctp("[2001:db8::1]:38412")]);
    // The request that reaches the dataplane carries the protocol.
    assert_eq!(m.services[1].keys[0].label(), "sctp/[2001:db8::1]:38412");
}

#[test]
fn toml_sctp_services_load_and_read_back() {
    let text = "\
[[service]]
address = \"10.0.0.1:5000\"
protocol = \"sctp\"
scheduler = \"rr\"

[[service.dest]]
address = \"10.0.1.5:5000\"
forward = \"route\"
";
    let (m, w) = parse_ok(text, Dialect::Toml);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(m.services[0].keys, [sctp("10.0.0.1:5000")]);
    let back = parse_ok(&m.to_toml(), Dialect::Toml).0;
    assert_eq!(back, m);
}

fn status(key: ServiceKey, rs: &str) -> ServiceStatus {
    ServiceStatus {
        key,
        config: ServiceConfig::new("rr"),
        stats: Default::default(),
        rates: Default::default(),
        dests: vec![DestStatus {
            config: DestConfig {
                addr: rs.parse().unwrap(),
                forward: Forward::Masq,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
                tunnel: Default::default(),
            },
            active_conns: 1,
            inactive_conns: 0,
            persist_conns: 0,
            stats: Default::default(),
            rates: Default::default(),
        }],
    }
}

/// `SCTP` takes the whole four-character protocol field (one space after
/// it), and sorts after TCP and UDP (protocol 132).
#[test]
fn listings_show_sctp_as_ipvsadm_does() {
    let info = Info {
        version: "0.1.0".into(),
        ipvs_version: 0x010201,
        conn_table_size: 4096,
        workers: 1,
        generation: 1,
    };
    let services = [
        status(sctp("10.0.0.1:5000"), "10.0.1.5:9000"),
        status(
            ServiceKey::Inet {
                protocol: Protocol::Udp,
                addr: "10.0.0.1:53".parse().unwrap(),
            },
            "10.0.1.5:53",
        ),
    ];
    let format = ListFormat {
        numeric: true,
        ..ListFormat::default()
    };
    let got = format_all(&info, &services, &format, &ServicesDb::default());
    let rows: Vec<&str> = got.lines().skip(3).collect();
    assert_eq!(
        rows,
        [
            "UDP  10.0.0.1:53 rr",
            "  -> 10.0.1.5:53                  Masq    1      1          0         ",
            "SCTP 10.0.0.1:5000 rr",
            "  -> 10.0.1.5:9000                Masq    1      1          0         ",
        ]
    );
    let save = format_save(&services, &[], &[], true, &ServicesDb::default());
    assert!(
        save.contains("-A --sctp-service 10.0.0.1:5000 -s rr\n-a --sctp-service 10.0.0.1:5000 -r 10.0.1.5:9000 -m -w 1\n"),
        "{save}"
    );
    let conns = [ConnStatus {
        protocol: Some(Protocol::Sctp),
        client: "10.9.0.1:40000".parse::<SocketAddr>().unwrap(),
        virtual_addr: "10.0.0.1:5000".parse().unwrap(),
        dest: "10.0.1.5:9000".parse().unwrap(),
        state: "ESTABLISHED".into(),
        expires_s: 899,
    }];
    let got = format_conns(&conns, true, false, &ServicesDb::default());
    assert_eq!(
        got.lines().nth(2),
        Some("SCTP 14:59  ESTABLISHED 10.9.0.1:40000     10.0.0.1:5000      10.0.1.5:9000")
    );
}
