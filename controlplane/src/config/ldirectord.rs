//! ldirectord.cf (`spec/keepalived.md` Part B) into a [`Draft`], the same
//! model keepalived.conf gives.
//!
//! Contract, ldirectord's behaviour unless noted:
//! - `key = value` lines; a `virtual=`/`virtual6=` line starts a section
//!   that every following line indented by a tab or at least 4 spaces
//!   belongs to; `#` starts a comment outside double quotes;
//! - an unknown directive is an error (`Unknown command 'foo'`), as are the
//!   deprecated `timeout`/`connecttimeout`, a boolean other than `yes`/`no`,
//!   a malformed number or address, and a line indented by 1 to 3 spaces;
//! - mapping to keepalived's model: `checkinterval` is the checks'
//!   `delay_loop` and `delay_before_retry`; `failurecount` N is `retry`
//!   N - 1; `checktimeout` the connect timeout of connect, external and
//!   ping checks, `negotiatetimeout` that of negotiate checks;
//!   `quiescent=yes` (the default) is `inhibit_on_failure`; `fallback` is
//!   the sorry server (quorum 1: it comes in when every real server is
//!   down); `checktype=connect` is a TCP_CHECK (a UDP_CHECK for UDP),
//!   `negotiate` an HTTP_GET/SSL_GET (`request` the URL path, `receive` its
//!   regex), a DNS_CHECK (`request` the name) or an SMTP_CHECK by
//!   `service`, `external` a MISC_CHECK running `checkcommand VIP VPORT RIP
//!   RPORT`, `ping` a PING_CHECK, `on` no check;
//! - **decisions** where rvs has no equivalent (each warns): a negotiate
//!   check of another service (ftp, mysql, ...) becomes a connect check;
//!   `checktype=N` becomes the negotiate check alone; `checktype=off`
//!   leaves the real servers out (ldirectord never activates them);
//!   `httpmethod=HEAD` is sent as GET; a DNS check's `receive` is not
//!   compared; directives about ldirectord's own process (`autoreload`,
//!   `logfile`, `fork`, `supervised`, `cleanstop`) are accepted silently;
//!   alerting and hook directives (`emailalert*`, `callback`,
//!   `fallbackcommand`, `maintenancedir`, `execute` ...) warn that rvs
//!   does not support them. Host and service names are not resolved: an
//!   address must be numeric, a port numeric or one of the service names
//!   of the spec's table.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::draft::{
    AddrPort, CheckDraft, CheckKindName, DestDraft, Draft, ForwardName, Granularity, GroupMember,
    ProtocolName, ServiceDraft, SorryDraft,
};
use super::error::{ConfigError, Position, Warning};
use super::forms::parse_timer;
use super::model::{DnsType, StatusRange, Url};
use super::resolve::{Locus, Positions};

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

/// The ports of the service names ldirectord knows (`service=` defaults).
const SERVICES: &[(&str, u16)] = &[
    ("ftp", 21),
    ("smtp", 25),
    ("dns", 53),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("pop", 110),
    ("pop3", 110),
    ("nntp", 119),
    ("imap", 143),
    ("imap2", 143),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pops", 995),
    ("pop3s", 995),
    ("oracle", 1521),
    ("radius", 1812),
    ("http_proxy", 3128),
    ("mysql", 3306),
    ("sip", 5060),
    ("pgsql", 5432),
    ("postgresql", 5432),
];

/// `service=`'s default for a port.
fn service_of_port(port: u16) -> &'static str {
    match port {
        21 => "ftp",
        25 => "smtp",
        53 => "dns",
        80 => "http",
        110 => "pop",
        119 => "nntp",
        143 => "imap",
        389 => "ldap",
        443 => "https",
        587 => "submission",
        636 => "ldaps",
        993 => "imaps",
        995 => "pops",
        1521 => "oracle",
        1812 => "radius",
        3128 => "http_proxy",
        3306 => "mysql",
        5060 => "sip",
        5432 => "pgsql",
        _ => "none",
    }
}

/// Settings that a virtual section may override.
#[derive(Clone, Debug, Default)]
struct Common {
    checktimeout: Option<Duration>,
    negotiatetimeout: Option<Duration>,
    checkinterval: Option<Duration>,
    failurecount: Option<u32>,
    quiescent: Option<bool>,
    fallback: Option<(SorryDraft, Position)>,
}

/// A real server line, expanded.
#[derive(Clone, Debug)]
struct Real {
    addr: SocketAddr,
    forward: ForwardName,
    weight: u32,
    request: Option<String>,
    receive: Option<String>,
    l_threshold: Option<u32>,
    u_threshold: Option<u32>,
    pos: Position,
}

