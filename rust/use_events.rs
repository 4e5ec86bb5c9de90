// SPDX-License-Identifier: GPL-2.0

//! Lifetime events from the packet path ([`crate::sa_use`]) to the key
//! state: an SA reached its hard limit or ran out of sequence numbers (it
//! goes, hard SADB_EXPIRE), its soft limit (it becomes dying, soft
//! SADB_EXPIRE), or was used the first time (its use-time limits start).
//!
//! The packet path queues the SA's dump order under a spinlock (a fixed
//! ring: nothing is allocated) from any context, in-flight crypto
//! included, so the queue is shared by reference count; a work item, kicked
//! by the packet hooks ([`crate::keydb::KeyDb::kick_use_events`]), carries
//! the events out under the key mutex. What to do is read from the SA's
//! [`SaUse`](crate::sa_use::SaUse) and state, not from the event, so
//! carrying one out twice changes nothing and each EXPIRE is sent once:
//! the SA leaves the SAD, or leaves the mature state, once.
//!
//! Lock order: the key mutex, then the queue's spinlock.

#![forbid(unsafe_code)]

use crate::{
    kame_core::sad::{Expiry, SaState},
    keydb::{KeyDb, KeyState},
    sad_table::{Order, SaEntry},
};
use kernel::{
    new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, SpinLockIrq,
    },
};

/// Events a burst of packets can leave before the work item runs; past
/// it, the work item looks at every SA instead.
const QUEUE_LEN: usize = 64;

/// The SAs with events not yet carried out, oldest first.
struct Ring {
    orders: [Order; QUEUE_LEN],
    head: usize,
    len: usize,
    /// Events were lost to a full ring: look at every SA.
    rescan: bool,
}

impl Ring {
    fn push(&mut self, order: Order) {
        let queued = |i: usize| self.orders[(self.head + i) % QUEUE_LEN];
        if (0..self.len).any(|i| queued(i) == order) {
            return;
        }
        if self.len == QUEUE_LEN {
            self.rescan = true;
            return;
        }
        self.orders[(self.head + self.len) % QUEUE_LEN] = order;
        self.len += 1;
    }

    fn pop(&mut self) -> Option<Order> {
        if self.len == 0 {
            return None;
        }
        let o = self.orders[self.head];
        self.head = (self.head + 1) % QUEUE_LEN;
        self.len -= 1;
        Some(o)
    }
}

/// The queue of one namespace.
#[pin_data]
pub(crate) struct UseEvents {
    #[pin]
    ring: SpinLockIrq<Ring>,
    /// 1 when events were queued since the hooks last kicked the work.
    kick: Atomic<u32>,
}

impl UseEvents {
    /// An empty queue.
    pub(crate) fn new() -> Result<Arc<UseEvents>> {
        Arc::pin_init(
            pin_init!(UseEvents {
                ring <- new_spinlock_irq!(Ring {
                    orders: [0; QUEUE_LEN],
                    head: 0,
                    len: 0,
                    rescan: false,
                }),
                kick: Atomic::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// Queues an event for the SA at `order`. Any context; never sleeps.
    pub(crate) fn raise(&self, order: Order) {
        self.ring.lock().push(order);
        self.kick.store(1, Relaxed);
    }

    /// Whether events wait for the work item (and the kick is taken).
    pub(crate) fn take_kick(&self) -> bool {
        self.kick.load(Relaxed) != 0 && self.kick.xchg(0, Relaxed) != 0
    }

    /// Asks for a look at every SA (memory was short for an event).
    fn retry_all(&self) {
        self.ring.lock().rescan = true;
        self.kick.store(1, Relaxed);
    }
}

/// The work item: carries out the queued events under the key mutex.
pub(crate) fn run(db: &KeyDb) {
    let mut st = db.lock();
    let ev = db.use_events.clone();
    let mut failed = false;
    loop {
        let next = ev.ring.lock().pop();
        let Some(order) = next else { break };
        failed |= apply(&mut st, order).is_err();
    }
    let rescan = core::mem::take(&mut ev.ring.lock().rescan);
    if rescan {
        failed |= apply_all(&mut st).is_err();
    }
    // Use-time limits may have started: the lifetime timer's next event.
    crate::sa_expiry::rearm(db, &mut st);
    let retired = (st.sad.take_retired(), st.spd.take_retired());
    drop(st);
    drop(retired);
    if failed {
        // Memory was short: look at every SA again in a second.
        ev.retry_all();
        ev.take_kick();
        db.use_work.schedule_ms(1000);
    }
}

/// Looks at every SA, for events the ring could not hold.
fn apply_all(st: &mut KeyState) -> Result {
    let mut todo = KVec::new();
    let mut full = false;
    st.sad
        .walk_from(0, crate::kame_core::sad::PROTO_ANY, |order, e| {
            if needs_action(e) && todo.push(order, GFP_KERNEL).is_err() {
                full = true;
                return false;
            }
            true
        });
    let mut failed = full;
    for order in todo {
        failed |= apply(st, order).is_err();
    }
    if failed {
        Err(ENOMEM)
    } else {
        Ok(())
    }
}

fn needs_action(e: &SaEntry) -> bool {
    e.usage().is_some_and(|u| u.pending(&e.rec))
}

/// Carries out what the SA at `order` needs, if it is still there: Err
/// only if memory for its new copy was short (nothing changed then).
fn apply(st: &mut KeyState, order: Order) -> Result {
    let Some(e) = st.sad.entry_at(order).cloned() else {
        return Ok(());
    };
    let Some(u) = e.usage() else {
        return Ok(());
    };
    if u.hard_reached() {
        if let Some(mut rec) = st.sad.remove_at(order) {
            rec.state = SaState::Dead;
            crate::sa_expiry::send_expire(st, &rec, Expiry::Hard);
        }
        return Ok(());
    }
    let dying = u.soft_reached() && e.rec.state == SaState::Mature;
    let first = u.usage().first_use;
    let start_use = e.rec.current.usetime == 0 && e.rec.has_usetime_limit() && first != 0;
    if !dying && !start_use {
        return Ok(());
    }
    st.sad
        .update_at(order, |r| {
            if dying {
                r.state = SaState::Dying;
            }
            if start_use {
                r.current.usetime = first;
            }
            Ok(())
        })
        .map_err(|_| ENOMEM)?;
    if dying {
        if let Some(now) = st.sad.entry_at(order) {
            let rec = now.report();
            crate::sa_expiry::send_expire(st, &rec, Expiry::Soft);
        }
    }
    Ok(())
}
