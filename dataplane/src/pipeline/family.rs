//! What the pipeline does differently by address family (`u32` for IPv4,
//! `u128` for IPv6): the connection tables it uses (`Tables`); the rewrite
//! of an address and port, the tunnel's outer header and the error about a
//! packet too big for it, the TOA option (`Wire`); reading a packet's
//! header, the checks it must pass, its ICMP (`Ip`).
//!
//! Contract: the generic stages call these and nothing family-specific;
//! every method keeps the packet's checksums true.

use std::net::{Ipv4Addr, Ipv6Addr};

use rvs_api::TunnelCsum;

use super::{Core, Frame, Quoted, Rx, Verdict};
use crate::conn::{ConnKey, ConnTable, Family, ReplyTable, XReplyTable};
use crate::nat::xlat::{self, Addrs, Untranslatable};
use crate::nat::{self, End};
use crate::service::{Dest, PortInfo, Snapshot};
use crate::stats::Counter;
use crate::wire::checksum;
use crate::wire::icmp::{self, IcmpPacket, IcmpRepr};
use crate::wire::icmpv6::{self, Icmpv6Packet, Icmpv6Repr};
use crate::wire::ipv4::{self, protocol, Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::wire::ipv6ext;
use crate::wire::ports::PortsPacket;
use crate::wire::udp::{self, UdpPacket};
use crate::wire::Fragment;

/// The most of an offending packet an error this director sends quotes
/// (IPv4: its header and 8 bytes, at most 68; IPv6: up to 128 bytes).
pub(super) const QUOTE_MAX: usize = 128;

/// An ICMP error this director sends about a client's packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IcmpError {
    /// No dest for a new connection (`spec/schedulers.md` §0.6).
    PortUnreachable,
    /// The packet does not fit the tunnel: IPv4's "fragmentation needed",
    /// IPv6's "packet too big", with this MTU.
    TooBig(usize),
}

/// The connection tables of an address family.
pub(super) trait Tables: Family {
    /// The other address family (FullNAT between families, decision 42).
    type Other: Ip<Other = Self>;
    fn conns(core: &mut Core) -> &mut ConnTable<Self>;
    fn replies(core: &mut Core) -> &mut ReplyTable<Self>;
    /// Replies in this family to connections of the other.
    fn xreplies(core: &mut Core) -> &mut XReplyTable<Self, Self::Other>;
}

/// `Tables` for family `$a` (other family `$other`): `Core`'s fields of it.
macro_rules! family_tables {
    ($a:ty, $other:ty, $conns:ident, $replies:ident, $xreplies:ident) => {
        impl Tables for $a {
            type Other = $other;

            #[inline(always)]
            fn xreplies(core: &mut Core) -> &mut XReplyTable<$a, $other> {
                &mut core.$xreplies
            }

            #[inline(always)]
            fn conns(core: &mut Core) -> &mut ConnTable<$a> {
                &mut core.$conns
            }

            #[inline(always)]
            fn replies(core: &mut Core) -> &mut ReplyTable<$a> {
                &mut core.$replies
            }
        }
    };
}

family_tables!(u32, u128, conns, replies, xreplies);
family_tables!(u128, u32, conns6, replies6, xreplies6);

