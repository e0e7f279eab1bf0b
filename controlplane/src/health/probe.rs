//! The I/O of one health-check probe, as keepalived's checkers do it
//! (`check_tcp.c`, `check_http.c`, `check_misc.c`, `check_ping.c`,
//! `check_udp.c`, `check_dns.c`, `check_smtp.c`), async on tokio.
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

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use md5::{Digest, Md5};
use regex::bytes::Regex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use crate::config::{
    CheckKind, DnsCheck, DnsType, HttpCheck, HttpProtocol, MiscCheck, SmtpCheck, Ssl, StatusRange,
    UdpCheck, Url,
};

use super::machine::Verdict;

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
        CheckKind::Udp(u) => udp(u, target).await,
        // Each URL has the whole timeout, as keepalived times each request.
        CheckKind::Http(h) => http(h, target, None).await.into(),
        CheckKind::Ssl(h) => match tls_config(ssl) {
            Ok(config) => http(h, target, Some(config)).await.into(),
            Err(e) => Verdict::Down(e),
        },
        CheckKind::Tcp => bounded(target, async { tcp_connect(target).await.map(drop) }).await,
        CheckKind::Smtp(c) => bounded(target, smtp(c, target)).await,
        CheckKind::Dns(d) => bounded(target, dns(d, target)).await,
        CheckKind::Ping => bounded(target, ping(target)).await,
        CheckKind::Negotiate(n) => super::negotiate::probe(n, target, ssl).await,
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
        Some(TlsParams {
            config: tls_config(None)?,
            sni: vhost.is_some(),
            name: vhost.map(str::to_string),
            compliant: false,
        })
    } else {
        None
    };
    let host = host_header(vhost, addr, tls.is_some());
    let request = http_request(path, &host, protocol);
    let work = fetch(&target, &request, tls.as_ref());
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

// ---------------------------------------------------------------------------
// HTTP_GET / SSL_GET

/// The TLS side of an SSL_GET.
struct TlsParams {
    config: Arc<ClientConfig>,
    /// `enable_sni`.
    sni: bool,
    /// The name for SNI (and verification): sni_name or the virtual host.
    name: Option<String>,
    /// `tls_compliant`: end the session with a close_notify.
    compliant: bool,
}

/// A response: its status and its body as it came on the wire: a chunked
/// body keeps its chunk sizes, as keepalived digests and matches it (a
/// digest from keepalived's genhash then fits ours).
#[derive(Debug)]
struct Response {
    status: u16,
    body: Vec<u8>,
}

/// What the status line and the headers say.
#[derive(Debug)]
struct Head {
    status: u16,
    /// Where the body starts in the buffer.
    body_start: usize,
    content_length: Option<usize>,
    chunked: bool,
}

async fn http(
    check: &HttpCheck,
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
) -> Result<(), String> {
    if check.urls.is_empty() {
        return match tokio::time::timeout(target.timeout, tcp_connect(target)).await {
            Ok(r) => r.map(drop),
            Err(_) => Err(timed_out(target.timeout)),
        };
    }
    let mut regexes = Vec::with_capacity(check.urls.len());
    for url in &check.urls {
        let re = match &url.regex {
            Some(r) => {
                Some(Regex::new(r).map_err(|e| format!("url {}: bad regex: {e}", url.path))?)
            }
            None => None,
        };
        regexes.push(re);
    }
    for (url, re) in check.urls.iter().zip(&regexes) {
        let vhost = url.virtualhost.as_deref().or(check.virtualhost.as_deref());
        let tls = tls.as_ref().map(|config| TlsParams {
            config: config.clone(),
            sni: check.enable_sni,
            name: check.sni_name.clone().or_else(|| vhost.map(str::to_string)),
            compliant: check.tls_compliant,
        });
        let host = host_header(vhost, target.addr, tls.is_some());
        let request = http_request(&url.path, &host, check.http_protocol);
        let resp = match tokio::time::timeout(target.timeout, fetch(target, &request, tls.as_ref()))
            .await
        {
            Ok(r) => r.map_err(|e| format!("url {}: {e}", url.path))?,
            Err(_) => return Err(format!("url {}: {}", url.path, timed_out(target.timeout))),
        };
        judge(url, re.as_ref(), &resp).map_err(|e| format!("url {}: {e}", url.path))?;
    }
    Ok(())
}

