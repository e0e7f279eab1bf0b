//! rvs-dataplane's own configuration: a TOML file read with the `config`
//! crate, every key overridable by an environment variable
//! `RVS_DP_<KEY>` (nested keys joined by `__`, e.g. `RVS_DP_EAL__MEMORY_MB=256`).
//!
//! Contract: [`load`] either returns a validated [`DataplaneConfig`] or an
//! error that names the key and what is wrong with it.

use std::net::{Ipv4Addr, Ipv6Addr};

use rvs_dataplane::pipeline::{parse_ratemask6, IcmpLimits};
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
    /// The director's IPv6 address on this segment, `ADDRESS/PREFIX`
    /// (optional: without it, IPv6 dests cannot be reached through this
    /// port). Like `address`, it lives on the exception interface.
    #[serde(default)]
    pub address6: Option<String>,
    /// The segment's IPv4 MTU (what a tunnel packet must fit).
    #[serde(default = "default_mtu")]
    pub mtu: u16,
}

fn default_mtu() -> u16 {
    1500
}

/// The connection logic's IPVS sysctls (`spec/conn.md` §12).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnConfig {
    #[serde(default = "default_reuse_mode")]
    pub reuse_mode: u8,
    #[serde(default)]
    pub expire_nodest_conn: bool,
    #[serde(default)]
    pub expire_quiescent_template: bool,
    /// IPVS's `sloppy_tcp`: every service adopts mid-connection TCP packets
    /// (as a service's `--sloppy-tcp` does; decision 45).
    #[serde(default)]
    pub sloppy_tcp: bool,
    /// IPVS's defence strategies (`rvs_api::Defense`): modes 0..3, the
    /// threshold as the percentage of a core's table kept free, mode 3's
    /// drop rate. `rvsadm --set-defense` changes them at run time.
    #[serde(default)]
    pub drop_entry: u8,
    #[serde(default)]
    pub drop_packet: u8,
    #[serde(default)]
    pub secure_tcp: u8,
    #[serde(default = "default_amemthresh")]
    pub amemthresh: u8,
    #[serde(default = "default_am_droprate")]
    pub am_droprate: u32,
}

fn default_amemthresh() -> u8 {
    rvs_api::Defense::default().amemthresh
}

fn default_am_droprate() -> u32 {
    rvs_api::Defense::default().am_droprate
}

impl ConnConfig {
    /// The defence settings (checked when the dataplane applies them).
    pub fn defense(&self) -> rvs_api::Defense {
        rvs_api::Defense {
            drop_entry: self.drop_entry,
            drop_packet: self.drop_packet,
            secure_tcp: self.secure_tcp,
            amemthresh: self.amemthresh,
            am_droprate: self.am_droprate,
        }
    }
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            reuse_mode: default_reuse_mode(),
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            sloppy_tcp: false,
            drop_entry: 0,
            drop_packet: 0,
            secure_tcp: 0,
            amemthresh: default_amemthresh(),
            am_droprate: default_am_droprate(),
        }
    }
}

/// The sync backup's bounds (`[sync]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Entries a sync backup installs per second, over all workers; more
    /// are counted (`sync_rx_rate_limited`) and dropped. 0: no cap.
    #[serde(default = "default_install_rate")]
    pub install_rate: u32,
}

fn default_install_rate() -> u32 {
    rvs_dataplane::sync::INSTALL_RATE_DEFAULT
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            install_rate: default_install_rate(),
        }
    }
}

