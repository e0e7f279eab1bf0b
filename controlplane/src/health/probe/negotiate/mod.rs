//! ldirectord's negotiate checks that keepalived has no checker for, as
//! ldirectord's `check_ftp`, `check_pop`, `check_imap`, `check_nntp`,
//! `check_sip`, `check_dns` and `check_http` (with `httpmethod=HEAD`) do
//! them, with plain sockets (and TLS for pops, imaps and https).
//!
//! Contract (each probe is bounded as a whole by [`Target::timeout`],
//! ldirectord's `negotiatetimeout`, and never panics):
//! - ftp: greeting 220; `USER`/`PASS` (`login`/`passwd`, ldirectord's
//!   defaults `anonymous` and `ldirectord@HOST`); then, when `request`
//!   names a file (not the bare `/`), `TYPE I`, passive mode (`PASV`,
//!   `EPSV` over IPv6; the data connection goes to the server's address)
//!   and `RETR request`, whose content must match `receive`;
//! - pop/pops: greeting `+OK`; with a `login`, `USER`/`PASS` must be
//!   `+OK`;
//! - imap/imaps: greeting `* OK` (or `* PREAUTH`); with a `login`, `LOGIN`
//!   must be `OK`;
//! - nntp: the first bytes the server sends start with `2`;
//! - sip: an `OPTIONS sip:LOGIN` request over the service's protocol; the
//!   first line of the answer must be `SIP/2.0 200 OK`;
//! - dns: a query for `request` (a PTR query when it is an address, else
//!   an A query) over the service's protocol; up when an A answer's address
//!   or a PTR answer's name matches `receive` (so, as in ldirectord, never
//!   with an empty `receive`);
//! - http/https HEAD: `HEAD request`, a 2xx status, and `receive` matched
//!   against the (empty) body.

#![forbid(unsafe_code)]

mod dns;
mod ftp;
mod mail;
mod sip;

use std::sync::Arc;

use regex::bytes::Regex;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{bounded, describe, tcp_connect, tls_config, truncate, Target};
use crate::config::model::{NegotiateCheck, NegotiateService};
use crate::config::Ssl;
use crate::health::machine::Verdict;

/// The longest line a negotiate probe reads.
const MAX_LINE: u64 = 8192;
/// The most of a file (ftp) or an answer a probe reads.
const MAX_CONTENT: u64 = 16 << 20;

/// Run one negotiate probe of `check` against `target`; `ssl` is the
/// global `SSL` block (pops, imaps, https).
pub async fn probe(check: &NegotiateCheck, target: &Target, ssl: Option<&Ssl>) -> Verdict {
    let receive = match compile(&check.receive) {
        Ok(r) => r,
        Err(e) => return Verdict::Down(e),
    };
    let receive = receive.as_ref();
    match check.service {
        NegotiateService::Ftp => bounded(target, ftp::check(check, receive, target)).await,
        NegotiateService::Pop => {
            bounded(target, async {
                let stream = tcp_connect(target).await?;
                mail::pop(check, stream).await
            })
            .await
        }
        NegotiateService::Pops => {
            bounded(target, async {
                let stream = tls_connect(target, ssl).await?;
                mail::pop(check, stream).await
            })
            .await
        }
        NegotiateService::Imap => {
            bounded(target, async {
                let stream = tcp_connect(target).await?;
                mail::imap(check, stream).await
            })
            .await
        }
        NegotiateService::Imaps => {
            bounded(target, async {
                let stream = tls_connect(target, ssl).await?;
                mail::imap(check, stream).await
            })
            .await
        }
        NegotiateService::Nntp => bounded(target, mail::nntp(target)).await,
        NegotiateService::Sip => bounded(target, sip::check(check, target)).await,
        NegotiateService::Dns => bounded(target, dns::check(check, receive, target)).await,
        NegotiateService::HttpHead => {
            bounded(target, async {
                let stream = tcp_connect(target).await?;
                head(check, receive, target, stream, false).await
            })
            .await
        }
        NegotiateService::HttpsHead => {
            bounded(target, async {
                let stream = tls_connect(target, ssl).await?;
                head(check, receive, target, stream, true).await
            })
            .await
        }
    }
}

/// `receive` as a regex; empty: none.
fn compile(receive: &str) -> Result<Option<Regex>, String> {
    if receive.is_empty() {
        return Ok(None);
    }
    Regex::new(receive)
        .map(Some)
        .map_err(|e| format!("receive '{receive}' is not a regex: {e}"))
}

/// A TLS session with the target (no certificate verification unless the
/// `SSL` block gives a CA, as for SSL_GET).
async fn tls_connect(
    target: &Target,
    ssl: Option<&Ssl>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let config = tls_config(ssl)?;
    let stream = tcp_connect(target).await?;
    let name = ServerName::IpAddress(target.addr.ip().into());
    tokio_rustls::TlsConnector::from(Arc::clone(&config))
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))
}

/// Read one line (without its CR LF); end of stream is an error.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, what: &str) -> Result<String, String> {
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("{what}: {}", describe(&e)))?;
    if n == 0 {
        return Err(format!("{what}: connection closed"));
    }
    let text = String::from_utf8_lossy(&line);
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// Send `line` and CR LF.
async fn send_line<W: AsyncWrite + Unpin>(writer: &mut W, line: &str) -> Result<(), String> {
    let verb = line.split(' ').next().unwrap_or(line);
    writer
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| format!("send {verb}: {}", describe(&e)))?;
    writer
        .flush()
        .await
        .map_err(|e| format!("send {verb}: {}", describe(&e)))
}

/// A line as a log shows it.
fn shown(line: &str) -> String {
    format!("{:?}", truncate(line, 80))
}

/// `HEAD request` (ldirectord's `httpmethod=HEAD`): a 2xx status, and
/// `receive` must match the body, which a HEAD answer does not have.
async fn head<S>(
    check: &NegotiateCheck,
    receive: Option<&Regex>,
    target: &Target,
    stream: S,
    tls: bool,
) -> Result<(), String>
where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    let host = match &check.virtualhost {
        Some(v) => v.clone(),
        None => {
            let ip = match target.addr.ip() {
                std::net::IpAddr::V4(ip) => ip.to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            };
            let default = if tls { 443 } else { 80 };
            if target.addr.port() == default {
                ip
            } else {
                format!("{ip}:{}", target.addr.port())
            }
        }
    };
    let path = if check.request.is_empty() {
        "/"
    } else {
        check.request.as_str()
    };
    let mut stream = tokio::io::BufReader::new(stream);
    stream
        .get_mut()
        .write_all(
            format!("HEAD {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .map_err(|e| format!("send HEAD: {}", describe(&e)))?;
    stream
        .get_mut()
        .flush()
        .await
        .map_err(|e| format!("send HEAD: {}", describe(&e)))?;
    let status_line = read_line(&mut stream, "HTTP status").await?;
    let status = status_line
        .strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("HEAD {path}: bad status line {}", shown(&status_line)))?;
    if !(200..300).contains(&status) {
        return Err(format!("HEAD {path}: HTTP status {status} not in 200-299"));
    }
    if let Some(re) = receive {
        if !re.is_match(b"") {
            return Err(format!(
                "HEAD {path}: the answer has no body to match receive '{}'",
                re.as_str()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
