//! VRRP advertisements on the wire: VRRPv2 (RFC 3768) and VRRPv3 (RFC
//! 5798 / 9568), `spec/vrrp.md` §2.
//!
//! Contract:
//! - [`encode`] writes an advertisement, checksum included; [`decode`]
//!   reads one and checks everything the message itself can tell: version
//!   2 or 3, type 1, a length that covers the header and every address,
//!   the checksum, and (v2) the authentication type and data layout;
//! - the VRRPv3 IPv4 checksum comes in two conventions (`spec/vrrp.md`
//!   §2.2): with an IPv4 pseudo-header (keepalived's default, Wireshark's)
//!   or without (`v3_checksum_as_v2`, some vendors); [`Checksum`] picks one
//!   for sending, and [`decode`] accepts the given one, or either with
//!   [`Checksum::Either`]. IPv6 always has the IPv6 pseudo-header;
//! - nothing here allocates on decode except the address list.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvs_checksum as inet;

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// The IPv4 multicast group adverts go to.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group adverts go to.
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL / hop limit adverts carry, and must arrive with.
pub const TTL: u8 = 255;
/// Priority of the address owner.
pub const PRIORITY_OWNER: u8 = 255;
/// Priority of a master that resigns.
pub const PRIORITY_RESIGN: u8 = 0;

/// The version of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V2,
    V3,
}

/// VRRPv2 authentication (keepalived keeps RFC 2338's simple password).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    None,
    /// `auth_type PASS`: up to 8 bytes of cleartext, zero padded.
    Pass([u8; 8]),
}

impl Auth {
    /// `auth_pass TEXT`: keepalived keeps the first 8 bytes.
    pub fn pass(text: &str) -> Auth {
        let mut p = [0u8; 8];
        for (d, s) in p.iter_mut().zip(text.bytes()) {
            *d = s;
        }
        Auth::Pass(p)
    }

    fn type_byte(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Pass(_) => 1,
        }
    }
}

/// One advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    pub version: Version,
    /// 1..=255.
    pub vrid: u8,
    pub priority: u8,
    /// v2: whole seconds (1..=255); v3: centiseconds (1..=4095).
    pub interval: u16,
    /// v2 only (v3 has none: always [`Auth::None`]).
    pub auth: Auth,
    /// All of one family: IPv4 for v2.
    pub addrs: Vec<IpAddr>,
}

impl Advert {
    /// The advertisement interval in microseconds.
    pub fn interval_us(&self) -> u64 {
        match self.version {
            Version::V2 => u64::from(self.interval) * 1_000_000,
            Version::V3 => u64::from(self.interval) * 10_000,
        }
    }
}

/// How the VRRPv3 IPv4 checksum is computed (`spec/vrrp.md` §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// With the IPv4 pseudo-header (keepalived's default).
    PseudoHeader,
    /// Without (keepalived's `v3_checksum_as_v2`).
    AsV2,
    /// On receive: accept either.
    Either,
}

/// Why a packet is not a valid advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    Truncated,
    BadVersion(u8),
    BadType(u8),
    /// The header says more addresses than the packet holds.
    BadLength,
    BadChecksum,
    /// VRRPv2 with an authentication type other than 0 or 1 (2 is IP AH).
    UnsupportedAuth(u8),
    /// VRID 0, or an interval of 0.
    BadField(&'static str),
    /// A v2 advert of IPv6 addresses, or addresses of both families.
    BadFamily,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Truncated => write!(f, "truncated advertisement"),
            WireError::BadVersion(v) => write!(f, "wrong VRRP version {v}"),
            WireError::BadType(t) => write!(f, "VRRP type {t} is not an advertisement"),
            WireError::BadLength => write!(f, "length does not cover the addresses"),
            WireError::BadChecksum => write!(f, "invalid VRRP checksum"),
            WireError::UnsupportedAuth(a) => write!(f, "authentication type {a} is not supported"),
            WireError::BadField(w) => write!(f, "invalid {w}"),
            WireError::BadFamily => write!(f, "addresses of the wrong family"),
        }
    }
}

