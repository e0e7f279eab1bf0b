//! The IPv4 lab of the pipeline tests (`pipeline.rs`, `arp.rs`): the admin
//! state and one worker of a director with TCP and UDP services on VIP:80
//! and, when asked, two DR real servers.

use std::net::Ipv4Addr;
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use rvs_api::{DestConfig, Forward, Protocol, Request, Response, ServiceConfig, ServiceKey};
use rvs_dataplane::admin::{AdminSetup, AdminState};
use rvs_dataplane::neigh::NeighTable;
use rvs_dataplane::pipeline::{VecFrame, Verdict, Worker, WorkerEvent, WorkerSetup};
use rvs_dataplane::stats::{CoreStats, Counter, OverloadFlags};
use rvs_dataplane::sync::SyncConn;

use super::director::{port, worker_setup};
use super::golden::Pipeline;
use super::{RS1, RS1_MAC, RS2, RS2_MAC, VIP};

pub struct Lab {
    pub admin: AdminState,
    pub worker: Worker,
    pub cores: Vec<Arc<CoreStats>>,
    pub events: Arc<ArrayQueue<WorkerEvent>>,
    pub sync_out: ArrayQueue<SyncConn>,
}

pub fn key(p: Protocol) -> ServiceKey {
    ServiceKey::Inet {
        protocol: p,
        addr: (VIP, 80).into(),
    }
}

pub fn rr() -> ServiceConfig {
    ServiceConfig::new("rr")
}

pub fn dest(addr: Ipv4Addr) -> DestConfig {
    DestConfig {
        addr: (addr, 80).into(),
        forward: Forward::Route,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: Default::default(),
    }
}

impl Lab {
    /// A director with TCP and UDP services on VIP:80 and, when
    /// `with_dests`, rs1 then rs2 added (so the kernel order is rs2, rs1).
    pub fn new(with_dests: bool) -> Lab {
        Lab::with(with_dests, 0, 1, 1024)
    }

    pub fn with_workers(with_dests: bool, id: u16, workers: u16) -> Lab {
        Lab::with(with_dests, id, workers, 1024)
    }

    pub fn with(with_dests: bool, id: u16, workers: u16, conns_max: usize) -> Lab {
        let ports = port(false);
        let overload = Arc::new(OverloadFlags::new(64));
        let mut admin = AdminState::new(AdminSetup {
            workers: u32::from(workers),
            overload: Arc::clone(&overload),
            ..AdminSetup::new(ports, 64)
        });
        let cores: Vec<Arc<CoreStats>> =
            (0..workers).map(|_| Arc::new(CoreStats::new(64))).collect();
        let neigh = Arc::new(NeighTable::new(16));
        let events = Arc::new(ArrayQueue::new(16));
        for p in [Protocol::Tcp, Protocol::Udp] {
            let r = admin.handle(
                Request::AddService {
                    key: key(p),
                    config: rr(),
                },
                &cores,
                1,
            );
            assert_eq!(r.0, Response::Ok);
            if with_dests {
                for a in [RS1, RS2] {
                    let r = admin.handle(
                        Request::AddDest {
                            service: key(p),
                            dest: dest(a),
                        },
                        &cores,
                        1,
                    );
                    assert_eq!(r.0, Response::Ok);
                }
            }
        }
        if with_dests {
            neigh.set(
                admin.resolver.slot_of(0, RS1.into()).unwrap(),
                Some(RS1_MAC),
            );
            neigh.set(
                admin.resolver.slot_of(0, RS2.into()).unwrap(),
                Some(RS2_MAC),
            );
        }
        let worker = Worker::new(WorkerSetup {
            id,
            conns_max,
            ..worker_setup(&mut admin, &cores, overload, neigh)
        });
        Lab {
            admin,
            worker,
            cores,
            events,
            sync_out: ArrayQueue::new(64),
        }
    }

    pub fn run(&mut self, frame: &mut VecFrame, now_ms: u64) -> Verdict {
        let v = self.worker.handle_frame(0, frame, now_ms, false);
        self.worker.drain_outbox(&self.events, &self.sync_out);
        v
    }

    pub fn counter(&self, c: Counter) -> u64 {
        rvs_dataplane::stats::total(&self.cores, c)
    }

    pub fn list(&mut self) -> Vec<rvs_api::ServiceStatus> {
        match self
            .admin
            .handle(Request::List { service: None }, &self.cores, 1)
            .0
        {
            Response::Services(s) => s,
            other => panic!("{other:?}"),
        }
    }
}

impl Pipeline for Lab {
    fn run_frame(&mut self, f: &mut VecFrame, now_ms: u64) -> Verdict {
        self.run(f, now_ms)
    }

    fn total(&self, c: Counter) -> u64 {
        self.counter(c)
    }
}
