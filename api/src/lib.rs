//! The admin API between `rvs-dataplane` and its clients (`rvsadm`, and later
//! `rvs-controlplane`), the way `ipvsadm` talks to the kernel over netlink.
//!
//! Contract:
//! - transport: a Unix stream socket (mode 0600), [`DEFAULT_SOCKET_PATH`] unless
//!   configured otherwise;
//! - framing: each message is a 4-byte big-endian length followed by that many
//!   bytes of JSON; one request, one response, in order, on one connection;
//! - a request is an [`Envelope`] carrying [`API_VERSION`]; a server answers a
//!   version it does not speak with [`ErrorKind::Version`] and does nothing;
//! - requests larger than [`REQUEST_BYTES_MAX`] are refused before they are read;
//! - a request either applies whole or changes nothing and gets [`Response::Error`].
//!
//! This crate has no DPDK in it, so clients never link DPDK.

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The version of this message set. Bump on any incompatible change.
pub const API_VERSION: u32 = 1;
/// Largest request a server reads.
pub const REQUEST_BYTES_MAX: usize = 64 * 1024;
/// Largest response a client reads (connection listings can be long).
pub const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Where the dataplane listens unless its config says otherwise, and where
/// clients look unless `RVS_ADMIN_SOCKET` says otherwise.
pub const DEFAULT_SOCKET_PATH: &str = "/run/rvs/admin.sock";
/// Environment variable clients read for the socket path.
pub const SOCKET_ENV: &str = "RVS_ADMIN_SOCKET";

/// Transport protocol of an address service.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }
}

/// How a virtual service is identified (ipvsadm's `-t`, `-u`, `-f`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// `-t ADDR:PORT` / `-u ADDR:PORT`.
    Inet {
        protocol: Protocol,
        addr: SocketAddr,
    },
    /// `-f MARK [-6]`.
    Fwmark { mark: u32, ipv6: bool },
}

/// Forwarding method of a dest (ipvsadm's `-g`, `-i`, `-m`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Forward {
    /// Direct routing, `-g` (the default): only the MAC changes.
    Route,
    /// IP-in-IP tunnelling, `-i`.
    Tunnel,
    /// NAT (masquerading), `-m`.
    Masq,
    /// FullNAT (DPVS's `-b`, `--fullnat`): the client's address and port
    /// become a local address of the service's pool and one of its ports.
    FullNat,
}

/// An address prefix: `addr/len` with the host bits zero.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// `addr/len`, with the host bits cleared; `None` if `len` is longer
    /// than the address.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        match addr {
            IpAddr::V4(a) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                Some(Prefix {
                    addr: IpAddr::V4((u32::from(a) & mask).into()),
                    len,
                })
            }
            IpAddr::V6(a) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                Some(Prefix {
                    addr: IpAddr::V6((u128::from(a) & mask).into()),
                    len,
                })
            }
            _ => None,
        }
    }

    /// Whether `addr` lies in this prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        Prefix::new(addr, self.len).is_some_and(|p| p.addr == self.addr)
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;

    /// `ADDR` (a host) or `ADDR/LEN`.
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("{a:?} is not an address"))?;
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => full,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= full)
                .ok_or_else(|| format!("{l:?} is not a prefix length 0..{full}"))?,
        };
        Prefix::new(addr, len).ok_or_else(|| format!("{s:?} is not a prefix"))
    }
}

/// An inclusive range of ports.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// A comma-separated list of ports and `FIRST:LAST` ranges, as
    /// iptables' `--dports` takes it: `80,443,8000:8080`.
    pub fn parse_list(s: &str) -> Result<Vec<PortRange>, String> {
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port 0..65535"))
        };
        s.split(',')
            .map(|item| {
                let (first, last) = match item.split_once(':') {
                    Some((a, b)) => (port(a)?, port(b)?),
                    None => {
                        let p = port(item)?;
                        (p, p)
                    }
                };
                if first > last {
                    return Err(format!("port range {item:?} is empty"));
                }
                Ok(PortRange { first, last })
            })
            .collect()
    }
}

