# shellcheck shell=bash
# Shared by the bench/ scripts: summary statistics and hugepage set-up.
# Source it after scripts/lib/common.sh; it defines functions only.

# median_range V...: "median [min, max]" of the numbers, two decimals.
median_range() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "none"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.2f [%.2f, %.2f]", m, v[1], v[NR]
        }'
}

# median V...: the median alone.
median() { median_range "$@" | awk '{ print $1 }'; }

# BENCH_HUGE_DIR: a hugetlbfs the bench mounts for DPDK while it runs.
BENCH_HUGE_DIR=/run/rvs-bench/huge
BENCH_HUGE_SAVED=

# huge_reserve PAGES: reserve PAGES 2 MiB hugepages (on top of what others
# hold) and mount BENCH_HUGE_DIR; false when the kernel gives fewer.
# huge_release undoes both, putting nr_hugepages back as it was.
huge_reserve() {
    local want=$1 have
    [[ -z $BENCH_HUGE_SAVED ]] && BENCH_HUGE_SAVED=$(cat /proc/sys/vm/nr_hugepages)
    echo $((BENCH_HUGE_SAVED + want)) >/proc/sys/vm/nr_hugepages
    have=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
    mkdir -p "$BENCH_HUGE_DIR"
    mountpoint -q "$BENCH_HUGE_DIR" || mount -t hugetlbfs -o pagesize=2M none "$BENCH_HUGE_DIR"
    ((have >= want))
}
huge_release() {
    if mountpoint -q "$BENCH_HUGE_DIR" 2>/dev/null; then
        rm -f "$BENCH_HUGE_DIR"/* 2>/dev/null || true
        umount "$BENCH_HUGE_DIR"
    fi
    if [[ -n $BENCH_HUGE_SAVED ]]; then
        echo "$BENCH_HUGE_SAVED" >/proc/sys/vm/nr_hugepages
        BENCH_HUGE_SAVED=
    fi
}
