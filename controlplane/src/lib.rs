//! The rvs control side that is not the dataplane.
//!
//! Today this is [`rvsadm`], ipvsadm's command line for rvs, built as the
//! `rvsadm` binary; the `rvs-controlplane` daemon will live here too. Nothing
//! in this crate links DPDK: it talks to `rvs-dataplane` only through the
//! admin API of `rvs-api`.

pub mod daemon;
pub mod metrics;
pub mod reconcile;
pub mod rvsadm;
