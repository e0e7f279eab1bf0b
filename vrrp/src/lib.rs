//! VRRP v2/v3 for rvs: the wire format, a sans-IO router state machine and its
//! socket shell.
//!
//! Nothing is implemented yet: the high-availability issue builds this crate.
//! It is a workspace member now so the layout matches `ARCHITECTURE.md`.
