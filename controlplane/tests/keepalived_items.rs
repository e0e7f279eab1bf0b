//! Valid keepalived.conf files that loaded wrong or were refused
//! (issue 19, items 2, 4, 5 and 7), read as keepalived.conf(5) says.

use std::path::Path;

use rvs_controlplane::config::{self, Dialect, Options};

fn report(text: &str) -> config::Report {
    config::parse_report(
        text,
        Path::new("/nonexistent/k.conf"),
        Dialect::Keepalived,
        &Options {
            config_id: "lb1".into(),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn ok(text: &str) -> config::Report {
    let r = report(text);
    let e: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
    assert!(e.is_empty(), "{text}\n{e:?}");
    r
}

#[test]
fn excluded_ipv6_addresses_leave_an_ipv4_instance_on_vrrpv2() {
    let text = "vrrp_instance VI_1 {\n  interface lan0\n  virtual_router_id 51\n  authentication {\n    auth_type PASS\n    auth_pass secret\n  }\n  virtual_ipaddress {\n    198.18.0.100/24\n  }\n  virtual_ipaddress_excluded {\n    2001:db8::100/64\n  }\n}\n";
    let r = ok(text);
    let i = &r.model.vrrp.instances[0];
    assert_eq!(i.version, 2);
    let auth = i.authentication.as_ref().expect("PASS authentication kept");
    assert_eq!(auth.pass, "secret");
    assert_eq!(i.virtual_ipaddress_excluded.len(), 1);
    // An advertised IPv6 address still makes it VRRPv3.
    let v6 = text.replace("198.18.0.100/24", "2001:db8::1/64");
    assert_eq!(report(&v6).model.vrrp.instances[0].version, 3);
}

#[test]
fn routes_take_options_and_types_before_the_destination() {
    let text = "static_routes {\n  src 198.18.0.2 198.19.0.0/16 via 198.18.0.1 dev lan0\n  to 198.20.0.0/16 dev lan0 metric 10\n  inet6 to 2001:db8:1::/48 via inet6 2001:db8::1 dev lan1\n  blackhole 198.21.0.0/16\n  to unreachable 198.22.0.0/16 table 100\n  unicast default via 198.18.0.254 dev lan0 protocol static mtu lock 1400\n  198.25.0.0/16 nexthop via 198.18.0.1 dev lan0 nexthop via 198.18.0.2 dev lan0\n}\n";
    let r = ok(text);
    let routes: Vec<String> = r
        .model
        .network
        .routes
        .iter()
        .map(|rt| format!("{} {:?} {:?}", rt.dst, rt.via, rt.port))
        .collect();
    assert_eq!(
        routes,
        [
            "198.19.0.0/16 Some(198.18.0.1) Some(\"lan0\")",
            "198.20.0.0/16 None Some(\"lan0\")",
            "2001:db8:1::/48 Some(2001:db8::1) Some(\"lan1\")",
            "0.0.0.0/0 Some(198.18.0.254) Some(\"lan0\")",
        ]
    );
    let w: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter().any(|w| w == "/nonexistent/k.conf:5:3: static_routes: a blackhole route is not supported by rvs - ignoring the route"),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains(":2:3: static_routes: 'src' is not supported")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains(":8:3: static_routes: a route with 'nexthop' is not supported")),
        "{w:?}"
    );
    // Still errors, each losing its route only: mixed families, no
    // destination, a bad word.
    let bad = "static_routes {\n  198.19.0.0/16 via 2001:db8::1\n  via 198.18.0.1 dev lan0\n  198.23.0.0/16 frobnicate\n  198.24.0.0/16 dev lan0\n}\n";
    let r = report(bad);
    let e: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        e,
        [
            "/nonexistent/k.conf:2:21: cannot mix IPv4 and IPv6 addresses in a route",
            "/nonexistent/k.conf:3:3: a route needs a destination",
            "/nonexistent/k.conf:4:17: unknown route keyword or bad destination 'frobnicate'",
        ]
    );
    assert_eq!(r.model.network.routes.len(), 1);
}

#[test]
fn dr_real_servers_that_differ_in_port_are_two() {
    let text = "virtual_server 198.18.0.100 80 {\n  lb_kind DR\n  protocol TCP\n  real_server 10.0.0.1 80 {\n    weight 2\n  }\n  real_server 10.0.0.1 8080 {\n    weight 3\n  }\n}\n";
    let r = ok(text);
    let s = &r.model.services[0];
    assert_eq!(s.dests.len(), 2, "both real servers, as keepalived");
    // The dataplane has one dest for both (DR cannot map ports), with
    // their weights added up, as the kernel's two dests share traffic.
    let all_up = |_: usize| (true, 0u32);
    let dests = s.dests_with(&s.keys[0], &|j| (all_up(j).0, s.dests[j].weight), true);
    assert_eq!(dests.len(), 1);
    assert_eq!(dests[0].addr.to_string(), "10.0.0.1:80");
    assert_eq!(dests[0].weight, 5);
    let one_down = s.dests_with(&s.keys[0], &|j| (j == 1, s.dests[j].weight), true);
    assert_eq!(one_down.len(), 1);
    assert_eq!(one_down[0].weight, 3);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.to_string().contains("their weights added up")),
        "{:?}",
        r.warnings
    );
    // Address and port equal: still defined twice.
    let twice = text.replace("8080", "80");
    let e: Vec<String> = report(&twice)
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        e,
        ["/nonexistent/k.conf:7:3: real server 10.0.0.1:80 is defined twice in virtual server 198.18.0.100:80 (first at /nonexistent/k.conf:4:3)"]
    );
}

#[test]
fn static_addresses_without_dev_use_the_default_interface() {
    let text = "global_defs {\n  default_interface lan1\n}\nstatic_ipaddress {\n  198.18.2.2/24\n  198.18.3.2/24 dev lan0\n}\n";
    let r = ok(text);
    let a: Vec<(String, String)> = r
        .model
        .network
        .addresses
        .iter()
        .map(|a| (a.port.clone(), a.address.to_string()))
        .collect();
    assert_eq!(
        a,
        [
            ("lan1".to_string(), "198.18.2.2/24".to_string()),
            ("lan0".to_string(), "198.18.3.2/24".to_string())
        ]
    );
    // keepalived's own default: eth0.
    let r = ok("static_ipaddress {\n  198.18.2.2/24 brd 198.18.2.255 scope global\n}\n");
    assert_eq!(r.model.network.addresses[0].port, "eth0");
}
