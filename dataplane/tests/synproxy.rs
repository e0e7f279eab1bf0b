//! Golden packet tests of the SYN proxy (`--synproxy`, decision 40) for
//! NAT and FullNAT services, IPv4 and IPv6: the SYN answered with a cookie
//! and no entry, the client's ACK opening the real server's handshake,
//! the real server's SYN-ACK answered, data both ways with the real
//! server's sequence numbers shifted, bad and stale cookies dropped. Every
//! expected frame is built from scratch, its checksums checked
//! independently.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvs_api::{
    DestConfig, ErrorKind, Forward, Protocol, Request, Response, ServiceConfig, ServiceKey,
};
use rvs_dataplane::pipeline::{ConnPolicy, VecFrame, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
use rvs_dataplane::wire::ipv4::protocol;
use rvs_dataplane::wire::tcp::{flags, TcpRepr};

use common::director::{dest, Director};
use common::*;

const CPORT: u16 = 40000;
const LPORT: u16 = 1024;
const LADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 201);
const LADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x201);
const SYN_ACK: u8 = flags::SYN | flags::ACK;
const PSH: u8 = flags::PSH | flags::ACK;
/// The MACs of a client's packet in and out, and of a real server's.
const TO_RS: (MacAddr, MacAddr) = (CLI_MAC, RS1_MAC);
const TO_CLI: (MacAddr, MacAddr) = (RS1_MAC, CLI_MAC);

/// The addresses of one family's test.
#[derive(Clone, Copy)]
struct Net {
    cli: IpAddr,
    vip: IpAddr,
    rs: IpAddr,
    laddr: IpAddr,
    /// The MSS the client offers, and the cookie's table value for it.
    mss: u16,
    /// TOA's length in this family.
    toa_len: u16,
}

const V4: Net = Net {
    cli: IpAddr::V4(CLI),
    vip: IpAddr::V4(VIP),
    rs: IpAddr::V4(RS1),
    laddr: IpAddr::V4(LADDR),
    mss: 1460,
    toa_len: 8,
};

const V6: Net = Net {
    cli: IpAddr::V6(CLI6),
    vip: IpAddr::V6(VIP6),
    rs: IpAddr::V6(RS1_6),
    laddr: IpAddr::V6(LADDR6),
    mss: 1440,
    toa_len: 20,
};

impl Net {
    fn service(&self) -> ServiceKey {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: (self.vip, 80).into(),
        }
    }

    fn ethertype(&self) -> u16 {
        if self.cli.is_ipv6() {
            ethertype::IPV6
        } else {
            ethertype::IPV4
        }
    }

    /// The TOA option of the client.
    fn toa(&self) -> Vec<u8> {
        let mut o = vec![254, self.toa_len as u8];
        o.extend_from_slice(&CPORT.to_be_bytes());
        match self.cli {
            IpAddr::V4(a) => o.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => o.extend_from_slice(&a.octets()),
        }
        o
    }

    /// The client as the real server sees it.
    fn seen(&self, forward: Forward) -> (IpAddr, u16) {
        if forward == Forward::FullNat {
            (self.laddr, LPORT)
        } else {
            (self.cli, CPORT)
        }
    }

    /// A segment of the client's to the VIP (window 64240, no options).
    fn client(&self, fl: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
        seg(
            self.cli,
            self.vip,
            (CPORT, 80),
            fl,
            seq,
            ack,
            64240,
            &[],
            payload,
        )
    }

    /// A segment from the VIP to the client's port (no options), as the
    /// director sends the real server's on.
    fn vip_to_client(&self, fl: u8, seq: u32, ack: u32, window: u16, payload: &[u8]) -> Vec<u8> {
        seg(
            self.vip,
            self.cli,
            (80, CPORT),
            fl,
            seq,
            ack,
            window,
            &[],
            payload,
        )
    }

    /// The packet `ip` through `d` at `now_ms`, from the first MAC of
    /// `macs`: forwarded to the second as exactly `want` (`what` it is).
    fn forwarded(
        &self,
        d: &mut Director,
        now_ms: u64,
        (from, to): (MacAddr, MacAddr),
        (ip, want): (&[u8], &[u8]),
        what: &str,
    ) {
        let mut f = self.frame(LB_MAC, from, ip);
        assert_eq!(run(d, &mut f, now_ms), Verdict::Forward(0), "{what}");
        assert_eq!(f.0, self.out(to, LB_MAC, want), "{what}");
    }

    fn frame(&self, dst: MacAddr, src: MacAddr, ip: &[u8]) -> VecFrame {
        VecFrame(eth(dst, src, self.ethertype(), ip))
    }

    fn out(&self, dst: MacAddr, src: MacAddr, ip: &[u8]) -> Vec<u8> {
        eth(dst, src, self.ethertype(), ip)
    }
}

