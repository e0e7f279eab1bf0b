//! ldirectord.cf (`spec/keepalived.md` Part B) into a [`Draft`], the same
//! model keepalived.conf gives.
//!
//! Contract, ldirectord's behaviour unless noted:
//! - `key = value` lines; a `virtual=`/`virtual6=` line starts a section
//!   that every following line indented by a tab or at least 4 spaces
//!   belongs to; `#` starts a comment outside double quotes;
//! - an unknown directive is an error (`Unknown command 'foo'`), as are the
//!   deprecated `timeout`/`connecttimeout`, a boolean other than `yes`/`no`,
//!   a malformed number or address, a `service=` ldirectord does not know,
//!   and a line indented by 1 to 3 spaces;
//! - names are resolved at load, as ldirectord does: host names in
//!   `virtual=`, `real=` and `fallback=` through the system resolver (the
//!   first address of the section's family), service names through
//!   `/etc/services` (`getservbyname`: the virtual's protocol for
//!   `virtual=` and `fallback=`, any protocol for `real=`); a name that
//!   does not resolve is an error at its line; `real=A->B` gives every IPv4
//!   address from A to B (IPv6 ranges are refused, as ldirectord does);
//! - mapping to keepalived's model: `checkinterval` is the checks'
//!   `delay_loop` and `delay_before_retry`; `failurecount` N is `retry`
//!   N - 1; the timeout of connect, external and ping checks is
//!   `checktimeout`, that of negotiate checks `negotiatetimeout`, each
//!   falling back to the other (the virtual's own first, then the global
//!   ones, then 5 s and 30 s); `quiescent=yes` (the default) is
//!   `inhibit_on_failure`; `fallback` is the sorry server (quorum 1: it
//!   comes in when every real server is down); `checktype=connect` is a
//!   TCP_CHECK (a UDP_CHECK for UDP), `external` a MISC_CHECK running
//!   `checkcommand VIP VPORT RIP RPORT`, `ping` a PING_CHECK, `on` no check;
//! - `checktype=negotiate` by `service`: http/https an HTTP_GET/SSL_GET
//!   (`request` the URL path, `receive` its regex; with `httpmethod=HEAD`
//!   a HEAD negotiate check), smtp and submission an SMTP_CHECK, and ftp,
//!   pop, pops, imap, imaps, nntp, sip and dns a NEGOTIATE_CHECK (the probes
//!   of [`crate::health::negotiate`], with `login`/`passwd`, `request` and
//!   `receive`);
//! - **decisions** where rvs has no equivalent (each warns): a negotiate
//!   check of a service that needs a database or directory client (ldap,
//!   ldaps, mysql, pgsql, oracle, radius), or of http_proxy or simpletcp,
//!   becomes a connect check; `checktype=N` becomes the negotiate check
//!   alone; `checktype=off` leaves the real servers out (ldirectord never
//!   activates them); a DNS check without `receive` warns that it never
//!   succeeds (as in ldirectord); directives about ldirectord's own process
//!   (`autoreload`, `logfile`, `fork`, `supervised`, `cleanstop`) are
//!   accepted silently; alerting and hook directives (`emailalert*`,
//!   `callback`, `fallbackcommand`, `maintenancedir`, `execute` ...) warn
//!   that rvs does not support them.
//!
//! The lines are read here; `names` holds the service names and ports,
//! `services` builds the virtual services from what the lines said.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::draft::Positions;
use super::draft::{Draft, ForwardName, Granularity, GroupMember};
use super::error::{ConfigError, Position, Warning};
use super::forms::parse_timer;
use names::Names;
use names::SERVICES;
use services::{build, Common, Fallback, Real, Virtual};

mod names;
mod services;

/// Read `path` into a draft and its positions.
pub fn parse_file(
    path: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<(Draft, Positions), ConfigError> {
    let file: Arc<Path> = Arc::from(path);
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigError::new(Position::whole(file.clone()), format!("cannot read: {e}"))
    })?;
    parse_text(&String::from_utf8_lossy(&bytes), path, warnings)
}

struct Line<'a> {
    key: &'a str,
    value: String,
    key_pos: Position,
    value_pos: Position,
}

