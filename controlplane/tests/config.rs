//! The configuration model against the samples of `spec/keepalived.md`
//! (copied exactly to `tests/fixtures/config/spec_*`), the malformed files
//! the spec and the design name (each error at its exact FILE:LINE:COL),
//! includes, the TOML round trip, and the `rvs-controlplane --check` binary.

mod common;
use common::{messages, sa, tcp, udp};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use rvs_api::{
    DestStatus, Forward, LaddrStatus, Protocol, Rates, Request, ServiceKey, ServiceStatus, Stats,
    Tunnel, TunnelCsum, TunnelKind,
};
use rvs_controlplane::config::{
    self, model, CheckKind, ConfigError, Dialect, DnsType, HttpProtocol, Model, VrrpState, Warning,
};
use rvs_controlplane::rvsadm::save::format_save;
use rvs_controlplane::rvsadm::ServicesDb;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn load(name: &str) -> (Model, Vec<Warning>) {
    match config::load(&fixture(name)) {
        Ok(x) => x,
        Err(e) => panic!("{name}: {e}"),
    }
}

fn load_err(name: &str) -> String {
    match config::load(&fixture(name)) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => e.to_string(),
    }
}

fn parse(text: &str, dialect: Dialect) -> Result<(Model, Vec<Warning>), ConfigError> {
    config::parse(text, Path::new("/nonexistent/test.conf"), dialect)
}

fn parse_ok(text: &str, dialect: Dialect) -> (Model, Vec<Warning>) {
    parse(text, dialect).unwrap_or_else(|e| panic!("{e}"))
}

/// The table `requests` build, as `rvsadm -S -n` prints it.
fn table(requests: &[Request]) -> String {
    let mut services: Vec<ServiceStatus> = Vec::new();
    let mut laddrs = Vec::new();
    let mut marks = Vec::new();
    for r in requests {
        match r {
            Request::AddService { key, config } => services.push(ServiceStatus {
                key: *key,
                config: config.clone(),
                stats: Stats::default(),
                rates: Rates::default(),
                dests: Vec::new(),
            }),
            Request::AddDest { service, dest } => {
                let s = services
                    .iter_mut()
                    .find(|s| s.key == *service)
                    .expect("a dest of a service added before");
                assert!(
                    s.dests.iter().all(|d| d.config.addr != dest.addr),
                    "{dest:?} added twice"
                );
                s.dests.push(DestStatus {
                    config: dest.clone(),
                    active_conns: 0,
                    inactive_conns: 0,
                    persist_conns: 0,
                    stats: Stats::default(),
                    rates: Rates::default(),
                });
            }
            Request::AddLaddr { service, addr } => laddrs.push(LaddrStatus {
                service: *service,
                addr: *addr,
                conns: 0,
                exhausted: 0,
            }),
            Request::AddMarkRule(m) => marks.push(m.clone()),
            Request::SetTimeouts(_) | Request::SetNetwork(_) => {}
            other => panic!("unexpected request {other:?}"),
        }
    }
    format_save(&services, &laddrs, &marks, true, &ServicesDb::default())
}

fn expected_table(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("fixture")
}

#[test]
fn keepalived_sample_gives_the_spec_table() {
    let (m, warnings) = load("spec_keepalived.conf");
    assert!(warnings.is_empty(), "{:?}", messages(&warnings));
    assert_eq!(table(&m.requests()), expected_table("spec_keepalived.ipvs"));

    // global_defs
    assert_eq!(m.global.router_id.as_deref(), Some("LB1"));
    assert_eq!(m.global.notification_email, ["ops@example.com"]);
    let smtp = m.global.smtp_server.as_ref().expect("smtp_server");
    assert_eq!((smtp.host.as_str(), smtp.port), ("127.0.0.1", 25));
    let sync = m.global.lvs_sync_daemon.as_ref().expect("lvs_sync_daemon");
    assert_eq!(sync.interface, "eth1");
    assert_eq!(sync.instance.as_deref(), Some("VI_1"));
    assert_eq!(sync.sync_id, Some(51));
    assert_eq!(m.global.vrrp_version, 2);
    assert_eq!(m.global.lvs_timeouts, None);

    // The HTTP pool.
    assert_eq!(m.services.len(), 2);
    let web = &m.services[0];
    assert_eq!(web.keys, [tcp("192.168.10.100:80")]);
    assert_eq!(web.scheduler, "wlc");
    assert_eq!(web.forward, Forward::Masq);
    assert_eq!(web.persistence_timeout_s, Some(300));
    assert_eq!(web.persistence_netmask, Some(0xFFFF_FF00));
    assert_eq!(web.delay_loop, Duration::from_secs(6));
    assert_eq!((web.quorum, web.hysteresis), (1, 0));
    let sorry = web.sorry_server.as_ref().expect("sorry server");
    assert_eq!(sorry.addr, sa("192.168.10.200:8080"));
    assert_eq!(sorry.forward, Forward::Masq);
    assert_eq!(web.dests.len(), 2);
    let rs1 = &web.dests[0];
    assert_eq!(rs1.addr, sa("10.0.0.11:8080"));
    assert_eq!((rs1.weight, rs1.forward), (1, Forward::Masq));
    assert!(rs1.inhibit_on_failure);
    let http = &rs1.checks[0];
    let CheckKind::Http(h) = &http.kind else {
        panic!("{:?}", http.kind)
    };
    assert_eq!(h.urls[0].path, "/health");
    assert_eq!(h.urls[0].status_code, ["200".parse().unwrap()]);
    assert_eq!(h.http_protocol, HttpProtocol::Http10);
    assert_eq!(http.connect_timeout, Duration::from_secs(3));
    assert_eq!(http.retry, 3);
    assert_eq!(http.delay_before_retry, Duration::from_secs(3));
    assert_eq!(
        http.delay_loop,
        Duration::from_secs(6),
        "inherited from the VS"
    );
    assert_eq!(
        http.warmup,
        Duration::from_secs(6),
        "keepalived: delay_loop"
    );
    let rs2 = &web.dests[1];
    assert_eq!((rs2.weight, rs2.inhibit_on_failure), (2, false));
    let t = &rs2.checks[0];
    assert_eq!(t.kind, CheckKind::Tcp);
    assert_eq!(t.connect_port, Some(8080));
    assert_eq!(t.connect_timeout, Duration::from_secs(3));
    assert_eq!(t.retry, 1, "TCP_CHECK's default");
    assert_eq!(t.delay_before_retry, Duration::from_secs(1));

    // The DNS pool.
    let dns = &m.services[1];
    assert_eq!(dns.keys, [udp("192.168.10.100:53")]);
    assert_eq!(dns.scheduler, "rr");
    assert!(dns.one_packet);
    assert_eq!(dns.persistence_timeout_s, None);
    let rs = &dns.dests[0];
    assert_eq!(
        (rs.addr, rs.forward, rs.weight),
        (sa("192.168.10.21:53"), Forward::Route, 1)
    );
    let misc = &rs.checks[0];
    let CheckKind::Misc(mc) = &misc.kind else {
        panic!("{:?}", misc.kind)
    };
    assert_eq!(mc.path, "/usr/local/bin/check_dns 192.168.10.21");
    assert_eq!(mc.timeout, Duration::from_secs(5));
    assert!(mc.dynamic);
    assert_eq!(misc.retry, 0, "MISC_CHECK's default");

    // VRRP, parsed into data.
    let v = &m.vrrp;
    assert_eq!(v.scripts[0].name, "chk_haproxy");
    assert_eq!(v.scripts[0].script, "/usr/bin/pgrep -x haproxy");
    assert_eq!(v.scripts[0].interval, Duration::from_secs(2));
    assert_eq!(
        (v.scripts[0].weight, v.scripts[0].rise, v.scripts[0].fall),
        (-20, 2, 2)
    );
    assert_eq!(v.sync_groups[0].group, ["VI_1", "VI_2"]);
    let vi1 = &v.instances[0];
    assert_eq!(
        (vi1.state, vi1.priority, vi1.virtual_router_id),
        (VrrpState::Backup, 150, 51)
    );
    assert_eq!(vi1.advert_int_cs, 100);
    assert!(vi1.nopreempt);
    assert_eq!(
        vi1.authentication.as_ref().map(|a| a.pass.as_str()),
        Some("s3cr3tPw")
    );
    assert_eq!(
        vi1.virtual_ipaddress[0].address.to_string(),
        "192.168.10.100/24"
    );
    assert_eq!(vi1.virtual_ipaddress[0].label.as_deref(), Some("eth0:vip"));
    assert_eq!(vi1.track_interface[0].name, "eth1");
    assert_eq!(vi1.track_script[0].name, "chk_haproxy");
    assert_eq!(
        vi1.notify_master.as_deref(),
        Some("/etc/keepalived/to_master.sh")
    );
    let vi2 = &v.instances[1];
    assert_eq!(vi2.unicast_src_ip, Some("10.0.0.250".parse().unwrap()));
    assert_eq!(
        vi2.unicast_peer[0].address,
        "10.0.0.251".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn keepalived_sample_requests_in_order() {
    let (m, _) = load("spec_keepalived.conf");
    let mut r = m.requests();
    // First the network (none here), then the services.
    assert_eq!(r.remove(0), Request::SetNetwork(Default::default()));
    assert!(matches!(&r[0], Request::AddService { key, config }
        if *key == tcp("192.168.10.100:80") && config.scheduler == "wlc"
            && config.persistent_timeout_s == Some(300) && config.netmask == Some(0xFFFF_FF00)));
    assert!(
        matches!(&r[1], Request::AddDest { dest, .. } if dest.addr == sa("10.0.0.11:8080") && dest.weight == 1)
    );
    assert!(
        matches!(&r[2], Request::AddDest { dest, .. } if dest.addr == sa("10.0.0.12:8080") && dest.weight == 2)
    );
    assert!(
        matches!(&r[3], Request::AddService { key, config } if *key == udp("192.168.10.100:53") && config.one_packet)
    );
    assert!(matches!(&r[4], Request::AddDest { dest, .. } if dest.forward == Forward::Route));
    assert_eq!(r.len(), 5, "the sorry server only comes in without quorum");
}

#[test]
fn ldirectord_sample_gives_the_spec_table() {
    let (m, warnings) = load("spec_ldirectord.cf");
    assert_eq!(table(&m.requests()), expected_table("spec_ldirectord.ipvs"));
    assert_eq!(messages(&warnings), Vec::<String>::new());

    let web = &m.services[0];
    assert_eq!(web.keys, [tcp("192.168.10.100:80")]);
    assert_eq!(web.persistence_timeout_s, Some(300));
    let sorry = web.sorry_server.as_ref().expect("fallback");
    assert_eq!(
        (sorry.addr, sorry.forward),
        (sa("127.0.0.1:80"), Forward::Masq)
    );
    let d = &web.dests[0];
    assert!(d.inhibit_on_failure, "quiescent=yes");
    let c = &d.checks[0];
    let CheckKind::Http(h) = &c.kind else {
        panic!("{:?}", c.kind)
    };
    assert_eq!(h.urls[0].path, "/health");
    assert_eq!(h.urls[0].regex.as_deref(), Some("OK"));
    assert_eq!(h.virtualhost.as_deref(), Some("www.example.com"));
    assert_eq!(c.connect_port, Some(8080));
    assert_eq!(c.delay_loop, Duration::from_secs(5), "checkinterval");
    assert_eq!(c.retry, 1, "failurecount 2");
    assert_eq!(
        c.connect_timeout,
        Duration::from_secs(3),
        "negotiatetimeout falls back to checktimeout"
    );

    let dns = &m.services[1];
    assert_eq!(dns.keys, [udp("192.168.10.100:53")]);
    assert_eq!(dns.dests.len(), 2);
    assert_eq!(
        dns.dests[1].addr,
        sa("192.168.10.22:53"),
        "DR takes the VIP port"
    );
    let CheckKind::Negotiate(q) = &dns.dests[0].checks[0].kind else {
        panic!("{:?}", dns.dests[0].checks[0].kind)
    };
    assert_eq!(
        (q.request.as_str(), q.receive.as_str(), q.udp),
        ("/www.example.com", "192.0.2.10", true)
    );

    let mark = &m.services[2];
    assert_eq!(
        mark.keys,
        [ServiceKey::Fwmark {
            mark: 7,
            ipv6: false
        }]
    );
    assert_eq!(mark.dests[0].addr, sa("192.168.10.31:0"));
    assert_eq!(mark.dests[0].weight, 5);
    let c = &mark.dests[0].checks[0];
    assert_eq!(
        (c.kind.clone(), c.connect_port),
        (CheckKind::Tcp, Some(443))
    );
    assert_eq!(c.connect_timeout, Duration::from_secs(3), "checktimeout");
}

#[test]
fn ldirectord_unknown_directives_are_fatal() {
    let e = parse("checkinterval=5\nfoo=1\n", Dialect::Ldirectord).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:2:1: Unknown command 'foo'"
    );
    let e = parse(
        "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\tbar = 2\n",
        Dialect::Ldirectord,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:3:2: Unknown command 'bar'"
    );
    let e = parse("timeout=3\n", Dialect::Ldirectord).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("/nonexistent/test.conf:1:1: timeout is deprecated"));
    let e = parse("quiescent=maybe\n", Dialect::Ldirectord).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:1:11: quiescent: 'maybe' is not yes or no"
    );
}

