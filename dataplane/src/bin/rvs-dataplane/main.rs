//! rvs-dataplane: the DPDK process that forwards.
//!
//! `rvs-dataplane --config FILE`: start the EAL with the ports of FILE, make
//! an exception TAP per port with the port's MAC, pin one worker per
//! configured core, serve the admin API on the control (main) thread, and on
//! SIGINT/SIGTERM stop the workers, close the ports and log final counters.

mod config;
mod control;
mod dpdk;
mod shared;
mod syncd;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use rvs_dataplane::admin::{AdminSetup, AdminState};
use rvs_dataplane::neigh::NeighTable;
use rvs_dataplane::pipeline::{ConnPolicy, Worker, WorkerSetup};
use rvs_dataplane::service::PortInfo;
use rvs_dataplane::stats::{self, CoreStats, Counter, OverloadFlags};

use shared::{DumpChannel, PortIds, Shared};

static STOP: AtomicBool = AtomicBool::new(false);

/// Entries each worker's sync rings hold (both ways).
const SYNC_RING: usize = 16384;

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; sigaction with a zeroed mask is valid.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

const USAGE: &str = "usage: rvs-dataplane --config FILE

Runs the rvs forwarding engine on the DPDK ports FILE names (TOML; any key
can be overridden by RVS_DP_<KEY>, nested keys joined by __, e.g.
RVS_DP_WORKERS=2 or RVS_DP_EAL__MEMORY_MB=256). See configs/lab-dataplane.toml.
Logs go to stderr; RUST_LOG sets the level (default info).";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config_path = match args.as_slice() {
        [flag, path] if flag == "--config" || flag == "-c" => path.clone(),
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return;
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cfg = match config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rvs-dataplane: configuration error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(cfg) {
        tracing::error!("{e}");
        eprintln!("rvs-dataplane: {e}");
        std::process::exit(1);
    }
}

