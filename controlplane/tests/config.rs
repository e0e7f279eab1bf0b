//! The configuration model against the samples of `spec/keepalived.md`
//! (copied exactly to `tests/fixtures/config/spec_*`), the malformed files
//! the spec and the design name (each error at its exact FILE:LINE:COL),
//! includes, dialect detection, and the `rvs-controlplane --check` binary
//! (the TOML round trip is `tests/toml.rs`).

mod common;
use common::{fixture, load, messages, parse, parse_ok, sa, tcp, udp};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use rvs_api::{DestStatus, Forward, LaddrStatus, Rates, Request, ServiceKey, ServiceStatus, Stats};
use rvs_controlplane::config::{self, model, CheckKind, Dialect, HttpProtocol, VrrpState};
use rvs_controlplane::rvsadm::save::format_save;
use rvs_controlplane::rvsadm::ServicesDb;

fn load_err(name: &str) -> String {
    match config::load(&fixture(name)) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => e.to_string(),
    }
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

#[test]
fn syn_proxy_in_keepalived_and_toml() {
    // keepalived.conf: `syn_proxy`, an rvs extension; saved as --synproxy.
    let text = "virtual_server 10.0.0.1 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  syn_proxy\n  real_server 10.0.1.1 8080 {\n  }\n}\n";
    let (m, w) = parse_ok(text, Dialect::Keepalived);
    assert!(w.is_empty(), "{:?}", messages(&w));
    assert!(m.services[0].synproxy);
    assert_eq!(
        table(&m.requests()),
        "-A -t 10.0.0.1:80 -s rr --synproxy\n-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 1\n"
    );
    // The TOML of that model, and back.
    let toml = m.to_toml();
    assert!(toml.contains("synproxy = true"), "{toml}");
    let (back, _) = parse_ok(&toml, Dialect::Toml);
    assert!(back.services[0].synproxy);
    // DR real servers: refused with the reason.
    let dr = text
        .replace("lb_kind NAT", "lb_kind DR")
        .replace(" 8080", " 80");
    let e = parse(&dr, Dialect::Keepalived).unwrap_err().to_string();
    assert!(
        e.contains("syn_proxy needs NAT or FNAT real servers"),
        "{e}"
    );
    // UDP: refused.
    let udp = text.replace("protocol TCP", "protocol UDP");
    let e = parse(&udp, Dialect::Keepalived).unwrap_err().to_string();
    assert!(e.contains("syn_proxy is only for TCP"), "{e}");
    // Off by default, and `syn_proxy off` turns it off.
    let off = text.replace("syn_proxy", "syn_proxy off");
    assert!(!parse_ok(&off, Dialect::Keepalived).0.services[0].synproxy);
    // A real server of the other family (FullNAT between families): the
    // proxy does not translate its handshake, refused.
    let xfam = text
        .replace("lb_kind NAT", "lb_kind FNAT")
        .replace("real_server 10.0.1.1 8080", "real_server 2001:db8::1 8080");
    let e = parse(&xfam, Dialect::Keepalived).unwrap_err().to_string();
    assert!(
        e.contains("syn_proxy does not support real servers of the other address family"),
        "{e}"
    );
    // sloppy_tcp beside it is reset with a warning: the proxy wants cookies.
    let sloppy = text.replace("  syn_proxy\n", "  syn_proxy\n  sloppy_tcp\n");
    let (m, w) = parse_ok(&sloppy, Dialect::Keepalived);
    assert!(m.services[0].synproxy && !m.services[0].sloppy_tcp);
    assert!(
        messages(&w)
            .iter()
            .any(|m| m.contains("sloppy_tcp cannot adopt connections of a syn_proxy service")),
        "{:?}",
        messages(&w)
    );
}
