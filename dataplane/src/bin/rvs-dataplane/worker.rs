//! The worker loop: one pinned thread per worker core, polling its own RX
//! queue on every port and on every exception TAP, running the pipeline, and
//! sending in bursts. Nothing here allocates, locks or blocks after start-up
//! (the optional idle nap is the one exception, and it is opt-in).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpdk_sys::rte_mbuf;
use rvs_dataplane::pipeline::{DumpCursor, Prefetched, Release, Verdict, Worker};
use rvs_dataplane::service::Snapshot;
use rvs_dataplane::stats::Counter;

use crate::dpdk::{self, Mbuf, MbufFrame};
use crate::shared::{DumpChannel, DumpItem, Shared};

pub const BURST: usize = 32;
const STAGE: usize = 256;
const SWEEP_BUDGET: usize = 64;
/// Connection-table slots a listing examines per poll round.
const DUMP_BUDGET: usize = 1024;
/// Synced entries a worker installs per poll round.
const SYNC_BUDGET: usize = 256;

/// The most frames a worker handles between two drains of its outbox:
/// a burst from each port and one of hand-offs (`run`).
pub fn outbox_frames(nports: usize) -> usize {
    (nports + 1) * BURST
}

/// Frames waiting to be sent on one queue.
struct Stage {
    bufs: [*mut rte_mbuf; STAGE],
    len: usize,
}

