# shellcheck shell=bash
# The SYN-flood scenario shared by scripts/lab-test-flood (which asserts on
# it) and bench/flood (which tabulates it). Source after common.sh.
#
# flood_lab_up DIR: writes DIR/dataplane.toml (the lab's config with one
# worker and a table of FLOOD_TABLE entries, so a flood at the lab's rates
# fills it in well under a second) and brings a fresh lab up on it with the
# demo's DR service (rr over both real servers).
#
# flood_fullnat_service [--synproxy]: the FullNAT service on VIP_NAT:80
# (rr over both real servers' port RS_NAT_PORT, local addresses LADDR1 and
# LADDR2), with the SYN proxy when asked.
#
# flood_run DIR DEFENSE SECONDS [VIP]: with the lab up, sets the defence
# (`rvsadm --set-defense DEFENSE`, e.g. drop_entry=1), starts 10 long
# downloads of the real servers' 32 MiB big.bin (curl, rate limited so each
# lasts until after the flood), fills the table with a warm-up flood
# (FLOOD_WARMUP seconds, so the table's pages are touched before resident
# memory is first read), then for SECONDS runs at once:
#   - a spoofed random-source SYN flood from rvs-gen (--syn-only
#     --random-src: 65 536 source addresses, random ports) to VIP:80,
#     unpaced (FLOOD_RATE, if set, paces it);
#   - new clients: wrk, 4 connections, a new connection per request
#     (Connection: close), 5 s timeout;
#   - once a second, the defence's state (--list-defense: occupancy, drops)
#     into DIR/occupancy.txt.
# The flood, the downloads and wrk go to VIP (default the DR service's).
# Then prints `key=value` lines to stdout: flood_sent, flood_mpps,
# dp_rx_mpps (what the dataplane received while the flood ran: every frame,
# the flood's and the clients'), req_ok, req_failed, downloads,
# downloads_whole, occ_max (per cent), occ_samples, rss_before, rss_after
# (KiB), entries_dropped, packets_dropped, entries (rvsadm -Ln's active and
# inactive connections at the flood's end), conns_max, and the SYN
# proxy's synproxy_cookies, synproxy_acks_bad, synproxy_conns.

FLOOD_TABLE=${FLOOD_TABLE:-16384}
FLOOD_WARMUP=${FLOOD_WARMUP:-3}
FLOOD_SRC=198.19.0.1 # spoofed: 65 536 addresses from here on nobody holds
BIG_SIZE=33554432    # scripts/lab's big.bin

flood_lab_up() {
    local dir=$1
    mkdir -p "$dir"
    sed -e 's/^workers = .*/workers = 1/' \
        -e "s/^conns_per_core_max = .*/conns_per_core_max = $FLOOD_TABLE/" \
        "$RVS_ROOT/configs/lab-dataplane.toml" >"$dir/dataplane.toml"
    grep -q "^conns_per_core_max = $FLOOD_TABLE\$" "$dir/dataplane.toml" || return 1
    RVS_LAB_CONFIG=$dir/dataplane.toml "$RVS_ROOT/scripts/lab" up >"$dir/lab-up.log" 2>&1 || return 1
    configure_dr_service || return 1
    ip netns exec "$NS_CLI" sysctl -qw net.ipv4.tcp_tw_reuse=1 \
        net.ipv4.ip_local_port_range="1024 65535"
}

flood_fullnat_service() {
    rvsadm -A -t "$VIP_NAT:80" -s rr "$@" &&
        rvsadm -a -t "$VIP_NAT:80" -r "$RS1_IP:$RS_NAT_PORT" --fullnat &&
        rvsadm -a -t "$VIP_NAT:80" -r "$RS2_IP:$RS_NAT_PORT" --fullnat &&
        rvsadm --add-laddr -t "$VIP_NAT:80" -z "$LADDR1" &&
        rvsadm --add-laddr -t "$VIP_NAT:80" -z "$LADDR2"
}

# flood_defense_field NAME: a line of --list-defense.
flood_defense_field() { rvsadm --list-defense | awk -v n="$1" '$1 == n { print $2 }'; }

# flood_counter NAME: one of the dataplane's counters.
flood_counter() { rvsadm --counters | awk -v n="$1" '$1 == n { print $2 }'; }