fn mss(v: u16) -> [u8; 4] {
    let [hi, lo] = v.to_be_bytes();
    [2, 4, hi, lo]
}

/// A TCP segment, checksums computed.
#[allow(clippy::too_many_arguments)]
fn seg(
    src: IpAddr,
    dst: IpAddr,
    ports: (u16, u16),
    fl: u8,
    seq: u32,
    ack: u32,
    window: u16,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let t = build::tcp(
        &TcpRepr {
            seq,
            ack,
            window,
            ..tcp_repr(ports.0, ports.1, fl, options, payload)
        },
        src,
        dst,
    );
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4(s, d, protocol::TCP, &t),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6(s, d, protocol::TCP, 64, &t),
        _ => panic!("mixed families"),
    }
}

fn director(net: &Net, forward: Forward, config: ServiceConfig) -> Director {
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(
        net.service(),
        ServiceConfig {
            synproxy: true,
            ..config
        },
    );
    d.add_dest_with(
        net.service(),
        DestConfig {
            addr: (net.rs, 8080).into(),
            forward,
            ..dest(RS1, 8080, 1)
        },
    );
    if forward == Forward::FullNat {
        d.ok(Request::AddLaddr {
            service: net.service(),
            addr: net.laddr,
        });
    }
    d
}

fn run(d: &mut Director, f: &mut VecFrame, now_ms: u64) -> Verdict {
    let v = d.worker.handle_frame(0, f, now_ms, false);
    d.drain();
    if matches!(v, Verdict::Forward(_) | Verdict::Reply) {
        assert!(independent_checksums(&f.0) >= 1, "checksums of {:?}", f.0);
    }
    v
}

/// The client's SYN from `cport` with ISN 1000: the director's SYN-ACK,
/// checked whole; returns its cookie.
fn cookie_for(d: &mut Director, net: &Net, cport: u16, now_ms: u64) -> u32 {
    let syn = seg(
        net.cli,
        net.vip,
        (cport, 80),
        flags::SYN,
        1000,
        0,
        64240,
        &mss(net.mss),
        b"",
    );
    let mut f = net.frame(LB_MAC, CLI_MAC, &syn);
    assert_eq!(run(d, &mut f, now_ms), Verdict::Reply);
    let l4 = 14 + if net.cli.is_ipv6() { 40 } else { 20 };
    let cookie = u32::from_be_bytes(f.0[l4 + 4..l4 + 8].try_into().unwrap());
    let want = seg(
        net.vip,
        net.cli,
        (80, cport),
        SYN_ACK,
        cookie,
        1001,
        14600,
        &mss(net.mss),
        b"",
    );
    assert_eq!(
        f.0,
        net.out(CLI_MAC, LB_MAC, &want),
        "the SYN-ACK with a cookie"
    );
    cookie
}