/// What forwarding does differently by address family: the rewrite of an
/// address and port, the tunnel's outer header, the TOA option.
pub(super) trait Wire: Tables {
    fn rewrite(ip: &mut [u8], end: End, addr: Self, port: u16);
    fn rewrite_addr(ip: &mut [u8], end: End, addr: Self);
    fn rewrite_quoted(ip: &mut [u8], quote_at: usize, end: End, addr: Self, port: u16);
    /// The IP header this director writes (IPv4's without options, IPv6's
    /// fixed one): a tunnel's outer header, an ICMP error's.
    const IP_HEADER_LEN: usize;
    /// The director's address of the family on segment `out`: the source
    /// of its tunnels.
    fn tunnel_src(out: &PortInfo) -> Option<Self>;
    /// The length of the client's packet `ip` and what the outer header
    /// copies from it.
    fn tunnel_inner(ip: &[u8]) -> Inner;
    /// Whether a client whose packet leaves `room` bytes for it in the
    /// tunnel is told so: IPv4 when it set DF and `room` is at least IPv4's
    /// smallest MTU; IPv6 when `room` is at least IPv6's.
    fn tells_too_big(inner: &Inner, room: usize) -> bool;
    /// The outer headers at the front of `b` (the client's packet after
    /// them): IP from `src` to the dest, and for GUE the UDP and GUE
    /// headers, with a source port (IPv6: and a flow label) from the flow
    /// `key`, so ECMP and RSS at the real server spread flows as they
    /// would spread the clients.
    fn emit_tunnel(
        core: &mut Core,
        b: &mut [u8],
        src: Self,
        dest: &Dest,
        inner: &Inner,
        gue: bool,
        key: &ConnKey<Self>,
    );
    /// The TOA option's length (IPv4's, DPVS's IPv6 one).
    const TOA_LEN: usize;
    /// The length of the packet `ip` from its (checked) IP header on.
    fn ip_len(ip: &[u8]) -> usize;
    /// Whether the TCP header of `ip` has room for the TOA option.
    fn toa_fits(ip: &[u8]) -> bool;
    /// Put the client's address and port in a TOA option (the frame has
    /// grown by `TOA_LEN` already); on a SYN the MSS is lowered by as much.
    fn write_toa(ip: &mut [u8], caddr: Self, cport: u16, clamp_mss: bool);
    /// The family's ethertype.
    const ETHERTYPE: u16;
    /// How much a packet grows translated into the other family (IPv4 to
    /// IPv6: 20 bytes; IPv6 to IPv4: none, it shrinks).
    const GROWTH_TO_OTHER: usize;
    /// Translate the packet at `b[at..]` into the other family with `to`'s
    /// addresses (`nat::xlat`); the range of `b` it now occupies.
    fn translate(
        b: &mut [u8],
        at: usize,
        to: &Addrs<Self::Other>,
    ) -> Result<std::ops::Range<usize>, Untranslatable>;
}

impl Wire for u32 {
    const TOA_LEN: usize = nat::TOA_LEN;
    const ETHERTYPE: u16 = crate::wire::ethernet::ethertype::IPV4;
    const GROWTH_TO_OTHER: usize = xlat::GROWTH;

    fn translate(
        b: &mut [u8],
        at: usize,
        to: &Addrs<u128>,
    ) -> Result<std::ops::Range<usize>, Untranslatable> {
        let to = to.map(Ipv6Addr::from);
        let r = xlat::ipv4_to_ipv6(b, at, &to)?;
        // A SYN grown into IPv6 tells its peer of an MSS 20 bytes too big.
        if Ipv6Packet::new_unchecked(&b[r.clone()]).next_header() == protocol::TCP {
            xlat::lower_syn_mss(&mut b[r.start + ipv6::HEADER_LEN..r.end]);
        }
        Ok(r)
    }

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

    const IP_HEADER_LEN: usize = ipv4::HEADER_LEN_MIN;

    #[inline]
    fn tunnel_src(out: &PortInfo) -> Option<u32> {
        Some(u32::from(out.addr))
    }

    #[inline]
    fn tunnel_inner(ip: &[u8]) -> Inner {
        let ip = Ipv4Packet::new_unchecked(ip);
        Inner {
            len: usize::from(ip.total_len()),
            tos: ip.tos(),
            ttl: ip.ttl(),
            df: ip.dont_frag(),
        }
    }

    #[inline]
    fn tells_too_big(inner: &Inner, room: usize) -> bool {
        inner.df && room >= usize::from(MTU_MIN)
    }

