//! Golden tests of ARP: a VIP's requests answered in place (not a released
//! one's), the rest the kernel's, next hops learned, the shapes of the
//! replies and gratuitous ARPs the dataplane sends.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rvs_api::{Request, Response};
use rvs_dataplane::pipeline::{VecFrame, Verdict, WorkerEvent};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::arp::{op, ArpPacket, ArpRepr};
use rvs_dataplane::wire::ethernet::ethertype;

use common::golden::{run_table, Step};
use common::lab::Lab;
use common::*;

#[test]
fn arp_request_for_a_vip_is_answered_in_place() {
    let mut want_arp = vec![0u8; 28];
    ArpRepr {
        operation: op::REPLY,
        sender_mac: LB_MAC,
        sender_ip: VIP,
        target_mac: CLI_MAC,
        target_ip: CLI,
    }
    .emit(&mut want_arp);
    run_table(
        &mut Lab::new(true),
        vec![Step::new(
            "the reply built over the request",
            1,
            arp_request(VIP).0,
            Verdict::Reply,
            eth(CLI_MAC, LB_MAC, ethertype::ARP, &want_arp),
        )],
        &[(Counter::ArpReplied, 1)],
    );
}

/// A VIP released by `ReleaseVips` (a VRRP backup's) is not answered for:
/// its ARP goes to the kernel, which does not hold it either; owned again,
/// it is answered.
#[test]
fn a_released_vip_is_not_answered_for() {
    let mut lab = Lab::new(true);
    let vip = IpAddr::V4(VIP);
    assert_eq!(
        lab.admin
            .handle(Request::ReleaseVips(vec![vip, vip]), &lab.cores, 1)
            .0,
        Response::Ok
    );
    assert_eq!(
        lab.admin.handle(Request::ReleasedVips, &lab.cores, 1).0,
        Response::Released(vec![vip])
    );
    lab.worker.set_snapshot(Arc::new(lab.admin.snapshot()));
    let mut f = arp_request(VIP);
    assert_eq!(lab.run(&mut f, 1), Verdict::Exception);
    assert_eq!(lab.counter(Counter::ArpReplied), 0);
    assert_eq!(
        lab.admin
            .handle(Request::ReleaseVips(vec![]), &lab.cores, 1)
            .0,
        Response::Ok
    );
    lab.worker.set_snapshot(Arc::new(lab.admin.snapshot()));
    let mut f = arp_request(VIP);
    assert_eq!(lab.run(&mut f, 1), Verdict::Reply);
}

#[test]
fn other_arp_goes_to_the_kernel_and_teaches_neighbours() {
    let mut lab = Lab::new(true);
    let mut f = arp_request(LB);
    let before = f.clone();
    assert_eq!(lab.run(&mut f, 1), Verdict::Exception);
    assert_eq!(f, before, "exception frames are not changed");
    assert_eq!(lab.events.pop(), None, "the client is no next hop of ours");
    // A real server's ARP reply teaches the control thread its MAC.
    let mut a = vec![0u8; 28];
    ArpRepr {
        operation: op::REPLY,
        sender_mac: RS1_MAC,
        sender_ip: RS1,
        target_mac: LB_MAC,
        target_ip: LB,
    }
    .emit(&mut a);
    let mut reply = VecFrame(eth(LB_MAC, RS1_MAC, ethertype::ARP, &a));
    assert_eq!(lab.run(&mut reply, 1), Verdict::Exception);
    assert_eq!(
        lab.events.pop(),
        Some(WorkerEvent::NeighLearned {
            port: 0,
            addr: RS1.into(),
            mac: RS1_MAC
        })
    );
    assert_eq!(lab.counter(Counter::ToException), 2);
}

#[test]
fn arp_reply_shape_is_valid() {
    let mut lab = Lab::new(true);
    let mut f = arp_request(VIP);
    lab.run(&mut f, 1);
    let a = ArpPacket::new_checked(&f.0[14..]).unwrap();
    assert_eq!(a.operation(), op::REPLY);
}

/// keepalived's gratuitous ARP (`spec/vrrp.md` §6.6, §8.7), as `Announce`
/// sends it: broadcast, a request, sender and target the VIP, target
/// hardware address broadcast.
#[test]
fn gratuitous_arp_shape() {
    let vip = Ipv4Addr::new(198, 18, 0, 120);
    let mut buf = [0u8; 64];
    let len = rvs_dataplane::wire::arp::build_gratuitous(&mut buf, LB_MAC, vip);
    assert_eq!(len, 60);
    assert_eq!(&buf[..6], &[0xff; 6]);
    let a = ArpPacket::new_checked(&buf[14..len]).unwrap();
    assert_eq!(a.operation(), op::REQUEST);
    assert_eq!((a.sender_mac(), a.sender_ip()), (LB_MAC, vip));
    assert_eq!(a.target_ip(), vip);
    assert_eq!(
        &buf[14 + 18..14 + 24],
        &[0xff; 6],
        "target hardware address"
    );
}
