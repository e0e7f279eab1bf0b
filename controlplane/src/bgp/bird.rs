//! A client of BIRD's control socket (the protocol `birdc` speaks).
//!
//! rvs talks to the socket itself rather than running `birdc -s SOCKET`:
//! no process per reconcile, a bounded wait (every read and write times
//! out), and BIRD's reply codes read as they are sent instead of parsed
//! out of `birdc`'s output.
//!
//! The protocol: BIRD greets with `0001 ...`; each command is one line;
//! each reply line is `DDDD-text` (more follow), `DDDD text` (the last
//! one) or ` text` (a continuation of the previous code). Codes 8xxx and
//! 9xxx are errors (run-time and parse), the others success or data.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long one read or write on the socket may wait.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// The longest reply read (`show protocols` of a few sessions is far below).
const MAX_REPLY: u64 = 1 << 20;

/// One line of a reply: its code (the previous line's for a continuation)
/// and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub code: u16,
    pub text: String,
}

/// Run `command` on the BIRD at `socket`: its reply lines, or the error
/// (the socket, or BIRD's own error line).
pub fn command(socket: &Path, command: &str) -> Result<Vec<Line>, String> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| format!("cannot connect to BIRD's socket {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| format!("BIRD's socket {}: {e}", socket.display()))?;
    let mut reader = BufReader::new(std::io::Read::take(
        stream
            .try_clone()
            .map_err(|e| format!("BIRD's socket: {e}"))?,
        MAX_REPLY,
    ));
    let greeting = read_reply(&mut reader).map_err(|e| format!("BIRD's greeting: {e}"))?;
    if greeting.last().map(|l| l.code) != Some(1) {
        return Err(format!("unexpected greeting from BIRD: {greeting:?}"));
    }
    (&stream)
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|e| format!("cannot send '{command}' to BIRD: {e}"))?;
    let reply = read_reply(&mut reader).map_err(|e| format!("BIRD's reply to '{command}': {e}"))?;
    match reply.iter().find(|l| l.code >= 8000) {
        Some(bad) => Err(format!("BIRD refused '{command}': {}", bad.text)),
        None => Ok(reply),
    }
}

/// The lines up to and with the last one of a reply.
fn read_reply(reader: &mut impl BufRead) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    let mut code = 0u16;
    loop {
        let mut raw = String::new();
        let n = reader.read_line(&mut raw).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the socket closed mid-reply".into());
        }
        let raw = raw.trim_end_matches(['\n', '\r']);
        if let Some(rest) = raw.strip_prefix(' ') {
            lines.push(Line {
                code,
                text: rest.to_string(),
            });
            continue;
        }
        let (digits, rest) = raw.split_at(raw.len().min(4));
        code = match digits.parse::<u16>() {
            Ok(c) if digits.len() == 4 => c,
            _ => return Err(format!("not a BIRD reply line: '{raw}'")),
        };
        let (sep, text) = rest.split_at(rest.len().min(1));
        lines.push(Line {
            code,
            text: text.to_string(),
        });
        match sep {
            "-" => {}
            " " | "" => return Ok(lines),
            _ => return Err(format!("not a BIRD reply line: '{raw}'")),
        }
    }
}

/// The state of each protocol in a `show protocols` reply: (name, up).
/// A BGP protocol is up when its state is `up` (BIRD's `Established`).
pub fn protocols(reply: &[Line]) -> Vec<(String, bool)> {
    reply
        .iter()
        .filter(|l| l.code == 1002)
        .filter_map(|l| {
            let mut w = l.text.split_whitespace();
            let name = w.next()?;
            let (_proto, _table, state) = (w.next()?, w.next()?, w.next()?);
            Some((name.to_string(), state == "up"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_protocols() {
        let text = "2002-Name       Proto      Table      State  Since         Info\n\
                    1002-device1    Device     ---        up     23:17:44.103  \n \
                    rvs_bgp1   BGP        ---        up     23:17:44.103  Established\n \
                    rvs_bgp2   BGP        ---        start  23:17:44.103  Active        Socket: Connection refused\n\
                    0000 \n";
        let reply = read_reply(&mut text.as_bytes()).expect("reads");
        assert_eq!(reply.len(), 5);
        assert_eq!(reply[2].code, 1002, "a continuation keeps its code");
        assert_eq!(
            protocols(&reply),
            vec![
                ("device1".to_string(), true),
                ("rvs_bgp1".to_string(), true),
                ("rvs_bgp2".to_string(), false)
            ]
        );
        let bad = read_reply(&mut "8002 /etc/bird/rvs.conf:1:44 syntax error\n".as_bytes())
            .expect("reads");
        assert_eq!(bad[0].code, 8002);
        assert!(read_reply(&mut "garbage\n".as_bytes()).is_err());
        assert!(read_reply(&mut "0002-half".as_bytes()).is_err());
    }
}
