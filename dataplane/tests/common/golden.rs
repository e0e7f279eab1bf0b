//! Golden tests as fixture tables: each step is a frame in, the verdict and
//! the frame out expected; a table also names the counters it must leave.
//! Expected frames are built from scratch by the shared builders, and their
//! checksums are checked by an implementation independent of the code
//! under test ([`super::independent_checksums`], etherparse) both when
//! they are built ([`super::eth`]) and here, so a byte-for-byte match also
//! checks the pipeline's incremental checksum updates.
//!
//! Also the helpers the forwarding-mode tests (`modes.rs`, `fullnat.rs`)
//! share.

use std::net::Ipv4Addr;

use rvs_api::{DestConfig, Forward, Protocol, ServiceConfig, ServiceKey};
use rvs_dataplane::pipeline::{ConnPolicy, VecFrame, Verdict};
use rvs_dataplane::stats::Counter;
use rvs_dataplane::wire::build;
use rvs_dataplane::wire::ethernet::{ethertype, MacAddr};
use rvs_dataplane::wire::icmp::IcmpRepr;
use rvs_dataplane::wire::ipv4::protocol;

use super::director::{dest, Director};
use super::{eth, independent_checksums, ipv4, RS1, VIP};

/// One frame through the pipeline and what must come of it.
pub struct Step {
    /// What the step shows (in failure messages).
    pub what: &'static str,
    /// The pipeline's clock for it.
    pub at_ms: u64,
    pub input: Vec<u8>,
    pub verdict: Verdict,
    /// The frame as the pipeline leaves it; `None` when a step checks only
    /// its verdict (a drop, a frame handed to the kernel unchanged).
    pub output: Option<Vec<u8>>,
}

impl Step {
    /// A frame expected out as `output` with `verdict`.
    pub fn new(
        what: &'static str,
        at_ms: u64,
        input: Vec<u8>,
        verdict: Verdict,
        output: Vec<u8>,
    ) -> Self {
        Step {
            what,
            at_ms,
            input,
            verdict,
            output: Some(output),
        }
    }

    /// A frame of which only the verdict is expected.
    pub fn verdict(what: &'static str, at_ms: u64, input: Vec<u8>, verdict: Verdict) -> Self {
        Step {
            what,
            at_ms,
            input,
            verdict,
            output: None,
        }
    }
}

/// What a table runs on: a worker's pipeline and its counters.
pub trait Pipeline {
    /// One frame through the pipeline at `now_ms` (what it asked to be
    /// sent besides drained, as the worker loop does).
    fn run_frame(&mut self, f: &mut VecFrame, now_ms: u64) -> Verdict;
    /// A counter's total over the cores.
    fn total(&self, c: Counter) -> u64;
}

impl Pipeline for Director {
    fn run_frame(&mut self, f: &mut VecFrame, now_ms: u64) -> Verdict {
        run(self, f, now_ms)
    }

    fn total(&self, c: Counter) -> u64 {
        self.counter(c)
    }
}

/// Run `steps` in order through `d`, then check `counters` (each counter's
/// total over the cores).
pub fn run_table<P: Pipeline>(d: &mut P, steps: Vec<Step>, counters: &[(Counter, u64)]) {
    for s in steps {
        let mut f = VecFrame(s.input);
        let v = d.run_frame(&mut f, s.at_ms);
        assert_eq!(v, s.verdict, "{}: the verdict", s.what);
        if let Some(want) = s.output {
            assert_eq!(f.0, want, "{}: the frame out", s.what);
            // The same frame, so the same sums; checked again for a frame
            // not built by `eth` (kept short: a tunnel's inner packet).
            independent_checksums(&f.0);
        }
    }
    for &(c, n) in counters {
        assert_eq!(d.total(c), n, "counter {}", c.name());
    }
}

pub const CPORT: u16 = 40000;

pub fn svc(p: Protocol, port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: p,
        addr: (VIP, port).into(),
    }
}

pub fn masq(addr: Ipv4Addr, port: u16) -> DestConfig {
    DestConfig {
        forward: Forward::Masq,
        ..dest(addr, port, 1)
    }
}

/// A director with TCP and UDP services on VIP:80 and VIP:53, NAT to
/// rs1:8080 and rs1:5353 (port mapping).
pub fn nat_director() -> Director {
    let mut d = Director::new(ConnPolicy::default());
    d.add_service(svc(Protocol::Tcp, 80), ServiceConfig::new("rr"));
    d.add_dest_with(svc(Protocol::Tcp, 80), masq(RS1, 8080));
    d.add_service(svc(Protocol::Udp, 53), ServiceConfig::new("rr"));
    d.add_dest_with(svc(Protocol::Udp, 53), masq(RS1, 5353));
    d
}

/// An ICMP error of `kind`/`code` from `src` to `dst` quoting `quoted`'s
/// first 28 bytes (IP header and 8 bytes), checksums computed.
pub fn icmp_error(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    kind: u8,
    code: u8,
    rest: [u8; 4],
    quoted: &[u8],
) -> Vec<u8> {
    let m = build::icmp(&IcmpRepr {
        kind,
        code,
        rest,
        payload: &quoted[..28],
    });
    ipv4(src, dst, protocol::ICMP, &m)
}

pub fn frame(dst: MacAddr, src: MacAddr, ip: &[u8]) -> VecFrame {
    VecFrame(eth(dst, src, ethertype::IPV4, ip))
}

pub fn run(d: &mut Director, f: &mut VecFrame, now_ms: u64) -> Verdict {
    let v = d.worker.handle_frame(0, f, now_ms, false);
    d.drain();
    v
}
