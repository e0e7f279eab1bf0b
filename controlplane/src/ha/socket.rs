//! The raw protocol-112 sockets of the VRRP instances: opening one on an
//! interface, reading an advert with its TTL (IPv4 header) or hop limit
//! and destination (IPv6 ancillary data), and the interface's address and
//! index. The few syscalls socket2 does not wrap are here, each with its
//! SAFETY line.

use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use rvs_vrrp::wire;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// The address adverts come from: the first IPv4 address of `iface`, or
/// for IPv6 its link-local one, as keepalived (`ip -o addr show dev IFACE`).
pub(super) fn source_address(iface: &str, v6: bool) -> Option<IpAddr> {
    let args: &[&str] = if v6 {
        &["-6", "-o", "addr", "show", "dev", iface, "scope", "link"]
    } else {
        &["-4", "-o", "addr", "show", "dev", iface]
    };
    let out = std::process::Command::new("ip").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "inet" && *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
}

/// The index of `iface` (0 if there is none).
pub(super) fn ifindex(iface: &str) -> u32 {
    nix::net::if_::if_nametoindex(iface).unwrap_or(0)
}

/// The instance's raw socket on `iface`, sending from `src`.
pub(super) fn open(src: IpAddr, iface: &str, unicast: bool) -> std::io::Result<Socket> {
    let proto = Some(Protocol::from(i32::from(wire::PROTOCOL)));
    match src {
        IpAddr::V4(src) => {
            let s = Socket::new(Domain::IPV4, Type::RAW, proto)?;
            s.bind_device(Some(iface.as_bytes()))?;
            s.set_ttl(u32::from(wire::TTL))?;
            s.set_tos(0xc0)?;
            if !unicast {
                s.join_multicast_v4(&wire::GROUP_V4, &src)?;
                s.set_multicast_if_v4(&src)?;
                s.set_multicast_ttl_v4(u32::from(wire::TTL))?;
                s.set_multicast_loop_v4(false)?;
            }
            Ok(s)
        }
        IpAddr::V6(src) => {
            let s = Socket::new(Domain::IPV6, Type::RAW, proto)?;
            s.bind_device(Some(iface.as_bytes()))?;
            let idx = ifindex(iface);
            s.bind(&SockAddr::from(SocketAddr::V6(SocketAddrV6::new(
                src, 0, 0, idx,
            ))))?;
            s.set_unicast_hops_v6(u32::from(wire::TTL))?;
            s.set_tclass_v6(0xc0)?;
            if !unicast {
                s.join_multicast_v6(&wire::GROUP_V6, idx)?;
                s.set_multicast_if_v6(idx)?;
                s.set_multicast_hops_v6(u32::from(wire::TTL))?;
                s.set_multicast_loop_v6(false)?;
            }
            // The hop limit and the destination of each advert come as
            // ancillary data (the kernel strips the IPv6 header).
            for opt in [libc::IPV6_RECVHOPLIMIT, libc::IPV6_RECVPKTINFO] {
                set_int(&s, libc::IPPROTO_IPV6, opt, 1)?;
            }
            Ok(s)
        }
    }
}

/// The next advert on `sock` within its read timeout: (source,
/// destination, TTL or hop limit, the VRRP message).
pub(super) fn receive<'b>(
    sock: &Socket,
    v6: bool,
    buf: &'b mut [u8],
) -> Option<(IpAddr, IpAddr, u8, &'b [u8])> {
    if !v6 {
        // SAFETY: MaybeUninit<u8> has u8's layout; recv_from only
        // writes into the buffer, and only its first n bytes are
        // read below.
        let raw = unsafe { &mut *(std::ptr::from_mut::<[u8]>(buf) as *mut [MaybeUninit<u8>]) };
        let (n, _) = sock.recv_from(raw).ok()?;
        let (src, dst, ttl, msg) = ipv4_payload(&buf[..n])?;
        Some((IpAddr::V4(src), IpAddr::V4(dst), ttl, msg))
    } else {
        let (n, src, dst, hops) = recv6(sock, buf)?;
        Some((IpAddr::V6(src), IpAddr::V6(dst?), hops?, &buf[..n]))
    }
}

/// (src, dst, ttl, payload) of an IPv4 packet carrying VRRP.
fn ipv4_payload(b: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, &[u8])> {
    if b.len() < 20 || b[0] >> 4 != 4 || b[9] != wire::PROTOCOL {
        return None;
    }
    let ihl = usize::from(b[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([b[2], b[3]])).min(b.len());
    if ihl < 20 || total < ihl {
        return None;
    }
    let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
    let dst = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
    Some((src, dst, b[8], &b[ihl..total]))
}

/// setsockopt(2) of an int option.
fn set_int(
    s: &Socket,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the pointer and length describe `v`, a live c_int, for the
    // duration of the call; the descriptor is the socket's own.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            opt,
            std::ptr::from_ref(&v).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// One datagram of an IPv6 raw socket: its length, source, and from the
/// ancillary data its destination and hop limit.
fn recv6(s: &Socket, buf: &mut [u8]) -> Option<(usize, Ipv6Addr, Option<Ipv6Addr>, Option<u8>)> {
    use std::os::fd::AsRawFd;
    // SAFETY: all-zero is a valid value of these plain C structs.
    let mut name: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 32];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = std::ptr::from_mut(&mut name).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in `msg` is valid for its length (the name,
    // the one iovec over `buf`, the control buffer) for the call.
    let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return None;
    }
    let (mut dst, mut hops) = (None, None);
    // SAFETY: `msg` was filled in by recvmsg; the CMSG macros walk its
    // control buffer within msg_controllen, and each header's data is read
    // at its type's size, unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                    let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    hops = u8::try_from(v).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let p = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    dst = Some(Ipv6Addr::from(p.ipi6_addr.s6_addr));
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some((
        n as usize,
        Ipv6Addr::from(name.sin6_addr.s6_addr),
        dst,
        hops,
    ))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_payload_reads_the_header() {
        let mut p = vec![
            0x45, 0xc0, 0, 40, 0, 0, 0, 0, 255, 112, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18,
        ];
        p.extend_from_slice(&[0x21; 20]);
        let (s, d, ttl, m) = ipv4_payload(&p).unwrap();
        assert_eq!(
            (s, d, ttl, m.len()),
            ("10.0.0.1".parse().unwrap(), wire::GROUP_V4, 255, 20)
        );
        p[9] = 6;
        assert!(ipv4_payload(&p).is_none());
        assert!(ipv4_payload(&p[..10]).is_none());
    }
}
