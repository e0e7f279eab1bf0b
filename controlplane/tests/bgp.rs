//! The `bgp` block (keepalived.conf and TOML), the include rvs writes for
//! BIRD, and which VIPs are announced.

use std::net::IpAddr;
use std::path::Path;

use rvs_controlplane::bgp::{decide, include, Why};
use rvs_controlplane::config::bgp::{Bgp, Community, Neighbor};
use rvs_controlplane::config::{parse_report, Dialect, Model, Options, Report};

fn keepalived(text: &str) -> Report {
    parse_report(
        text,
        Path::new("k.conf"),
        Dialect::Keepalived,
        &Options::default(),
    )
    .expect("splits into blocks")
}

fn toml(text: &str) -> Report {
    parse_report(
        text,
        Path::new("rvs.toml"),
        Dialect::Toml,
        &Options::default(),
    )
    .expect("reads")
}

const SERVICE: &str = "virtual_server 198.18.5.100 80 {\n  protocol TCP\n  \
                       real_server 10.0.0.1 80 {\n  }\n}\n";

fn full() -> Bgp {
    Bgp {
        bird_socket: "/run/bird/bird.ctl".into(),
        bird_include: "/etc/bird/rvs.conf".into(),
        local_as: 65001,
        router_id: Some("198.18.0.2".parse().unwrap()),
        local_address: None,
        local_port: None,
        neighbors: vec![
            Neighbor {
                address: "198.18.0.253".parse().unwrap(),
                asn: 65000,
                port: None,
            },
            Neighbor {
                address: "2001:db8::fe".parse().unwrap(),
                asn: 4200000000,
                port: Some(1179),
            },
        ],
        hold_time: 3,
        bfd: true,
        communities: vec![
            Community::Standard(65000, 100),
            Community::Large(65000, 1, 2),
        ],
        drain: false,
    }
}

#[test]
fn the_block_in_keepalived_conf() {
    let r = keepalived(&format!(
        "bgp {{\n    local_as 65001\n    router_id 198.18.0.2\n    neighbor 198.18.0.253 65000\n    \
         neighbor 2001:db8::fe 4200000000 port 1179\n    hold_time 3\n    bfd on\n    \
         community 65000:100\n    community 65000:1:2\n    drain off\n}}\n{SERVICE}"
    ));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.model.bgp, Some(full()));
    assert!(!r.model.bgp_in_error);
    // Defaults.
    let r = keepalived("bgp {\n local_as 1\n neighbor 10.0.0.1 2\n}\n");
    let b = r.model.bgp.expect("loads");
    assert_eq!(
        (
            b.bird_socket.to_str(),
            b.bird_include.to_str(),
            b.hold_time,
            b.bfd,
            b.drain
        ),
        (
            Some("/run/bird/bird.ctl"),
            Some("/etc/bird/rvs.conf"),
            90,
            false,
            false
        )
    );
}