    fn emit_tunnel(
        core: &mut Core,
        b: &mut [u8],
        src: u32,
        dest: &Dest,
        inner: &Inner,
        gue: bool,
        key: &ConnKey<u32>,
    ) {
        core.tunnel_ident = core.tunnel_ident.wrapping_add(1);
        let (src, dst) = (Ipv4Addr::from(src), dest.addr4());
        let udp_len = udp::HEADER_LEN + GUE_HEADER_LEN + inner.len;
        Ipv4Repr {
            src,
            dst,
            protocol: if gue { protocol::UDP } else { protocol::IPIP },
            payload_len: if gue { udp_len } else { inner.len },
            ttl: inner.ttl,
            tos: inner.tos,
            ident: if inner.df { 0 } else { core.tunnel_ident },
            dont_frag: inner.df,
        }
        .emit(b);
        if gue {
            let sport = gue_sport(core.owner_hasher.hash_one(key));
            let pseudo = (dest.tunnel.csum == TunnelCsum::Csum).then(|| {
                checksum::pseudo_v4(src.octets(), dst.octets(), protocol::UDP, udp_len as u16)
            });
            let udp = &mut b[ipv4::HEADER_LEN_MIN..][..udp_len];
            write_gue(udp, sport, dest.tunnel.port, protocol::IPIP, pseudo);
        }
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
    const ETHERTYPE: u16 = crate::wire::ethernet::ethertype::IPV6;
    const GROWTH_TO_OTHER: usize = 0;

    fn translate(
        b: &mut [u8],
        at: usize,
        to: &Addrs<u32>,
    ) -> Result<std::ops::Range<usize>, Untranslatable> {
        let to = to.map(Ipv4Addr::from);
        xlat::ipv6_to_ipv4(b, at, &to)
    }

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

    const IP_HEADER_LEN: usize = ipv6::HEADER_LEN;

    #[inline]
    fn tunnel_src(out: &PortInfo) -> Option<u128> {
        out.addr6.map(u128::from)
    }

    #[inline]
    fn tunnel_inner(ip: &[u8]) -> Inner {
        let ip = Ipv6Packet::new_unchecked(ip);
        Inner {
            len: ipv6::HEADER_LEN + usize::from(ip.payload_len()),
            tos: ip.traffic_class(),
            ttl: ip.hop_limit(),
            df: false,
        }
    }

    #[inline]
    fn tells_too_big(_: &Inner, room: usize) -> bool {
        room >= MTU6_MIN
    }

    fn emit_tunnel(
        core: &mut Core,
        b: &mut [u8],
        src: u128,
        dest: &Dest,
        inner: &Inner,
        gue: bool,
        key: &ConnKey<u128>,
    ) {
        let (src, dst) = (Ipv6Addr::from(src), dest.addr6());
        let flow_hash = core.owner_hasher.hash_one(key);
        let udp_len = udp::HEADER_LEN + GUE_HEADER_LEN + inner.len;
        let mut o = Ipv6Packet::new_unchecked(&mut b[..ipv6::HEADER_LEN]);
        // The flow label spreads the tunnel's flows as the clients' would be.
        o.set_version_class_flow(inner.tos, (flow_hash as u32) & 0x000f_ffff);
        o.set_payload_len(if gue { udp_len } else { inner.len } as u16);
        o.set_next_header(if gue {
            protocol::UDP
        } else {
            protocol::IPV6_IN_IP
        });
        o.set_hop_limit(inner.ttl);
        o.set_src(src);
        o.set_dst(dst);
        if gue {
            // UDP over IPv6 always has a checksum (RFC 8200 §8.1), whatever
            // --tun-nocsum says for IPv4.
            let pseudo =
                checksum::pseudo_v6(src.octets(), dst.octets(), protocol::UDP, udp_len as u32);
            let udp = &mut b[ipv6::HEADER_LEN..][..udp_len];
            let (sport, inner) = (gue_sport(flow_hash >> 32), protocol::IPV6_IN_IP);
            write_gue(udp, sport, dest.tunnel.port, inner, Some(pseudo));
        }
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

/// What a tunnel's outer header copies from the client's packet, and its
/// length.
#[derive(Clone, Copy, Debug)]
pub(super) struct Inner {
    pub(super) len: usize,
    /// IPv4's TOS, IPv6's traffic class.
    pub(super) tos: u8,
    /// IPv4's TTL, IPv6's hop limit.
    pub(super) ttl: u8,
    /// IPv4's "don't fragment" (false for IPv6).
    pub(super) df: bool,
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
    /// A fragment's facts (IPv4's header, IPv6's fragment header): for a
    /// later fragment `proto` is the datagram's and `hl` where its payload
    /// starts (`frag.rs`).
    pub(super) frag: Option<Fragment>,
    /// IPv6 extension headers before the upper layer (`hl` past them).
    pub(super) ext: bool,
    /// An IPv6 routing header with segments left: the VIP is not the
    /// packet's final destination.
    pub(super) routed: bool,
}

/// How stage 6 sorts a message of the family's ICMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IcmpClass {
    EchoRequest,
    /// An error message (it quotes the packet that caused it).
    Error,
    /// IPv6's Neighbour Solicitation or Advertisement.
    Neighbour,
    Other,
}

/// What reading a packet does differently by address family: its header,
/// the checks it must pass, its ICMP.
pub(super) trait Ip: Wire {
    /// The family's ICMP (the transport number of ICMP, ICMPv6).
    const ICMP: u8;
    /// The ICMP header (both families': type, code, checksum, 4 more).
    const ICMP_HEADER_LEN: usize;
    /// Whether the family's ICMP is looked at before the address checks
    /// (for Neighbour Discovery and echo; `icmp.rs` says why): IPv6's
    /// Neighbour Discovery comes to addresses that are no VIP
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
    /// IPv4's header checksum (fragments go on to `frag.rs`).
    fn check_to_vip(ip: &[u8]) -> Result<(), Counter>;
    /// What the ICMP message `icmp` (from its header on) is, once its
    /// header is there.
    fn icmp_class(icmp: &[u8]) -> Result<IcmpClass, Counter>;
    /// The family's Neighbour Discovery (IPv6's, `v6.rs`; IPv4 has none:
    /// its ARP is not IP).
    fn handle_neighbour<F: Frame>(
        core: &mut Core,
        snap: &Snapshot,
        frame: &mut F,
        rx: Rx<Self>,
    ) -> Verdict;
    /// Turn the echo request `ip` (from its IP header on; the ICMP header
    /// at `hl`, checked) into its reply in place: the addresses swapped,
    /// TTL (hop limit) 64, the type echo reply, every checksum true.
    fn echo_to_reply(ip: &mut [u8], hl: usize);
    /// The type, code and last 4 header bytes of the family's `err`.
    fn error_message(err: IcmpError) -> (u8, u8, [u8; 4]);
    /// Of the client's packet `ip` (checked): its source, its destination,
    /// and how much of it an error about it quotes (IPv4: the IP header and
    /// 8 bytes, RFC 792; IPv6: as much as `QUOTE_MAX` holds).
    fn error_parts(ip: &[u8]) -> (Self, Self, usize);
    /// Write an ICMP error over `b` (exactly `IP_HEADER_LEN +
    /// ICMP_HEADER_LEN + quote.len()` bytes): the IP header from `src` to
    /// `dst`, the message (type, code, rest) quoting `quote`, checksums
    /// true.
    fn emit_error(b: &mut [u8], src: Self, dst: Self, msg: (u8, u8, [u8; 4]), quote: &[u8]);
    /// The quoted tuple of the ICMP message `icmp` (from its header on), or
    /// `None` when it is not an error message.
    fn quoted(icmp: &[u8]) -> Result<Option<Quoted<Self>>, Counter>;
}

impl Ip for u32 {
    const ICMP: u8 = protocol::ICMP;
    const ICMP_HEADER_LEN: usize = icmp::HEADER_LEN;
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
            frag: p.is_fragment().then(|| Fragment {
                ident: u32::from(p.ident()),
                offset: p.frag_offset() * 8,
                more: p.more_frags(),
            }),
            ext: false,
            routed: false,
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
        Ok(())
    }

    #[inline]
    fn quoted(icmp: &[u8]) -> Result<Option<Quoted<u32>>, Counter> {
        quoted_tuple(icmp)
    }

    fn icmp_class(icmp: &[u8]) -> Result<IcmpClass, Counter> {
        let i = IcmpPacket::new_checked(icmp).map_err(Counter::from)?;
        Ok(if i.kind() == icmp::kind::ECHO_REQUEST {
            IcmpClass::EchoRequest
        } else if i.is_error() {
            IcmpClass::Error
        } else {
            IcmpClass::Other
        })
    }

    fn handle_neighbour<F: Frame>(core: &mut Core, _: &Snapshot, _: &mut F, _: Rx<u32>) -> Verdict {
        core.exception()
    }

    fn echo_to_reply(b: &mut [u8], hl: usize) {
        let mut ip = Ipv4Packet::new_unchecked(&mut *b);
        let (src, dst) = (ip.src(), ip.dst());
        ip.set_src(dst);
        ip.set_dst(src);
        ip.set_ttl(64);
        ip.fill_checksum();
        let mut icmp = IcmpPacket::new_unchecked(&mut b[hl..]);
        let old = u16::from_be_bytes([icmp::kind::ECHO_REQUEST, icmp.code()]);
        icmp.set_kind(icmp::kind::ECHO_REPLY);
        let new = u16::from_be_bytes([icmp::kind::ECHO_REPLY, icmp.code()]);
        let c = checksum::update_u16(icmp.checksum(), old, new);
        icmp.set_checksum(c);
    }

    fn error_message(err: IcmpError) -> (u8, u8, [u8; 4]) {
        match err {
            IcmpError::PortUnreachable => {
                (icmp::kind::DEST_UNREACHABLE, icmp::unreach::PORT, [0; 4])
            }
            // The next-hop MTU in the last 2 bytes (RFC 1191).
            IcmpError::TooBig(mtu) => (
                icmp::kind::DEST_UNREACHABLE,
                icmp::unreach::FRAG_NEEDED,
                [0, 0, (mtu >> 8) as u8, mtu as u8],
            ),
        }
    }

    fn error_parts(b: &[u8]) -> (u32, u32, usize) {
        let ip = Ipv4Packet::new_unchecked(b);
        let quote = (ip.header_len() + 8).min(usize::from(ip.total_len()));
        (u32::from(ip.src()), u32::from(ip.dst()), quote)
    }

    fn emit_error(b: &mut [u8], src: u32, dst: u32, msg: (u8, u8, [u8; 4]), quote: &[u8]) {
        let (ip, message) = b.split_at_mut(ipv4::HEADER_LEN_MIN);
        Ipv4Repr {
            src: Ipv4Addr::from(src),
            dst: Ipv4Addr::from(dst),
            protocol: protocol::ICMP,
            payload_len: message.len(),
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: false,
        }
        .emit(ip);
        IcmpRepr {
            kind: msg.0,
            code: msg.1,
            rest: msg.2,
            payload: quote,
        }
        .emit(message);
    }
}

impl Ip for u128 {
    const ICMP: u8 = protocol::ICMPV6;
    const ICMP_HEADER_LEN: usize = icmpv6::HEADER_LEN;
    const ICMP_FIRST: bool = true;

