// SPDX-License-Identifier: GPL-2.0

//! The key state of one namespace: its PF_KEY sockets, SAD and SPD, behind
//! one mutex.
//!
//! Lock order: the key mutex, then a socket's receive queue lock (taken
//! inside queueing) or the ACQUIRE queue's spinlock. Nothing here runs in
//! atomic context: messages are built and queued with GFP_KERNEL, and the
//! packet path hands events over through work items: the lifetime timer
//! ([`crate::sa_expiry`]), ACQUIREs ([`crate::acquire_queue`]) and
//! lifetimes by use ([`crate::use_events`]).

use crate::{
    acquire::Acquires,
    acquire_queue::AcqQueue,
    kapi::{
        clock::random_u32,
        sock::SockRef,
        work::{DelayedWork, HasDelayedWork},
    },
    pfkey_dump::Dump,
    pfkey_sock::PfKey,
    sad_table::{SadReader, SadTable},
    spd_table::{SpdReader, SpdTable},
    use_events::UseEvents,
    xform_spares::Spares,
};
use kernel::{
    new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{Arc, Mutex, SpinLockIrq},
};

/// One PF_KEY socket as the namespace knows it.
pub(crate) struct KeySock {
    /// The socket, referenced while it is open.
    pub(crate) sk: SockRef<PfKey>,
    /// SA types registered with SADB_REGISTER, one bit per `satype`.
    pub(crate) registered: u32,
    /// Whether SADB_X_PROMISC turned promiscuous mode on.
    pub(crate) promisc: bool,
    /// The dump being streamed to this socket, if any.
    pub(crate) dump: Option<Dump>,
}

/// Everything the key mutex protects.
pub(crate) struct KeyState {
    /// Open PF_KEY sockets, oldest first.
    pub(crate) socks: KVec<KeySock>,
    /// Security associations.
    pub(crate) sad: SadTable,
    /// Security policies.
    pub(crate) spd: SpdTable,
    /// When the lifetime timer is set to run, if it is.
    pub(crate) timer_at: Option<u64>,
    /// The ACQUIREs in flight (larval entries by SA template); 9 KiB, so
    /// on the heap, not in the frame that builds the key state.
    pub(crate) acq: KBox<Acquires>,
}

/// The [`DelayedWork`] id of the ACQUIRE work item (0 is the timer's).
pub(crate) const ACQUIRE_WORK: u64 = 1;

/// The [`DelayedWork`] id of the lifetime-by-use work item.
pub(crate) const USE_WORK: u64 = 2;

/// The [`DelayedWork`] id of the spare transforms' worker.
pub(crate) const SPARE_WORK: u64 = 3;

/// The key state of one namespace.
#[pin_data]
pub(crate) struct KeyDb {
    /// Sends the ACQUIREs the packet path queued. First: its handler may
    /// set the timer, so it is cancelled (and waited for) before the
    /// timer is.
    #[pin]
    pub(crate) acquire_work: DelayedWork<KeyDb, ACQUIRE_WORK>,
    /// Carries out the packet path's lifetime events. Before the timer
    /// too: its handler re-arms the timer at an SA's first use.
    #[pin]
    pub(crate) use_work: DelayedWork<KeyDb, USE_WORK>,
    /// The SA lifetime timer, cancelled (and a running handler waited
    /// for) before the state goes.
    #[pin]
    pub(crate) timer: DelayedWork<KeyDb>,
    /// Allocates spare ESP transforms; before them.
    #[pin]
    pub(crate) spare_work: DelayedWork<KeyDb, SPARE_WORK>,
    #[pin]
    state: Mutex<KeyState>,
    /// Spare ESP transforms ([`crate::xform_spares`]); taken inside the
    /// key mutex.
    #[pin]
    pub(crate) spares: Mutex<Spares>,
    /// ACQUIRE requests from the packet path, for `acquire_work`.
    #[pin]
    pub(crate) acquires: SpinLockIrq<KBox<AcqQueue>>,
    /// Lifetime events from the packet path, for `use_work`; in-flight
    /// packets hold references too.
    pub(crate) use_events: Arc<UseEvents>,
    /// The SAD's lockless lookups, for the packet path.
    pub(crate) sad: SadReader,
    /// The SPD's lockless lookup, for the packet path.
    pub(crate) spd: SpdReader,
}