/// The Host header: the virtual host, else the address, with its port
/// unless the scheme's default (80, 443 for TLS); IPv6 in brackets.
fn host_header(vhost: Option<&str>, addr: SocketAddr, tls: bool) -> String {
    if let Some(v) = vhost {
        return v.to_string();
    }
    let ip = match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let default = if tls { 443 } else { 80 };
    if addr.port() == default {
        ip
    } else {
        format!("{ip}:{}", addr.port())
    }
}

/// keepalived's request: `User-Agent: KeepAliveClient`, `Connection: close`
/// for 1.0C and 1.1, then Host.
fn http_request(path: &str, host: &str, protocol: HttpProtocol) -> Vec<u8> {
    let (version, close) = match protocol {
        HttpProtocol::Http10 => ("1.0", ""),
        HttpProtocol::Http10Close => ("1.0", "Connection: close\r\n"),
        HttpProtocol::Http11 => ("1.1", "Connection: close\r\n"),
    };
    format!(
        "GET {path} HTTP/{version}\r\nUser-Agent: KeepAliveClient\r\n{close}Host: {host}\r\n\r\n"
    )
    .into_bytes()
}

/// One connection, one request, the whole response.
async fn fetch(
    target: &Target,
    request: &[u8],
    tls: Option<&TlsParams>,
) -> Result<Response, String> {
    let stream = tcp_connect(target).await?;
    let Some(tls) = tls else {
        let mut stream = stream;
        return exchange(&mut stream, request).await;
    };
    let name = tls
        .name
        .as_deref()
        .and_then(|n| ServerName::try_from(n.to_string()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(target.addr.ip().into()));
    let mut config = (*tls.config).clone();
    config.enable_sni = tls.sni;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut stream = connector
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let resp = exchange(&mut stream, request).await;
    if tls.compliant {
        let _ = stream.shutdown().await;
    }
    resp
}

/// Send `request`, read the response until EOF (or the end its
/// Content-Length or chunked encoding gives).
async fn exchange<S>(stream: &mut S, request: &[u8]) -> Result<Response, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("send: {}", describe(&e)))?;
    stream
        .flush()
        .await
        .map_err(|e| format!("send: {}", describe(&e)))?;
    read_response(stream).await
}

async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Response, String> {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16384];
    let mut head: Option<Head> = None;
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            // A TLS peer that closes without close_notify: the end.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !buf.is_empty() => 0,
            Err(e) => return Err(format!("read: {}", describe(&e))),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let h = match &head {
            Some(h) => h,
            None => match parse_head(&buf)? {
                Some(h) => head.insert(h),
                None if buf.len() > MAX_HEAD => {
                    return Err("HTTP header larger than 64 KiB".to_string())
                }
                None => continue,
            },
        };
        let raw = &buf[h.body_start..];
        if raw.len() > MAX_BODY {
            return Err("body larger than 16 MiB".to_string());
        }
        if body_complete(h, raw)? {
            break;
        }
    }
    let Some(h) = head else {
        return Err(if buf.is_empty() {
            "no data received".to_string()
        } else {
            "incomplete HTTP header".to_string()
        });
    };
    let raw = &buf[h.body_start..];
    let body = if h.chunked {
        // Complete, or it is an error; kept as sent.
        decode_chunked(raw)?.ok_or_else(|| "truncated chunked body".to_string())?;
        raw.to_vec()
    } else {
        let len = h.content_length.map_or(raw.len(), |l| l.min(raw.len()));
        raw[..len].to_vec()
    };
    Ok(Response {
        status: h.status,
        body,
    })
}

/// Whether `raw`, the body so far, is all of it by the headers.
fn body_complete(h: &Head, raw: &[u8]) -> Result<bool, String> {
    if h.chunked {
        // A complete chunked body always ends with an empty line.
        Ok(raw.ends_with(b"\r\n\r\n") && decode_chunked(raw)?.is_some())
    } else {
        Ok(h.content_length.is_some_and(|l| raw.len() >= l))
    }
}

/// The status line and headers of `buf`, or `None` while they are
/// incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let Some((head_len, body_start)) = find(buf, b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| find(buf, b"\n\n").map(|i| (i, i + 2)))
    else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&buf[..head_len]);
    let mut lines = text.lines();
    let status_line = lines.next().unwrap_or("");
    let status = parse_status(status_line)
        .ok_or_else(|| format!("bad HTTP status line {:?}", truncate(status_line, 80)))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    if chunked {
        content_length = None;
    }
    Ok(Some(Head {
        status,
        body_start,
        content_length,
        chunked,
    }))
}

