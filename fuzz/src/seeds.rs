//! The generated seeds (`rvs-fuzz seeds DIR`): frames like the pipeline's
//! golden tests send, for every service of the fuzzed director, the sync
//! datagrams a worker reports for them, VRRP adverts like the spec's worked
//! packets, admin requests, and the TOML of the keepalived and ldirectord
//! seeds' models. The keepalived, ldirectord and rvsadm seeds are files
//! copied from the repository's fixtures and spec (`fuzz/README.md`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use rvs_api::{Envelope, Forward, Protocol, Request, ServiceConfig, ServiceKey, API_VERSION};
use rvs_dataplane::pipeline::{VecFrame, Verdict};
use rvs_dataplane::wire::checksum;
use rvs_dataplane::wire::ethernet::MacAddr;

use crate::director::{
    join_frames, populated_worker, CLI, CLI6, CLI_MAC, LB, LB6, LB_MAC, RS, SERVICES,
    SYNPROXY_PORT, VIP, VIP6,
};

const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;
/// SCTP chunk types.
const INIT: u8 = 1;
const INIT_ACK: u8 = 2;
const DATA: u8 = 0;
const ABORT: u8 = 6;
const SHUTDOWN: u8 = 7;
const SHUTDOWN_ACK: u8 = 8;
const COOKIE_ECHO: u8 = 10;
const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

fn eth(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IP packet (either family) carrying `l4`, whose checksum (TCP, UDP)
/// is filled in.
fn ip(src: IpAddr, dst: IpAddr, proto: u8, mut l4: Vec<u8>) -> (u16, Vec<u8>) {
    fix_l4(src, dst, proto, &mut l4);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut p = vec![0u8; 20];
            p[0] = 0x45;
            p[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
            p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            p[6] = 0x40;
            p[8] = 64;
            p[9] = proto;
            p[12..16].copy_from_slice(&s.octets());
            p[16..20].copy_from_slice(&d.octets());
            let c = !checksum::sum(&p);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            p.extend_from_slice(&l4);
            (0x0800, p)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut p = vec![0x60, 0, 0, 0];
            p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            p.push(proto);
            p.push(64);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&l4);
            (0x86dd, p)
        }
        _ => unreachable!("one family"),
    }
}

/// Fill in the checksum of a TCP or UDP segment (or ICMPv6 message, or
/// SCTP packet: its CRC32c, least significant byte first as rvs reads it).
fn fix_l4(src: IpAddr, dst: IpAddr, proto: u8, l4: &mut [u8]) {
    let at = match proto {
        SCTP => {
            if l4.len() >= 12 {
                l4[8..12].fill(0);
                let crc = checksum::crc32c(l4);
                l4[8..12].copy_from_slice(&crc.to_le_bytes());
            }
            return;
        }
        TCP => 16,
        UDP => 6,
        58 => 2,
        1 => {
            l4[2..4].fill(0);
            let c = !checksum::sum(l4);
            l4[2..4].copy_from_slice(&c.to_be_bytes());
            return;
        }
        _ => return,
    };
    l4[at..at + 2].fill(0);
    let pseudo = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            checksum::pseudo_v4(s.octets(), d.octets(), proto, l4.len() as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            checksum::pseudo_v6(s.octets(), d.octets(), proto, l4.len() as u32)
        }
        _ => unreachable!("one family"),
    };
    let mut c = !checksum::combine(&[pseudo, checksum::sum(l4)]);
    if c == 0 && proto == UDP {
        c = 0xffff;
    }
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    tcp_seq(sport, dport, flags, 1000, 5000, payload)
}

