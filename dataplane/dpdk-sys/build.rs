//! Builds the C shim and generates bindings against the system's DPDK
//! (`pkg-config libdpdk`, DPDK 22.11 LTS on Debian 12).
//!
//! Pitfalls handled here (all seen on the project's machines):
//! - the shim is compiled with `pkg-config --cflags libdpdk`, which carries
//!   `-include rte_config.h` and `-march=corei7`; `rte_memcpy.h` fails without
//!   the latter, and `-march=native` is never used;
//! - bindgen cannot evaluate `RTE_BIT64()`, so the shim exports those constants.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=csrc/shim.c");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    let dpdk = pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
        .unwrap_or_else(|e| {
            panic!(
                "DPDK 22.11 was not found through pkg-config ({e}). \
                 Install it with ./scripts/setup (apt-get install libdpdk-dev dpdk)."
            )
        });

    // The raw cflags, with -include and -march, exactly as pkg-config gives them.
    let cflags_out = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("pkg-config runs");
    let cflags: Vec<String> = String::from_utf8_lossy(&cflags_out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();

    let mut build = cc::Build::new();
    build.file("csrc/shim.c").opt_level(3).warnings(true);
    let mut iter = cflags.iter();
    while let Some(flag) = iter.next() {
        if flag == "-include" {
            if let Some(header) = iter.next() {
                build.flag("-include").flag(header);
            }
        } else {
            build.flag(flag);
        }
    }
    build.compile("rvs_dpdk_shim");

    let mut clang_args: Vec<String> = Vec::new();
    for path in &dpdk.include_paths {
        clang_args.push(format!("-I{}", path.display()));
    }
    let mut iter = cflags.iter();
    while let Some(flag) = iter.next() {
        if flag == "-include" {
            if let Some(header) = iter.next() {
                clang_args.push("-include".into());
                clang_args.push(header.clone());
            }
        } else if flag.starts_with("-I") || flag.starts_with("-march") || flag.starts_with("-D") {
            clang_args.push(flag.clone());
        }
    }

    let bindings = bindgen::Builder::default()
        .header("csrc/shim.h")
        .clang_args(&clang_args)
        .allowlist_function("rte_eal_.*|rte_eth_.*|rte_pktmbuf_pool_create|rte_mempool_.*|rte_thread_register|rte_thread_unregister|rte_strerror|rte_exit|rte_dev_probe|rte_lcore_.*|rvs_.*")
        .allowlist_type("rte_mbuf|rte_mempool|rte_eth_.*|rte_ether_addr")
        .allowlist_var("RVS_.*|RTE_ETHER_ADDR_LEN|RTE_MAX_ETHPORTS|RTE_ETH_NAME_MAX_LEN")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .expect("bindgen over the DPDK headers");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings");
}
