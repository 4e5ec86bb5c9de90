// SPDX-License-Identifier: GPL-2.0

//! Packets of one namespace between the packet path and the end of their
//! crypto. An asynchronous driver (cryptd, pcrypt, an engine) calls back
//! later, from its own context, into this module's code, with the packet,
//! its SAs and the namespace's counters; each such packet holds an
//! [`InFlight`] token from the moment the packet path takes it until its
//! last step is done.
//!
//! When the namespace starts to go ([`Pending::close`], from pernet
//! `pre_exit`), no new token is given and completions still to come drop
//! their packet, counted (`exit_drops`); its teardown then waits until no
//! token is left ([`Pending::close_and_wait`]), so what the completions touch (the
//! counters, the decapsulation device, the module's code) is still there
//! when they run. The module's own teardown adds a grace period after the
//! namespaces are gone: a completion returns through our code after it
//! dropped its token, with bottom halves off (cryptd, pcrypt and softirq
//! drivers call back so), which an RCU grace period waits out.
//!
//! The token also carries what every packet of the namespace reads
//! (`T`, the SAD and SPD readers and the counters): one reference per
//! packet instead of one for each of them.

#![forbid(unsafe_code)]

use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Full, Relaxed},
        Arc, Completion,
    },
};

/// The flag in [`Pending::state`] that says the namespace is going; the
/// bits below it count the tokens, plus one held by the namespace itself
/// until it closes.
const CLOSING: u64 = 1 << 63;

/// The packets in flight in one namespace, and what they share (`T`).
#[pin_data]
pub(crate) struct Pending<T> {
    /// Token count and [`CLOSING`] in one word, so a token taken while the
    /// namespace closes sees the flag in the value its own increment read.
    state: Atomic<u64>,
    /// Completed when the count reaches zero after [`Pending::close`].
    #[pin]
    idle: Completion,
    /// What the packets read, reached through their tokens.
    shared: T,
}

/// One packet in flight: holds its namespace's teardown back until it is
/// dropped, and gives the packet what its namespace shares (`Deref`).
pub(crate) struct InFlight<T> {
    pending: Arc<Pending<T>>,
}

impl<T> Pending<T> {
    /// No packet in flight; the namespace's own count held.
    pub(crate) fn new(shared: T) -> Result<Arc<Pending<T>>> {
        Arc::pin_init(
            pin_init!(Pending {
                state: Atomic::new(1),
                idle <- Completion::new(),
                shared,
            }),
            GFP_KERNEL,
        )
    }

    /// A token for a packet entering the data path; `None` once the
    /// namespace is going (the packet is to be dropped). Any context.
    pub(crate) fn enter(self: &Arc<Self>) -> Option<InFlight<T>> {
        let token = InFlight {
            pending: self.clone(),
        };
        let before = self.state.fetch_add(1, Full);
        // Dropping the token undoes the increment (and completes `idle`
        // if it was the last).
        (before & CLOSING == 0).then_some(token)
    }

    /// The namespace starts to go: no new token; completions that come now
    /// drop their packet. Process context (pernet `pre_exit`, or the
    /// teardown of a namespace whose setup failed), which serialises the
    /// calls; the second and later do nothing.
    pub(crate) fn close(&self) {
        if self.state.load(Relaxed) & CLOSING != 0 {
            return;
        }
        self.state.fetch_add(CLOSING, Full);
        self.leave();
    }

    /// Closes if not yet done, then waits until every token is dropped.
    /// Process context (pernet `exit`); it may sleep for as long as the
    /// crypto driver takes to call back.
    pub(crate) fn close_and_wait(&self) {
        self.close();
        self.idle.wait_for_completion();
    }

    /// One token (or the namespace's own count) less.
    fn leave(&self) {
        if self.state.fetch_sub(1, Full) == CLOSING + 1 {
            self.idle.complete_all();
        }
    }
}

impl<T> InFlight<T> {
    /// Whether the packet's namespace is going: the packet is to be
    /// dropped rather than sent on or delivered. Any context.
    pub(crate) fn closing(&self) -> bool {
        self.pending.state.load(Relaxed) & CLOSING != 0
    }
}

impl<T> core::ops::Deref for InFlight<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.pending.shared
    }
}

impl<T> Drop for InFlight<T> {
    fn drop(&mut self) {
        self.pending.leave();
    }
}

/// The module's last teardown step: once every namespace's packets in
/// flight are done, an RCU grace period lets the completions that
/// dropped the last tokens return from this module's code (their callers
/// run them with bottom halves off) before the module is freed.
pub(crate) struct CompletionsReturned;

impl Drop for CompletionsReturned {
    fn drop(&mut self) {
        kernel::sync::rcu::synchronize_rcu();
    }
}
