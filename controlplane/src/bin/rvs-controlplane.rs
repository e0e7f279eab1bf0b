//! `rvs-controlplane`: keepalived's counterpart for rvs.
//!
//! Contract (this build):
//! - `rvs-controlplane --check --config FILE` (options in either order,
//!   `--config=FILE` too) loads and validates FILE
//!   ([`rvs_controlplane::config::load_report`]) as keepalived's `-t`:
//!   prints every warning and every error to stderr, each as
//!   `FILE:LINE:COL: message` (errors as `FILE:LINE:COL: error: message`),
//!   prints the model of what loads as native TOML to stdout, and exits 1
//!   if there was any error (0 otherwise); a file that does not load at all
//!   prints its error and exits 1;
//! - `--config-id ID` (keepalived's `-i ID`) is the id keepalived.conf's
//!   `@ID` conditional lines and `${_INSTANCE}` are read with; the default
//!   is the host name up to its first dot, as keepalived's;
//! - `rvs-controlplane genhash -s IP -p PORT -u PATH [-S] [-V HOST]
//!   [-P 1.0|1.1] [-t SECONDS]` is keepalived's `genhash`: GET the page and
//!   print `MD5SUM = <hex>`, the digest HTTP_GET's `digest` takes; exit 0,
//!   or 1 when the page cannot be fetched;
//! - `rvs-controlplane --drain on|off|config --config FILE` sets the
//!   drain of the director whose daemon runs FILE (its `bgp` block): `on`
//!   withdraws every VIP, `off` announces them again whatever the block's
//!   `drain` says, `config` goes back to the block's `drain`. It writes the
//!   state file [`rvs_controlplane::bgp::drain_file`], which the running
//!   daemon reads every 100 ms; exit 0, or 1 when FILE has no usable `bgp`
//!   block or the file cannot be written;
//! - `-h`/`--help` prints the usage to stdout and exits 0;
//! - `rvs-controlplane --config FILE [--metrics ADDR] [--socket PATH]
//!   [--log-format text|json] [--config-id ID]` runs the daemon
//!   ([`rvs_controlplane::daemon`]): a FILE that does not load at all exits
//!   1 at start, and on SIGHUP keeps the running configuration; a FILE with
//!   items in error loads the rest (keepalived.conf), each item left out
//!   logged at error level; SIGTERM/SIGINT exit 0;
//! - any other command line prints the problem and the usage to stderr and
//!   exits 2.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use rvs_controlplane::config;

/// Exit status of a configuration that does not load.
const EXIT_CONFIG: u8 = 1;
/// Exit status of a refused command line (and of what this build cannot do).
const EXIT_USAGE: u8 = 2;

const USAGE: &str = "\
Usage:
  rvs-controlplane --check --config FILE [--config-id ID]
                                           validate FILE: print every error and
                                           warning, the model as TOML; exit 1 on
                                           any error
  rvs-controlplane --config FILE [--metrics ADDR:PORT] [--socket PATH]
                   [--log-format text|json] [--config-id ID]
                                           run the daemon: keep the dataplane as
                                           FILE says (SIGHUP re-reads it), serve
                                           /metrics on ADDR:PORT
  rvs-controlplane --drain on|off|config --config FILE [--config-id ID]
                                           drain the director running FILE:
                                           withdraw (on) or announce (off) its
                                           VIPs' BGP routes; config: as FILE's
                                           bgp block says (existing connections
                                           keep being served either way)
  rvs-controlplane genhash -s IP -p PORT -u PATH [-S] [-V HOST] [-P 1.0|1.1]
                   [-t SECONDS]            keepalived's genhash: print the MD5 of
                                           the page (-S: over TLS) for HTTP_GET's
                                           or SSL_GET's digest
  rvs-controlplane -h | --help             this help

-t, -f and -i are keepalived's spellings of --check, --config and --config-id.

FILE is keepalived.conf (the default), ldirectord.cf (a .cf file, a name
starting with ldirectord, or key=value lines) or rvs's TOML (a .toml file).
--config-id ID is the id keepalived.conf's @ID lines and ${_INSTANCE} use
(default: the host name up to its first dot).
Warnings and errors go to stderr as FILE:LINE:COL: message. keepalived.conf
loads as keepalived loads it: an item in error (a virtual_server, a
real_server, a vrrp_instance, a route ...) is left out and the rest loads;
ldirectord.cf and TOML load all or nothing.
--drain writes <bird_include>.drain, read by the running daemon at once; it
holds across reloads and restarts until --drain config.
The admin socket is --socket, else $RVS_ADMIN_SOCKET, else /run/rvs/admin.sock.
";