impl Stage {
    fn new() -> Self {
        Stage {
            bufs: [std::ptr::null_mut(); STAGE],
            len: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.len == STAGE
    }

    fn push(&mut self, m: *mut rte_mbuf) {
        debug_assert!(!self.is_full(), "staging flushed before it fills");
        self.bufs[self.len] = m;
        self.len += 1;
    }

    /// Send everything on (port, queue); what the queue refuses is freed and
    /// counted as `full`. Returns how many went out.
    fn flush(&mut self, port: u16, queue: u16, worker: &Worker, full: Counter) -> usize {
        let sent = dpdk::tx_burst(port, queue, &mut self.bufs[..self.len]);
        let unsent = self.len - sent;
        if unsent > 0 {
            dpdk::free_bulk(&mut self.bufs[sent..self.len]);
            worker.stats().count_n(full, unsent as u64);
        }
        self.len = 0;
        sent
    }

    /// Keep `m` to be freed with the rest of the burst's drops.
    fn discard(&mut self, m: *mut rte_mbuf) {
        if self.is_full() {
            self.free_all();
        }
        self.push(m);
    }

    fn free_all(&mut self) {
        dpdk::free_bulk(&mut self.bufs[..self.len]);
        self.len = 0;
    }
}

struct Queues {
    tx: Vec<Stage>,
    exception: Vec<Stage>,
    drop: Stage,
}

/// Run worker `worker.id` until `shared.stop` is set.
pub fn run(mut worker: Worker, shared: Arc<Shared>, idle_sleep: Duration, start: Instant) {
    let id = worker.id();
    let queue = id;
    let nports = shared.ports.len();
    let mut q = Queues {
        tx: (0..nports).map(|_| Stage::new()).collect(),
        exception: (0..nports).map(|_| Stage::new()).collect(),
        drop: Stage::new(),
    };
    let mut rx = [std::ptr::null_mut::<rte_mbuf>(); BURST];
    let mut handed = [std::ptr::null_mut::<rte_mbuf>(); BURST];
    let mut handed_port = [0u16; BURST];
    let mut probes = [Prefetched::default(); BURST];
    let mut pending_retire: Option<Arc<Snapshot>> = None;
    let mut dump = DumpState::Idle;
    let core = Arc::clone(&shared.cores[usize::from(id)]);
    let (mut cycles, mut busy) = (0u64, 0u64);

    while !shared.stop.load(Relaxed) {
        // A new generation is taken between bursts; the old one goes back to
        // the control thread to be freed there.
        match pending_retire.take() {
            Some(old) => pending_retire = shared.retired.push(old).err(),
            None => {
                if let Some(s) = shared.cfg_rings[usize::from(id)].pop() {
                    let generation = s.generation;
                    let old = worker.set_snapshot(s);
                    shared.worker_generations[usize::from(id)].store(generation, Relaxed);
                    pending_retire = shared.retired.push(old).err();
                }
            }
        }
        let now_ms = start.elapsed().as_millis() as u64 + 1;
        let t0 = tsc();
        let mut work = 0;

        for p in 0..nports {
            let n = dpdk::rx_burst(shared.ports[p].dev, queue, &mut rx);
            if n == 0 {
                continue;
            }
            work += n;
            worker.stats().count_n(Counter::RxPackets, n as u64);
            handle_burst(
                &mut worker,
                &shared,
                &mut q,
                &mut probes,
                &rx[..n],
                |_| p as u16,
                now_ms,
                false,
            );
        }
        // What other workers handed here, a burst at most. Another core
        // wrote these mbufs last: their headers, then their frames, are
        // asked for before the first is handled, so the misses overlap.
        let mut n = 0;
        while n < BURST {
            let Some((p, Mbuf(m))) = shared.handoff[usize::from(id)].pop() else {
                break;
            };
            MbufFrame(m).prefetch_header();
            (handed_port[n], handed[n]) = (p, m);
            n += 1;
        }
        handle_burst(
            &mut worker,
            &shared,
            &mut q,
            &mut probes,
            &handed[..n],
            |i| handed_port[i],
            now_ms,
            true,
        );
        work += n;
        // Later fragments held for a first fragment that came since run
        // again, in a fresh mbuf (after the first, which is already on its
        // way or handed to its flow's owner).
        // The rest of a tunnel packet fragmented to the MTU goes out as is.
        while let Some((r, bytes)) = worker.next_released() {
            let Some(Mbuf(m)) = dpdk::alloc_frame(&shared.pool, bytes) else {
                worker.stats().count(Counter::DropNoMbuf);
                continue;
            };
            work += 1;
            match r {
                Release::Rerun(p) => handle(&mut worker, &shared, &mut q, p, m, now_ms, true),
                Release::Send(p) => {
                    let p = usize::from(p);
                    stage(&mut q.tx[p], m, shared.ports[p].dev, queue, &worker);
                }
            }
        }
        // What those frames asked to be sent besides themselves: neighbour
        // events and sync records, onto their rings.
        worker.drain_outbox(&shared.events, &shared.sync_out[usize::from(id)]);
        // The kernel's frames from each exception TAP go out of its port.
        for p in 0..nports {
            let n = dpdk::rx_burst(shared.ports[p].tap, queue, &mut rx);
            work += n;
            for &m in &rx[..n] {
                worker.stats().count(Counter::FromException);
                stage(&mut q.tx[p], m, shared.ports[p].dev, queue, &worker);
            }
        }
        if id == 0 {
            for _ in 0..BURST {
                let Some((p, Mbuf(m))) = shared.ctl_tx.pop() else {
                    break;
                };
                let p = usize::from(p);
                if p < nports {
                    stage(&mut q.tx[p], m, shared.ports[p].dev, queue, &worker);
                } else {
                    q.drop.discard(m);
                }
            }
        }
        for p in 0..nports {
            let sent = q.tx[p].flush(shared.ports[p].dev, queue, &worker, Counter::DropTxFull);
            worker.stats().count_n(Counter::TxPackets, sent as u64);
            q.exception[p].flush(
                shared.ports[p].tap,
                queue,
                &worker,
                Counter::DropExceptionFull,
            );
        }
        q.drop.free_all();
        dump = serve_dump(dump, &worker, &shared.dumps[usize::from(id)], now_ms);
        // Entries a sync master sent, a bounded number per round.
        for _ in 0..SYNC_BUDGET {
            let Some(c) = shared.sync_in[usize::from(id)].pop() else {
                break;
            };
            worker.install_synced(&c, now_ms);
        }
        worker.sweep(now_ms, SWEEP_BUDGET);
        let spent = tsc().wrapping_sub(t0);
        cycles = cycles.wrapping_add(spent);
        core.cycles.store(cycles, Relaxed);
        if work > 0 {
            busy = busy.wrapping_add(spent);
            core.busy_cycles.store(busy, Relaxed);
        }
        if work == 0 && !idle_sleep.is_zero() {
            std::thread::sleep(idle_sleep);
        }
    }
    for s in q.tx.iter_mut().chain(q.exception.iter_mut()) {
        s.free_all();
    }
    q.drop.free_all();
    if let Some(old) = pending_retire {
        drop(old);
    }
}

/// The time-stamp counter: a few cycles to read, monotonic per core (the
/// busy ratio needs no frequency). Elsewhere, nanoseconds.
#[inline(always)]
fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        static T0: OnceLock<Instant> = OnceLock::new();
        T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Where this worker is in a connection listing.
#[derive(Clone, Copy)]
enum DumpState {
    Idle,
    Walking(DumpCursor),
    /// Walked; the end mark is still to be queued.
    Ending,
}

/// One round's share of a connection listing: at most [`DUMP_BUDGET`]
/// slots, and no more entries than the answer queue takes.
fn serve_dump(state: DumpState, worker: &Worker, ch: &DumpChannel, now_ms: u64) -> DumpState {
    let state = match state {
        DumpState::Idle => match ch.requests.pop() {
            Some(()) => DumpState::Walking(0),
            None => return DumpState::Idle,
        },
        s => s,
    };
    let state = match state {
        DumpState::Walking(at) => {
            match worker.dump(at, DUMP_BUDGET, now_ms, &mut |r| {
                ch.replies.push(DumpItem::Conn(r)).is_ok()
            }) {
                Some(next) => return DumpState::Walking(next),
                None => DumpState::Ending,
            }
        }
        s => s,
    };
    match ch.replies.push(DumpItem::End) {
        Ok(()) => DumpState::Idle,
        Err(_) => state,
    }
}

fn stage(s: &mut Stage, m: *mut rte_mbuf, port: u16, queue: u16, worker: &Worker) {
    if s.is_full() {
        let sent = s.flush(port, queue, worker, Counter::DropTxFull);
        worker.stats().count_n(Counter::TxPackets, sent as u64);
    }
    s.push(m);
}

/// Handle a burst of mbufs (`port_of(i)`: where the `i`-th came in). The
/// whole burst's headers first, then (for a table too big to stay in
/// cache) its table buckets, so their misses overlap (a NIC's DMA, or
/// another worker for a handed burst, leaves the headers out of cache;
/// `bench/RESULTS.md`, "The worker loop"); then, software pipelined, the
/// entries of the frames a few on while this one is handled
/// (`Worker::prefetch_ahead`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn handle_burst(
    worker: &mut Worker,
    shared: &Shared,
    q: &mut Queues,
    probes: &mut [Prefetched; BURST],
    burst: &[*mut rte_mbuf],
    port_of: impl Fn(usize) -> u16,
    now_ms: u64,
    handed_off: bool,
) {
    for &m in burst {
        MbufFrame(m).prefetch_data();
    }
    if worker.prefetches() {
        for (probe, &m) in probes.iter_mut().zip(burst) {
            let f = MbufFrame(m);
            *probe = if f.is_single_segment() {
                worker.prefetch(&f)
            } else {
                Prefetched::default()
            };
        }
        for (i, &m) in burst.iter().enumerate() {
            worker.prefetch_ahead(&mut probes[..burst.len()], i);
            handle(worker, shared, q, port_of(i), m, now_ms, handed_off);
        }
    } else {
        for (i, &m) in burst.iter().enumerate() {
            handle(worker, shared, q, port_of(i), m, now_ms, handed_off);
        }
    }
}

