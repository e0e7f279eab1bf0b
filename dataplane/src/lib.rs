//! The rvs forwarding engine as a library: a pure packet pipeline with no
//! DPDK in it, so every verdict can be tested with bytes in and bytes out.
//! The `rvs-dataplane` binary puts it on DPDK ports and worker cores.
//!
//! Vocabulary (IPVS's): a *service* (keepalived's `virtual_server`) spreads
//! *conns* over *dests* (`real_server`) with a *scheduler*, and *forwards*
//! by a method fixed when the conn is made.
//!
//! Every module but `conn` (its tables' one raw allocation) forbids
//! `unsafe`.

pub mod admin;
pub mod classify;
pub mod conn;
pub mod laddr;
pub mod nat;
pub mod neigh;
pub mod pipeline;
pub mod proxy;
pub mod sched;
pub mod service;
pub mod stats;
pub mod sync;
pub mod synproxy;
pub mod wire;
