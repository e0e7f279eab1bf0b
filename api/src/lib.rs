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

use std::io::{self, Read, Write};
use std::net::SocketAddr;
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
}

/// A service as listed. `dests` are in scheduling order: newest first, as the
/// kernel keeps them; listing tools sort for display.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ServiceStatus {
    pub key: ServiceKey,
    pub config: ServiceConfig,
    pub stats: Stats,
    pub dests: Vec<DestStatus>,
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
