//! The rvs control side that is not the dataplane.
//!
//! - [`rvsadm`]: ipvsadm's command line for rvs, built as the `rvsadm`
//!   binary;
//! - [`config`]: the director's configuration (keepalived.conf,
//!   ldirectord.cf or the native TOML) as one validated model, and the admin
//!   requests that create it; `rvs-controlplane --check` prints it;
//! - [`daemon`], [`reconcile`], [`metrics`]: `rvs-controlplane --config
//!   FILE`, which keeps the dataplane as the file says (reloaded on SIGHUP)
//!   and serves `/metrics`;
//! - [`health`]: keepalived's and ldirectord's health checks, whose
//!   verdicts shape what the daemon applies;
//! - [`bgp`]: the VIPs' routes, announced through the BIRD beside the
//!   daemon;
//! - [`ha`], [`tracking`]: VRRP instances (the sans-IO routers of
//!   `rvs-vrrp` on raw sockets) and their trackers.
//!
//! Nothing in this crate links
//! DPDK: it talks to `rvs-dataplane` only through the admin API of
//! `rvs-api`.

pub mod bgp;
pub mod config;
pub mod daemon;
pub mod ha;
pub mod health;
pub mod heap;
pub mod metrics;
pub mod reconcile;
pub mod rvsadm;
pub mod services;
pub mod tracking;