/// A TCP segment with these sequence and acknowledgement numbers (the
/// latter only with ACK).
fn tcp_seq(sport: u16, dport: u16, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    if flags & ACK != 0 {
        t[8..12].copy_from_slice(&ack.to_be_bytes());
    }
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t.extend_from_slice(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    u
}

/// An SCTP packet of one chunk (its checksum is filled in by [`ip`]).
fn sctp(sport: u16, dport: u16, vtag: u32, chunk: u8, body: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(16 + body.len() + 3);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&vtag.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(&[chunk, 0]);
    p.extend_from_slice(&(4 + body.len() as u16).to_be_bytes());
    p.extend_from_slice(body);
    while p.len() % 4 != 0 {
        p.push(0);
    }
    p
}

/// An INIT chunk's body: initiate tag, a_rwnd, streams, initial TSN.
const INIT_BODY: [u8; 16] = [0xde, 0xad, 0xbe, 0xef, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1];

/// Where the transport header of an Ethernet frame (IPv4 or IPv6) starts,
/// and its protocol.
fn l4_of(f: &[u8]) -> Option<(usize, u8)> {
    match u16::from_be_bytes([*f.get(12)?, *f.get(13)?]) {
        0x0800 => Some((14 + usize::from(f.get(14)? & 0x0f) * 4, *f.get(23)?)),
        0x86dd => Some((54, *f.get(20)?)),
        _ => None,
    }
}

/// The sequence number of the TCP segment in an Ethernet frame.
fn tcp_seq_of(f: &[u8]) -> Option<u32> {
    let (at, proto) = l4_of(f)?;
    (proto == TCP).then_some(())?;
    Some(u32::from_be_bytes(f.get(at + 4..at + 8)?.try_into().ok()?))
}

/// A frame from the client to `dst`.
fn client(src: IpAddr, dst: IpAddr, proto: u8, l4: Vec<u8>) -> Vec<u8> {
    let (et, p) = ip(src, dst, proto, l4);
    eth(LB_MAC, CLI_MAC, et, &p)
}

/// The answer a real server sends to a frame the director forwarded to it
/// (NAT, FullNAT): addresses, ports and MACs swapped, `kind` set (TCP's
/// flags, or SCTP's first chunk type), TCP's sequence and acknowledgement
/// numbers set when `seq_ack` says, the checksums made right. None for
/// what is not plain IP over Ethernet.
fn answer(out: &[u8], kind: u8, seq_ack: Option<(u32, u32)>) -> Option<Vec<u8>> {
    let mut f = out.to_vec();
    let (l4_at, proto, src, dst) = match u16::from_be_bytes([*f.get(12)?, *f.get(13)?]) {
        0x0800 => {
            let ihl = usize::from(f.get(14)? & 0x0f) * 4;
            let (s, d): ([u8; 4], [u8; 4]) =
                (f[26..30].try_into().ok()?, f[30..34].try_into().ok()?);
            f[26..30].copy_from_slice(&d);
            f[30..34].copy_from_slice(&s);
            f[24..26].fill(0);
            let c = !checksum::sum(&f[14..14 + ihl]);
            f[24..26].copy_from_slice(&c.to_be_bytes());
            (14 + ihl, f[23], IpAddr::from(d), IpAddr::from(s))
        }
        0x86dd => {
            let (s, d): ([u8; 16], [u8; 16]) =
                (f[22..38].try_into().ok()?, f[38..54].try_into().ok()?);
            f[22..38].copy_from_slice(&d);
            f[38..54].copy_from_slice(&s);
            (54, f[20], IpAddr::from(d), IpAddr::from(s))
        }
        _ => return None,
    };
    if ![TCP, UDP, SCTP].contains(&proto) {
        return None;
    }
    let (a, b): ([u8; 6], [u8; 6]) = (f[0..6].try_into().ok()?, f[6..12].try_into().ok()?);
    f[0..6].copy_from_slice(&b);
    f[6..12].copy_from_slice(&a);
    let l4 = &mut f[l4_at..];
    let (sp, dp) = ([l4[0], l4[1]], [l4[2], l4[3]]);
    l4[0..2].copy_from_slice(&dp);
    l4[2..4].copy_from_slice(&sp);
    match proto {
        TCP => {
            l4[13] = kind;
            if let Some((seq, ack)) = seq_ack {
                l4[4..8].copy_from_slice(&seq.to_be_bytes());
                l4[8..12].copy_from_slice(&ack.to_be_bytes());
            }
        }
        SCTP => *l4.get_mut(12)? = kind,
        _ => {}
    }
    fix_l4(src, dst, proto, l4);
    Some(f)
}

/// The named seeds of the `frames` target.
pub fn frames() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (fam, cli, vip) in [
        ("v4", IpAddr::V4(CLI), IpAddr::V4(VIP)),
        ("v6", IpAddr::V6(CLI6), IpAddr::V6(VIP6)),
    ] {
        for &(port, protocol, forward, sched, _) in &SERVICES {
            let name = format!("{fam}-{forward:?}-{protocol:?}-{port}-{sched}").to_lowercase();
            let sport = 40_000 + port;
            let (proto, first) = match protocol {
                Protocol::Tcp => (TCP, tcp(sport, port, SYN, b"")),
                Protocol::Udp => (UDP, udp(sport, port, b"query")),
                Protocol::Sctp => (SCTP, sctp(sport, port, 0, INIT, &INIT_BODY)),
            };
            let first = client(cli, vip, proto, first);
            // The first frame alone, then a whole exchange: what the real
            // server answers (through the director for NAT and FullNAT),
            // the client's data, its FIN and a late RST after expiry.
            seeds.push((format!("{name}-first"), join_frames(&[(0, first.clone())])));
            let mut w = populated_worker();
            let mut out = VecFrame(first.clone());
            let verdict = w.handle_frame(0, &mut out, 1_001, false);
            let mut seq = vec![(0u8, first)];
            let nat = matches!(forward, Forward::Masq | Forward::FullNat);
            let answer_kind = if protocol == Protocol::Sctp {
                INIT_ACK
            } else {
                SYN | ACK
            };
            if let (Verdict::Forward(_), true) = (verdict, nat) {
                if let Some(a) = answer(&out.0, answer_kind, None) {
                    seq.push((0, a));
                }
            }
            match protocol {
                Protocol::Tcp => {
                    seq.push((0, client(cli, vip, TCP, tcp(sport, port, ACK, b""))));
                    seq.push((
                        1,
                        client(cli, vip, TCP, tcp(sport, port, PSH | ACK, b"GET /")),
                    ));
                    seq.push((0, client(cli, vip, TCP, tcp(sport, port, FIN | ACK, b""))));
                    seq.push((0x3f, client(cli, vip, TCP, tcp(sport, port, RST, b""))));
                }
                Protocol::Udp => {
                    seq.push((2, client(cli, vip, UDP, udp(sport, port, b"again"))));
                    seq.push((0x3f, client(cli, vip, UDP, udp(sport, port, b"late"))));
                }
                Protocol::Sctp => {
                    let c = |vtag, ty, body: &[u8]| {
                        client(cli, vip, SCTP, sctp(sport, port, vtag, ty, body))
                    };
                    seq.push((0, c(0xdead_beef, COOKIE_ECHO, b"cookie")));
                    seq.push((
                        1,
                        c(
                            0xdead_beef,
                            DATA,
                            &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, b'h', b'i'],
                        ),
                    ));
                    seq.push((0, c(0xdead_beef, SHUTDOWN, &[0, 0, 0, 1])));
                    if let Some(a) = answer(&out.0, SHUTDOWN_ACK, None) {
                        seq.push((0, a));
                    }
                    seq.push((0x3f, c(0xdead_beef, ABORT, b"")));
                }
            }
            seeds.push((format!("{name}-flow"), join_frames(&seq)));
            if port == SYNPROXY_PORT {
                seeds.extend(synproxied(&name, cli, vip, sport, port));
            }
        }
    }
    // The director's own traffic: ARP for the VIP, pings to it, an ICMP
    // "fragmentation needed" about a NAT flow, a neighbour solicitation.
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&CLI_MAC.0);
    arp.extend_from_slice(&CLI.octets());
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&VIP.octets());
    let arp = eth(MacAddr([0xff; 6]), CLI_MAC, 0x0806, &arp);
    seeds.push(("arp-request-vip".into(), join_frames(&[(0, arp)])));
    let echo = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1, b'p', b'i', b'n', b'g'];
    let ping = client(IpAddr::V4(CLI), IpAddr::V4(VIP), 1, echo.clone());
    let ping_lb = client(IpAddr::V4(CLI), IpAddr::V4(LB), 1, echo);
    seeds.push(("icmp-echo".into(), join_frames(&[(0, ping), (0, ping_lb)])));
    let echo6 = vec![128, 0, 0, 0, 0x12, 0x34, 0, 1, b'p', b'i', b'n', b'g'];
    let ping6 = client(IpAddr::V6(CLI6), IpAddr::V6(VIP6), 58, echo6);
    seeds.push(("icmpv6-echo".into(), join_frames(&[(0, ping6)])));
    let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
    ns.extend_from_slice(&LB6.octets());
    ns.extend_from_slice(&[1, 1]);
    ns.extend_from_slice(&CLI_MAC.0);
    let (_, mut ns) = ip(IpAddr::V6(CLI6), IpAddr::V6(LB6), 58, ns);
    ns[7] = 255;
    seeds.push((
        "ndp-solicit".into(),
        join_frames(&[(0, eth(LB_MAC, CLI_MAC, 0x86dd, &ns))]),
    ));
    // ICMP errors quoting a NAT flow's reply (VIP:81 to the client).
    let inner = ip(
        IpAddr::V4(VIP),
        IpAddr::V4(CLI),
        TCP,
        tcp(81, 40_081, SYN | ACK, b""),
    )
    .1;
    let mut icmp = vec![3, 4, 0, 0, 0, 0, 0x05, 0x78];
    icmp.extend_from_slice(&inner[..28]);
    let syn = client(
        IpAddr::V4(CLI),
        IpAddr::V4(VIP),
        TCP,
        tcp(40_081, 81, SYN, b""),
    );
    let err = client(IpAddr::V4(RS[0].0), IpAddr::V4(VIP), 1, icmp);
    seeds.push((
        "icmp-frag-needed".into(),
        join_frames(&[(0, syn), (0, err)]),
    ));
    seeds
}

