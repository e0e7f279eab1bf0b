//! Each negotiate probe against a tiny server on 127.0.0.1: up on the
//! right answer, down on a wrong one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

use super::probe;
use crate::config::model::{NegotiateCheck, NegotiateService};
use crate::health::machine::Verdict;
use crate::health::probe::Target;

fn target(addr: SocketAddr) -> Target {
    Target {
        addr,
        bind: None,
        bind_if: None,
        fwmark: None,
        timeout: Duration::from_secs(10),
    }
}

fn check(service: NegotiateService) -> NegotiateCheck {
    NegotiateCheck {
        service,
        login: None,
        passwd: None,
        request: String::new(),
        receive: String::new(),
        udp: false,
        virtualhost: None,
    }
}

type Handler = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// One connection of a line server: `greeting`, then `handler`'s answer
/// to each line (CR LF added to each line) until it gives `None`.
async fn serve_lines(
    r: impl AsyncRead + Unpin,
    mut w: impl AsyncWrite + Unpin,
    greeting: &str,
    handler: &Handler,
) {
    let mut r = BufReader::new(r);
    if w.write_all(format!("{greeting}\r\n").as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Some(answer) = handler(line.trim_end()) else {
            return;
        };
        let text: String = answer.lines().map(|l| format!("{l}\r\n")).collect();
        if w.write_all(text.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A line server: sends `greeting`, then answers each line the client
/// sends with what `handler` gives (CR LF added to each line; `None`
/// closes). Returns its address.
async fn line_server(greeting: &'static str, handler: Handler) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let (r, w) = conn.into_split();
                serve_lines(r, w, greeting, &handler).await;
            });
        }
    });
    addr
}

async fn run(c: &NegotiateCheck, addr: SocketAddr) -> Verdict {
    probe(c, &target(addr), None).await
}

fn is_down(v: &Verdict) -> bool {
    matches!(v, Verdict::Down(_))
}

/// A POP3 server that takes user `u` with password `p`.
fn pop_handler() -> Handler {
    Arc::new(|line: &str| {
        Some(
            match line {
                "USER u" => "+OK user",
                "PASS p" => "+OK logged in",
                "QUIT" => "+OK bye",
                _ if line.starts_with("PASS") => "-ERR bad password",
                _ => "-ERR what",
            }
            .to_string(),
        )
    })
}

#[tokio::test]
async fn pop() {
    let good = line_server("+OK POP3 ready", pop_handler()).await;
    let mut c = check(NegotiateService::Pop);
    assert_eq!(run(&c, good).await, Verdict::Up, "greeting only");
    c.login = Some("u".into());
    c.passwd = Some("p".into());
    assert_eq!(run(&c, good).await, Verdict::Up, "login");
    c.passwd = Some("wrong".into());
    let v = run(&c, good).await;
    assert!(is_down(&v), "{v:?}");
    let bad = line_server("-ERR go away", pop_handler()).await;
    assert!(is_down(&run(&check(NegotiateService::Pop), bad).await));
}

#[tokio::test]
async fn imap() {
    let handler: Handler = Arc::new(|line: &str| {
        Some(if line == "a1 LOGIN \"u\" \"p\\\"q\"" {
            "* CAPABILITY IMAP4rev1\na1 OK LOGIN completed".to_string()
        } else if line.starts_with("a1 LOGIN") {
            "a1 NO LOGIN failed".to_string()
        } else {
            "* BYE\na2 OK".to_string()
        })
    });
    let good = line_server("* OK IMAP4rev1 ready", handler.clone()).await;
    let mut c = check(NegotiateService::Imap);
    assert_eq!(run(&c, good).await, Verdict::Up, "greeting only");
    c.login = Some("u".into());
    c.passwd = Some("p\"q".into());
    assert_eq!(run(&c, good).await, Verdict::Up, "login, quoted");
    c.passwd = Some("x".into());
    assert!(is_down(&run(&c, good).await));
    let bad = line_server("* BYE busy", handler).await;
    assert!(is_down(&run(&check(NegotiateService::Imap), bad).await));
}

#[tokio::test]
async fn nntp() {
    let quit: Handler = Arc::new(|_: &str| None);
    let good = line_server("200 news ready", quit.clone()).await;
    assert_eq!(run(&check(NegotiateService::Nntp), good).await, Verdict::Up);
    let bad = line_server("502 no permission", quit).await;
    assert!(is_down(&run(&check(NegotiateService::Nntp), bad).await));
}

