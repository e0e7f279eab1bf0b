//! The DPDK side of the process: EAL start-up, the mbuf pool, port and
//! exception-TAP set-up, and [`MbufFrame`], the pipeline's view of an mbuf.
//! Every `unsafe` block of the dataplane binary is in this file.

use std::ffi::{CStr, CString};
use std::os::raw::c_char;

use dpdk_sys as sys;
use rvs_dataplane::pipeline::Frame;
use rvs_dataplane::wire::ethernet::MacAddr;

use crate::config::{DataplaneConfig, Hugepages};

/// DPDK's last error as text.
pub fn last_error() -> String {
    // SAFETY: rte_errno is thread-local and always readable; rte_strerror
    // returns a pointer to a static or thread-local string.
    unsafe {
        let e = sys::rvs_errno();
        CStr::from_ptr(sys::rte_strerror(e))
            .to_string_lossy()
            .into_owned()
    }
}

fn hugepages_available() -> bool {
    let free = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("HugePages_Free:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let mounted = std::fs::read_to_string("/proc/mounts")
        .map(|m| {
            m.lines()
                .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"))
        })
        .unwrap_or(false);
    free > 0 && mounted
}

/// The device string with `qpairs=` for af_packet.
fn device_arg(device: &str, queues: u16) -> String {
    if device.starts_with("net_af_packet") && !device.contains("qpairs=") {
        format!("{device},qpairs={queues}")
    } else {
        device.to_string()
    }
}

/// The vdev name of a device string (`net_af_packet0,iface=..` → `net_af_packet0`).
pub fn device_name(device: &str) -> &str {
    device.split(',').next().unwrap_or(device)
}

pub fn tap_name(port_index: usize) -> String {
    format!("net_tap_rvs{port_index}")
}

/// The EAL arguments this configuration asks for.
pub fn eal_args(cfg: &DataplaneConfig) -> Vec<String> {
    let mut a: Vec<String> = vec!["rvs-dataplane".into()];
    a.extend(["-l".into(), cfg.eal.main_core.to_string()]);
    a.extend(["--file-prefix".into(), cfg.eal.file_prefix.clone()]);
    a.push("--no-telemetry".into());
    let huge = match cfg.eal.hugepages {
        Hugepages::On => true,
        Hugepages::Off => false,
        Hugepages::Auto => hugepages_available(),
    };
    if !huge {
        a.extend([
            "--no-huge".into(),
            "-m".into(),
            cfg.eal.memory_mb.to_string(),
        ]);
    }
    for (i, p) in cfg.ports.iter().enumerate() {
        a.extend(["--vdev".into(), device_arg(&p.device, cfg.workers)]);
        a.extend([
            "--vdev".into(),
            format!("{},iface={}", tap_name(i), p.exception_iface),
        ]);
    }
    a.extend(cfg.eal.extra_args.iter().cloned());
    a
}

/// Start the EAL with `args`.
pub fn eal_init(args: &[String]) -> Result<(), String> {
    let cargs: Vec<CString> = args
        .iter()
        .map(|s| CString::new(s.as_str()).map_err(|_| format!("EAL argument {s:?} has a NUL")))
        .collect::<Result<_, _>>()?;
    let mut argv: Vec<*mut c_char> = cargs.iter().map(|c| c.as_ptr() as *mut c_char).collect();
    // SAFETY: argv points at NUL-terminated strings that outlive the call
    // (the EAL copies what it keeps); it is called once per process.
    let rc = unsafe { sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
    if rc < 0 {
        return Err(format!("rte_eal_init failed: {}", last_error()));
    }
    Ok(())
}

pub fn eal_cleanup() {
    // SAFETY: called once at the very end, after every port is closed and
    // every worker thread has stopped.
    unsafe {
        sys::rte_eal_cleanup();
    }
}

/// The mbuf pool every queue takes from.
pub struct Pool(pub *mut sys::rte_mempool);

// SAFETY: a DPDK mempool is made to be shared by threads (per-lcore caches
// plus a lock-free ring); the pointer is never freed while the process runs.
unsafe impl Send for Pool {}
// SAFETY: as above.
unsafe impl Sync for Pool {}

pub fn create_pool(mbufs: u32) -> Result<Pool, String> {
    let name = CString::new("rvs_mbufs").expect("no NUL");
    // SAFETY: plain constructor call with valid arguments; the EAL is up.
    let p = unsafe {
        sys::rte_pktmbuf_pool_create(
            name.as_ptr(),
            mbufs,
            256,
            0,
            sys::RVS_MBUF_DEFAULT_BUF_SIZE,
            sys::rvs_socket_id(),
        )
    };
    if p.is_null() {
        return Err(format!(
            "cannot create the mbuf pool of {mbufs}: {}",
            last_error()
        ));
    }
    Ok(Pool(p))
}

/// A DPDK port id by its vdev name.
pub fn port_by_name(name: &str) -> Result<u16, String> {
    let c = CString::new(name).map_err(|_| "NUL in name".to_string())?;
    let mut id: u16 = 0;
    // SAFETY: valid C string and out-pointer.
    let rc = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
    if rc != 0 {
        return Err(format!("no DPDK port named {name}"));
    }
    Ok(id)
}

pub fn mac_of(port: u16) -> Result<MacAddr, String> {
    let mut a = sys::rte_ether_addr::default();
    // SAFETY: valid port id and out-pointer.
    let rc = unsafe { sys::rte_eth_macaddr_get(port, &mut a) };
    if rc != 0 {
        return Err(format!("cannot read the MAC of port {port}"));
    }
    Ok(MacAddr(a.addr_bytes))
}

pub fn set_mac(port: u16, mac: MacAddr) -> Result<(), String> {
    let mut a = sys::rte_ether_addr { addr_bytes: mac.0 };
    // SAFETY: valid port id and pointer.
    let rc = unsafe { sys::rte_eth_dev_default_mac_addr_set(port, &mut a) };
    if rc != 0 {
        return Err(format!(
            "cannot set the MAC of port {port} to {mac}: error {rc}"
        ));
    }
    Ok(())
}

/// Configure `queues` RX/TX queue pairs on `port` and start it.
pub fn start_port(port: u16, queues: u16, pool: &Pool) -> Result<(), String> {
    let mut info = sys::rte_eth_dev_info::default();
    // SAFETY: valid port id and out-pointer.
    let rc = unsafe { sys::rte_eth_dev_info_get(port, &mut info) };
    if rc != 0 {
        return Err(format!("port {port}: cannot read device info"));
    }
    if info.max_rx_queues < queues || info.max_tx_queues < queues {
        return Err(format!(
            "port {port}: {queues} queues wanted, the device has {} RX / {} TX",
            info.max_rx_queues, info.max_tx_queues
        ));
    }
    let conf = sys::rte_eth_conf::default();
    // SAFETY: valid port and configuration struct.
    let rc = unsafe { sys::rte_eth_dev_configure(port, queues, queues, &conf) };
    if rc != 0 {
        return Err(format!("port {port}: configure failed ({rc})"));
    }
    // SAFETY: socket lookup for a valid port.
    let socket = unsafe { sys::rte_eth_dev_socket_id(port) };
    let socket = if socket < 0 { 0 } else { socket as u32 };
    for q in 0..queues {
        // SAFETY: valid port/queue, default queue config (NULL), live pool.
        let rc =
            unsafe { sys::rte_eth_rx_queue_setup(port, q, 1024, socket, std::ptr::null(), pool.0) };
        if rc != 0 {
            return Err(format!("port {port}: RX queue {q} set-up failed ({rc})"));
        }
        // SAFETY: valid port/queue, default queue config (NULL).
        let rc = unsafe { sys::rte_eth_tx_queue_setup(port, q, 1024, socket, std::ptr::null()) };
        if rc != 0 {
            return Err(format!("port {port}: TX queue {q} set-up failed ({rc})"));
        }
    }
    // SAFETY: the port is configured.
    let rc = unsafe { sys::rte_eth_dev_start(port) };
    if rc != 0 {
        return Err(format!("port {port}: start failed ({rc})"));
    }
    Ok(())
}

pub fn stop_port(port: u16) {
    // SAFETY: stopping and closing a started port; workers have stopped.
    unsafe {
        sys::rte_eth_dev_stop(port);
        sys::rte_eth_dev_close(port);
    }
}

/// A raw mbuf pointer that may cross threads (rings between cores). Not
/// `Copy`: it stands for the ownership of the mbuf.
#[derive(Debug)]
pub struct Mbuf(pub *mut sys::rte_mbuf);

// SAFETY: an mbuf is owned by exactly one thread at a time; passing the
// pointer through a ring hands that ownership over.
unsafe impl Send for Mbuf {}

/// The pipeline's view of a single-segment mbuf.
pub struct MbufFrame(pub *mut sys::rte_mbuf);

impl MbufFrame {
    pub fn is_single_segment(&self) -> bool {
        // SAFETY: the pointer is a live mbuf owned by this thread.
        unsafe { (*self.0).nb_segs == 1 }
    }

    /// Ask for the mbuf's own header (its first line: the buffer's
    /// address, the data offset, the segment count, the lengths) ahead of
    /// use, without reading it: another worker wrote a handed-off one
    /// last, so it is in that worker's cache.
    #[inline]
    pub fn prefetch_header(&self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: only an address is prefetched, which never faults.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                self.0.cast_const().cast(),
            );
        }
    }

    /// Ask for the frame's first line (its headers) ahead of use: a NIC's
    /// DMA leaves it out of the cache. Reads only the mbuf's own header.
    #[inline]
    pub fn prefetch_data(&self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a live mbuf owned by this thread; the address is only
        // prefetched, which never faults.
        unsafe {
            let m = &*self.0;
            let p = (m.buf_addr as *const u8).wrapping_add(usize::from(m.data_off));
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
        }
    }
}