// SAFETY: `OFFSET` is that of the `timer` field, declared before `state`,
// the only field `run` uses (besides `timer` itself, to set it again).
unsafe impl HasDelayedWork for KeyDb {
    const OFFSET: usize = core::mem::offset_of!(KeyDb, timer);

    fn run(&self) {
        crate::sa_expiry::run(self);
    }
}

// SAFETY: `OFFSET` is that of the `acquire_work` field, declared before
// `timer`, `state` and `acquires`, the fields `run` uses.
unsafe impl HasDelayedWork<ACQUIRE_WORK> for KeyDb {
    const OFFSET: usize = core::mem::offset_of!(KeyDb, acquire_work);

    fn run(&self) {
        crate::acquire_queue::run(self);
    }
}

// SAFETY: `OFFSET` is that of the `use_work` field, declared before
// `timer`, `state` and `use_events`, the fields `run` uses.
unsafe impl HasDelayedWork<USE_WORK> for KeyDb {
    const OFFSET: usize = core::mem::offset_of!(KeyDb, use_work);

    fn run(&self) {
        crate::use_events::run(self);
    }
}

// SAFETY: `OFFSET` is that of the `spare_work` field, declared before
// `spares`, the field `run` uses.
unsafe impl HasDelayedWork<SPARE_WORK> for KeyDb {
    const OFFSET: usize = core::mem::offset_of!(KeyDb, spare_work);

    fn run(&self) {
        crate::xform_spares::run(self);
    }
}

impl KeyDb {
    /// Runs the lifetime-by-use work item if the packet path queued
    /// events since the last call. Any context: the packet hooks call it
    /// on their way out (events raised where no `KeyDb` is at hand, after
    /// asynchronous crypto, wait for the next packet's call).
    pub(crate) fn kick_use_events(&self) {
        if self.use_events.take_kick() {
            self.use_work.schedule_ms(0);
        }
    }

    /// Empty tables, no sockets.
    pub(crate) fn new() -> Result<Pin<KBox<KeyDb>>> {
        let (sad, sad_reader) = SadTable::new(random_u32())?;
        let (spd, spd_reader) = SpdTable::new(random_u32())?;
        let use_events = UseEvents::new()?;
        // The larval table and the ACQUIRE queue (9 and 4 KiB) are written
        // where they are allocated: built in the frame of a namespace's
        // creation they had made it 10 KiB deep, of a 16 KiB stack.
        let acq = KBox::<Acquires>::new_uninit(GFP_KERNEL)?.write(Acquires::EMPTY);
        let queue = KBox::<AcqQueue>::new_uninit(GFP_KERNEL)?.write(AcqQueue::EMPTY);
        KBox::pin_init(
            pin_init!(KeyDb {
                acquire_work <- DelayedWork::new(),
                use_work <- DelayedWork::new(),
                timer <- DelayedWork::new(),
                spare_work <- DelayedWork::new(),
                state <- new_mutex!(KeyState {
                    socks: KVec::new(),
                    sad,
                    spd,
                    timer_at: None,
                    acq,
                }),
                spares <- new_mutex!(Spares::new()),
                acquires <- new_spinlock_irq!(queue),
                use_events,
                sad: sad_reader,
                spd: spd_reader,
            }),
            GFP_KERNEL,
        )
    }

    /// Takes the key mutex.
    pub(crate) fn lock(&self) -> kernel::sync::MutexGuard<'_, KeyState> {
        self.state.lock()
    }
}
