# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are for the scripts that source this
# The ECMP lab (scripts/lab up --ecmp N): a router namespace running BIRD
# with ECMP, the client behind it, and N directors on the segment, each
# running rvs-dataplane + rvs-controlplane (configs/lab-ecmp.conf) + its own
# BIRD with an eBGP session to the router. Shared by scripts/lab,
# scripts/lab-test-ecmp and bench/ecmp.
#
# Source it after common.sh; it defines variables and functions only.

# --- Names and addresses (added for issue 21; nothing in common.sh changes). --
NS_RTR=rvs-rtr              # the router: BIRD, ECMP over the directors
ECMP_MAX=4                  # directors rvs-lb, rvs-lb2, rvs-lb3, rvs-lb4
RTR_IP=198.18.0.253         # the router on the lab segment (the directors' BGP peer)
RTR_CLI_IP=198.18.10.1      # the router on the client's link (rvs-cli eth1)
CLI_ECMP_IP=198.18.10.2     # the client's address behind the router
ECMP_CLI_PREFIX_LEN=24
ECMP_CLI_NET=198.18.10.0/24 # the client's link; the real servers route it via RTR_IP
ECMP_CLI_IFACE=eth1         # the client's interface on that link
VIP_ECMP=198.18.20.100      # announced by the directors; on the real servers' lo
RTR_AS=65000
LB_AS=65001
ECMP_HOLD_S=3 # configs/lab-ecmp.conf's hold_time (and the router's)
ECMP_CONF=$RVS_ROOT/configs/lab-ecmp.conf
RTR_DIR=$LAB_STATE_DIR/rtr
RTR_BIRD_SOCKET=$RTR_DIR/bird.ctl
RTR_BIRD_PID=$RTR_DIR/bird.pid
ECMP_METRICS=127.0.0.1:9545 # each director's rvs-controlplane /metrics, in its namespace
# The client's source ports that ecmp_requests binds (curl --local-port).
# scripts/lab reserves them in the client's namespace: the kernel gives
# connect() consecutive ports towards one destination, so the downloads to
# the VIP could otherwise hold one of them, and curl's bind fails (exit 45).
ECMP_REQUEST_PORT_MIN=41000
ECMP_REQUEST_PORT_MAX=45999

# ecmp_ns I: director I's namespace (1: rvs-lb, 2: rvs-lb2, ...).
ecmp_ns() { if (($1 == 1)); then echo "$NS_LB"; else echo "rvs-lb$1"; fi; }
# ecmp_ip I: its own address, on its rvs0 (1 and 2 as the lab and --pair
# have them; 3 and 4: .6 and .7).
ecmp_ip() {
    case $1 in
    1) echo "$LB_IP" ;;
    2) echo "$LB2_IP" ;;
    *) echo "198.18.0.$(($1 + 3))" ;;
    esac
}
ecmp_ip6() {
    case $1 in
    1) echo "$LB_IP6" ;;
    2) echo "$LB2_IP6" ;;
    *) echo "2001:2:0:1::$(($1 + 3))" ;;
    esac
}
# ecmp_dir I: its state directory (its BIRD's files, its control plane's).
ecmp_dir() { echo "$LAB_STATE_DIR/lb$1"; }
ecmp_socket() { if (($1 == 1)); then echo "$ADMIN_SOCKET"; else echo "/run/rvs/admin$1.sock"; fi; }
ecmp_dp_pidfile() {
    case $1 in
    1) echo "$DATAPLANE_PID" ;;
    2) echo "$DATAPLANE2_PID" ;;
    *) echo "$LAB_STATE_DIR/dataplane$1.pid" ;;
    esac
}
ecmp_dp_log() {
    case $1 in
    1) echo "$DATAPLANE_LOG" ;;
    2) echo "$DATAPLANE2_LOG" ;;
    *) echo "$LAB_STATE_DIR/dataplane$1.log" ;;
    esac
}
ecmp_dp_config() { echo "$(ecmp_dir "$1")/dataplane.toml"; }
ecmp_cp_pidfile() { echo "$(ecmp_dir "$1")/controlplane.pid"; }
ecmp_cp_log() { echo "$(ecmp_dir "$1")/controlplane.log"; }
ecmp_cp_config() { echo "$(ecmp_dir "$1")/keepalived.conf"; }
ecmp_bird_pidfile() { echo "$(ecmp_dir "$1")/bird.pid"; }
ecmp_bird_socket() { echo "$(ecmp_dir "$1")/bird.ctl"; }

