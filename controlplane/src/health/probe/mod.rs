//! The I/O of one health-check probe, as keepalived's checkers do it
//! (`check_tcp.c`, `check_http.c`, `check_misc.c`, `check_ping.c`,
//! `check_udp.c`, `check_dns.c`, `check_smtp.c`), async on tokio.
//!
//! This file holds [`Target`], the [`probe`] dispatch, [`genhash`] and the
//! socket helpers every checker shares (source address, device and mark
//! set before connecting); each checker has a file of its own: `tcp`,
//! `http` (HTTP_GET/SSL_GET: request, response parser, digest) with
//! `tls` (SSL_GET's client), `misc`, `smtp`, `dns`, `udp`, `ping`; and
//! [`negotiate`], ldirectord's negotiate checks.
//!
//! Contract:
//! - [`probe`] runs one probe and returns a [`Verdict`]; it never panics,
//!   and every failure (I/O error, bad answer, timeout) is a
//!   [`Verdict::Down`] whose reason a log line can show as is;
//! - a network checker's socket gets `bindto`/`bind_port`, `bind_if`
//!   (`SO_BINDTODEVICE`) and `fwmark` (`SO_MARK`) before it connects, and the
//!   whole probe (connect and exchange) is bounded by
//!   [`Target::timeout`]: "timeout after Xs" (`HTTP_GET`/`SSL_GET`: each
//!   URL's request, as keepalived times each);
//! - an HTTP URL without `status_code` wants 200-299, whatever else it
//!   checks (keepalived's `url_check`);
//! - `UDP_CHECK` without `require_reply` is up when the timeout passes with
//!   no error (keepalived: only an ICMP port unreachable is a failure);
//! - `MISC_CHECK` runs its command through `/bin/sh -c` in a process group of
//!   its own, bounded by `misc_timeout`; a script still running then is
//!   killed with its group and reaped;
//! - `SSL_GET` does not verify the server's certificate unless the `SSL`
//!   block gives a `ca` (keepalived does not either);
//! - [`genhash`] is keepalived's `genhash`: the status and the MD5 of a
//!   page's body, computed exactly as `HTTP_GET` computes its digest.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use crate::config::{CheckKind, HttpProtocol, Ssl};

use super::machine::Verdict;

mod dns;
mod http;
mod misc;
pub mod negotiate;
mod ping;
mod smtp;
mod tcp;
mod tls;
mod udp;

pub use http::md5_hex;
pub(crate) use misc::misc;
pub use tls::tls_config;

/// Where and how one probe connects.
#[derive(Clone, Debug)]
pub struct Target {
    /// connect_ip:connect_port, already resolved by the caller.
    pub addr: SocketAddr,
    /// `bindto` / `bind_port`: the source address (port 0 = any).
    pub bind: Option<SocketAddr>,
    /// `bind_if`: SO_BINDTODEVICE.
    pub bind_if: Option<String>,
    /// `fwmark`: SO_MARK on the probe's socket.
    pub fwmark: Option<u32>,
    /// connect_timeout: bounds the whole probe (connect + exchange) for
    /// network checkers.
    pub timeout: Duration,
}

/// The most of a response body an HTTP check reads; more is a failure.
pub const MAX_BODY: usize = 16 << 20;
/// The most of a response's status line and headers.
const MAX_HEAD: usize = 64 << 10;

/// Run one probe of checker kind `kind` against `target`. Never panics;
/// every failure (including I/O errors and the timeout) is a
/// [`Verdict::Down`] with a reason. MISC_CHECK ignores `target`: its
/// timeout is `misc_timeout`. `ssl` is the global `SSL` block (CA, client
/// certificate and key for SSL_GET; `None`: no verification, no client
/// certificate).
pub async fn probe(kind: &CheckKind, target: &Target, ssl: Option<&Ssl>) -> Verdict {
    match kind {
        CheckKind::Misc(m) => misc(m).await,
        CheckKind::Udp(u) => udp::udp(u, target).await,
        // Each URL has the whole timeout, as keepalived times each request.
        CheckKind::Http(h) => http::http(h, target, None).await.into(),
        CheckKind::Ssl(h) => match tls_config(ssl) {
            Ok(config) => http::http(h, target, Some(config)).await.into(),
            Err(e) => Verdict::Down(e),
        },
        CheckKind::Tcp => bounded(target, tcp::tcp(target)).await,
        CheckKind::Smtp(c) => bounded(target, smtp::smtp(c, target)).await,
        CheckKind::Dns(d) => bounded(target, dns::dns(d, target)).await,
        CheckKind::Ping => bounded(target, ping::ping(target)).await,
        CheckKind::Negotiate(n) => negotiate::probe(n, target, ssl).await,
    }
}

/// A probe the connect timeout bounds as a whole.
pub(super) async fn bounded(
    target: &Target,
    work: impl std::future::Future<Output = Result<(), String>>,
) -> Verdict {
    match tokio::time::timeout(target.timeout, work).await {
        Ok(r) => r.into(),
        Err(_) => Verdict::Down(timed_out(target.timeout)),
    }
}