/// A SYN-proxied connection whose client answers the cookie right (the
/// director's keys are seeded, so the cookie a fresh worker sends is the
/// one the fuzzed worker expects): the SYN, the valid ACK that opens the
/// real server's handshake, its SYN-ACK, data both ways with the shifted
/// sequence numbers, the FIN.
fn synproxied(
    name: &str,
    cli: IpAddr,
    vip: IpAddr,
    sport: u16,
    port: u16,
) -> Option<(String, Vec<u8>)> {
    let mut w = populated_worker();
    let mut run = |f: &[u8], now| {
        let mut out = VecFrame(f.to_vec());
        let v = w.handle_frame(0, &mut out, now, false);
        (v, out.0)
    };
    let syn = client(cli, vip, TCP, tcp(sport, port, SYN, b""));
    let (Verdict::Reply, syn_ack) = run(&syn, 1_001) else {
        return None;
    };
    let cookie = tcp_seq_of(&syn_ack)?;
    let c = |flags, payload: &[u8]| {
        client(
            cli,
            vip,
            TCP,
            tcp_seq(sport, port, flags, 1001, cookie.wrapping_add(1), payload),
        )
    };
    let ack = c(ACK, b"");
    let (Verdict::Forward(_), to_rs) = run(&ack, 1_002) else {
        return None;
    };
    let rs_isn = 70_000u32;
    let rs_syn_ack = answer(
        &to_rs,
        SYN | ACK,
        Some((rs_isn, tcp_seq_of(&to_rs)?.wrapping_add(1))),
    )?;
    let (_, _) = run(&rs_syn_ack, 1_003);
    let get = c(PSH | ACK, b"GET /");
    let (Verdict::Forward(_), req) = run(&get, 1_004) else {
        return None;
    };
    let resp = answer(
        &req,
        PSH | ACK,
        Some((rs_isn.wrapping_add(1), tcp_seq_of(&req)?.wrapping_add(5))),
    )?;
    let seq = vec![
        (0, syn),
        (0, ack),
        (0, rs_syn_ack),
        (0, get),
        (0, resp),
        (1, c(FIN | ACK, b"")),
    ];
    Some((format!("{name}-cookie"), join_frames(&seq)))
}