impl Frame for MbufFrame {
    fn bytes(&self) -> &[u8] {
        // SAFETY: a live single-segment mbuf (checked at RX) owned by this
        // thread; `&self` rules out a concurrent `bytes_mut`.
        unsafe { sys::mbuf_data_ref(self.0) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes the access exclusive.
        unsafe { sys::mbuf_data(self.0) }
    }

    fn set_len(&mut self, len: usize) -> bool {
        // SAFETY: a live mbuf owned by this thread; the new length is
        // checked against the buffer's size first.
        unsafe {
            let m = &mut *self.0;
            if usize::from(m.data_off) + len > usize::from(m.buf_len) {
                return false;
            }
            m.data_len = len as u16;
            m.pkt_len = len as u32;
        }
        true
    }

    fn trim_front(&mut self, n: usize) -> bool {
        // SAFETY: a live single-segment mbuf owned by this thread; the
        // length is checked first (what `rte_pktmbuf_adj` does).
        unsafe {
            let m = &mut *self.0;
            if usize::from(m.data_len) < n {
                return false;
            }
            m.data_off += n as u16;
            m.data_len -= n as u16;
            m.pkt_len -= n as u32;
        }
        true
    }

    fn prepend(&mut self, n: usize) -> bool {
        // SAFETY: a live single-segment mbuf owned by this thread; the
        // headroom is checked first (what `rte_pktmbuf_prepend` does).
        unsafe {
            let m = &mut *self.0;
            if usize::from(m.data_off) < n || usize::from(m.data_len) + n > usize::from(u16::MAX) {
                return false;
            }
            m.data_off -= n as u16;
            m.data_len += n as u16;
            m.pkt_len += n as u32;
        }
        true
    }
}

pub fn rx_burst(port: u16, queue: u16, bufs: &mut [*mut sys::rte_mbuf]) -> usize {
    // SAFETY: valid started port/queue; `bufs` has room for its length.
    usize::from(unsafe { sys::rvs_rx_burst(port, queue, bufs.as_mut_ptr(), bufs.len() as u16) })
}

/// Send `bufs`; returns how many the queue took (the rest stay the caller's).
pub fn tx_burst(port: u16, queue: u16, bufs: &mut [*mut sys::rte_mbuf]) -> usize {
    if bufs.is_empty() {
        return 0;
    }
    // SAFETY: valid started port/queue; the mbufs are ours to give.
    usize::from(unsafe { sys::rvs_tx_burst(port, queue, bufs.as_mut_ptr(), bufs.len() as u16) })
}

pub fn free_bulk(bufs: &mut [*mut sys::rte_mbuf]) {
    if bufs.is_empty() {
        return;
    }
    // SAFETY: every pointer is a live mbuf owned by this thread.
    unsafe { sys::rvs_free_bulk(bufs.as_mut_ptr(), bufs.len() as u32) }
}

/// One mbuf holding `frame` (for control traffic such as ARP requests).
pub fn alloc_frame(pool: &Pool, frame: &[u8]) -> Option<Mbuf> {
    let mut m: *mut sys::rte_mbuf = std::ptr::null_mut();
    // SAFETY: the pool is live; one slot to fill.
    if unsafe { sys::rvs_alloc_bulk(pool.0, &mut m, 1) } != 0 {
        return None;
    }
    let mut f = MbufFrame(m);
    if !f.set_len(frame.len()) {
        free_bulk(&mut [m]);
        return None;
    }
    f.bytes_mut().copy_from_slice(frame);
    Some(Mbuf(m))
}

/// Register a thread made after `rte_eal_init` (lcore id, mempool cache).
pub fn register_thread() -> Result<(), String> {
    // SAFETY: called once at the start of a new thread.
    let rc = unsafe { sys::rte_thread_register() };
    if rc != 0 {
        return Err(format!("rte_thread_register failed: {}", last_error()));
    }
    Ok(())
}

pub fn unregister_thread() {
    // SAFETY: called once as a registered thread ends.
    unsafe { sys::rte_thread_unregister() }
}