/// A firewall-mark classifier rule: what `iptables -t mangle -A PREROUTING
/// ... -j MARK --set-mark N` does for kernel LVS, since no iptables sees the
/// dataplane's packets. Rules are tried in the order they were added; the
/// first that matches sets the packet's mark.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct MarkRule {
    /// The mark to set (1..); a fwmark service with this mark takes the packet.
    pub mark: u32,
    /// TCP or UDP; `None` matches both.
    pub protocol: Option<Protocol>,
    /// Destination prefix (a VIP is a /32 or /128).
    pub dst: Prefix,
    /// Destination ports; empty matches every port.
    pub dst_ports: Vec<PortRange>,
    /// Source prefix; `None` matches every client.
    pub src: Option<Prefix>,
}

impl std::fmt::Display for MarkRule {
    /// The rule as the `rvsadm` options that add it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--add-mark {}", self.mark)?;
        if let Some(p) = self.protocol {
            write!(
                f,
                " --proto {}",
                if p == Protocol::Tcp { "tcp" } else { "udp" }
            )?;
        }
        write!(f, " --dst {}", self.dst)?;
        if !self.dst_ports.is_empty() {
            let ports: Vec<String> = self
                .dst_ports
                .iter()
                .map(|r| {
                    if r.first == r.last {
                        r.first.to_string()
                    } else {
                        format!("{}:{}", r.first, r.last)
                    }
                })
                .collect();
            write!(f, " --dport {}", ports.join(","))?;
        }
        if let Some(s) = self.src {
            write!(f, " --src {s}")?;
        }
        Ok(())
    }
}

/// Service settings (ipvsadm `-A`/`-E`: a full replacement on edit).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Scheduler name, e.g. `rr`, `wlc`.
    pub scheduler: String,
    /// Persistence timeout in seconds (`-p`), `None` when not persistent.
    pub persistent_timeout_s: Option<u32>,
    /// Persistence netmask (`-M`): for IPv4 the mask as a host-order u32
    /// (255.255.255.0 is `0xFFFF_FF00`; non-contiguous masks allowed), for
    /// IPv6 a prefix length 1..=128; `None` is the default (/32, /128).
    pub netmask: Option<u32>,
    /// Scheduler flags (`-b`), as names (`sh-fallback`, ...).
    pub sched_flags: Vec<String>,
    /// One-packet scheduling (`-o`).
    pub one_packet: bool,
    /// Persistence engine (`--pe`).
    pub persistence_engine: Option<String>,
    /// FullNAT dests get the client's address as a PROXY protocol v2 header
    /// at the start of each TCP stream instead of the TOA option
    /// (`--proxy-protocol v2`, DPVS's extension).
    #[serde(default)]
    pub proxy_protocol: bool,
}

impl ServiceConfig {
    /// A service with `scheduler` and nothing else set: not persistent, no
    /// flags (what `ipvsadm -A ... -s SCHED` sends).
    pub fn new(scheduler: impl Into<String>) -> Self {
        ServiceConfig {
            scheduler: scheduler.into(),
            persistent_timeout_s: None,
            netmask: None,
            sched_flags: vec![],
            one_packet: false,
            persistence_engine: None,
            proxy_protocol: false,
        }
    }
}

/// A dest (real server) and its settings (ipvsadm `-a`/`-e`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DestConfig {
    pub addr: SocketAddr,
    pub forward: Forward,
    pub weight: u32,
    /// Upper connection threshold (`-x`), 0 = none.
    pub u_threshold: u32,
    /// Lower connection threshold (`-y`), 0 = none.
    pub l_threshold: u32,
    /// How a tunnel dest encapsulates (ignored for other methods).
    #[serde(default)]
    pub tunnel: Tunnel,
}

