# shellcheck shell=bash
# The director pair (scripts/lab up --pair) with rvs-controlplane on both,
# shared by lab-test's failover section and bench/failover: start the
# control planes from configs/lab-pair.conf, start long downloads through
# both VIPs, kill the master outright, and measure the takeover.
#
# Source it after common.sh; it defines variables and functions only.

PAIR_CONF1=$LAB_STATE_DIR/pair-lb1.conf
PAIR_CONF2=$LAB_STATE_DIR/pair-lb2.conf
PAIR_LOG1=$LAB_STATE_DIR/controlplane-lb1.log
PAIR_LOG2=$LAB_STATE_DIR/controlplane-lb2.log
# The NAT client's network, which the real servers reach through GW_VIP.
PAIR_NAT_NET=${CLI_NAT_IP%.*}.0/$CLI_NAT_PREFIX_LEN
# The bound of the issue: 3 x advert_int + skew (0.61 s at priority 100) + 1 s.
PAIR_TAKEOVER_BOUND_S=4.61
# Creating it drains the first director (its vrrp_script fails: -60).
PAIR_STANDBY1=$LAB_STATE_DIR/standby-lb1
# A download of big.bin (32 MiB) that is whole.
PAIR_WHOLE="200 33554432"

# pair_start: both control planes (priority 150 on rvs-lb, 100 on rvs-lb2),
# the real servers' route to the NAT client through GW_VIP; waits until the
# first is MASTER and the second BACKUP. Sets PAIR_CP1 and PAIR_CP2 (pids).
pair_start() {
    cp "$RVS_ROOT/configs/lab-pair.conf" "$PAIR_CONF1"
    sed 's/priority 150/priority 100/; s/standby-lb1/standby-lb2/' "$PAIR_CONF1" >"$PAIR_CONF2"
    rm -f "$PAIR_STANDBY1" "$LAB_STATE_DIR/standby-lb2"
    local rs
    for rs in "$NS_RS1" "$NS_RS2"; do
        ip -n "$rs" route replace "$PAIR_NAT_NET" via "$GW_VIP" dev eth0
    done
    : >"$PAIR_LOG1"
    : >"$PAIR_LOG2"
    ip netns exec "$NS_LB" "$CONTROLPLANE_BIN" --config "$PAIR_CONF1" >"$PAIR_LOG1" 2>&1 &
    PAIR_CP1=$!
    # It dies by SIGKILL: not a job of this shell, so no "Killed" notice.
    disown "$PAIR_CP1"
    ip netns exec "$NS_LB2" "$CONTROLPLANE_BIN" --config "$PAIR_CONF2" --socket "$ADMIN_SOCKET2" \
        >"$PAIR_LOG2" 2>&1 &
    PAIR_CP2=$!
    wait_line 15 "$PAIR_LOG1" "Entering MASTER STATE" &&
        wait_line 5 "$PAIR_LOG2" "Entering BACKUP STATE" &&
        pair_daemons_settled
}

# pair_daemons_settled: wait (5 s at most) until the first director runs
# the master sync daemon and the second the backup one.
pair_daemons_settled() {
    local i
    for ((i = 0; i < 50; i++)); do
        [[ $("$RVSADM" -L --daemon 2>/dev/null) == master* &&
            $("$RVSADM" --socket "$ADMIN_SOCKET2" -L --daemon 2>/dev/null) == backup* ]] && return 0
        sleep 0.1
    done
    return 1
}

# pair_downloads N RATE: N downloads of big.bin through the DR VIP and N
# through the NAT VIP (from CLI_NAT_IP), each limited to RATE (curl's
# --limit-rate); each writes "CODE SIZE" to $LAB_STATE_DIR/dl-{dr,nat}-I.out.
# Sets PAIR_DOWNLOADS (pids).
pair_downloads() {
    local n=$1 rate=$2 i
    PAIR_DOWNLOADS=()
    rm -f "$LAB_STATE_DIR"/dl-*.out
    for ((i = 0; i < n; i++)); do
        ip netns exec "$NS_CLI" curl -s --max-time 90 --limit-rate "$rate" -o /dev/null \
            -w '%{http_code} %{size_download}\n' "http://$VIP/big.bin" \
            >"$LAB_STATE_DIR/dl-dr-$i.out" 2>&1 &
        PAIR_DOWNLOADS+=($!)
        ip netns exec "$NS_CLI" curl -s --max-time 90 --limit-rate "$rate" -o /dev/null \
            --interface "$CLI_NAT_IP" -w '%{http_code} %{size_download}\n' "http://$VIP_NAT/big.bin" \
            >"$LAB_STATE_DIR/dl-nat-$i.out" 2>&1 &
        PAIR_DOWNLOADS+=($!)
    done
}

# pair_established: the established TCP entries the second director holds.
pair_established() {
    "$RVSADM" --socket "$ADMIN_SOCKET2" -Lnc 2>/dev/null | grep -c ' ESTABLISHED ' || true
}

# pair_kill_master: SIGKILL the first director's dataplane and control
# plane (no priority-0 advert: the backup must notice the silence), then
# wait for the second to be MASTER. Sets PAIR_TAKEOVER_S (seconds, or
# "none").
pair_kill_master() {
    local dp t0 n
    dp=$(tr -dc '0-9' <"$DATAPLANE_PID")
    n=$(grep -c "Entering MASTER STATE" "$PAIR_LOG2" 2>/dev/null || true)
    t0=$(date +%s.%N)
    kill -KILL "$dp" "$PAIR_CP1" 2>/dev/null || true
    if wait_line 10 "$PAIR_LOG2" "Entering MASTER STATE" $((${n:-0} + 1)); then
        PAIR_TAKEOVER_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    else
        PAIR_TAKEOVER_S=none
    fi
}

# pair_whole KIND: how many of the KIND (dr, nat) downloads came whole.
pair_whole() {
    cat "$LAB_STATE_DIR"/dl-"$1"-*.out 2>/dev/null | grep -c "^$PAIR_WHOLE\$" || true
}

# pair_stop: the second control plane (the first was killed), and the
# real servers' route back to their default.
pair_stop() {
    kill -TERM "$PAIR_CP2" 2>/dev/null || true
    wait "$PAIR_CP2" 2>/dev/null || true
    local rs
    for rs in "$NS_RS1" "$NS_RS2"; do
        ip -n "$rs" route del "$PAIR_NAT_NET" 2>/dev/null || true
    done
}
