//! What the benchmarks share: the lab-like addresses, frames built with
//! their checksums, and a [`Worker`] set up with one service, as the
//! dataplane's control thread would make it.

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use rvs_api::{DestConfig, Forward, Protocol, Request, Response, ServiceConfig, ServiceKey};
use rvs_dataplane::admin::{AdminSetup, AdminState};
use rvs_dataplane::neigh::NeighTable;
use rvs_dataplane::pipeline::{ConnPolicy, Frame, Worker, WorkerEvent, WorkerSetup};
use rvs_dataplane::service::PortInfo;
use rvs_dataplane::stats::{CoreStats, OverloadFlags};
use rvs_dataplane::sync::SyncConn;
use rvs_dataplane::wire::arp::{op, ArpRepr};
use rvs_dataplane::wire::build::{self, protocol};
use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
use rvs_dataplane::wire::tcp::TcpRepr;
use rvs_dataplane::wire::udp::UdpRepr;

pub mod pcap;

pub const LB_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
pub const CLI_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
pub const LB: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
pub const LADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 201);
pub const RS: [(Ipv4Addr, MacAddr); 4] = [
    (
        Ipv4Addr::new(198, 18, 0, 11),
        MacAddr([2, 0, 0, 0, 0, 0x11]),
    ),
    (
        Ipv4Addr::new(198, 18, 0, 12),
        MacAddr([2, 0, 0, 0, 0, 0x12]),
    ),
    (
        Ipv4Addr::new(198, 18, 0, 13),
        MacAddr([2, 0, 0, 0, 0, 0x13]),
    ),
    (
        Ipv4Addr::new(198, 18, 0, 14),
        MacAddr([2, 0, 0, 0, 0, 0x14]),
    ),
];

/// A frame in a fixed buffer with headroom: no allocation per packet.
pub struct BenchFrame {
    buf: [u8; 320],
    start: usize,
    len: usize,
}

const HEADROOM: usize = 128;

impl BenchFrame {
    pub fn new() -> Self {
        BenchFrame {
            buf: [0; 320],
            start: HEADROOM,
            len: 0,
        }
    }

    #[inline]
    pub fn load(&mut self, bytes: &[u8]) {
        self.start = HEADROOM;
        self.len = bytes.len();
        self.buf[HEADROOM..HEADROOM + bytes.len()].copy_from_slice(bytes);
    }
}

impl Default for BenchFrame {
    fn default() -> Self {
        Self::new()
    }
}

// Inlined as the dataplane's `MbufFrame` is (its impl is in the crate that
// instantiates the pipeline): without it every `bytes()` was a call, ~10
// instructions per call that the real binary does not pay.
impl Frame for BenchFrame {
    #[inline]
    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
    #[inline]
    fn set_len(&mut self, len: usize) -> bool {
        if self.start + len > self.buf.len() {
            return false;
        }
        self.len = len;
        true
    }
    #[inline]
    fn trim_front(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.start += n;
        self.len -= n;
        true
    }
    #[inline]
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        self.len += n;
        true
    }
}

fn v4(a: SocketAddr) -> Ipv4Addr {
    match a.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => unreachable!("IPv4 only"),
    }
}

/// Ethernet + IPv4 (TTL 64, DF, identification 0) around `l4`, padded to
/// the 60-byte minimum.
fn ipv4_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    s: Ipv4Addr,
    d: Ipv4Addr,
    proto: u8,
    l4: &[u8],
) -> Vec<u8> {
    let ip = build::ipv4(build::ipv4_header(s, d, proto), l4);
    build::pad(build::ethernet(dst_mac, src_mac, ethertype::IPV4, &ip))
}

/// Ethernet + IPv4 + TCP (20 bytes, no options, no payload): 54 bytes,
/// padded to the 60-byte minimum, checksums right.
pub fn tcp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: SocketAddr,
    dst: SocketAddr,
    flags: u8,
) -> Vec<u8> {
    let (s, d) = (v4(src), v4(dst));
    let tcp = build::tcp(
        &TcpRepr {
            seq: 1000,
            ack: 2000,
            flags,
            ..build::tcp_header(src.port(), dst.port())
        },
        s.into(),
        d.into(),
    );
    ipv4_frame(src_mac, dst_mac, s, d, protocol::TCP, &tcp)
}

