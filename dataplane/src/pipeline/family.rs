//! What the pipeline does differently by address family (`u32` for IPv4,
//! `u128` for IPv6): the connection tables it uses, the rewrite of an
//! address and port, the tunnel's outer header, the TOA option; reading a
//! packet's header, the checks it must pass, its ICMP.
//!
//! Contract: the generic stages call these and nothing family-specific;
//! every method keeps the packet's checksums true.

use std::net::Ipv4Addr;

use super::icmp::quoted_tuple;
use super::v6::{header6, quoted_tuple6};
use super::{Core, Frame, Quoted, Verdict};
use crate::conn::{ConnKey, ConnTable, Family, ReplyTable};
use crate::nat::{self, End};
use crate::service::{Dest, Snapshot};
use crate::stats::Counter;
use crate::wire::ethernet::MacAddr;
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv4::{protocol, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Packet};

/// The connection tables of an address family.
pub(super) trait Tables: Family {
    fn conns(core: &mut Core) -> &mut ConnTable<Self>;
    fn replies(core: &mut Core) -> &mut ReplyTable<Self>;
}

impl Tables for u32 {
    #[inline(always)]
    fn conns(core: &mut Core) -> &mut ConnTable<u32> {
        &mut core.conns
    }

    #[inline(always)]
    fn replies(core: &mut Core) -> &mut ReplyTable<u32> {
        &mut core.replies
    }
}

impl Tables for u128 {
    #[inline(always)]
    fn conns(core: &mut Core) -> &mut ConnTable<u128> {
        &mut core.conns6
    }

    #[inline(always)]
    fn replies(core: &mut Core) -> &mut ReplyTable<u128> {
        &mut core.replies6
    }
}

/// What forwarding does differently by address family: the rewrite of an
/// address and port, the tunnel's outer header, the TOA option.
pub(super) trait Wire: Tables {
    fn rewrite(ip: &mut [u8], end: End, addr: Self, port: u16);
    fn rewrite_addr(ip: &mut [u8], end: End, addr: Self);
    fn rewrite_quoted(ip: &mut [u8], quote_at: usize, end: End, addr: Self, port: u16);
    #[allow(clippy::too_many_arguments)]
    fn encapsulate<F: Frame>(
        core: &mut Core,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        dest: &Dest,
        key: &ConnKey<Self>,
        reply_port: Option<u16>,
    ) -> Result<(), Verdict>;
    /// The TOA option's length (IPv4's, DPVS's IPv6 one).
    const TOA_LEN: usize;
    /// The length of the packet `ip` from its (checked) IP header on.
    fn ip_len(ip: &[u8]) -> usize;
    /// Whether the TCP header of `ip` has room for the TOA option.
    fn toa_fits(ip: &[u8]) -> bool;
    /// Put the client's address and port in a TOA option (the frame has
    /// grown by `TOA_LEN` already); on a SYN the MSS is lowered by as much.
    fn write_toa(ip: &mut [u8], caddr: Self, cport: u16, clamp_mss: bool);
}

impl Wire for u32 {
    const TOA_LEN: usize = nat::TOA_LEN;

    #[inline]
    fn rewrite(ip: &mut [u8], end: End, addr: u32, port: u16) {
        nat::rewrite(ip, end, Ipv4Addr::from(addr), port);
    }

    #[inline]
    fn rewrite_addr(ip: &mut [u8], end: End, addr: u32) {
        nat::rewrite_addr(ip, end, Ipv4Addr::from(addr));
    }

    #[inline]
    fn rewrite_quoted(ip: &mut [u8], quote_at: usize, end: End, addr: u32, port: u16) {
        nat::rewrite_quoted(ip, quote_at, end, Ipv4Addr::from(addr), port);
    }

    fn encapsulate<F: Frame>(
        core: &mut Core,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        dest: &Dest,
        key: &ConnKey<u32>,
        reply_port: Option<u16>,
    ) -> Result<(), Verdict> {
        core.encapsulate(snap, frame, l3, dest, key, reply_port)
    }

    #[inline]
    fn ip_len(ip: &[u8]) -> usize {
        usize::from(Ipv4Packet::new_unchecked(ip).total_len())
    }