/// The encapsulation of a tunnel dest (`-i`): ipvsadm's `--tun-type`,
/// `--tun-port` and `--tun-nocsum`/`--tun-csum`/`--tun-remcsum`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tunnel {
    pub kind: TunnelKind,
    /// The UDP destination port of GUE; 0 for the others.
    pub port: u16,
    pub csum: TunnelCsum,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// IP-in-IP (the default).
    #[default]
    Ipip,
    /// Generic UDP Encapsulation.
    Gue,
    /// GRE.
    Gre,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TunnelCsum {
    /// No checksum in the encapsulation (the default).
    #[default]
    NoCsum,
    /// A checksum over the encapsulation.
    Csum,
    /// Remote checksum offload (GUE only).
    RemCsum,
}

/// Traffic counters, as ipvsadm's `--stats` shows them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub conns: u64,
    pub in_pkts: u64,
    pub out_pkts: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
}

/// A dest as listed: its settings, its connection counts and its counters.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DestStatus {
    pub config: DestConfig,
    pub active_conns: u64,
    pub inactive_conns: u64,
    pub persist_conns: u64,
    pub stats: Stats,
    #[serde(default)]
    pub rates: Rates,
}

/// A service as listed. `dests` are in scheduling order: newest first, as the
/// kernel keeps them; listing tools sort for display.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ServiceStatus {
    pub key: ServiceKey,
    pub config: ServiceConfig,
    pub stats: Stats,
    /// The estimated rates (`--rate`).
    #[serde(default)]
    pub rates: Rates,
    pub dests: Vec<DestStatus>,
}

/// Rates as IPVS's estimator gives them (`-L --rate`): connections, packets
/// and bytes per second, a moving average over about 8 s sampled every 2 s.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rates {
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

/// What the dataplane says about itself.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// rvs's own version.
    pub version: String,
    /// The IPVS version ipvsadm's banner shows (`0x010201` = 1.2.1).
    pub ipvs_version: u32,
    /// Connection hash buckets, shown by ipvsadm as `size=`.
    pub conn_table_size: u32,
    /// Number of worker cores.
    pub workers: u32,
    /// The configuration generation the control thread last published.
    pub generation: u64,
}

/// One named counter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    pub name: String,
    pub value: u64,
}

/// Dataplane-wide counters: packets by verdict and drops by reason, summed
/// over the workers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub counters: Vec<Counter>,
}

impl Counters {
    /// The value of the counter called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.counters
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value)
    }
}

/// An address of the director on one of the dataplane's ports, beyond the
/// one its configuration gives the port: it goes on the port's exception
/// interface (the kernel answers for it) and its network becomes directly
/// connected for the dataplane.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct NetAddress {
    /// The port's name (`[[ports]] name` of the dataplane's configuration).
    pub port: String,
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// A static route: real servers in `dst` are reached through `via` (on a
/// directly connected network), or directly on `port` when there is no
/// `via`. It serves the dataplane (NAT, tunnel and FullNAT real servers off
/// the segment) and the kernel (health checks) alike.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct NetRoute {
    pub dst: Prefix,
    pub via: Option<IpAddr>,
    pub port: Option<String>,
}

/// The director's own network settings beyond the dataplane's configuration
/// file (`SetNetwork` replaces them all).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    pub addresses: Vec<NetAddress>,
    pub routes: Vec<NetRoute>,
}

/// One worker core's load: the cycles of its poll loop and how many of them
/// were spent on iterations that had work, and its inbound hand-off ring.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreStatus {
    pub core: u32,
    /// Time-stamp counter cycles of the poll loop since start.
    pub cycles: u64,
    /// Of those, the cycles of iterations that received or sent something.
    pub busy_cycles: u64,
    /// The busy share of the last estimator interval (about 2 s), in
    /// millionths.
    pub busy_ppm: u32,
    /// Frames waiting in the ring of frames other cores hand to this one.
    pub handoff_depth: u32,
    pub handoff_capacity: u32,
}

