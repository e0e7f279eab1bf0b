//! rvs's fuzz targets: each takes arbitrary bytes and feeds them to one of
//! the places where rvs reads what it does not control (frames, sync
//! datagrams, VRRP adverts, admin requests, configuration files, rvsadm's
//! arguments). A target returns normally for any input; a panic (an
//! overflow, an index out of range, a failed assertion of an oracle below)
//! aborts the process, which AFL++ records as a crash.
//!
//! `scripts/fuzz TARGET SECONDS` runs one; the seed corpora are in
//! `fuzz/corpus/TARGET/` (`rvs-fuzz seeds DIR` writes the generated ones).

#![forbid(unsafe_code)]

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub mod director;
pub mod seeds;

/// Every target, by the name `rvs-fuzz TARGET` and `scripts/fuzz` take.
pub const TARGETS: &[&str] = &[
    "frames",
    "sync",
    "vrrp",
    "admin",
    "keepalived",
    "ldirectord",
    "toml",
    "rvsadm",
];

/// Run target `name` on `data`; false when there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "frames" => director::frames(data),
        "sync" => director::sync(data),
        "vrrp" => vrrp(data),
        "admin" => admin(data),
        "keepalived" => keepalived(data),
        "ldirectord" => ldirectord(data),
        "toml" => toml(data),
        "rvsadm" => rvsadm(data),
        _ => return false,
    }
    true
}

/// A VRRP advert. The first byte chooses the family the IP header had, the
/// pseudo-header's presence and the checksum convention; the rest is the
/// VRRP message.
pub fn vrrp(data: &[u8]) {
    use rvs_vrrp::wire::{decode, Checksum, Path};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let Some((&ctl, msg)) = data.split_first() else {
        return;
    };
    let ipv6 = ctl & 1 != 0;
    let path = if ipv6 {
        Path {
            src: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            dst: IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        }
    } else {
        Path {
            src: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
            dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
        }
    };
    let path = (ctl & 2 != 0).then_some(&path);
    let conv = match (ctl >> 2) & 3 {
        0 => Checksum::PseudoHeader,
        1 => Checksum::AsV2,
        _ => Checksum::Either,
    };
    let _ = decode(msg, ipv6, path, conv);
}

/// An admin API frame (a 4-byte length, then the JSON of an `Envelope`).
/// What decodes must survive a round trip through JSON unchanged, and is
/// then applied to a director holding a service of each method (the
/// dataplane's validation must refuse what it cannot serve, not panic).
pub fn admin(data: &[u8]) {
    let mut r = Cursor::new(data);
    let Ok(env) = rvs_api::read_frame::<_, rvs_api::Envelope>(&mut r, 1 << 16) else {
        return;
    };
    let json = serde_json::to_vec(&env).expect("an Envelope serializes");
    let back: rvs_api::Envelope = serde_json::from_slice(&json).expect("its own JSON decodes");
    assert_eq!(back, env, "the JSON round trip changed the request");
    director::admin_request(env.request);
}

/// A keepalived.conf (see [`config`]).
pub fn keepalived(data: &[u8]) {
    config(data, rvs_controlplane::config::Dialect::Keepalived);
}

/// An ldirectord.cf (see [`config`]).
pub fn ldirectord(data: &[u8]) {
    config(data, rvs_controlplane::config::Dialect::Ldirectord);
}

/// A TOML configuration (see [`config`]).
pub fn toml(data: &[u8]) {
    config(data, rvs_controlplane::config::Dialect::Toml);
}

/// An empty directory keepalived's relative includes resolve in.
fn empty_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rvs-fuzz-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        dir
    })
}

/// A configuration file in one dialect, read as the daemon reads one
/// (lossy UTF-8). The file is named in an empty directory. What reads must
/// read back the same from its TOML.
fn config(data: &[u8], dialect: rvs_controlplane::config::Dialect) {
    use rvs_controlplane::config::Dialect::Toml;
    let text = String::from_utf8_lossy(data);
    // keepalived's `include` reads the files its pattern matches. A fuzzed
    // absolute or `..` path could read anything on the machine (`/dev/zero`
    // never ends, `/**` walks the whole file system): such inputs are
    // skipped. Without a `/`, a pattern only matches names in the empty
    // directory, so includes are still exercised (and match nothing).
    if dialect == rvs_controlplane::config::Dialect::Keepalived
        && text.contains("include")
        && text.contains('/')
    {
        return;
    }
    let path = empty_dir().join("fuzz.conf");
    let Ok((model, _)) = rvs_controlplane::config::parse(&text, &path, dialect) else {
        return;
    };
    // `Model::to_toml` promises that reading its text back gives the model:
    // a difference would be a configuration silently changed on the way.
    let toml = model.to_toml();
    match rvs_controlplane::config::parse(&toml, &path, Toml) {
        Ok((back, _)) => assert_eq!(
            back, model,
            "the TOML round trip changed the model:\n{toml}"
        ),
        Err(e) => panic!("the model's own TOML does not read back: {e}\n{toml}"),
    }
}

/// A resolver that knows a few names and never asks the network.
struct Names;

impl rvs_controlplane::rvsadm::Resolver for Names {
    fn host_v4(&self, name: &str) -> Option<std::net::Ipv4Addr> {
        match name {
            "localhost" => Some(std::net::Ipv4Addr::LOCALHOST),
            "vip" | "www.example.com" => Some(std::net::Ipv4Addr::new(198, 18, 0, 100)),
            "rs1" => Some(std::net::Ipv4Addr::new(198, 18, 0, 11)),
            _ => None,
        }
    }

    fn port_of(&self, name: &str, _protocol: rvs_api::Protocol) -> Option<u16> {
        match name {
            "http" | "www" => Some(80),
            "https" => Some(443),
            "domain" => Some(53),
            _ => None,
        }
    }
}

/// rvsadm's command line: each line of the input is split into argv the
/// way `rvsadm -R` splits a saved line (blanks and tabs; a literal
/// `ipvsadm`/`rvsadm` word dropped) and parsed.
pub fn rvsadm(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let args = rvs_controlplane::rvsadm::save::restore_words(line);
        let _ = rvs_controlplane::rvsadm::parse_args(&args, &Names);
    }
}