    #[inline]
    fn toa_fits(ip: &[u8]) -> bool {
        nat::toa_fits(ip)
    }

    #[inline]
    fn write_toa(ip: &mut [u8], caddr: u32, cport: u16, clamp_mss: bool) {
        nat::insert_toa(ip, Ipv4Addr::from(caddr), cport, clamp_mss);
    }
}

impl Wire for u128 {
    const TOA_LEN: usize = nat::TOA6_LEN;

    #[inline]
    fn rewrite(ip: &mut [u8], end: End, addr: u128, port: u16) {
        nat::rewrite6(ip, end, std::net::Ipv6Addr::from(addr), port);
    }

    #[inline]
    fn rewrite_addr(ip: &mut [u8], end: End, addr: u128) {
        nat::rewrite6_addr(ip, end, std::net::Ipv6Addr::from(addr));
    }

    #[inline]
    fn rewrite_quoted(ip: &mut [u8], quote_at: usize, end: End, addr: u128, port: u16) {
        nat::rewrite6_quoted(ip, quote_at, end, std::net::Ipv6Addr::from(addr), port);
    }

    fn encapsulate<F: Frame>(
        core: &mut Core,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        dest: &Dest,
        key: &ConnKey<u128>,
        reply_port: Option<u16>,
    ) -> Result<(), Verdict> {
        core.encapsulate6(snap, frame, l3, dest, key, reply_port)
    }

    #[inline]
    fn ip_len(ip: &[u8]) -> usize {
        ipv6::HEADER_LEN + usize::from(Ipv6Packet::new_unchecked(ip).payload_len())
    }

    #[inline]
    fn toa_fits(ip: &[u8]) -> bool {
        nat::toa6_fits(ip)
    }

    #[inline]
    fn write_toa(ip: &mut [u8], caddr: u128, cport: u16, clamp_mss: bool) {
        nat::insert_toa6(ip, std::net::Ipv6Addr::from(caddr), cport, clamp_mss);
    }
}

/// An IP header's facts as the stages read them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Header<A> {
    pub(super) src: A,
    pub(super) dst: A,
    /// The transport: IPv4's protocol, IPv6's next header.
    pub(super) proto: u8,
    /// Where the transport header starts, from the IP header's first byte.
    pub(super) hl: usize,
    /// The packet's length from its IP header on (the frame may be padded
    /// beyond it).
    pub(super) len: usize,
}

/// What reading a packet does differently by address family: its header,
/// the checks it must pass, its ICMP.
pub(super) trait Ip: Wire {
    /// The family's ICMP (the transport number of ICMP, ICMPv6).
    const ICMP: u8;
    /// Whether the family's ICMP is taken before the address checks:
    /// IPv6's Neighbour Discovery comes to addresses that are no VIP
    /// (solicited-node multicast ones); IPv4's ARP is not IP.
    const ICMP_FIRST: bool;
    /// The header of the packet `ip` (from its IP header on), checked
    /// against the bytes there.
    fn header(ip: &[u8]) -> Result<Header<Self>, Counter>;
    /// What a real server's reply must pass before its transport is read:
    /// `Err(Some)` a counted drop (IPv4's bad header checksum), `Err(None)`
    /// the kernel's (an IPv4 fragment).
    fn check_reply(ip: &[u8]) -> Result<(), Option<Counter>>;
    /// What a packet to a VIP must pass before its transport is read:
    /// IPv4's header checksum, and no fragment.
    fn check_to_vip(ip: &[u8]) -> Result<(), Counter>;
    /// The family's ICMP to the dataplane (`icmp.rs`, `v6.rs`).
    #[allow(clippy::too_many_arguments)]
    fn handle_icmp<F: Frame>(
        core: &mut Core,
        snap: &Snapshot,
        port: u16,
        peer_mac: MacAddr,
        frame: &mut F,
        l3: usize,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict;
    /// No dest for a new connection: "port unreachable" back to the client,
    /// from the VIP, sent from `mac` (`spec/schedulers.md` §0.6).
    fn reply_unreachable<F: Frame>(
        core: &mut Core,
        frame: &mut F,
        l3: usize,
        mac: MacAddr,
    ) -> Verdict;
    /// The quoted tuple of the ICMP message `icmp` (from its header on), or
    /// `None` when it is not an error message.
    fn quoted(icmp: &[u8]) -> Result<Option<Quoted<Self>>, Counter>;
}

impl Ip for u32 {
    const ICMP: u8 = protocol::ICMP;
    const ICMP_FIRST: bool = false;

