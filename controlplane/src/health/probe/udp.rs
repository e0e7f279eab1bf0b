//! UDP_CHECK (keepalived's `check_udp.c`): a payload, and either no error
//! until the timeout or a reply matching `require_reply`.

#![forbid(unsafe_code)]

use crate::config::UdpCheck;

use crate::health::machine::Verdict;

use super::{describe, timed_out, udp_connect, udp_recv_error, Target, HEX};

/// A `require_reply` pattern: per byte, the value and the bits that must
/// match (an `x` nibble matches anything).
#[derive(Debug, PartialEq, Eq)]
struct Pattern(Vec<(u8, u8)>);

pub(super) async fn udp(check: &UdpCheck, target: &Target) -> Verdict {
    let payload = match check.payload.as_deref().map(hex_decode).transpose() {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => return Verdict::Down(format!("payload: {e}")),
    };
    let pattern = match check
        .require_reply
        .as_deref()
        .map(parse_pattern)
        .transpose()
    {
        Ok(p) => p,
        Err(e) => return Verdict::Down(format!("require_reply: {e}")),
    };
    let work = udp_exchange(check, target, &payload, pattern.as_ref());
    match tokio::time::timeout(target.timeout, work).await {
        Ok(r) => r.into(),
        // No reply and no error: up unless a reply is required.
        Err(_) if pattern.is_none() => Verdict::Up,
        Err(_) => Verdict::Down(format!("no reply: {}", timed_out(target.timeout))),
    }
}

async fn udp_exchange(
    check: &UdpCheck,
    target: &Target,
    payload: &[u8],
    pattern: Option<&Pattern>,
) -> Result<(), String> {
    let socket = udp_connect(target)?;
    socket
        .send(payload)
        .await
        .map_err(|e| format!("send: {}", describe(&e)))?;
    let mut buf = vec![0u8; 65536];
    let n = socket
        .recv(&mut buf)
        .await
        .map_err(|e| udp_recv_error(&e))?;
    match pattern {
        Some(p) => check_reply(&buf[..n], p, check),
        None => Ok(()),
    }
}

/// keepalived's `check_udp_reply`: the length within
/// min_reply_length..=max_reply_length, and the first bytes (as many as
/// both the reply and the pattern have) matching the pattern.
fn check_reply(reply: &[u8], pattern: &Pattern, check: &UdpCheck) -> Result<(), String> {
    let len = reply.len();
    let (min, max) = (
        check.min_reply_length as usize,
        check.max_reply_length as usize,
    );
    if len < min || len > max {
        return Err(format!("reply of {len} bytes not within {min}-{max}"));
    }
    for (i, (&got, &(want, mask))) in reply.iter().zip(&pattern.0).enumerate() {
        if (got ^ want) & mask != 0 {
            return Err(format!(
                "reply mismatch at byte {i}: got {got:02x}, want {}",
                pattern_byte(want, mask)
            ));
        }
    }
    Ok(())
}

fn pattern_byte(value: u8, mask: u8) -> String {
    let nibble = |v: u8, m: u8| {
        if m == 0 {
            'x'
        } else {
            char::from(HEX[usize::from(v)])
        }
    };
    let mut s = String::with_capacity(2);
    s.push(nibble(value >> 4, mask >> 4));
    s.push(nibble(value & 15, mask & 15));
    s
}

fn hex_nibble(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Hex digits (whitespace ignored) as bytes.
fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    Ok(parse_pattern_inner(text, false)?
        .into_iter()
        .map(|(v, _)| v)
        .collect())
}

/// `require_reply`'s hex digits with `x`/`X` wildcards.
fn parse_pattern(text: &str) -> Result<Pattern, String> {
    parse_pattern_inner(text, true).map(Pattern)
}

fn parse_pattern_inner(text: &str, wild: bool) -> Result<Vec<(u8, u8)>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("{text:?}: an odd number of hex digits"));
    }
    let nibble = |c: u8| match c {
        b'x' | b'X' if wild => Some((0, 0)),
        _ => hex_nibble(c).map(|v| (v, 15)),
    };
    digits
        .chunks(2)
        .map(|pair| match (nibble(pair[0]), nibble(pair[1])) {
            (Some((hv, hm)), Some((lv, lm))) => Ok((hv << 4 | lv, hm << 4 | lm)),
            _ => Err(format!("{text:?}: not hex digits")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckKind;
    use crate::health::machine::Verdict;
    use crate::health::probe::probe;
    use crate::health::probe::testing::*;
    use std::net::SocketAddr;
    use tokio::net::UdpSocket;

    fn udp_check(payload: Option<&str>, reply: Option<&str>) -> CheckKind {
        CheckKind::Udp(UdpCheck {
            payload: payload.map(str::to_string),
            require_reply: reply.map(str::to_string),
            min_reply_length: 0,
            max_reply_length: 255,
        })
    }

    /// A UDP socket that echoes every datagram.
    async fn udp_echo() -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let _ = socket.send_to(&buf[..n], from).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn udp_checks() {
        let addr = udp_echo().await;
        let t = target(addr, 500);
        let v = probe(&udp_check(Some("deadbeef01"), Some("dexxBEEF")), &t, None).await;
        assert_eq!(v, Verdict::Up);
        let v = probe(&udp_check(Some("deadbeef01"), Some("deadbeee")), &t, None).await;
        assert!(down_with(&v, "reply mismatch at byte 3"), "{v:?}");
        // Any reply, empty payload: an empty datagram echoed.
        assert_eq!(
            probe(&udp_check(None, Some("")), &t, None).await,
            Verdict::Up
        );
        // Length bounds.
        let CheckKind::Udp(mut u) = udp_check(Some("00112233"), Some("")) else {
            unreachable!()
        };
        u.max_reply_length = 3;
        let v = probe(&CheckKind::Udp(u), &t, None).await;
        assert!(down_with(&v, "not within 0-3"), "{v:?}");
        // No reply required: up on a reply.
        assert_eq!(
            probe(&udp_check(Some("00"), None), &t, None).await,
            Verdict::Up
        );

        // A closed port: ICMP port unreachable on loopback. A port freed
        // here can be taken again by a test running beside this one, and
        // the kernel rate-limits the ICMP errors it sends (loopback too);
        // either way the probe hears nothing and says up (a CI run saw it
        // once). So a fresh closed port and a pause between tries, three
        // at most; each must be refused or silent, never anything else.
        let mut v = Verdict::Up;
        for _ in 0..3 {
            let closed = {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                s.local_addr().unwrap()
            };
            v = probe(&udp_check(Some("00"), None), &target(closed, 1000), None).await;
            if v != Verdict::Up {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(down_with(&v, "connection refused"), "{v:?}");

        // Silence: up without require_reply, down with it.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let st = target(silent.local_addr().unwrap(), 200);
        assert_eq!(
            probe(&udp_check(Some("00"), None), &st, None).await,
            Verdict::Up
        );
        let v = probe(&udp_check(Some("00"), Some("00")), &st, None).await;
        assert_eq!(v, Verdict::Down("no reply: timeout after 0.2s".to_string()));
    }

    #[test]
    fn hex_patterns() {
        assert_eq!(hex_decode("00ff 1A").unwrap(), vec![0, 255, 0x1a]);
        assert!(hex_decode("0").is_err());
        assert!(hex_decode("0x").is_err());
        assert_eq!(
            parse_pattern("AxX1").unwrap(),
            Pattern(vec![(0xa0, 0xf0), (0x01, 0x0f)])
        );
        assert_eq!(pattern_byte(0xa0, 0xf0), "ax");
    }
}
