//! `sloppy_tcp` in a virtual_server (keepalived.conf, an rvs extension) and
//! in a TOML `[[service]]` (decision 45): what reaches the dataplane, and
//! the warnings for a UDP service, FNAT real servers and a scheduler that
//! picks differently on each director.

mod common;
use common::{messages, parse_ok, tcp};
use rvs_api::Request;
use rvs_controlplane::config::Dialect;

fn vs(algo: &str, kind: &str, extra: &str) -> String {
    format!(
        "virtual_server 10.0.0.1 80 {{\n protocol TCP\n lb_algo {algo}\n lb_kind {kind}\n {extra}\n \
         real_server 10.0.0.2 80 {{\n }}\n}}\n"
    )
}

/// The `sloppy_tcp` of the service's AddService request, and the warnings.
fn sloppy(text: &str, dialect: Dialect) -> (bool, Vec<String>) {
    let (m, w) = parse_ok(text, dialect);
    let r = m.requests();
    let config = r
        .iter()
        .find_map(|r| match r {
            Request::AddService { config, .. } => Some(config.clone()),
            _ => None,
        })
        .expect("the service");
    (config.sloppy_tcp, messages(&w))
}

#[test]
fn keepalived_sloppy_tcp_reaches_the_service() {
    let (on, w) = sloppy(&vs("mh", "DR", "sloppy_tcp"), Dialect::Keepalived);
    assert!(on);
    assert!(w.is_empty(), "{w:?}");
    let (on, _) = sloppy(&vs("mh", "DR", ""), Dialect::Keepalived);
    assert!(!on, "off unless asked");
    let (on, w) = sloppy(&vs("sh", "NAT", "sloppy_tcp"), Dialect::Keepalived);
    assert!(on, "NAT adopts when asked");
    assert!(w.is_empty(), "sh picks alike: {w:?}");
}

#[test]
fn a_scheduler_that_picks_differently_is_a_warning() {
    let (on, w) = sloppy(&vs("rr", "DR", "sloppy_tcp"), Dialect::Keepalived);
    assert!(on, "kept: the operator's risk");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("/nonexistent/test.conf:1:1: ")
            && w[0].contains("sloppy_tcp with lb_algo rr"),
        "{w:?}"
    );
}

#[test]
fn udp_and_fnat_reset_it_with_a_warning() {
    let udp = "virtual_server 10.0.0.1 53 {\n protocol UDP\n lb_algo mh\n sloppy_tcp\n \
               real_server 10.0.0.2 53 {\n }\n}\n";
    let (on, w) = sloppy(udp, Dialect::Keepalived);
    assert!(!on);
    assert!(
        w.iter()
            .any(|w| w.contains("sloppy_tcp requires TCP - resetting")),
        "{w:?}"
    );
    let fnat = "local_address_group pool {\n 10.0.0.200\n}\n\
                virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo mh\n lb_kind FNAT\n \
                laddr_group_name pool\n sloppy_tcp\n real_server 10.0.0.2 80 {\n }\n}\n";
    let (on, w) = sloppy(fnat, Dialect::Keepalived);
    assert!(!on);
    assert!(
        w.iter()
            .any(|w| w.contains("sloppy_tcp cannot adopt connections of FNAT")),
        "{w:?}"
    );
}

#[test]
fn toml_sloppy_tcp_and_its_round_trip() {
    let text = "[[service]]\naddress = \"10.0.0.1:80\"\nprotocol = \"tcp\"\nscheduler = \"mh\"\nforward = \"route\"\n\
                sloppy_tcp = true\n[[service.dest]]\naddress = \"10.0.0.2:80\"\n";
    let (on, w) = sloppy(text, Dialect::Toml);
    assert!(on && w.is_empty(), "{w:?}");
    let (m, _) = parse_ok(text, Dialect::Toml);
    assert_eq!(m.services[0].keys, [tcp("10.0.0.1:80")]);
    let back = m.to_toml();
    assert!(back.contains("sloppy_tcp = true"), "{back}");
    assert_eq!(parse_ok(&back, Dialect::Toml).0, m);
}
