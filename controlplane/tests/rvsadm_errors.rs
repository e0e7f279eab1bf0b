//! rvsadm's refusals word for word as ipvsadm 1.31 prints them (its
//! `fail(2, ...)` texts and the kernel's errno through `ipvs_strerror()`),
//! and `-h` listing the sync daemon commands and their options. The binary
//! is run: these are what a user sees on stderr, with the exit status.

use std::process::Command as Process;

use rvs_api::{ApiError, ErrorKind};
use rvs_controlplane::rvsadm::{error_text, parse_args, Command, SystemResolver};

/// Run rvsadm with `line` (split on blanks); (status, stdout, stderr). The
/// socket points nowhere, so a line that parses fails later, differently.
fn rvsadm(line: &str) -> (i32, String, String) {
    let out = Process::new(env!("CARGO_BIN_EXE_rvsadm"))
        .args(line.split_whitespace())
        .env("RVS_ADMIN_SOCKET", "/nonexistent/rvs-test/admin.sock")
        .output()
        .expect("run rvsadm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `line` is refused with exactly `text` (and a newline) and status 2.
fn refused(line: &str, text: &str) {
    let (status, out, err) = rvsadm(line);
    assert_eq!(err, format!("{text}\n"), "stderr of {line:?}");
    assert_eq!(status, 2, "status of {line:?}");
    assert_eq!(out, "", "stdout of {line:?}");
}

#[test]
fn a_second_command_is_an_invalid_option() {
    refused("-A -E", "invalid option `-E'");
    refused("-L -Z", "invalid option `-Z'");
    refused(
        "--add-service --edit-service -t 10.0.0.1:80",
        "invalid option `--edit-service'",
    );
    refused("-L -h", "invalid option `-h'");
    refused(
        "-C --start-daemon master",
        "invalid option `--start-daemon'",
    );
}

#[test]
fn tunnel_option_texts() {
    let dest = "-a -t 10.0.0.1:80 -r 10.0.1.1";
    refused(
        &format!("{dest} -m --tun-type gue --tun-port 6080"),
        "Tunnel options conflict with forward method",
    );
    refused(
        &format!("{dest} -g --tun-nocsum"),
        "Tunnel options conflict with forward method",
    );
    refused(
        &format!("{dest} -i --tun-type gue"),
        "You need to supply the 'tun-port' option for the 'gue' tunnel type",
    );
    refused(
        &format!("{dest} -i --tun-port 6080"),
        "Illegal 'tun-port' option with the 'ipip' tunnel type",
    );
    refused(
        &format!("{dest} -i --tun-type ipip --tun-csum"),
        "Illegal 'tun-csum' option with the 'ipip' tunnel type",
    );
    refused(
        &format!("{dest} -i --tun-type gre --tun-port 6080"),
        "Illegal 'tun-port' option with the 'gre' tunnel type",
    );
    refused(
        &format!("{dest} -i --tun-type gre --tun-remcsum"),
        "Illegal 'tun-remcsum' option with the 'gre' tunnel type",
    );
    // ipvsadm names the later option of the table (port, nocsum, csum,
    // remcsum) first, whatever order they were given in.
    refused(
        &format!("{dest} -i --tun-type gue --tun-port 6080 --tun-remcsum --tun-nocsum"),
        "The option 'tun-remcsum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type",
    );
    refused(
        &format!("{dest} -i --tun-type gre --tun-csum --tun-nocsum"),
        "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type",
    );
    // The port is checked before the checksum options.
    refused(
        &format!("{dest} -i --tun-type gue --tun-csum --tun-nocsum"),
        "You need to supply the 'tun-port' option for the 'gue' tunnel type",
    );
}

#[test]
fn mcast_group_texts() {
    refused(
        "--start-daemon master --mcast-group 10.0.0.1",
        "invalid IPv4 mcast-group `10.0.0.1'",
    );
    refused(
        "--start-daemon master --mcast-group 224.0.0",
        "invalid IPv4 mcast-group `224.0.0'",
    );
    refused(
        "--start-daemon backup --mcast-group 2001:db8::1",
        "invalid IPv6 mcast-group `2001:db8::1'",
    );
    refused("--stop-daemon slave", "illegal start_daemon specified");
    // A multicast group of either family is taken.
    for group in ["224.0.0.82", "ff02::81"] {
        let words: Vec<String> = ["--start-daemon", "master", "--mcast-group", group]
            .iter()
            .map(|w| w.to_string())
            .collect();
        match parse_args(&words, &SystemResolver::default()).map(|i| i.command) {
            Ok(Command::Change(rvs_api::Request::StartDaemon(d))) => {
                assert_eq!(d.group, Some(group.parse().expect("group")), "{group}");
            }
            other => panic!("{group}: {other:?}"),
        }
    }
}

#[test]
fn lower_threshold_above_upper_is_erange() {
    // The dataplane refuses it (Invalid, with its explanation); ipvsadm
    // prints the kernel's ERANGE as strerror() words it.
    let refusal = ApiError::new(
        ErrorKind::Invalid,
        "lower threshold 10 is above upper threshold 5",
    );
    for line in [
        "-a -t 10.0.0.1:80 -r 10.0.1.1 -x 5 -y 10",
        "-e -t 10.0.0.1:80 -r 10.0.1.1 -m -y 1",
    ] {
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let command = parse_args(&words, &SystemResolver::default())
            .expect("parses")
            .command;
        assert_eq!(
            error_text(&command, &refusal),
            "Numerical result out of range",
            "{line}"
        );
    }
    // Thresholds in order: the dataplane's own explanation stays.
    let words: Vec<String> = "-a -t 10.0.0.1:80 -r 10.0.1.1 -x 10 -y 5"
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let command = parse_args(&words, &SystemResolver::default())
        .expect("parses")
        .command;
    let other = ApiError::new(ErrorKind::Invalid, "weight 4294967295 is out of range");
    assert_eq!(
        error_text(&command, &other),
        "weight 4294967295 is out of range"
    );
}

#[test]
fn help_lists_the_sync_daemon() {
    let (status, out, err) = rvsadm("-h");
    assert_eq!(status, 0);
    assert_eq!(err, "");
    for line in [
        "  rvsadm --start-daemon {master|backup} [daemon-options]\n",
        "  rvsadm --stop-daemon {master|backup}\n",
        "  --start-daemon              start connection sync daemon\n",
        "  --stop-daemon               stop connection sync daemon\n",
        "Daemon Options:\n",
    ] {
        assert!(out.contains(line), "-h lacks {line:?}:\n{out}");
    }
    let daemon = out
        .split("Daemon Options:\n")
        .nth(1)
        .expect("a Daemon Options section");
    for option in [
        "--syncid sid",
        "--sync-maxlen length",
        "--mcast-interface interface",
        "--mcast-group address",
        "--mcast-port port",
        "--mcast-ttl ttl",
    ] {
        assert!(
            daemon.lines().any(|l| l.trim_start().starts_with(option)),
            "Daemon Options lacks {option}:\n{daemon}"
        );
    }
}
