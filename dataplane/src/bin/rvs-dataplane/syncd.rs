//! The sync daemons of the control thread (`--start-daemon`), IPVS's
//! master and backup threads in user space.
//!
//! Contract:
//! - A master drains every worker's sync ring each control tick, packs the
//!   entries into datagrams of at most `maxlen` bytes
//!   ([`rvs_dataplane::sync::MessageBuilder`]) and sends them, from a UDP
//!   socket bound to the daemon's interface (the exception interface, so
//!   datagrams leave through the dataplane like the director's other
//!   traffic), to the group (multicast, TTL `ttl`) or a unicast peer.
//! - A backup reads its socket without blocking, decodes each datagram
//!   (checking the syncid) and hands each entry to the worker that owns it
//!   ([`rvs_dataplane::pipeline::sync_owner`]) over that worker's ring; a
//!   full ring loses the entry (counted as an error: the master sends a
//!   long-lived connection again 50 packets later).
//! - What a backup takes is bounded (anyone on the sync segment can send
//!   to its group): an entry for a service this director does not have is
//!   skipped, a timeout longer than this director's for the state is
//!   lowered to it ([`rvs_dataplane::pipeline::screen`]), and at most
//!   `install_rate` entries a second go to the workers (`[sync]` in the
//!   file); each refusal is counted by reason
//!   ([`rvs_dataplane::sync::BackupCounts`], the `sync_rx_*` counters),
//!   kept across a daemon's stop and start.
//! - Both may run at once (keepalived runs both without an instance).
//!   Starting a running role is refused ("Daemon has already run"),
//!   stopping one that is not running too ("No daemon is running").
//! - Nothing here blocks the control thread: sockets are non-blocking and
//!   a tick handles a bounded number of datagrams.

use std::io::ErrorKind as IoErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

use rvs_api::{ApiError, ErrorKind, SyncDaemon, SyncDaemonStatus, SyncRole};
use rvs_dataplane::pipeline::{screen, sync_owner, Screened};
use rvs_dataplane::service::Snapshot;
use rvs_dataplane::sync::{self, BackupCounts, InstallCap, MessageBuilder};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::shared::Shared;

/// Datagrams a backup reads per tick, and entries a master takes from
/// each worker per tick.
const DATAGRAMS_PER_TICK: usize = 64;
const ENTRIES_PER_TICK: usize = 8192;

struct Master {
    status: SyncDaemonStatus,
    socket: UdpSocket,
    to: SocketAddr,
    builder: MessageBuilder,
}

struct Backup {
    status: SyncDaemonStatus,
    socket: UdpSocket,
    buf: Vec<u8>,
    cap: InstallCap,
}

pub struct Daemons {
    master: Option<Master>,
    backup: Option<Backup>,
    /// Entries a backup installs per second (0: no cap).
    install_rate: u32,
    /// What backups refused, by reason, since start.
    counts: BackupCounts,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::Invalid, msg)
}

/// The values in use for `cfg` on an interface of `mtu`.
fn resolve(cfg: &SyncDaemon, iface: &str, mtu: u16) -> Result<SyncDaemonStatus, ApiError> {
    let group = cfg.group.unwrap_or(IpAddr::V4(sync::DEFAULT_GROUP));
    if !matches!(group, IpAddr::V4(_)) {
        return Err(ApiError::new(
            ErrorKind::NotSupported,
            "sync over IPv6 is not supported by rvs yet",
        ));
    }
    let maxlen = cfg.maxlen.unwrap_or(mtu.saturating_sub(28));
    if maxlen == 0 || maxlen > 65507 {
        return Err(invalid("--sync-maxlen must be 1..65507"));
    }
    // What the builder really uses (room for one IPv6 entry), shown so.
    let maxlen = maxlen.max(sync::MAXLEN_MIN as u16);
    let ttl = cfg.ttl.unwrap_or(1);
    if ttl == 0 {
        return Err(invalid("--mcast-ttl must be 1..255"));
    }
    Ok(SyncDaemonStatus {
        config: cfg.clone(),
        interface: iface.to_string(),
        maxlen,
        group,
        port: cfg.port.unwrap_or(sync::DEFAULT_PORT),
        ttl,
        datagrams: 0,
        entries: 0,
        errors: 0,
    })
}

