//! Wire views: parse/emit round trips, and every accessor safe after
//! `new_checked` whatever the bytes.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use rvs_dataplane::wire::arp::{ArpPacket, ArpRepr};
use rvs_dataplane::wire::ethernet::{EthernetFrame, EthernetRepr, MacAddr};
use rvs_dataplane::wire::icmp::IcmpPacket;
use rvs_dataplane::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use rvs_dataplane::wire::ipv6::Ipv6Packet;
use rvs_dataplane::wire::tcp::TcpPacket;
use rvs_dataplane::wire::udp::UdpPacket;

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

proptest! {
    #[test]
    fn ethernet_round_trip(dst in mac(), src in mac(), et in any::<u16>()) {
        let repr = EthernetRepr { dst, src, ethertype: et };
        let mut b = [0u8; 14];
        repr.emit(&mut b);
        let f = EthernetFrame::new_checked(&b[..]);
        // A VLAN ethertype needs its tag; anything else parses.
        if et == 0x8100 || et == 0x88a8 {
            prop_assert!(f.is_err());
        } else {
            prop_assert_eq!(EthernetRepr::parse(&f.unwrap()), repr);
        }
    }

    #[test]
    fn arp_round_trip(op in 1u16..3, sm in mac(), si in ip(), tm in mac(), ti in ip()) {
        let repr = ArpRepr { operation: op, sender_mac: sm, sender_ip: si, target_mac: tm, target_ip: ti };
        let mut b = [0u8; 28];
        repr.emit(&mut b);
        prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()), repr);
    }

    #[test]
    fn ipv4_round_trip(
        src in ip(), dst in ip(), proto in any::<u8>(), len in 0usize..100,
        ttl in any::<u8>(), tos in any::<u8>(), ident in any::<u16>(), df in any::<bool>(),
    ) {
        let repr = Ipv4Repr { src, dst, protocol: proto, payload_len: len, ttl, tos, ident, dont_frag: df };
        let mut b = vec![0u8; 20 + len];
        repr.emit(&mut b);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(Ipv4Repr::parse(&p), repr);
    }

    /// After new_checked, no accessor panics, whatever the bytes.
    #[test]
    fn accessors_never_panic_after_new_checked(b in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(f) = EthernetFrame::new_checked(&b[..]) {
            let _ = (f.dst(), f.src(), f.ethertype(), f.inner_ethertype(), f.vlan_id(), f.payload().len());
        }
        if let Ok(a) = ArpPacket::new_checked(&b[..]) {
            let _ = (a.operation(), a.sender_mac(), a.sender_ip(), a.target_mac(), a.target_ip());
        }
        if let Ok(p) = Ipv4Packet::new_checked(&b[..]) {
            let _ = (p.header_len(), p.tos(), p.total_len(), p.ident(), p.dont_frag(), p.more_frags(),
                     p.frag_offset(), p.ttl(), p.protocol(), p.checksum(), p.src(), p.dst(),
                     p.verify_checksum(), p.payload().len(), p.is_fragment());
        }
        if let Ok(p) = Ipv6Packet::new_checked(&b[..]) {
            let _ = (p.traffic_class(), p.flow_label(), p.payload_len(), p.next_header(),
                     p.hop_limit(), p.src(), p.dst(), p.payload().len());
        }
        if let Ok(t) = TcpPacket::new_checked(&b[..]) {
            let _ = (t.src_port(), t.dst_port(), t.seq(), t.ack_number(), t.header_len(), t.flags(),
                     t.window(), t.checksum(), t.payload().len());
        }
        if let Ok(u) = UdpPacket::new_checked(&b[..]) {
            let _ = (u.src_port(), u.dst_port(), u.len(), u.checksum(), u.payload().len());
        }
        if let Ok(i) = IcmpPacket::new_checked(&b[..]) {
            let _ = (i.kind(), i.code(), i.checksum(), i.rest(), i.is_error(), i.payload().len());
        }
    }
}

#[test]
fn vlan_tagged_frames_expose_the_inner_type() {
    let mut b = vec![0u8; 18];
    EthernetRepr {
        dst: MacAddr::BROADCAST,
        src: MacAddr([2, 0, 0, 0, 0, 1]),
        ethertype: 0x8100,
    }
    .emit(&mut b);
    b[14..16].copy_from_slice(&0x0064u16.to_be_bytes());
    b[16..18].copy_from_slice(&0x0800u16.to_be_bytes());
    let f = EthernetFrame::new_checked(&b[..]).unwrap();
    assert_eq!(
        (f.vlan_id(), f.inner_ethertype(), f.payload_offset()),
        (Some(100), 0x0800, 18)
    );
}

#[test]
fn mac_text_round_trip() {
    let m: MacAddr = "02:00:5e:10:00:ff".parse().unwrap();
    assert_eq!(m.to_string(), "02:00:5e:10:00:ff");
    assert!("02:00".parse::<MacAddr>().is_err());
    assert_eq!(MacAddr::from_u64(m.to_u64()), m);
}
