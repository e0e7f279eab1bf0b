//! DNS as ldirectord checks it: ask for `request` (PTR for an address, A
//! otherwise) and compare the answers with `receive`.

use std::net::IpAddr;

use regex::bytes::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::model::NegotiateCheck;
use crate::health::probe::{describe, tcp_connect, udp_connect, udp_recv_error, Target};

const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;

pub(super) async fn check(
    check: &NegotiateCheck,
    receive: Option<&Regex>,
    target: &Target,
) -> Result<(), String> {
    let name = check.request.trim_start_matches('/');
    let (qname, qtype) = match name.parse::<IpAddr>() {
        Ok(ip) => (reverse_name(ip), TYPE_PTR),
        Err(_) => (name.to_string(), TYPE_A),
    };
    let id = fastrand::u16(..);
    let query = query(id, &qname, qtype)?;
    let reply = if check.udp {
        let socket = udp_connect(target)?;
        socket
            .send(&query)
            .await
            .map_err(|e| format!("send: {}", describe(&e)))?;
        let mut buf = vec![0u8; 65_536];
        loop {
            let n = socket
                .recv(&mut buf)
                .await
                .map_err(|e| udp_recv_error(&e))?;
            if n >= 12 && buf[..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 {
                break buf[..n].to_vec();
            }
        }
    } else {
        let mut stream = tcp_connect(target).await?;
        let mut framed = u16::try_from(query.len())
            .map_err(|_| "DNS query too long".to_string())?
            .to_be_bytes()
            .to_vec();
        framed.extend_from_slice(&query);
        stream
            .write_all(&framed)
            .await
            .map_err(|e| format!("send: {}", describe(&e)))?;
        let mut len = [0u8; 2];
        stream
            .read_exact(&mut len)
            .await
            .map_err(|e| format!("DNS answer: {}", describe(&e)))?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| format!("DNS answer: {}", describe(&e)))?;
        buf
    };
    let answers = answers(&reply, id)?;
    let Some(re) = receive else {
        return Err(format!(
            "DNS {qname}: no receive to compare the {} answers with",
            answers.len()
        ));
    };
    if answers.iter().any(|a| re.is_match(a.as_bytes())) {
        Ok(())
    } else {
        Err(format!(
            "DNS {qname}: no answer matches receive '{}' (answers: {})",
            re.as_str(),
            if answers.is_empty() {
                "none".to_string()
            } else {
                answers.join(" ")
            }
        ))
    }
}

/// `in-addr.arpa` / `ip6.arpa` name of `ip`.
fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut out = String::new();
            for b in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            out.push_str("ip6.arpa");
            out
        }
    }
}

/// A recursive query for `name` of `qtype`, class IN.
fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|&l| l <= 63)
            .ok_or_else(|| format!("DNS name '{name}': label '{label}' too long"))?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    Ok(q)
}

/// The A addresses and PTR names of reply `msg` to query `id`.
fn answers(msg: &[u8], id: u16) -> Result<Vec<String>, String> {
    let bad = || "DNS answer: malformed".to_string();
    if msg.len() < 12 || msg[..2] != id.to_be_bytes() {
        return Err(bad());
    }
    let rcode = msg[3] & 0x0f;
    if rcode != 0 {
        return Err(format!("DNS rcode {rcode}"));
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(msg, at).ok_or_else(bad)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        at = skip_name(msg, at).ok_or_else(bad)?;
        let fixed = msg.get(at..at + 10).ok_or_else(bad)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let data_at = at + 10;
        let data = msg.get(data_at..data_at + len).ok_or_else(bad)?;
        match rtype {
            TYPE_A if len == 4 => {
                out.push(std::net::Ipv4Addr::new(data[0], data[1], data[2], data[3]).to_string())
            }
            TYPE_PTR => out.push(read_name(msg, data_at).ok_or_else(bad)?),
            _ => {}
        }
        at = data_at + len;
    }
    Ok(out)
}

/// Where the name at `at` ends.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => {
                msg.get(at + 1)?;
                return Some(at + 2);
            }
            l => at += 1 + usize::from(l),
        }
    }
}

/// The name at `at`, compression pointers followed (a bounded number).
fn read_name(msg: &[u8], mut at: usize) -> Option<String> {
    let mut labels = Vec::new();
    for _ in 0..128 {
        let len = *msg.get(at)?;
        if len == 0 {
            return Some(labels.join("."));
        }
        if len & 0xc0 == 0xc0 {
            at = (usize::from(len & 0x3f) << 8) | usize::from(*msg.get(at + 1)?);
            continue;
        }
        let label = msg.get(at + 1..at + 1 + usize::from(len))?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        at += 1 + usize::from(len);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.10".parse().unwrap()),
            "10.2.0.192.in-addr.arpa"
        );
        assert!(reverse_name("2001:db8::1".parse().unwrap()).starts_with(
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        ));
    }

    #[test]
    fn malformed_answers_are_errors_not_panics() {
        let q = query(7, "example.org", TYPE_A).unwrap();
        assert_eq!(answers(&q[..5], 7), Err("DNS answer: malformed".into()));
        let mut r = q.clone();
        r[2] |= 0x80;
        r[7] = 3; // three answers promised, none there
        assert!(answers(&r, 7).is_err());
        // A pointer loop in a PTR answer.
        assert_eq!(read_name(&[0xc0, 0x00], 0), None);
    }
}