/// The rate limits on the ICMP errors the dataplane sends (port
/// unreachable, fragmentation needed, packet too big), as the kernel's
/// sysctls of the same names, with their defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpConfig {
    /// `net.ipv4.icmp_ratelimit`: milliseconds per limited message to one
    /// destination (0: no per-destination limit).
    #[serde(default = "default_icmp_ratelimit")]
    pub ratelimit_ms: u32,
    /// `net.ipv4.icmp_ratemask`: bit n limits ICMP type n.
    #[serde(default = "default_icmp_ratemask")]
    pub ratemask: u32,
    /// `net.ipv6.icmp.ratelimit`, in milliseconds.
    #[serde(default = "default_icmp6_ratelimit")]
    pub ratelimit6_ms: u32,
    /// `net.ipv6.icmp.ratemask`: the ICMPv6 types limited, as the kernel
    /// lists them ("0-1,3-127").
    #[serde(default = "default_icmp6_ratemask")]
    pub ratemask6: String,
    /// `net.ipv4.icmp_msgs_per_sec` (both families'): the global bucket's
    /// refill, split among the workers.
    #[serde(default = "default_icmp_msgs_per_sec")]
    pub msgs_per_sec: u32,
    /// `net.ipv4.icmp_msgs_burst`: the global bucket's size, split among
    /// the workers.
    #[serde(default = "default_icmp_msgs_burst")]
    pub msgs_burst: u32,
}

impl Default for IcmpConfig {
    fn default() -> Self {
        IcmpConfig {
            ratelimit_ms: default_icmp_ratelimit(),
            ratemask: default_icmp_ratemask(),
            ratelimit6_ms: default_icmp6_ratelimit(),
            ratemask6: default_icmp6_ratemask(),
            msgs_per_sec: default_icmp_msgs_per_sec(),
            msgs_burst: default_icmp_msgs_burst(),
        }
    }
}

impl IcmpConfig {
    /// The pipeline's limits; an error names the key.
    pub fn limits(&self) -> Result<IcmpLimits, String> {
        let ratemask6 =
            parse_ratemask6(&self.ratemask6).map_err(|e| format!("key `icmp.ratemask6`: {e}"))?;
        Ok(IcmpLimits {
            ratelimit_ms: self.ratelimit_ms,
            ratemask: self.ratemask,
            ratelimit6_ms: self.ratelimit6_ms,
            ratemask6,
            msgs_per_sec: self.msgs_per_sec,
            msgs_burst: self.msgs_burst,
        })
    }
}

fn default_icmp_ratelimit() -> u32 {
    IcmpLimits::default().ratelimit_ms
}
fn default_icmp_ratemask() -> u32 {
    IcmpLimits::default().ratemask
}
fn default_icmp6_ratelimit() -> u32 {
    IcmpLimits::default().ratelimit6_ms
}
fn default_icmp6_ratemask() -> String {
    "0-1,3-127".into()
}
fn default_icmp_msgs_per_sec() -> u32 {
    IcmpLimits::default().msgs_per_sec
}
fn default_icmp_msgs_burst() -> u32 {
    IcmpLimits::default().msgs_burst
}

/// Scheduler settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedConfig {
    /// Maglev (mh) lookup table size, a prime. The kernel's is 4093: set
    /// that to build the same tables as a kernel director.
    #[serde(default = "default_mh_table_size")]
    pub mh_table_size: u32,
    /// How many services may use lblc or lblcr at once (each has a
    /// locality cache on every worker).
    #[serde(default = "default_locality_caches")]
    pub locality_caches: u16,
    /// Destination addresses one locality cache remembers.
    #[serde(default = "default_locality_cache_entries")]
    pub locality_cache_entries: usize,
}

impl Default for SchedConfig {
    fn default() -> Self {
        SchedConfig {
            mh_table_size: default_mh_table_size(),
            locality_caches: default_locality_caches(),
            locality_cache_entries: default_locality_cache_entries(),
        }
    }
}

/// A classifier rule in the file (`[[mark_rules]]`): the fields of
/// `rvsadm --add-mark`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRuleConfig {
    pub mark: u32,
    /// `tcp` or `udp`; absent matches both.
    #[serde(default)]
    pub protocol: Option<String>,
    /// `A.B.C.D[/LEN]`.
    pub dst: String,
    /// `80,443,8000:8080`; absent matches every port.
    #[serde(default)]
    pub dst_ports: Option<String>,
    #[serde(default)]
    pub src: Option<String>,
}

