//! The `bgp` block: how rvs-controlplane drives the BIRD 2 beside it
//! ([`crate::bgp`]), in keepalived.conf and in TOML (`[bgp]`).
//!
//! ```text
//! bgp {
//!     bird_socket /run/bird/bird.ctl   # default /run/bird/bird.ctl
//!     bird_include /etc/bird/rvs.conf  # default /etc/bird/rvs.conf
//!     local_as 65001                   # required
//!     router_id 198.18.0.2             # optional
//!     local_address 198.18.0.2         # optional: the sessions' source
//!     local_port 179                   # optional: BIRD's listening port
//!     neighbor 198.18.0.253 65000 [port N]   # repeatable, at least one
//!     hold_time 3                      # seconds, 3..65535 (default 90)
//!     bfd off                          # on | off
//!     community 65000:100              # repeatable: A:B or A:B:C
//!     drain off                        # on | off
//! }
//! ```
//!
//! and per `virtual_server`, `bgp_community A:B` (repeatable).
//!
//! Contract:
//! - a bad line of the block (an address, an ASN outside 1..4294967295, a
//!   hold time outside 3..65535, a community that is neither `A:B` with
//!   16-bit halves nor `A:B:C` with 32-bit parts, a boolean that is not
//!   on/off) is an error at its FILE:LINE:COL and the whole block is left
//!   out while the rest of the file loads ([`Model::bgp_in_error`] says
//!   so: at start nothing is announced, a reload keeps the running block,
//!   so a typo changes nothing); a block without `local_as` or without a `neighbor` is an error
//!   at the block's keyword; a second block is an error; an unknown
//!   keyword is a warning;
//! - a bad `bgp_community` leaves its virtual_server out, as any bad value
//!   of a virtual_server;
//! - TOML: `[bgp]` with the same keys, `neighbors = [{ address = "...",
//!   asn = N, port = N }]`, `communities = ["A:B", ...]`, booleans for
//!   `bfd` and `drain`; per service `bgp_communities = [...]`; errors at
//!   their line and column, the file all or nothing as any TOML error.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, Warning};
use super::forms;
use super::lexer::{Node, Word};
#[cfg(doc)]
use super::Model;

/// BIRD's control socket when none is given.
pub const BIRD_SOCKET_DEFAULT: &str = "/run/bird/bird.ctl";
/// The include rvs writes when none is given.
pub const BIRD_INCLUDE_DEFAULT: &str = "/etc/bird/rvs.conf";
/// The BGP hold time when none is given (RFC 4271's suggestion).
pub const HOLD_TIME_DEFAULT: u16 = 90;
/// The smallest hold time BIRD accepts (0, no keepalives, is refused here).
pub const HOLD_TIME_MIN: u16 = 3;

/// A BGP community: RFC 1997's `A:B` or RFC 8092's large `A:B:C`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Community {
    Standard(u16, u16),
    Large(u32, u32, u32),
}

impl FromStr for Community {
    type Err = String;
    fn from_str(s: &str) -> Result<Community, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let bad = || {
            format!(
                "community '{s}' is neither A:B (each 0..65535) nor a large A:B:C (each 0..4294967295)"
            )
        };
        match parts.as_slice() {
            [a, b] => Ok(Community::Standard(
                a.parse().map_err(|_| bad())?,
                b.parse().map_err(|_| bad())?,
            )),
            [a, b, c] => Ok(Community::Large(
                a.parse().map_err(|_| bad())?,
                b.parse().map_err(|_| bad())?,
                c.parse().map_err(|_| bad())?,
            )),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Community::Standard(a, b) => write!(f, "{a}:{b}"),
            Community::Large(a, b, c) => write!(f, "{a}:{b}:{c}"),
        }
    }
}

impl Serialize for Community {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        forms::as_str::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for Community {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Community, D::Error> {
        forms::as_str::deserialize(d)
    }
}

/// An AS number, 1..4294967295.
pub fn parse_asn(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("AS number '{s}' is not 1..4294967295")),
    }
}

fn check_asn(n: u32) -> Result<u32, String> {
    if n == 0 {
        Err("AS number 0 is not 1..4294967295".into())
    } else {
        Ok(n)
    }
}

fn check_hold(n: u16) -> Result<u16, String> {
    if n < HOLD_TIME_MIN {
        Err(format!(
            "hold_time {n} is not {HOLD_TIME_MIN}..65535 seconds"
        ))
    } else {
        Ok(n)
    }
}

/// A BGP peer of the director's BIRD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbor {
    pub address: IpAddr,
    pub asn: u32,
    /// The peer's port when it is not 179.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// The `bgp` block, validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BgpToml", into = "BgpToml")]