/// Read `text`, the contents of `path`.
pub fn parse_text(
    text: &str,
    path: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<(Draft, Positions), ConfigError> {
    let file: Arc<Path> = Arc::from(path);
    let names = Names::load();
    let mut global = Common::default();
    let mut virtuals: Vec<Virtual> = Vec::new();
    let mut in_section = false;
    for (n, raw) in text.split('\n').enumerate() {
        let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let content = strip_comment(raw);
        if content.trim().is_empty() {
            continue;
        }
        let indent_chars = raw.chars().take_while(|c| *c == ' ' || *c == '\t').count();
        let indent: String = raw.chars().take(indent_chars).collect();
        let indented = indent.contains('\t') || indent.len() >= 4;
        let at = |col: usize| Position::new(file.clone(), line_no, to_u32(col + 1));
        if !indent.is_empty() && !indented {
            return Err(ConfigError::new(
                at(0),
                "a virtual's directives are indented by a tab or at least 4 spaces",
            ));
        }
        let body = &content[indent.len()..];
        let Some((key, value)) = body.split_once('=') else {
            return Err(ConfigError::new(
                at(indent_chars),
                format!("Unknown command '{}': expected key=value", body.trim()),
            ));
        };
        let key_trim = key.trim();
        let value_offset = indent_chars + key.chars().count() + 1;
        let value_lead = value.chars().take_while(|c| c.is_whitespace()).count();
        let line = Line {
            key: key_trim,
            value: unquote(value.trim()),
            key_pos: at(indent_chars),
            value_pos: at(value_offset + value_lead),
        };
        if indented {
            if !in_section {
                return Err(ConfigError::new(
                    line.key_pos,
                    "an indented directive outside a virtual section",
                ));
            }
            if let Some(v) = virtuals.last_mut() {
                virtual_line(v, &line, &names, warnings)?;
            }
            continue;
        }
        in_section = false;
        match line.key {
            "virtual" | "virtual6" => {
                let v = start_virtual(&line, line.key == "virtual6")?;
                virtuals.push(v);
                in_section = true;
            }
            _ => global_line(&mut global, &line, warnings)?,
        }
    }
    build(&file, &global, &virtuals, &names, warnings)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The line up to a `#` outside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

fn bad(line: &Line<'_>, what: &str) -> ConfigError {
    ConfigError::new(
        line.value_pos.clone(),
        format!("{}: '{}' is not {what}", line.key, line.value),
    )
}

fn yes_no(line: &Line<'_>) -> Result<bool, ConfigError> {
    match line.value.as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(bad(line, "yes or no")),
    }
}

fn seconds(line: &Line<'_>) -> Result<Duration, ConfigError> {
    parse_timer(&line.value).ok_or_else(|| bad(line, "a number of seconds"))
}

fn count(line: &Line<'_>) -> Result<u32, ConfigError> {
    line.value
        .parse::<u32>()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| bad(line, "a number from 1"))
}

/// `host[:port] [gate|masq|ipip]` of a fallback (`[IPv6][:port] ...`):
/// split now, resolved with the virtual's protocol.
fn fallback(line: &Line<'_>, v6: bool) -> Result<Fallback, ConfigError> {
    let mut words = line.value.split_whitespace();
    let addr = words.next().ok_or_else(|| bad(line, "an address"))?;
    let (host, port) =
        split_host_port(addr, v6).map_err(|e| ConfigError::new(line.value_pos.clone(), e))?;
    let forward = match words.next() {
        None => ForwardName::Route,
        Some(m) => method(m).ok_or_else(|| {
            ConfigError::new(
                line.value_pos.clone(),
                "forward method must be gate, masq or ipip",
            )
        })?,
    };
    if words.next().is_some() {
        return Err(bad(line, "host[:port] [gate|masq|ipip]"));
    }
    Ok(Fallback {
        host: host.to_string(),
        port: port.map(str::to_string),
        forward,
        v6,
        key_pos: line.key_pos.clone(),
        value_pos: line.value_pos.clone(),
    })
}

fn method(word: &str) -> Option<ForwardName> {
    match word {
        "gate" => Some(ForwardName::Route),
        "masq" => Some(ForwardName::Masq),
        "ipip" => Some(ForwardName::Tunnel),
        _ => None,
    }
}

