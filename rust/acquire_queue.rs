// SPDX-License-Identifier: GPL-2.0

//! SADB_ACQUIRE requests from the packet path. An outbound packet whose
//! policy asks for an SA that does not exist calls [`raise`] from atomic
//! context; sending the message needs the key mutex, so the request is
//! queued under a spinlock (a fixed ring: nothing is allocated) and a work
//! item hands it to [`crate::acquire`] in process context.
//!
//! Lock order: the key mutex, then the queue's spinlock (the work item
//! takes one request at a time under both); [`raise`] takes only the
//! spinlock.

#![forbid(unsafe_code)]

use crate::{kame_core::pfkey::wire::IpAddr, kapi::clock::real_seconds, keydb::KeyDb};
use kernel::prelude::*;

/// What the packet path knows when it needs an SA.
#[derive(Clone, Debug)]
#[expect(dead_code, reason = "read by the ACQUIRE engine (being written)")]
pub(crate) struct AcquireRequest {
    /// The policy whose request has no SA: the SPD's id, or the kernel's
    /// index of a socket's policy.
    pub(crate) policy_id: u32,
    /// The policy is a socket's (not in the SPD; priority 0).
    pub(crate) socket: bool,
    /// Index of that request in the policy's bundle.
    pub(crate) request: u8,
    /// `IPPROTO_ESP` or `IPPROTO_AH`.
    pub(crate) proto: u8,
    /// `IPSEC_MODE_*` of the request.
    pub(crate) mode: u8,
    /// The request's reqid (0: any).
    pub(crate) reqid: u32,
    /// The SA's endpoints: the tunnel's, or the packet's in transport mode.
    pub(crate) src: IpAddr,
    /// See `src`.
    pub(crate) dst: IpAddr,
}

impl AcquireRequest {
    /// Whether `o` asks for the same SA (so one queued entry serves both).
    fn same_sa(&self, o: &AcquireRequest) -> bool {
        (self.proto, self.mode, self.reqid, self.src, self.dst)
            == (o.proto, o.mode, o.reqid, o.src, o.dst)
    }
}

/// Requests a burst of packets can leave before the work item runs;
/// beyond it they are dropped and counted (each packet that needs the SA
/// raises again, and one ACQUIRE per SA is all that is sent anyway).
const QUEUE_LEN: usize = 64;

/// The requests not yet handled, oldest first.
pub(crate) struct AcqQueue {
    ring: [Option<AcquireRequest>; QUEUE_LEN],
    head: usize,
    len: usize,
    /// Requests dropped because the ring was full.
    dropped: u64,
}

impl AcqQueue {
    /// An empty queue, as a constant: a queue on the heap is copied from
    /// it, not built on the stack first (it takes kilobytes).
    pub(crate) const EMPTY: Self = AcqQueue {
        ring: [const { None }; QUEUE_LEN],
        head: 0,
        len: 0,
        dropped: 0,
    };

    /// Queues `req` unless the same SA is asked for already; `false` if
    /// nothing new was queued.
    fn push(&mut self, req: AcquireRequest) -> bool {
        if self.ring.iter().flatten().any(|q| q.same_sa(&req)) {
            return false;
        }
        if self.len == QUEUE_LEN {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        self.ring[(self.head + self.len) % QUEUE_LEN] = Some(req);
        self.len += 1;
        true
    }

    fn pop(&mut self) -> Option<AcquireRequest> {
        if self.len == 0 {
            return None;
        }
        let req = self.ring[self.head].take();
        self.head = (self.head + 1) % QUEUE_LEN;
        self.len -= 1;
        req
    }
}

/// Asks registered key daemons for an SA. Callable from any context,
/// including softirq; never sleeps and never takes the key mutex.
pub(crate) fn raise(keys: &KeyDb, req: AcquireRequest) {
    let queued = keys.acquires.lock().push(req);
    if queued {
        keys.acquire_work.schedule_ms(0);
    }
}

/// The work item: hands each queued request to the ACQUIRE engine under
/// the key mutex.
pub(crate) fn run(db: &KeyDb) {
    let mut st = db.lock();
    let mut dropped = 0;
    loop {
        let (req, d) = {
            let mut q = db.acquires.lock();
            (q.pop(), core::mem::take(&mut q.dropped))
        };
        dropped += d;
        let Some(req) = req else {
            break;
        };
        crate::acquire::request(&mut st, &req, real_seconds());
    }
    crate::sa_expiry::rearm(db, &mut st);
    drop(st);
    if dropped > 0 {
        // TODO[B]: a counter in the statistics (ipsecstat) instead.
        pr_warn!("{dropped} ACQUIRE requests dropped: queue full\n");
    }
}