/// The whole life of one proxied connection.
fn proxied(net: Net, forward: Forward) {
    let mut d = director(&net, forward, ServiceConfig::new("rr"));
    let fullnat = forward == Forward::FullNat;
    let (src, sport) = net.seen(forward);
    let to_rs = (sport, 8080);
    let from_rs = (8080, sport);

    // 1. The SYN: a SYN-ACK with a cookie, no entry.
    let cookie = cookie_for(&mut d, &net, CPORT, 1);
    assert_eq!(d.counter(Counter::ConnCreated), 0);
    assert_eq!(d.counter(Counter::SynproxyCookieSent), 1);

    // 2. The client's ACK: the entry, and the SYN to the real server with
    // the client's ISN and the cookie's MSS (FullNAT: TOA, the MSS lowered
    // by it, as without the proxy).
    let ack = net.client(flags::ACK, 1001, cookie.wrapping_add(1), b"");
    let mut f = net.frame(LB_MAC, CLI_MAC, &ack);
    assert_eq!(run(&mut d, &mut f, 2), Verdict::Forward(0));
    let opts = if fullnat {
        let mut o = net.toa();
        o.extend(mss(net.mss - net.toa_len));
        o
    } else {
        mss(net.mss).to_vec()
    };
    let want = seg(src, net.rs, to_rs, flags::SYN, 1000, 0, 64240, &opts, b"");
    assert_eq!(
        f.0,
        net.out(RS1_MAC, LB_MAC, &want),
        "the SYN to the real server"
    );
    assert_eq!(d.counter(Counter::ConnCreated), 1);

    // 3. The real server's SYN-ACK: the handshake's ACK goes back to it
    // (FullNAT: with TOA); the client sees nothing.
    let syn_ack = seg(
        net.rs,
        src,
        from_rs,
        SYN_ACK,
        5000,
        1001,
        65535,
        &mss(1460),
        b"",
    );
    let mut f = net.frame(LB_MAC, RS1_MAC, &syn_ack);
    assert_eq!(run(&mut d, &mut f, 3), Verdict::Reply);
    let opts = if fullnat { net.toa() } else { vec![] };
    let want = seg(
        src,
        net.rs,
        to_rs,
        flags::ACK,
        1001,
        5001,
        14600,
        &opts,
        b"",
    );
    assert_eq!(f.0, net.out(RS1_MAC, LB_MAC, &want), "the handshake's ACK");

    // 4. Data both ways: the client's acknowledgements in the real
    // server's numbers, the real server's sequence numbers in the
    // cookie's. The client's first data carries TOA (FullNAT).
    let data = net.client(PSH, 1001, cookie.wrapping_add(1), b"GET /");
    let want = seg(src, net.rs, to_rs, PSH, 1001, 5001, 64240, &opts, b"GET /");
    net.forwarded(&mut d, 4, TO_RS, (&data, &want), "the client's data");

    let reply = seg(net.rs, src, from_rs, PSH, 5001, 1006, 65535, &[], b"HTTP");
    let want = net.vip_to_client(PSH, cookie.wrapping_add(1), 1006, 65535, b"HTTP");
    net.forwarded(&mut d, 5, TO_CLI, (&reply, &want), "the real server's data");

    let ack = net.client(flags::ACK, 1006, cookie.wrapping_add(5), b"");
    let want = seg(src, net.rs, to_rs, flags::ACK, 1006, 5005, 64240, &[], b"");
    net.forwarded(&mut d, 6, TO_RS, (&ack, &want), "the client's ACK");

    // The close: both FINs shifted, and the client's last ACK, which
    // finds the entry in TIME_WAIT, goes on (it has no cookie to check).
    let fin = flags::FIN | flags::ACK;
    let f1 = net.client(fin, 1006, cookie.wrapping_add(5), b"");
    let want = seg(src, net.rs, to_rs, fin, 1006, 5005, 64240, &[], b"");
    net.forwarded(&mut d, 7, TO_RS, (&f1, &want), "the client's FIN");
    let f2 = seg(net.rs, src, from_rs, fin, 5005, 1007, 65535, &[], b"");
    let want = net.vip_to_client(fin, cookie.wrapping_add(5), 1007, 65535, b"");
    net.forwarded(&mut d, 8, TO_CLI, (&f2, &want), "the real server's FIN");
    let last = net.client(flags::ACK, 1007, cookie.wrapping_add(6), b"");
    let want = seg(src, net.rs, to_rs, flags::ACK, 1007, 5006, 64240, &[], b"");
    net.forwarded(&mut d, 9, TO_RS, (&last, &want), "the client's last ACK");

    assert_eq!(d.counter(Counter::SynproxyAckValid), 1);
    assert_eq!(d.counter(Counter::SynproxyConn), 1);
    assert_eq!(d.counter(Counter::SynproxyAckBad), 0);
    assert_eq!(d.counter(Counter::ConnCreated), 1);
}

#[test]
fn fullnat_v4_proxied_connection() {
    proxied(V4, Forward::FullNat);
}

#[test]
fn fullnat_v6_proxied_connection() {
    proxied(V6, Forward::FullNat);
}

#[test]
fn nat_v4_proxied_connection() {
    proxied(V4, Forward::Masq);
}

#[test]
fn nat_v6_proxied_connection() {
    proxied(V6, Forward::Masq);
}

