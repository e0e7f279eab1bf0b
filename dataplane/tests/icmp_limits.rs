//! The rate limits on the ICMP errors the director sends (issue 20, item 3):
//! the kernel's `icmp_ratelimit` per destination and `icmp_msgs_per_sec` /
//! `icmp_msgs_burst` globally, driven by the pipeline's own clock (the
//! `now_ms` each frame comes with), never by sleeping.

mod common;

use rvs_api::{Protocol, ServiceConfig, ServiceKey};
use rvs_dataplane::pipeline::{IcmpLimits, VecFrame, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::ipv4::protocol;
use rvs_dataplane::wire::ipv6::Ipv6Packet;
use rvs_dataplane::wire::tcp::flags;

use common::director::{Director, Sent};
use common::*;

/// A director with TCP services on VIP:80 and [VIP6]:80 and no real server:
/// every SYN is answered "port unreachable" (`spec/schedulers.md` §0.6).
fn no_dests(limits: IcmpLimits) -> Director {
    let mut d = Director::with_icmp_limits(limits);
    for addr in [(VIP, 80).into(), (VIP6, 80).into()] {
        d.add_service(
            ServiceKey::Inet {
                protocol: Protocol::Tcp,
                addr,
            },
            ServiceConfig::new("rr"),
        );
    }
    d
}

fn syn_at(d: &mut Director, client: std::net::Ipv4Addr, sport: u16, now_ms: u64) -> Sent {
    d.send(tcp_frame(client, sport, VIP, 80, flags::SYN), now_ms)
}

fn syn6_at(d: &mut Director, sport: u16, now_ms: u64) -> (Sent, VecFrame) {
    let mut f = VecFrame(in6(
        CLI_MAC,
        &tcp6(CLI6, VIP6, sport, 80, flags::SYN, &[], b""),
    ));
    let v = d.worker.handle_frame(0, &mut f, now_ms, false);
    let sent = match v {
        Verdict::Forward(_) => panic!("no real server to forward to"),
        v => Sent::Not(v),
    };
    (sent, f)
}

const REPLY: Sent = Sent::Not(Verdict::Reply);
const LIMITED: Sent = Sent::Not(Verdict::Drop(Counter::DropNoDest));

#[test]
fn a_client_gets_a_burst_of_six_unreachables_then_one_a_second() {
    let mut d = no_dests(IcmpLimits::default());
    let t = 10_000;
    let got: Vec<Sent> = (0..10)
        .map(|i| syn_at(&mut d, CLI, 40_000 + i, t))
        .collect();
    assert_eq!(&got[..6], &[REPLY; 6]);
    assert_eq!(&got[6..], &[LIMITED; 4]);
    assert_eq!(d.counter(Counter::IcmpUnreachableSent), 6);
    assert_eq!(d.counter(Counter::IcmpRateLimitedHost), 4);
    assert_eq!(d.counter(Counter::IcmpRateLimitedGlobal), 0);
    assert_eq!(d.counter(Counter::DropNoDest), 10, "each SYN still counted");
    // Another client has its own bucket.
    assert_eq!(syn_at(&mut d, RS3, 40_000, t), REPLY);
    // A token a second (icmp_ratelimit = 1000 ms), on the frames' clock.
    assert_eq!(syn_at(&mut d, CLI, 41_000, t + 999), LIMITED);
    assert_eq!(syn_at(&mut d, CLI, 41_001, t + 1000), REPLY);
    assert_eq!(syn_at(&mut d, CLI, 41_002, t + 1000), LIMITED);
    // Idle long enough, the burst is whole again, and no more.
    let got: Vec<Sent> = (0..8)
        .map(|i| syn_at(&mut d, CLI, 42_000 + i, t + 60_000))
        .collect();
    assert_eq!(got.iter().filter(|s| **s == REPLY).count(), 6);
    assert_eq!(d.counter(Counter::IcmpUnreachableSent), 6 + 1 + 1 + 6);
}

#[test]
fn the_global_bucket_bounds_every_client_together() {
    let limits = IcmpLimits {
        ratelimit_ms: 0,
        msgs_per_sec: 100,
        msgs_burst: 3,
        ..IcmpLimits::default()
    };
    let mut d = no_dests(limits);
    let clients = [CLI, RS1, RS2, RS3, LB];
    let t = 5_000;
    let got: Vec<Sent> = clients
        .iter()
        .map(|&c| syn_at(&mut d, c, 40_000, t))
        .collect();
    assert_eq!(got, [REPLY, REPLY, REPLY, LIMITED, LIMITED]);
    assert_eq!(d.counter(Counter::IcmpRateLimitedGlobal), 2);
    assert_eq!(d.counter(Counter::IcmpRateLimitedHost), 0);
    // No refill under 20 ms; 20 ms at 100/s earn 2.
    assert_eq!(syn_at(&mut d, CLI, 40_001, t + 19), LIMITED);
    let got: Vec<Sent> = clients
        .iter()
        .map(|&c| syn_at(&mut d, c, 40_002, t + 20))
        .collect();
    assert_eq!(got, [REPLY, REPLY, LIMITED, LIMITED, LIMITED]);
    // A second's idle refills up to the burst, not beyond.
    let got: Vec<Sent> = clients
        .iter()
        .map(|&c| syn_at(&mut d, c, 40_003, t + 2_000))
        .collect();
    assert_eq!(got, [REPLY, REPLY, REPLY, LIMITED, LIMITED]);
    assert_eq!(d.counter(Counter::IcmpUnreachableSent), 3 + 2 + 3);
}

#[test]
fn icmpv6_unreachables_are_limited_every_100_ms() {
    let mut d = no_dests(IcmpLimits::default());
    let t = 1_000;
    for i in 0..6 {
        let (sent, f) = syn6_at(&mut d, 40_000 + i, t);
        assert_eq!(sent, REPLY);
        let ip = Ipv6Packet::new_checked(&f.0[14..]).unwrap();
        assert_eq!(
            (ip.src(), ip.dst(), ip.next_header()),
            (VIP6, CLI6, protocol::ICMPV6)
        );
        assert_eq!(&ip.payload()[..2], &[1, 4], "destination unreachable, port");
        assert_eq!(
            independent_checksums(&f.0),
            1,
            "the ICMPv6 checksum verifies"
        );
    }
    assert_eq!(syn6_at(&mut d, 40_100, t).0, LIMITED);
    assert_eq!(syn6_at(&mut d, 40_101, t + 99).0, LIMITED);
    assert_eq!(syn6_at(&mut d, 40_102, t + 100).0, REPLY);
    assert_eq!(d.counter(Counter::IcmpRateLimitedHost), 2);
    assert_eq!(d.counter(Counter::IcmpUnreachableSent), 7);
}

#[test]
fn a_zero_mask_limits_nothing() {
    let limits = IcmpLimits {
        ratemask: 0,
        ratemask6: [0; 4],
        ..IcmpLimits::default()
    };
    let mut d = no_dests(limits);
    for i in 0..50 {
        assert_eq!(syn_at(&mut d, CLI, 40_000 + i, 1_000), REPLY);
        assert_eq!(syn6_at(&mut d, 40_000 + i, 1_000).0, REPLY);
    }
    assert_eq!(d.counter(Counter::IcmpRateLimitedHost), 0);
    assert_eq!(d.counter(Counter::IcmpRateLimitedGlobal), 0);
}