/// A request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Info,
    AddService {
        key: ServiceKey,
        config: ServiceConfig,
    },
    EditService {
        key: ServiceKey,
        config: ServiceConfig,
    },
    DelService {
        key: ServiceKey,
    },
    Clear,
    AddDest {
        service: ServiceKey,
        dest: DestConfig,
    },
    EditDest {
        service: ServiceKey,
        dest: DestConfig,
    },
    DelDest {
        service: ServiceKey,
        addr: SocketAddr,
    },
    /// All services, or one.
    List {
        service: Option<ServiceKey>,
    },
    /// Zero the counters of all services, or of one.
    Zero {
        service: Option<ServiceKey>,
    },
    Counters,
    /// Append a classifier rule.
    AddMarkRule(MarkRule),
    /// Delete the rule equal to this one.
    DelMarkRule(MarkRule),
    /// Delete every rule that sets this mark.
    DelMarkRules {
        mark: u32,
    },
    /// The classifier rules, in match order.
    ListMarkRules,
    /// Add a local address to a service's FullNAT pool (DPVS's
    /// `ipvsadm --add-laddr -t VIP:PORT -z ADDR`).
    AddLaddr {
        service: ServiceKey,
        addr: IpAddr,
    },
    DelLaddr {
        service: ServiceKey,
        addr: IpAddr,
    },
    /// The local addresses of all services, or of one.
    ListLaddrs {
        service: Option<ServiceKey>,
    },
    /// The connection entries of every core (`-Lnc`).
    ListConns,
    /// Changes applied together, as one generation, or not at all (the
    /// control plane's reconcile): the answer is `Ok` or the first refusal.
    Batch(Vec<Request>),
    /// The connection timeouts ipvsadm's `--set` sets (`-L --timeout`).
    GetTimeouts,
    /// `--set tcp tcpfin udp`: seconds; 0 leaves that one as it is.
    SetTimeouts(Timeouts),
    /// The director's extra addresses and its static routes.
    GetNetwork,
    /// Replace them: refused, changing nothing, when a port is unknown, a
    /// gateway is on no connected network, or a real server in use would
    /// lose its way (a direct-routing one must stay directly connected).
    SetNetwork(Network),
    /// Each worker core's load and ring depths.
    Cores,
    /// The addresses this director does not own now, replacing the last
    /// list: ARP and ND for them are not answered (a VRRP backup's VIPs;
    /// FullNAT local addresses follow their VIPs by being listed too).
    ReleaseVips(Vec<IpAddr>),
    /// The list `ReleaseVips` set.
    ReleasedVips,
    /// Announce these addresses now: one gratuitous ARP (IPv4) or
    /// unsolicited Neighbour Advertisement (IPv6) each, from the port whose
    /// network holds it (a new VRRP master; repeats are the caller's).
    Announce(Vec<IpAddr>),
    /// `--start-daemon master|backup`: start (or reconfigure) that sync
    /// daemon (IPVS's connection synchronisation, `spec/ipvsadm.md`).
    StartDaemon(SyncDaemon),
    /// `--stop-daemon master|backup`.
    StopDaemon(SyncRole),
    /// `--list --daemon`: the running daemons, master first.
    Daemons,
}

/// Which side of connection sync a daemon is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum SyncRole {
    Master,
    Backup,
}

impl SyncRole {
    pub fn name(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
        }
    }
}

/// A sync daemon's settings, ipvsadm's options and defaults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SyncDaemon {
    pub role: SyncRole,
    /// `--mcast-interface`: the director's interface the datagrams use (on
    /// rvs, a port's exception interface; `None`: the first port's).
    pub interface: Option<String>,
    /// `--syncid` 0..255; a backup with 0 takes any.
    pub syncid: u8,
    /// `--sync-maxlen`: the largest datagram (default: the interface's MTU
    /// less 28).
    pub maxlen: Option<u16>,
    /// `--mcast-group` (default 224.0.0.81) or a unicast peer.
    pub group: Option<IpAddr>,
    /// `--mcast-port` (default 8848).
    pub port: Option<u16>,
    /// `--mcast-ttl` (default 1).
    pub ttl: Option<u8>,
}

