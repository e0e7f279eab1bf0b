//! HTTP_GET and SSL_GET (keepalived's `check_http.c`): the request, the
//! response parser (Content-Length, chunked, close-delimited), the status,
//! regex and digest judgement, and the MD5 digest genhash prints too.

#![forbid(unsafe_code)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use md5::{Digest, Md5};
use regex::bytes::Regex;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::{HttpCheck, HttpProtocol, StatusRange, Url};

use super::{describe, tcp_connect, timed_out, truncate, Target, HEX, MAX_BODY, MAX_HEAD};

/// The TLS side of an SSL_GET.
pub(super) struct TlsParams {
    pub(super) config: Arc<ClientConfig>,
    /// `enable_sni`.
    pub(super) sni: bool,
    /// The name for SNI (and verification): sni_name or the virtual host.
    pub(super) name: Option<String>,
    /// `tls_compliant`: end the session with a close_notify.
    pub(super) compliant: bool,
}

/// A response: its status and its body as it came on the wire: a chunked
/// body keeps its chunk sizes, as keepalived digests and matches it (a
/// digest from keepalived's genhash then fits ours).
#[derive(Debug)]
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
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

pub(super) async fn http(
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
pub(super) fn host_header(vhost: Option<&str>, addr: SocketAddr, tls: bool) -> String {
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
pub(super) fn http_request(path: &str, host: &str, protocol: HttpProtocol) -> Vec<u8> {
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
pub(super) async fn fetch(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckKind;
    use crate::health::machine::Verdict;
    use crate::health::probe::genhash;
    use crate::health::probe::probe;
    use crate::health::probe::testing::*;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    use tokio::net::TcpListener;

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
}