#[test]
fn unknown_block_is_skipped_with_a_warning() {
    let (m, warnings) = load("unknown_block.conf");
    let f = fixture("unknown_block.conf").display().to_string();
    assert_eq!(
        messages(&warnings),
        [
            format!("{f}:4:5: Unknown keyword 'foo_block' - skipping its block"),
            format!("{f}:14:5: Unknown keyword 'frobnicate'"),
        ]
    );
    assert!(
        !m.global.lvs_flush,
        "the skipped block's lines are not read"
    );
    assert_eq!(m.global.router_id.as_deref(), Some("LB1"));
    assert_eq!(m.services[0].dests[0].addr, sa("10.1.1.2:80"));
}

#[test]
fn malformed_files_fail_at_their_position() {
    let at = |name: &str, pos: &str| format!("{}:{pos}", fixture(name).display());
    assert_eq!(
        load_err("missing_brace.conf"),
        format!(
            "{}: 'virtual_server' block is not closed: missing '}}'",
            at("missing_brace.conf", "1:1")
        )
    );
    assert_eq!(
        load_err("extra_brace.conf"),
        format!(
            "{}: unexpected '}}': no block is open",
            at("extra_brace.conf", "7:1")
        )
    );
    assert_eq!(
        load_err("bad_address.conf"),
        format!(
            "{}: invalid real server address '10.0.0.300'",
            at("bad_address.conf", "4:17")
        )
    );
    assert_eq!(
        load_err("weight_range.conf"),
        format!(
            "{}: weight '2147483648' is outside range 0..2147483647",
            at("weight_range.conf", "5:16")
        )
    );
    assert_eq!(
        load_err("duplicate_rs.conf"),
        format!(
            "{}: real server 10.1.1.2:8080 is defined twice in virtual server 10.1.1.1:80 (first at {})",
            at("duplicate_rs.conf", "11:5"),
            at("duplicate_rs.conf", "5:5")
        )
    );
    let a = fixture("loop_a.conf").display().to_string();
    let b = fixture("loop_b.conf").display().to_string();
    assert_eq!(
        load_err("loop_a.conf"),
        format!("{b}:2:1: include loop: {a} -> {b} -> {a}")
    );
}

#[test]
fn include_globs_over_two_files_in_name_order() {
    let (m, warnings) = load("glob_main.conf");
    assert_eq!(m.global.router_id.as_deref(), Some("GLOB"));
    let keys: Vec<ServiceKey> = m.services.iter().map(|s| s.keys[0]).collect();
    assert_eq!(
        keys,
        [tcp("10.2.2.1:80"), udp("10.2.2.2:53")],
        "10-web before 20-dns"
    );
    assert_eq!(m.services[0].dests[0].weight, 3);
    // Positions name the included file.
    let web = fixture("glob.d/10-web.conf").display().to_string();
    assert_eq!(
        messages(&warnings),
        [format!("{web}:7:9: Unknown keyword 'nb_get_retry'")]
    );
}