fn io_err(what: &str, iface: &str, e: std::io::Error) -> ApiError {
    invalid(format!("sync daemon on {iface}: {what}: {e}"))
}

fn ifindex(iface: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(iface).ok()
}

/// A UDP socket on `iface` (SO_BINDTODEVICE), non-blocking.
fn socket_on(iface: &str) -> Result<Socket, ApiError> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| io_err("socket", iface, e))?;
    s.bind_device(Some(iface.as_bytes()))
        .map_err(|e| io_err("bind to device", iface, e))?;
    s.set_reuse_address(true)
        .map_err(|e| io_err("SO_REUSEADDR", iface, e))?;
    s.set_nonblocking(true)
        .map_err(|e| io_err("non-blocking", iface, e))?;
    Ok(s)
}

impl Daemons {
    pub fn new(install_rate: u32) -> Self {
        Daemons {
            master: None,
            backup: None,
            install_rate,
            counts: BackupCounts::default(),
        }
    }

    /// The backup's refusals by reason (`sync_rx_*`), since start.
    pub fn counters(&self) -> [(&'static str, u64); 8] {
        self.counts.named()
    }

    pub fn is_master(&self) -> bool {
        self.master.is_some()
    }

    /// `--start-daemon` on exception interface `iface`, whose port has
    /// `iface_mtu` (`None`: not one of the dataplane's).
    pub fn start(
        &mut self,
        cfg: SyncDaemon,
        iface: &str,
        iface_mtu: Option<u16>,
    ) -> Result<(), ApiError> {
        let running = match cfg.role {
            SyncRole::Master => self.master.is_some(),
            SyncRole::Backup => self.backup.is_some(),
        };
        if running {
            return Err(ApiError::new(ErrorKind::Exists, "Daemon has already run"));
        }
        let Some(mtu) = iface_mtu else {
            return Err(invalid(format!(
                "{iface} is not an exception interface of this dataplane"
            )));
        };
        if ifindex(iface).is_none() {
            return Err(invalid(format!("no interface {iface}")));
        }
        let status = resolve(&cfg, iface, mtu)?;
        let IpAddr::V4(group) = status.group else {
            unreachable!("resolve refuses IPv6 groups");
        };
        let port = status.port;
        let s = socket_on(iface)?;
        match cfg.role {
            SyncRole::Master => {
                if group.is_multicast() {
                    s.set_multicast_ttl_v4(u32::from(status.ttl))
                        .map_err(|e| io_err("multicast TTL", iface, e))?;
                    s.set_multicast_loop_v4(false)
                        .map_err(|e| io_err("multicast loop", iface, e))?;
                } else {
                    s.set_ttl(u32::from(status.ttl))
                        .map_err(|e| io_err("TTL", iface, e))?;
                }
                s.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))
                    .map_err(|e| io_err("bind", iface, e))?;
                tracing::info!(%iface, syncid = cfg.syncid, %group, port, "sync master daemon started");
                self.master = Some(Master {
                    builder: MessageBuilder::new(cfg.syncid, usize::from(status.maxlen)),
                    to: SocketAddr::V4(SocketAddrV4::new(group, port)),
                    socket: s.into(),
                    status,
                });
            }
            SyncRole::Backup => {
                s.bind(&SockAddr::from(SocketAddrV4::new(
                    Ipv4Addr::UNSPECIFIED,
                    port,
                )))
                .map_err(|e| io_err("bind", iface, e))?;
                if group.is_multicast() {
                    let idx = ifindex(iface).unwrap_or(0);
                    s.join_multicast_v4_n(&group, &socket2::InterfaceIndexOrAddress::Index(idx))
                        .map_err(|e| io_err("join the group", iface, e))?;
                }
                tracing::info!(%iface, syncid = cfg.syncid, %group, port, "sync backup daemon started");
                self.backup = Some(Backup {
                    socket: s.into(),
                    buf: vec![0; 65536],
                    cap: InstallCap::new(self.install_rate),
                    status,
                });
            }
        }
        Ok(())
    }

    /// `--stop-daemon`.
    pub fn stop(&mut self, role: SyncRole) -> Result<(), ApiError> {
        let gone = match role {
            SyncRole::Master => self.master.take().map(|m| m.status),
            SyncRole::Backup => self.backup.take().map(|b| b.status),
        };
        match gone {
            Some(s) => {
                tracing::info!(
                    role = role.name(),
                    datagrams = s.datagrams,
                    entries = s.entries,
                    errors = s.errors,
                    "sync daemon stopped"
                );
                Ok(())
            }
            None => Err(ApiError::new(ErrorKind::NoService, "No daemon is running")),
        }
    }

    /// The running daemons, master first.
    pub fn status(&self) -> Vec<SyncDaemonStatus> {
        let m = self.master.as_ref().map(|m| m.status.clone());
        let b = self.backup.as_ref().map(|b| b.status.clone());
        m.into_iter().chain(b).collect()
    }

    /// One control tick: the master sends what the workers reported, the
    /// backup installs what arrived (via the owners' rings).
    pub fn poll(&mut self, shared: &Shared, snap: &Snapshot, now_ms: u64) {
        if let Some(m) = &mut self.master {
            for ring in &shared.sync_out {
                for _ in 0..ENTRIES_PER_TICK {
                    let Some(c) = ring.pop() else { break };
                    if !m.builder.fits(&c) {
                        send(m);
                    }
                    m.builder.push(&c);
                    m.status.entries += 1;
                }
            }
            if !m.builder.is_empty() {
                send(m);
            }
        } else {
            // No master: what workers reported before it stopped is stale.
            for ring in &shared.sync_out {
                while ring.pop().is_some() {}
            }
        }
        if let Some(b) = &mut self.backup {
            let workers = shared.sync_in.len() as u16;
            for _ in 0..DATAGRAMS_PER_TICK {
                let n = match b.socket.recv_from(&mut b.buf) {
                    Ok((n, _)) => n,
                    Err(e) if e.kind() == IoErrorKind::WouldBlock => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "sync backup: receive failed");
                        b.status.errors += 1;
                        break;
                    }
                };
                b.status.datagrams += 1;
                let entries = match sync::decode(&b.buf[..n], b.status.config.syncid) {
                    Ok(v) => v,
                    Err((v, why)) => {
                        b.status.errors += 1;
                        self.counts.count_decode(why);
                        tracing::debug!(?why, kept = v.len(), "sync backup: entries refused");
                        v
                    }
                };
                for mut c in entries {
                    match screen(snap, &mut c) {
                        Screened::Pass => {}
                        Screened::Clamped => self.counts.timeout_clamped += 1,
                        Screened::NoService => {
                            self.counts.no_service += 1;
                            continue;
                        }
                    }
                    if !b.cap.admit(now_ms) {
                        self.counts.rate_limited += 1;
                        continue;
                    }
                    let owner = sync_owner(snap, &c, workers);
                    match shared.sync_in[usize::from(owner)].push(c) {
                        Ok(()) => b.status.entries += 1,
                        Err(_) => b.status.errors += 1,
                    }
                }
            }
        }
    }
}

fn send(m: &mut Master) {
    let d = m.builder.take();
    match m.socket.send_to(&d, m.to) {
        Ok(_) => m.status.datagrams += 1,
        Err(e) => {
            m.status.errors += 1;
            tracing::debug!(error = %e, "sync master: send failed");
        }
    }
}
