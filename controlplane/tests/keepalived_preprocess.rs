//! keepalived's configuration preprocessor (keepalived.conf(5), "ADVANCED
//! CONFIGURATION"), end to end: a file that uses it loads as the file it
//! expands to, for the config id it is read with.

use std::path::{Path, PathBuf};

use rvs_controlplane::config::{self, Dialect, Options};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn opts(id: &str) -> Options {
    Options {
        config_id: id.to_string(),
    }
}

fn report(text: &str, id: &str) -> config::Report {
    config::parse_report(
        text,
        Path::new("/nonexistent/k.conf"),
        Dialect::Keepalived,
        &opts(id),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn errors(r: &config::Report) -> Vec<String> {
    r.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn the_preprocessed_file_loads_as_its_expansion() {
    let main = fixture("pre/main.conf");
    for (id, expanded) in [
        ("lb1", "pre/expanded.conf"),
        ("lb2", "pre/expanded_other.conf"),
    ] {
        let got = config::load_report(&main, &opts(id)).unwrap();
        assert!(got.errors.is_empty(), "{:?}", errors(&got));
        let want = config::load_report(&fixture(expanded), &opts(id)).unwrap();
        assert!(want.errors.is_empty());
        assert_eq!(got.model, want.model, "config id {id}");
    }
    let m = config::load_report(&main, &opts("lb1")).unwrap().model;
    assert_eq!(m.global.router_id.as_deref(), Some("rvs_lb1"));
    assert_eq!(
        m.global.notification_email_from.as_deref(),
        Some("lb1#ops@example.com")
    );
    assert_eq!(m.services[0].dests.len(), 3);
    assert_eq!(m.vrrp.instances[0].priority, 150);
    assert_eq!(m.vrrp.instances[0].interface.as_deref(), Some("lan0"));
}

#[test]
fn conditional_lines_follow_the_config_id() {
    let text =
        "global_defs {\n  @main router_id main_router\n  @backup router_id backup_router\n}\n";
    let id = |c: &str| report(text, c).model.global.router_id;
    assert_eq!(id("main").as_deref(), Some("main_router"));
    assert_eq!(id("backup").as_deref(), Some("backup_router"));
    assert_eq!(id("other"), None);
    // `@^ID`: every id but that one.
    let text = "vrrp_instance V {\n  virtual_router_id 1\n  unicast_peer {\n    @^main 1.2.3.4\n    @^backup 1.2.3.5\n    @^backup2 1.2.3.6\n  }\n}\n";
    let peers: Vec<String> = report(text, "main").model.vrrp.instances[0]
        .unicast_peer
        .iter()
        .map(|p| p.address.to_string())
        .collect();
    assert_eq!(peers, ["1.2.3.5", "1.2.3.6"]);
}

#[test]
fn substitution_happens_at_use_and_recursively() {
    // keepalived.conf(5)'s own example: the value is read when used.
    let text = "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\nstatic_ipaddress {\n  ${ADDRESS_BASE}.100/32 dev lan0\n}\n$ADDRESS_BASE_SUB=10\nstatic_ipaddress {\n  ${ADDRESS_BASE}.100/32 dev lan0\n}\n";
    let m = report(text, "x").model;
    let addrs: Vec<String> = m
        .network
        .addresses
        .iter()
        .map(|a| a.address.to_string())
        .collect();
    assert_eq!(addrs, ["10.2.0.100/32", "10.2.10.100/32"]);
    // A parameter that expands to a conditional.
    let text = "$IF_MAIN=@main\nglobal_defs {\n  $IF_MAIN router_id r\n}\n";
    assert_eq!(
        report(text, "main").model.global.router_id.as_deref(),
        Some("r")
    );
    assert!(report(text, "backup").model.global.router_id.is_none());
}

#[test]
fn multiline_definitions_nest_and_sequences_repeat() {
    // keepalived.conf(5)'s nested example, reduced: 2 virtual servers of
    // 3 real servers each.
    let text = "$RS= \\\n  real_server 192.168.${VS_NUM}.${RS_NUM} 80 { \\\n    weight ${RS_NUM} \\\n  }\n\n$VS= \\\nvirtual_server 10.0.${VS_NUM}.4 80 { \\\n  protocol TCP \\\n  $RS_NUM=1 \\\n  $RS \\\n  $RS_NUM=2 \\\n  $RS \\\n  $RS_NUM=3 \\\n  $RS \\\n}\n\n~SEQ(VS_NUM, 0, 1) $VS\n";
    let r = report(text, "x");
    assert!(r.errors.is_empty(), "{:?}", errors(&r));
    let got: Vec<(String, Vec<(String, u32)>)> = r
        .model
        .services
        .iter()
        .map(|s| {
            (
                rvs_controlplane::config::model::key_text(&s.keys[0]),
                s.dests
                    .iter()
                    .map(|d| (d.addr.to_string(), d.weight))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].1,
        [
            ("192.168.1.1:80".to_string(), 1),
            ("192.168.1.2:80".to_string(), 2),
            ("192.168.1.3:80".to_string(), 3)
        ]
    );
    // ~SEQx gives hexadecimal; sequences on one line nest.
    let text = "vrrp_instance V {\n  virtual_router_id 1\n  virtual_ipaddress {\n    ~SEQx(AD2, 0x90, 0x10, 0xa0) ~SEQ(AD1, 2) fe81::10:${AD2}:${AD1}\n  }\n}\n";
    let vips: Vec<String> = report(text, "x").model.vrrp.instances[0]
        .virtual_ipaddress
        .iter()
        .map(|v| v.address.addr.to_string())
        .collect();
    assert_eq!(
        vips,
        [
            "fe81::10:90:1",
            "fe81::10:90:2",
            "fe81::10:a0:1",
            "fe81::10:a0:2"
        ]
    );
}

#[test]
fn builtins_escapes_and_continuations() {
    let text = "global_defs {\n  router_id ${_INSTANCE}-${_HASH}1 \\\n    # the rest of the line was continued\n  notification_email_from a\\!b\n}\nvirtual_server 10.0.0.1 \\\n  80 {\n  protocol TCP\n  real_server 10.0.0.2 ${_RANDOM 80 80} {\n  }\n}\n";
    let r = report(text, "lb9");
    assert!(r.errors.is_empty(), "{:?}", errors(&r));
    assert_eq!(r.model.global.router_id.as_deref(), Some("lb9-#1"));
    assert_eq!(
        r.model.global.notification_email_from.as_deref(),
        Some("a!b")
    );
    assert_eq!(r.model.services[0].dests[0].addr.to_string(), "10.0.0.2:80");
    std::env::set_var("RVS_TEST_PRE_ENV", "eth7");
    let text =
        "vrrp_instance V {\n  interface ${_ENV RVS_TEST_PRE_ENV}\n  virtual_router_id 1\n}\n";
    assert_eq!(
        report(text, "x").model.vrrp.instances[0]
            .interface
            .as_deref(),
        Some("eth7")
    );
}

#[test]
fn an_unexpanded_parameter_is_an_error_at_its_position() {
    // keepalived would make an interface literally named `$IF`.
    let text = "vrrp_instance V {\n  interface $IF\n  virtual_router_id 1\n}\nvrrp_instance W {\n  interface ${IF}.5\n  virtual_router_id 2\n}\nvrrp_instance X {\n  interface lan0\n  virtual_router_id 3\n  notify_master \"/bin/notify $HOME\"\n}\n";
    let r = report(text, "x");
    let names: Vec<&str> = r
        .model
        .vrrp
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["X"], "shell commands keep their $");
    let e = errors(&r);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("/nonexistent/k.conf:2:13: '$IF': parameter $IF is not defined"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("/nonexistent/k.conf:6:13: '${IF}.5': parameter $IF"),
        "{e:?}"
    );
    // Defined, but glued to text: keepalived does not substitute `$IF.5`.
    let text = "$IF=eth0\nvrrp_instance V {\n  interface x$IF.5\n  virtual_router_id 1\n}\n";
    let e = errors(&report(text, "x"));
    assert!(
        e[0].starts_with("/nonexistent/k.conf:3:14: 'x$IF.5'"),
        "{e:?}"
    );
}

#[test]
fn a_bad_sequence_is_an_error_and_its_line_is_left_out() {
    let text = "static_ipaddress {\n  ~SEQ(N, 1, -1, 3) 10.0.0.${N}/32 dev lan0\n  10.0.1.1/32 dev lan0\n}\n";
    let r = report(text, "x");
    assert_eq!(
        errors(&r),
        ["/nonexistent/k.conf:2:3: invalid ~SEQ: the step does not go from start to end"]
    );
    assert_eq!(r.model.network.addresses.len(), 1);
}

#[test]
fn check_takes_the_config_id() {
    let f = fixture("pre/main.conf");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rvs-controlplane"))
            .args(args)
            .output()
            .expect("run rvs-controlplane");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(&["--check", "-i", "lb1", "--config", f.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(out.contains("router_id = \"rvs_lb1\""), "{out}");
    let (code, out) = run(&["-t", "--config-id", "lb2", "-f", f.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(out.contains("router_id = \"rvs_lb2\""), "{out}");
}