#[test]
fn unknown_keywords_warn_with_their_position_and_parsing_goes_on() {
    let text =
        "vrrp_instance VI_1 {\n    state MASTER\n    foo_bar 1\n    virtual_router_id 9\n}\n";
    let (m, w) = parse_ok(text, Dialect::Keepalived);
    assert_eq!(
        messages(&w),
        ["/nonexistent/test.conf:3:5: Unknown keyword 'foo_bar'"]
    );
    let vi = &m.vrrp.instances[0];
    assert_eq!(
        (vi.virtual_router_id, vi.priority, vi.state),
        (9, 255, VrrpState::Master)
    );
}

fn one_service(body: &str) -> String {
    format!("virtual_server 10.0.0.1 80 {{\n{body}\n    real_server 10.0.0.2 80 {{\n    }}\n}}\n")
}

#[test]
fn keepalived_defaults_and_their_warnings() {
    let (m, w) = parse_ok(&one_service("    persistence_timeout"), Dialect::Keepalived);
    let s = &m.services[0];
    assert_eq!(
        s.persistence_timeout_s,
        Some(360),
        "bare persistence_timeout"
    );
    assert_eq!(s.keys, [udp("10.0.0.1:80")], "no protocol: UDP");
    assert_eq!((s.scheduler.as_str(), s.forward), ("wlc", Forward::Masq));
    assert_eq!(
        messages(&w),
        [
            "/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:80: no protocol set - defaulting to UDP",
            "/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:80: no scheduler set, setting default 'wlc'",
            "/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:80: no forwarding method set, setting default NAT",
        ]
    );
    assert_eq!(s.dests[0].weight, 1);

    // Zero port on a non-persistent service: made persistent 360.
    let text = "virtual_server 10.0.0.1 0 {\n protocol TCP\n lb_algo rr\n lb_kind DR\n real_server 10.0.0.2 {\n }\n}\n";
    let (m, w) = parse_ok(text, Dialect::Keepalived);
    assert_eq!(m.services[0].persistence_timeout_s, Some(360));
    assert_eq!(
        messages(&w),
        ["/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:0: zero port only valid for persistent services - setting persistence_timeout 360"]
    );

    // persistence_granularity implies persistence; ops is UDP only.
    let (m, w) = parse_ok(
        &one_service("    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    persistence_granularity 255.255.0.0\n    ops"),
        Dialect::Keepalived,
    );
    let s = &m.services[0];
    assert_eq!(
        (s.persistence_timeout_s, s.persistence_netmask),
        (Some(360), Some(0xFFFF_0000))
    );
    assert!(!s.one_packet);
    assert_eq!(
        messages(&w),
        ["/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:80: one packet scheduling requires UDP - resetting"]
    );

    // A virtual server with no real servers is dropped.
    let (m, w) = parse_ok(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n}\n",
        Dialect::Keepalived,
    );
    assert!(m.services.is_empty());
    assert_eq!(
        messages(&w),
        ["/nonexistent/test.conf:1:1: Virtual server 10.0.0.1:80 has no real servers - ignoring"]
    );
}

#[test]
fn hard_errors_of_values() {
    let e = parse(&one_service("    lb_algo fastest"), Dialect::Keepalived).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:2:13: unknown lb_algo 'fastest'"
    );
    let e = parse(&one_service("    lvs_method MAGIC"), Dialect::Keepalived).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:2:16: unknown lvs_method 'MAGIC'"
    );
    let e = parse(&one_service("    protocol SCTP"), Dialect::Keepalived).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:2:14: protocol SCTP is not supported by rvs"
    );
    let e = parse("virtual_server 10.0.0.x 80 {\n}\n", Dialect::Keepalived).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:1:16: invalid virtual server address '10.0.0.x'"
    );
    let e = parse(
        &one_service("    sorry_server 10.0.0.999 80"),
        Dialect::Keepalived,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:2:18: invalid sorry server address '10.0.0.999'"
    );
    let e = parse(
        &one_service("    lb_kind TUN type gue"),
        Dialect::Keepalived,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:2:13: a GUE tunnel needs a port"
    );
    let e = parse(
        "virtual_server group nope {\n real_server 10.0.0.2 80 {\n }\n}\n",
        Dialect::Keepalived,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:1:1: virtual_server_group 'nope' is not defined"
    );
    let e = parse(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n MISC_CHECK {\n misc_timeout 3\n }\n }\n}\n",
        Dialect::Keepalived,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:4:2: MISC_CHECK has no misc_path"
    );
}

#[test]
fn old_names_and_checker_inheritance() {
    let text = "virtual_server 10.0.0.1 80 {
    protocol TCP
    lb_algo sh
    sh-port
    mh-port
    lb_kind DR
    delay_loop 2.5
    retry 7
    real_server 10.0.0.2 80 {
        delay_before_retry 4
        HTTP_GET {
            nb_get_retry 2
            url {
                path /a
            }
            url {
                status_code 200
            }
        }
        DNS_CHECK {
            type AAAA
        }
    }
}
";
    let (m, w) = parse_ok(text, Dialect::Keepalived);
    let s = &m.services[0];
    assert_eq!(s.sched_flags, ["sh-port"]);
    let d = &s.dests[0];
    let http = &d.checks[0];
    assert_eq!(http.retry, 2, "nb_get_retry is retry");
    assert_eq!(
        http.delay_before_retry,
        Duration::from_secs(4),
        "from the real server"
    );
    assert_eq!(
        http.delay_loop,
        Duration::from_micros(2_500_000),
        "from the virtual server"
    );
    let CheckKind::Http(h) = &http.kind else {
        panic!()
    };
    assert_eq!(h.urls.len(), 1, "the url without a path is dropped");
    assert_eq!(h.urls[0].status_code, [model::StatusRange::SUCCESS]);
    let dns = &d.checks[1];
    assert_eq!(dns.retry, 7, "from the virtual server");
    let CheckKind::Dns(q) = &dns.kind else {
        panic!()
    };
    assert_eq!((q.query_type, q.name.as_str()), (DnsType::Aaaa, "."));
    assert_eq!(
        messages(&w),
        [
            "/nonexistent/test.conf:5:5: 'mh-port' is only valid after 'lb_algo mh' - ignoring",
            "/nonexistent/test.conf:12:13: nb_get_retry is deprecated - please use 'retry'",
            "/nonexistent/test.conf:16:13: url without a path - ignoring",
        ]
    );
}

#[test]
fn fullnat_groups_and_quorum_at_start() {
    let (m, w) = load("fnat.conf");
    assert!(w.is_empty(), "{:?}", messages(&w));
    let pool = &m.network.local_address_pools[0];
    assert_eq!(pool.name, "laddr_g1");
    let addrs: Vec<String> = pool.addresses.iter().map(|a| a.addr.to_string()).collect();
    assert_eq!(addrs, ["198.18.0.50", "198.18.0.51", "198.18.0.52"]);
    assert_eq!(pool.addresses[0].port.as_deref(), Some("dpdk0"));
    let s = &m.services[0];
    assert_eq!(s.group.as_deref(), Some("vips"));
    assert_eq!(
        s.keys,
        [
            tcp("198.18.0.100:443"),
            tcp("198.18.0.101:443"),
            ServiceKey::Fwmark {
                mark: 9,
                ipv6: false
            }
        ]
    );
    assert_eq!(s.sched_flags, ["mh-port"]);
    assert_eq!((s.quorum, s.hysteresis), (2, 1));
    let CheckKind::Ssl(h) = &s.dests[0].checks[0].kind else {
        panic!()
    };
    assert_eq!(
        h.urls[0].digest.as_deref(),
        Some("9b3a0c85a887a256d6939da88aabd8cd")
    );
    assert_eq!(
        h.urls[0].status_code,
        [model::StatusRange::SUCCESS],
        "a digest does not lift keepalived's default status range"
    );
    assert!(
        s.dests[0].checks[0].alpha,
        "alpha inherited from the virtual server"
    );
    assert!(!s.dests[1].alpha);
    // rs1 starts down (alpha), rs2 up with weight 1 < quorum 2 + hysteresis
    // 1: no quorum, so the sorry server is in and the inhibited dests stay
    // at weight 0.
    assert!(!s.starts_with_quorum());
    let expected = "\
-A -t 198.18.0.100:443 -s mh -b mh-port
-a -t 198.18.0.100:443 -r 198.18.1.1:8443 --fullnat -w 0
-a -t 198.18.0.100:443 -r 198.18.1.2:8443 --fullnat -w 0
-a -t 198.18.0.100:443 -r 198.18.1.99:8443 --fullnat -w 1
--add-laddr -t 198.18.0.100:443 -z 198.18.0.50
--add-laddr -t 198.18.0.100:443 -z 198.18.0.51
--add-laddr -t 198.18.0.100:443 -z 198.18.0.52
-A -t 198.18.0.101:443 -s mh -b mh-port
-a -t 198.18.0.101:443 -r 198.18.1.1:8443 --fullnat -w 0
-a -t 198.18.0.101:443 -r 198.18.1.2:8443 --fullnat -w 0
-a -t 198.18.0.101:443 -r 198.18.1.99:8443 --fullnat -w 1
--add-laddr -t 198.18.0.101:443 -z 198.18.0.50
--add-laddr -t 198.18.0.101:443 -z 198.18.0.51
--add-laddr -t 198.18.0.101:443 -z 198.18.0.52
-A -f 9 -s mh -b mh-port
-a -f 9 -r 198.18.1.1:8443 --fullnat -w 0
-a -f 9 -r 198.18.1.2:8443 --fullnat -w 0
-a -f 9 -r 198.18.1.99:8443 --fullnat -w 1
--add-laddr -f 9 -z 198.18.0.50
--add-laddr -f 9 -z 198.18.0.51
--add-laddr -f 9 -z 198.18.0.52
";
    assert_eq!(table(&m.requests()), expected);
}

