//! Whether the directors of an ECMP group build the same Maglev tables
//! (decision 45): each director tags its route to an `mh` VIP with a BGP
//! large community carrying a hash of that VIP's dest set, the routers
//! send every director's path back to every director (ADD-PATH), and each
//! compares its hash with the others'.
//!
//! Contract:
//! - [`hashes`] gives, for the requests the dataplane gets (health
//!   applied), one hash per VIP that has an `mh` address service: FNV-1a
//!   (32 bits, stable across builds and machines) of the VIP's `mh`
//!   services in order of their keys, each as its key, its scheduler
//!   flags and its dests (address, port, weight) in address order. Two
//!   directors whose dataplanes have the same `mh` dests and weights have
//!   the same hash; any difference (a dest missing, another weight, one
//!   side's health check seeing a dest down) gives another;
//! - the tag is the large community `(local_as, TAG, hash)`: rvs reads
//!   every large community whose second part is [`TAG`], whatever its
//!   first (directors may have their own ASNs);
//! - [`peer_hashes`] reads BIRD's reply to `show route import table
//!   rvs_bgpN.ipv4 all`: each path's prefix and tag (paths without a tag,
//!   or a tag that does not parse, are not directors' and are left out).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use rvs_api::{Request, ServiceKey};

use super::bird::Line;

/// The second part of the large community that carries a dest-set hash
/// (the decision's number).
pub const TAG: u32 = 45;

/// FNV-1a, 32 bits.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The dest-set hash of each VIP with an `mh` address service, from the
/// requests that build the dataplane's table.
pub fn hashes(requests: &[Request]) -> BTreeMap<IpAddr, u32> {
    // Per mh service: its text, then its dests.
    let mut services: BTreeMap<String, (IpAddr, Vec<String>)> = BTreeMap::new();
    for r in requests {
        match r {
            Request::AddService {
                key: key @ ServiceKey::Inet { addr, .. },
                config,
            } if config.scheduler == "mh" => {
                let head = format!("{} mh {}", key.label(), config.sched_flags.join(","));
                services.insert(key.label(), (addr.ip(), vec![head]));
            }
            Request::AddDest { service, dest } => {
                if let Some((_, lines)) = services.get_mut(&service.label()) {
                    lines.push(format!("{} {}", dest.addr, dest.weight));
                }
            }
            _ => {}
        }
    }
    let mut text: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (ip, mut lines) in services.into_values() {
        lines[1..].sort();
        let t = text.entry(ip).or_default();
        for l in lines {
            let _ = writeln!(t, "{l}");
        }
    }
    text.into_iter()
        .map(|(ip, t)| (ip, fnv1a(t.as_bytes())))
        .collect()
}

/// The tagged paths of a `show route ... all` reply: (prefix's address,
/// hash), one per path that carries a tag.
pub fn peer_hashes(reply: &[Line]) -> Vec<(IpAddr, u32)> {
    let mut out = Vec::new();
    let mut prefix: Option<IpAddr> = None;
    for l in reply {
        let text = l.text.trim_start();
        if l.code == 1007 && !text.starts_with("Table ") && !text.starts_with("via ") {
            // A path: `PREFIX  unicast [...]`, or `unicast [...]` for the
            // next path of the same prefix.
            let first = text.split_whitespace().next().unwrap_or("");
            if let Some((addr, _len)) = first.split_once('/') {
                prefix = addr.parse().ok();
            }
        } else if let Some(list) = text.strip_prefix("BGP.large_community:") {
            let Some(vip) = prefix else { continue };
            for c in list.split('(').skip(1) {
                let parts: Vec<Option<u32>> = c
                    .trim_end_matches([')', ' '])
                    .split(',')
                    .map(|p| p.trim().parse().ok())
                    .collect();
                if let [Some(_), Some(tag), Some(hash)] = parts[..] {
                    if tag == TAG {
                        out.push((vip, hash));
                    }
                }
            }
        }
    }
    out
}

/// What this director knows of one `mh` VIP's dest sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestSet {
    pub vip: IpAddr,
    /// This director's hash.
    pub hash: u32,
    /// Other directors' paths seen with a tag.
    pub peers: u32,
    /// One of them has another hash.
    pub mismatch: bool,
}

