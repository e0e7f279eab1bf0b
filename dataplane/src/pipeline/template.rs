//! Persistence templates (`spec/conn.md` §6): the key of a client's
//! template, the dest a valid one gives, the one a persistent service's new
//! connection makes or renews, and its count of the connections it
//! controls. Stage 3's (`conn.rs`) for persistent services.

use super::family::Tables;
use super::{conn_to_dest, Core, Flow};
use crate::conn::state::State;
use crate::conn::{Conn, ConnKey, Family};
use crate::service::{Dest, Persistence, Service, Snapshot};
use crate::stats::{bump, lower, Counter};

/// What a template that outlived its timeout while controlling connections
/// is re-armed with (`spec/conn.md` §6.3).
pub(super) const TEMPLATE_REARM_S: u32 = 60;

/// Whether `service`'s templates have port 0: port-0 services (PCC), fwmark
/// services and FTP (port 21) (`spec/conn.md` §6.1).
#[inline]
pub(super) fn template_is_portless(service: &Service) -> bool {
    service.fwmark != 0 || service.key.2 == 0 || service.key.2 == 21
}

/// The key of the persistence template for a connection `key` of `service`.
#[inline]
pub(super) fn template_key<A: Family>(
    service: &Service,
    p: Persistence,
    key: &ConnKey<A>,
) -> ConnKey<A> {
    ConnKey {
        caddr: key.caddr.masked(p.netmask),
        vaddr: if service.fwmark != 0 {
            A::from_mark(service.fwmark)
        } else {
            key.vaddr
        },
        cport: 0,
        vport: if template_is_portless(service) {
            0
        } else {
            key.vport
        },
        protocol: if service.fwmark != 0 { 0 } else { key.protocol },
        template: true,
    }
}

impl Core {
    /// The dest of a persistent service's new connection: the template's
    /// while it is valid, else a scheduled one that the template then
    /// remembers (`spec/conn.md` §6.2). The new connection is counted in
    /// the template's `control` (not for one-packet datagrams, which leave
    /// no entry).
    pub(super) fn persistent_dest<A: Tables>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        p: Persistence,
        flow: &Flow<A>,
        one_packet: bool,
        now_ms: u64,
    ) -> Result<Dest, Counter> {
        let tkey = template_key(service, p, &flow.key);
        let found = A::conns(self).find(&tkey);
        if let Some(dest) = self.template_dest::<A>(snap, service, found, !one_packet, now_ms) {
            return Ok(dest);
        }
        let dest = self.schedule(service, flow, now_ms)?;
        let dport = if template_is_portless(service) {
            0
        } else {
            dest.port
        };
        let real = (A::from_ip(dest.addr).unwrap_or_default(), dport);
        let control = u32::from(!one_packet);
        let template = Conn {
            timeout_s: p.timeout_s,
            flags: 0,
            expires_ms: now_ms + u64::from(p.timeout_s) * 1000,
            ..conn_to_dest(tkey, real, &dest, service, control, State::None)
        };
        match found {
            Some(ti) => {
                // An invalid template is replaced in place: the connections
                // it still controls keep counting in it, so it lives until
                // the last of them and the new ones are gone.
                let old = *A::conns(self).get(ti);
                if let Some(s) = self.stats.slots.get(old.dest_slot as usize) {
                    lower(&s.persist, 1);
                }
                let t = A::conns(self).get_mut(ti);
                *t = Conn {
                    control: old.control + template.control,
                    ..template
                };
            }
            None => {
                if A::conns(self).insert(template).is_err() {
                    // Checked for room before; stay correct regardless.
                    self.stats.count(Counter::ConnTableFull);
                    return Ok(dest);
                }
            }
        }
        self.stats.count(Counter::TemplateCreated);
        if let Some(s) = self.stats.slots.get(dest.slot as usize) {
            bump(&s.persist, 1);
        }
        Ok(dest)
    }

    /// A connection of `key` that the template (if any) counted already was
    /// not made after all: the template no longer counts it.
    pub(super) fn uncount_template<A: Tables>(&mut self, service: &Service, key: &ConnKey<A>) {
        if let Some(p) = service.persistence {
            let tk = template_key(service, p, key);
            if let Some(t) = A::conns(self).find(&tk) {
                let t = A::conns(self).get_mut(t);
                t.control = t.control.saturating_sub(1);
            }
        }
    }

    /// The dest of the template at `found`, if it is valid (`spec/conn.md`
    /// §6.2): alive, its dest still in the service and, with
    /// `expire_quiescent_template`, not quiesced. Using it refreshes the
    /// template and, with `controls`, counts one more connection in it.
    pub(super) fn template_dest<A: Tables>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        found: Option<usize>,
        controls: bool,
        now_ms: u64,
    ) -> Option<Dest> {
        let ti = found?;
        let t = *A::conns(self).get(ti);
        // A template past its timeout that still controls connections was
        // re-armed by the kernel's timer; ours re-arms lazily.
        if t.expires_ms <= now_ms && t.control == 0 {
            return None;
        }
        let dest = *snap.dest(t.dest_slot)?;
        if !service.dests.iter().any(|sd| sd.slot == dest.slot)
            || (self.policy.expire_quiescent_template && dest.weight == 0)
        {
            return None;
        }
        let t = A::conns(self).get_mut(ti);
        if t.expires_ms <= now_ms {
            // What the sweep would have done had it come by first.
            t.timeout_s = TEMPLATE_REARM_S;
        }
        if controls {
            t.control += 1;
        }
        // Templates bypass the scheduler, weights and OVERLOAD.
        t.expires_ms = now_ms + u64::from(t.timeout_s) * 1000;
        Some(dest)
    }
}