#[test]
fn vrrp_derivations() {
    let inst = |body: &str| {
        let text = format!("vrrp_instance V {{\n virtual_router_id 1\n{body}\n}}\n");
        parse_ok(&text, Dialect::Keepalived)
    };
    // Part C 4: priority from state.
    assert_eq!(inst(" state MASTER").0.vrrp.instances[0].priority, 255);
    assert_eq!(inst(" state BACKUP").0.vrrp.instances[0].priority, 100);
    assert_eq!(
        inst(" priority 255").0.vrrp.instances[0].state,
        VrrpState::Master
    );
    // Part C 5: eight characters on the wire; none with VRRPv3.
    let (m, w) = inst(" authentication {\n  auth_type PASS\n  auth_pass 123456789\n }");
    assert_eq!(
        m.vrrp.instances[0].authentication.as_ref().unwrap().pass,
        "12345678"
    );
    assert_eq!(
        messages(&w),
        ["/nonexistent/test.conf:1:1: vrrp_instance V: auth_pass is longer than 8 characters - truncating"]
    );
    let (m, _) = inst(" version 3\n authentication {\n  auth_type PASS\n  auth_pass 1234\n }");
    assert_eq!(m.vrrp.instances[0].authentication, None);
    // Part C 6: advert_int 1.4 is 1 s with v2, 140 cs with v3.
    assert_eq!(
        inst(" advert_int 1.4").0.vrrp.instances[0].advert_int_cs,
        100
    );
    assert_eq!(
        inst(" advert_int 1.4\n version 3").0.vrrp.instances[0].advert_int_cs,
        140
    );
    // IPv6 addresses make an instance VRRPv3.
    let (m, _) = inst(" virtual_ipaddress {\n  2001:db8::1/64\n }");
    assert_eq!(m.vrrp.instances[0].version, 3);
    let e = parse("vrrp_instance V {\n state MASTER\n}\n", Dialect::Keepalived).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:1:1: vrrp_instance V has no virtual_router_id"
    );
}

#[test]
fn lvs_globals() {
    let text = "global_defs {\n lvs_timeouts tcp 900 udp 60\n lvs_sync_daemon eth1 VI_9 12\n lvs_flush_onstop VS\n}\n";
    let (m, w) = parse_ok(text, Dialect::Keepalived);
    let t = m.global.lvs_timeouts.unwrap();
    assert_eq!((t.tcp_s, t.tcpfin_s, t.udp_s), (900, 0, 60));
    let s = m.global.lvs_sync_daemon.as_ref().unwrap();
    assert_eq!((s.instance.as_deref(), s.sync_id), (Some("VI_9"), Some(12)));
    assert_eq!(m.global.lvs_flush_on_stop, model::FlushOnStop::Vs);
    assert_eq!(
        messages(&w),
        [
            "/nonexistent/test.conf:3:28: lvs_sync_daemon: a positional sync id is deprecated - please use 'id'",
            "/nonexistent/test.conf:3:2: lvs_sync_daemon: vrrp_instance 'VI_9' is not defined",
        ]
    );
    assert!(matches!(
        m.requests()[0],
        Request::SetTimeouts(rvs_api::Timeouts {
            tcp_s: 900,
            tcpfin_s: 0,
            udp_s: 60
        })
    ));
}

#[test]
fn the_example_toml_parses_and_reads_back() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/rvs.toml");
    let (m, w) = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(w.is_empty(), "{:?}", messages(&w));
    assert_eq!(m.services.len(), 5);
    assert_eq!(m.services[4].keys.len(), 2, "the group's range");
    assert_eq!(m.services[3].laddr_pool.as_deref(), Some("fnat_pool"));
    assert_eq!(m.network.mark_rules[0].mark, 7);
    assert_eq!(m.global.lvs_timeouts.unwrap().tcp_s, 900);
    let back = parse_ok(&m.to_toml(), Dialect::Toml).0;
    assert_eq!(back, m);
}

#[test]
fn samples_round_trip_through_toml() {
    for name in [
        "spec_keepalived.conf",
        "spec_ldirectord.cf",
        "fnat.conf",
        "glob_main.conf",
    ] {
        let (m, _) = load(name);
        let text = m.to_toml();
        let (back, w) =
            parse(&text, Dialect::Toml).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        assert_eq!(back, m, "{name}:\n{text}");
        assert!(w.is_empty(), "{name}: {:?}", messages(&w));
    }
}

#[test]
fn toml_errors_have_positions() {
    let e = parse(
        "[[service]]\naddress = \"10.0.0.1:80\"\nprotocl = \"tcp\"\n",
        Dialect::Toml,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/test.conf:3:1: unknown field `protocl`"),
        "{e}"
    );
    let e = parse("[[service]]\naddress = \"10.0.0.300:80\"\n", Dialect::Toml).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:2:11: invalid address '10.0.0.300:80'"
    );
    let text = "[[service]]\naddress = \"10.0.0.1:80\"\nprotocol = \"tcp\"\n[[service.dest]]\naddress = \"10.0.0.2:80\"\n[[service.dest]]\naddress = \"10.0.0.2:80\"\n";
    let e = parse(text, Dialect::Toml).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:6:1: real server 10.0.0.2:80 is defined twice in virtual server 10.0.0.1:80 (first at /nonexistent/test.conf:4:1)"
    );
    let text = "[[service]]\naddress = \"10.0.0.1:80\"\n[[service.dest]]\naddress = \"10.0.0.2:80\"\nweight = 4294967295\n";
    let e = parse(text, Dialect::Toml).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:3:1: weight '4294967295' is outside range 0..2147483647"
    );
    let text = "[[service]]\nfwmark = 3\n[[service.dest]]\naddress = \"10.0.0.2\"\n[[service.dest.check]]\nkind = \"tcp_check\"\nmisc_path = \"/bin/true\"\n";
    let e = parse(text, Dialect::Toml).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:5:1: 'misc_path' is not a setting of TCP_CHECK"
    );
}

#[test]
fn dialects_are_detected() {
    let d = |p: &str, t: &str| Dialect::detect(Path::new(p), t);
    assert_eq!(d("/etc/rvs/rvs.toml", ""), Dialect::Toml);
    assert_eq!(d("/etc/ha.d/ldirectord.cf", ""), Dialect::Ldirectord);
    assert_eq!(d("/etc/ha.d/www.cf", ""), Dialect::Ldirectord);
    assert_eq!(
        d("/etc/ha.d/conf", "# x\ncheckinterval = 5\n"),
        Dialect::Ldirectord
    );
    assert_eq!(
        d("/etc/keepalived/keepalived.conf", "global_defs {\n}\n"),
        Dialect::Keepalived
    );
    assert_eq!(
        d(
            "/etc/keepalived/keepalived.conf",
            "! x\nvrrp_instance V {\n"
        ),
        Dialect::Keepalived
    );
}

// --- the TOML round trip over generated models ---------------------------