#[test]
fn per_service_communities() {
    let r = keepalived(
        "virtual_server 198.18.5.100 80 {\n  protocol TCP\n  bgp_community 65000:200 65000:7:8\n  \
         bgp_community 1:2\n  real_server 10.0.0.1 80 {\n  }\n}\n",
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(
        r.model.services[0].bgp_communities,
        vec![
            Community::Standard(65000, 200),
            Community::Large(65000, 7, 8),
            Community::Standard(1, 2)
        ]
    );
    // A bad one loses its virtual_server, as any bad value there.
    let r = keepalived(&format!(
        "virtual_server 198.18.5.101 80 {{\n  bgp_community 65536:1\n}}\n{SERVICE}"
    ));
    assert_eq!(r.model.services.len(), 1);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(
        (r.errors[0].pos.line, r.errors[0].pos.col),
        (2, 17),
        "{}",
        r.errors[0]
    );
}

/// A bad line: an error at its position, the block left out, the rest
/// loaded.
#[test]
fn bad_lines_leave_the_block_out() {
    // The error is at the word `at` (its column: 4 spaces of indent).
    for (line, at, what) in [
        (
            "neighbor 198.18.0.999 65000",
            "198.18.0.999",
            "not an IP address",
        ),
        ("neighbor 198.18.0.253 0", " 0", "AS number '0'"),
        ("neighbor 198.18.0.253 65000x", "65000x", "AS number"),
        (
            "neighbor 198.18.0.253",
            "neighbor",
            "needs an address and an AS number",
        ),
        (
            "neighbor 198.18.0.253 65000 hops 2",
            "hops",
            "unexpected 'hops'",
        ),
        ("neighbor 198.18.0.253 65000 port 0", " 0", "port '0'"),
        ("local_as 4294967296", "4294967296", "AS number"),
        ("local_as", "local_as", "needs a value"),
        ("community 65000:70000", "65000:", "community '65000:70000'"),
        ("community 1:2:3:4", "1:2", "community '1:2:3:4'"),
        ("community no", "no", "community 'no'"),
        ("hold_time 2", "2", "hold_time '2'"),
        ("bfd maybe", "maybe", "not on or off"),
        ("drain on off", "off", "unexpected 'off'"),
        ("router_id 2001:db8::1", "2001", "not an IPv4 address"),
    ] {
        let col = (5 + line.find(at).unwrap() + usize::from(at.starts_with(" "))) as u32;
        let text = format!(
            "bgp {{\n    local_as 65001\n    neighbor 198.18.0.1 65000\n    {line}\n}}\n{SERVICE}"
        );
        let r = keepalived(&text);
        assert_eq!(r.model.bgp, None, "{line}: the block is left out");
        assert!(r.model.bgp_in_error, "{line}: and said so, for a reload");
        assert_eq!(r.model.services.len(), 1, "{line}: the rest loads");
        assert_eq!(r.errors.len(), 1, "{line}: {:?}", r.errors);
        let e = &r.errors[0];
        assert_eq!((e.pos.line, e.pos.col), (4, col), "{line}: {e}");
        assert!(e.message.contains(what), "{line}: {e}");
        assert!(e.to_string().starts_with("k.conf:4:"), "{e}");
    }
    // Missing pieces: at the block's keyword.
    for (body, what) in [
        ("neighbor 10.0.0.1 2", "local_as is required"),
        ("local_as 1", "at least one 'neighbor"),
    ] {
        let r = keepalived(&format!("\nbgp {{\n {body}\n}}\n"));
        assert_eq!(r.model.bgp, None);
        let e = &r.errors[0];
        assert_eq!((e.pos.line, e.pos.col), (2, 1), "{e}");
        assert!(e.message.contains(what), "{e}");
    }
    // A second block is an error; the first applies.
    let r = keepalived(
        "bgp {\n local_as 1\n neighbor 10.0.0.1 2\n}\nbgp {\n local_as 3\n neighbor 10.0.0.1 2\n}\n",
    );
    assert_eq!(r.model.bgp.map(|b| b.local_as), Some(1));
    assert_eq!(r.errors[0].pos.line, 5);
    // An unknown keyword is a warning.
    let r = keepalived("bgp {\n local_as 1\n neighbor 10.0.0.1 2\n multipath on\n}\n");
    assert!(r.errors.is_empty() && r.model.bgp.is_some());
    assert_eq!(r.warnings[0].pos.line, 4, "{:?}", r.warnings);
}

#[test]
fn the_block_in_toml() {
    let r = toml(
        r#"
[bgp]
local_as = 65001
router_id = "198.18.0.2"
neighbors = [{ address = "198.18.0.253", asn = 65000 }, { address = "2001:db8::fe", asn = 4200000000, port = 1179 }]
hold_time = 3
bfd = true
communities = ["65000:100", "65000:1:2"]

[[service]]
address = "198.18.5.100:80"
protocol = "tcp"
bgp_communities = ["65000:200"]

[[service.dest]]
address = "10.0.0.1:80"
"#,
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.model.bgp, Some(full()));
    assert_eq!(
        r.model.services[0].bgp_communities,
        vec![Community::Standard(65000, 200)]
    );
    // And back: the model's TOML reads to the same model.
    let again = toml(&r.model.to_toml());
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert_eq!(again.model, r.model);
}

#[test]
fn toml_errors_have_positions() {
    for (text, line, what) in [
        (
            "[bgp]\nlocal_as = 1\nneighbors = [{ address = \"10.0.0.999\", asn = 2 }]\n",
            3,
            "",
        ),
        (
            "[bgp]\nlocal_as = 1\nneighbors = [{ address = \"10.0.0.1\", asn = 2 }]\ncommunities = [\"1:2\", \"70000:1\"]\n",
            4,
            "community '70000:1'",
        ),
        (
            "[bgp]\nlocal_as = 0\nneighbors = [{ address = \"10.0.0.1\", asn = 2 }]\n",
            1,
            "local_as",
        ),
        ("[bgp]\nlocal_as = 1\nneighbors = []\n", 1, "at least one neighbor"),
        (
            "[bgp]\nlocal_as = 1\nneighbors = [{ address = \"10.0.0.1\", asn = 2 }]\nhold_time = 1\n",
            1,
            "hold_time 1",
        ),
        (
            "[bgp]\nlocal_as = 1\nneighbors = [{ address = \"10.0.0.1\", asn = 2 }]\nmultihop = 2\n",
            4,
            "multihop",
        ),
    ] {
        let e = parse_report(text, Path::new("rvs.toml"), Dialect::Toml, &Options::default())
            .expect_err(text);
        assert_eq!(e.pos.line, line, "{text}: {e}");
        assert!(e.message.contains(what), "{text}: {e}");
    }
}

fn model(text: &str) -> Model {
    let r = keepalived(text);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r.model
}

const RS: &str = " real_server 10.0.0.1 80 {\n }\n";

/// Services 0 and 1 on .100, 2 on .101, 3 a firewall mark, 4 a group of
/// .102 and .103, 5 on 2001:db8::100.
fn two_vips() -> String {
    format!(
        "bgp {{\n local_as 65001\n neighbor 198.18.0.253 65000\n community 65000:100\n}}\n\
         virtual_server 198.18.5.100 80 {{\n protocol TCP\n bgp_community 65000:200\n{RS}}}\n\
         virtual_server 198.18.5.100 443 {{\n protocol TCP\n bgp_community 65000:200 65000:443\n{RS}}}\n\
         virtual_server 198.18.5.101 53 {{\n protocol UDP\n{RS}}}\n\
         virtual_server fwmark 7 {{\n{RS}}}\n\
         virtual_server_group G {{\n 198.18.5.102 80\n 198.18.5.103 80\n}}\n\
         virtual_server group G {{\n protocol TCP\n{RS}}}\n\
         virtual_server 2001:db8::100 80 {{\n protocol TCP\n real_server 2001:db8::1 80 {{\n }}\n}}\n"
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn the_decision() {
    let m = model(&two_vips());
    let all = |_: usize| true;
    let vips = decide(&m, &all, true, false);
    let addrs: Vec<IpAddr> = vips.iter().map(|v| v.addr).collect();
    assert_eq!(
        addrs,
        vec![
            ip("198.18.5.100"),
            ip("198.18.5.101"),
            ip("198.18.5.102"),
            ip("198.18.5.103"),
            ip("2001:db8::100")
        ],
        "every address key, groups' members too, fwmark none"
    );
    assert!(vips.iter().all(|v| v.why == Why::Announced));
    assert_eq!(
        vips[0].communities,
        vec![
            Community::Standard(65000, 100),
            Community::Standard(65000, 200),
            Community::Standard(65000, 443)
        ],
        "the block's, then the services', once each"
    );
    assert_eq!(vips[1].communities, vec![Community::Standard(65000, 100)]);

    // One of the two services of .100 without quorum: .100 withdrawn, the
    // others stay.
    let vips = decide(&m, &|i| i != 1, true, false);
    assert_eq!(vips[0].why, Why::NoQuorum);
    assert!(vips[1..].iter().all(|v| v.announce()));
    // The group's service without quorum: both its members withdrawn.
    let vips = decide(&m, &|i| i != 4, true, false);
    assert_eq!(
        vips.iter().map(|v| v.announce()).collect::<Vec<_>>(),
        vec![true, true, false, false, true]
    );
    // Drained, dataplane down: all withdrawn, the drain said first.
    assert!(decide(&m, &all, true, true)
        .iter()
        .all(|v| v.why == Why::Drained));
    assert!(decide(&m, &all, false, false)
        .iter()
        .all(|v| v.why == Why::DataplaneDown));
    assert!(decide(&m, &|_| false, false, true)
        .iter()
        .all(|v| v.why == Why::Drained));
}

/// The include, golden.
#[test]
fn the_include() {
    let mut m = model(&two_vips());
    m.bgp = Some(full());
    let mut vips = decide(&m, &|i| i != 2, true, false);
    // .102 has mh dests (decision 45): its route carries their hash.
    vips[2].dest_set = Some(0xdead_beef);
    let text = include::text(m.bgp.as_ref().unwrap(), &vips);
    let want = r#"# Written by rvs-controlplane: do not edit, it is rewritten at every change.

protocol static rvs_vips4 {
    ipv4;
    route 198.18.5.100/32 blackhole { bgp_community.add((65000,100)); bgp_large_community.add((65000,1,2)); bgp_community.add((65000,200)); bgp_community.add((65000,443)); };
    route 198.18.5.102/32 blackhole { bgp_community.add((65000,100)); bgp_large_community.add((65000,1,2)); bgp_large_community.add((65001,45,3735928559)); };
    route 198.18.5.103/32 blackhole { bgp_community.add((65000,100)); bgp_large_community.add((65000,1,2)); };
}

protocol static rvs_vips6 {
    ipv6;
    route 2001:db8::100/128 blackhole { bgp_community.add((65000,100)); bgp_large_community.add((65000,1,2)); };
}

protocol bfd rvs_bfd {
}

protocol bgp rvs_bgp1 {
    router id 198.18.0.2;
    local as 65001;
    neighbor 198.18.0.253 as 65000;
    hold time 3;
    keepalive time 1;
    connect retry time 5;
    graceful restart off;
    allow local as;
    bfd on;
    ipv4 {
        import none;
        import table on;
        add paths rx;
        export where proto = "rvs_vips4";
        next hop self;
    };
}

protocol bgp rvs_bgp2 {
    router id 198.18.0.2;
    local as 65001;
    neighbor 2001:db8::fe port 1179 as 4200000000;
    hold time 3;
    keepalive time 1;
    connect retry time 5;
    graceful restart off;
    allow local as;
    bfd on;
    ipv6 {
        import none;
        import table on;
        add paths rx;
        export where proto = "rvs_vips6";
        next hop self;
    };
}
"#;
    assert_eq!(text, want);
    // Drained: the sessions stay, the static protocols are empty.
    let drained = include::text(m.bgp.as_ref().unwrap(), &decide(&m, &|_| true, true, true));
    assert!(!drained.contains("route "), "{drained}");
    assert!(drained.contains("protocol bgp rvs_bgp2"), "{drained}");
    // Local address and port, no BFD, no router id.
    let mut b = full();
    b.bfd = false;
    b.router_id = None;
    b.local_address = Some(ip("198.18.0.2"));
    b.local_port = Some(1790);
    b.hold_time = 90;
    let text = include::text(&b, &[]);
    assert!(
        text.contains("    local 198.18.0.2 port 1790 as 65001;\n"),
        "{text}"
    );
    assert!(text.contains("    keepalive time 30;\n"), "{text}");
    assert!(
        !text.contains("bfd") && !text.contains("router id"),
        "{text}"
    );
}

#[test]
fn the_include_is_replaced_whole() {
    let dir = std::env::temp_dir().join(format!("rvs-bgp-include-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rvs.conf");
    include::write(&file, "one\n").unwrap();
    include::write(&file, "two\n").unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "two\n");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary file left"
    );
    assert!(include::write(&dir.join("missing/rvs.conf"), "x").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_sample_loads_and_reads_back() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/bgp-director.conf");
    let (m, w) = rvs_controlplane::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(w.is_empty(), "{w:?}");
    let b = m.bgp.as_ref().expect("the bgp block");
    assert_eq!((b.local_as, b.hold_time, b.neighbors.len()), (65001, 3, 1));
    assert_eq!(
        m.services[0].bgp_communities,
        vec![Community::Standard(65000, 200)]
    );
    let back = toml(&m.to_toml());
    assert!(back.errors.is_empty(), "{:?}", back.errors);
    assert_eq!(back.model, m);
}
