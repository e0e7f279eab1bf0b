//! keepalived's `ip route`-like grammar of a `static_routes` /
//! `virtual_routes` line (keepalived.conf(5), `vrrp_iproute.c`).
//!
//! Contract:
//! - a line is a sequence of options in any order; a word that is not an
//!   option is the destination, optionally after `to` and a route type
//!   (`unicast`, `local`, `broadcast`, `anycast`, `multicast`, `blackhole`,
//!   `unreachable`, `prohibit`, `throw`, `nat`, `xresolve`); `default` is
//!   the default route of the line's family;
//! - `inet` / `inet6` set the family, and so do `src`, `via` and the
//!   destination; mixing families is an error, as is a line with no
//!   destination or a bad address;
//! - rvs acts on the destination, `via`/`gw` and `dev`/`oif`; every other
//!   option is read with its value (so the line parses as keepalived parses
//!   it) and reported back as unsupported; a route type other than
//!   `unicast`, and multipath (`nexthop`) or encapsulation (`encap`), make
//!   the route one rvs cannot install ([`Parsed::kind`]).

use std::net::IpAddr;

use rvs_api::Prefix;

use super::lexer::Word;

/// A route line as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub dst: Prefix,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    /// What makes it a route rvs cannot install (`blackhole route`,
    /// `route with 'nexthop'` ...), if anything.
    pub kind: Option<String>,
    /// Options rvs does not act on, each at its word (for a warning).
    pub ignored: Vec<Word>,
}

/// An error at a word (or at the line's first word when `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteError {
    pub at: Option<usize>,
    pub message: String,
}

const ROUTE_TYPES: &[&str] = &[
    "unicast",
    "local",
    "broadcast",
    "anycast",
    "multicast",
    "blackhole",
    "unreachable",
    "prohibit",
    "throw",
    "nat",
    "xresolve",
];