pub struct Bgp {
    pub bird_socket: PathBuf,
    pub bird_include: PathBuf,
    pub local_as: u32,
    pub router_id: Option<Ipv4Addr>,
    pub local_address: Option<IpAddr>,
    pub local_port: Option<u16>,
    pub neighbors: Vec<Neighbor>,
    pub hold_time: u16,
    pub bfd: bool,
    /// Added to every VIP's route.
    pub communities: Vec<Community>,
    /// The configuration's drain (a `--drain` command overrides it).
    pub drain: bool,
}

/// `[bgp]` as TOML writes it.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BgpToml {
    #[serde(default = "default_socket")]
    bird_socket: PathBuf,
    #[serde(default = "default_include")]
    bird_include: PathBuf,
    local_as: u32,
    router_id: Option<Ipv4Addr>,
    local_address: Option<IpAddr>,
    local_port: Option<u16>,
    neighbors: Vec<Neighbor>,
    #[serde(default = "default_hold")]
    hold_time: u16,
    #[serde(default)]
    bfd: bool,
    #[serde(default)]
    communities: Vec<Community>,
    #[serde(default)]
    drain: bool,
}

fn default_socket() -> PathBuf {
    PathBuf::from(BIRD_SOCKET_DEFAULT)
}
fn default_include() -> PathBuf {
    PathBuf::from(BIRD_INCLUDE_DEFAULT)
}
fn default_hold() -> u16 {
    HOLD_TIME_DEFAULT
}

impl TryFrom<BgpToml> for Bgp {
    type Error = String;
    fn try_from(t: BgpToml) -> Result<Bgp, String> {
        let local_as = check_asn(t.local_as).map_err(|e| format!("bgp: local_as: {e}"))?;
        for n in &t.neighbors {
            check_asn(n.asn).map_err(|e| format!("bgp: neighbor {}: {e}", n.address))?;
        }
        if t.neighbors.is_empty() {
            return Err("bgp: neighbors is empty: at least one neighbor is needed".into());
        }
        Ok(Bgp {
            bird_socket: t.bird_socket,
            bird_include: t.bird_include,
            local_as,
            router_id: t.router_id,
            local_address: t.local_address,
            local_port: t.local_port,
            neighbors: t.neighbors,
            hold_time: check_hold(t.hold_time).map_err(|e| format!("bgp: {e}"))?,
            bfd: t.bfd,
            communities: t.communities,
            drain: t.drain,
        })
    }
}

impl From<Bgp> for BgpToml {
    fn from(b: Bgp) -> BgpToml {
        BgpToml {
            bird_socket: b.bird_socket,
            bird_include: b.bird_include,
            local_as: b.local_as,
            router_id: b.router_id,
            local_address: b.local_address,
            local_port: b.local_port,
            neighbors: b.neighbors,
            hold_time: b.hold_time,
            bfd: b.bfd,
            communities: b.communities,
            drain: b.drain,
        }
    }
}

fn err(w: &Word, message: impl Into<String>) -> ConfigError {
    ConfigError::new(w.pos.clone(), message)
}

/// The one value of `n`, an error when it has none or more.
fn one(n: &Node) -> Result<&Word, ConfigError> {
    match n.args.as_slice() {
        [v] => Ok(v),
        [] => Err(err(&n.key, format!("bgp: '{}' needs a value", n.key.text))),
        [_, extra, ..] => Err(err(
            extra,
            format!("bgp: '{}': unexpected '{}'", n.key.text, extra.text),
        )),
    }
}

fn on_off(n: &Node) -> Result<bool, ConfigError> {
    let Some(v) = n.args.first() else {
        return Ok(true);
    };
    if let Some(extra) = n.args.get(1) {
        return Err(err(
            extra,
            format!("bgp: '{}': unexpected '{}'", n.key.text, extra.text),
        ));
    }
    match v.text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(err(
            v,
            format!("bgp: {} '{}' is not on or off", n.key.text, v.text),
        )),
    }
}

fn port(w: &Word) -> Result<u16, ConfigError> {
    w.text
        .parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| err(w, format!("bgp: port '{}' is not 1..65535", w.text)))
}

fn community(w: &Word) -> Result<Community, ConfigError> {
    w.text
        .parse()
        .map_err(|e: String| err(w, format!("bgp: {e}")))
}

/// `bgp_community A:B ...` of a virtual_server: its communities.
pub fn service_communities(n: &Node) -> Result<Vec<Community>, ConfigError> {
    if n.args.is_empty() {
        return Err(err(
            &n.key,
            "bgp_community needs a community (A:B or A:B:C)",
        ));
    }
    n.args.iter().map(community).collect()
}