    #[inline]
    fn header(ip: &[u8]) -> Result<Header<u128>, Counter> {
        let p = Ipv6Packet::new_checked(ip).map_err(Counter::from)?;
        let len = ipv6::HEADER_LEN + usize::from(p.payload_len());
        let chain = ipv6ext::walk(&ip[..len]).map_err(Counter::from)?;
        Ok(Header {
            proto: chain.proto,
            hl: chain.offset,
            frag: chain.frag,
            ext: chain.has_ext(),
            routed: chain.segments_left != 0,
            ..header6(&p)
        })
    }

    #[inline]
    fn check_reply(_: &[u8]) -> Result<(), Option<Counter>> {
        Ok(())
    }

    #[inline]
    fn check_to_vip(_: &[u8]) -> Result<(), Counter> {
        Ok(())
    }

    fn icmp_class(icmp: &[u8]) -> Result<IcmpClass, Counter> {
        let i = Icmpv6Packet::new_checked(icmp).map_err(Counter::from)?;
        Ok(match i.kind() {
            icmpv6::kind::NEIGHBOR_SOLICIT | icmpv6::kind::NEIGHBOR_ADVERT => IcmpClass::Neighbour,
            icmpv6::kind::ECHO_REQUEST => IcmpClass::EchoRequest,
            _ if i.is_error() => IcmpClass::Error,
            _ => IcmpClass::Other,
        })
    }