/// `host[:port]` (`[IPv6][:port]` when `v6`) into its host and port texts.
fn split_host_port(text: &str, v6: bool) -> Result<(&str, Option<&str>), String> {
    if v6 {
        let bad = || format!("'{text}' is not [IPv6 address][:port]");
        let rest = text.strip_prefix('[').ok_or_else(bad)?;
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) if !p.is_empty() => Some(p),
            None if after.is_empty() => None,
            _ => return Err(bad()),
        };
        return Ok((h, port));
    }
    if text.starts_with('[') {
        return Err(format!(
            "'{text}': cannot specify an IPv6 address here - use virtual6/real6/fallback6"
        ));
    }
    Ok(match text.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (text, None),
    })
}

/// A directive both global and per virtual; `Ok(false)` if `line` is not one.
fn common_line(
    c: &mut Common,
    line: &Line<'_>,
    virtual_v6: Option<bool>,
) -> Result<bool, ConfigError> {
    match line.key {
        "checktimeout" => c.checktimeout = Some(seconds(line)?),
        "negotiatetimeout" => c.negotiatetimeout = Some(seconds(line)?),
        "checkinterval" => c.checkinterval = Some(seconds(line)?),
        "failurecount" => c.failurecount = Some(count(line)?),
        "quiescent" => c.quiescent = Some(yes_no(line)?),
        "fallback" | "fallback6" => {
            let ipv6 = line.key == "fallback6";
            match virtual_v6 {
                Some(v6) if v6 != ipv6 => {
                    return Err(ConfigError::new(
                        line.key_pos.clone(),
                        format!(
                            "cannot specify \"{}\" here - use \"fallback{}\"",
                            line.key,
                            if v6 { "6" } else { "" }
                        ),
                    ))
                }
                Some(_) => c.fallback = Some(fallback(line, ipv6)?),
                None if ipv6 => c.fallback6 = Some(fallback(line, true)?),
                None => c.fallback = Some(fallback(line, false)?),
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Directives ldirectord has that rvs does not act on: silently accepted
/// (its process) or warned about (alerts and hooks).
fn ignored_line(line: &Line<'_>, warnings: &mut Vec<Warning>) -> Result<bool, ConfigError> {
    match line.key {
        "autoreload" | "supervised" | "fork" | "cleanstop" => {
            yes_no(line)?;
        }
        "logfile" | "comment" | "servicename" | "database" | "secret" => {}
        "checkcount" => warnings.push(Warning::new(
            line.key_pos.clone(),
            "checkcount is deprecated - ignoring",
        )),
        "callback" | "fallbackcommand" | "readdquiescent" | "emailalert" | "emailalertfreq"
        | "emailalertstatus" | "emailalertfrom" | "smtp" | "maintenancedir" | "execute"
        | "monitorfile" => warnings.push(Warning::new(
            line.key_pos.clone(),
            format!("{} is not supported by rvs - ignoring", line.key),
        )),
        "timeout" | "connecttimeout" => {
            return Err(ConfigError::new(
                line.key_pos.clone(),
                format!(
                    "{} is deprecated - use checktimeout and negotiatetimeout",
                    line.key
                ),
            ))
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn unknown(line: &Line<'_>) -> ConfigError {
    ConfigError::new(
        line.key_pos.clone(),
        format!("Unknown command '{}'", line.key),
    )
}

fn global_line(
    c: &mut Common,
    line: &Line<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    if common_line(c, line, None)? || ignored_line(line, warnings)? {
        return Ok(());
    }
    Err(unknown(line))
}

fn start_virtual(line: &Line<'_>, v6: bool) -> Result<Virtual, ConfigError> {
    let (spec, fwmark) = if !line.value.is_empty() && line.value.chars().all(|c| c.is_ascii_digit())
    {
        let mark = line
            .value
            .parse::<u32>()
            .ok()
            .filter(|&m| m > 0)
            .ok_or_else(|| bad(line, "a firewall mark"))?;
        (None, Some(mark))
    } else {
        let (host, port) = split_host_port(&line.value, v6)
            .map_err(|e| ConfigError::new(line.value_pos.clone(), e))?;
        let port = port.ok_or_else(|| bad(line, "host:port"))?;
        (
            Some((host.to_string(), port.to_string(), line.value_pos.clone())),
            None,
        )
    };
    Ok(Virtual {
        pos: line.key_pos.clone(),
        spec,
        v6,
        fwmark,
        reals: Vec::new(),
        common: Common::default(),
        scheduler: None,
        persistent: None,
        netmask: None,
        protocol: None,
        checktype: None,
        service: None,
        checkport: None,
        request: None,
        receive: None,
        httpmethod: None,
        virtualhost: None,
        checkcommand: None,
        login: None,
        passwd: None,
        ops: None,
    })
}

fn virtual_line(
    v: &mut Virtual,
    line: &Line<'_>,
    names: &Names,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    if common_line(&mut v.common, line, Some(v.v6))? {
        return Ok(());
    }
    match line.key {
        "real" | "real6" => {
            if (line.key == "real6") != v.v6 {
                return Err(ConfigError::new(
                    line.key_pos.clone(),
                    format!(
                        "cannot specify \"{}\" here - use \"real{}\"",
                        line.key,
                        if v.v6 { "6" } else { "" }
                    ),
                ));
            }
            let reals = real(line, v.v6, names)?;
            v.reals.extend(reals);
        }
        "scheduler" => {
            if line.value.is_empty() || !line.value.chars().all(|c| c.is_ascii_lowercase()) {
                return Err(bad(line, "a scheduler name"));
            }
            v.scheduler = Some(line.value.clone());
        }
        "persistent" => {
            v.persistent = Some(
                line.value
                    .parse::<u32>()
                    .ok()
                    .filter(|&t| t >= 1)
                    .ok_or_else(|| bad(line, "a number of seconds"))?,
            );
        }
        "netmask" => {
            v.netmask = Some(
                line.value
                    .parse::<Granularity>()
                    .map_err(|_| bad(line, "a netmask"))?,
            );
        }
        "protocol" => v.protocol = Some((line.value.clone(), line.value_pos.clone())),
        "checktype" => v.checktype = Some((line.value.clone(), line.value_pos.clone())),
        "service" => {
            if !SERVICES.contains(&line.value.as_str()) {
                return Err(ConfigError::new(
                    line.value_pos.clone(),
                    format!(
                        "service must be dns, ftp, http, https, http_proxy, imap, imaps, ldap, ldaps, mysql, nntp, none, oracle, pop, pops, radius, pgsql, simpletcp, sip, smtp or submission (not '{}')",
                        line.value
                    ),
                ));
            }
            v.service = Some((line.value.clone(), line.value_pos.clone()));
        }
        "checkport" => {
            v.checkport = Some(
                line.value
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p >= 1)
                    .ok_or_else(|| bad(line, "a port 1..65535"))?,
            );
        }
        "request" => v.request = Some(line.value.clone()),
        "receive" => v.receive = Some(line.value.clone()),
        "httpmethod" => match line.value.to_ascii_uppercase().as_str() {
            m @ ("GET" | "HEAD") => {
                v.httpmethod = Some((m.to_string(), line.value_pos.clone()));
            }
            _ => return Err(bad(line, "GET or HEAD")),
        },
        "virtualhost" => v.virtualhost = Some(line.value.clone()),
        "checkcommand" => v.checkcommand = Some(line.value.clone()),
        "login" => v.login = Some(line.value.clone()),
        "passwd" => v.passwd = Some(line.value.clone()),
        "ops" => v.ops = Some(yes_no(line)?),
        _ if ignored_line(line, warnings)? => {}
        _ => return Err(unknown(line)),
    }
    Ok(())
}

/// The most real servers one `real=A->B` line gives.
const RANGE_MAX: u32 = 65_536;

/// `real = host[->host2][:port] gate|masq|ipip [weight] ["request",
/// "receive"] [l:N] [u:N]`, names resolved, ranges expanded.
fn real(line: &Line<'_>, v6: bool, names: &Names) -> Result<Vec<Real>, ConfigError> {
    let words = real_words(&line.value).ok_or_else(|| bad(line, "a real server"))?;
    let mut it = words.iter();
    let addr = it.next().ok_or_else(|| bad(line, "a real server"))?;
    let at = |e: String| ConfigError::new(line.value_pos.clone(), e);
    // The port follows the last host: after `]` for IPv6.
    let (range, port_text) = match addr.rsplit_once(':') {
        Some((r, p)) if !v6 || r.ends_with(']') => (r, Some(p)),
        _ => (addr.as_str(), None),
    };
    let (first, last) = match range.split_once("->") {
        Some((a, b)) => (a, Some(b)),
        None => (range, None),
    };
    let first = names
        .host(first, v6)
        .map_err(|e| at(format!("invalid address for real server: {e}")))?;
    let last = match last {
        Some(l) => Some(
            names
                .host(l, v6)
                .map_err(|e| at(format!("invalid end address for real server: {e}")))?,
        ),
        None => None,
    };
    let port = match port_text {
        None => None,
        Some(p) => Some(
            names
                .port(p, None)
                .map_err(|e| at(format!("invalid port for real server: {e}")))?,
        ),
    };
    let forward = it
        .next()
        .and_then(|m| method(m))
        .ok_or_else(|| at("forward method must be gate, masq or ipip".to_string()))?;
    let mut real = Real {
        ip: first,
        port,
        forward,
        weight: 1,
        request: None,
        receive: None,
        l_threshold: None,
        u_threshold: None,
        pos: line.key_pos.clone(),
    };
    let mut quoted = Vec::new();
    for w in it {
        if let Some(q) = w.strip_prefix('\u{0}') {
            quoted.push(q.to_string());
        } else if let Some(n) = w.strip_prefix("l:") {
            real.l_threshold = Some(n.parse().map_err(|_| bad(line, "a real server"))?);
        } else if let Some(n) = w.strip_prefix("u:") {
            real.u_threshold = Some(n.parse().map_err(|_| bad(line, "a real server"))?);
        } else {
            real.weight = w.parse().map_err(|_| bad(line, "a real server"))?;
        }
    }
    match quoted.as_slice() {
        [] => {}
        [req, rec] => {
            real.request = Some(if req.starts_with('/') {
                req.clone()
            } else {
                format!("/{req}")
            });
            real.receive = Some(rec.clone());
        }
        _ => {
            return Err(bad(
                line,
                "a real server (\"request\", \"receive\" go together)",
            ))
        }
    }
    let Some(last) = last else {
        return Ok(vec![real]);
    };
    let (IpAddr::V4(a), IpAddr::V4(b)) = (first, last) else {
        return Err(at(
            "an address range of IPv6 real servers is not supported (nor by ldirectord)"
                .to_string(),
        ));
    };
    let (a, b) = (u32::from(a), u32::from(b));
    if a > b {
        return Err(at(format!(
            "invalid range {first}->{last}: the first address must not be above the last"
        )));
    }
    if b - a >= RANGE_MAX {
        return Err(at(format!(
            "range {first}->{last} has more than {RANGE_MAX} addresses"
        )));
    }
    Ok(GroupMember::addrs(first, last)
        .into_iter()
        .map(|ip| Real { ip, ..real.clone() })
        .collect())
}

/// The words of a real line: blanks and commas separate, a `"…"` word is
/// kept whole and marked with a leading NUL.
fn real_words(value: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || c == ',' {
            chars.next();
            continue;
        }
        if c == '"' {
            chars.next();
            let mut w = String::from('\u{0}');
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => w.push(c),
                    None => return None,
                }
            }
            out.push(w);
            continue;
        }
        let mut w = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == ',' || c == '"' {
                break;
            }
            w.push(c);
            chars.next();
        }
        out.push(w);
    }
    Some(out)
}

/// Whether `text` looks like an ldirectord.cf: its first directive is a
/// `key=value` line.
pub fn sniff(text: &str) -> bool {
    text.lines()
        .map(strip_comment)
        .map(str::trim)
        .find(|l| !l.is_empty())
        .is_some_and(|l| {
            l.split_once('=').is_some_and(|(k, _)| {
                let k = k.trim();
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
}