flood_run() {
    local dir=$1 defense=$2 secs=$3 vip=${4:-$VIP} dp_pid lb_mac gen_pid wrk_pid sampler_pid i
    local rate=() dl_pids=()
    dp_pid=$(cat "$DATAPLANE_PID") || return 1
    lb_mac=$(ip netns exec "$NS_LB" cat "/sys/class/net/$LB_IFACE/address") || return 1
    [[ -n ${FLOOD_RATE:-} ]] && rate=(--rate "$FLOOD_RATE")
    rvsadm --set-defense "$defense" || return 1
    gen() {
        ip netns exec "$NS_CLI" "$RVS_BIN_DIR/rvs-gen" --iface eth0 --dst-mac "$lb_mac" \
            --src "$FLOOD_SRC" --dst "$vip:80" --proto tcp --flows 200000 --syn-only --random-src \
            --quiet "$@"
    }
    # The downloads: each lasts about the warm-up and SECONDS + 5 s at its rate.
    local limit=$((BIG_SIZE / (FLOOD_WARMUP + secs + 7)))
    for ((i = 0; i < 10; i++)); do
        ip netns exec "$NS_CLI" curl -s -o /dev/null --limit-rate "$limit" \
            --max-time $((FLOOD_WARMUP + secs + 120)) -w '%{http_code} %{size_download}\n' \
            "http://$vip/big.bin" >"$dir/download-$i.txt" 2>&1 &
        dl_pids+=($!)
    done
    sleep 1
    gen --seconds "$FLOOD_WARMUP" "${rate[@]}" >"$dir/warmup.txt" 2>&1 || return 1
    sleep 1.2 # the sweep judges the table once a second
    local rss_before
    rss_before=$(awk '/^VmRSS:/ { print $2 }' "/proc/$dp_pid/status") || return 1

    (
        end=$((SECONDS + secs + 2))
        while ((SECONDS < end)); do
            printf '%s %s %s %s\n' "$SECONDS" "$(flood_defense_field occupancy)" \
                "$(flood_defense_field entries_dropped)" "$(flood_defense_field packets_dropped)"
            sleep 1
        done
    ) >"$dir/occupancy.txt" 2>&1 &
    sampler_pid=$!
    sleep 1
    local rx0 t0
    rx0=$(flood_counter rx_packets) t0=$(date +%s.%N)
    gen --seconds "$secs" "${rate[@]}" >"$dir/flood.txt" 2>&1 &
    gen_pid=$!
    # wrk first tries one blocking connect (its "unable to connect" check):
    # when a defence drops every SYN, that connect retransmits for up to two
    # minutes and wrk's SECONDS begin only when it succeeds, after the flood.
    # The time limit keeps the requests counted to the flood's window.
    ip netns exec "$NS_CLI" timeout -s INT -k 2 $((secs + 5)) wrk -t1 -c4 -d"${secs}s" --timeout 5s \
        -H 'Connection: close' "http://$vip/" >"$dir/wrk.txt" 2>&1 &
    wrk_pid=$!
    local rc=0
    wait "$gen_pid" || rc=1
    local rx1 t1 entries
    rx1=$(flood_counter rx_packets) t1=$(date +%s.%N)
    # The table's entries as the listing counts them (active + inactive).
    entries=$(rvsadm -Ln | awk '$1 == "->" && $2 ~ /^[0-9]/ { s += $5 + $6 } END { print s + 0 }')
    # wrk fails when it cannot connect at all (a defence dropping every new
    # connection): a figure, counted as a failed request, not a failed run.
    # (or still waits for that first connect, which ignores SIGINT: `timeout`
    # then kills it; status 124 or 137).
    local wrk_rc=0
    wait "$wrk_pid" || wrk_rc=$?
    ((wrk_rc == 0 || wrk_rc == 124 || wrk_rc == 137)) || grep -q 'unable to connect' "$dir/wrk.txt" || rc=1
    wait "$sampler_pid" || true
    for i in "${dl_pids[@]}"; do wait "$i" || true; done
    local rss_after whole=0 f
    rss_after=$(awk '/^VmRSS:/ { print $2 }' "/proc/$dp_pid/status") || rc=1
    for f in "$dir"/download-*.txt; do
        [[ $(cat "$f") == "200 $BIG_SIZE" ]] && whole=$((whole + 1))
    done
    local requests errors non2xx
    requests=$(awk '/requests in/ { print $1 }' "$dir/wrk.txt")
    errors=$(awk '/Socket errors/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i } END { print s + 0 }' "$dir/wrk.txt")
    non2xx=$(awk '/Non-2xx/ { print $NF }' "$dir/wrk.txt")
    echo "flood_sent=$(grep -o 'sent=[0-9]*' "$dir/flood.txt" | cut -d= -f2)"
    echo "flood_mpps=$(grep -o 'mpps=[0-9.]*' "$dir/flood.txt" | cut -d= -f2)"
    awk -v a="$rx0" -v b="$rx1" -v s="$t0" -v e="$t1" 'BEGIN { printf "dp_rx_mpps=%.4f\n", (b - a) / (e - s) / 1e6 }'
    echo "req_ok=$((${requests:-0} - ${non2xx:-0}))"
    ((${requests:-0} > 0)) || errors=$((errors + 1))
    echo "req_failed=$((errors + ${non2xx:-0}))"
    echo "downloads=${#dl_pids[@]}"
    echo "downloads_whole=$whole"
    awk '{ v = $2; sub(/%/, "", v); if (v + 0 > m) m = v + 0; n++ } END { printf "occ_max=%s\nocc_samples=%d\n", m + 0, n }' \
        "$dir/occupancy.txt"
    echo "rss_before=$rss_before"
    echo "rss_after=$rss_after"
    echo "entries_dropped=$(flood_defense_field entries_dropped)"
    echo "packets_dropped=$(flood_defense_field packets_dropped)"
    echo "entries=$entries"
    echo "conns_max=$FLOOD_TABLE"
    echo "synproxy_cookies=$(flood_defense_field synproxy_cookies_sent)"
    echo "synproxy_acks_bad=$(flood_defense_field synproxy_acks_bad)"
    echo "synproxy_conns=$(flood_defense_field synproxy_conns)"
    return "$rc"
}