# ecmp_count: how many directors the lab has (0: not an ECMP lab).
ecmp_count() {
    if [[ -s $LAB_STATE_DIR/ecmp ]]; then tr -dc '0-9' <"$LAB_STATE_DIR/ecmp"; else echo 0; fi
}

# ecmp_pid FILE: the pid in FILE (nothing if none).
ecmp_pid() { if [[ -s $1 ]]; then tr -dc '0-9' <"$1"; fi; }

# --- The files. ---------------------------------------------------------------

# ecmp_write_configs I BASE: director I's dataplane config (BASE, the lab's,
# with its own admin socket, EAL file prefix and addresses), its BIRD's
# bird.conf (what an operator's has: router id, the device protocol and
# the include rvs writes, empty until rvs-controlplane writes it) and its
# control plane's keepalived.conf (configs/lab-ecmp.conf, its addresses and
# paths).
ecmp_write_configs() {
    local i=$1 base=$2 dir ip ip6
    dir=$(ecmp_dir "$i")
    ip=$(ecmp_ip "$i")
    ip6=$(ecmp_ip6 "$i")
    mkdir -p "$dir"
    sed -e "s|^admin_socket = .*|admin_socket = \"$(ecmp_socket "$i")\"|" \
        -e "s|^file_prefix = \"\(.*\)\"|file_prefix = \"\1-ecmp$i\"|" \
        -e "s|^address = .*|address = \"$ip/$LAB_PREFIX_LEN\"|" \
        -e "s|^address6 = .*|address6 = \"$ip6/$LAB6_PREFIX_LEN\"|" \
        "$base" >"$(ecmp_dp_config "$i")"
    printf '%s\n' \
        "# BIRD of director $i ($(ecmp_ns "$i")), written by scripts/lab: what an" \
        "# operator's bird.conf has; rvs-controlplane writes the include." \
        "log \"$dir/bird.log\" all;" \
        "router id $ip;" \
        "protocol device {" \
        "}" \
        "include \"$dir/rvs.conf\";" >"$dir/bird.conf"
    echo "# Nothing announced yet (rvs-controlplane writes this file)." >"$dir/rvs.conf"
    sed -e "s|/run/rvs-lab/lb1/|$dir/|g" \
        -e "s|rvs-ecmp-lb1|rvs-ecmp-lb$i|" \
        -e "s|^\(    router_id\) .*|\1 $ip|" \
        -e "s|^\(    local_address\) .*|\1 $ip|" \
        "$ECMP_CONF" >"$(ecmp_cp_config "$i")"
}

# ecmp_write_router_conf N: the router's BIRD: a session to each of the N
# directors (their hold time; after an error it restarts at once, so a
# director that comes back is peered again within seconds), every route
# learned goes to the kernel, equal ones merged into one multipath route,
# and every director's path goes back to the other directors (ADD-PATH:
# they compare their mh dest sets, decision 45; they import none of it).
ecmp_write_router_conf() {
    local n=$1 i
    mkdir -p "$RTR_DIR"
    {
        printf '%s\n' \
            "# BIRD of the router $NS_RTR, written by scripts/lab." \
            "log \"$RTR_DIR/bird.log\" all;" \
            "router id $RTR_IP;" \
            "protocol device {" \
            "}" \
            "protocol kernel {" \
            "    ipv4 {" \
            "        import none;" \
            "        export all;" \
            "    };" \
            "    merge paths on;" \
            "}" \
            "template bgp director {" \
            "    local $RTR_IP as $RTR_AS;" \
            "    hold time $ECMP_HOLD_S;" \
            "    keepalive time 1;" \
            "    connect retry time 2;" \
            "    error wait time 1, 2;" \
            "    graceful restart off;" \
            "    ipv4 {" \
            "        import all;" \
            "        export where source = RTS_BGP;" \
            "        add paths tx;" \
            "    };" \
            "}"
        for ((i = 1; i <= n; i++)); do
            printf 'protocol bgp lb%d from director {\n    neighbor %s as %s;\n}\n' \
                "$i" "$(ecmp_ip "$i")" "$LB_AS"
        done
    } >"$RTR_DIR/bird.conf"
}

# --- Processes. -----------------------------------------------------------------

# ecmp_start_bird NS CONF SOCKET PIDFILE: BIRD in the foreground in NS, in
# its own session, its pid in PIDFILE; waits for its control socket.
ecmp_start_bird() {
    local ns=$1 conf=$2 socket=$3 pidfile=$4 i
    rm -f "$socket" "$pidfile"
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' bash "$pidfile" \
        ip netns exec "$ns" bird -f -c "$conf" -s "$socket" \
        </dev/null >"${conf%.conf}.out" 2>&1 &
    disown
    for ((i = 0; i < 50; i++)); do
        [[ -S $socket ]] && return 0
        sleep 0.1
    done
    echo "BIRD in $ns has no control socket $socket (see ${conf%.conf}.out)" >&2
    return 1
}

