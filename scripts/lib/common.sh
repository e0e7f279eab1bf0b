# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are for the scripts that source this
# Shared by scripts/lab, scripts/demo and scripts/lab-test: the lab's names and
# addresses (the lab contract), small logging helpers, and the steps the demo
# and the lab test have in common (configure the DR service, send requests).
#
# Source it; it defines variables and functions only and runs nothing.

# Repository root (this file lives in scripts/lib/).
RVS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# --- The lab contract: other tools rely on these names and addresses. -------
NS_SW=rvs-sw          # holds the bridge; nothing touches the root namespace
NS_CLI=rvs-cli        # the client
NS_LB=rvs-lb          # the director (rvs-dataplane runs here)
NS_RS1=rvs-rs1        # real server 1
NS_RS2=rvs-rs2        # real server 2
LAB_NAMESPACES=("$NS_SW" "$NS_CLI" "$NS_LB" "$NS_RS1" "$NS_RS2")
NS_KA=rvs-ka          # the lab test's keepalived VRRP peer (made and removed by it)
NS_LB2=rvs-lb2        # the second director, with `scripts/lab up --pair`

CLI_IP=198.18.0.1
CLI2_IP=198.18.0.3    # more client addresses on the same eth0, for tests
CLI3_IP=198.18.0.4    # that need several clients (persistence)
LB_IP=198.18.0.2      # the director's own address, on the TAP interface rvs0
LB2_IP=198.18.0.5     # the second director's (--pair), on its own rvs0
GW_VIP=198.18.0.254   # a pair's VRRP address for the real servers' NAT route
RS1_IP=198.18.0.11
RS2_IP=198.18.0.12
VIP=198.18.0.100
LAB_PREFIX_LEN=24

# Added for the NAT and TUN modes (issue 3); the addresses above are unchanged.
CLI_NAT_IP=198.18.1.1 # a client address outside the real servers' subnet: their
CLI_NAT_PREFIX_LEN=24 # replies to it go via their default route, the director
VIP_NAT=198.18.0.101  # a VIP the real servers do not hold (NAT: the director owns it)
# The health-check section's services (configs/lab-health.conf), NAT too.
VIP_NAT_INHIBIT=198.18.0.104 # inhibit_on_failure
VIP_MISC=198.18.0.105        # MISC_CHECK misc_dynamic
VIP_SILENT_TCP=198.18.0.106  # a real server that accepts and never answers, TCP_CHECK
VIP_SILENT_HTTP=198.18.0.107 # the same, HTTP_GET
RS_NAT_PORT=8080      # nginx also listens here: NAT port mapping VIP_NAT:80 -> RS:8080
RS_PROXY_PORT=8081    # and here with PROXY protocol (FullNAT --proxy-protocol v2)
RS_UDP_PORT=5300      # a UDP responder ("served by rsN ...") on each real server's address and VIP
GUE_PORT=6080         # the real servers' decapsulator takes GUE on this UDP port
LADDR1=198.18.0.201   # FullNAT local addresses (the dataplane answers ARP for
LADDR2=198.18.0.202   # them once a service has them: rvsadm --add-laddr)

# IPv6 (issue 3), from 2001:2::/48 (RFC 5180's benchmarking range): the same
# segment with a /64 of its own.
LAB6_PREFIX_LEN=64
CLI_IP6=2001:2:0:1::1
LB_IP6=2001:2:0:1::2      # the director's own IPv6 address, on rvs0 too
LB2_IP6=2001:2:0:1::5     # the second director's
RS1_IP6=2001:2:0:1::11
RS2_IP6=2001:2:0:1::12
VIP6=2001:2:0:1::100      # on the real servers' lo, like VIP
VIP6_NAT=2001:2:0:1::101  # like VIP_NAT
LADDR6=2001:2:0:1::201    # a FullNAT local address
CLI_NAT_IP6=2001:2:0:2::1 # like CLI_NAT_IP: the real servers reach it via LB_IP6

LB_IFACE=lb0          # the director's veth, used by DPDK's af_packet PMD
EXC_IFACE=rvs0        # the exception TAP interface the dataplane creates

LAB_STATE_DIR=/run/rvs-lab
DATAPLANE_LOG=$LAB_STATE_DIR/dataplane.log
DATAPLANE_PID=$LAB_STATE_DIR/dataplane.pid

