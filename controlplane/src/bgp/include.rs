//! The BIRD configuration rvs writes: the file the operator's bird.conf
//! includes.
//!
//! Contract:
//! - [`text`] gives, for a `bgp` block and the VIPs: a `protocol static`
//!   per family (`rvs_vips4`, `rvs_vips6`, always present, possibly
//!   empty) with one `blackhole` route per announced VIP (/32 or /128)
//!   carrying its communities; `protocol bfd rvs_bfd` when `bfd` is on; a
//!   `protocol bgp rvs_bgpN` per neighbor (N from 1, in the block's order)
//!   with `import none`, exporting only its family's static protocol with
//!   `next hop self`, the hold time (keepalive a third of it), `graceful
//!   restart off` (a peer must drop a dead director's routes at once, not
//!   keep them as stale) and a short `connect retry time`; an IPv4
//!   neighbor carries the IPv4 VIPs, an IPv6 neighbor the IPv6 VIPs;
//! - an `mh` VIP's route also carries the large community `(local_as,
//!   45, hash of its dest set)` ([`super::dest_set`]); each session keeps
//!   what it receives in its import table (`import table on`, every path
//!   with `add paths rx`, the directors' own AS allowed in the path with
//!   `allow local as`) for the control plane to read, and still imports
//!   nothing (`import none`): no route learned reaches a routing table,
//!   the kernel or another session;
//! - [`EMPTY`] is the include that announces nothing and has no session
//!   (a graceful stop, or a reload that removed the block);
//! - [`write`](fn@write) replaces the file atomically (a temporary file in the same
//!   directory, then a rename), so BIRD never reads half a file.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;

use super::decide::Vip;
use crate::config::bgp::{Bgp, Community};

/// The first line of every include.
const HEADER: &str =
    "# Written by rvs-controlplane: do not edit, it is rewritten at every change.\n";

/// The include without routes or sessions.
pub const EMPTY: &str =
    "# Written by rvs-controlplane: do not edit, it is rewritten at every change.\n# Nothing announced (rvs-controlplane stopped, or no bgp block).\n";

/// The name of neighbor `i`'s protocol (0-based `i`).
pub fn protocol_name(i: usize) -> String {
    format!("rvs_bgp{}", i + 1)
}

/// The include for `bgp` announcing the VIPs of `vips` that are to be
/// announced.
pub fn text(bgp: &Bgp, vips: &[Vip]) -> String {
    let mut out = String::from(HEADER);
    for (name, channel, v6) in [("rvs_vips4", "ipv4", false), ("rvs_vips6", "ipv6", true)] {
        let _ = writeln!(out, "\nprotocol static {name} {{\n    {channel};");
        for vip in vips
            .iter()
            .filter(|v| v.announce() && v.addr.is_ipv6() == v6)
        {
            let len = if v6 { 128 } else { 32 };
            let _ = write!(out, "    route {}/{len} blackhole", vip.addr);
            let tag = vip
                .dest_set
                .map(|h| Community::Large(bgp.local_as, super::dest_set::TAG, h));
            let communities: Vec<Community> = vip.communities.iter().copied().chain(tag).collect();
            if communities.is_empty() {
                out.push_str(";\n");
            } else {
                out.push_str(" {");
                for c in &communities {
                    match c {
                        Community::Standard(a, b) => {
                            let _ = write!(out, " bgp_community.add(({a},{b}));");
                        }
                        Community::Large(a, b, c) => {
                            let _ = write!(out, " bgp_large_community.add(({a},{b},{c}));");
                        }
                    }
                }
                out.push_str(" };\n");
            }
        }
        out.push_str("}\n");
    }
    if bgp.bfd {
        out.push_str("\nprotocol bfd rvs_bfd {\n}\n");
    }
    let keepalive = (bgp.hold_time / 3).max(1);
    for (i, n) in bgp.neighbors.iter().enumerate() {
        let _ = writeln!(out, "\nprotocol bgp {} {{", protocol_name(i));
        if let Some(id) = bgp.router_id {
            let _ = writeln!(out, "    router id {id};");
        }
        out.push_str("    local");
        if let Some(a) = bgp.local_address {
            let _ = write!(out, " {a}");
        }
        if let Some(p) = bgp.local_port {
            let _ = write!(out, " port {p}");
        }
        let _ = writeln!(out, " as {};", bgp.local_as);
        let _ = write!(out, "    neighbor {}", n.address);
        if let Some(p) = n.port {
            let _ = write!(out, " port {p}");
        }
        let _ = writeln!(out, " as {};", n.asn);
        let _ = writeln!(out, "    hold time {};", bgp.hold_time);
        let _ = writeln!(out, "    keepalive time {keepalive};");
        out.push_str("    connect retry time 5;\n");
        out.push_str("    graceful restart off;\n");
        out.push_str("    allow local as;\n");
        if bgp.bfd {
            out.push_str("    bfd on;\n");
        }
        let (channel, proto) = match n.address {
            IpAddr::V4(_) => ("ipv4", "rvs_vips4"),
            IpAddr::V6(_) => ("ipv6", "rvs_vips6"),
        };
        let _ = writeln!(
            out,
            "    {channel} {{\n        import none;\n        import table on;\n        add paths rx;\n        export where proto = \"{proto}\";\n        next hop self;\n    }};"
        );
        out.push_str("}\n");
    }
    out
}

/// Replace `path` with `text`: a temporary file beside it, then a rename.
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the include path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".rvs-tmp");
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}