/// Sync datagrams carrying what a worker reports for every service's flow.
pub fn sync() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (name, data) in frames() {
        if !name.ends_with("-flow") {
            continue;
        }
        let sync_out = Arc::new(ArrayQueue::new(64));
        let mut w = populated_worker();
        let mut now_ms = 1_000;
        for (ctl, f) in crate::director::split_frames(&data) {
            now_ms += u64::from(ctl & 0x1f) * 1000 + 1;
            w.handle_frame(0, &mut VecFrame(f.to_vec()), now_ms, false);
        }
        w.drain_outbox(&ArrayQueue::new(64), &sync_out);
        let mut b = rvs_dataplane::sync::MessageBuilder::new(9, 1472);
        while let Some(c) = sync_out.pop() {
            if !b.push(&c) {
                break;
            }
        }
        if !b.is_empty() {
            let mut d = vec![9];
            d.extend_from_slice(&b.take());
            seeds.push((name.replace("-flow", "-sync"), d));
        }
    }
    seeds
}

/// VRRP adverts: v2 with a password, v3 of both families (the first byte
/// is the `vrrp` target's control byte).
pub fn vrrp() -> Vec<(String, Vec<u8>)> {
    use rvs_vrrp::wire::{encode, Advert, Auth, Checksum, Path, Version};
    let v4 = Path {
        src: IpAddr::V4(LB),
        dst: IpAddr::V4(std::net::Ipv4Addr::new(224, 0, 0, 18)),
    };
    let v6 = Path {
        src: IpAddr::V6(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        dst: IpAddr::V6(std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
    };
    let advert = |version, auth, addrs: Vec<IpAddr>| Advert {
        version,
        vrid: 51,
        priority: 100,
        interval: if version == Version::V2 { 1 } else { 100 },
        auth,
        addrs,
    };
    let mut seeds = Vec::new();
    let a = advert(Version::V2, Auth::pass("secret"), vec![IpAddr::V4(VIP)]);
    let mut d = vec![0b0010];
    d.extend(encode(&a, Some(&v4), Checksum::PseudoHeader));
    seeds.push(("v2-pass".into(), d));
    let a = advert(
        Version::V2,
        Auth::None,
        vec![IpAddr::V4(VIP), IpAddr::V4(LB)],
    );
    let mut d = vec![0];
    d.extend(encode(&a, None, Checksum::PseudoHeader));
    seeds.push(("v2-two-addrs".into(), d));
    let a = advert(Version::V3, Auth::None, vec![IpAddr::V4(VIP)]);
    let mut d = vec![0b0010];
    d.extend(encode(&a, Some(&v4), Checksum::PseudoHeader));
    seeds.push(("v3-v4".into(), d));
    let mut d = vec![0b0110];
    d.extend(encode(&a, Some(&v4), Checksum::AsV2));
    seeds.push(("v3-v4-as-v2".into(), d));
    let a = advert(
        Version::V3,
        Auth::None,
        vec![IpAddr::V6(VIP6), IpAddr::V6(LB6)],
    );
    let mut d = vec![0b0011];
    d.extend(encode(&a, Some(&v6), Checksum::PseudoHeader));
    seeds.push(("v3-v6".into(), d));
    seeds
}

/// Admin API frames: a request of each common kind.
pub fn admin() -> Vec<(String, Vec<u8>)> {
    let key = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: SocketAddr::new(IpAddr::V4(VIP), 90),
    };
    let dest = rvs_api::DestConfig {
        addr: SocketAddr::new(IpAddr::V4(RS[0].0), 8090),
        forward: Forward::Masq,
        weight: 3,
        u_threshold: 10,
        l_threshold: 2,
        tunnel: Default::default(),
    };
    let mut persistent = ServiceConfig::new("sh");
    persistent.persistent_timeout_s = Some(60);
    persistent.netmask = Some(0xffff_ff00);
    persistent.sched_flags = vec!["sh-fallback".into()];
    let existing = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: SocketAddr::new(IpAddr::V4(VIP), 80),
    };
    let requests = [
        ("info", Request::Info),
        (
            "add-service",
            Request::AddService {
                key,
                config: persistent,
            },
        ),
        (
            "add-dest",
            Request::AddDest {
                service: existing,
                dest,
            },
        ),
        (
            "add-laddr",
            Request::AddLaddr {
                service: existing,
                addr: IpAddr::V4(crate::director::LADDR),
            },
        ),
        ("list", Request::List { service: None }),
        ("del-service", Request::DelService { key: existing }),
        (
            "fwmark-service",
            Request::AddService {
                key: ServiceKey::Fwmark {
                    mark: 7,
                    ipv6: true,
                },
                config: ServiceConfig::new("mh"),
            },
        ),
    ];
    requests
        .into_iter()
        .map(|(name, request)| {
            let mut d = Vec::new();
            let env = Envelope {
                version: API_VERSION,
                request,
            };
            rvs_api::write_frame(&mut d, &env).expect("to a Vec");
            (name.to_string(), d)
        })
        .collect()
}