/// What `rvs-controlplane genhash` prints (keepalived's genhash): GET
/// `path` from `addr` (TLS when `tls`, no certificate verification), with
/// Host `vhost` (default: the address), and return the status code and the
/// MD5 hex digest of the body.
pub async fn genhash(
    addr: SocketAddr,
    path: &str,
    vhost: Option<&str>,
    tls: bool,
    protocol: HttpProtocol,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let target = Target {
        addr,
        bind: None,
        bind_if: None,
        fwmark: None,
        timeout,
    };
    let tls = if tls {
        Some(http::TlsParams {
            config: tls_config(None)?,
            sni: vhost.is_some(),
            name: vhost.map(str::to_string),
            compliant: false,
        })
    } else {
        None
    };
    let host = http::host_header(vhost, addr, tls.is_some());
    let request = http::http_request(path, &host, protocol);
    let work = http::fetch(&target, &request, tls.as_ref());
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(resp)) => Ok((resp.status, md5_hex(&resp.body))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(timed_out(timeout)),
    }
}

/// `d` as a log shows it: `3s`, `0.3s`.
fn secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        let s = format!("{:.3}", d.as_secs_f64());
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s}s")
    }
}

pub(super) fn timed_out(d: Duration) -> String {
    format!("timeout after {}", secs(d))
}

/// An I/O error as a reason: the common ones in words, others as the OS
/// says them.
pub(super) fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        io::ErrorKind::TimedOut => "timed out".to_string(),
        _ => e.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Sockets

/// A non-blocking socket for `target` with its source address, device and
/// mark set, not yet connected.
fn new_socket(target: &Target, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(target.addr), ty, Some(proto))?;
    socket.set_nonblocking(true)?;
    if let Some(dev) = &target.bind_if {
        socket.bind_device(Some(dev.as_bytes()))?;
    }
    if let Some(mark) = target.fwmark {
        socket.set_mark(mark)?;
    }
    if let Some(bind) = target.bind {
        if bind.port() != 0 {
            // A fixed source port: the previous probe's TIME_WAIT must not
            // make this one fail.
            socket.set_reuse_address(true)?;
        }
        socket.bind(&SockAddr::from(bind))?;
    }
    Ok(socket)
}

/// A TCP connection to `target.addr` (the caller bounds the time).
pub(super) async fn tcp_connect(target: &Target) -> Result<TcpStream, String> {
    let socket = new_socket(target, Type::STREAM, Protocol::TCP)
        .map_err(|e| format!("socket: {}", describe(&e)))?;
    let socket = TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
    socket.connect(target.addr).await.map_err(|e| describe(&e))
}

/// A UDP socket connected to `target.addr`.
pub(super) fn udp_connect(target: &Target) -> Result<UdpSocket, String> {
    let socket = new_socket(target, Type::DGRAM, Protocol::UDP)
        .map_err(|e| format!("socket: {}", describe(&e)))?;
    socket
        .connect(&SockAddr::from(target.addr))
        .map_err(|e| format!("connect: {}", describe(&e)))?;
    UdpSocket::from_std(std::net::UdpSocket::from(socket))
        .map_err(|e| format!("socket: {}", describe(&e)))
}

/// A receive error on a connected UDP socket as a reason.
pub(super) fn udp_recv_error(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        "connection refused (ICMP port unreachable)".to_string()
    } else {
        format!("recv: {}", describe(e))
    }
}

/// Lower-case hex digits.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// At most `max` characters of `s`, for a reason that quotes a peer.
pub(super) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The host name, for HELO.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod testing {
    //! What the checkers' tests share.
    use super::*;
    use crate::config::{HttpCheck, Url};

    pub(super) fn target(addr: SocketAddr, timeout_ms: u64) -> Target {
        Target {
            addr,
            bind: None,
            bind_if: None,
            fwmark: None,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    pub(super) fn url(path: &str) -> Url {
        Url {
            path: path.to_string(),
            ..Url::default()
        }
    }

    pub(super) fn http_check(urls: Vec<Url>, protocol: HttpProtocol) -> CheckKind {
        CheckKind::Http(HttpCheck {
            urls,
            http_protocol: protocol,
            virtualhost: None,
            fast_recovery: false,
            enable_sni: false,
            sni_name: None,
            tls_compliant: false,
        })
    }

    pub(super) fn down_with(v: &Verdict, needle: &str) -> bool {
        matches!(v, Verdict::Down(r) if r.contains(needle))
    }

    /// A port nothing listens on.
    pub(super) fn closed_port() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    pub(super) fn response(status: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!("HTTP/1.0 {status}\r\nContent-Type: text/plain\r\n\r\n").into_bytes();
        r.extend_from_slice(body);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(secs(Duration::from_secs(3)), "3s");
        assert_eq!(secs(Duration::from_millis(300)), "0.3s");
        assert_eq!(secs(Duration::from_millis(1250)), "1.25s");
    }
}
