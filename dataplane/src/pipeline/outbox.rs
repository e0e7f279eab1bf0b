//! The outbox: what the pipeline wants sent besides the frame itself
//! (neighbour events for the control thread, connection records for a sync
//! backup), kept on the worker until the worker loop hands it to the shared
//! rings after the burst ([`super::Worker::drain_outbox`]).
//!
//! Contract: sized once at start-up and never grown, so recording never
//! allocates; a record that finds it full is lost and counted as the full
//! ring's would be (`neigh_event_lost`, `sync_ring_full`), and so is one the
//! ring refuses when drained. A sync record is counted `sync_queued` when
//! the ring takes it.

use crossbeam_queue::ArrayQueue;

use super::WorkerEvent;
use crate::stats::{CoreStats, Counter};
use crate::sync::SyncConn;

/// The most sync records one frame can ask for: a connection and its
/// template.
pub(super) const SYNC_PER_FRAME_MAX: usize = 2;

pub(super) struct Outbox {
    events: Vec<WorkerEvent>,
    sync: Vec<SyncConn>,
}

impl Outbox {
    /// Room for what `frames` frames can ask for: an event each, and
    /// [`SYNC_PER_FRAME_MAX`] sync records each.
    pub(super) fn for_frames(frames: usize) -> Self {
        let frames = frames.max(1);
        Outbox {
            events: Vec::with_capacity(frames),
            sync: Vec::with_capacity(frames * SYNC_PER_FRAME_MAX),
        }
    }

    /// Keep `ev` for the control thread; false when there is no room.
    #[inline]
    pub(super) fn event(&mut self, ev: WorkerEvent) -> bool {
        if self.events.len() == self.events.capacity() {
            return false;
        }
        self.events.push(ev);
        true
    }

    /// Keep `r` for the sync backup; false when there is no room.
    #[inline]
    pub(super) fn sync(&mut self, r: SyncConn) -> bool {
        if self.sync.len() == self.sync.capacity() {
            return false;
        }
        self.sync.push(r);
        true
    }

    /// Move everything to the rings, in the order it was recorded,
    /// counting in `stats` what they refuse.
    pub(super) fn drain(
        &mut self,
        events: &ArrayQueue<WorkerEvent>,
        sync_out: &ArrayQueue<SyncConn>,
        stats: &CoreStats,
    ) {
        for ev in self.events.drain(..) {
            if events.push(ev).is_err() {
                stats.count(Counter::NeighEventLost);
            }
        }
        for r in self.sync.drain(..) {
            stats.count(if sync_out.push(r).is_ok() {
                Counter::SyncQueued
            } else {
                Counter::SyncRingFull
            });
        }
    }
}
