//! The rvs-dataplane binary refuses a bad configuration before it touches
//! DPDK: exit status 2, and the message names the key.

use std::process::Command;

fn run_with(config: &str) -> (i32, String) {
    let path = std::env::temp_dir().join(format!(
        "rvs-dp-cli-{}-{}.toml",
        std::process::id(),
        config.len()
    ));
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rvs-dataplane"))
        .args(["--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configs_exit_2_naming_the_key() {
    let good = "workers = 1\n[eal]\n[[ports]]\nname = \"lan0\"\ndevice = \"net_null0\"\nexception_iface = \"rvs0\"\naddress = \"198.18.0.2/24\"\n";
    for (config, key) in [
        (good.replace("workers = 1", "workers = 0"), "`workers`"),
        (
            good.replace("198.18.0.2/24", "198.18.0.300/24"),
            "`ports[0].address`",
        ),
        (
            good.replace("[eal]", "[eal]\nmemory_mb = 8"),
            "`eal.memory_mb`",
        ),
        (
            good.replace("[eal]", "[eal]\nhugepages = \"sometimes\""),
            "hugepages",
        ),
    ] {
        let (code, err) = run_with(&config);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("configuration error") && err.contains(key),
            "{key}: {err}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_rvs-dataplane"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: rvs-dataplane --config FILE"));
}