impl MarkRuleConfig {
    pub fn to_rule(&self) -> Result<rvs_api::MarkRule, String> {
        let protocol = match self.protocol.as_deref() {
            None => None,
            Some("tcp") => Some(rvs_api::Protocol::Tcp),
            Some("udp") => Some(rvs_api::Protocol::Udp),
            Some("sctp") => Some(rvs_api::Protocol::Sctp),
            Some(p) => return Err(format!("protocol {p:?} is not tcp, udp or sctp")),
        };
        Ok(rvs_api::MarkRule {
            mark: self.mark,
            protocol,
            dst: self.dst.parse().map_err(|e| format!("dst: {e}"))?,
            dst_ports: match &self.dst_ports {
                Some(p) => {
                    rvs_api::PortRange::parse_list(p).map_err(|e| format!("dst_ports: {e}"))?
                }
                None => vec![],
            },
            src: match &self.src {
                Some(s) => Some(s.parse().map_err(|e| format!("src: {e}"))?),
                None => None,
            },
        })
    }
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
    /// The IPv6 connection table of each worker (its entries are larger).
    #[serde(default = "default_conns6")]
    pub conns6_per_core_max: usize,
    #[serde(default = "default_slots")]
    pub stats_slots_max: u32,
    #[serde(default = "default_neigh")]
    pub neigh_slots_max: u32,
    #[serde(default = "default_mbufs")]
    pub mbufs: u32,
    pub eal: EalConfig,
    pub ports: Vec<PortConfig>,
    #[serde(default)]
    pub conn: ConnConfig,
    #[serde(default)]
    pub sched: SchedConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub icmp: IcmpConfig,
    /// Firewall-mark classifier rules, applied at start in this order.
    #[serde(default)]
    pub mark_rules: Vec<MarkRuleConfig>,
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
fn default_conns6() -> usize {
    16_384
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
fn default_reuse_mode() -> u8 {
    1
}
fn default_mh_table_size() -> u32 {
    65537
}
fn default_locality_caches() -> u16 {
    4
}
fn default_locality_cache_entries() -> usize {
    16384
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

    /// `address6`, if set: (address, prefix length).
    pub fn parsed_address6(&self) -> Result<Option<(Ipv6Addr, u8)>, String> {
        let Some(text) = &self.address6 else {
            return Ok(None);
        };
        let (a, l) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not ADDRESS/PREFIX"))?;
        let addr: Ipv6Addr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IPv6 address"))?;
        let len: u8 = l
            .parse()
            .ok()
            .filter(|&l| (1..=128).contains(&l))
            .ok_or_else(|| format!("prefix length {l:?} is not 1..128"))?;
        Ok(Some((addr, len)))
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
    for (i, p) in cfg.ports.iter().enumerate() {
        if !(1280..=9216).contains(&p.mtu) {
            return Err(format!(
                "key `ports[{i}].mtu`: {} is not 1280..9216 (IPv6's minimum to a jumbo frame)",
                p.mtu
            ));
        }
    }
    if cfg.conns6_per_core_max == 0 || cfg.conns6_per_core_max > 1 << 26 {
        return Err(format!(
            "key `conns6_per_core_max`: {} is not 1..67108864",
            cfg.conns6_per_core_max
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
    if cfg.conn.reuse_mode > 3 {
        return Err(format!(
            "key `conn.reuse_mode`: {} is not 0..3",
            cfg.conn.reuse_mode
        ));
    }
    if let Err(rvs_dataplane::sched::BuildError::Invalid(m)) = rvs_dataplane::sched::build(
        "mh",
        &[],
        &rvs_dataplane::sched::BuildParams {
            mh_table_size: cfg.sched.mh_table_size,
            ..Default::default()
        },
    ) {
        return Err(format!("key `sched.mh_table_size`: {m}"));
    }
    if cfg.sched.locality_cache_entries == 0 || cfg.sched.locality_cache_entries > 1 << 24 {
        return Err(format!(
            "key `sched.locality_cache_entries`: {} is not 1..16777216",
            cfg.sched.locality_cache_entries
        ));
    }
    for (i, r) in cfg.mark_rules.iter().enumerate() {
        let rule = r
            .to_rule()
            .map_err(|e| format!("key `mark_rules[{i}]`: {e}"))?;
        rvs_dataplane::classify::check_rule(&rule)
            .map_err(|e| format!("key `mark_rules[{i}]`: {}", e.message))?;
    }
    cfg.icmp.limits()?;
    if cfg.icmp.msgs_burst == 0 && cfg.icmp.msgs_per_sec != 0 {
        return Err("key `icmp.msgs_burst`: 0 would send no limited message at all".into());
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
    fn the_lab_config_and_its_commented_example_load() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/lab-dataplane.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let c = load(path).unwrap();
        assert_eq!((c.conn.reuse_mode, c.sched.mh_table_size), (1, 65537));
        assert_eq!(c.sync.install_rate, 100_000);
        assert_eq!(c.conn.defense(), rvs_api::Defense::default());
        assert!(c.mark_rules.is_empty());
        // The commented [[mark_rules]] example is a valid rule.
        let example: String = text
            .lines()
            .skip_while(|l| *l != "# [[mark_rules]]")
            .map(|l| l.trim_start_matches("# "))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(example.starts_with("[[mark_rules]]"), "{example}");
        let f = write(&format!("{text}\n{example}\n"));
        let c = load(f.as_str()).unwrap();
        let rule = c.mark_rules[0].to_rule().unwrap();
        assert_eq!(
            rule.to_string(),
            "--add-mark 5 --proto tcp --dst 198.18.0.100/32 --dport 80,443 --src 198.18.0.0/24"
        );
    }

    #[test]
    fn good_config_loads_with_defaults() {
        let f = write(GOOD);
        let c = load(f.as_str()).unwrap();
        assert_eq!(c.workers, 1);
        assert_eq!(c.eal.hugepages, Hugepages::Auto);
        assert_eq!(c.admin_socket, rvs_api::DEFAULT_SOCKET_PATH);
        assert_eq!(c.ports[0].parsed_address().unwrap().prefix_len, 24);
        assert_eq!(c.icmp.limits().unwrap(), IcmpLimits::default());
    }

    #[test]
    fn icmp_limits_are_read() {
        let f = write(&format!(
            "{GOOD}\n[icmp]\nratelimit_ms = 250\nratemask = 8\nratelimit6_ms = 0\nratemask6 = \"1\"\nmsgs_per_sec = 10\nmsgs_burst = 5\n"
        ));
        let l = load(f.as_str()).unwrap().icmp.limits().unwrap();
        assert_eq!(
            l,
            IcmpLimits {
                ratelimit_ms: 250,
                ratemask: 8,
                ratelimit6_ms: 0,
                ratemask6: [2, 0, 0, 0],
                msgs_per_sec: 10,
                msgs_burst: 5,
            }
        );
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
            (
                format!("{GOOD}\n[sched]\nmh_table_size = 4096\n"),
                "`sched.mh_table_size`",
            ),
            (
                format!(
                    "{GOOD}\n[[mark_rules]]\nmark = 5\ndst = \"198.18.0.100\"\ndst_ports = \"90:80\"\n"
                ),
                "`mark_rules[0]`",
            ),
            (
                format!("{GOOD}\n[conn]\nreuse_mode = 7\n"),
                "`conn.reuse_mode`",
            ),
            (
                format!("{GOOD}\n[icmp]\nratemask6 = \"3-1\"\n"),
                "`icmp.ratemask6`",
            ),
            (
                format!("{GOOD}\n[icmp]\nmsgs_burst = 0\n"),
                "`icmp.msgs_burst`",
            ),
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
