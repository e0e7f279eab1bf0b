//! The admin API between `rvs-dataplane` and its clients (`rvsadm` and
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
//! This crate has no DPDK in it, so clients never link DPDK. Its modules:
//! `service` (keys, settings and the shared vocabulary of services and
//! dests), `marks` (classifier rules), `defense` (IPVS's defence
//! strategies), `network`, `sync` (daemons),
//! `status` (what listings report), `message` (requests and responses) and
//! `frame` (the socket's framing and a client call); everything is
//! re-exported here.

#![forbid(unsafe_code)]

mod defense;
mod frame;
mod marks;
mod message;
mod network;
mod service;
mod status;
mod sync;

pub use defense::*;
pub use frame::*;
pub use marks::*;
pub use message::*;
pub use network::*;
pub use service::*;
pub use status::*;
pub use sync::*;

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