/// splitmix64: a small deterministic generator driven by proptest's seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn maybe<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.coin() {
            Some(f(self))
        } else {
            None
        }
    }
    fn duration(&mut self) -> Duration {
        if self.coin() {
            Duration::from_secs(self.range(0, 86_400))
        } else {
            Duration::from_micros(self.range(0, 100_000_000))
        }
    }
    fn word(&mut self) -> String {
        let n = self.range(1, 10);
        (0..n)
            .map(|_| *self.pick(&['a', 'z', 'Q', '0', '_', '-', '/', '.', ' ', 'é', '"', '\\']))
            .collect()
    }
    fn hex(&mut self, wild: bool) -> String {
        let n = self.range(1, 4) * 2;
        let digits: &[char] = if wild {
            &['0', '9', 'a', 'F', 'x', 'X']
        } else {
            &['0', '9', 'a', 'F']
        };
        (0..n).map(|_| *self.pick(digits)).collect()
    }
}

fn gen_tunnel(r: &mut Rng) -> Tunnel {
    match r.below(3) {
        0 => Tunnel {
            kind: TunnelKind::Ipip,
            port: 0,
            csum: *r.pick(&[TunnelCsum::NoCsum, TunnelCsum::Csum]),
        },
        1 => Tunnel {
            kind: TunnelKind::Gue,
            port: r.range(1, 65535) as u16,
            csum: *r.pick(&[TunnelCsum::NoCsum, TunnelCsum::Csum, TunnelCsum::RemCsum]),
        },
        _ => Tunnel {
            kind: TunnelKind::Gre,
            port: 0,
            csum: *r.pick(&[TunnelCsum::NoCsum, TunnelCsum::Csum]),
        },
    }
}

fn gen_method(r: &mut Rng) -> (Forward, Tunnel) {
    let f = *r.pick(&[
        Forward::Route,
        Forward::Tunnel,
        Forward::Masq,
        Forward::FullNat,
    ]);
    let t = if f == Forward::Tunnel {
        gen_tunnel(r)
    } else {
        Tunnel::default()
    };
    (f, t)
}

fn gen_ip(v6: bool, a: u64, b: u64) -> IpAddr {
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::new(
            0x2001,
            0xdb8,
            a as u16,
            0,
            0,
            0,
            0,
            b as u16 + 1,
        ))
    } else {
        IpAddr::V4(std::net::Ipv4Addr::new(
            10,
            a as u8,
            (b / 200) as u8,
            (b % 200) as u8 + 1,
        ))
    }
}

fn gen_check(r: &mut Rng) -> model::Check {
    use model::{Check, DnsCheck, HttpCheck, MiscCheck, SmtpCheck, StatusRange, UdpCheck, Url};
    let http = |r: &mut Rng| HttpCheck {
        urls: (0..r.range(1, 2))
            .map(|_| {
                let digest = r.maybe(|r| (0..32).map(|_| *r.pick(&['0', '7', 'a', 'f'])).collect());
                let regex = r
                    .maybe(Rng::word)
                    .filter(|w| regex::bytes::Regex::new(w).is_ok());
                let mut status_code: Vec<StatusRange> = (0..r.range(0, 2))
                    .map(|_| {
                        let first = r.range(100, 599) as u16;
                        let last = r.range(u64::from(first), 599) as u16;
                        StatusRange { first, last }
                    })
                    .collect();
                if status_code.is_empty() {
                    status_code.push(StatusRange::SUCCESS);
                }
                Url {
                    path: format!("/{}", r.word()),
                    digest,
                    status_code,
                    virtualhost: r.maybe(Rng::word),
                    regex,
                }
            })
            .collect(),
        http_protocol: *r.pick(&[
            HttpProtocol::Http10,
            HttpProtocol::Http10Close,
            HttpProtocol::Http11,
        ]),
        virtualhost: r.maybe(Rng::word),
        fast_recovery: r.coin(),
        enable_sni: false,
        sni_name: None,
        tls_compliant: false,
    };
    let kind = match r.below(8) {
        0 => CheckKind::Tcp,
        1 => CheckKind::Http(http(r)),
        2 => {
            let mut h = http(r);
            h.enable_sni = r.coin();
            h.sni_name = r.maybe(Rng::word);
            h.tls_compliant = r.coin();
            CheckKind::Ssl(h)
        }
        3 => CheckKind::Misc(MiscCheck {
            path: r.word(),
            timeout: r.duration(),
            dynamic: r.coin(),
            user: r.maybe(Rng::word),
        }),
        4 => CheckKind::Smtp(SmtpCheck {
            helo_name: r.maybe(Rng::word),
        }),
        5 => CheckKind::Dns(DnsCheck {
            query_type: *r.pick(&[
                DnsType::A,
                DnsType::Ns,
                DnsType::Cname,
                DnsType::Soa,
                DnsType::Mx,
                DnsType::Txt,
                DnsType::Aaaa,
            ]),
            name: r.word(),
        }),
        6 => CheckKind::Ping,
        _ => CheckKind::Udp(UdpCheck {
            payload: r.maybe(|r| r.hex(false)),
            require_reply: r.maybe(|r| if r.coin() { String::new() } else { r.hex(true) }),
            min_reply_length: r.range(0, 100) as u32,
            max_reply_length: r.range(0, 65535) as u32,
        }),
    };
    let misc = matches!(kind, CheckKind::Misc(_));
    let net = |r: &mut Rng, f: fn(&mut Rng) -> u64| if misc { None } else { r.maybe(f) };
    Check {
        connect_ip: net(r, |r| r.range(1, 250)).map(|n| IpAddr::from([192, 0, 2, n as u8])),
        connect_port: net(r, |r| r.range(1, 65535)).map(|p| p as u16),
        bindto: net(r, |r| r.range(1, 250)).map(|n| IpAddr::from([198, 51, 100, n as u8])),
        bind_port: net(r, |r| r.range(1, 65535)).map(|p| p as u16),
        bind_if: if misc { None } else { r.maybe(Rng::word) },
        fwmark: net(r, |r| r.range(1, u64::from(u32::MAX))).map(|m| m as u32),
        connect_timeout: if misc {
            model::CONNECT_TIMEOUT_DEFAULT
        } else {
            r.duration()
        },
        retry: r.below(1000) as u32,
        delay_before_retry: r.duration(),
        delay_loop: r.duration(),
        warmup: r.duration(),
        alpha: r.coin(),
        log_all_failures: r.coin(),
        kind,
    }
}