/// The status of `HTTP/x.y NNN reason`.
fn parse_status(line: &str) -> Option<u16> {
    let mut words = line.split_ascii_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

pub(super) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A chunked body decoded, `None` if it is not complete yet.
fn decode_chunked(raw: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let Some(end) = find(&raw[i..], b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&raw[i..i + end]);
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .ok()
            .filter(|s| *s <= MAX_BODY)
            .ok_or_else(|| format!("bad chunk size {:?}", truncate(size_text, 20)))?;
        i += end + 2;
        if size == 0 {
            // Trailers, up to an empty line.
            loop {
                let Some(end) = find(&raw[i..], b"\r\n") else {
                    return Ok(None);
                };
                if end == 0 {
                    return Ok(Some(out));
                }
                i += end + 2;
            }
        }
        if raw.len() < i + size + 2 {
            return Ok(None);
        }
        if out.len() + size > MAX_BODY {
            return Err("body larger than 16 MiB".to_string());
        }
        out.extend_from_slice(&raw[i..i + size]);
        if &raw[i + size..i + size + 2] != b"\r\n" {
            return Err("bad chunk: no CRLF after the data".to_string());
        }
        i += size + 2;
    }
}

/// Whether `resp` passes `url`'s status, digest and regex.
fn judge(url: &Url, re: Option<&Regex>, resp: &Response) -> Result<(), String> {
    let default = [StatusRange::SUCCESS];
    // keepalived: 200-299 unless status codes are given, whatever else is.
    let ranges: &[StatusRange] = if url.status_code.is_empty() {
        &default
    } else {
        &url.status_code
    };
    if !ranges.is_empty()
        && !ranges
            .iter()
            .any(|r| (r.first..=r.last).contains(&resp.status))
    {
        let list: Vec<String> = ranges.iter().map(|r| r.to_string()).collect();
        return Err(format!(
            "HTTP status {} not in {}",
            resp.status,
            list.join(",")
        ));
    }
    if let Some(want) = &url.digest {
        let got = md5_hex(&resp.body);
        if !got.eq_ignore_ascii_case(want.trim()) {
            return Err(format!("digest mismatch: got {got}"));
        }
    }
    if let Some(re) = re {
        if !re.is_match(&resp.body) {
            return Err(format!("regex {:?} does not match the body", re.as_str()));
        }
    }
    Ok(())
}

/// The MD5 of `data`, lower-case hex.
pub fn md5_hex(data: &[u8]) -> String {
    let digest = Md5::digest(data);
    let mut s = String::with_capacity(32);
    for b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The TLS client of SSL_GET: the ring provider; the `SSL` block's `ca`
/// verifies the server, else anything is accepted; its `certificate` and
/// `key` (default: the certificate file) are the client's, in PEM.
pub fn tls_config(ssl: Option<&Ssl>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match ssl.and_then(|s| s.ca.as_deref()) {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            let certs =
                CertificateDer::pem_file_iter(ca).map_err(|e| format!("ssl ca {ca}: {e}"))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("ssl ca {ca}: {e}"))?;
                roots.add(cert).map_err(|e| format!("ssl ca {ca}: {e}"))?;
            }
            builder.with_root_certificates(roots)
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider))),
    };
    let config = match ssl.and_then(|s| s.certificate.as_deref()) {
        Some(cert) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("ssl certificate {cert}: {e}"))?;
            let key_file = ssl.and_then(|s| s.key.as_deref()).unwrap_or(cert);
            let key = PrivateKeyDer::from_pem_file(key_file)
                .map_err(|e| format!("ssl key {key_file}: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("ssl certificate {cert}: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// keepalived's default: no verification of the server's certificate nor
/// of its handshake signature (without the certificate checked, the
/// signature proves nothing, and checking it could only fail a server whose
/// key ring refuses, such as a legacy 1024-bit RSA one).
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

// ---------------------------------------------------------------------------
// MISC_CHECK

/// Warned once that `user` cannot be honoured (not running as root).
static USER_WARNED: AtomicBool = AtomicBool::new(false);

pub(crate) async fn misc(check: &MiscCheck) -> Verdict {
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&check.path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(user) = &check.user {
        match run_as(user) {
            Ok(Some((uid, gid))) => {
                cmd.uid(uid).gid(gid);
            }
            Ok(None) => {}
            Err(reason) => return Verdict::Down(reason),
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Verdict::Down(format!("cannot run /bin/sh: {}", describe(&e))),
    };
    let pid = child.id();
    match tokio::time::timeout(check.timeout, child.wait()).await {
        Ok(Ok(status)) => exit_verdict(status, check.dynamic),
        Ok(Err(e)) => Verdict::Down(format!("wait: {}", describe(&e))),
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
                // SAFETY: kill(2) has no memory-safety preconditions; the
                // group is the script's own (process_group(0)), and the
                // child is not reaped yet, so its id is not reused.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            let _ = child.kill().await;
            Verdict::Down(format!("killed after misc_timeout {}", secs(check.timeout)))
        }
    }
}

/// keepalived's reading of a script's exit.
fn exit_verdict(status: ExitStatus, dynamic: bool) -> Verdict {
    match status.code() {
        Some(0) => Verdict::Up,
        Some(code @ 2..=255) if dynamic => Verdict::UpWeight(code as u32 - 2),
        Some(code) => Verdict::Down(format!("exit status {code}")),
        None => Verdict::Down(format!(
            "killed by signal {}",
            status.signal().unwrap_or_default()
        )),
    }
}

/// The uid and gid to run a script as `user`; `None`: as we are (not
/// root, warned once).
fn run_as(user: &str) -> Result<Option<(u32, u32)>, String> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        if !USER_WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                user,
                "MISC_CHECK user: not running as root, scripts run as the current user"
            );
        }
        return Ok(None);
    }
    lookup_user(user).map(Some)
}

