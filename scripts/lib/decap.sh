# shellcheck shell=bash
# The lab's TUN-mode decapsulator for real servers (scripts/lib/decap.bpf.c):
# build it and attach it to, or detach it from, an interface in a network
# namespace. The lab's kernel has no ipip/fou modules; this tc program strips
# IPIP, IPv6-in-IPv6, 4in6/6in4 and GUE (IPVS's --tun-type gue) headers at
# clsact ingress so the inner packet reaches the VIP on the real server's lo.
#
#   decap_attach NS IFACE OBJDIR [GUE_PORT]   (GUE_PORT default 6080, 0 = no GUE)
#   decap_detach NS IFACE
#
# Source it; it defines functions only and runs nothing. Functions return
# non-zero with a message on stderr on failure (set -e compatible).
# Needs clang (with the BPF target), tc (iproute2 built with libbpf) and ip.
#
# The real server still needs the VIP on lo and rp_filter=0 (all, lo and
# IFACE), and arp_ignore=1/arp_announce=2 as in DR mode; see
# scripts/lib/decap-selftest for a complete example.

# The program's source, next to this file.
DECAP_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/decap.bpf.c
# The tc filter's priority and handle on ingress: fixed, so that attaching
# again replaces the filter instead of adding a second one.
DECAP_TC_PREF=1

# decap_check_netns NS: fails with a message unless NS is a named namespace.
decap_check_netns() {
    if ! ip netns exec "$1" true 2>/dev/null; then
        echo "decap: no network namespace '$1' (see ip netns list)" >&2
        return 1
    fi
}

# decap_build OBJDIR GUE_PORT: compiles the program into OBJDIR/decap-gueN.o
# (one object per port: the port is a compile-time constant) unless that
# object is newer than the source. Prints the object's path.
decap_build() {
    local objdir=$1 port=$2 obj tmp
    if [[ ! $port =~ ^[0-9]{1,5}$ ]] || ((10#$port > 65535)); then
        echo "decap: GUE port must be 0..65535, not '$port'" >&2
        return 1
    fi
    port=$((10#$port))
    obj=$objdir/decap-gue$port.o
    if [[ -f $obj && $obj -nt $DECAP_SRC ]]; then
        printf '%s\n' "$obj"
        return 0
    fi
    if ! command -v clang >/dev/null 2>&1; then
        echo "decap: clang not found (apt-get install clang)" >&2
        return 1
    fi
    if ! mkdir -p "$objdir"; then
        echo "decap: cannot create $objdir" >&2
        return 1
    fi
    # Compile to a temporary name and rename, so that a failed or concurrent
    # build never leaves a half-written object that looks up to date.
    tmp=$(mktemp "$objdir/.decap-gue$port.XXXXXX") || {
        echo "decap: cannot create a file in $objdir" >&2
        return 1
    }
    if ! clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu \
        -Wall -DGUE_PORT="$port" -c "$DECAP_SRC" -o "$tmp"; then
        rm -f "$tmp"
        echo "decap: clang failed to compile $DECAP_SRC" >&2
        return 1
    fi
    if ! mv -f "$tmp" "$obj"; then
        rm -f "$tmp"
        echo "decap: cannot write $obj" >&2
        return 1
    fi
    printf '%s\n' "$obj"
}

# decap_attach NS IFACE OBJDIR [GUE_PORT]: builds the program (if needed) and
# attaches it at clsact ingress of IFACE in namespace NS, replacing any
# decapsulator already there (the clsact qdisc and other filters on it are
# kept). IFACE must be an Ethernet device.
decap_attach() {
    if (($# < 3 || $# > 4)); then
        echo "usage: decap_attach NS IFACE OBJDIR [GUE_PORT]" >&2
        return 1
    fi
    local ns=$1 iface=$2 objdir=$3 port=${4:-6080} obj type
    decap_check_netns "$ns" || return 1
    obj=$(decap_build "$objdir" "$port") || return 1
    if ! type=$(ip netns exec "$ns" cat "/sys/class/net/$iface/type" 2>/dev/null); then
        echo "decap: no interface $iface in namespace $ns" >&2
        return 1
    fi
    # ARPHRD_ETHER: the program assumes a 14-byte MAC header.
    if [[ $type != 1 ]]; then
        echo "decap: $iface in $ns is not an Ethernet device (type $type)" >&2
        return 1
    fi
    if ! ip netns exec "$ns" tc qdisc replace dev "$iface" clsact; then
        echo "decap: tc could not add a clsact qdisc to $iface in $ns" >&2
        return 1
    fi
    if ! ip netns exec "$ns" tc filter replace dev "$iface" ingress \
        pref "$DECAP_TC_PREF" handle 1 bpf direct-action obj "$obj" sec tc; then
        echo "decap: tc could not attach $obj to $iface in $ns (see the verifier log above)" >&2
        return 1
    fi
}

# decap_detach NS IFACE: removes the decapsulator from IFACE in NS, and the
# clsact qdisc too if no other filter is left on it. Succeeds if there was no
# decapsulator; fails if the namespace or the interface does not exist.
decap_detach() {
    if (($# != 2)); then
        echo "usage: decap_detach NS IFACE" >&2
        return 1
    fi
    local ns=$1 iface=$2 qdiscs filters
    decap_check_netns "$ns" || return 1
    if ! ip netns exec "$ns" test -e "/sys/class/net/$iface"; then
        echo "decap: no interface $iface in namespace $ns" >&2
        return 1
    fi
    # Outputs are captured before grepping: `tc ... | grep -q` can fail under
    # pipefail when grep exits first and tc gets SIGPIPE.
    if ! qdiscs=$(ip netns exec "$ns" tc qdisc show dev "$iface"); then
        echo "decap: tc could not list the qdiscs of $iface in $ns" >&2
        return 1
    fi
    if ! grep -q '^qdisc clsact' <<<"$qdiscs"; then
        return 0
    fi
    if ! filters=$(ip netns exec "$ns" tc filter show dev "$iface" ingress pref "$DECAP_TC_PREF"); then
        echo "decap: tc could not list the ingress filters of $iface in $ns" >&2
        return 1
    fi
    # Only our program (its function is rvs_decap) is removed.
    if grep -q 'name rvs_decap ' <<<"$filters"; then
        if ! ip netns exec "$ns" tc filter del dev "$iface" ingress pref "$DECAP_TC_PREF"; then
            echo "decap: tc could not remove the decapsulator from $iface in $ns" >&2
            return 1
        fi
    fi
    if [[ -z $(ip netns exec "$ns" tc filter show dev "$iface" ingress) &&
        -z $(ip netns exec "$ns" tc filter show dev "$iface" egress) ]]; then
        if ! ip netns exec "$ns" tc qdisc del dev "$iface" clsact; then
            echo "decap: tc could not remove the clsact qdisc of $iface in $ns" >&2
            return 1
        fi
    fi
}