/// A running sync daemon and what it did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SyncDaemonStatus {
    pub config: SyncDaemon,
    /// The values in use (defaults filled in).
    pub interface: String,
    pub maxlen: u16,
    pub group: IpAddr,
    pub port: u16,
    pub ttl: u8,
    /// Master: datagrams and entries sent, and send errors. Backup:
    /// datagrams and entries received, entries installed, and datagrams
    /// refused (bad, or another syncid).
    pub datagrams: u64,
    pub entries: u64,
    pub errors: u64,
}

/// The timeouts of `ipvsadm --set`/`-L --timeout`, in seconds: ESTABLISHED,
/// FIN_WAIT and UDP (`spec/conn.md` §4).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_s: u32,
    pub tcpfin_s: u32,
    pub udp_s: u32,
}

/// The longest timeout `--set` takes (31 days, as ipvsadm).
pub const TIMEOUT_MAX_S: u32 = 2_678_400;

/// A local address of a service's FullNAT pool, as listed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LaddrStatus {
    pub service: ServiceKey,
    pub addr: IpAddr,
    /// Connections using one of its ports now.
    pub conns: u64,
    /// New connections that found every port of it taken (DPVS's
    /// CONFLICTS): a pool too small for the load shows here.
    pub exhausted: u64,
}

/// A request with the version it speaks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub version: u32,
    pub request: Request,
}

/// Why a request failed. The kinds follow the kernel's errno values that
/// ipvsadm turns into its messages; `message` is for humans.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// EEXIST: the service or dest already exists.
    Exists,
    /// ESRCH: no such service.
    NoService,
    /// ENOENT: no such dest, or no such scheduler.
    NotFound,
    /// EINVAL: the request is not valid.
    Invalid,
    /// EOPNOTSUPP: this dataplane does not do that (yet).
    NotSupported,
    /// ENOMEM: a table sized at start-up is full.
    NoMemory,
    /// The request speaks another API version.
    Version,
    /// The request could not be decoded, or was too large.
    BadRequest,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}

/// A response.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Ok,
    Error(ApiError),
    Info(Info),
    Services(Vec<ServiceStatus>),
    Counters(Counters),
    MarkRules(Vec<MarkRule>),
    Laddrs(Vec<LaddrStatus>),
    Timeouts(Timeouts),
    Conns(Vec<ConnStatus>),
    Network(Network),
    Cores(Vec<CoreStatus>),
    Released(Vec<IpAddr>),
    Daemons(Vec<SyncDaemonStatus>),
}

/// A connection entry as `ipvsadm -Lnc` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ConnStatus {
    /// `None` for a firewall-mark persistence template (IPVS's protocol 0,
    /// shown as `IP`).
    pub protocol: Option<Protocol>,
    pub client: SocketAddr,
    pub virtual_addr: SocketAddr,
    pub dest: SocketAddr,
    /// IPVS's state name (`ESTABLISHED`, ..., `UDP`, `NONE` for templates).
    pub state: String,
    pub expires_s: u64,
}

/// Write one frame: length, then JSON.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("message too large"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    Io(io::Error),
    /// The announced length is over the limit; nothing more was read.
    TooLarge {
        len: usize,
        max: usize,
    },
    /// The body is not a valid message.
    Decode(serde_json::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes is over the limit of {max}")
            }
            FrameError::Decode(e) => write!(f, "undecodable message: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Read one frame of at most `max` bytes and decode it.
pub fn read_frame<R: Read, T: for<'de> Deserialize<'de>>(
    r: &mut R,
    max: usize,
) -> Result<T, FrameError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(FrameError::Io)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(FrameError::Io)?;
    serde_json::from_slice(&body).map_err(FrameError::Decode)
}