/// Ethernet + IPv4 + UDP with 18 bytes of payload: the 60-byte minimum
/// frame (64 on the wire with the FCS), checksums right.
pub fn udp_frame(src_mac: MacAddr, dst_mac: MacAddr, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (s, d) = (v4(src), v4(dst));
    let udp = build::udp(
        &UdpRepr {
            src_port: src.port(),
            dst_port: dst.port(),
            payload: b"rvs bench payload!",
        },
        s.into(),
        d.into(),
    );
    ipv4_frame(src_mac, dst_mac, s, d, protocol::UDP, &udp)
}

/// An ARP reply from `ip` at `mac` to `to` (who learns from it), padded to
/// the 60-byte minimum.
pub fn arp_reply(mac: MacAddr, ip: Ipv4Addr, to_mac: MacAddr, to: Ipv4Addr) -> Vec<u8> {
    build::pad(build::arp(
        to_mac,
        &ArpRepr {
            operation: op::REPLY,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: to_mac,
            target_ip: to,
        },
    ))
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;

/// Client `i`'s address and port: 10.0.0.0/8, many ports each.
pub fn client(i: usize) -> SocketAddr {
    let host = (i / 16) as u32;
    let ip = Ipv4Addr::from(0x0a00_0000 | (host & 0x00ff_ffff));
    SocketAddr::new(
        IpAddr::V4(ip),
        1024 + (i % 16) as u16 * 3000 + (i / 16 / 0x0100_0000) as u16,
    )
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Dr,
    /// IP-in-IP to the real servers (the default tunnel, `--tun-type ipip`).
    Tun,
    Nat,
    FullNat,
}

/// What a [`Bench`] worker serves: the VIP's service on port 80 with
/// `dests` of [`RS`] (DR: port 80, NAT and FullNAT: 8080), round robin.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub mode: Mode,
    pub protocol: Protocol,
    pub dests: usize,
    /// The connection table's size.
    pub conns_max: usize,
    /// How many flows FullNAT's local addresses must carry.
    pub flows: usize,
    /// This worker's id among `workers`.
    pub id: u16,
    pub workers: u16,
}

/// A worker set up for one case (its admin state is only needed to build
/// the first generation).
pub struct Bench {
    pub worker: Worker,
    /// Where the worker's outbox goes, as the dataplane's rings.
    events: ArrayQueue<WorkerEvent>,
    sync_out: ArrayQueue<SyncConn>,
}

impl Bench {
    /// One worker of one, TCP port 80, four real servers.
    pub fn new(mode: Mode, conns_max: usize, flows: usize) -> Bench {
        Bench::with(&Setup {
            mode,
            protocol: Protocol::Tcp,
            dests: RS.len(),
            conns_max,
            flows,
            id: 0,
            workers: 1,
        })
    }