/// A `virtual=` section being read.
#[derive(Clone, Debug)]
struct Virtual {
    pos: Position,
    /// `None` for a fwmark.
    addr: Option<SocketAddr>,
    fwmark: Option<u32>,
    reals: Vec<Real>,
    common: Common,
    scheduler: Option<String>,
    persistent: Option<u32>,
    netmask: Option<Granularity>,
    protocol: Option<(String, Position)>,
    checktype: Option<(String, Position)>,
    service: Option<String>,
    checkport: Option<u16>,
    request: Option<String>,
    receive: Option<String>,
    httpmethod: Option<(String, Position)>,
    virtualhost: Option<String>,
    checkcommand: Option<String>,
    ops: Option<bool>,
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
                virtual_line(v, &line, warnings)?;
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
    build(&file, &global, &virtuals, warnings)
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

/// `IP[:port] [gate|masq|ipip]` of a fallback, or `[IPv6][:port] ...`.
fn fallback(line: &Line<'_>, v6: bool) -> Result<(SorryDraft, Position), ConfigError> {
    let mut words = line.value.split_whitespace();
    let addr = words.next().ok_or_else(|| bad(line, "an address"))?;
    let addr =
        parse_host_port(addr, v6).map_err(|e| ConfigError::new(line.value_pos.clone(), e))?;
    let forward = match words.next() {
        None => None,
        Some(m) => Some(method(m).ok_or_else(|| bad(line, "IP[:port] gate|masq|ipip"))?),
    };
    Ok((
        SorryDraft {
            address: AddrPort(SocketAddr::new(addr.0, addr.1.unwrap_or(0))),
            forward: Some(forward.unwrap_or(ForwardName::Route)),
            tunnel: None,
            inhibit: None,
        },
        line.key_pos.clone(),
    ))
}

fn method(word: &str) -> Option<ForwardName> {
    match word {
        "gate" => Some(ForwardName::Route),
        "masq" => Some(ForwardName::Masq),
        "ipip" => Some(ForwardName::Tunnel),
        _ => None,
    }
}

/// `IP[:PORT]` (`[IPv6][:PORT]` when `v6`), the port numeric or a known
/// service name.
fn parse_host_port(text: &str, v6: bool) -> Result<(IpAddr, Option<u16>), String> {
    let (host, port) = if v6 {
        let rest = text
            .strip_prefix('[')
            .ok_or_else(|| format!("'{text}' is not [IPv6 address][:port]"))?;
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("'{text}' is not [IPv6 address][:port]"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("'{text}' is not [IPv6 address][:port]")),
        };
        (h, port)
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let ip: IpAddr = host
        .parse()
        .map_err(|_| format!("'{host}' is not an IP address (rvs does not resolve host names)"))?;
    if ip.is_ipv6() != v6 {
        return Err(format!(
            "'{host}' is an IPv{} address: use {}",
            if ip.is_ipv6() { 6 } else { 4 },
            if ip.is_ipv6() {
                "virtual6/real6/fallback6"
            } else {
                "virtual/real/fallback"
            }
        ));
    }
    let port = match port {
        None => None,
        Some(p) => Some(match p.parse::<u16>() {
            Ok(n) => n,
            Err(_) => SERVICES
                .iter()
                .find(|(name, _)| *name == p)
                .map(|(_, n)| *n)
                .ok_or_else(|| format!("'{p}' is not a port"))?,
        }),
    };
    Ok((ip, port))
}

/// A directive both global and per virtual; `Ok(false)` if `line` is not one.
fn common_line(c: &mut Common, line: &Line<'_>, v6: bool) -> Result<bool, ConfigError> {
    match line.key {
        "checktimeout" => c.checktimeout = Some(seconds(line)?),
        "negotiatetimeout" => c.negotiatetimeout = Some(seconds(line)?),
        "checkinterval" => c.checkinterval = Some(seconds(line)?),
        "failurecount" => c.failurecount = Some(count(line)?),
        "quiescent" => c.quiescent = Some(yes_no(line)?),
        "fallback" | "fallback6" => {
            let ipv6 = line.key == "fallback6";
            if v6 && !ipv6 {
                return Err(ConfigError::new(
                    line.key_pos.clone(),
                    "an IPv6 virtual takes fallback6",
                ));
            }
            c.fallback = Some(fallback(line, ipv6)?);
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
        "logfile" | "comment" | "servicename" | "login" | "passwd" | "database" | "secret" => {}
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
    if common_line(c, line, false)? || ignored_line(line, warnings)? {
        return Ok(());
    }
    Err(unknown(line))
}

fn start_virtual(line: &Line<'_>, v6: bool) -> Result<Virtual, ConfigError> {
    let (addr, fwmark) = if !line.value.is_empty() && line.value.chars().all(|c| c.is_ascii_digit())
    {
        let mark = line
            .value
            .parse::<u32>()
            .ok()
            .filter(|&m| m > 0)
            .ok_or_else(|| bad(line, "a firewall mark"))?;
        (None, Some(mark))
    } else {
        let (ip, port) = parse_host_port(&line.value, v6)
            .map_err(|e| ConfigError::new(line.value_pos.clone(), e))?;
        let port = port.ok_or_else(|| bad(line, "IP:port"))?;
        (Some(SocketAddr::new(ip, port)), None)
    };
    Ok(Virtual {
        pos: line.key_pos.clone(),
        addr,
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
        ops: None,
    })
}

fn virtual_line(
    v: &mut Virtual,
    line: &Line<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    let v6 = v.addr.is_some_and(|a| a.is_ipv6());
    if common_line(&mut v.common, line, v6)? {
        return Ok(());
    }
    match line.key {
        "real" | "real6" => {
            let reals = real(v, line, line.key == "real6")?;
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
        "service" => v.service = Some(line.value.clone()),
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
        "httpmethod" => match line.value.as_str() {
            "GET" | "HEAD" => v.httpmethod = Some((line.value.clone(), line.value_pos.clone())),
            _ => return Err(bad(line, "GET or HEAD")),
        },
        "virtualhost" => v.virtualhost = Some(line.value.clone()),
        "checkcommand" => v.checkcommand = Some(line.value.clone()),
        "ops" => v.ops = Some(yes_no(line)?),
        _ if ignored_line(line, warnings)? => {}
        _ => return Err(unknown(line)),
    }
    Ok(())
}

/// `real = IP[->IP2][:port] gate|masq|ipip [weight] ["request", "receive"]
/// [l:N] [u:N]`, ranges expanded.
fn real(v: &Virtual, line: &Line<'_>, v6: bool) -> Result<Vec<Real>, ConfigError> {
    let words = real_words(&line.value).ok_or_else(|| bad(line, "a real server"))?;
    let mut it = words.iter();
    let addr = it.next().ok_or_else(|| bad(line, "a real server"))?;
    let (range, port_text) = match addr.rsplit_once(':') {
        Some((r, p)) if !v6 || r.ends_with(']') => (r, Some(p)),
        _ => (addr.as_str(), None),
    };
    let (first, last) = match range.split_once("->") {
        Some((a, b)) => (a, b),
        None => (range, range),
    };
    let host = |h: &str| -> Result<IpAddr, ConfigError> {
        let h = if v6 {
            h.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(h)
        } else {
            h
        };
        let ip: IpAddr = h.parse().map_err(|_| {
            ConfigError::new(
                line.value_pos.clone(),
                format!("invalid real server address '{h}' (rvs does not resolve host names)"),
            )
        })?;
        if ip.is_ipv6() != v6 {
            return Err(ConfigError::new(
                line.value_pos.clone(),
                format!("'{h}' is not an IPv{} address", if v6 { 6 } else { 4 }),
            ));
        }
        Ok(ip)
    };
    let first = host(first)?;
    let last = host(last)?;
    let port = match port_text {
        None => None,
        Some(p) => Some(
            parse_host_port(&format!("0.0.0.0:{p}"), false)
                .map_err(|e| ConfigError::new(line.value_pos.clone(), e))?
                .1
                .unwrap_or(0),
        ),
    };
    let forward = it
        .next()
        .and_then(|m| method(m))
        .ok_or_else(|| bad(line, "IP[:port] gate|masq|ipip [weight]"))?;
    let vport = v.addr.map_or(0, |a| a.port());
    // Only NAT maps ports: other methods (and no port at all) take the
    // virtual's.
    let port = match (forward, port) {
        (ForwardName::Masq, Some(p)) => p,
        _ => vport,
    };
    let mut real = Real {
        addr: SocketAddr::new(first, port),
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
            real.request = Some(req.clone());
            real.receive = Some(rec.clone());
        }
        _ => {
            return Err(bad(
                line,
                "a real server (\"request\", \"receive\" go together)",
            ))
        }
    }
    let addrs = GroupMember::addrs(first, last);
    if addrs.is_empty() || addrs.len() > 65_536 {
        return Err(bad(line, "an address range"));
    }
    Ok(addrs
        .into_iter()
        .map(|a| Real {
            addr: SocketAddr::new(a, port),
            ..real.clone()
        })
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

fn build(
    file: &Arc<Path>,
    global: &Common,
    virtuals: &[Virtual],
    warnings: &mut Vec<Warning>,
) -> Result<(Draft, Positions), ConfigError> {
    let mut draft = Draft::default();
    let mut pos = Positions::new(Position::whole(file.clone()));
    for (i, v) in virtuals.iter().enumerate() {
        pos.set(Locus::Service(i), v.pos.clone());
        let mut s = ServiceDraft::default();
        let default_protocol = match (v.addr, v.fwmark) {
            (_, Some(_)) => "fwm",
            (Some(a), None) if a.port() == 53 => "udp",
            _ => "tcp",
        };
        let protocol = v
            .protocol
            .as_ref()
            .map_or(default_protocol, |(p, _)| p.as_str());
        let proto_err = |what: &str| {
            let at = v
                .protocol
                .as_ref()
                .map_or(v.pos.clone(), |(_, p)| p.clone());
            ConfigError::new(at, what.to_string())
        };
        match (v.fwmark, protocol) {
            (Some(m), "fwm") => s.fwmark = Some(m),
            (Some(_), _) => return Err(proto_err("protocol of a fwmark virtual must be fwm")),
            (None, "tcp" | "udp") => {
                s.address = v.addr.map(AddrPort);
                s.protocol = Some(if protocol == "tcp" {
                    ProtocolName::Tcp
                } else {
                    ProtocolName::Udp
                });
            }
            (None, "fwm") => return Err(proto_err("protocol fwm needs a fwmark virtual")),
            (None, other) => {
                return Err(proto_err(&format!(
                    "protocol '{other}' is not tcp, udp or fwm"
                )))
            }
        }
        s.scheduler = Some(v.scheduler.clone().unwrap_or_else(|| "wrr".to_string()));
        s.persistence_timeout = v.persistent;
        s.persistence_netmask = v.netmask;
        s.one_packet = v.ops;
        s.forward = Some(ForwardName::Route);
        s.quorum = Some(1);
        s.hysteresis = Some(0);
        let common = |f: fn(&Common) -> Option<Duration>| f(&v.common).or(f(global));
        let interval = common(|c| c.checkinterval).unwrap_or(Duration::from_secs(10));
        let negotiate_timeout = common(|c| c.negotiatetimeout);
        let check_timeout = common(|c| c.checktimeout)
            .or(negotiate_timeout)
            .unwrap_or(Duration::from_secs(5));
        let negotiate_timeout = negotiate_timeout.unwrap_or(Duration::from_secs(30));
        let failures = v.common.failurecount.or(global.failurecount).unwrap_or(1);
        let quiescent = v.common.quiescent.or(global.quiescent).unwrap_or(true);
        s.inhibit_on_failure = Some(quiescent);
        s.delay_loop = Some(interval);
        if let Some((sorry, at)) = v.common.fallback.as_ref().or(global.fallback.as_ref()) {
            pos.set(Locus::Sorry(i), at.clone());
            let mut sorry = sorry.clone();
            if sorry.address.0.port() == 0 {
                sorry.address.0.set_port(v.addr.map_or(0, |a| a.port()));
            }
            s.sorry_server = Some(sorry);
        }
        let service = v
            .service
            .clone()
            .unwrap_or_else(|| service_of_port(v.addr.map_or(0, |a| a.port())).to_string());
        let (checktype, checktype_pos) = match &v.checktype {
            Some((t, p)) => (t.clone(), p.clone()),
            None => ("negotiate".to_string(), v.pos.clone()),
        };
        let udp = s.protocol == Some(ProtocolName::Udp);
        let kind = check_kind(&checktype, &service, udp, &checktype_pos, warnings)?;
        if let (Some(CheckKindName::HttpGet | CheckKindName::SslGet), Some((m, at))) =
            (kind, &v.httpmethod)
        {
            if m == "HEAD" {
                warnings.push(Warning::new(
                    at.clone(),
                    "httpmethod=HEAD is not supported by rvs - checks send GET",
                ));
            }
        }
        if kind == Some(CheckKindName::DnsCheck)
            && v.receive.as_deref().is_some_and(|r| !r.is_empty())
        {
            warnings.push(Warning::new(
                v.pos.clone(),
                "a DNS check's receive is not compared by rvs - the check only needs an answer",
            ));
        }
        let off = checktype == "off";
        if off {
            warnings.push(Warning::new(
                checktype_pos.clone(),
                "checktype=off: ldirectord never activates the real servers - rvs leaves them out",
            ));
        }
        for r in v.reals.iter().filter(|_| !off) {
            let j = s.dest.len();
            pos.set(Locus::Dest(i, j), r.pos.clone());
            let mut d = DestDraft::new(r.addr);
            d.forward = Some(r.forward);
            d.weight = Some(r.weight);
            d.l_threshold = r.l_threshold;
            d.u_threshold = r.u_threshold;
            if let Some(kind) = kind {
                let mut c = CheckDraft::new(kind);
                c.delay_loop = Some(interval);
                c.delay_before_retry = Some(interval);
                c.retry = Some(failures - 1);
                let negotiate = matches!(
                    kind,
                    CheckKindName::HttpGet
                        | CheckKindName::SslGet
                        | CheckKindName::DnsCheck
                        | CheckKindName::SmtpCheck
                );
                let timeout = if negotiate {
                    negotiate_timeout
                } else {
                    check_timeout
                };
                let request = r.request.clone().or_else(|| v.request.clone());
                let receive = r.receive.clone().or_else(|| v.receive.clone());
                match kind {
                    CheckKindName::MiscCheck => {
                        let cmd = v
                            .checkcommand
                            .clone()
                            .unwrap_or_else(|| "/bin/true".to_string());
                        let (vip, vport) = match (v.addr, v.fwmark) {
                            (Some(a), _) => (a.ip().to_string(), a.port()),
                            (None, m) => (m.unwrap_or(0).to_string(), 0),
                        };
                        c.misc_path = Some(format!(
                            "{cmd} {vip} {vport} {} {}",
                            r.addr.ip(),
                            r.addr.port()
                        ));
                        c.misc_timeout = Some(timeout);
                    }
                    _ => {
                        c.connect_timeout = Some(timeout);
                        c.connect_port = v.checkport;
                    }
                }
                match kind {
                    CheckKindName::HttpGet | CheckKindName::SslGet => {
                        let path = request.unwrap_or_else(|| "/".to_string());
                        let path = if path.starts_with('/') {
                            path
                        } else {
                            format!("/{path}")
                        };
                        // ldirectord wants a 2xx answer, then the regex.
                        c.url.push(Url {
                            path,
                            digest: None,
                            status_code: vec![StatusRange::SUCCESS],
                            virtualhost: None,
                            regex: receive.filter(|r| !r.is_empty()),
                        });
                        c.virtualhost = v.virtualhost.clone();
                    }
                    CheckKindName::DnsCheck => {
                        let name = request.filter(|r| !r.is_empty() && r != "/");
                        c.dns_name = Some(name.unwrap_or_else(|| ".".to_string()));
                        c.dns_type = Some(match receive.as_deref().map(str::parse::<IpAddr>) {
                            Some(Ok(IpAddr::V4(_))) => DnsType::A,
                            Some(Ok(IpAddr::V6(_))) => DnsType::Aaaa,
                            _ => DnsType::Soa,
                        });
                    }
                    _ => {}
                }
                d.check.push(c);
            }
            s.dest.push(d);
        }
        draft.services.push(s);
    }
    Ok((draft, pos))
}

/// The checker of a `checktype` for `service`; `None`: no checker.
fn check_kind(
    checktype: &str,
    service: &str,
    udp: bool,
    at: &Position,
    warnings: &mut Vec<Warning>,
) -> Result<Option<CheckKindName>, ConfigError> {
    let connect = if udp {
        CheckKindName::UdpCheck
    } else {
        CheckKindName::TcpCheck
    };
    let negotiate = |warnings: &mut Vec<Warning>| match service {
        "http" => CheckKindName::HttpGet,
        "https" => CheckKindName::SslGet,
        "dns" => CheckKindName::DnsCheck,
        "smtp" => CheckKindName::SmtpCheck,
        "none" => connect,
        other => {
            warnings.push(Warning::new(
                at.clone(),
                format!(
                    "checktype=negotiate for service={other} is not supported by rvs - using a connect check"
                ),
            ));
            connect
        }
    };
    Ok(match checktype {
        "connect" => Some(connect),
        "negotiate" => Some(negotiate(warnings)),
        "external" | "external-perl" => Some(CheckKindName::MiscCheck),
        "ping" => Some(CheckKindName::PingCheck),
        "on" | "off" => None,
        n if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
            warnings.push(Warning::new(
                at.clone(),
                format!(
                    "checktype={n} ({n} connect checks, then a negotiate check) is approximated by the negotiate check alone"
                ),
            ));
            Some(negotiate(warnings))
        }
        other => {
            return Err(ConfigError::new(
                at.clone(),
                format!("checktype: '{other}' is not connect, negotiate, external, external-perl, ping, on, off or a number"),
            ))
        }
    })
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
