//! Services and dests as ipvsadm configures them: the service key, its
//! settings, a dest's settings and tunnel, timeouts, and the vocabulary the
//! dataplane, the configuration readers and rvsadm share (scheduler flags,
//! persistence defaults).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Transport protocol of an address service.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    /// SCTP (ipvsadm's `--sctp-service`, keepalived's `protocol SCTP`).
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The protocol of IP protocol number `n`, if a service can be of it.
    pub fn from_number(n: u8) -> Option<Protocol> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The lower-case name: `tcp`, `udp`, `sctp`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
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

impl ServiceKey {
    /// The service's name in logs and in `/metrics`' `service` label:
    /// `tcp/198.18.0.100:80`, `udp/[2001:db8::1]:53`, `sctp/...`, `fwm/7`,
    /// `fwm6/7`.
    pub fn label(&self) -> String {
        match self {
            ServiceKey::Inet { protocol, addr } => format!("{}/{addr}", protocol.name()),
            ServiceKey::Fwmark { mark, ipv6: false } => format!("fwm/{mark}"),
            ServiceKey::Fwmark { mark, ipv6: true } => format!("fwm6/{mark}"),
        }
    }
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
    /// IPVS's `sloppy_tcp`, per service (`--sloppy-tcp`, an rvs extension):
    /// a TCP packet with ACK and without RST that has no entry is scheduled
    /// by the service's scheduler and gets an ESTABLISHED entry, whatever
    /// the scheduler (decision 45).
    #[serde(default)]
    pub sloppy_tcp: bool,
    /// NAT and FullNAT TCP connections are opened by the director's SYN
    /// proxy: it answers a SYN with a SYN cookie and opens the real
    /// server's handshake only after the client's valid ACK
    /// (`--synproxy`, DPVS's `synproxy`; decision 40).
    #[serde(default)]
    pub synproxy: bool,
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
            sloppy_tcp: false,
            synproxy: false,
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

/// The persistence timeout of `-p` without a value and of keepalived's
/// `persistence_timeout` without one: 360 s (`spec/conn.md` §6.4).
pub const PERSISTENT_TIMEOUT_DEFAULT_S: u32 = 360;

/// The longest persistence timeout ipvsadm and keepalived accept.
pub const PERSISTENT_TIMEOUT_MAX_S: u32 = TIMEOUT_MAX_S;

/// A scheduler flag as ipvsadm names it (`-b`, keepalived's `flag-1`,
/// `sh-port` ...): one of a service's three flag bits, named by the
/// scheduler that gives it a meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedFlag {
    pub name: &'static str,
    /// The bit, 0..3.
    pub bit: usize,
    /// The scheduler the name belongs to; `None`: any scheduler (a bit no
    /// scheduler names, kept and listed but acting on nothing).
    pub scheduler: Option<&'static str>,
}

/// The scheduler a virtual service gets when none is given: IPVS's
/// `IPVS_DEF_SCHED`, which ipvsadm (`-A` without `-s`) and keepalived
/// (`lb_algo` unset) both use.
pub const SCHEDULER_DEFAULT: &str = "wlc";

/// Whether directors with the same dests pick the same dest for the same
/// client with `scheduler` (a hash of the packet over a table built from the
/// dests alone): `mh`, `sh`, `dh`. With the others a connection adopted by
/// `--sloppy-tcp` on another director goes to another real server (decision
/// 45).
pub fn scheduler_picks_alike(scheduler: &str) -> bool {
    matches!(scheduler, "mh" | "sh" | "dh")
}

/// Every scheduler flag name ipvsadm knows.
pub const SCHED_FLAGS: [SchedFlag; 7] = [
    SchedFlag {
        name: "flag-1",
        bit: 0,
        scheduler: None,
    },
    SchedFlag {
        name: "flag-2",
        bit: 1,
        scheduler: None,
    },
    SchedFlag {
        name: "flag-3",
        bit: 2,
        scheduler: None,
    },
    SchedFlag {
        name: "sh-fallback",
        bit: 0,
        scheduler: Some("sh"),
    },
    SchedFlag {
        name: "sh-port",
        bit: 1,
        scheduler: Some("sh"),
    },
    SchedFlag {
        name: "mh-fallback",
        bit: 0,
        scheduler: Some("mh"),
    },
    SchedFlag {
        name: "mh-port",
        bit: 1,
        scheduler: Some("mh"),
    },
];

/// The flag called `name`, if ipvsadm knows it.
pub fn sched_flag(name: &str) -> Option<&'static SchedFlag> {
    SCHED_FLAGS.iter().find(|f| f.name == name)
}

/// The names of flag bits 0..3 for `scheduler`, as ipvsadm shows them: its
/// own names where it has them, else `flag-N`.
pub fn sched_flag_names(scheduler: &str) -> [&'static str; 3] {
    let mut names = ["flag-1", "flag-2", "flag-3"];
    for f in SCHED_FLAGS
        .iter()
        .filter(|f| f.scheduler == Some(scheduler))
    {
        names[f.bit] = f.name;
    }
    names
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
    fn sched_flag_names_follow_the_scheduler() {
        assert_eq!(sched_flag_names("sh"), ["sh-fallback", "sh-port", "flag-3"]);
        assert_eq!(sched_flag_names("mh"), ["mh-fallback", "mh-port", "flag-3"]);
        assert_eq!(sched_flag_names("wlc"), ["flag-1", "flag-2", "flag-3"]);
        assert_eq!(
            sched_flag("mh-port").map(|f| (f.bit, f.scheduler)),
            Some((1, Some("mh")))
        );
        assert_eq!(sched_flag("flag-4"), None);
    }
}
