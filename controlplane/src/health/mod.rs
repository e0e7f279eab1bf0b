//! Health checking, as keepalived's checkers and ldirectord do it.
//!
//! - [`machine`]: each checker's decision logic, sans-IO (rise and fall,
//!   retries, timers), and a dest's and a service's health from them
//!   (all checkers up, misc_dynamic weights, quorum with hysteresis);
//! - [`probe`]: the I/O of one probe (TCP connect, HTTP/HTTPS GET, a
//!   script, ICMP echo, UDP, DNS) with kernel sockets, which on a director
//!   travel the exception interface, the same wire as forwarded traffic;
//! - [`negotiate`] (in `probe/negotiate/`, with the other probes):
//!   ldirectord's negotiate checks keepalived has no checker for (ftp, pop,
//!   pops, imap, imaps, nntp, sip, DNS with `receive`, HTTP HEAD).

pub mod machine;
pub mod probe;
pub mod runner;

pub use probe::negotiate;