    #[inline]
    fn handle_neighbour<F: Frame>(
        core: &mut Core,
        snap: &Snapshot,
        frame: &mut F,
        rx: Rx<u128>,
    ) -> Verdict {
        core.handle_ndp(snap, frame, rx)
    }

    fn echo_to_reply(b: &mut [u8], hl: usize) {
        let mut ip = Ipv6Packet::new_unchecked(&mut *b);
        let (src, dst) = (ip.src(), ip.dst());
        ip.set_src(dst);
        ip.set_dst(src);
        ip.set_hop_limit(64);
        // Swapped addresses leave the pseudo-header's sum as it was: only
        // the type changes.
        let mut icmp = Icmpv6Packet::new_unchecked(&mut b[hl..]);
        let code = icmp.code();
        let old = u16::from_be_bytes([icmpv6::kind::ECHO_REQUEST, code]);
        let new = u16::from_be_bytes([icmpv6::kind::ECHO_REPLY, code]);
        icmp.set_kind(icmpv6::kind::ECHO_REPLY);
        let c = checksum::update_u16(icmp.checksum(), old, new);
        icmp.set_checksum(c);
    }

    fn error_message(err: IcmpError) -> (u8, u8, [u8; 4]) {
        match err {
            // Destination unreachable, port unreachable (code 4).
            IcmpError::PortUnreachable => (icmpv6::kind::DEST_UNREACHABLE, 4, [0; 4]),
            IcmpError::TooBig(mtu) => (icmpv6::kind::PACKET_TOO_BIG, 0, (mtu as u32).to_be_bytes()),
        }
    }