/// `user`'s uid and primary gid from the password database.
fn lookup_user(user: &str) -> Result<(u32, u32), String> {
    let name = CString::new(user).map_err(|_| format!("bad user name {user:?}"))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let mut pwd = MaybeUninit::<libc::passwd>::uninit();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: `name` is a
        // NUL-terminated string, `pwd` and `result` are writable, and `buf`
        // is writable for `buf.len()` bytes; the strings the entry points
        // to live in `buf`, which outlives the reads below.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                pwd.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 {
            return Err(format!("user {user}: {}", io::Error::from_raw_os_error(rc)));
        }
        if result.is_null() {
            return Err(format!("user {user}: no such user"));
        }
        // SAFETY: getpwnam_r returned 0 with `result` non-null, so it
        // filled in `pwd` (and `result` points to it).
        let pwd = unsafe { pwd.assume_init() };
        return Ok((pwd.pw_uid, pwd.pw_gid));
    }
}

// ---------------------------------------------------------------------------
// SMTP_CHECK

async fn smtp(check: &SmtpCheck, target: &Target) -> Result<(), String> {
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

/// The host name, for HELO.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

// ---------------------------------------------------------------------------
// DNS_CHECK

/// keepalived's rule: up on a reply with the query's id, QR set and RCODE 0
/// (answers are not counted); replies with another id, and queries, are
/// skipped.
async fn dns(check: &DnsCheck, target: &Target) -> Result<(), String> {
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

// ---------------------------------------------------------------------------
// UDP_CHECK

/// A `require_reply` pattern: per byte, the value and the bits that must
/// match (an `x` nibble matches anything).
#[derive(Debug, PartialEq, Eq)]
struct Pattern(Vec<(u8, u8)>);

async fn udp(check: &UdpCheck, target: &Target) -> Verdict {
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

// ---------------------------------------------------------------------------
// PING_CHECK

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

async fn ping(target: &Target) -> Result<(), String> {
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
    use std::net::Ipv4Addr;
    use std::time::Instant;
    use tokio::net::TcpListener;

    fn target(addr: SocketAddr, timeout_ms: u64) -> Target {
        Target {
            addr,
            bind: None,
            bind_if: None,
            fwmark: None,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    fn url(path: &str) -> Url {
        Url {
            path: path.to_string(),
            ..Url::default()
        }
    }

    fn http_check(urls: Vec<Url>, protocol: HttpProtocol) -> CheckKind {
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

    fn down_with(v: &Verdict, needle: &str) -> bool {
        matches!(v, Verdict::Down(r) if r.contains(needle))
    }

    /// A port nothing listens on.
    fn closed_port() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    /// A server answering each connection by path: `routes` maps a path
    /// to the raw response. The requests it saw go to the returned list.
    async fn http_server(
        routes: Vec<(&'static str, Vec<u8>)>,
    ) -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let routes = routes.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while find(&req, b"\r\n\r\n").is_none() {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&req).to_string();
                    let path = text.split(' ').nth(1).unwrap_or("").to_string();
                    log.lock().unwrap().push(text);
                    let resp = routes
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, r)| r.clone())
                        .unwrap_or_else(|| b"HTTP/1.0 404 Not Found\r\n\r\n".to_vec());
                    let _ = conn.write_all(&resp).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        (addr, seen)
    }

    fn response(status: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!("HTTP/1.0 {status}\r\nContent-Type: text/plain\r\n\r\n").into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[tokio::test]
    async fn tcp_up_and_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let t = target(listener.local_addr().unwrap(), 1000);
        assert_eq!(probe(&CheckKind::Tcp, &t, None).await, Verdict::Up);
        let v = probe(&CheckKind::Tcp, &target(closed_port(), 1000), None).await;
        assert!(down_with(&v, "connection refused"), "{v:?}");
    }

    /// Hundreds of probes hung on a server that never answers hold no
    /// thread: on a two-thread runtime, a probe of a live server started
    /// after them finishes while every one of them is still waiting.
    #[test]
    fn hung_servers_do_not_delay_other_checks() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let silent_addr = silent.local_addr().unwrap();
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((conn, _)) = silent.accept().await {
                    held.push(conn);
                }
            });
            let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let hung: Vec<_> = (0..200)
                .map(|_| {
                    let finished = Arc::clone(&finished);
                    tokio::spawn(async move {
                        let v = probe(
                            &http_check(vec![url("/")], HttpProtocol::Http10),
                            &target(silent_addr, 3000),
                            None,
                        )
                        .await;
                        finished.fetch_add(1, Ordering::SeqCst);
                        v
                    })
                })
                .collect();
            // Let them all connect and wait.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let live = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let t = target(live.local_addr().unwrap(), 3000);
            assert_eq!(probe(&CheckKind::Tcp, &t, None).await, Verdict::Up);
            assert_eq!(
                finished.load(Ordering::SeqCst),
                0,
                "a hung probe ended first"
            );
            for h in hung {
                assert!(down_with(&h.await.unwrap(), "timeout"));
            }
        });
    }

    #[tokio::test]
    async fn tcp_bind_source() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut t = target(listener.local_addr().unwrap(), 1000);
        t.bind = Some(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0));
        assert_eq!(probe(&CheckKind::Tcp, &t, None).await, Verdict::Up);
        // A fixed source port.
        let port = closed_port().port();
        t.bind = Some(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port));
        assert_eq!(probe(&CheckKind::Tcp, &t, None).await, Verdict::Up);
        // A source address of the wrong family cannot be bound.
        t.bind = Some("[::1]:0".parse().unwrap());
        assert!(matches!(
            probe(&CheckKind::Tcp, &t, None).await,
            Verdict::Down(_)
        ));
    }

    #[tokio::test]
    async fn http_digest_status_regex() {
        let body = b"hello, health\n";
        let digest = md5_hex(body);
        assert_eq!(digest, format!("{:x}", Md5::digest(body)));
        let (addr, seen) = http_server(vec![
            ("/ok", response("200 OK", body)),
            ("/err", response("500 Oops", b"bad")),
            ("/moved", response("302 Found", b"")),
        ])
        .await;
        let t = target(addr, 2000);

        let mut u = url("/ok");
        u.digest = Some(digest.to_uppercase());
        let v = probe(&http_check(vec![u.clone()], HttpProtocol::Http10), &t, None).await;
        assert_eq!(v, Verdict::Up);
        let req = seen.lock().unwrap()[0].clone();
        assert!(req.starts_with("GET /ok HTTP/1.0\r\n"), "{req}");
        assert!(req.contains("User-Agent: KeepAliveClient\r\n"), "{req}");
        assert!(
            req.contains(&format!("Host: 127.0.0.1:{}\r\n", addr.port())),
            "{req}"
        );
        assert!(!req.contains("Connection"), "{req}");

        u.digest = Some("0123456789abcdef0123456789abcdef".to_string());
        let v = probe(&http_check(vec![u], HttpProtocol::Http10), &t, None).await;
        assert!(
            down_with(&v, &format!("digest mismatch: got {digest}")),
            "{v:?}"
        );

        let v = probe(
            &http_check(vec![url("/err")], HttpProtocol::Http10),
            &t,
            None,
        )
        .await;
        assert!(down_with(&v, "HTTP status 500 not in 200-299"), "{v:?}");
        let v = probe(
            &http_check(vec![url("/ok")], HttpProtocol::Http10),
            &t,
            None,
        )
        .await;
        assert_eq!(v, Verdict::Up);

        let mut u = url("/moved");
        u.status_code = vec!["300-399".parse().unwrap()];
        let v = probe(&http_check(vec![u], HttpProtocol::Http10Close), &t, None).await;
        assert_eq!(v, Verdict::Up);
        let req = seen.lock().unwrap().last().unwrap().clone();
        assert!(req.contains("Connection: close\r\n"), "{req}");
        let v = probe(
            &http_check(vec![url("/moved")], HttpProtocol::Http10),
            &t,
            None,
        )
        .await;
        assert!(down_with(&v, "HTTP status 302"), "{v:?}");

        let mut u = url("/ok");
        u.regex = Some("hel+o, health".to_string());
        let v = probe(&http_check(vec![u.clone()], HttpProtocol::Http10), &t, None).await;
        assert_eq!(v, Verdict::Up);
        u.regex = Some("^sick".to_string());
        let v = probe(&http_check(vec![u.clone()], HttpProtocol::Http10), &t, None).await;
        assert!(down_with(&v, "regex"), "{v:?}");
        u.regex = Some("(unclosed".to_string());
        let v = probe(&http_check(vec![u], HttpProtocol::Http10), &t, None).await;
        assert!(down_with(&v, "bad regex"), "{v:?}");

        // Every URL must pass.
        let v = probe(
            &http_check(vec![url("/ok"), url("/err")], HttpProtocol::Http10),
            &t,
            None,
        )
        .await;
        assert!(down_with(&v, "url /err: HTTP status 500"), "{v:?}");

        // No URL: up on a connection.
        let v = probe(&http_check(vec![], HttpProtocol::Http10), &t, None).await;
        assert_eq!(v, Verdict::Up);
        let v = probe(
            &http_check(vec![], HttpProtocol::Http10),
            &target(closed_port(), 500),
            None,
        )
        .await;
        assert!(down_with(&v, "connection refused"), "{v:?}");
    }

    #[tokio::test]
    async fn http_virtualhost_header() {
        let (addr, seen) = http_server(vec![("/", response("200 OK", b"x"))]).await;
        let t = target(addr, 2000);
        let mut u = url("/");
        u.virtualhost = Some("www.example.com".to_string());
        let CheckKind::Http(mut check) = http_check(vec![u], HttpProtocol::Http11) else {
            unreachable!()
        };
        check.virtualhost = Some("other.example.com".to_string());
        assert_eq!(probe(&CheckKind::Http(check), &t, None).await, Verdict::Up);
        let req = seen.lock().unwrap()[0].clone();
        assert!(req.starts_with("GET / HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("Host: www.example.com\r\n"), "{req}");
        assert!(req.contains("Connection: close\r\n"), "{req}");
    }

    #[tokio::test]
    async fn http_chunked_and_content_length() {
        let body = b"Wikipedia in\r\n\r\nchunks.";
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            4\r\nWiki\r\n6;ext=1\r\npedia \r\nD\r\nin\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n"
            .to_vec();
        // Content-Length stops the read (the server keeps the connection).
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let keep_addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = conn.read(&mut buf).await;
                    let _ = conn
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                        .await;
                    tokio::time::sleep(Duration::from_secs(10)).await;
                });
            }
        });
        let (addr, _) = http_server(vec![("/c", chunked.clone())]).await;
        let mut u = url("/c");
        // keepalived's digest: the body as sent, chunk sizes and all.
        let raw_body = &chunked[chunked.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        assert_ne!(md5_hex(raw_body), md5_hex(body));
        u.digest = Some(md5_hex(raw_body));
        let v = probe(
            &http_check(vec![u], HttpProtocol::Http11),
            &target(addr, 2000),
            None,
        )
        .await;
        assert_eq!(v, Verdict::Up);
        let (status, digest) = genhash(
            addr,
            "/c",
            None,
            false,
            HttpProtocol::Http11,
            Duration::from_secs(2),
        )
        .await
        .unwrap();
        assert_eq!((status, digest), (200, md5_hex(raw_body)));

        let mut u = url("/");
        u.digest = Some(md5_hex(b"hello"));
        let v = probe(
            &http_check(vec![u], HttpProtocol::Http11),
            &target(keep_addr, 2000),
            None,
        )
        .await;
        // Up, not a timeout: the read stopped at Content-Length while the
        // server held the connection open.
        assert_eq!(v, Verdict::Up);
    }

    #[tokio::test]
    async fn http_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                conns.push(conn);
            }
        });
        let start = Instant::now();
        let v = probe(
            &http_check(vec![url("/")], HttpProtocol::Http10),
            &target(addr, 300),
            None,
        )
        .await;
        let took = start.elapsed();
        assert_eq!(v, Verdict::Down("url /: timeout after 0.3s".to_string()));
        // Not before its time (how much later is the machine's business).
        assert!(took >= Duration::from_millis(290), "{took:?}");
    }

    #[tokio::test]
    async fn http_empty_and_bad_responses() {
        let (addr, _) = http_server(vec![
            ("/empty", Vec::new()),
            ("/garbage", b"SSH-2.0-OpenSSH\r\n\r\n".to_vec()),
            (
                "/short",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab".to_vec(),
            ),
        ])
        .await;
        let t = target(addr, 2000);
        for (path, protocol, why) in [
            ("/empty", HttpProtocol::Http10, "no data received"),
            ("/garbage", HttpProtocol::Http10, "bad HTTP status line"),
            ("/short", HttpProtocol::Http11, "truncated chunked body"),
        ] {
            let v = probe(&http_check(vec![url(path)], protocol), &t, None).await;
            assert!(down_with(&v, why), "{path}: {v:?}");
        }
    }

    #[test]
    fn chunked_decoding() {
        assert_eq!(
            decode_chunked(b"3\r\nabc\r\n0\r\n\r\n").unwrap(),
            Some(b"abc".to_vec())
        );
        assert_eq!(decode_chunked(b"3\r\nabc\r\n").unwrap(), None);
        assert_eq!(decode_chunked(b"3\r\nab").unwrap(), None);
        assert!(decode_chunked(b"zz\r\nabc\r\n").is_err());
        assert!(decode_chunked(b"3\r\nabcd\r\n0\r\n\r\n").is_err());
        assert!(decode_chunked(b"ffffffffffffffffff\r\n").is_err());
    }

    #[test]
    fn host_header_forms() {
        let v4: SocketAddr = "10.0.0.1:80".parse().unwrap();
        assert_eq!(host_header(None, v4, false), "10.0.0.1");
        assert_eq!(host_header(None, v4, true), "10.0.0.1:80");
        let v6: SocketAddr = "[2001:db8::1]:8443".parse().unwrap();
        assert_eq!(host_header(None, v6, true), "[2001:db8::1]:8443");
        assert_eq!(host_header(Some("h.example"), v6, true), "h.example");
    }

    #[tokio::test]
    async fn genhash_digest() {
        let body = b"<html>genhash</html>";
        let (addr, seen) = http_server(vec![("/page", response("200 OK", body))]).await;
        let got = genhash(
            addr,
            "/page",
            Some("site.example"),
            false,
            HttpProtocol::Http10,
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(got, Ok((200, format!("{:x}", Md5::digest(body)))));
        assert!(seen.lock().unwrap()[0].contains("Host: site.example\r\n"));
        let got = genhash(
            closed_port(),
            "/",
            None,
            false,
            HttpProtocol::Http10,
            Duration::from_secs(1),
        )
        .await;
        assert!(got.is_err());
    }

    fn misc_check(cmd: &str, dynamic: bool, timeout_ms: u64) -> CheckKind {
        CheckKind::Misc(MiscCheck {
            path: cmd.to_string(),
            timeout: Duration::from_millis(timeout_ms),
            dynamic,
            user: None,
        })
    }

    #[tokio::test]
    async fn misc_exit_codes() {
        let t = target(closed_port(), 1);
        assert_eq!(
            probe(&misc_check("exit 0", false, 5000), &t, None).await,
            Verdict::Up
        );
        assert_eq!(
            probe(&misc_check("exit 1", false, 5000), &t, None).await,
            Verdict::Down("exit status 1".to_string())
        );
        assert_eq!(
            probe(&misc_check("exit 12", true, 5000), &t, None).await,
            Verdict::UpWeight(10)
        );
        assert_eq!(
            probe(&misc_check("exit 1", true, 5000), &t, None).await,
            Verdict::Down("exit status 1".to_string())
        );
        assert_eq!(
            probe(&misc_check("exit 12", false, 5000), &t, None).await,
            Verdict::Down("exit status 12".to_string())
        );
        let v = probe(&misc_check("kill -TERM $$", false, 5000), &t, None).await;
        assert_eq!(v, Verdict::Down("killed by signal 15".to_string()));
    }

    #[tokio::test]
    async fn misc_timeout_kills() {
        let t = target(closed_port(), 1);
        // A compound command, so the shell forks sleep and both must die.
        let v = probe(&misc_check("sleep 5; true", false, 200), &t, None).await;
        assert_eq!(
            v,
            Verdict::Down("killed after misc_timeout 0.2s".to_string())
        );
    }

    #[tokio::test]
    async fn misc_user() {
        let t = target(closed_port(), 1);
        let CheckKind::Misc(mut m) = misc_check("test \"$(id -u)\" = 65534", false, 5000) else {
            unreachable!()
        };
        m.user = Some("nobody".to_string());
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root && lookup_user("nobody").is_ok_and(|(uid, _)| uid == 65534) {
            assert_eq!(
                probe(&CheckKind::Misc(m.clone()), &t, None).await,
                Verdict::Up
            );
        } else {
            println!("skipped: not root or no user nobody (65534)");
        }
        m.user = Some("no-such-user-rvs".to_string());
        if root {
            let v = probe(&CheckKind::Misc(m), &t, None).await;
            assert!(down_with(&v, "no such user"), "{v:?}");
        }
    }

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

        // A closed port: ICMP port unreachable on loopback.
        let closed = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let v = probe(&udp_check(Some("00"), None), &target(closed, 1000), None).await;
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

    /// A self-signed certificate and key made by the openssl command, or
    /// `None` (the test is skipped) when it is not installed.
    fn self_signed() -> Option<(String, String)> {
        let dir = std::env::temp_dir().join(format!("rvs-probe-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let ok = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| (cert.display().to_string(), key.display().to_string()))
    }

    #[tokio::test]
    async fn ssl_get_live() {
        let Some((cert, key)) = self_signed() else {
            println!("skipped: no openssl command to make a certificate");
            return;
        };
        let chain: Vec<_> = CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::from_pem_file(&key).unwrap())
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = b"secure health";
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(conn).await else {
                        return;
                    };
                    let mut buf = [0u8; 1024];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls.write_all(&response("200 OK", body)).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        let mut u = url("/");
        u.digest = Some(md5_hex(body));
        let CheckKind::Http(mut h) = http_check(vec![u], HttpProtocol::Http11) else {
            unreachable!()
        };
        h.enable_sni = true;
        h.sni_name = Some("localhost".to_string());
        h.tls_compliant = true;
        let t = target(addr, 2000);
        assert_eq!(
            probe(&CheckKind::Ssl(h.clone()), &t, None).await,
            Verdict::Up
        );
        // A client certificate from the SSL block loads (the server ignores it).
        let ssl = Ssl {
            certificate: Some(cert.clone()),
            key: Some(key.clone()),
            ..Ssl::default()
        };
        assert_eq!(
            probe(&CheckKind::Ssl(h.clone()), &t, Some(&ssl)).await,
            Verdict::Up
        );
        let got = genhash(
            addr,
            "/",
            None,
            true,
            HttpProtocol::Http10,
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(got, Ok((200, md5_hex(body))));
        // Plain HTTP to a TLS server fails.
        let v = probe(&CheckKind::Http(h), &t, None).await;
        assert!(matches!(v, Verdict::Down(_)), "{v:?}");
        let _ = std::fs::remove_file(cert);
        let _ = std::fs::remove_file(key);
    }

    #[test]
    fn tls_config_builds() {
        assert!(tls_config(None).is_ok());
        let missing = Ssl {
            ca: Some("/nonexistent/ca.pem".to_string()),
            ..Ssl::default()
        };
        let e = tls_config(Some(&missing)).unwrap_err();
        assert!(e.contains("ssl ca /nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(secs(Duration::from_secs(3)), "3s");
        assert_eq!(secs(Duration::from_millis(300)), "0.3s");
        assert_eq!(secs(Duration::from_millis(1250)), "1.25s");
    }
}