/// `genhash`'s options.
#[derive(Debug, PartialEq, Eq)]
struct Genhash {
    server: std::net::IpAddr,
    port: u16,
    url: String,
    tls: bool,
    vhost: Option<String>,
    http11: bool,
    timeout_s: u64,
}

fn parse_genhash(args: &[String]) -> Result<Genhash, String> {
    let (mut server, mut port, mut url) = (None, None, None);
    let mut g = Genhash {
        server: std::net::IpAddr::from([0, 0, 0, 0]),
        port: 0,
        url: String::new(),
        tls: false,
        vhost: None,
        http11: false,
        timeout_s: 5,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("genhash: {arg} needs {what}"))
        };
        match arg.as_str() {
            "-s" | "--server" => {
                let v = value("an address")?;
                server = Some(
                    v.parse()
                        .map_err(|_| format!("genhash: {v}: not an IP address"))?,
                );
            }
            "-p" | "--port" => {
                let v = value("a port")?;
                port = Some(
                    v.parse::<u16>()
                        .map_err(|_| format!("genhash: {v}: not a port"))?,
                );
            }
            "-u" | "--url" => url = Some(value("a path")?),
            "-S" | "--use-ssl" => g.tls = true,
            "-V" | "--virtualhost" => g.vhost = Some(value("a host name")?),
            "-P" | "--protocol" => match value("1.0 or 1.1")?.as_str() {
                "1.0" => g.http11 = false,
                "1.1" => g.http11 = true,
                v => return Err(format!("genhash: protocol {v}: 1.0 or 1.1")),
            },
            "-t" | "--timeout" => {
                let v = value("seconds")?;
                g.timeout_s = v
                    .parse()
                    .map_err(|_| format!("genhash: {v}: not seconds"))?;
            }
            "-v" | "--verbose" => {}
            other => return Err(format!("genhash: unknown argument '{other}'")),
        }
    }
    g.server = server.ok_or("genhash: -s SERVER is required")?;
    g.url = url.ok_or("genhash: -u URL is required")?;
    g.port = port.unwrap_or(if g.tls { 443 } else { 80 });
    Ok(g)
}

fn genhash(g: &Genhash) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("genhash: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let protocol = if g.http11 {
        config::HttpProtocol::Http11
    } else {
        config::HttpProtocol::Http10
    };
    let got = runtime.block_on(rvs_controlplane::health::probe::genhash(
        SocketAddr::new(g.server, g.port),
        &g.url,
        g.vhost.as_deref(),
        g.tls,
        protocol,
        std::time::Duration::from_secs(g.timeout_s),
    ));
    match got {
        Ok((_status, digest)) => {
            println!("MD5SUM = {digest}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("genhash: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Mode {
    Help,
    Genhash(Genhash),
    /// Load, validate, print the model.
    Check {
        config: PathBuf,
        config_id: Option<String>,
    },
    /// Set the drain of the daemon running `config`.
    Drain {
        config: PathBuf,
        config_id: Option<String>,
        drain: Option<bool>,
    },
    /// The daemon: apply the configuration and keep it applied.
    Run {
        config: PathBuf,
        metrics: Option<SocketAddr>,
        socket: Option<String>,
        json_logs: bool,
        config_id: Option<String>,
    },
}

fn parse_args(args: &[String]) -> Result<Mode, String> {
    if args.first().map(String::as_str) == Some("genhash") {
        return parse_genhash(&args[1..]).map(Mode::Genhash);
    }
    let mut check = false;
    let mut config: Option<PathBuf> = None;
    let mut metrics: Option<SocketAddr> = None;
    let mut socket: Option<String> = None;
    let mut json_logs = false;
    let mut config_id: Option<String> = None;
    let mut drain: Option<Option<bool>> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Mode::Help),
            "--check" | "-t" => check = true,
            "--drain" => {
                drain = Some(match it.next().map(String::as_str) {
                    Some("on") => Some(true),
                    Some("off") => Some(false),
                    Some("config") => None,
                    _ => return Err("--drain is on, off or config".to_string()),
                })
            }
            "--metrics" => {
                let v = it.next().ok_or("option --metrics needs ADDR:PORT")?;
                metrics = Some(
                    v.parse()
                        .map_err(|_| format!("--metrics {v}: not an ADDR:PORT"))?,
                );
            }
            "--config-id" | "-i" => {
                let id = it
                    .next()
                    .ok_or_else(|| format!("option {arg} needs an id"))?;
                config_id = Some(id.clone());
            }
            "--socket" => {
                socket = Some(it.next().ok_or("option --socket needs a path")?.clone());
            }
            "--log-format" => match it.next().map(String::as_str) {
                Some("text") => json_logs = false,
                Some("json") => json_logs = true,
                _ => return Err("--log-format is text or json".to_string()),
            },
            "--config" | "-f" => {
                let file = it
                    .next()
                    .ok_or_else(|| format!("option {arg} needs a file"))?;
                if config.replace(PathBuf::from(file)).is_some() {
                    return Err("--config given twice".to_string());
                }
            }
            _ => match (
                arg.strip_prefix("--config="),
                arg.strip_prefix("--config-id="),
            ) {
                (_, Some(id)) => config_id = Some(id.to_string()),
                (Some(file), _) if !file.is_empty() => {
                    if config.replace(PathBuf::from(file)).is_some() {
                        return Err("--config given twice".to_string());
                    }
                }
                _ => return Err(format!("unknown argument '{arg}'")),
            },
        }
    }
    let config = config.ok_or_else(|| "--config FILE is required".to_string())?;
    Ok(if let Some(drain) = drain {
        if check {
            return Err("--drain and --check do not go together".to_string());
        }
        Mode::Drain {
            config,
            config_id,
            drain,
        }
    } else if check {
        Mode::Check { config, config_id }
    } else {
        Mode::Run {
            config,
            metrics,
            socket,
            json_logs,
            config_id,
        }
    })
}