fn gen_service(r: &mut Rng, i: u64, pools: &[String]) -> model::Service {
    use model::{Dest, Service, SorryServer};
    let v6 = r.coin();
    let protocol = *r.pick(&[Protocol::Tcp, Protocol::Udp]);
    let (group, keys) = match r.below(3) {
        0 => {
            let port = r.range(1, 65535) as u16;
            (
                None,
                vec![ServiceKey::Inet {
                    protocol,
                    addr: SocketAddr::new(gen_ip(v6, i, 0), port),
                }],
            )
        }
        1 => (
            None,
            vec![ServiceKey::Fwmark {
                mark: 1000 + i as u32,
                ipv6: v6,
            }],
        ),
        _ => {
            let mut keys: Vec<ServiceKey> = (0..r.range(1, 3))
                .map(|k| ServiceKey::Inet {
                    protocol,
                    addr: SocketAddr::new(gen_ip(v6, i, k), r.range(0, 65535) as u16),
                })
                .collect();
            if r.coin() {
                keys.push(ServiceKey::Fwmark {
                    mark: 2000 + i as u32,
                    ipv6: v6,
                });
            }
            (Some(format!("group{i}")), keys)
        }
    };
    let has_addr = keys.iter().any(|k| matches!(k, ServiceKey::Inet { .. }));
    let has_mark = keys.iter().any(|k| matches!(k, ServiceKey::Fwmark { .. }));
    let zero_port = keys
        .iter()
        .any(|k| matches!(k, ServiceKey::Inet { addr, .. } if addr.port() == 0));
    let scheduler = r.pick(&model::SCHEDULERS).to_string();
    let names = rvs_api::sched_flag_names(&scheduler);
    let sched_flags = (0..3)
        .filter(|_| r.coin())
        .map(|b| names[b].to_string())
        .collect();
    let mut persistence_timeout_s =
        r.maybe(|r| r.range(1, u64::from(model::PERSISTENT_TIMEOUT_MAX_S)) as u32);
    if zero_port && persistence_timeout_s.is_none() {
        persistence_timeout_s = Some(360);
    }
    let persistence_netmask = persistence_timeout_s.and_then(|_| {
        r.maybe(|r| {
            if v6 {
                r.range(1, 128) as u32
            } else {
                r.next() as u32
            }
        })
    });
    let (forward, tunnel) = gen_method(r);
    let dests: Vec<Dest> = (0..r.range(1, 3))
        .map(|j| {
            let (forward, tunnel) = gen_method(r);
            let dv6 = if forward == Forward::Tunnel {
                r.coin()
            } else {
                v6
            };
            Dest {
                addr: SocketAddr::new(gen_ip(dv6, 100 + i, j), r.range(0, 65535) as u16),
                forward,
                tunnel,
                weight: if r.coin() {
                    r.range(0, 10) as u32
                } else {
                    r.range(0, u64::from(model::WEIGHT_MAX)) as u32
                },
                inhibit_on_failure: r.coin(),
                u_threshold: r.below(5) as u32,
                l_threshold: r.below(5) as u32,
                alpha: r.coin(),
                notify_up: r.maybe(Rng::word),
                notify_down: r.maybe(Rng::word),
                smtp_alert: r.coin(),
                checks: (0..r.range(0, 2)).map(|_| gen_check(r)).collect(),
            }
        })
        .collect();
    let sum: u64 = dests.iter().map(|d| u64::from(d.weight)).sum();
    let sum = u32::try_from(sum).unwrap_or(u32::MAX).max(1);
    let quorum = r.range(1, u64::from(sum.min(20))) as u32;
    let hysteresis = r.below(u64::from(quorum)) as u32;
    let sorry_server = r.maybe(|r| {
        let (f, t) = gen_method(r);
        let sv6 = if f == Forward::Tunnel { r.coin() } else { v6 };
        SorryServer {
            addr: SocketAddr::new(gen_ip(sv6, 200 + i, 0), r.range(0, 65535) as u16),
            forward: f,
            tunnel: t,
            inhibit: r.coin(),
        }
    });
    Service {
        group,
        keys,
        scheduler,
        sched_flags,
        one_packet: (!has_addr || protocol == Protocol::Udp) && r.coin(),
        persistence_timeout_s,
        persistence_netmask,
        persistence_engine: r.maybe(|_| "sip".to_string()),
        proxy_protocol: r.coin(),
        laddr_pool: if pools.is_empty() {
            None
        } else {
            r.maybe(|r| r.pick(pools).clone())
        },
        forward,
        tunnel,
        delay_loop: r.duration(),
        alpha: r.coin(),
        omega: r.coin(),
        inhibit_on_failure: r.coin(),
        ha_suspend: !has_mark && r.coin(),
        quorum,
        hysteresis,
        quorum_up: r.maybe(Rng::word),
        quorum_down: r.maybe(Rng::word),
        smtp_alert: r.coin(),
        sorry_server,
        dests,
        bgp_communities: gen_communities(r),
    }
}

fn gen_communities(r: &mut Rng) -> Vec<rvs_controlplane::config::bgp::Community> {
    use rvs_controlplane::config::bgp::Community;
    (0..r.below(3))
        .map(|_| {
            if r.coin() {
                Community::Standard(r.below(65536) as u16, r.below(65536) as u16)
            } else {
                Community::Large(r.below(1 << 32) as u32, r.below(9) as u32, u32::MAX)
            }
        })
        .collect()
}

fn gen_bgp(r: &mut Rng) -> rvs_controlplane::config::bgp::Bgp {
    use rvs_controlplane::config::bgp::{Bgp, Neighbor};
    Bgp {
        bird_socket: "/run/bird/bird.ctl".into(),
        bird_include: format!("/etc/bird/{}.conf", r.word()).into(),
        local_as: 1 + r.below(u64::from(u32::MAX) - 1) as u32,
        router_id: r.maybe(|r| std::net::Ipv4Addr::from(r.below(1 << 32) as u32)),
        local_address: r.maybe(|r| gen_ip(r.coin(), 7, 1)),
        local_port: r.maybe(|r| 1 + r.below(65535) as u16),
        neighbors: (0..1 + r.below(3))
            .map(|i| Neighbor {
                address: gen_ip(r.coin(), 8, i),
                asn: 1 + r.below(70000) as u32,
                port: r.maybe(|r| 1 + r.below(65535) as u16),
            })
            .collect(),
        hold_time: 3 + r.below(1000) as u16,
        bfd: r.coin(),
        communities: gen_communities(r),
        drain: r.coin(),
    }
}

fn gen_model(seed: u64) -> Model {
    use model::{
        Auth, AuthType, IfAddr, LaddrPool, LocalAddress, LvsTimeouts, PortAddress, Route,
        SyncGroup, Track, UnicastPeer, VirtualIp, VrrpInstance, VrrpScript,
    };
    let mut r = Rng(seed);
    let r = &mut r;
    let global = model::Global {
        router_id: r.maybe(Rng::word),
        vrrp_version: *r.pick(&[2, 3]),
        vrrp_strict: r.coin(),
        smtp_alert: r.maybe(Rng::coin),
        smtp_alert_checker: r.maybe(Rng::coin),
        lvs_flush: r.coin(),
        lvs_flush_on_stop: *r.pick(&[
            model::FlushOnStop::No,
            model::FlushOnStop::All,
            model::FlushOnStop::Vs,
        ]),
        vrrp_garp_interval: r.duration(),
        lvs_timeouts: r.maybe(|r| LvsTimeouts {
            tcp_s: r.below(1000) as u32,
            tcpfin_s: r.below(1000) as u32,
            udp_s: r.range(1, 1000) as u32,
        }),
        ..model::Global::default()
    };
    let pools: Vec<LaddrPool> = (0..r.below(3))
        .map(|p| LaddrPool {
            name: format!("pool{p}"),
            addresses: (0..r.range(1, 3))
                .map(|k| LocalAddress {
                    addr: IpAddr::from([198, 18, p as u8, k as u8 + 1]),
                    port: r.maybe(|_| "lan0".to_string()),
                })
                .collect(),
        })
        .collect();
    let pool_names: Vec<String> = pools.iter().map(|p| p.name.clone()).collect();
    let network = model::Network {
        addresses: (0..r.below(2))
            .map(|k| PortAddress {
                port: r.word(),
                address: IfAddr {
                    addr: IpAddr::from([198, 18, 9, k as u8 + 1]),
                    prefix_len: r.range(0, 32) as u8,
                },
            })
            .collect(),
        routes: (0..r.below(2))
            .map(|_| Route {
                dst: rvs_api::Prefix::new(IpAddr::from([198, 19, r.below(255) as u8, 0]), 24)
                    .unwrap(),
                via: r.maybe(|_| IpAddr::from([198, 18, 0, 1])),
                port: r.maybe(Rng::word),
            })
            .collect(),
        local_address_pools: pools,
        mark_rules: (0..r.below(3))
            .map(|k| rvs_api::MarkRule {
                mark: k as u32 + 1,
                protocol: r.maybe(|r| *r.pick(&[Protocol::Tcp, Protocol::Udp])),
                dst: rvs_api::Prefix::new(IpAddr::from([198, 18, 0, 100]), r.range(8, 32) as u8)
                    .unwrap(),
                dst_ports: (0..r.below(3))
                    .map(|_| {
                        let first = r.below(60000) as u16;
                        rvs_api::PortRange {
                            first,
                            last: first + r.below(100) as u16,
                        }
                    })
                    .collect(),
                src: r.maybe(|_| "198.18.0.0/16".parse().unwrap()),
            })
            .collect(),
    };
    let services = (0..r.below(5))
        .map(|i| gen_service(r, i, &pool_names))
        .collect();
    let scripts = (0..r.below(3))
        .map(|k| VrrpScript {
            name: format!("script{k}"),
            script: r.word(),
            interval: r.duration(),
            timeout: r.duration(),
            weight: r.range(0, 506) as i32 - 253,
            reverse: r.coin(),
            rise: r.range(1, 10) as u32,
            fall: r.range(1, 10) as u32,
            user: r.maybe(Rng::word),
            init_fail: r.coin(),
        })
        .collect();
    let track = |r: &mut Rng| Track {
        name: r.word(),
        weight: r.maybe(|r| r.range(0, 506) as i32 - 253),
        reverse: r.coin(),
    };
    let instances: Vec<VrrpInstance> = (0..r.below(3))
        .map(|k| {
            let version = *r.pick(&[2u8, 3]);
            let priority = r.range(1, 255) as u8;
            let v6 = version == 3 && r.coin();
            let vip = |r: &mut Rng| VirtualIp {
                address: IfAddr {
                    addr: gen_ip(v6, 50, r.below(100)),
                    prefix_len: r.range(8, 32) as u8,
                },
                brd: None,
                dev: r.maybe(Rng::word),
                scope: r.maybe(|_| "global".to_string()),
                label: r.maybe(|_| "eth0:vip".to_string()),
            };
            VrrpInstance {
                name: format!("VI_{k}"),
                state: *r.pick(&[VrrpState::Master, VrrpState::Backup]),
                interface: r.maybe(Rng::word),
                virtual_router_id: r.range(1, 255) as u8,
                priority,
                advert_int_cs: if version == 2 {
                    r.range(1, 255) as u32 * 100
                } else {
                    r.range(1, 4095) as u32
                },
                version,
                nopreempt: priority != 255 && r.coin(),
                preempt_delay: Duration::from_millis(r.below(1_000_000)),
                authentication: if version == 2 && !global.vrrp_strict {
                    r.maybe(|r| Auth {
                        kind: *r.pick(&[AuthType::Pass, AuthType::Ah]),
                        pass: r.word().chars().take(8).collect(),
                    })
                } else {
                    None
                },
                virtual_ipaddress: (0..r.below(3)).map(|_| vip(r)).collect(),
                virtual_ipaddress_excluded: (0..r.below(2)).map(|_| vip(r)).collect(),
                track_interface: (0..r.below(2)).map(|_| track(r)).collect(),
                track_script: (0..r.below(2)).map(|_| track(r)).collect(),
                notify_master: r.maybe(Rng::word),
                notify_backup: r.maybe(Rng::word),
                notify_fault: r.maybe(Rng::word),
                notify_stop: r.maybe(Rng::word),
                notify: r.maybe(Rng::word),
                unicast_src_ip: r.maybe(|_| gen_ip(false, 60, 1)),
                unicast_peer: (0..r.below(2))
                    .map(|n| UnicastPeer {
                        address: gen_ip(false, 61, n),
                        min_ttl: r.maybe(|r| r.below(255) as u8),
                        max_ttl: r.maybe(|r| r.below(255) as u8),
                    })
                    .collect(),
                mcast_src_ip: r.maybe(|_| gen_ip(false, 62, 1)),
                garp_master_delay_s: r.below(100) as u32,
                garp_master_repeat: r.below(100) as u32,
                garp_master_refresh_s: r.below(100) as u32,
                dont_track_primary: r.coin(),
                accept: r.coin(),
                smtp_alert: r.maybe(Rng::coin),
            }
        })
        .collect();
    let sync_groups = (0..r.below(2))
        .map(|k| SyncGroup {
            name: format!("VG_{k}"),
            group: instances.iter().map(|i| i.name.clone()).collect(),
            notify: r.maybe(Rng::word),
            track_script: (0..r.below(2)).map(|_| track(r)).collect(),
            smtp_alert: r.maybe(Rng::coin),
            ..SyncGroup::default()
        })
        .collect();
    Model {
        global,
        services,
        network,
        vrrp: model::Vrrp {
            scripts,
            sync_groups,
            instances,
        },
        bgp: r.maybe(gen_bgp),
        bgp_in_error: false,
    }
}

