//! SMTP_CHECK (keepalived's `check_smtp.c`): the greeting, then HELO.

#![forbid(unsafe_code)]

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::config::SmtpCheck;

use super::{describe, hostname, tcp_connect, truncate, Target};

pub(super) async fn smtp(check: &SmtpCheck, target: &Target) -> Result<(), String> {
    let stream = tcp_connect(target).await?;
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    expect_reply(&mut reader, 220, "greeting").await?;
    let helo = match &check.helo_name {
        Some(h) => h.clone(),
        None => hostname(),
    };
    writer
        .write_all(format!("HELO {helo}\r\n").as_bytes())
        .await
        .map_err(|e| format!("send HELO: {}", describe(&e)))?;
    expect_reply(&mut reader, 250, "HELO").await?;
    writer
        .write_all(b"QUIT\r\n")
        .await
        .map_err(|e| format!("send QUIT: {}", describe(&e)))?;
    let _ = writer.shutdown().await;
    Ok(())
}

/// Read one (possibly multi-line) SMTP reply and require code `want`.
async fn expect_reply<R>(reader: &mut R, want: u16, what: &str) -> Result<(), String>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    for _ in 0..100 {
        let mut line = String::new();
        let n = (&mut *reader)
            .take(4096)
            .read_line(&mut line)
            .await
            .map_err(|e| format!("SMTP {what}: {}", describe(&e)))?;
        if n == 0 {
            return Err(format!("SMTP {what}: connection closed"));
        }
        let code = line
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok());
        let Some(code) = code else {
            return Err(format!(
                "SMTP {what}: bad reply {:?}",
                truncate(line.trim_end(), 80)
            ));
        };
        if line.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        if code != want {
            return Err(format!(
                "SMTP {what}: got {:?}, want {want}",
                truncate(line.trim_end(), 80)
            ));
        }
        return Ok(());
    }
    Err(format!("SMTP {what}: reply too long"))
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
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// Answers `220`, then `250` to HELO, remembering what it was sent.
    async fn smtp_server(greeting: &'static str) -> (SocketAddr, Arc<std::sync::Mutex<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(String::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let (r, mut w) = conn.into_split();
                    let mut r = BufReader::new(r);
                    let _ = w.write_all(greeting.as_bytes()).await;
                    let mut line = String::new();
                    while r.read_line(&mut line).await.is_ok_and(|n| n > 0) {
                        log.lock().unwrap().push_str(&line);
                        let answer: &[u8] = if line.starts_with("HELO") {
                            b"250-mx.example\r\n250 SIZE 1000\r\n"
                        } else {
                            b"221 bye\r\n"
                        };
                        let _ = w.write_all(answer).await;
                        line.clear();
                    }
                });
            }
        });
        (addr, seen)
    }

    #[tokio::test]
    async fn smtp_checks() {
        let check = CheckKind::Smtp(SmtpCheck {
            helo_name: Some("checker.example".to_string()),
        });
        let (addr, seen) = smtp_server("220-mx.example ESMTP\r\n220 ready\r\n").await;
        assert_eq!(probe(&check, &target(addr, 1000), None).await, Verdict::Up);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(seen.lock().unwrap().starts_with("HELO checker.example\r\n"));
        let (addr, _) = smtp_server("554 go away\r\n").await;
        let v = probe(&check, &target(addr, 1000), None).await;
        assert!(down_with(&v, "SMTP greeting: got \"554 go away\""), "{v:?}");
        assert!(!hostname().is_empty());
    }
}