/// Bad cookies, stale ones and a spoofed flood, in both families.
fn refused(net: Net) {
    let mut d = director(&net, Forward::FullNat, ServiceConfig::new("rr"));
    // A flood of SYNs makes no entry.
    for p in 0..100 {
        cookie_for(&mut d, &net, 20000 + p, 1);
    }
    assert_eq!(d.counter(Counter::SynproxyCookieSent), 100);
    assert_eq!(d.counter(Counter::ConnCreated), 0);

    let ack = |port: u16, seq: u32, ack: u32| {
        net.frame(
            LB_MAC,
            CLI_MAC,
            &seg(
                net.cli,
                net.vip,
                (port, 80),
                flags::ACK,
                seq,
                ack,
                64240,
                &[],
                b"",
            ),
        )
    };
    let cookie = cookie_for(&mut d, &net, CPORT, 1);
    let bad = Verdict::Drop(Counter::SynproxyAckBad);
    // Off by one, another port's, another ISN's: all bad.
    assert_eq!(
        run(&mut d, &mut ack(CPORT, 1001, cookie.wrapping_add(2)), 2),
        bad
    );
    assert_eq!(
        run(&mut d, &mut ack(CPORT + 1, 1001, cookie.wrapping_add(1)), 2),
        bad
    );
    assert_eq!(
        run(&mut d, &mut ack(CPORT, 1002, cookie.wrapping_add(1)), 2),
        bad
    );
    // Past its lifetime: two rotations of the key.
    d.syn_keys.rotate();
    d.syn_keys.rotate();
    assert_eq!(
        run(&mut d, &mut ack(CPORT, 1001, cookie.wrapping_add(1)), 3),
        bad
    );
    assert_eq!(d.counter(Counter::SynproxyAckBad), 4);
    assert_eq!(d.counter(Counter::ConnCreated), 0);
    // Within it: one rotation.
    let cookie = cookie_for(&mut d, &net, CPORT, 4);
    d.syn_keys.rotate();
    let mut f = ack(CPORT, 1001, cookie.wrapping_add(1));
    assert_eq!(run(&mut d, &mut f, 5), Verdict::Forward(0));
    assert_eq!(d.counter(Counter::ConnCreated), 1);
    // Data before the real server answered: the SYN again, the data left
    // for the client to send again.
    let (src, sport) = net.seen(Forward::FullNat);
    let data = net.client(PSH, 1001, cookie.wrapping_add(1), b"GET /");
    let mut f = net.frame(LB_MAC, CLI_MAC, &data);
    assert_eq!(run(&mut d, &mut f, 6), Verdict::Forward(0));
    let mut opts = net.toa();
    opts.extend(mss(net.mss - net.toa_len));
    let want = seg(
        src,
        net.rs,
        (sport, 8080),
        flags::SYN,
        1000,
        0,
        64240,
        &opts,
        b"",
    );
    assert_eq!(f.0, net.out(RS1_MAC, LB_MAC, &want), "the SYN again");
    assert_eq!(d.counter(Counter::SynproxySynResent), 1);
    // The real server refuses: its reset reaches the client in the
    // cookie's numbers.
    let rst = seg(
        net.rs,
        src,
        (8080, sport),
        flags::RST | flags::ACK,
        0,
        1001,
        0,
        &[],
        b"",
    );
    let want = net.vip_to_client(
        flags::RST | flags::ACK,
        cookie.wrapping_add(1),
        1001,
        0,
        b"",
    );
    net.forwarded(&mut d, 7, TO_CLI, (&rst, &want), "the real server's reset");
    // A SYN-ACK to the VIP opens nothing.
    let stray = seg(
        net.cli,
        net.vip,
        (CPORT + 7, 80),
        SYN_ACK,
        1,
        1,
        64240,
        &[],
        b"",
    );
    let mut f = net.frame(LB_MAC, CLI_MAC, &stray);
    assert_eq!(
        run(&mut d, &mut f, 8),
        Verdict::Drop(Counter::DropTcpNoConn)
    );
}

#[test]
fn v4_bad_and_stale_cookies_are_dropped() {
    refused(V4);
}

#[test]
fn v6_bad_and_stale_cookies_are_dropped() {
    refused(V6);
}