fn handle(
    worker: &mut Worker,
    shared: &Shared,
    q: &mut Queues,
    port: u16,
    m: *mut rte_mbuf,
    now_ms: u64,
    handed_off: bool,
) {
    let queue = worker.id();
    let mut frame = MbufFrame(m);
    let verdict = if frame.is_single_segment() {
        worker.handle_frame(port, &mut frame, now_ms, handed_off)
    } else {
        worker.stats().count(Counter::DropMultiSegment);
        Verdict::Drop(Counter::DropMultiSegment)
    };
    match verdict {
        Verdict::Forward(out) => {
            let out = usize::from(out);
            stage(&mut q.tx[out], m, shared.ports[out].dev, queue, worker);
        }
        Verdict::Reply => {
            let p = usize::from(port);
            stage(&mut q.tx[p], m, shared.ports[p].dev, queue, worker);
        }
        Verdict::Exception => {
            let p = usize::from(port);
            if q.exception[p].is_full() {
                q.exception[p].flush(
                    shared.ports[p].tap,
                    queue,
                    worker,
                    Counter::DropExceptionFull,
                );
            }
            q.exception[p].push(m);
        }
        Verdict::Handoff(w) => {
            if shared.handoff[usize::from(w)]
                .push((port, Mbuf(m)))
                .is_err()
            {
                worker.stats().count(Counter::DropHandoffFull);
                q.drop.discard(m);
            }
        }
        Verdict::Drop(_) => {
            q.drop.discard(m);
        }
    }
}
