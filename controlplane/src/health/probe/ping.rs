//! PING_CHECK (keepalived's `check_ping.c`): an ICMP echo, on a raw
//! socket or an unprivileged ping socket.

use std::io::{self, Read, Write};
use std::net::IpAddr;

use socket2::{Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::{describe, new_socket, Target};

/// An ICMP socket to `target.addr`: raw (the IPv4 header in front of what
/// it reads), or failing that an unprivileged ping socket (the kernel
/// sets the identifier). Connected, so it only reads from the target.
fn icmp_socket(target: &Target) -> io::Result<(Socket, bool)> {
    let proto = if target.addr.is_ipv6() {
        Protocol::ICMPV6
    } else {
        Protocol::ICMPV4
    };
    let (socket, raw) = match new_socket(target, Type::RAW, proto) {
        Ok(s) => (s, true),
        Err(_) => (new_socket(target, Type::DGRAM, proto)?, false),
    };
    // The port means nothing to ICMP; an IPv6 scope id stays.
    let mut peer = target.addr;
    peer.set_port(0);
    socket.connect(&SockAddr::from(peer))?;
    Ok((socket, raw))
}

pub(super) async fn ping(target: &Target) -> Result<(), String> {
    let (socket, raw) =
        icmp_socket(target).map_err(|e| format!("ICMP socket: {}", describe(&e)))?;
    // SAFETY: the `Socket` owns its descriptor, which stays open and the
    // same until the `AsyncFd` (which owns the socket) is dropped.
    let socket = unsafe { AsyncFd::register(socket) }
        .map_err(|e| format!("ICMP socket: {}", describe(&io::Error::from(e))))?;
    let v6 = target.addr.is_ipv6();
    let ident = fastrand::u16(..);
    let seq = fastrand::u16(..);
    let request = echo_request(v6, ident, seq);
    loop {
        let mut guard = socket
            .writable()
            .await
            .map_err(|e| format!("ICMP send: {}", describe(&e)))?;
        match guard.try_io(|s| {
            let mut sock: &Socket = s.get_ref();
            sock.write(&request)
        }) {
            Ok(Ok(_)) => break,
            Ok(Err(e)) => return Err(format!("ICMP send: {}", describe(&e))),
            Err(_would_block) => continue,
        }
    }
    let mut buf = vec![0u8; 4096];
    loop {
        let mut guard = socket
            .readable()
            .await
            .map_err(|e| format!("ICMP recv: {}", describe(&e)))?;
        let n = match guard.try_io(|s| {
            let mut sock: &Socket = s.get_ref();
            sock.read(&mut buf)
        }) {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(format!("ICMP recv: {}", describe(&e))),
            Err(_would_block) => continue,
        };
        if is_echo_reply(&buf[..n], v6, raw, ident, seq, target.addr.ip()) {
            return Ok(());
        }
    }
}

const PING_DATA: &[u8] = b"rvs health check";

/// An ICMP / ICMPv6 echo request; the ICMPv4 checksum filled in (the
/// kernel computes ICMPv6's).
fn echo_request(v6: bool, ident: u16, seq: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + PING_DATA.len());
    p.push(if v6 { 128 } else { 8 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PING_DATA);
    if !v6 {
        let sum = rvs_checksum::checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// Whether `packet` is the reply to our echo request: past the IPv4
/// header on a raw IPv4 socket (and from `peer`), an echo reply with our
/// sequence, and our identifier unless the kernel set it (ping socket).
fn is_echo_reply(packet: &[u8], v6: bool, raw: bool, ident: u16, seq: u16, peer: IpAddr) -> bool {
    let icmp = if raw && !v6 {
        let Some(&first) = packet.first() else {
            return false;
        };
        let ihl = usize::from(first & 0x0f) * 4;
        if ihl < 20 || packet.len() < ihl {
            return false;
        }
        if let IpAddr::V4(p) = peer {
            if packet[12..16] != p.octets() {
                return false;
            }
        }
        &packet[ihl..]
    } else {
        packet
    };
    if icmp.len() < 8 {
        return false;
    }
    let reply_type = if v6 { 129 } else { 0 };
    icmp[0] == reply_type
        && icmp[1] == 0
        && (!raw || icmp[4..6] == ident.to_be_bytes())
        && icmp[6..8] == seq.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckKind;
    use crate::health::machine::Verdict;
    use crate::health::probe::probe;
    use crate::health::probe::testing::*;
    use std::net::Ipv4Addr;

    #[tokio::test]
    async fn ping_loopback() {
        let t = target("127.0.0.1:0".parse().unwrap(), 1000);
        if let Err(e) = icmp_socket(&t) {
            println!("skipped: no ICMP socket: {e}");
            return;
        }
        assert_eq!(probe(&CheckKind::Ping, &t, None).await, Verdict::Up);
        let t6 = target("[::1]:0".parse().unwrap(), 1000);
        match icmp_socket(&t6) {
            Ok(_) => assert_eq!(probe(&CheckKind::Ping, &t6, None).await, Verdict::Up),
            Err(e) => println!("skipped ICMPv6: {e}"),
        }
    }

    #[test]
    fn icmp_packets() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(
            rvs_checksum::checksum(&p),
            0,
            "a packet with its checksum sums to zero"
        );
        let mut reply = vec![0x45u8; 20];
        reply[12..16].copy_from_slice(&[127, 0, 0, 1]);
        let mut icmp = p.clone();
        icmp[0] = 0;
        reply.extend_from_slice(&icmp);
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert!(is_echo_reply(&reply, false, true, 0x1234, 7, lo));
        assert!(!is_echo_reply(&reply, false, true, 0x1235, 7, lo));
        assert!(!is_echo_reply(&reply, false, true, 0x1234, 8, lo));
        assert!(!is_echo_reply(
            &reply,
            false,
            true,
            0x1234,
            7,
            "10.0.0.1".parse().unwrap()
        ));
        // A ping socket: no IP header, the kernel's identifier.
        assert!(is_echo_reply(&icmp, false, false, 0x9999, 7, lo));
        // Our own request, seen on a raw socket over loopback.
        assert!(!is_echo_reply(&p, false, false, 0x1234, 7, lo));
    }
}
