//! FullNAT between address families (decision 42) in the configuration
//! readers: keepalived.conf and rvs's TOML take a FNAT real server of the
//! other family when the local address group has an address of its family;
//! other methods of the other family stay refused (IPVS's rule: tunnels
//! only, which the dataplane does not do).

mod common;

use common::{parse, parse_ok};
use rvs_api::Forward;
use rvs_controlplane::config::Dialect;

const GROUP: &str = "
local_address_group both {
    198.18.0.50 dpdk0
    2001:db8::50 dpdk0
}
";

fn keepalived(lb_kind: &str, group: &str, vip: &str, rs: &str) -> String {
    format!(
        "{group}
virtual_server {vip} 80 {{
    lb_algo rr
    lb_kind {lb_kind}
    protocol TCP
    laddr_group_name both
    real_server {rs} 8080 {{
        weight 1
    }}
}}
"
    )
}

#[test]
fn keepalived_takes_a_fnat_real_server_of_the_other_family() {
    for (vip, rs) in [
        ("2001:db8::100", "198.18.1.1"),
        ("198.18.0.100", "2001:db8::1"),
    ] {
        let (m, w) = parse_ok(&keepalived("FNAT", GROUP, vip, rs), Dialect::Keepalived);
        assert!(w.is_empty(), "{w:?}");
        let s = &m.services[0];
        assert_eq!(s.dests.len(), 1, "{vip} -> {rs}");
        assert_eq!(s.dests[0].addr.ip().to_string(), rs);
        assert_eq!(s.dests[0].forward, Forward::FullNat);
    }
}

#[test]
fn keepalived_refuses_other_methods_and_a_group_without_the_family() {
    for kind in ["NAT", "DR"] {
        let text = keepalived(kind, GROUP, "2001:db8::100", "198.18.1.1");
        let e = parse(&text, Dialect::Keepalived)
            .expect_err(kind)
            .to_string();
        assert!(
            e.contains("198.18.1.1:8080 is IPv4 but the virtual server is IPv6"),
            "{kind}: {e}"
        );
    }
    let v4_only = "
local_address_group both {
    198.18.0.50 dpdk0
}
";
    let text = keepalived("FNAT", v4_only, "198.18.0.100", "2001:db8::1");
    let e = parse(&text, Dialect::Keepalived)
        .expect_err("no IPv6 local address")
        .to_string();
    assert!(
        e.contains("FNAT real server [2001:db8::1]:8080 is IPv6 but local_address_group 'both' has no IPv6 address"),
        "{e}"
    );
}

#[test]
fn toml_takes_a_fullnat_dest_of_the_other_family() {
    let text = r#"
[[network.local_address_pool]]
name = "both"
addresses = ["198.18.0.50 lan0", "2001:db8::50 lan0"]

[[service]]
address = "[2001:db8::100]:443"
protocol = "tcp"
scheduler = "rr"
forward = "fullnat"
laddr_pool = "both"

[[service.dest]]
address = "198.18.1.41:8443"
"#;
    let (m, _) = parse_ok(text, Dialect::Toml);
    assert_eq!(m.services[0].dests[0].addr.to_string(), "198.18.1.41:8443");
    let nat = text.replace("forward = \"fullnat\"", "forward = \"masq\"");
    let e = parse(&nat, Dialect::Toml).expect_err("NAT").to_string();
    assert!(e.contains("is IPv4 but the virtual server is IPv6"), "{e}");
}

#[test]
fn the_example_in_configs_loads() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/fullnat-xfam.conf");
    let (m, w) = rvs_controlplane::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(w.is_empty(), "{w:?}");
    let s = &m.services[0];
    let dests: Vec<String> = s.dests.iter().map(|d| d.addr.to_string()).collect();
    assert_eq!(dests, ["198.18.0.11:8080", "[2001:2:0:1::12]:8080"]);
    assert!(s.dests.iter().all(|d| d.forward == Forward::FullNat));
}
