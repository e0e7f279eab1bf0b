//! The director's own network: extra addresses and static routes.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Prefix;

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