/// An FTP server with user `u`/`p` (and anonymous) and one file,
/// `/index.html`, served in passive mode from a data listener.
async fn ftp_server(file: &'static [u8]) -> SocketAddr {
    let data = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data_port = data.local_addr().unwrap().port();
    data.set_nonblocking(true).unwrap();
    let data = TcpListener::from_std(data).unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = data.accept().await {
            let _ = conn.write_all(file).await;
            let _ = conn.shutdown().await;
        }
    });
    let handler: Handler = Arc::new(move |line: &str| {
        Some(match line {
            "USER u" | "USER anonymous" => "331 password please".to_string(),
            "PASS p" => "230-welcome\n230 logged in".to_string(),
            _ if line.starts_with("PASS ") && line.contains('@') => "230 anonymous ok".to_string(),
            _ if line.starts_with("PASS ") => "530 login incorrect".to_string(),
            "TYPE I" => "200 binary".to_string(),
            "PASV" => format!(
                "227 Entering Passive Mode (127,0,0,1,{},{})",
                data_port >> 8,
                data_port & 0xff
            ),
            "RETR /index.html" => "150 opening\n226 transfer complete".to_string(),
            _ if line.starts_with("RETR ") => "550 no such file".to_string(),
            "QUIT" => "221 bye".to_string(),
            _ => "500 what".to_string(),
        })
    });
    line_server("220-hello\n220 FTP ready", handler).await
}

#[tokio::test]
async fn ftp() {
    let addr = ftp_server(b"<html>it works</html>").await;
    let mut c = check(NegotiateService::Ftp);
    c.login = Some("anonymous".into());
    c.passwd = Some("ldirectord@test".into());
    c.request = "/".into();
    assert_eq!(run(&c, addr).await, Verdict::Up, "anonymous login only");
    c.login = Some("u".into());
    c.passwd = Some("p".into());
    c.request = "/index.html".into();
    c.receive = "it works".into();
    assert_eq!(run(&c, addr).await, Verdict::Up, "file matches receive");
    c.receive = "it fails".into();
    let v = run(&c, addr).await;
    assert!(is_down(&v), "{v:?}");
    c.receive = "it works".into();
    c.request = "/missing.html".into();
    assert!(is_down(&run(&c, addr).await), "no such file");
    c.request = "/index.html".into();
    c.passwd = Some("wrong".into());
    assert!(is_down(&run(&c, addr).await), "bad password");
}

#[tokio::test]
async fn sip_over_udp_and_tcp() {
    async fn udp_server(answer: &'static str) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let reply = if request.starts_with("OPTIONS sip:alice@example.org SIP/2.0\r\n")
                    && request.contains("\r\nCSeq: 63104 OPTIONS\r\n")
                    && request.ends_with("\r\n\r\n")
                {
                    answer.to_string()
                } else {
                    "SIP/2.0 400 Bad Request\r\n\r\n".to_string()
                };
                let _ = socket.send_to(reply.as_bytes(), from).await;
            }
        });
        addr
    }
    let mut c = check(NegotiateService::Sip);
    c.udp = true;
    c.login = Some("alice@example.org".into());
    let good = udp_server("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n").await;
    assert_eq!(run(&c, good).await, Verdict::Up);
    let bad = udp_server("SIP/2.0 404 Not Found\r\n\r\n").await;
    assert!(is_down(&run(&c, bad).await));
    c.login = Some("bob@example.org".into());
    assert!(is_down(&run(&c, good).await), "the server wants alice");

    let tcp: Handler = Arc::new(|_: &str| None);
    let good = line_server("SIP/2.0 200 OK", tcp.clone()).await;
    let bad = line_server("SIP/2.0 503 Service Unavailable", tcp).await;
    c.udp = false;
    assert_eq!(run(&c, good).await, Verdict::Up);
    assert!(is_down(&run(&c, bad).await));
}

/// A DNS server answering every query with `answer` (an A record) and
/// `ptr` (a PTR record, compressed against the question's name).
async fn dns_server(answer: [u8; 4]) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let q = &buf[..n];
            let qtype = u16::from_be_bytes([q[n - 4], q[n - 3]]);
            let mut r = q.to_vec();
            r[2] |= 0x80;
            r[7] = 1; // one answer
            r.extend_from_slice(&[0xc0, 12]); // the question's name
            r.extend_from_slice(&qtype.to_be_bytes());
            r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            if qtype == 1 {
                r.extend_from_slice(&[0, 4]);
                r.extend_from_slice(&answer);
            } else {
                // www.example.org, "example.org" spelled out.
                let name = b"\x03www\x07example\x03org\x00";
                r.extend_from_slice(&(name.len() as u16).to_be_bytes());
                r.extend_from_slice(name);
            }
            let _ = socket.send_to(&r, from).await;
        }
    });
    addr
}

