//! rvs-dataplane's own configuration: a TOML file read with the `config`
//! crate, every key overridable by an environment variable
//! `RVS_DP_<KEY>` (nested keys joined by `__`, e.g. `RVS_DP_EAL__MEMORY_MB=256`).
//!
//! Contract: [`load`] either returns a validated [`DataplaneConfig`] or an
//! error that names the key and what is wrong with it.

use std::net::Ipv4Addr;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Hugepages {
    /// Hugepages when some are free and hugetlbfs is mounted, else `--no-huge`.
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EalConfig {
    #[serde(default = "default_hugepages")]
    pub hugepages: Hugepages,
    /// Memory for `--no-huge` (`-m`), in MB.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    /// `--file-prefix`: one per process, so several can run side by side.
    #[serde(default = "default_file_prefix")]
    pub file_prefix: String,
    /// The core of the control thread (DPDK's main lcore).
    #[serde(default)]
    pub main_core: usize,
    #[serde(default)]
    pub extra_args: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    pub name: String,
    /// A DPDK device string (`net_af_packet0,iface=lb0,...`); `qpairs=` is
    /// appended for af_packet when absent.
    pub device: String,
    /// The kernel TAP interface of this port's exception path.
    pub exception_iface: String,
    /// The director's own address on this segment, `A.B.C.D/len`.
    pub address: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataplaneConfig {
    #[serde(default = "default_socket")]
    pub admin_socket: String,
    #[serde(default = "default_workers")]
    pub workers: u16,
    /// CPU ids to pin workers to; default: the cores after `eal.main_core`.
    #[serde(default)]
    pub worker_cores: Vec<usize>,
    /// Nap this long when a poll round finds nothing; 0 = pure busy polling.
    #[serde(default)]
    pub idle_sleep_us: u32,
    #[serde(default = "default_conns")]
    pub conns_per_core_max: usize,
    #[serde(default = "default_slots")]
    pub stats_slots_max: u32,
    #[serde(default = "default_neigh")]
    pub neigh_slots_max: u32,
    #[serde(default = "default_mbufs")]
    pub mbufs: u32,
    pub eal: EalConfig,
    pub ports: Vec<PortConfig>,
}

fn default_hugepages() -> Hugepages {
    Hugepages::Auto
}
fn default_memory_mb() -> u32 {
    512
}
fn default_file_prefix() -> String {
    "rvs".into()
}
fn default_socket() -> String {
    rvs_api::DEFAULT_SOCKET_PATH.into()
}
fn default_workers() -> u16 {
    1
}
fn default_conns() -> usize {
    1 << 20
}
fn default_slots() -> u32 {
    4096
}
fn default_neigh() -> u32 {
    1024
}
fn default_mbufs() -> u32 {
    8191
}

/// A port's address, parsed.
#[derive(Debug, Clone, Copy)]
pub struct PortAddr {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl PortConfig {
    pub fn parsed_address(&self) -> Result<PortAddr, String> {
        let (a, l) = self
            .address
            .split_once('/')
            .ok_or_else(|| format!("{:?} is not ADDRESS/PREFIX", self.address))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IPv4 address"))?;
        let prefix_len: u8 = l
            .parse()
            .ok()
            .filter(|&l| (1..=32).contains(&l))
            .ok_or_else(|| format!("prefix length {l:?} is not 1..32"))?;
        Ok(PortAddr { addr, prefix_len })
    }
}

/// Read and validate the configuration.
pub fn load(path: &str) -> Result<DataplaneConfig, String> {
    let raw = config::Config::builder()
        .add_source(config::File::new(path, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("RVS_DP")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("worker_cores")
                .with_list_parse_key("eal.extra_args"),
        )
        .build()
        .map_err(|e| format!("{path}: {e}"))?;
    let cfg: DataplaneConfig = raw.try_deserialize().map_err(|e| format!("{path}: {e}"))?;
    validate(&cfg).map_err(|e| format!("{path}: {e}"))?;
    Ok(cfg)
}

fn validate(cfg: &DataplaneConfig) -> Result<(), String> {
    if cfg.workers == 0 || cfg.workers > 64 {
        return Err(format!("key `workers`: {} is not 1..64", cfg.workers));
    }
    if !cfg.worker_cores.is_empty() && cfg.worker_cores.len() != usize::from(cfg.workers) {
        return Err(format!(
            "key `worker_cores`: {} cores listed for {} workers",
            cfg.worker_cores.len(),
            cfg.workers
        ));
    }
    if cfg.conns_per_core_max == 0 || cfg.conns_per_core_max > 1 << 28 {
        return Err(format!(
            "key `conns_per_core_max`: {} is not 1..268435456",
            cfg.conns_per_core_max
        ));
    }
    if cfg.stats_slots_max == 0 {
        return Err("key `stats_slots_max`: must be at least 1".into());
    }
    if cfg.neigh_slots_max == 0 {
        return Err("key `neigh_slots_max`: must be at least 1".into());
    }
    if cfg.mbufs < 1024 {
        return Err(format!("key `mbufs`: {} is below 1024", cfg.mbufs));
    }
    if cfg.ports.is_empty() {
        return Err("key `ports`: at least one port is needed".into());
    }
    if cfg.eal.memory_mb < 64 {
        return Err(format!(
            "key `eal.memory_mb`: {} is below 64",
            cfg.eal.memory_mb
        ));
    }
    if cfg.admin_socket.is_empty() {
        return Err("key `admin_socket`: empty path".into());
    }
    for (i, p) in cfg.ports.iter().enumerate() {
        if p.device.is_empty() || p.device.contains(' ') {
            return Err(format!(
                "key `ports[{i}].device`: {:?} is not a DPDK device string",
                p.device
            ));
        }
        if p.exception_iface.is_empty() || p.exception_iface.len() > 15 {
            return Err(format!(
                "key `ports[{i}].exception_iface`: {:?} is not an interface name (1..15 characters)",
                p.exception_iface
            ));
        }
        p.parsed_address()
            .map_err(|e| format!("key `ports[{i}].address`: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(content: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::new(content)
    }

    /// A tiny temp-file helper (no extra dependency).
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn new(content: &str) -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "rvs-dp-cfg-{}-{}.toml",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::write(&p, content).unwrap();
                TempPath(p)
            }
            pub fn as_str(&self) -> &str {
                self.0.to_str().unwrap()
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    const GOOD: &str = r#"
workers = 1
[eal]
[[ports]]
name = "lan0"
device = "net_af_packet0,iface=lb0"
exception_iface = "rvs0"
address = "198.18.0.2/24"
"#;

    #[test]
    fn good_config_loads_with_defaults() {
        let f = write(GOOD);
        let c = load(f.as_str()).unwrap();
        assert_eq!(c.workers, 1);
        assert_eq!(c.eal.hugepages, Hugepages::Auto);
        assert_eq!(c.admin_socket, rvs_api::DEFAULT_SOCKET_PATH);
        assert_eq!(c.ports[0].parsed_address().unwrap().prefix_len, 24);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (GOOD.replace("workers = 1", "workers = 0"), "`workers`"),
            (
                GOOD.replace("198.18.0.2/24", "198.18.0.2"),
                "`ports[0].address`",
            ),
            (
                GOOD.replace("198.18.0.2/24", "198.18.0.2/33"),
                "`ports[0].address`",
            ),
            (
                GOOD.replace("\"rvs0\"", "\"a-very-long-interface-name\""),
                "`ports[0].exception_iface`",
            ),
            (
                GOOD.replace("workers = 1", "workers = 1\nbogus = 3"),
                "bogus",
            ),
            (GOOD.replace("workers = 1", "workers = \"many\""), "workers"),
        ];
        for (text, want) in cases {
            let f = write(&text);
            let e = load(f.as_str()).unwrap_err();
            assert!(e.contains(want), "error {e:?} should name {want}");
        }
    }

    #[test]
    fn missing_file_is_an_error() {
        assert!(load("/nonexistent/rvs.toml").is_err());
    }
}