/// Options that take one value (a second, `lock`, is allowed where
/// `ip route` allows it).
fn takes_value(opt: &str) -> Option<bool> {
    Some(match opt {
        "from" | "tos" | "dsfield" | "table" | "protocol" | "scope" | "metric" | "priority"
        | "preference" | "expires" | "hoplimit" | "window" | "realms" | "initcwnd" | "initrwnd"
        | "features" | "quickack" | "pref" | "ttl-propagate" | "fastopen_no_cookie"
        | "track_group" | "vrf" => false,
        "mtu" | "advmss" | "rtt" | "rttvar" | "reordering" | "cwnd" | "ssthresh" | "rto_min"
        | "congctl" => true,
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fam {
    Unspec,
    V4,
    V6,
}

fn fam_of(a: IpAddr) -> Fam {
    if a.is_ipv4() {
        Fam::V4
    } else {
        Fam::V6
    }
}

/// Parse `words` (the whole line: destination-or-option first).
pub fn parse(words: &[Word]) -> Result<Parsed, RouteError> {
    let e = |at: usize, message: String| RouteError {
        at: Some(at),
        message,
    };
    let mut fam = Fam::Unspec;
    let mut set_fam = |f: Fam, at: usize| -> Result<(), RouteError> {
        if fam == Fam::Unspec {
            fam = f;
            Ok(())
        } else if fam != f {
            Err(e(
                at,
                "cannot mix IPv4 and IPv6 addresses in a route".into(),
            ))
        } else {
            Ok(())
        }
    };
    let mut dst: Option<(String, usize)> = None;
    let (mut via, mut dev, mut kind) = (None, None, None);
    let mut ignored = Vec::new();
    let value = |i: usize| -> Result<&Word, RouteError> {
        words
            .get(i + 1)
            .ok_or_else(|| e(i, format!("'{}' needs a value", words[i].text)))
    };
    let mut i = 0;
    while i < words.len() {
        let w = words[i].text.as_str();
        match w {
            "inet" => set_fam(Fam::V4, i)?,
            "inet6" => set_fam(Fam::V6, i)?,
            "src" => {
                let v = value(i)?;
                let a: IpAddr = v
                    .text
                    .parse()
                    .map_err(|_| e(i + 1, format!("invalid route src address '{}'", v.text)))?;
                set_fam(fam_of(a), i + 1)?;
                ignored.push(words[i].clone());
                i += 1;
            }
            "via" | "gw" => {
                let mut j = i + 1;
                let mut v = value(i)?;
                if v.text == "inet" || v.text == "inet6" {
                    set_fam(if v.text == "inet" { Fam::V4 } else { Fam::V6 }, j)?;
                    v = value(j)?;
                    j += 1;
                }
                let a: IpAddr = v
                    .text
                    .parse()
                    .map_err(|_| e(j, format!("'{}' is not a gateway address", v.text)))?;
                set_fam(fam_of(a), j)?;
                via = Some(a);
                i = j;
            }
            "dev" | "oif" => {
                dev = Some(value(i)?.text.clone());
                i += 1;
            }
            "onlink" | "no_track" => ignored.push(words[i].clone()),
            "as" => {
                ignored.push(words[i].clone());
                i += 1;
                if words.get(i + 1).is_some_and(|w| w.text == "to") {
                    i += 1;
                }
            }
            "encap" | "nexthop" | "or" | "add" | "prepend" | "append" => {
                // Multipath and encapsulation: nothing rvs can install;
                // the rest of the line is theirs.
                kind = Some(format!("route with '{w}'"));
                break;
            }
            _ => {
                if let Some(lock) = takes_value(w) {
                    value(i)?;
                    ignored.push(words[i].clone());
                    i += 1;
                    if lock && words[i].text == "lock" {
                        value(i)?;
                        i += 1;
                    }
                } else {
                    let mut j = i;
                    if w == "to" {
                        j += 1;
                    }
                    let Some(mut d) = words.get(j) else {
                        return Err(e(i, "'to' needs a destination".into()));
                    };
                    if ROUTE_TYPES.contains(&d.text.as_str()) {
                        if d.text != "unicast" {
                            kind = Some(format!("{} route", d.text));
                        }
                        j += 1;
                        d = words
                            .get(j)
                            .ok_or_else(|| e(j - 1, "a route type needs a destination".into()))?;
                    }
                    if d.text != "default" {
                        let p: Prefix = d.text.parse().map_err(|_| {
                            e(
                                j,
                                format!("unknown route keyword or bad destination '{}'", d.text),
                            )
                        })?;
                        set_fam(fam_of(p.addr), j)?;
                    }
                    dst = Some((d.text.clone(), j));
                    i = j;
                }
            }
        }
        i += 1;
    }
    let Some((dst, at)) = dst else {
        return Err(RouteError {
            at: None,
            message: "a route needs a destination".into(),
        });
    };
    let dst: Prefix = if dst == "default" {
        if fam == Fam::V6 { "::/0" } else { "0.0.0.0/0" }
            .parse()
            .map_err(|m: String| e(at, m))?
    } else {
        dst.parse().map_err(|m: String| e(at, m))?
    };
    Ok(Parsed {
        dst,
        via,
        dev,
        kind,
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    fn words(s: &str) -> Vec<Word> {
        let file: Arc<Path> = Arc::from(Path::new("t"));
        s.split_whitespace()
            .enumerate()
            .map(|(i, t)| Word {
                text: t.to_string(),
                pos: super::super::error::Position::new(file.clone(), 1, i as u32 + 1),
                dollar: None,
            })
            .collect()
    }

    #[test]
    fn options_before_the_destination() {
        let p = parse(&words(
            "src 10.0.0.1 to 192.168.0.0/24 via 10.0.0.254 dev eth1",
        ))
        .unwrap();
        assert_eq!(p.dst.to_string(), "192.168.0.0/24");
        assert_eq!(p.via, Some("10.0.0.254".parse().unwrap()));
        assert_eq!(p.dev.as_deref(), Some("eth1"));
        assert_eq!(p.ignored.len(), 1);
        let p = parse(&words("inet6 default via inet6 fe80::1 dev eth0 metric 5")).unwrap();
        assert_eq!(p.dst.to_string(), "::/0");
        let p = parse(&words("blackhole 10.9.0.0/16")).unwrap();
        assert_eq!(p.kind.as_deref(), Some("blackhole route"));
        let p = parse(&words("to unreachable 10.9.0.0/16 table 10 mtu lock 1400")).unwrap();
        assert_eq!(p.kind.as_deref(), Some("unreachable route"));
        let p = parse(&words(
            "10.2.0.0/16 nexthop via 10.0.0.1 nexthop via 10.0.0.2",
        ))
        .unwrap();
        assert_eq!(p.kind.as_deref(), Some("route with 'nexthop'"));
        let p = parse(&words("unicast 10.1.0.0/16 dev eth0")).unwrap();
        assert_eq!(p.kind, None);
    }

    #[test]
    fn errors_name_the_word() {
        let e = parse(&words("inet 10.0.0.0/8 via fe80::1")).unwrap_err();
        assert_eq!(e.at, Some(3));
        let e = parse(&words("via 10.0.0.1 dev eth0")).unwrap_err();
        assert_eq!(e.at, None);
        let e = parse(&words("10.0.0.0/8 via nowhere")).unwrap_err();
        assert_eq!(e.at, Some(2));
        let e = parse(&words("10.0.0.0/8 metric")).unwrap_err();
        assert_eq!(e.at, Some(1));
    }
}