    #[inline]
    fn header(ip: &[u8]) -> Result<Header<u32>, Counter> {
        let p = Ipv4Packet::new_checked(ip).map_err(Counter::from)?;
        Ok(Header {
            src: u32::from(p.src()),
            dst: u32::from(p.dst()),
            proto: p.protocol(),
            hl: p.header_len(),
            len: usize::from(p.total_len()),
        })
    }

    #[inline]
    fn check_reply(ip: &[u8]) -> Result<(), Option<Counter>> {
        let p = Ipv4Packet::new_unchecked(ip);
        if !p.verify_checksum() {
            return Err(Some(Counter::DropIpv4BadChecksum));
        }
        if p.is_fragment() {
            return Err(None);
        }
        Ok(())
    }

    #[inline]
    fn check_to_vip(ip: &[u8]) -> Result<(), Counter> {
        let p = Ipv4Packet::new_unchecked(ip);
        if !p.verify_checksum() {
            return Err(Counter::DropIpv4BadChecksum);
        }
        if p.is_fragment() {
            return Err(Counter::DropIpv4Fragment);
        }
        Ok(())
    }

    #[inline]
    fn quoted(icmp: &[u8]) -> Result<Option<Quoted<u32>>, Counter> {
        quoted_tuple(icmp)
    }

    #[inline]
    fn handle_icmp<F: Frame>(
        core: &mut Core,
        snap: &Snapshot,
        port: u16,
        _: MacAddr,
        frame: &mut F,
        l3: usize,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict {
        let mac = snap.ports[usize::from(port)].mac;
        core.handle_icmp(snap, mac, frame, l3, now_ms, handed_off)
    }

    #[inline]
    fn reply_unreachable<F: Frame>(
        core: &mut Core,
        frame: &mut F,
        l3: usize,
        mac: MacAddr,
    ) -> Verdict {
        core.reply_port_unreachable(frame, l3, mac)
    }
}

impl Ip for u128 {
    const ICMP: u8 = protocol::ICMPV6;
    const ICMP_FIRST: bool = true;

    #[inline]
    fn header(ip: &[u8]) -> Result<Header<u128>, Counter> {
        let p = Ipv6Packet::new_checked(ip).map_err(Counter::from)?;
        Ok(header6(&p))
    }

    #[inline]
    fn check_reply(_: &[u8]) -> Result<(), Option<Counter>> {
        Ok(())
    }

    #[inline]
    fn check_to_vip(_: &[u8]) -> Result<(), Counter> {
        Ok(())
    }

    #[inline]
    fn handle_icmp<F: Frame>(
        core: &mut Core,
        snap: &Snapshot,
        port: u16,
        peer_mac: MacAddr,
        frame: &mut F,
        l3: usize,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict {
        core.handle_icmp6(snap, port, peer_mac, frame, l3, now_ms, handed_off)
    }

    #[inline]
    fn reply_unreachable<F: Frame>(
        core: &mut Core,
        frame: &mut F,
        l3: usize,
        mac: MacAddr,
    ) -> Verdict {
        core.stats.count(Counter::IcmpUnreachableSent);
        // Destination unreachable, port unreachable (code 4).
        core.reply_icmp6_error(frame, l3, mac, icmpv6::kind::DEST_UNREACHABLE, 4, [0; 4])
    }

    #[inline]
    fn quoted(icmp: &[u8]) -> Result<Option<Quoted<u128>>, Counter> {
        let is_error = Icmpv6Packet::new_checked(icmp)
            .map_err(Counter::from)?
            .is_error();
        if !is_error {
            return Ok(None);
        }
        quoted_tuple6(icmp).map(Some)
    }
}