    fn error_parts(b: &[u8]) -> (u128, u128, usize) {
        let ip = Ipv6Packet::new_unchecked(b);
        let total = ipv6::HEADER_LEN + usize::from(ip.payload_len());
        (
            u128::from(ip.src()),
            u128::from(ip.dst()),
            total.min(QUOTE_MAX),
        )
    }

    fn emit_error(b: &mut [u8], src: u128, dst: u128, msg: (u8, u8, [u8; 4]), quote: &[u8]) {
        let (ip, message) = b.split_at_mut(ipv6::HEADER_LEN);
        let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
        Ipv6Repr {
            src,
            dst,
            next_header: protocol::ICMPV6,
            payload_len: message.len(),
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(ip);
        Icmpv6Repr {
            kind: msg.0,
            code: msg.1,
            rest: msg.2,
            payload: quote,
        }
        .emit(message, src, dst);
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

/// GUE's base header (version 0, no options).
pub(super) const GUE_HEADER_LEN: usize = 4;

/// The smallest MTU IPv4 allows (RFC 791): a tunnel leaving less than this
/// for the client's packet cannot help it with "fragmentation needed".
pub(super) const MTU_MIN: u16 = 68;

/// A GUE tunnel's UDP source port from a flow's hash: in the dynamic range
/// (49152 and up), so ECMP and RSS at the real server spread the flows.
#[inline]
pub(super) fn gue_sport(flow_hash: u64) -> u16 {
    49152 | (flow_hash as u16 & 0x3fff)
}

/// Write the UDP and GUE headers of a GUE tunnel packet into `udp` (the
/// UDP datagram, the inner packet already in place after the 12 header
/// bytes): GUE version 0, no options, carrying `inner` (IPIP for IPv4, 41
/// for IPv6), IPVS's header. With the pseudo-header's sum, the UDP checksum
/// is filled in; without, it is 0 ("none", IPv4 only).
pub(super) fn write_gue(udp: &mut [u8], sport: u16, dport: u16, inner: u8, pseudo: Option<u16>) {
    let len = udp.len();
    let mut h = UdpPacket::new_unchecked(&mut *udp);
    h.set_src_port(sport);
    h.set_dst_port(dport);
    h.set_len(len as u16);
    h.set_checksum(0);
    udp[udp::HEADER_LEN..udp::HEADER_LEN + GUE_HEADER_LEN].copy_from_slice(&[0, inner, 0, 0]);
    if let Some(pseudo) = pseudo {
        let sum = !checksum::combine(&[pseudo, checksum::sum(udp)]);
        let sum = if sum == 0 { 0xffff } else { sum };
        UdpPacket::new_unchecked(udp).set_checksum(sum);
    }
}

/// The quoted tuple of the ICMP message `icmp` (from its header on), or
/// `None` when it is not an error message. The quote must hold the IPv4
/// header and the ports (`spec/conn.md` §10).
pub(super) fn quoted_tuple(icmp: &[u8]) -> Result<Option<Quoted>, Counter> {
    let i = IcmpPacket::new_checked(icmp).map_err(Counter::from)?;
    if !i.is_error() {
        return Ok(None);
    }
    let quoted = i.payload();
    if quoted.len() < ipv4::HEADER_LEN_MIN {
        return Err(Counter::DropIcmpTruncated);
    }
    // Not `new_checked`: the quote is cut short of the total length.
    let q = Ipv4Packet::new_unchecked(quoted);
    let qhl = q.header_len();
    if qhl < ipv4::HEADER_LEN_MIN || quoted.len() < qhl {
        return Err(Counter::DropIcmpTruncated);
    }
    let ports = PortsPacket::new_checked(&quoted[qhl..]).map_err(Counter::from)?;
    Ok(Some(Quoted {
        src: u32::from(q.src()),
        dst: u32::from(q.dst()),
        sport: ports.src_port(),
        dport: ports.dst_port(),
        protocol: q.protocol(),
    }))
}

/// The smallest MTU IPv6 allows (RFC 8200): a tunnel leaving less than this
/// cannot help a client with "packet too big".
pub(super) const MTU6_MIN: usize = 1280;

/// The fixed header of an IPv6 packet, its next header taken as the
/// transport (`Ip::header` walks the extension headers; ICMPv6's own paths
/// take only packets without).
#[inline]
pub(super) fn header6<T: AsRef<[u8]>>(ip: &Ipv6Packet<T>) -> Header<u128> {
    Header {
        src: u128::from(ip.src()),
        dst: u128::from(ip.dst()),
        proto: ip.next_header(),
        hl: ipv6::HEADER_LEN,
        len: ipv6::HEADER_LEN + usize::from(ip.payload_len()),
        frag: None,
        ext: false,
        routed: false,
    }
}

/// The quoted tuple of an ICMPv6 error message `icmp` (header on); the quote must hold the IPv6 header and the ports.
pub(super) fn quoted_tuple6(icmp: &[u8]) -> Result<Quoted<u128>, Counter> {
    let i = Icmpv6Packet::new_checked(icmp).map_err(Counter::from)?;
    let quoted = i.payload();
    if quoted.len() < ipv6::HEADER_LEN {
        return Err(Counter::DropIcmpTruncated);
    }
    // Not `new_checked`: the quote is cut short of the payload length.
    let q = Ipv6Packet::new_unchecked(quoted);
    let ports = PortsPacket::new_checked(&quoted[ipv6::HEADER_LEN..]).map_err(Counter::from)?;
    Ok(Quoted {
        src: u128::from(q.src()),
        dst: u128::from(q.dst()),
        sport: ports.src_port(),
        dport: ports.dst_port(),
        protocol: q.next_header(),
    })
}
