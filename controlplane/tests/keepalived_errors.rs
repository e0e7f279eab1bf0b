//! How keepalived treats errors: a bad item is left out with its error at
//! FILE:LINE:COL, the rest loads; `--check` lists every error and warning
//! and exits non-zero on any error; a file that cannot be read or split
//! into blocks loads nothing.

use std::path::{Path, PathBuf};

use rvs_controlplane::config::{self, Dialect, Options};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn opts() -> Options {
    Options {
        config_id: "lb1".to_string(),
    }
}

fn report(text: &str) -> Result<config::Report, config::ConfigError> {
    config::parse_report(
        text,
        Path::new("/nonexistent/k.conf"),
        Dialect::Keepalived,
        &opts(),
    )
}

/// The fixture's expected `--check` stderr, with FILE for its path.
fn golden(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("golden file")
}

#[test]
fn every_bad_item_is_left_out_and_the_rest_loads() {
    let f = fixture("errors/items.conf");
    let r = config::load_report(&f, &opts()).unwrap();
    assert!(r.usable());
    let m = &r.model;
    // global_defs: the bad keyword only.
    assert_eq!(m.global.router_id.as_deref(), Some("lb1"));
    assert_eq!(m.global.vrrp_mcast_group4.to_string(), "224.0.0.18");
    // One static address and one route of two each.
    assert_eq!(m.network.addresses.len(), 1);
    assert_eq!(m.network.routes.len(), 1);
    // The bad virtual server is gone; of the other, the bad and the
    // duplicate real servers.
    assert_eq!(m.services.len(), 1);
    let dests: Vec<(String, u32)> = m.services[0]
        .dests
        .iter()
        .map(|d| (d.addr.to_string(), d.weight))
        .collect();
    assert_eq!(
        dests,
        [
            ("10.0.0.1:80".to_string(), 1),
            ("10.0.0.3:80".to_string(), 3)
        ]
    );
    // The shell's $HOST stays in the command.
    let misc = &m.services[0].dests[1].checks[0];
    assert!(
        format!("{misc:?}").contains("/usr/bin/check $HOST"),
        "{misc:?}"
    );
    // VI_1 is gone; VI_2 keeps its good address.
    let inst: Vec<(&str, usize)> = m
        .vrrp
        .instances
        .iter()
        .map(|i| (i.name.as_str(), i.virtual_ipaddress.len()))
        .collect();
    assert_eq!(inst, [("VI_2", 1)]);
    assert_eq!(r.errors.len(), 8);
}

#[test]
fn check_lists_every_error_with_its_position_and_exits_1() {
    let f = fixture("errors/items.conf");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rvs-controlplane"))
        .args(["--check", "--config", f.to_str().unwrap()])
        .output()
        .expect("run rvs-controlplane");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).replace(f.to_str().unwrap(), "FILE");
    assert_eq!(err, golden("errors/items.check"));
    // What loads is printed, and reads back as the same model.
    let toml = String::from_utf8_lossy(&out.stdout).into_owned();
    let (back, _) = config::parse(&toml, Path::new("x.toml"), Dialect::Toml).unwrap();
    assert_eq!(back, config::load_report(&f, &opts()).unwrap().model);
}

#[test]
fn a_file_that_cannot_be_split_into_blocks_loads_nothing() {
    for (text, why) in [
        (
            "virtual_server 10.0.0.1 80 {\n  protocol TCP\n",
            "1:1: 'virtual_server' block is not closed",
        ),
        ("global_defs {\n}\n}\n", "3:1: unexpected '}'"),
        (
            "global_defs {\n  router_id \"a\n}\n",
            "2:13: unterminated quoted string",
        ),
        (
            "includem /nonexistent/none-*.conf\n",
            "1:1: includem pattern",
        ),
    ] {
        let e = report(text).expect_err(text).to_string();
        assert!(e.contains(why), "{text}: {e}");
    }
    let e = config::load_report(Path::new("/nonexistent/k.conf"), &opts()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/k.conf: cannot read"),
        "{e}"
    );
}

#[test]
fn ldirectord_and_toml_stay_all_or_nothing() {
    let text = "[[service]]\naddress = \"10.0.0.1:80\"\nprotocol = \"tcp\"\n[[service.dest]]\naddress = \"10.0.0.2:80\"\n[[service.dest]]\naddress = \"10.0.0.2:80\"\n";
    let r = config::parse_report(text, Path::new("x.toml"), Dialect::Toml, &opts()).unwrap();
    assert_eq!(r.errors.len(), 1);
    assert!(!r.usable());
    assert!(config::parse(text, Path::new("x.toml"), Dialect::Toml).is_err());
}

#[test]
fn the_strict_forms_give_the_first_error() {
    let e = config::load(&fixture("errors/items.conf")).unwrap_err();
    assert!(e.to_string().contains(":5:23: '$GROUP'"), "{e}");
}

#[test]
fn a_reload_names_the_virtual_servers_it_loses() {
    let good = "virtual_server 10.0.0.1 80 {\n  protocol TCP\n  real_server 10.0.0.5 80 {\n  }\n}\nvirtual_server 10.0.0.2 80 {\n  protocol TCP\n  real_server 10.0.0.5 80 {\n  }\n}\n";
    // One bad line loses the second virtual server.
    let bad = good.replace(
        "virtual_server 10.0.0.2 80 {\n  protocol TCP",
        "virtual_server 10.0.0.2 80 {\n  protocol DCCP",
    );
    let old = report(good).unwrap().model;
    let r = report(&bad).unwrap();
    assert_eq!(r.errors.len(), 1);
    assert_eq!(
        rvs_controlplane::daemon::lost_services(&old, &r.model),
        ["tcp/10.0.0.2:80"]
    );
    assert!(rvs_controlplane::daemon::lost_services(&old, &old).is_empty());
}
