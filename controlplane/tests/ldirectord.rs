//! ldirectord.cf loads as ldirectord loads it: the timeouts' fallbacks,
//! host and service names resolved at load, `real=A->B` ranges,
//! `httpmethod=HEAD`, and the negotiate checks of each `service=`. Built
//! from ldirectord's documentation (its man page), not from its code.
//!
//! Names need no network: `localhost` (from /etc/hosts) and service names
//! of /etc/services (netbase).

mod common;
use common::{messages, sa, tcp, udp};
use std::path::Path;
use std::time::Duration;

use rvs_controlplane::config::model::{NegotiateCheck, NegotiateService};
use rvs_controlplane::config::{self, Check, CheckKind, Dialect, Model, Service, Warning};

const FILE: &str = "/nonexistent/ldirectord.cf";

fn parse(text: &str) -> Result<(Model, Vec<Warning>), String> {
    config::parse(text, Path::new(FILE), Dialect::Ldirectord).map_err(|e| e.to_string())
}

fn parse_ok(text: &str) -> (Model, Vec<Warning>) {
    parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> String {
    match parse(text) {
        Err(e) => e,
        Ok((m, _)) => panic!("loaded: {m:?}"),
    }
}

fn check(s: &Service) -> &Check {
    &s.dests[0].checks[0]
}

fn negotiate(s: &Service) -> &NegotiateCheck {
    match &check(s).kind {
        CheckKind::Negotiate(n) => n,
        other => panic!("not a negotiate check: {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Item 1: negotiatetimeout falls back to checktimeout (and back).

#[test]
fn negotiate_checks_take_checktimeout_when_negotiatetimeout_is_not_set() {
    // ldirectord's sample: checktimeout=3, an HTTP negotiate check.
    let (m, _) = parse_ok(
        "checktimeout=3\n\
         virtual=192.168.6.240:80\n\
         \treal=192.168.6.2:80 gate\n\
         \tservice=http\n\
         \trequest=\"index.html\"\n\
         \treceive=\"Test Page\"\n",
    );
    assert!(matches!(check(&m.services[0]).kind, CheckKind::Http(_)));
    assert_eq!(
        check(&m.services[0]).connect_timeout,
        Duration::from_secs(3)
    );
}

#[test]
fn timeouts_fall_back_virtual_first_then_global() {
    let text = "negotiatetimeout=20\n\
                virtual=10.0.0.1:80\n\
                \treal=10.0.0.2 gate\n\
                \tchecktimeout=7\n\
                virtual=10.0.0.1:81\n\
                \treal=10.0.0.2 gate\n\
                \tchecktype=connect\n\
                virtual=10.0.0.1:82\n\
                \treal=10.0.0.2 gate\n\
                virtual=10.0.0.1:83\n\
                \treal=10.0.0.2 gate\n\
                \tchecktype=connect\n\
                \tnegotiatetimeout=9\n\
                virtual=10.0.0.1:84\n\
                \treal=10.0.0.2 gate\n\
                \tservice=http\n\
                \tnegotiatetimeout=11\n\
                \tchecktimeout=2\n\
                virtual=10.0.0.1:85\n\
                \treal=10.0.0.2 gate\n\
                \tnegotiatetimeout=11\n\
                \tchecktimeout=2\n";
    let (m, _) = parse_ok(text);
    let t = |i: usize| check(&m.services[i]).connect_timeout;
    // The virtual's checktimeout comes before the global negotiatetimeout.
    assert_eq!(t(0), Duration::from_secs(7));
    // A connect check without any checktimeout takes the negotiatetimeout.
    assert_eq!(t(1), Duration::from_secs(20));
    // Nothing per virtual: the global negotiatetimeout.
    assert_eq!(t(2), Duration::from_secs(20));
    // The virtual's negotiatetimeout before the global one, for a connect check.
    assert_eq!(t(3), Duration::from_secs(9));
    // Both set: each check its own (port 85 has no service: a connect check).
    assert_eq!(t(4), Duration::from_secs(11));
    assert_eq!(t(5), Duration::from_secs(2));

    let (m, _) = parse_ok("virtual=10.0.0.1:80\n\treal=10.0.0.2 gate\n");
    assert_eq!(
        check(&m.services[0]).connect_timeout,
        Duration::from_secs(30),
        "negotiate default"
    );
    let (m, _) = parse_ok("virtual=10.0.0.1:80\n\treal=10.0.0.2 gate\n\tchecktype=connect\n");
    assert_eq!(
        check(&m.services[0]).connect_timeout,
        Duration::from_secs(5),
        "connect default"
    );
}

// ---------------------------------------------------------------------------
// Item 8: names resolved at load.

#[test]
fn host_and_service_names_resolve_at_load() {
    let (m, w) = parse_ok(
        "virtual=localhost:http\n\
         \treal=localhost:ftp masq\n\
         \treal=127.0.0.2:https gate\n\
         \tfallback=localhost:https masq\n\
         \tchecktype=connect\n\
         virtual=localhost:domain\n\
         \treal=127.0.0.3 gate\n\
         \tchecktype=connect\n",
    );
    assert_eq!(messages(&w), Vec::<String>::new());
    let web = &m.services[0];
    assert_eq!(web.keys, [tcp("127.0.0.1:80")]);
    assert_eq!(web.dests[0].addr, sa("127.0.0.1:21"), "masq maps the port");
    assert_eq!(
        web.dests[1].addr,
        sa("127.0.0.2:80"),
        "gate takes the VIP's"
    );
    assert_eq!(web.sorry_server.as_ref().unwrap().addr, sa("127.0.0.1:443"));
    // `domain` is port 53: UDP by default, as for 53.
    assert_eq!(m.services[1].keys, [udp("127.0.0.1:53")]);
}

#[test]
fn names_that_do_not_resolve_are_errors_at_their_line() {
    assert_eq!(
        error("virtual=no-such-host.invalid:80\n\treal=10.0.0.2 gate\n"),
        format!("{FILE}:1:9: invalid address for virtual service: could not resolve host 'no-such-host.invalid' to an IPv4 address")
    );
    assert_eq!(
        error("virtual=10.0.0.1:no-such-service\n\treal=10.0.0.2 gate\n"),
        format!("{FILE}:1:9: invalid address for virtual service: could not resolve service 'no-such-service'/tcp (/etc/services)")
    );
    assert_eq!(
        error("virtual=10.0.0.1:80\n\treal=no-such-host.invalid:80 masq\n"),
        format!("{FILE}:2:7: invalid address for real server: could not resolve host 'no-such-host.invalid' to an IPv4 address")
    );
    assert_eq!(
        error("virtual=10.0.0.1:80\n    real = 10.0.0.2:bogus-port masq\n"),
        format!("{FILE}:2:12: invalid port for real server: could not resolve service 'bogus-port' (/etc/services)")
    );
    assert_eq!(
        error("fallback=no-such-host.invalid\nvirtual=10.0.0.1:80\n\treal=10.0.0.2 gate\n"),
        format!("{FILE}:1:10: invalid fallback server: could not resolve host 'no-such-host.invalid' to an IPv4 address")
    );
    assert_eq!(
        error("virtual=[2001:db8::1]:80\n\treal=10.0.0.2 gate\n"),
        format!("{FILE}:1:9: '[2001:db8::1]:80': cannot specify an IPv6 address here - use virtual6/real6/fallback6")
    );
}

#[test]
fn real_ranges_give_every_address() {
    let (m, _) = parse_ok(
        "virtual=10.0.0.1:80\n\
         \treal=10.0.0.254->10.0.1.1:8080 masq 2\n\
         \tchecktype=on\n",
    );
    let dests: Vec<_> = m.services[0].dests.iter().map(|d| d.addr).collect();
    assert_eq!(
        dests,
        [
            sa("10.0.0.254:8080"),
            sa("10.0.0.255:8080"),
            sa("10.0.1.0:8080"),
            sa("10.0.1.1:8080")
        ]
    );
    assert!(m.services[0].dests.iter().all(|d| d.weight == 2));
    let (m, _) =
        parse_ok("virtual=10.0.0.1:80\n\treal=localhost->127.0.0.2 gate\n\tchecktype=on\n");
    assert_eq!(m.services[0].dests.len(), 2, "host names as ends");
    assert!(
        error("virtual=10.0.0.1:80\n\treal=10.0.0.9->10.0.0.3 gate\n")
            .contains("the first address must not be above the last")
    );
    assert!(
        error("virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2]->[2001:db8::3] gate\n")
            .contains("range of IPv6 real servers is not supported")
    );
}

// ---------------------------------------------------------------------------
// Item 8: httpmethod=HEAD and the negotiate checks by service.

#[test]
fn httpmethod_head_is_a_head_check() {
    let (m, w) = parse_ok(
        "virtual=10.0.0.1:80\n\
         \treal=10.0.0.2 gate\n\
         \tservice=http\n\
         \thttpmethod=head\n\
         \trequest=\"health\"\n\
         \tvirtualhost=www.example.com\n\
         virtual=10.0.0.1:443\n\
         \treal=10.0.0.2 gate\n\
         \tservice=https\n\
         \thttpmethod=HEAD\n",
    );
    assert_eq!(messages(&w), Vec::<String>::new());
    let n = negotiate(&m.services[0]);
    assert_eq!(n.service, NegotiateService::HttpHead);
    assert_eq!(n.request, "/health");
    assert_eq!(n.virtualhost.as_deref(), Some("www.example.com"));
    assert_eq!(
        negotiate(&m.services[1]).service,
        NegotiateService::HttpsHead
    );
    let (m, _) = parse_ok("virtual=10.0.0.1:80\n\treal=10.0.0.2 gate\n\thttpmethod=GET\n");
    assert!(matches!(check(&m.services[0]).kind, CheckKind::Http(_)));
    assert!(
        error("virtual=10.0.0.1:80\n\treal=10.0.0.2 gate\n\thttpmethod=POST\n")
            .ends_with("httpmethod: 'POST' is not GET or HEAD")
    );
}

#[test]
fn negotiate_checks_by_service() {
    for (service, port, want) in [
        ("ftp", 21, NegotiateService::Ftp),
        ("pop", 110, NegotiateService::Pop),
        ("pops", 995, NegotiateService::Pops),
        ("imap", 143, NegotiateService::Imap),
        ("imaps", 993, NegotiateService::Imaps),
        ("nntp", 119, NegotiateService::Nntp),
        ("sip", 5060, NegotiateService::Sip),
    ] {
        // Named, and implied by the virtual's port.
        for text in [
            format!("virtual=10.0.0.1:{port}\n\treal=10.0.0.2 gate\n\tservice={service}\n"),
            format!("virtual=10.0.0.1:{port}\n\treal=10.0.0.2 gate\n"),
        ] {
            let (m, w) = parse_ok(&text);
            assert_eq!(messages(&w), Vec::<String>::new(), "{text}");
            let n = negotiate(&m.services[0]);
            assert_eq!(n.service, want, "{text}");
            assert!(!n.udp, "{text}");
            assert_eq!(
                check(&m.services[0]).connect_timeout,
                Duration::from_secs(30)
            );
        }
    }
    let (m, _) = parse_ok(
        "virtual=10.0.0.1:21\n\
         \treal=10.0.0.2 gate \"welcome.msg\", \"Welcome\"\n\
         \treal=10.0.0.3 gate\n\
         \tlogin=\"ftpuser\"\n\
         \tpasswd=\"secret\"\n\
         \trequest=\"index.html\"\n\
         \treceive=\"Hello\"\n",
    );
    let d = &m.services[0].dests;
    let (a, b) = match (&d[0].checks[0].kind, &d[1].checks[0].kind) {
        (CheckKind::Negotiate(a), CheckKind::Negotiate(b)) => (a, b),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (a.request.as_str(), a.receive.as_str()),
        ("/welcome.msg", "Welcome")
    );
    assert_eq!(
        (b.request.as_str(), b.receive.as_str()),
        ("/index.html", "Hello")
    );
    assert_eq!(
        (b.login.as_deref(), b.passwd.as_deref()),
        (Some("ftpuser"), Some("secret"))
    );
    // SIP over UDP when the virtual is UDP.
    let (m, _) = parse_ok(
        "virtual=10.0.0.1:5060\n\treal=10.0.0.2 gate\n\tprotocol=udp\n\tlogin=\"probe@example.org\"\n",
    );
    let n = negotiate(&m.services[0]);
    assert!(n.udp);
    assert_eq!(n.login.as_deref(), Some("probe@example.org"));
}

#[test]
fn dns_checks_compare_receive_over_the_virtuals_protocol() {
    let (m, w) = parse_ok(
        "virtual=10.0.0.1:53\n\
         \treal=10.0.0.2 gate\n\
         \trequest=\"www.example.com\"\n\
         \treceive=\"192.0.2.10\"\n\
         virtual=10.0.0.1:53\n\
         \treal=10.0.0.2 gate\n\
         \tprotocol=tcp\n\
         \tservice=dns\n",
    );
    let udp_check = negotiate(&m.services[0]);
    assert_eq!(udp_check.service, NegotiateService::Dns);
    assert!(udp_check.udp);
    assert_eq!(
        (udp_check.request.as_str(), udp_check.receive.as_str()),
        ("/www.example.com", "192.0.2.10")
    );
    assert!(!negotiate(&m.services[1]).udp, "protocol=tcp");
    assert_eq!(
        messages(&w),
        [format!("{FILE}:8:10: a DNS check without receive never succeeds (ldirectord compares the answers with receive)")]
    );
}

#[test]
fn database_and_directory_services_warn_and_use_connect() {
    for (service, why) in [
        ("mysql", "needs a database client"),
        ("pgsql", "needs a database client"),
        ("oracle", "needs a database client"),
        ("ldap", "needs a directory client"),
        ("ldaps", "needs a directory client"),
        ("radius", "needs a RADIUS client"),
    ] {
        let (m, w) = parse_ok(&format!(
            "virtual=10.0.0.1:1000\n\treal=10.0.0.2 gate\n\tservice={service}\n"
        ));
        assert_eq!(check(&m.services[0]).kind, CheckKind::Tcp, "{service}");
        assert_eq!(
            messages(&w),
            [format!("{FILE}:3:10: checktype=negotiate for service={service} {why} - rvs uses a connect check")]
        );
    }
    let (m, _) = parse_ok("virtual=10.0.0.1:587\n\treal=10.0.0.2 gate\n");
    assert!(
        matches!(check(&m.services[0]).kind, CheckKind::Smtp(_)),
        "submission is checked as SMTP"
    );
    assert!(
        error("virtual=10.0.0.1:80\n\treal=10.0.0.2 gate\n\tservice=gopher\n")
            .starts_with(&format!("{FILE}:3:10: service must be dns, ftp, http"))
    );
}

#[test]
fn negotiate_checks_round_trip_through_toml() {
    let (m, _) = parse_ok(
        "virtual=10.0.0.1:21\n\treal=10.0.0.2 gate\n\tlogin=\"u\"\n\tpasswd=\"p\"\n\trequest=\"f\"\n\treceive=\"x\"\n\
         virtual=10.0.0.1:80\n\treal=10.0.0.2 gate\n\thttpmethod=HEAD\n",
    );
    let text = m.to_toml();
    let back = config::parse(&text, Path::new("/nonexistent/back.toml"), Dialect::Toml)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .0;
    assert_eq!(back, m, "{text}");
}

#[test]
fn fwmark_checks_take_the_services_port() {
    // Real servers of a fwmark virtual have port 0: the check goes to the
    // service's port, or to checkport.
    let (m, _) = parse_ok(
        "virtual=7\n\treal=10.0.0.2 gate\n\tservice=ftp\n\
         virtual=8\n\treal=10.0.0.2 gate\n\tservice=http\n\tcheckport=8080\n\
         virtual=9\n\treal=10.0.0.2 gate\n\tchecktype=connect\n",
    );
    assert_eq!(check(&m.services[0]).connect_port, Some(21));
    assert_eq!(check(&m.services[1]).connect_port, Some(8080));
    assert_eq!(check(&m.services[2]).connect_port, None, "service none");
    assert_eq!(m.services[0].dests[0].addr, sa("10.0.0.2:0"));
}