#[tokio::test]
async fn dns_compares_receive() {
    let addr = dns_server([192, 0, 2, 7]).await;
    let mut c = check(NegotiateService::Dns);
    c.udp = true;
    c.request = "/www.example.org".into();
    c.receive = "192.0.2.7".into();
    assert_eq!(run(&c, addr).await, Verdict::Up);
    c.receive = "192.0.2.8".into();
    assert!(is_down(&run(&c, addr).await), "another address");
    c.receive = String::new();
    assert!(
        is_down(&run(&c, addr).await),
        "ldirectord: nothing to compare"
    );
    c.request = "192.0.2.7".into();
    c.receive = "^www\\.example\\.org$".into();
    assert_eq!(run(&c, addr).await, Verdict::Up, "PTR");
}

#[tokio::test]
async fn http_head() {
    async fn server(status: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = got.starts_with(b"HEAD /health HTTP/1.0\r\n")
                        && got.windows(15).any(|w| w == b"Host: lb.test\r\n");
                    let answer = if head {
                        // The length of the body a GET would get; none follows.
                        format!("HTTP/1.1 {status}\r\nContent-Length: 1000\r\n\r\n")
                    } else {
                        "HTTP/1.1 405 Method Not Allowed\r\n\r\n".to_string()
                    };
                    let _ = conn.write_all(answer.as_bytes()).await;
                    // Keep the connection open: the probe must not wait for a body.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                });
            }
        });
        addr
    }
    let mut c = check(NegotiateService::HttpHead);
    c.request = "/health".into();
    c.virtualhost = Some("lb.test".into());
    let ok = server("200 OK").await;
    assert_eq!(run(&c, ok).await, Verdict::Up);
    c.receive = "alive".into();
    assert!(is_down(&run(&c, ok).await), "no body to match");
    c.receive = String::new();
    let err = server("503 Service Unavailable").await;
    assert!(is_down(&run(&c, err).await));
    c.request = "/other".into();
    assert!(is_down(&run(&c, ok).await), "405 for another path");
}

/// A self-signed certificate and key made by the openssl command, or
/// `None` (the test is skipped) when it is not installed.
fn self_signed() -> Option<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = std::env::temp_dir().join(format!("rvs-negotiate-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return None;
    }
    let chain: Vec<_> = CertificateDer::pem_file_iter(&cert)
        .ok()?
        .collect::<Result<_, _>>()
        .ok()?;
    let key = PrivateKeyDer::from_pem_file(&key).ok()?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .ok()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .ok()
}

/// [`line_server`] over TLS.
async fn tls_line_server(
    config: Arc<rustls::ServerConfig>,
    greeting: &'static str,
    handler: Handler,
) -> SocketAddr {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let (acceptor, handler) = (acceptor.clone(), handler.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(conn).await else {
                    return;
                };
                let (r, w) = tokio::io::split(tls);
                serve_lines(r, w, greeting, &handler).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn pops_and_imaps_over_tls() {
    let Some(config) = self_signed() else {
        println!("skipped: no openssl command to make a certificate");
        return;
    };
    let config = Arc::new(config);
    let pops = tls_line_server(config.clone(), "+OK POP3 over TLS", pop_handler()).await;
    let mut c = check(NegotiateService::Pops);
    c.login = Some("u".into());
    c.passwd = Some("p".into());
    assert_eq!(run(&c, pops).await, Verdict::Up);
    c.passwd = Some("wrong".into());
    assert!(is_down(&run(&c, pops).await));
    // Plain POP3 against a TLS server fails.
    c.service = NegotiateService::Pop;
    c.passwd = Some("p".into());
    c.login = None;
    let mut short = target(pops);
    short.timeout = Duration::from_secs(1);
    assert!(is_down(&probe(&c, &short, None).await));

    let imap: Handler = Arc::new(|line: &str| {
        Some(if line.starts_with("a1 LOGIN \"u\" ") {
            "a1 OK done".to_string()
        } else {
            "a2 OK bye".to_string()
        })
    });
    let good = tls_line_server(config.clone(), "* OK IMAPS ready", imap.clone()).await;
    let bad = tls_line_server(config, "* BYE", imap).await;
    let mut c = check(NegotiateService::Imaps);
    c.login = Some("u".into());
    assert_eq!(run(&c, good).await, Verdict::Up);
    assert!(is_down(&run(&c, bad).await));
}