#[test]
fn with_proxy_protocol_the_syn_ack_leaves_room_for_the_header() {
    let mut d = director(
        &V4,
        Forward::FullNat,
        ServiceConfig {
            proxy_protocol: true,
            ..ServiceConfig::new("rr")
        },
    );
    let syn = seg(
        V4.cli,
        V4.vip,
        (CPORT, 80),
        flags::SYN,
        1000,
        0,
        64240,
        &mss(1460),
        b"",
    );
    let mut f = V4.frame(LB_MAC, CLI_MAC, &syn);
    assert_eq!(run(&mut d, &mut f, 1), Verdict::Reply);
    let cookie = u32::from_be_bytes(f.0[38..42].try_into().unwrap());
    // 1460 less the header's 28 bytes.
    let want = seg(
        V4.vip,
        V4.cli,
        (80, CPORT),
        SYN_ACK,
        cookie,
        1001,
        14600,
        &mss(1432),
        b"",
    );
    assert_eq!(f.0, V4.out(CLI_MAC, LB_MAC, &want));
    // The SYN to the real server has no TOA; the first data gets the
    // header (at the client's ISN + 1, as without the proxy).
    let ack = V4.client(flags::ACK, 1001, cookie.wrapping_add(1), b"");
    let mut f = V4.frame(LB_MAC, CLI_MAC, &ack);
    assert_eq!(run(&mut d, &mut f, 2), Verdict::Forward(0));
    let want = seg(
        V4.laddr,
        V4.rs,
        (LPORT, 8080),
        flags::SYN,
        1000,
        0,
        64240,
        &mss(1460),
        b"",
    );
    assert_eq!(f.0, V4.out(RS1_MAC, LB_MAC, &want));
    let syn_ack = seg(
        V4.rs,
        V4.laddr,
        (8080, LPORT),
        SYN_ACK,
        5000,
        1001,
        65535,
        &[],
        b"",
    );
    let mut f = V4.frame(LB_MAC, RS1_MAC, &syn_ack);
    assert_eq!(run(&mut d, &mut f, 3), Verdict::Reply);
    let data = V4.client(PSH, 1001, cookie.wrapping_add(1), b"GET /");
    let mut f = V4.frame(LB_MAC, CLI_MAC, &data);
    assert_eq!(run(&mut d, &mut f, 4), Verdict::Forward(0));
    let l4 = 14 + 20;
    assert_eq!(&f.0[l4 + 20..l4 + 32], &rvs_dataplane::proxy::SIGNATURE);
    assert_eq!(
        u32::from_be_bytes(f.0[l4 + 8..l4 + 12].try_into().unwrap()),
        5001
    );
    assert_eq!(d.counter(Counter::ProxyHeaderInserted), 1);
    assert_eq!(d.counter(Counter::ToaInserted), 0);
}

fn refusal(resp: Response) -> ErrorKind {
    match resp {
        Response::Error(e) => {
            assert!(e.message.contains("synproxy"), "{}", e.message);
            e.kind
        }
        other => panic!("accepted: {other:?}"),
    }
}

#[test]
fn dr_and_tun_dests_and_udp_services_are_refused() {
    let mut d = Director::new(ConnPolicy::default());
    let key = V4.service();
    let on = ServiceConfig {
        synproxy: true,
        ..ServiceConfig::new("rr")
    };
    d.add_service(key, on.clone());
    for forward in [Forward::Route, Forward::Tunnel] {
        let resp = d.admin(Request::AddDest {
            service: key,
            dest: DestConfig {
                forward,
                ..dest(RS1, 80, 1)
            },
        });
        assert_eq!(refusal(resp), ErrorKind::NotSupported);
    }
    // Turned on over a DR dest: refused too.
    d.ok(Request::EditService {
        key,
        config: ServiceConfig::new("rr"),
    });
    d.add_dest(key, RS1, 80, 1);
    let resp = d.admin(Request::EditService {
        key,
        config: on.clone(),
    });
    assert_eq!(refusal(resp), ErrorKind::NotSupported);
    // Not TCP: UDP and SCTP services are refused.
    for (protocol, port) in [(Protocol::Udp, 53), (Protocol::Sctp, 80)] {
        let resp = d.admin(Request::AddService {
            key: ServiceKey::Inet {
                protocol,
                addr: (VIP, port).into(),
            },
            config: on.clone(),
        });
        assert_eq!(refusal(resp), ErrorKind::Invalid);
    }
    // With --sloppy-tcp: the two exclude each other.
    let resp = d.admin(Request::AddService {
        key: ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: (VIP, 81).into(),
        },
        config: ServiceConfig {
            sloppy_tcp: true,
            ..on.clone()
        },
    });
    assert_eq!(refusal(resp), ErrorKind::Invalid);
}

/// A FullNAT real server of the other family (decision 42) is refused in
/// a SYN-proxy service, added to it or there when the proxy is turned on.
#[test]
fn real_servers_of_the_other_family_are_refused() {
    let mut d = Director::new(ConnPolicy::default());
    let key = V4.service();
    let on = ServiceConfig {
        synproxy: true,
        ..ServiceConfig::new("rr")
    };
    d.add_service(key, on.clone());
    let v6 = std::net::SocketAddr::new(V6.rs, 80);
    let resp = d.admin(Request::AddDest {
        service: key,
        dest: DestConfig {
            addr: v6,
            forward: Forward::FullNat,
            ..dest(RS1, 80, 1)
        },
    });
    assert_eq!(refusal(resp), ErrorKind::NotSupported);
    d.ok(Request::EditService {
        key,
        config: ServiceConfig::new("rr"),
    });
    d.ok(Request::AddDest {
        service: key,
        dest: DestConfig {
            addr: v6,
            forward: Forward::FullNat,
            ..dest(RS1, 80, 1)
        },
    });
    let resp = d.admin(Request::EditService { key, config: on });
    assert_eq!(refusal(resp), ErrorKind::NotSupported);
}