    pub fn with(s: &Setup) -> Bench {
        let Setup {
            mode,
            protocol,
            dests,
            conns_max,
            flows,
            id,
            workers,
        } = *s;
        let ports = vec![PortInfo {
            mac: LB_MAC,
            addr: LB,
            prefix_len: 24,
            addr6: None,
            prefix6_len: 0,
            mtu: 1500,
        }];
        let slots = 64;
        let overload = Arc::new(OverloadFlags::new(slots as usize));
        let mut admin = AdminState::new(AdminSetup {
            overload: Arc::clone(&overload),
            ..AdminSetup::new(ports, slots)
        });
        let cores = vec![Arc::new(CoreStats::new(slots as usize))];
        let neigh = Arc::new(NeighTable::new(16));
        let key = ServiceKey::Inet {
            protocol,
            addr: SocketAddr::new(IpAddr::V4(VIP), 80),
        };
        let mut req = vec![Request::AddService {
            key,
            config: ServiceConfig::new("rr"),
        }];
        for (ip, _) in &RS[..dests] {
            let (port, forward) = match mode {
                Mode::Dr => (80, Forward::Route),
                Mode::Tun => (80, Forward::Tunnel),
                Mode::Nat => (8080, Forward::Masq),
                Mode::FullNat => (8080, Forward::FullNat),
            };
            req.push(Request::AddDest {
                service: key,
                dest: DestConfig {
                    addr: SocketAddr::new(IpAddr::V4(*ip), port),
                    forward,
                    weight: 1,
                    u_threshold: 0,
                    l_threshold: 0,
                    tunnel: Default::default(),
                },
            });
        }
        if mode == Mode::FullNat {
            // Each local address has some 64 000 ports for the flows.
            for k in 0..(flows / 60_000 + 1).min(64) {
                req.push(Request::AddLaddr {
                    service: key,
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from(LADDR) + k as u32)),
                });
            }
        }
        for r in req {
            let (resp, _) = admin.handle(r, &cores, 1);
            assert_eq!(resp, Response::Ok);
        }
        for (ip, mac) in RS {
            if let Some(slot) = admin.resolver.slot_of(0, IpAddr::V4(ip)) {
                neigh.set(slot, Some(mac));
            }
        }
        let worker = Worker::new(WorkerSetup {
            id,
            workers,
            snapshot: Arc::new(admin.snapshot()),
            conns_max,
            conns6_max: 256,
            cores: cores.into(),
            overload,
            neigh: Arc::clone(&neigh),
            outbox_frames: 64,
            policy: ConnPolicy::default(),
            locality_caches: 2,
            locality_cache_entries: 64,
            icmp: rvs_dataplane::pipeline::IcmpLimits::default(),
            syn_keys: std::sync::Arc::new(rvs_dataplane::synproxy::SynKeys::with_seed(1)),
        });
        Bench {
            worker,
            events: ArrayQueue::new(1024),
            sync_out: ArrayQueue::new(1),
        }
    }

    /// Move what the worker's last frames asked to be sent onto the rings,
    /// as the worker loop does after each burst.
    #[inline]
    pub fn drain(&mut self) {
        self.worker.drain_outbox(&self.events, &self.sync_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Ipv4Header, TcpHeader, UdpHeader};

    /// The frames' checksums, checked by etherparse (independent of the
    /// checksum code the frames were built with).
    #[test]
    fn udp_and_tcp_frames_carry_right_checksums() {
        let src: SocketAddr = "10.0.0.1:1024".parse().unwrap();
        let dst: SocketAddr = "198.18.0.100:80".parse().unwrap();
        let u = udp_frame(CLI_MAC, LB_MAC, src, dst);
        assert_eq!(u.len(), 60);
        assert_eq!(&u[12..14], &[0x08, 0x00]);
        let (ip, rest) = Ipv4Header::from_slice(&u[14..]).unwrap();
        assert_eq!(
            ip.header_checksum,
            ip.calc_header_checksum(),
            "IPv4 header checksum"
        );
        assert_eq!(ip.total_len, 46);
        let (h, payload) = UdpHeader::from_slice(rest).unwrap();
        assert_eq!(h.length, 26);
        assert_eq!(payload, b"rvs bench payload!");
        assert_eq!(
            h.checksum,
            h.calc_checksum_ipv4(&ip, payload).unwrap(),
            "UDP checksum"
        );
        let t = tcp_frame(CLI_MAC, LB_MAC, src, dst, SYN);
        assert_eq!(t.len(), 60);
        let (ip, rest) = Ipv4Header::from_slice(&t[14..]).unwrap();
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        let (h, payload) = TcpHeader::from_slice(&rest[..usize::from(ip.total_len) - 20]).unwrap();
        assert!(payload.is_empty());
        assert_eq!(
            h.checksum,
            h.calc_checksum_ipv4(&ip, payload).unwrap(),
            "TCP checksum"
        );
        assert_eq!(
            (h.sequence_number, h.acknowledgment_number, h.window_size),
            (1000, 2000, 65535)
        );
        assert_eq!(t[47], SYN);
    }

    #[test]
    fn arp_reply_says_who_is_where() {
        let (ip, mac) = RS[1];
        let a = arp_reply(mac, ip, LB_MAC, LB);
        assert_eq!(a.len(), 60);
        assert_eq!(&a[0..6], &LB_MAC.0);
        assert_eq!(&a[12..14], &[0x08, 0x06]);
        assert_eq!(&a[20..22], &[0, 2], "a reply");
        assert_eq!(&a[22..28], &mac.0);
        assert_eq!(&a[28..32], &ip.octets());
        assert_eq!(&a[38..42], &LB.octets());
    }
}