/// The socket path a client should use: `RVS_ADMIN_SOCKET`, else the default.
pub fn socket_path_from_env() -> String {
    std::env::var(SOCKET_ENV).unwrap_or_else(|_| DEFAULT_SOCKET_PATH.to_string())
}

/// Send one request and wait for its response.
pub fn call(path: impl AsRef<Path>, request: Request) -> Result<Response, FrameError> {
    let mut stream = UnixStream::connect(path).map_err(FrameError::Io)?;
    let timeout = Some(Duration::from_secs(10));
    stream.set_read_timeout(timeout).map_err(FrameError::Io)?;
    stream.set_write_timeout(timeout).map_err(FrameError::Io)?;
    let envelope = Envelope {
        version: API_VERSION,
        request,
    };
    write_frame(&mut stream, &envelope).map_err(FrameError::Io)?;
    read_frame(&mut stream, RESPONSE_BYTES_MAX)
}

/// The family of a service key's addresses.
pub fn key_is_ipv6(key: &ServiceKey) -> bool {
    match key {
        ServiceKey::Inet { addr, .. } => addr.is_ipv6(),
        ServiceKey::Fwmark { ipv6, .. } => *ipv6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_clear_host_bits_and_contain() {
        let p: Prefix = "198.18.0.77/24".parse().unwrap();
        assert_eq!(p.to_string(), "198.18.0.0/24");
        assert!(p.contains("198.18.0.1".parse().unwrap()));
        assert!(!p.contains("198.18.1.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        let host: Prefix = "198.18.0.100".parse().unwrap();
        assert_eq!(host.len, 32);
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let v6: Prefix = "2001:db8::1/64".parse().unwrap();
        assert_eq!(v6.to_string(), "2001:db8::/64");
        for bad in ["198.18.0.0/33", "x/8", "::/129", "1.2.3.4/-1"] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn port_lists_parse() {
        assert_eq!(
            PortRange::parse_list("80,443:444").unwrap(),
            [
                PortRange {
                    first: 80,
                    last: 80
                },
                PortRange {
                    first: 443,
                    last: 444
                }
            ]
        );
        for bad in ["", "80,", "x", "90:80", "65536", "1:2:3"] {
            assert!(PortRange::parse_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mark_rules_print_as_the_options_that_add_them() {
        let r = MarkRule {
            mark: 5,
            protocol: Some(Protocol::Tcp),
            dst: "198.18.0.100".parse().unwrap(),
            dst_ports: vec![
                PortRange {
                    first: 80,
                    last: 80,
                },
                PortRange {
                    first: 443,
                    last: 444,
                },
            ],
            src: Some("198.18.0.0/24".parse().unwrap()),
        };
        assert_eq!(
            r.to_string(),
            "--add-mark 5 --proto tcp --dst 198.18.0.100/32 --dport 80,443:444 --src 198.18.0.0/24"
        );
    }

    #[test]
    fn frame_round_trip() {
        let req = Envelope {
            version: API_VERSION,
            request: Request::AddService {
                key: ServiceKey::Inet {
                    protocol: Protocol::Tcp,
                    addr: "198.18.0.100:80".parse().unwrap(),
                },
                config: ServiceConfig::new("rr"),
            },
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &req).unwrap();
        let back: Envelope = read_frame(&mut buf.as_slice(), REQUEST_BYTES_MAX).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn oversized_frame_is_refused_before_reading() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&((REQUEST_BYTES_MAX as u32) + 1).to_be_bytes());
        let err = read_frame::<_, Envelope>(&mut buf.as_slice(), REQUEST_BYTES_MAX).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }));
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&3u32.to_be_bytes());
        buf.extend_from_slice(b"{x}");
        let err = read_frame::<_, Envelope>(&mut buf.as_slice(), REQUEST_BYTES_MAX).unwrap_err();
        assert!(matches!(err, FrameError::Decode(_)));
    }
}