/// The IP source and destination an advert travels with (the checksum's
/// pseudo-header, for v3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path {
    pub src: IpAddr,
    pub dst: IpAddr,
}

/// The pseudo-header's sum (RFC 2460 / RFC 5798 §5.2.8).
fn pseudo_sum(path: &Path, len: usize) -> u16 {
    match (path.src, path.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            inet::pseudo_v4(s.octets(), d.octets(), PROTOCOL, len as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            inet::pseudo_v6(s.octets(), d.octets(), PROTOCOL, len as u32)
        }
        // Mixed families cannot travel together; no pseudo-header.
        _ => 0,
    }
}

/// The checksum of `msg` (its checksum field zero) for `version`, sent on
/// `path` with convention `conv` (IPv6 always uses the pseudo-header).
pub fn checksum(msg: &[u8], version: Version, path: Option<&Path>, conv: Checksum) -> u16 {
    let pseudo = match (version, path) {
        (Version::V2, _) | (_, None) => 0,
        (Version::V3, Some(p)) if p.src.is_ipv6() => pseudo_sum(p, msg.len()),
        (Version::V3, Some(p)) => match conv {
            Checksum::AsV2 => 0,
            Checksum::PseudoHeader | Checksum::Either => pseudo_sum(p, msg.len()),
        },
    };
    !inet::combine(&[pseudo, inet::sum(msg)])
}

/// The advert's bytes (the VRRP message; the IP header is the socket's).
pub fn encode(a: &Advert, path: Option<&Path>, conv: Checksum) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + a.addrs.len() * 16 + 8);
    let ver = match a.version {
        Version::V2 => 2u8,
        Version::V3 => 3u8,
    };
    out.push((ver << 4) | 1);
    out.push(a.vrid);
    out.push(a.priority);
    out.push(a.addrs.len().min(255) as u8);
    match a.version {
        Version::V2 => {
            out.push(a.auth.type_byte());
            out.push(a.interval.min(255) as u8);
        }
        Version::V3 => {
            let i = a.interval.min(0x0fff);
            out.push((i >> 8) as u8);
            out.push(i as u8);
        }
    }
    out.extend_from_slice(&[0, 0]);
    for addr in a.addrs.iter().take(255) {
        match addr {
            IpAddr::V4(v) => out.extend_from_slice(&v.octets()),
            IpAddr::V6(v) => out.extend_from_slice(&v.octets()),
        }
    }
    if a.version == Version::V2 {
        match a.auth {
            Auth::None => out.extend_from_slice(&[0; 8]),
            Auth::Pass(p) => out.extend_from_slice(&p),
        }
    }
    let c = checksum(&out, a.version, path, conv);
    out[6..8].copy_from_slice(&c.to_be_bytes());
    out
}

