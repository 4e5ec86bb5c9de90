// SPDX-License-Identifier: GPL-2.0

//! Inbound decryption handed to another CPU.
//!
//! A packet arriving over a `veth` or a loopback path is received in the
//! softirq that its sender's transmit raised, on the sender's CPU: without
//! this, one TCP flow's whole receiving half (decryption, GRO, TCP's
//! receive, its ACKs) runs in turn with its sending half on one CPU, the
//! others idle. So each inbound SA's packets are decrypted on a CPU other
//! than the one they arrive on, through a per-CPU FIFO drained by a work
//! item bound to that CPU (as WireGuard spreads its crypto over a per-CPU
//! workqueue); the completion then goes on as an asynchronous driver's
//! would, on that CPU.
//!
//! Order: one SA's packets go to one CPU's queue, in order, while any of
//! them is still queued ([`Steering`]); only an SA with nothing queued
//! moves (when its packets start arriving on the CPU it had). "Queued"
//! ends once the worker's batch went through the softirqs it raised (GRO,
//! delivery); what ksoftirqd took over from them, or an asynchronous
//! driver still has, may be overtaken, as may what is left on a CPU that
//! went offline. With one CPU online nothing is queued.
//!
//! A full queue (`net.core.netdev_max_backlog` requests, as the kernel's
//! own backlog) refuses the packet with `ENOBUFS`: its job completes with
//! that error, a drop the caller counts (`esps_qfull`). Whether to hand
//! off at all is the caller's (`net.inet.ipsec.async_crypto`).

use super::bindings;
use kernel::{new_spinlock, prelude::*, sync::SpinLock};

/// The module's per-CPU queues and their workqueue; dropping it runs what
/// is queued to its end, then frees them.
///
/// # Invariants
///
/// `kame_rxq_create()` succeeded and `kame_rxq_destroy()` has not run.
pub(crate) struct RxQueues(());

impl RxQueues {
    /// Sets the queues up. Before anything can take packets in.
    pub(crate) fn create() -> Result<Self> {
        // SAFETY: called once, at module init, before the receive handlers
        // exist.
        super::to_result(unsafe { bindings::kame_rxq_create() })?;
        Ok(RxQueues(()))
    }
}

impl Drop for RxQueues {
    fn drop(&mut self) {
        // SAFETY: by the invariant the queues exist; the module's fields
        // drop the receive handlers and the namespaces first, so nothing
        // is queued any more.
        unsafe { bindings::kame_rxq_destroy() };
    }
}

/// Where one SA's inbound packets are decrypted: the CPU, and the place of
/// its latest packet in that CPU's queue.
struct Route {
    /// `u32::MAX` until the first packet.
    cpu: u32,
    tail: u32,
}

/// One SA's [`Route`], which its packets read and move under a lock of
/// its own: two CPUs taking the SA's packets at once (several senders)
/// must not queue them on two CPUs.
pub(crate) struct Steering {
    route: Pin<KBox<SpinLock<Route>>>,
    /// Spreads SAs arriving on one CPU over the others.
    salt: u32,
}

impl Steering {
    /// An SA's, before its first packet; `salt` (its SPI) picks among the
    /// CPUs.
    pub(crate) fn new(salt: u32) -> Result<Self> {
        let route = KBox::pin_init(
            new_spinlock!(Route {
                cpu: u32::MAX,
                tail: 0,
            }),
            GFP_KERNEL,
        )?;
        Ok(Steering { route, salt })
    }
}

impl Route {
    /// The CPU to decrypt the SA's next packet on, if not here (`here`,
    /// the CPU it arrived on).
    fn target(&mut self, here: u32, salt: u32) -> Option<u32> {
        // SAFETY: any CPU number may be asked about.
        if unsafe { bindings::kame_rxq_cpu_online(self.cpu) } {
            // SAFETY: `cpu` is a CPU number (it is online); the queues
            // exist while packets come in.
            let done = unsafe { bindings::kame_rxq_done(self.cpu) };
            // Wrapping difference: the SA's last packet not yet done.
            let queued = (self.tail.wrapping_sub(done) as i32) > 0;
            // Its order first; then, when it is free to move, away from
            // the CPU its packets arrive on.
            if queued || self.cpu != here {
                return Some(self.cpu);
            }
        }
        // SAFETY: `here` is online (this code runs on it).
        let other = unsafe { bindings::kame_rxq_other_cpu(here, salt) };
        // SAFETY: as above.
        if !unsafe { bindings::kame_rxq_cpu_online(other) } {
            return None;
        }
        self.cpu = other;
        Some(other)
    }
}

/// What became of a request offered to [`hand_off`].
pub(super) enum Queued {
    /// Queued: its completion comes from the queue's CPU, maybe already.
    Yes,
    /// The SA is decrypted here: the caller submits the request.
    No,
    /// The queue was full: the caller completes the request with
    /// `ENOBUFS`.
    Full,
}

/// Queues `req`, the decryption of `skb` by an SA steered by `st`, if the
/// SA is decrypted on another CPU (or has packets queued). The packet is
/// moved onto `dev` and loses its route (see `kame_rxq_enqueue()`). With
/// bottom halves off (the receive path, or a completion).
///
/// # Safety
///
/// `req` is a complete decryption request that nobody else holds, whose
/// completion frees it; `skb` is the packet it covers, ours; `dev` is a
/// device the request's job holds. With [`Queued::Yes`] all three are the
/// queue's: the caller must not touch them again. (`st` is the caller's
/// to keep alive: the job's reference to it may go with the job.)
pub(super) unsafe fn hand_off(
    st: &Steering,
    req: *mut bindings::aead_request,
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
) -> Queued {
    let mut route = st.route.lock();
    // SAFETY: bottom halves are off (the caller's guarantee): no migration.
    let here = unsafe { bindings::kame_rxq_this_cpu() };
    let was = route.cpu;
    let Some(cpu) = route.target(here, st.salt) else {
        return Queued::No;
    };
    let mut tail = 0u32;
    // SAFETY: `cpu` is online; the rest is the caller's guarantee.
    let rc = unsafe { bindings::kame_rxq_enqueue(cpu, req, skb, dev, &mut tail) };
    if rc != 0 {
        // Nothing of the SA's went to a CPU it was moved to: its place is
        // still the one in the queue it had.
        route.cpu = was;
        return Queued::Full;
    }
    route.tail = tail;
    Queued::Yes
}
