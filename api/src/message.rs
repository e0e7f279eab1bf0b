//! The messages: a request in its versioned envelope, and the response or
//! error it gets.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::*;

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
    /// IPVS's defence strategies (`rvsadm --set-defense`), whole.
    SetDefense(Defense),
    /// Their settings, state and counters (`rvsadm -L --defense`).
    GetDefense,
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
    Defense(DefenseStatus),
    Conns(Vec<ConnStatus>),
    Network(Network),
    Cores(Vec<CoreStatus>),
    Released(Vec<IpAddr>),
    Daemons(Vec<SyncDaemonStatus>),
}