/// keepalived.conf's `bgp { ... }` block (`n` is the block's keyword).
pub fn from_keepalived(n: &Node, warnings: &mut Vec<Warning>) -> Result<Bgp, ConfigError> {
    let Some(block) = &n.block else {
        return Err(err(&n.key, "'bgp' needs a block: missing '{'"));
    };
    if let Some(a) = n.args.first() {
        return Err(err(a, format!("bgp: unexpected '{}' before '{{'", a.text)));
    }
    let mut b = Bgp {
        bird_socket: default_socket(),
        bird_include: default_include(),
        local_as: 0,
        router_id: None,
        local_address: None,
        local_port: None,
        neighbors: Vec::new(),
        hold_time: HOLD_TIME_DEFAULT,
        bfd: false,
        communities: Vec::new(),
        drain: false,
    };
    for line in &block.nodes {
        if let Some(open) = &line.block {
            return Err(ConfigError::new(
                open.open.clone(),
                format!("unexpected '{{': bgp's '{}' takes no block", line.key.text),
            ));
        }
        match line.key.text.as_str() {
            "bird_socket" => b.bird_socket = PathBuf::from(&one(line)?.text),
            "bird_include" => b.bird_include = PathBuf::from(&one(line)?.text),
            "local_as" => {
                let v = one(line)?;
                b.local_as =
                    parse_asn(&v.text).map_err(|e| err(v, format!("bgp: local_as: {e}")))?;
            }
            "router_id" => {
                let v = one(line)?;
                b.router_id = Some(v.text.parse().map_err(|_| {
                    err(
                        v,
                        format!("bgp: router_id '{}' is not an IPv4 address", v.text),
                    )
                })?);
            }
            "local_address" => {
                let v = one(line)?;
                b.local_address = Some(v.text.parse().map_err(|_| {
                    err(
                        v,
                        format!("bgp: local_address '{}' is not an IP address", v.text),
                    )
                })?);
            }
            "local_port" => b.local_port = Some(port(one(line)?)?),
            "neighbor" => {
                let (addr, asn) = match line.args.as_slice() {
                    [a, s, ..] => (a, s),
                    _ => {
                        return Err(err(
                            &line.key,
                            "bgp: neighbor needs an address and an AS number: neighbor ADDRESS ASN [port PORT]",
                        ))
                    }
                };
                let address = addr.text.parse().map_err(|_| {
                    err(
                        addr,
                        format!("bgp: neighbor '{}' is not an IP address", addr.text),
                    )
                })?;
                let asn = parse_asn(&asn.text)
                    .map_err(|e| err(asn, format!("bgp: neighbor {}: {e}", addr.text)))?;
                let port = match &line.args[2..] {
                    [] => None,
                    [k, p] if k.text == "port" => Some(port(p)?),
                    [w, ..] => {
                        return Err(err(
                            w,
                            format!(
                            "bgp: neighbor: unexpected '{}' (only 'port PORT' may follow the ASN)",
                            w.text
                        ),
                        ))
                    }
                };
                if b.neighbors.iter().any(|x: &Neighbor| x.address == address) {
                    return Err(err(addr, format!("bgp: neighbor {address} is given twice")));
                }
                b.neighbors.push(Neighbor { address, asn, port });
            }
            "hold_time" => {
                let v = one(line)?;
                let t = v
                    .text
                    .parse::<u16>()
                    .map_err(|_| ())
                    .and_then(|t| check_hold(t).map_err(|_| ()))
                    .map_err(|()| {
                        err(
                            v,
                            format!(
                                "bgp: hold_time '{}' is not {HOLD_TIME_MIN}..65535 seconds",
                                v.text
                            ),
                        )
                    })?;
                b.hold_time = t;
            }
            "bfd" => b.bfd = on_off(line)?,
            "drain" => b.drain = on_off(line)?,
            "community" => {
                if line.args.is_empty() {
                    return Err(err(
                        &line.key,
                        "bgp: community needs a value (A:B or A:B:C)",
                    ));
                }
                for w in &line.args {
                    b.communities.push(community(w)?);
                }
            }
            other => warnings.push(Warning::new(
                line.key.pos.clone(),
                format!("Unknown keyword '{other}' in bgp"),
            )),
        }
    }
    if b.local_as == 0 {
        return Err(err(&n.key, "bgp: local_as is required"));
    }
    if b.neighbors.is_empty() {
        return Err(err(
            &n.key,
            "bgp: at least one 'neighbor ADDRESS ASN' is required",
        ));
    }
    Ok(b)
}