fn run(cfg: config::DataplaneConfig) -> Result<(), String> {
    install_signal_handlers();
    let listener = control::bind_admin(&cfg.admin_socket)?;
    // Read before the EAL pins this thread to the main core, which narrows
    // what the thread's affinity mask shows.
    let available = core_affinity::get_core_ids().unwrap_or_default();
    let eal = dpdk::eal_args(&cfg);
    tracing::info!(args = ?eal, "starting the EAL");
    dpdk::eal_init(&eal)?;
    let pool = dpdk::create_pool(cfg.mbufs)?;

    let mut ports = Vec::new();
    let mut infos = Vec::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        let dev = dpdk::port_by_name(dpdk::device_name(&p.device))?;
        let tap = dpdk::port_by_name(&dpdk::tap_name(i))?;
        let mac = dpdk::mac_of(dev)?;
        dpdk::start_port(dev, cfg.workers, &pool)?;
        dpdk::start_port(tap, cfg.workers, &pool)?;
        dpdk::set_mac(tap, mac)?;
        let addr = p
            .parsed_address()
            .map_err(|e| format!("ports[{i}].address: {e}"))?;
        let addr6 = p
            .parsed_address6()
            .map_err(|e| format!("ports[{i}].address6: {e}"))?;
        tracing::info!(port = %p.name, dev, tap, %mac, iface = %p.exception_iface, "port up");
        ports.push(PortIds { dev, tap });
        infos.push(PortInfo {
            mac,
            addr: addr.addr,
            prefix_len: addr.prefix_len,
            addr6: addr6.map(|a| a.0),
            prefix6_len: addr6.map_or(0, |a| a.1),
            mtu: p.mtu,
        });
    }

    let workers = usize::from(cfg.workers);
    let cores: Arc<[Arc<CoreStats>]> = (0..workers)
        .map(|_| Arc::new(CoreStats::new(cfg.stats_slots_max as usize)))
        .collect();
    let overload = Arc::new(OverloadFlags::new(cfg.stats_slots_max as usize));
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        ports: ports.clone(),
        syn_keys: Arc::new(rvs_dataplane::synproxy::SynKeys::random()),
        cores: cores.to_vec(),
        neigh: Arc::new(NeighTable::new(cfg.neigh_slots_max as usize)),
        cfg_rings: (0..workers).map(|_| ArrayQueue::new(1)).collect(),
        worker_generations: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        retired: ArrayQueue::new(4 * workers),
        events: Arc::new(ArrayQueue::new(4096)),
        handoff: (0..workers).map(|_| ArrayQueue::new(4096)).collect(),
        ctl_tx: ArrayQueue::new(1024),
        dumps: (0..workers).map(|_| DumpChannel::new()).collect(),
        sync_out: (0..workers)
            .map(|_| Arc::new(ArrayQueue::new(SYNC_RING)))
            .collect(),
        sync_in: (0..workers).map(|_| ArrayQueue::new(SYNC_RING)).collect(),
        pool: dpdk::Pool(pool.0),
    });
    let conn_table_size = (cfg.conns_per_core_max * 2).next_power_of_two() as u32;
    let mut admin = AdminState::new(AdminSetup {
        ports: infos.clone(),
        port_names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
        slots_max: cfg.stats_slots_max,
        neigh_slots_max: cfg.neigh_slots_max,
        workers: cfg.workers.into(),
        conn_table_size: conn_table_size.saturating_mul(cfg.workers.into()),
        overload: Arc::clone(&overload),
        mh_table_size: cfg.sched.mh_table_size,
        locality_caches: cfg.sched.locality_caches,
    });
    for (i, r) in cfg.mark_rules.iter().enumerate() {
        let rule = r.to_rule().map_err(|e| format!("mark_rules[{i}]: {e}"))?;
        if let (rvs_api::Response::Error(e), _) =
            admin.handle(rvs_api::Request::AddMarkRule(rule), &cores, 0)
        {
            return Err(format!("mark_rules[{i}]: {}", e.message));
        }
    }
    if let (rvs_api::Response::Error(e), _) =
        admin.handle(rvs_api::Request::SetDefense(cfg.conn.defense()), &cores, 0)
    {
        return Err(format!("[conn] defence settings: {}", e.message));
    }
    let first = Arc::new(admin.snapshot());

    let start = Instant::now();
    let mut handles = Vec::new();
    let policy = ConnPolicy {
        conn_reuse_mode: cfg.conn.reuse_mode,
        expire_nodest_conn: cfg.conn.expire_nodest_conn,
        expire_quiescent_template: cfg.conn.expire_quiescent_template,
        sloppy_tcp: cfg.conn.sloppy_tcp,
    };
    for w in 0..workers {
        let core = if cfg.worker_cores.is_empty() {
            let n = available.len().max(1);
            available
                .get((cfg.eal.main_core + 1 + w) % n)
                .map_or(0, |c| c.id)
        } else {
            cfg.worker_cores[w]
        };
        let worker = Worker::new(WorkerSetup {
            id: w as u16,
            workers: cfg.workers,
            snapshot: Arc::clone(&first),
            conns_max: cfg.conns_per_core_max,
            conns6_max: cfg.conns6_per_core_max,
            cores: Arc::clone(&cores),
            overload: Arc::clone(&overload),
            neigh: Arc::clone(&shared.neigh),
            outbox_frames: worker::outbox_frames(shared.ports.len()),
            policy,
            locality_caches: cfg.sched.locality_caches,
            locality_cache_entries: cfg.sched.locality_cache_entries,
            icmp: cfg.icmp.limits()?,
            syn_keys: Arc::clone(&shared.syn_keys),
        });
        let shared = Arc::clone(&shared);
        let idle = Duration::from_micros(u64::from(cfg.idle_sleep_us));
        let h = std::thread::Builder::new()
            .name(format!("rvs-worker-{w}"))
            .spawn(move || {
                if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                    tracing::warn!(worker = w, core, "could not pin the worker");
                }
                if let Err(e) = dpdk::register_thread() {
                    tracing::error!(worker = w, "{e}");
                    shared.stop.store(true, Ordering::Relaxed);
                    return;
                }
                tracing::info!(worker = w, core, "worker polling");
                worker::run(worker, Arc::clone(&shared), idle, start);
                dpdk::unregister_thread();
            })
            .map_err(|e| format!("cannot start worker {w}: {e}"))?;
        handles.push(h);
    }

    let mut ctl = control::Control {
        shared: Arc::clone(&shared),
        admin,
        ports: infos,
        pool,
        start,
        ifaces: cfg
            .ports
            .iter()
            .map(|p| p.exception_iface.clone())
            .collect(),
        loads: vec![],
        current: first,
        syncd: syncd::Daemons::new(cfg.sync.install_rate),
    };
    // The signal flag and the shared stop flag meet here.
    let watcher_shared = Arc::clone(&shared);
    let watcher = std::thread::spawn(move || {
        while !STOP.load(Ordering::Relaxed) && !watcher_shared.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        watcher_shared.stop.store(true, Ordering::Relaxed);
    });
    let calls = control::start_admin_server(listener, Arc::clone(&shared))
        .map_err(|e| format!("cannot start the admin server: {e}"))?;
    tracing::info!(socket = %cfg.admin_socket, workers, "rvs-dataplane ready");
    ctl.run(calls);

    tracing::info!("stopping: workers first, then ports");
    let _ = watcher.join();
    for h in handles {
        let _ = h.join();
    }
    while let Some((_, m)) = shared.handoff.iter().find_map(|r| r.pop()) {
        dpdk::free_bulk(&mut [m.0]);
    }
    while let Some((_, m)) = shared.ctl_tx.pop() {
        dpdk::free_bulk(&mut [m.0]);
    }
    for p in &ports {
        dpdk::stop_port(p.dev);
        dpdk::stop_port(p.tap);
    }
    let _ = std::fs::remove_file(&cfg.admin_socket);
    for &c in Counter::ALL {
        let v = stats::total(&cores, c);
        if v != 0 {
            tracing::info!(counter = c.name(), value = v, "final counter");
        }
    }
    drop(ctl);
    dpdk::eal_cleanup();
    tracing::info!("stopped");
    Ok(())
}