# The admin socket named in configs/lab-dataplane.toml; exported so rvsadm
# talks to the lab's dataplane even if the caller's environment says otherwise.
ADMIN_SOCKET=/run/rvs/admin.sock
export RVS_ADMIN_SOCKET=$ADMIN_SOCKET
# The second director's (--pair): its dataplane runs the same config with
# this socket, its own EAL file prefix and LB2_IP (scripts/lab writes it).
ADMIN_SOCKET2=/run/rvs/admin2.sock
DATAPLANE2_LOG=$LAB_STATE_DIR/dataplane2.log
DATAPLANE2_PID=$LAB_STATE_DIR/dataplane2.pid
DATAPLANE2_CONFIG=$LAB_STATE_DIR/dataplane2.toml

# Where the Rust binaries are; RVS_BIN_DIR overrides.
RVS_BIN_DIR=${RVS_BIN_DIR:-$RVS_ROOT/target/release}
RVSADM=$RVS_BIN_DIR/rvsadm
DATAPLANE_BIN=$RVS_BIN_DIR/rvs-dataplane
CONTROLPLANE_BIN=$RVS_BIN_DIR/rvs-controlplane

# rustup installs into ~/.cargo/bin, which a non-login root shell (or CI) may
# not have on PATH.
add_cargo_to_path() {
    if ! command -v cargo >/dev/null 2>&1 && [[ -x ${HOME:-/root}/.cargo/bin/cargo ]]; then
        PATH=${HOME:-/root}/.cargo/bin:$PATH
        export PATH
    fi
}

# --- Logging. ----------------------------------------------------------------
info() { printf '%s: %s\n' "${0##*/}" "$*"; }
warn() { printf '%s: warning: %s\n' "${0##*/}" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

# Prints the last lines of the dataplane's log, if there is one.
dataplane_log_tail() {
    local lines=${1:-40}
    if [[ -s $DATAPLANE_LOG ]]; then
        printf -- '--- last %d lines of %s ---\n' "$lines" "$DATAPLANE_LOG" >&2
        tail -n "$lines" "$DATAPLANE_LOG" >&2
        printf -- '--- end of %s ---\n' "$DATAPLANE_LOG" >&2
    fi
}

# wait_line SECONDS FILE PATTERN [N]: wait until FILE has N (default 1)
# lines matching PATTERN (log lines); false if it has fewer after SECONDS.
wait_line() {
    local n=$(($1 * 10)) want=${4:-1} i c
    for ((i = 0; i < n; i++)); do
        c=$(grep -c "$3" "$2" 2>/dev/null || true)
        ((${c:-0} >= want)) && return 0
        sleep 0.1
    done
    return 1
}

# --- Steps shared by the demo and the lab test. ------------------------------

# rvsadm, always the one from RVS_BIN_DIR.
rvsadm() { "$RVSADM" "$@"; }

# The demo's service, exactly as an LVS user would type it for ipvsadm:
# a round-robin TCP service on VIP:80 with both real servers in DR mode.
configure_dr_service() {
    rvsadm -A -t "$VIP:80" -s rr &&
        rvsadm -a -t "$VIP:80" -r "$RS1_IP:80" -g &&
        rvsadm -a -t "$VIP:80" -r "$RS2_IP:80" -g
}

# send_requests N [URL [SRC]]: N HTTP GETs from the client to URL (default
# http://VIP/), from source address SRC (default: the client's own), one curl
# (so one new TCP connection) each. Sets the globals REQ_RS1, REQ_RS2,
# REQ_OTHER (an answer naming neither server) and REQ_FAILED. Bounded: each
# request has curl's 5 s limit, and after 10 failures in a row the rest are
# not sent and count as failed (a dead path would otherwise take N x 5 s).
send_requests() {
    local n=$1 url=${2:-http://$VIP/} src=${3:-$CLI_IP} answers
    # One `ip netns exec` for the whole loop; each curl prints its body or FAIL
    # on a line of its own.
    answers=$(ip netns exec "$NS_CLI" bash -c '
        n=$1 url=$2 src=$3 fails=0
        for ((i = 0; i < n; i++)); do
            if ((fails >= 10)); then
                echo FAIL
                continue
            fi
            if body=$(curl -g -s --max-time 5 --interface "$src" "$url"); then
                fails=0
                printf "%s\n" "${body:-EMPTY}" | head -n 1
            else
                fails=$((fails + 1))
                echo FAIL
            fi
        done' bash "$n" "$url" "$src")
    REQ_RS1=$(grep -c 'rs1' <<<"$answers" || true)
    REQ_RS2=$(grep -c 'rs2' <<<"$answers" || true)
    REQ_FAILED=$(grep -cx 'FAIL' <<<"$answers" || true)
    REQ_OTHER=$((n - REQ_RS1 - REQ_RS2 - REQ_FAILED))
}