# ecmp_start_director_bird I: director I's BIRD.
ecmp_start_director_bird() {
    ecmp_start_bird "$(ecmp_ns "$1")" "$(ecmp_dir "$1")/bird.conf" \
        "$(ecmp_bird_socket "$1")" "$(ecmp_bird_pidfile "$1")"
}

# ecmp_start_controlplane I: director I's rvs-controlplane, in its own
# session, its pid in its pid file (its log is appended to).
ecmp_start_controlplane() {
    local i=$1 ns pidfile k
    ns=$(ecmp_ns "$i")
    pidfile=$(ecmp_cp_pidfile "$i")
    rm -f "$pidfile"
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' bash "$pidfile" \
        ip netns exec "$ns" "$CONTROLPLANE_BIN" --config "$(ecmp_cp_config "$i")" \
        --socket "$(ecmp_socket "$i")" --metrics "$ECMP_METRICS" \
        </dev/null >>"$(ecmp_cp_log "$i")" 2>&1 &
    disown
    for ((k = 0; k < 50; k++)); do
        [[ -s $pidfile ]] && return 0
        sleep 0.1
    done
    return 1
}

# ecmp_kill I: SIGKILL director I's dataplane and control plane at once (a
# crash: nothing is withdrawn). Its exception TAP, the only way out of its
# namespace, goes with the dataplane, so its BIRD (left running) falls
# silent and the router must notice within the hold time.
ecmp_kill() {
    local i=$1 pids=() f p
    for f in "$(ecmp_dp_pidfile "$i")" "$(ecmp_cp_pidfile "$i")"; do
        p=$(ecmp_pid "$f")
        [[ -n $p ]] && pids+=("$p")
    done
    if ((${#pids[@]} > 0)); then kill -KILL "${pids[@]}" 2>/dev/null || true; fi
}

# --- What the router sees. ------------------------------------------------------

# ecmp_next_hops: the router's next hops for VIP_ECMP, one address a line
# (nothing when it has no route).
ecmp_next_hops() {
    ip -n "$NS_RTR" route show "$VIP_ECMP/32" 2>/dev/null |
        grep -o 'via [0-9.]*' | awk '{print $2}' | sort
}

# ecmp_hop_count: how many next hops.
ecmp_hop_count() { ecmp_next_hops | grep -c . || true; }

# ecmp_wait_hops N SECONDS: until the router has N next hops (true) or
# SECONDS pass (false).
ecmp_wait_hops() {
    local want=$1 n=$(($2 * 10)) i
    for ((i = 0; i < n; i++)); do
        (($(ecmp_hop_count) == want)) && return 0
        sleep 0.1
    done
    return 1
}

# ecmp_has_hop ADDR: whether ADDR is one of the router's next hops.
ecmp_has_hop() { ecmp_next_hops | grep -qx "$1"; }

# --- Traffic and what the directors saw. ------------------------------------------

# A download of big.bin (32 MiB) that is whole.
ECMP_WHOLE="200 33554432"

# ecmp_metric I SAMPLE: the value of director I's control plane /metrics
# sample SAMPLE (name and labels; nothing when it does not answer).
ecmp_metric() {
    ip netns exec "$(ecmp_ns "$1")" curl -s --max-time 2 "http://$ECMP_METRICS/metrics" 2>/dev/null |
        awk -v k="$2" '$1 == k { print $2 }'
}

# ecmp_metrics N SAMPLE: SAMPLE's value on directors 1..N, space separated
# (`-` for one that does not show it).
ecmp_metrics() {
    local n=$1 i v out=()
    for ((i = 1; i <= n; i++)); do
        v=$(ecmp_metric "$i" "$2")
        out+=("${v:--}")
    done
    echo "${out[*]}"
}

# ecmp_wait_metrics N SAMPLE WANT SECONDS: directors 1..N all show SAMPLE
# as WANT within SECONDS.
ecmp_wait_metrics() {
    local n=$1 want k i
    want=$(for ((i = 1; i <= n; i++)); do printf '%s ' "$3"; done)
    for ((k = 0; k < $4 * 2; k++)); do
        [[ "$(ecmp_metrics "$n" "$2") " == "$want" ]] && return 0
        sleep 0.5
    done
    return 1
}

# ecmp_counter I NAME: director I's dataplane counter NAME (nothing when
# its dataplane does not answer).
ecmp_counter() {
    "$RVSADM" --socket "$(ecmp_socket "$1")" --counters 2>/dev/null | awk -v n="$2" '$1 == n { print $2 }'
}

# ecmp_established I: the ESTABLISHED entries director I holds.
ecmp_established() {
    "$RVSADM" --socket "$(ecmp_socket "$1")" -Lnc 2>/dev/null | grep -c ' ESTABLISHED ' || true
}

# ecmp_requests N PORT: N HTTP GETs of http://VIP_ECMP/ from the client's
# address behind the router, from source ports PORT, PORT+1, ... (a new
# connection each, so the router's L4 hash spreads them). Sets ECMP_RS1,
# ECMP_RS2 (answers naming each real server) and ECMP_FAILED.
ecmp_requests() {
    local answers
    if (($2 < ECMP_REQUEST_PORT_MIN || $2 + $1 - 1 > ECMP_REQUEST_PORT_MAX)); then
        echo "ecmp_requests: ports $2..$(($2 + $1 - 1)) are outside the reserved $ECMP_REQUEST_PORT_MIN-$ECMP_REQUEST_PORT_MAX" >&2
        return 1
    fi
    answers=$(ip netns exec "$NS_CLI" bash -c '
        for ((i = 0; i < $1; i++)); do
            body=$(curl -s --max-time 10 --interface "$3" --local-port $(($2 + i)) "http://$4/") ||
                body="FAIL port $(($2 + i)) curl exit $?"
            printf "%s\n" "${body:-EMPTY}" | head -n 1
        done' bash "$1" "$2" "$CLI_ECMP_IP" "$VIP_ECMP")
    ECMP_RS1=$(grep -c 'served by rs1' <<<"$answers" || true)
    ECMP_RS2=$(grep -c 'served by rs2' <<<"$answers" || true)
    ECMP_FAILED=$(($1 - ECMP_RS1 - ECMP_RS2))
    # What the failures were (curl's exit: 28 a timeout, 7 refused, 56 reset).
    ECMP_FAILS=$(grep -v 'served by rs[12]' <<<"$answers" | tr '\n' ';' || true)
}

# ecmp_downloads N RATE TAG: N downloads of big.bin through VIP_ECMP from
# the client, each limited to RATE (curl's --limit-rate), at most 120 s;
# each writes "CODE SIZE" to $LAB_STATE_DIR/dl-TAG-I.out. Sets
# ECMP_DOWNLOADS (their pids).
ecmp_downloads() {
    local n=$1 rate=$2 tag=$3 i
    ECMP_DOWNLOADS=()
    rm -f "$LAB_STATE_DIR"/dl-"$tag"-*.out
    for ((i = 0; i < n; i++)); do
        ip netns exec "$NS_CLI" curl -s --max-time 120 --limit-rate "$rate" -o /dev/null \
            --interface "$CLI_ECMP_IP" -w '%{http_code} %{size_download}\n' \
            "http://$VIP_ECMP/big.bin" >"$LAB_STATE_DIR/dl-$tag-$i.out" 2>&1 &
        ECMP_DOWNLOADS+=($!)
    done
}

# ecmp_wait_downloads: wait for the downloads ecmp_downloads started.
ecmp_wait_downloads() {
    local p
    for p in "${ECMP_DOWNLOADS[@]}"; do wait "$p" 2>/dev/null || true; done
}

# ecmp_whole TAG: how many of the TAG downloads came whole.
ecmp_whole() {
    cat "$LAB_STATE_DIR"/dl-"$1"-*.out 2>/dev/null | grep -c "^$ECMP_WHOLE\$" || true
}

# ecmp_busiest N: of directors 1..N, the one holding the most ESTABLISHED
# entries (the one whose loss moves the most flows).
ecmp_busiest() {
    local n=$1 i best=1 most=-1 e
    for ((i = 1; i <= n; i++)); do
        e=$(ecmp_established "$i")
        if ((e > most)); then
            most=$e
            best=$i
        fi
    done
    echo "$best"
}

# ecmp_time_withdrawn ADDR SECONDS: wait until ADDR is no longer a next hop
# of the router; prints the seconds since ECMP_T0 (date +%s.%N), or "none"
# after SECONDS.
ecmp_time_withdrawn() {
    local addr=$1 n=$(($2 * 20)) i
    for ((i = 0; i < n; i++)); do
        if ! ecmp_has_hop "$addr"; then
            awk -v a="$ECMP_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", b - a }'
            return 0
        fi
        sleep 0.05
    done
    echo none
}