/// The model a seed gives resolves from its own TOML to itself.
fn round_trip(seed: u64) {
    let m = gen_model(seed);
    let text = m.to_toml();
    let back = match parse(&text, Dialect::Toml) {
        Ok((back, _)) => back,
        Err(e) => panic!("seed {seed}: {e}\n{text}"),
    };
    assert_eq!(back, m, "seed {seed}:\n{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_models_round_trip_through_toml(seed in any::<u64>()) {
        round_trip(seed);
    }
}

#[test]
fn generated_models_cover_every_variant() {
    let mut kinds = std::collections::HashSet::new();
    let mut forwards = std::collections::HashSet::new();
    let mut tunnels = std::collections::HashSet::new();
    let mut targets = std::collections::HashSet::new();
    for seed in 0..400 {
        let m = gen_model(seed);
        for s in &m.services {
            targets.insert(match (&s.group, s.keys[0]) {
                (Some(_), _) => "group",
                (None, ServiceKey::Inet { .. }) => "address",
                (None, ServiceKey::Fwmark { .. }) => "fwmark",
            });
            for d in &s.dests {
                forwards.insert(format!("{:?}", d.forward));
                if d.forward == Forward::Tunnel {
                    tunnels.insert(format!("{:?}", d.tunnel.kind));
                }
                for c in &d.checks {
                    kinds.insert(c.kind.keyword());
                }
            }
        }
        round_trip(seed);
    }
    assert_eq!(kinds.len(), 8, "{kinds:?}");
    assert_eq!(forwards.len(), 4, "{forwards:?}");
    assert_eq!(tunnels.len(), 3, "{tunnels:?}");
    assert_eq!(targets.len(), 3, "{targets:?}");
}

// --- the binary ------------------------------------------------------------