/// Write the generated seeds under `dir/TARGET/`.
pub fn write_all(dir: &std::path::Path) -> std::io::Result<()> {
    let sets = [
        ("frames", frames()),
        ("sync", sync()),
        ("vrrp", vrrp()),
        ("admin", admin()),
    ];
    for (target, seeds) in sets {
        let d = dir.join(target);
        std::fs::create_dir_all(&d)?;
        for (name, data) in seeds {
            std::fs::write(d.join(name), data)?;
        }
    }
    // The TOML seeds: the keepalived and ldirectord seeds that read,
    // written as TOML by the model.
    let toml = dir.join("toml");
    std::fs::create_dir_all(&toml)?;
    for (from, dialect) in [
        ("keepalived", rvs_controlplane::config::Dialect::Keepalived),
        ("ldirectord", rvs_controlplane::config::Dialect::Ldirectord),
    ] {
        let Ok(entries) = std::fs::read_dir(dir.join(from)) else {
            continue;
        };
        for e in entries {
            let p = e?.path();
            let text = String::from_utf8_lossy(&std::fs::read(&p)?).into_owned();
            if let Ok((m, _)) = rvs_controlplane::config::parse(&text, &p, dialect) {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                std::fs::write(toml.join(format!("{from}-{name}.toml")), m.to_toml())?;
            }
        }
    }
    Ok(())
}