/// Compare `ours` with the tagged paths `seen`.
pub fn compare(ours: &BTreeMap<IpAddr, u32>, seen: &[(IpAddr, u32)]) -> Vec<DestSet> {
    ours.iter()
        .map(|(&vip, &hash)| {
            let theirs = seen.iter().filter(|(v, _)| *v == vip);
            DestSet {
                vip,
                hash,
                peers: theirs.clone().count() as u32,
                mismatch: theirs.into_iter().any(|&(_, h)| h != hash),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_api::{DestConfig, Forward, Protocol, ServiceConfig};

    fn lines(text: &str) -> Vec<Line> {
        // As bird::command returns them: the code, the continuation's kept.
        let mut code = 0;
        text.lines()
            .map(|raw| match raw.strip_prefix(' ') {
                Some(rest) => Line {
                    code,
                    text: rest.to_string(),
                },
                None => {
                    code = raw[..4].parse().expect("a code");
                    Line {
                        code,
                        text: raw[5..].to_string(),
                    }
                }
            })
            .collect()
    }

    #[test]
    fn tagged_paths_of_birds_reply() {
        // BIRD 2.0.12's reply to `show route import table rvs_bgp1.ipv4
        // all` with ADD-PATH: two directors' paths to one VIP, one path
        // without a tag, another VIP.
        let reply = lines(
            "1007-Table import:\n \
             198.18.20.100/32     unicast [rvs_bgp1 02:56:56.529 from 10.99.0.1] * (100) [AS65001i]\n \
             \tvia 10.99.0.3 on eth0\n\
             1008-\tType: BGP univ\n\
             1012-\tBGP.origin: IGP\n \
             \tBGP.as_path: 65000 65001\n \
             \tBGP.large_community: (65000, 1, 2) (65001, 45, 1003)\n\
             1007-                     unicast [rvs_bgp1 02:56:56.530 from 10.99.0.1] (100) [AS65001i]\n \
             \tvia 10.99.0.4 on eth0\n\
             1012-\tBGP.origin: IGP\n \
             \tBGP.large_community: (65002, 45, 4294967295)\n\
             1007-198.18.20.101/32     unicast [rvs_bgp1 02:56:56.531 from 10.99.0.1] * (100) [AS65001i]\n\
             1012-\tBGP.origin: IGP\n \
             \tBGP.community: (65000,100)\n\
             1007-2001:db8::100/128    unicast [rvs_bgp1 02:56:56.531 from 10.99.0.1] * (100) [AS65001i]\n\
             1012-\tBGP.large_community: (65001, 45, 7) (65001, 45, x)\n\
             0000 \n",
        );
        let v4: IpAddr = "198.18.20.100".parse().unwrap();
        let v6: IpAddr = "2001:db8::100".parse().unwrap();
        assert_eq!(
            peer_hashes(&reply),
            vec![(v4, 1003), (v4, u32::MAX), (v6, 7)]
        );
        let ours = BTreeMap::from([(v4, 1003), (v6, 7)]);
        let got = compare(&ours, &peer_hashes(&reply));
        assert_eq!((got[0].peers, got[0].mismatch), (2, true));
        assert_eq!((got[1].peers, got[1].mismatch), (1, false));
        assert!(compare(&ours, &[])
            .iter()
            .all(|d| d.peers == 0 && !d.mismatch));
    }

    fn svc(port: u16, scheduler: &str) -> Request {
        Request::AddService {
            key: ServiceKey::Inet {
                protocol: Protocol::Tcp,
                addr: format!("198.18.20.100:{port}").parse().unwrap(),
            },
            config: ServiceConfig::new(scheduler),
        }
    }

    fn dest(port: u16, rs: &str, weight: u32) -> Request {
        Request::AddDest {
            service: match svc(port, "mh") {
                Request::AddService { key, .. } => key,
                _ => unreachable!(),
            },
            dest: DestConfig {
                addr: rs.parse().unwrap(),
                forward: Forward::Route,
                weight,
                u_threshold: 0,
                l_threshold: 0,
                tunnel: Default::default(),
            },
        }
    }

    #[test]
    fn the_hash_is_of_the_mh_dests_in_any_order() {
        let a = hashes(&[
            svc(80, "mh"),
            dest(80, "10.0.0.1:80", 1),
            dest(80, "10.0.0.2:80", 1),
        ]);
        let b = hashes(&[
            svc(80, "mh"),
            dest(80, "10.0.0.2:80", 1),
            dest(80, "10.0.0.1:80", 1),
        ]);
        assert_eq!(a, b, "the order of the dests does not count");
        assert_eq!(a.len(), 1);
        for other in [
            vec![svc(80, "mh"), dest(80, "10.0.0.1:80", 1)],
            vec![
                svc(80, "mh"),
                dest(80, "10.0.0.1:80", 1),
                dest(80, "10.0.0.2:80", 2),
            ],
            vec![
                svc(80, "mh"),
                dest(80, "10.0.0.1:80", 1),
                dest(80, "10.0.0.2:81", 1),
            ],
        ] {
            assert_ne!(hashes(&other), a, "{other:?}");
        }
        // Not mh: no hash.
        assert!(hashes(&[svc(80, "rr"), dest(80, "10.0.0.1:80", 1)]).is_empty());
        // FNV-1a's own check value: "a" is 0xe40c292c.
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    }
}