fn run(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rvs-controlplane"))
        .args(args)
        .output()
        .expect("run rvs-controlplane");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_prints_the_model_and_exits_0() {
    let f = fixture("unknown_block.conf");
    let (code, out, err) = run(&["--check", "--config", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Unknown keyword 'frobnicate'"), "{err}");
    let (back, _) = parse_ok(&out, Dialect::Toml);
    assert_eq!(back, load("unknown_block.conf").0);
}

#[test]
fn check_of_a_bad_file_exits_1_with_the_position() {
    let f = fixture("weight_range.conf");
    let (code, _out, err) = run(&["--check", "--config", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    // Every error is printed, marked; the rest of the file loads.
    assert!(
        err.contains(&format!(
            "{}:5:16: error: weight '2147483648' is outside range 0..2147483647\n",
            f.display()
        )),
        "{err}"
    );
    let (code, _, err) = run(&["--check", "--config", "/nonexistent/k.conf"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("/nonexistent/k.conf: error: cannot read: "),
        "{err}"
    );
}

#[test]
fn usage_and_modes() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Usage:"));
    let (code, _, err) = run(&["--bogus"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown argument '--bogus'") && err.contains("Usage:"),
        "{err}"
    );
    // The daemon refuses to start on a file it cannot load.
    let (code, _, err) = run(&["--config", "/nonexistent/k.conf"]);
    assert_eq!(code, 1);
    assert!(err.contains("the configuration does not load"), "{err}");
}

#[test]
fn blocks_where_none_belong_and_unknown_nested_blocks() {
    let e = parse(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  weight 1 {\n  }\n }\n}\n",
        Dialect::Keepalived,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:4:12: unexpected '{': 'weight' takes no block"
    );
    let e = parse("virtual_server 10.0.0.1 80\n", Dialect::Keepalived).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:1:1: 'virtual_server' needs a block: missing '{'"
    );
    // `{` on the next line opens the block; an unknown block inside a real
    // server is skipped whole.
    let (m, w) = parse_ok(
        "virtual_server 10.0.0.1 80\n{\n protocol TCP\n real_server 10.0.0.2 80 {\n  FOO_CHECK {\n   weight 9\n  }\n }\n}\n",
        Dialect::Keepalived,
    );
    assert_eq!(m.services[0].dests[0].weight, 1);
    assert!(messages(&w).contains(
        &"/nonexistent/test.conf:5:3: Unknown keyword 'FOO_CHECK' - skipping its block".to_string()
    ));
}

#[test]
fn scripts_users_groups_and_port_mapping() {
    let text = "virtual_server_group empty {\n}\n\
virtual_server group empty {\n real_server 10.0.0.2 80 {\n }\n}\n\
virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind DR\n quorum_down \"/bin/alert down\" nobody\n real_server 10.0.0.2 8080 {\n }\n}\n";
    let (m, w) = parse_ok(text, Dialect::Keepalived);
    assert_eq!(
        m.services.len(),
        1,
        "the empty group's virtual server is dropped"
    );
    let s = &m.services[0];
    assert_eq!(s.quorum_down.as_deref(), Some("/bin/alert down"));
    assert_eq!(s.dests[0].addr, sa("10.0.0.2:8080"), "kept as written");
    let r = m.requests();
    assert!(
        matches!(&r[2], Request::AddDest { dest, .. } if dest.addr == sa("10.0.0.2:80")),
        "direct routing takes the service's port: {r:?}"
    );
    assert_eq!(
        messages(&w),
        [
            "/nonexistent/test.conf:11:32: quorum_down: running the script as 'nobody' is not supported by rvs - ignoring the user",
            "/nonexistent/test.conf:1:1: virtual_server_group 'empty' has no members - ignoring its virtual server",
            "/nonexistent/test.conf:12:2: Virtual server 10.0.0.1:80: real server 10.0.0.2:8080 cannot map ports with DR - it gets port 80",
        ]
    );
}

#[test]
fn ldirectord_external_checks_and_ipv6() {
    let text = "checktimeout=4\n\
virtual6=[2001:db8::100]:80\n\
\treal6=[2001:db8::11]:8080 masq 3\n\
\tchecktype=external\n\
\tcheckcommand=/usr/local/bin/probe\n\
\tfallback6=[2001:db8::99]:80 masq\n\
virtual=10.0.0.1:25\n    real=10.0.0.2->10.0.0.3 gate\n    checktype=off\n";
    let (m, w) = parse_ok(text, Dialect::Ldirectord);
    let s = &m.services[0];
    assert_eq!(s.keys, [tcp("[2001:db8::100]:80")]);
    assert_eq!(s.scheduler, "wrr", "ldirectord's default");
    let d = &s.dests[0];
    assert_eq!(
        (d.addr, d.weight, d.forward),
        (sa("[2001:db8::11]:8080"), 3, Forward::Masq)
    );
    let CheckKind::Misc(mc) = &d.checks[0].kind else {
        panic!("{:?}", d.checks[0].kind)
    };
    assert_eq!(
        mc.path,
        "/usr/local/bin/probe 2001:db8::100 80 2001:db8::11 8080"
    );
    assert_eq!(mc.timeout, Duration::from_secs(4), "checktimeout");
    assert_eq!(
        s.sorry_server.as_ref().unwrap().addr,
        sa("[2001:db8::99]:80")
    );
    // checktype=off leaves the real servers out, so the virtual goes.
    assert_eq!(m.services.len(), 1);
    assert_eq!(
        messages(&w),
        [
            "/nonexistent/test.conf:9:15: checktype=off: ldirectord never activates the real servers - rvs leaves them out",
            "/nonexistent/test.conf:7:1: Virtual server 10.0.0.1:25 has no real servers - ignoring",
        ]
    );
    let e = parse(
        "virtual=10.0.0.1:80\n  real=10.0.0.2 gate\n",
        Dialect::Ldirectord,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:2:1: a virtual's directives are indented by a tab or at least 4 spaces"
    );
}

/// keepalived's `static_ipaddress` and `static_routes` become the network's
/// addresses and routes (`dev` naming a dataplane port), reach the
/// dataplane as one `SetNetwork`, and round-trip through TOML.
#[test]
fn static_addresses_and_routes_from_keepalived() {
    let text = "static_ipaddress {\n  198.18.2.2/24 dev lan0 scope global\n}\n\
                static_routes {\n  198.19.0.0/16 via 198.18.0.1 dev lan0\n  default via 198.18.0.1\n}\n";
    let (m, warnings) = parse_ok(text, Dialect::Keepalived);
    assert_eq!(
        messages(&warnings),
        ["/nonexistent/test.conf:2:26: static_ipaddress: 'scope' is not supported by rvs - ignoring"]
    );
    let set = m
        .requests()
        .into_iter()
        .find_map(|r| match r {
            Request::SetNetwork(n) => Some(n),
            _ => None,
        })
        .expect("a SetNetwork");
    assert_eq!(
        set.addresses,
        [rvs_api::NetAddress {
            port: "lan0".into(),
            addr: "198.18.2.2".parse().unwrap(),
            prefix_len: 24
        }]
    );
    let routes: Vec<String> = set
        .routes
        .iter()
        .map(|r| format!("{}/{} {:?} {:?}", r.dst.addr, r.dst.len, r.via, r.port))
        .collect();
    assert_eq!(
        routes,
        [
            "198.19.0.0/16 Some(198.18.0.1) Some(\"lan0\")",
            "0.0.0.0/0 Some(198.18.0.1) None"
        ]
    );
    assert_eq!(parse_ok(&m.to_toml(), Dialect::Toml).0, m);
    for (bad, why) in [
        (
            "static_ipaddress {\n  198.18.2.300/24 dev lan0\n}\n",
            "test.conf:2:3: invalid address",
        ),
        (
            "static_routes {\n  198.19.0.0/16 via nowhere\n}\n",
            "test.conf:2:21: 'nowhere' is not a gateway address",
        ),
        (
            "static_routes {\n  198.19.0.0/16\n}\n",
            "test.conf:2:3: a static route needs 'via GW' or 'dev PORT'",
        ),
    ] {
        let e = parse(bad, Dialect::Keepalived).expect_err(bad).to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
}

/// A fixed health: dests listed in `down` are down; `weights` override.
struct FixedHealth {
    down: Vec<usize>,
    weights: Vec<(usize, u32)>,
    quorum: bool,
}

impl model::HealthView for FixedHealth {
    fn dest(&self, _service: usize, dest: usize) -> (bool, u32) {
        let w = self
            .weights
            .iter()
            .find(|(d, _)| *d == dest)
            .map_or(1, |(_, w)| *w);
        (!self.down.contains(&dest), w)
    }

    fn quorum(&self, _service: usize) -> bool {
        self.quorum
    }
}

/// The dests a health gives the first service: "addr weight" each.
fn dests_under(text: &str, h: &FixedHealth) -> Vec<String> {
    let (m, _) = parse_ok(text, Dialect::Keepalived);
    m.requests_with(h)
        .into_iter()
        .filter_map(|r| match r {
            Request::AddDest { dest, .. } => Some(format!("{} {}", dest.addr, dest.weight)),
            _ => None,
        })
        .collect()
}

/// keepalived's effect of health (`spec/keepalived.md` §A.8, §A.9): a down
/// real server is removed, or kept at weight 0 with inhibit_on_failure; a
/// misc_dynamic weight replaces the configured one; without quorum the
/// sorry server replaces the real servers; sorry_server_inhibit keeps it
/// at weight 0 while the quorum holds.
#[test]
fn health_shapes_the_requests() {
    let vs = |extra: &str| {
        format!(
            "virtual_server 10.0.0.1 80 {{\n protocol TCP\n lb_kind NAT\n {extra}\n \
             real_server 10.0.0.2 8080 {{\n }}\n real_server 10.0.0.3 8080 {{\n inhibit_on_failure\n }}\n}}\n"
        )
    };
    let healthy = FixedHealth {
        down: vec![],
        weights: vec![(1, 10)],
        quorum: true,
    };
    assert_eq!(
        dests_under(&vs(""), &healthy),
        ["10.0.0.2:8080 1", "10.0.0.3:8080 10"]
    );
    let both_down = FixedHealth {
        down: vec![0, 1],
        weights: vec![],
        quorum: true,
    };
    assert_eq!(dests_under(&vs(""), &both_down), ["10.0.0.3:8080 0"]);
    let lost = FixedHealth {
        down: vec![0, 1],
        weights: vec![],
        quorum: false,
    };
    assert_eq!(
        dests_under(&vs("sorry_server 10.0.0.9 8080"), &lost),
        ["10.0.0.3:8080 0", "10.0.0.9:8080 1"]
    );
    // Quorum lost with live real servers: the sorry server takes their place.
    let lost_alive = FixedHealth {
        down: vec![],
        weights: vec![],
        quorum: false,
    };
    assert_eq!(
        dests_under(&vs("sorry_server 10.0.0.9 8080"), &lost_alive),
        ["10.0.0.3:8080 0", "10.0.0.9:8080 1"]
    );
    assert_eq!(
        dests_under(
            &vs("sorry_server 10.0.0.9 8080\n sorry_server_inhibit"),
            &healthy
        ),
        ["10.0.0.2:8080 1", "10.0.0.3:8080 10", "10.0.0.9:8080 0"]
    );
    // Without a sorry server a lost quorum changes nothing but the scripts.
    assert_eq!(
        dests_under(&vs(""), &lost_alive),
        ["10.0.0.2:8080 1", "10.0.0.3:8080 1"]
    );
}
