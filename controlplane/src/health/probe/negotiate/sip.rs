//! SIP: an `OPTIONS` request; the answer must be `SIP/2.0 200 OK`.

use tokio::io::{AsyncWriteExt, BufReader};

use super::{read_line, shown};
use crate::config::model::NegotiateCheck;
use crate::health::probe::{describe, hostname, tcp_connect, udp_connect, udp_recv_error, Target};

pub(super) async fn check(check: &NegotiateCheck, target: &Target) -> Result<(), String> {
    let login = match check.login.as_deref().filter(|l| !l.is_empty()) {
        Some(l) => l.to_string(),
        None => format!("ldirectord@{}", hostname()),
    };
    let first = if check.udp {
        let socket = udp_connect(target)?;
        let local = socket
            .local_addr()
            .map_err(|e| format!("SIP: {}", describe(&e)))?;
        let request = options(&login, "UDP", local);
        socket
            .send(request.as_bytes())
            .await
            .map_err(|e| format!("send OPTIONS: {}", describe(&e)))?;
        let mut buf = vec![0u8; 65_536];
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| udp_recv_error(&e))?;
        let text = String::from_utf8_lossy(&buf[..n]);
        text.lines()
            .next()
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_string()
    } else {
        let mut stream = tcp_connect(target).await?;
        let local = stream
            .local_addr()
            .map_err(|e| format!("SIP: {}", describe(&e)))?;
        let request = options(&login, "TCP", local);
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send OPTIONS: {}", describe(&e)))?;
        read_line(&mut BufReader::new(stream), "SIP answer").await?
    };
    if first.starts_with("SIP/2.0 200 OK") {
        Ok(())
    } else {
        Err(format!(
            "SIP OPTIONS: got {}, want SIP/2.0 200 OK",
            shown(&first)
        ))
    }
}

/// The request ldirectord sends, from `local` over `transport`.
fn options(login: &str, transport: &str, local: std::net::SocketAddr) -> String {
    let call_id: String = (0..8)
        .map(|_| format!("{:02x}", fastrand::u8(..)))
        .collect();
    let branch: u32 = fastrand::u32(..);
    let tag: u32 = fastrand::u32(..);
    format!(
        "OPTIONS sip:{login} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK{branch:08x}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:{login}>\r\n\
         From: <sip:{login}>;tag={tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 63104 OPTIONS\r\n\
         Contact: <sip:{login}>\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n"
    )
}
