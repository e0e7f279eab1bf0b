//! VRRP v2/v3 for rvs (`spec/vrrp.md`).
//!
//! - [`wire`]: advertisements on the wire, VRRPv2 (RFC 3768, with
//!   keepalived's simple password) and VRRPv3 (RFC 5798 / 9568, both IPv4
//!   checksum conventions);
//! - [`router`]: one router's state machine, sans-IO (`(now, input)` in,
//!   actions out), as keepalived behaves;
//! - [`track`]: what tracked scripts and interfaces make of its priority.
//!
//! The socket shell (raw protocol-112 sockets on the exception interface,
//! keepalived.conf's `vrrp_instance`) is `rvs-controlplane`'s `ha` module.

#![forbid(unsafe_code)]

pub mod router;
pub mod track;
pub mod wire;
