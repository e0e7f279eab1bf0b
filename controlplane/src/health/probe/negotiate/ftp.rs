//! FTP: log in, and fetch `request` in passive mode when it names a file.

use std::net::SocketAddr;

use regex::bytes::Regex;
use tokio::io::{AsyncBufRead, AsyncReadExt, BufReader};
use tokio::net::TcpStream;

use super::{read_line, send_line, shown, MAX_CONTENT};
use crate::config::model::NegotiateCheck;
use crate::health::probe::{describe, hostname, tcp_connect, Target};

/// One FTP reply: its code and its last line.
struct Reply {
    code: u16,
    line: String,
}

/// Read a reply, multi-line (`NNN-` ... `NNN `) or not.
async fn reply<R: AsyncBufRead + Unpin>(reader: &mut R, what: &str) -> Result<Reply, String> {
    let first = read_line(reader, what).await?;
    let code = first
        .get(..3)
        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("FTP {what}: bad reply {}", shown(&first)))?;
    let mut line = first;
    if line.as_bytes().get(3) == Some(&b'-') {
        let end = format!("{code} ");
        for _ in 0..1000 {
            line = read_line(reader, what).await?;
            if line.starts_with(&end) || line == end.trim_end() {
                return Ok(Reply { code, line });
            }
        }
        return Err(format!("FTP {what}: reply too long"));
    }
    Ok(Reply { code, line })
}

/// A reply whose code is one of `want`.
async fn expect<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    what: &str,
    want: &[u16],
) -> Result<Reply, String> {
    let r = reply(reader, what).await?;
    if want.contains(&r.code) {
        Ok(r)
    } else {
        Err(format!("FTP {what}: got {}", shown(&r.line)))
    }
}

pub(super) async fn check(
    check: &NegotiateCheck,
    receive: Option<&Regex>,
    target: &Target,
) -> Result<(), String> {
    let stream = tcp_connect(target).await?;
    let mut s = BufReader::new(stream);
    expect(&mut s, "greeting", &[220]).await?;
    let login = check.login.as_deref().unwrap_or("anonymous");
    send_line(s.get_mut(), &format!("USER {login}")).await?;
    let user = expect(&mut s, "USER", &[230, 331, 332]).await?;
    if user.code != 230 {
        let passwd = match &check.passwd {
            Some(p) => p.clone(),
            None => format!("ldirectord@{}", hostname()),
        };
        send_line(s.get_mut(), &format!("PASS {passwd}")).await?;
        expect(&mut s, "PASS", &[230, 202]).await?;
    }
    let file = check.request.as_str();
    if file.is_empty() || file == "/" {
        // No file to fetch: the login is the check.
        let _ = send_line(s.get_mut(), "QUIT").await;
        return Ok(());
    }
    send_line(s.get_mut(), "TYPE I").await?;
    expect(&mut s, "TYPE I", &[200]).await?;
    let data_addr = if target.addr.is_ipv6() {
        send_line(s.get_mut(), "EPSV").await?;
        let r = expect(&mut s, "EPSV", &[229]).await?;
        SocketAddr::new(target.addr.ip(), epsv_port(&r.line)?)
    } else {
        send_line(s.get_mut(), "PASV").await?;
        let r = expect(&mut s, "PASV", &[227]).await?;
        SocketAddr::new(target.addr.ip(), pasv_port(&r.line)?)
    };
    let data_target = Target {
        addr: data_addr,
        bind: target.bind.map(|b| SocketAddr::new(b.ip(), 0)),
        ..target.clone()
    };
    let mut data: TcpStream = tcp_connect(&data_target)
        .await
        .map_err(|e| format!("FTP data connection: {e}"))?;
    send_line(s.get_mut(), &format!("RETR {file}")).await?;
    expect(&mut s, "RETR", &[125, 150]).await?;
    let mut content = Vec::new();
    (&mut data)
        .take(MAX_CONTENT)
        .read_to_end(&mut content)
        .await
        .map_err(|e| format!("FTP RETR {file}: {}", describe(&e)))?;
    expect(&mut s, "RETR", &[226, 250]).await?;
    let _ = send_line(s.get_mut(), "QUIT").await;
    match receive {
        Some(re) if !re.is_match(&content) => Err(format!(
            "FTP RETR {file}: the file does not match receive '{}'",
            re.as_str()
        )),
        _ => Ok(()),
    }
}

/// The port of `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`.
fn pasv_port(line: &str) -> Result<u16, String> {
    let bad = || format!("FTP PASV: bad reply {}", shown(line));
    let start = line[3..]
        .find(|c: char| c.is_ascii_digit())
        .map(|i| i + 3)
        .ok_or_else(bad)?;
    let numbers: Vec<u16> = line[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .take(6)
        .map(|w| w.parse::<u16>().ok().filter(|&n| n <= 255))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    match numbers.as_slice() {
        [_, _, _, _, p1, p2] => Ok(p1 * 256 + p2),
        _ => Err(bad()),
    }
}

/// The port of `229 Entering Extended Passive Mode (|||port|)`.
fn epsv_port(line: &str) -> Result<u16, String> {
    let bad = || format!("FTP EPSV: bad reply {}", shown(line));
    let open = line.find('(').ok_or_else(bad)?;
    let inner = &line[open + 1..];
    let close = inner.find(')').ok_or_else(bad)?;
    inner[..close]
        .split('|')
        .find(|w| !w.is_empty())
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|&p| p > 0)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_ports() {
        assert_eq!(
            pasv_port("227 Entering Passive Mode (127,0,0,1,195,80)."),
            Ok(195 * 256 + 80)
        );
        assert_eq!(pasv_port("227 =127,0,0,1,4,1"), Ok(1025));
        assert!(pasv_port("227 Entering Passive Mode (127,0,0,1,300,1)").is_err());
        assert!(pasv_port("227 nothing").is_err());
        assert_eq!(
            epsv_port("229 Entering Extended Passive Mode (|||6446|)"),
            Ok(6446)
        );
        assert!(epsv_port("229 Entering Extended Passive Mode (|||0|)").is_err());
        assert!(epsv_port("229 oops").is_err());
    }
}