/// Read an advert that arrived on `path`; `ipv6` says the family the IP
/// header had (the addresses' family).
pub fn decode(
    msg: &[u8],
    ipv6: bool,
    path: Option<&Path>,
    conv: Checksum,
) -> Result<Advert, WireError> {
    if msg.len() < 8 {
        return Err(WireError::Truncated);
    }
    let version = match msg[0] >> 4 {
        2 => Version::V2,
        3 => Version::V3,
        v => return Err(WireError::BadVersion(v)),
    };
    if msg[0] & 0x0f != 1 {
        return Err(WireError::BadType(msg[0] & 0x0f));
    }
    if version == Version::V2 && ipv6 {
        return Err(WireError::BadFamily);
    }
    let vrid = msg[1];
    let priority = msg[2];
    let count = usize::from(msg[3]);
    let alen = if ipv6 { 16 } else { 4 };
    let need = 8 + count * alen + if version == Version::V2 { 8 } else { 0 };
    if msg.len() < need {
        return Err(WireError::BadLength);
    }
    let msg = &msg[..need];
    let stored = u16::from_be_bytes([msg[6], msg[7]]);
    let mut zeroed = msg.to_vec();
    zeroed[6] = 0;
    zeroed[7] = 0;
    let ok = match conv {
        Checksum::Either => [Checksum::PseudoHeader, Checksum::AsV2]
            .iter()
            .any(|&c| checksum(&zeroed, version, path, c) == stored),
        c => checksum(&zeroed, version, path, c) == stored,
    };
    if !ok {
        return Err(WireError::BadChecksum);
    }
    if vrid == 0 {
        return Err(WireError::BadField("virtual router id 0"));
    }
    let (auth_type, interval) = match version {
        Version::V2 => (msg[4], u16::from(msg[5])),
        Version::V3 => (0, u16::from_be_bytes([msg[4] & 0x0f, msg[5]])),
    };
    if interval == 0 {
        return Err(WireError::BadField("advertisement interval 0"));
    }
    let addrs = msg[8..8 + count * alen]
        .chunks_exact(alen)
        .map(|c| {
            if ipv6 {
                let mut o = [0u8; 16];
                o.copy_from_slice(c);
                IpAddr::V6(Ipv6Addr::from(o))
            } else {
                IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3]))
            }
        })
        .collect();
    let auth = match (version, auth_type) {
        (Version::V3, _) | (Version::V2, 0) => Auth::None,
        (Version::V2, 1) => {
            let mut p = [0u8; 8];
            p.copy_from_slice(&msg[need - 8..need]);
            Auth::Pass(p)
        }
        (Version::V2, other) => return Err(WireError::UnsupportedAuth(other)),
    };
    Ok(Advert {
        version,
        vrid,
        priority,
        interval,
        auth,
        addrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn hex(b: &[u8]) -> String {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `spec/vrrp.md` §2.1's worked example, and with `auth_pass secret`.
    #[test]
    fn v2_worked_examples() {
        let mut a = Advert {
            version: Version::V2,
            vrid: 51,
            priority: 100,
            interval: 1,
            auth: Auth::None,
            addrs: vec![v4("192.168.200.16")],
        };
        let bytes = encode(&a, None, Checksum::PseudoHeader);
        assert_eq!(
            hex(&bytes),
            "21 33 64 01 00 01 f2 10 c0 a8 c8 10 00 00 00 00 00 00 00 00"
        );
        assert_eq!(
            decode(&bytes, false, None, Checksum::PseudoHeader),
            Ok(a.clone())
        );
        a.auth = Auth::pass("secret");
        let bytes = encode(&a, None, Checksum::PseudoHeader);
        assert_eq!(&bytes[4..8], &[0x01, 0x01, 0xb4, 0xc4]);
        assert_eq!(&bytes[12..], b"secret\0\0");
        assert_eq!(decode(&bytes, false, None, Checksum::Either), Ok(a));
        // keepalived keeps 8 bytes of a longer password.
        assert_eq!(Auth::pass("123456789"), Auth::Pass(*b"12345678"));
    }

    /// §2.2's worked example: with the IPv4 pseudo-header 0x7873, without
    /// 0xE1AD; either is accepted behind `Either`, only its own otherwise.
    #[test]
    fn v3_worked_example_and_both_checksum_conventions() {
        let a = Advert {
            version: Version::V3,
            vrid: 51,
            priority: 100,
            interval: 100,
            auth: Auth::None,
            addrs: vec![v4("192.168.200.16")],
        };
        let path = Path {
            src: v4("192.168.200.2"),
            dst: IpAddr::V4(GROUP_V4),
        };
        let with = encode(&a, Some(&path), Checksum::PseudoHeader);
        assert_eq!(hex(&with), "31 33 64 01 00 64 78 73 c0 a8 c8 10");
        let without = encode(&a, Some(&path), Checksum::AsV2);
        assert_eq!(&without[6..8], &[0xe1, 0xad]);
        for (bytes, conv, ok) in [
            (&with, Checksum::PseudoHeader, true),
            (&with, Checksum::AsV2, false),
            (&without, Checksum::AsV2, true),
            (&without, Checksum::PseudoHeader, false),
            (&with, Checksum::Either, true),
            (&without, Checksum::Either, true),
        ] {
            let got = decode(bytes, false, Some(&path), conv);
            assert_eq!(got.is_ok(), ok, "{conv:?}: {got:?}");
        }
        assert_eq!(a.interval_us(), 1_000_000);
    }

    #[test]
    fn v3_ipv6_round_trips_with_the_ipv6_pseudo_header() {
        let a = Advert {
            version: Version::V3,
            vrid: 7,
            priority: 200,
            interval: 50,
            auth: Auth::None,
            addrs: vec![
                "2001:db8::100".parse().unwrap(),
                "2001:db8::101".parse().unwrap(),
            ],
        };
        let path = Path {
            src: "fe80::1".parse().unwrap(),
            dst: IpAddr::V6(GROUP_V6),
        };
        let b = encode(&a, Some(&path), Checksum::AsV2);
        assert_eq!(b.len(), 8 + 32);
        assert_eq!(decode(&b, true, Some(&path), Checksum::AsV2), Ok(a));
        // Another source: the pseudo-header differs, the checksum fails.
        let other = Path {
            src: "fe80::2".parse().unwrap(),
            ..path
        };
        assert_eq!(
            decode(&b, true, Some(&other), Checksum::Either),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn malformed_adverts_are_errors() {
        let good = encode(
            &Advert {
                version: Version::V2,
                vrid: 51,
                priority: 100,
                interval: 1,
                auth: Auth::None,
                addrs: vec![v4("10.0.0.1")],
            },
            None,
            Checksum::Either,
        );
        let d = |b: &[u8]| decode(b, false, None, Checksum::Either);
        assert_eq!(d(&good[..7]), Err(WireError::Truncated));
        assert_eq!(d(&good[..15]), Err(WireError::BadLength));
        let mut b = good.clone();
        b[0] = 0x41;
        assert_eq!(d(&b), Err(WireError::BadVersion(4)));
        let mut b = good.clone();
        b[0] = 0x22;
        assert_eq!(d(&b), Err(WireError::BadType(2)));
        let mut b = good.clone();
        b[2] ^= 1;
        assert_eq!(d(&b), Err(WireError::BadChecksum));
        assert_eq!(
            decode(&good, true, None, Checksum::Either),
            Err(WireError::BadFamily)
        );
        // Auth type 2 (IP AH) with a valid checksum.
        let mut b = good.clone();
        b[4] = 2;
        b[6] = 0;
        b[7] = 0;
        let c = checksum(&b, Version::V2, None, Checksum::Either);
        b[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(d(&b), Err(WireError::UnsupportedAuth(2)));
    }

    /// Any advert encodes and decodes to itself, with either convention.
    #[test]
    fn round_trip_over_many_adverts() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let v3 = next() % 2 == 0;
            let ipv6 = v3 && next() % 2 == 0;
            let n = (next() % 6) as usize;
            let addrs = (0..n)
                .map(|_| {
                    if ipv6 {
                        IpAddr::V6(Ipv6Addr::from(
                            u128::from(next()) << 64 | u128::from(next()),
                        ))
                    } else {
                        IpAddr::V4(Ipv4Addr::from(next() as u32))
                    }
                })
                .collect();
            let a = Advert {
                version: if v3 { Version::V3 } else { Version::V2 },
                vrid: (next() % 255 + 1) as u8,
                priority: next() as u8,
                interval: if v3 {
                    (next() % 4095 + 1) as u16
                } else {
                    (next() % 255 + 1) as u16
                },
                auth: if !v3 && next() % 2 == 0 {
                    Auth::Pass((next()).to_be_bytes())
                } else {
                    Auth::None
                },
                addrs,
            };
            let path = if ipv6 {
                Path {
                    src: "fe80::9".parse().unwrap(),
                    dst: IpAddr::V6(GROUP_V6),
                }
            } else {
                Path {
                    src: v4("10.1.2.3"),
                    dst: IpAddr::V4(GROUP_V4),
                }
            };
            let conv = if next() % 2 == 0 {
                Checksum::PseudoHeader
            } else {
                Checksum::AsV2
            };
            let b = encode(&a, Some(&path), conv);
            assert_eq!(decode(&b, ipv6, Some(&path), conv).as_ref(), Ok(&a));
        }
    }
}