/// The preprocessor's options for `config_id` (the host's when `None`).
fn options(config_id: Option<String>) -> config::Options {
    match config_id {
        Some(config_id) => config::Options { config_id },
        None => config::Options::default(),
    }
}

fn check(path: &std::path::Path, opts: &config::Options) -> ExitCode {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let report = match config::load_report(path, opts) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "{}: error: {}", e.pos, e.message);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Warnings and errors in file order, errors marked.
    let mut lines: Vec<(&config::Position, bool, &str)> = report
        .warnings
        .iter()
        .map(|w| (&w.pos, false, w.message.as_str()))
        .chain(
            report
                .errors
                .iter()
                .map(|e| (&e.pos, true, e.message.as_str())),
        )
        .collect();
    lines.sort_by(|a, b| {
        (a.0.file.as_ref(), a.0.line, a.0.col).cmp(&(b.0.file.as_ref(), b.0.line, b.0.col))
    });
    for (pos, error, message) in &lines {
        if *error {
            let _ = writeln!(err, "{pos}: error: {message}");
        } else {
            let _ = writeln!(err, "{pos}: {message}");
        }
    }
    let n = report.errors.len();
    if n > 0 {
        let what = if report.usable() {
            "left out, the rest loads"
        } else {
            "the file does not load"
        };
        let _ = writeln!(
            err,
            "{}: {n} error{} ({what})",
            path.display(),
            if n == 1 { "" } else { "s" }
        );
    }
    if report.usable() {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if out
            .write_all(report.model.to_toml().as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    if n > 0 {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::SUCCESS
    }
}

/// `--drain`: write the state file of the `bgp` block of `path`.
fn drain(path: &std::path::Path, opts: &config::Options, drain: Option<bool>) -> ExitCode {
    let bgp = match config::load_report(path, opts) {
        Ok(r) if r.usable() => r.model.bgp,
        Ok(r) => {
            for e in &r.errors {
                eprintln!("{}: error: {}", e.pos, e.message);
            }
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(e) => {
            eprintln!("{}: error: {}", e.pos, e.message);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let Some(bgp) = bgp else {
        eprintln!(
            "rvs-controlplane: {}: no usable bgp block: nothing to drain",
            path.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let file = rvs_controlplane::bgp::drain_file(&bgp);
    match rvs_controlplane::bgp::set_drain(&file, drain) {
        Ok(()) => {
            let what = match drain {
                Some(true) => "on: every VIP withdrawn".to_string(),
                Some(false) => "off: the VIPs with quorum announced".to_string(),
                None => format!(
                    "as the configuration says ({})",
                    if bgp.drain { "on" } else { "off" }
                ),
            };
            println!("drain {what} ({})", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rvs-controlplane: {}: {e}", file.display());
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match parse_args(&args) {
        Ok(Mode::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Mode::Check { config, config_id }) => check(&config, &options(config_id)),
        Ok(Mode::Genhash(g)) => genhash(&g),
        Ok(Mode::Drain {
            config,
            config_id,
            drain: d,
        }) => drain(&config, &options(config_id), d),
        Ok(Mode::Run {
            config,
            metrics,
            socket,
            json_logs,
            config_id,
        }) => {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            let logs = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr);
            if json_logs {
                logs.json().init();
            } else {
                logs.init();
            }
            let opts = rvs_controlplane::daemon::Options {
                config,
                socket: socket.unwrap_or_else(rvs_api::socket_path_from_env),
                metrics,
            };
            let opts_pre = options(config_id);
            let load = move |path: &std::path::Path| {
                let report = config::load_report(path, &opts_pre).map_err(|e| e.to_string())?;
                for w in &report.warnings {
                    tracing::warn!("{w}");
                }
                for e in &report.errors {
                    tracing::error!("{e} - left out");
                }
                if !report.usable() {
                    let first = report.errors.first().map(ToString::to_string);
                    return Err(first.unwrap_or_default());
                }
                Ok(rvs_controlplane::daemon::Loaded {
                    errors: report.errors.len() as u64,
                    model: report.model,
                })
            };
            ExitCode::from(rvs_controlplane::daemon::run(&opts, &load) as u8)
        }
        Err(message) => {
            eprintln!("rvs-controlplane: {message}\n{USAGE}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn command_lines() {
        let f = PathBuf::from("k.conf");
        assert_eq!(
            parse_args(&args("--check --config k.conf")),
            Ok(Mode::Check {
                config: f.clone(),
                config_id: None
            })
        );
        assert_eq!(
            parse_args(&args("--config=k.conf --check -i lb2")),
            Ok(Mode::Check {
                config: f.clone(),
                config_id: Some("lb2".into())
            })
        );
        assert_eq!(
            parse_args(&args("-t -f k.conf --config-id=lb1")),
            Ok(Mode::Check {
                config: f.clone(),
                config_id: Some("lb1".into())
            })
        );
        assert!(parse_args(&args("--check --config k.conf -i")).is_err());
        assert_eq!(
            parse_args(&args(
                "--config k.conf --metrics 127.0.0.1:9099 --log-format json"
            )),
            Ok(Mode::Run {
                config: f,
                metrics: Some("127.0.0.1:9099".parse().unwrap()),
                socket: None,
                json_logs: true,
                config_id: None,
            })
        );
        assert!(parse_args(&args("--config k.conf --metrics nowhere")).is_err());
        assert_eq!(parse_args(&args("-h")), Ok(Mode::Help));
        assert!(parse_args(&args("--check")).is_err());
        assert!(parse_args(&args("--check --config")).is_err());
        assert!(parse_args(&args("--check --config a --config b")).is_err());
        assert!(parse_args(&args("--bogus")).is_err());
        assert_eq!(
            parse_args(&args("--drain on --config k.conf")),
            Ok(Mode::Drain {
                config: PathBuf::from("k.conf"),
                config_id: None,
                drain: Some(true)
            })
        );
        assert_eq!(
            parse_args(&args("--config k.conf --drain config")),
            Ok(Mode::Drain {
                config: PathBuf::from("k.conf"),
                config_id: None,
                drain: None
            })
        );
        assert!(parse_args(&args("--drain maybe --config k.conf")).is_err());
        assert!(parse_args(&args("--drain on --check --config k.conf")).is_err());
        assert!(parse_args(&args("--drain off")).is_err(), "needs --config");
        let Ok(Mode::Genhash(g)) = parse_args(&args("genhash -S -s 10.0.0.1 -u /x -V www -P 1.1"))
        else {
            panic!("genhash")
        };
        assert_eq!(
            (g.port, g.tls, g.http11, g.vhost.as_deref()),
            (443, true, true, Some("www"))
        );
        assert!(
            parse_args(&args("genhash -s 10.0.0.1")).is_err(),
            "-u is required"
        );
        assert!(parse_args(&args("genhash -s nowhere -u /")).is_err());
    }
}
