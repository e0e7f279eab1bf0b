//! DNS_CHECK (keepalived's `check_dns.c`): one query over UDP, up on a
//! reply with the query's id and RCODE 0.

#![forbid(unsafe_code)]

use crate::config::{DnsCheck, DnsType};

use super::{describe, udp_connect, udp_recv_error, Target};

/// keepalived's rule: up on a reply with the query's id, QR set and RCODE 0
/// (answers are not counted); replies with another id, and queries, are
/// skipped.
pub(super) async fn dns(check: &DnsCheck, target: &Target) -> Result<(), String> {
    let socket = udp_connect(target)?;
    let id = fastrand::u16(..);
    let query = dns_query(id, &check.name, check.query_type)?;
    socket
        .send(&query)
        .await
        .map_err(|e| format!("send: {}", describe(&e)))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| udp_recv_error(&e))?;
        let reply = &buf[..n];
        if reply.len() < 12 || reply[..2] != id.to_be_bytes() {
            continue;
        }
        let flags = u16::from_be_bytes([reply[2], reply[3]]);
        if flags & 0x8000 == 0 {
            continue;
        }
        let rcode = flags & 0x000f;
        if rcode != 0 {
            return Err(format!("DNS rcode {rcode} ({})", rcode_name(rcode)));
        }
        return Ok(());
    }
}

fn rcode_name(rcode: u16) -> &'static str {
    match rcode {
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "error",
    }
}

fn dns_type_code(t: DnsType) -> u16 {
    match t {
        DnsType::A => 1,
        DnsType::Ns => 2,
        DnsType::Cname => 5,
        DnsType::Soa => 6,
        DnsType::Mx => 15,
        DnsType::Txt => 16,
        DnsType::Aaaa => 28,
    }
}

/// A standard query: id, RD, one question `name` `qtype` IN.
fn dns_query(id: u16, name: &str, qtype: DnsType) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    q.extend_from_slice(&[0; 6]); // AN, NS, AR
    let start = q.len();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| *l <= 63)
            .ok_or_else(|| format!("DNS name {name}: label longer than 63"))?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    if q.len() - start > 255 {
        return Err(format!("DNS name {name}: longer than 255"));
    }
    q.extend_from_slice(&dns_type_code(qtype).to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckKind;
    use crate::health::machine::Verdict;
    use crate::health::probe::probe;
    use crate::health::probe::testing::*;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use tokio::net::UdpSocket;

    /// A DNS server answering every query with `rcode` and `ancount`.
    async fn dns_server(
        rcode: u8,
        ancount: u16,
    ) -> (SocketAddr, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let q = buf[..n].to_vec();
                log.lock().unwrap().push(q.clone());
                // First a reply with another id, which must be skipped.
                let mut other = q.clone();
                other[0] ^= 0xff;
                other[2] |= 0x80;
                other[3] = (other[3] & 0xf0) | 2;
                let _ = socket.send_to(&other, from).await;
                let mut r = q;
                r[2] |= 0x80; // QR
                r[3] = (r[3] & 0xf0) | rcode;
                r[6..8].copy_from_slice(&ancount.to_be_bytes());
                let _ = socket.send_to(&r, from).await;
            }
        });
        (addr, seen)
    }

    #[tokio::test]
    async fn dns_checks() {
        let check = CheckKind::Dns(DnsCheck {
            query_type: DnsType::A,
            name: "www.example.com".to_string(),
        });
        let (addr, seen) = dns_server(0, 1).await;
        assert_eq!(probe(&check, &target(addr, 1000), None).await, Verdict::Up);
        let q = seen.lock().unwrap()[0].clone();
        assert_eq!(&q[2..6], &[0x01, 0x00, 0, 1]);
        assert_eq!(&q[12..], b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");

        let (addr, _) = dns_server(3, 0).await;
        let v = probe(&check, &target(addr, 1000), None).await;
        assert_eq!(v, Verdict::Down("DNS rcode 3 (NXDOMAIN)".to_string()));
        // keepalived does not count answers: RCODE 0 with none is up.
        let (addr, _) = dns_server(0, 0).await;
        assert_eq!(probe(&check, &target(addr, 1000), None).await, Verdict::Up);
        // Nobody there.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let v = probe(&check, &target(closed, 1000), None).await;
        assert!(down_with(&v, "connection refused"), "{v:?}");
    }

    #[test]
    fn dns_names() {
        let q = dns_query(0x1234, ".", DnsType::Soa).unwrap();
        assert_eq!(
            q,
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x06\x00\x01"
        );
        let q = dns_query(1, "example.com.", DnsType::Aaaa).unwrap();
        assert_eq!(&q[12..], b"\x07example\x03com\x00\x00\x1c\x00\x01");
        assert!(dns_query(1, &"a".repeat(64), DnsType::A).is_err());
    }
}
