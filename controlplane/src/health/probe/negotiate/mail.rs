//! POP3, IMAP and NNTP: a greeting, and a login when one is configured.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, BufReader};

use super::{read_line, send_line, shown};
use crate::config::model::NegotiateCheck;
use crate::health::probe::{describe, tcp_connect, Target};

/// POP3: greeting `+OK`; with a login, `USER` and `PASS` answered `+OK`.
pub(super) async fn pop<S>(check: &NegotiateCheck, stream: S) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut s = BufReader::new(stream);
    expect_ok(&read_line(&mut s, "POP3 greeting").await?, "greeting")?;
    if let Some(login) = check.login.as_deref().filter(|l| !l.is_empty()) {
        send_line(s.get_mut(), &format!("USER {login}")).await?;
        expect_ok(&read_line(&mut s, "POP3 USER").await?, "USER")?;
        let passwd = check.passwd.as_deref().unwrap_or("");
        send_line(s.get_mut(), &format!("PASS {passwd}")).await?;
        expect_ok(&read_line(&mut s, "POP3 PASS").await?, "PASS")?;
    }
    let _ = send_line(s.get_mut(), "QUIT").await;
    Ok(())
}

fn expect_ok(line: &str, what: &str) -> Result<(), String> {
    if line.starts_with("+OK") {
        Ok(())
    } else {
        Err(format!("POP3 {what}: got {}, want +OK", shown(line)))
    }
}

/// IMAP: greeting `* OK` or `* PREAUTH`; with a login, `LOGIN` answered
/// `OK`.
pub(super) async fn imap<S>(check: &NegotiateCheck, stream: S) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut s = BufReader::new(stream);
    let greeting = read_line(&mut s, "IMAP greeting").await?;
    let status = greeting
        .strip_prefix("* ")
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_ascii_uppercase);
    if !matches!(status.as_deref(), Some("OK" | "PREAUTH")) {
        return Err(format!(
            "IMAP greeting: got {}, want * OK",
            shown(&greeting)
        ));
    }
    if let Some(login) = check.login.as_deref().filter(|l| !l.is_empty()) {
        let passwd = check.passwd.as_deref().unwrap_or("");
        send_line(
            s.get_mut(),
            &format!("a1 LOGIN {} {}", quoted(login), quoted(passwd)),
        )
        .await?;
        // Untagged lines (capabilities ...) may come first.
        loop {
            let line = read_line(&mut s, "IMAP LOGIN").await?;
            let Some(rest) = line.strip_prefix("a1 ") else {
                continue;
            };
            if !rest.to_ascii_uppercase().starts_with("OK") {
                return Err(format!("IMAP LOGIN: got {}, want OK", shown(&line)));
            }
            break;
        }
    }
    let _ = send_line(s.get_mut(), "a2 LOGOUT").await;
    Ok(())
}

/// An IMAP quoted string.
fn quoted(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// NNTP: the first bytes of the greeting start with `2` (200, 201).
pub(super) async fn nntp(target: &Target) -> Result<(), String> {
    let mut stream = tcp_connect(target).await?;
    let mut buf = [0u8; 64];
    let n = stream
        .read(&mut buf)
        .await
        .map_err(|e| format!("NNTP greeting: {}", describe(&e)))?;
    if n == 0 {
        return Err("NNTP greeting: connection closed".to_string());
    }
    if buf[0] != b'2' {
        let text = String::from_utf8_lossy(&buf[..n]);
        return Err(format!(
            "NNTP greeting: got {}, want 2xx",
            shown(text.trim_end())
        ));
    }
    Ok(())
}
