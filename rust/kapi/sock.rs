// SPDX-License-Identifier: GPL-2.0

//! A datagram socket family of our own (`sock_register()`), as PF_KEY needs:
//! whole messages in, whole messages out through the receive queue.
//!
//! The family, its `struct proto` and its `proto_ops` live in a
//! [`FamilyStorage`] static of the glue. Sockets hold references on the
//! module (through `proto.owner` and `proto_ops.owner`), so the storage
//! outlives every socket.

use super::{
    bindings,
    msg_skb::{self, MsgSkb},
    net::Net,
    pernet::{self, PernetRegistration, PernetState},
};
use core::{
    ffi::{c_int, c_void, CStr},
    marker::PhantomData,
    mem::{size_of, MaybeUninit},
    ptr::{addr_of_mut, NonNull},
};
use kernel::{error::from_result, prelude::*, sync::atomic::Relaxed, types::Opaque, ThisModule};

/// `PF_KEY`, the address family number af_key and we serve.
pub(crate) const PF_KEY: i32 = bindings::KAME_PF_KEY;
/// `SOCK_RAW`, the only socket type PF_KEY offers.
pub(crate) const SOCK_RAW: i32 = bindings::KAME_SOCK_RAW;
/// `MSG_OOB`, a `sendmsg()` flag datagram families refuse.
pub(crate) const MSG_OOB: u32 = bindings::KAME_MSG_OOB;

/// How an allocation on behalf of a socket may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Gfp {
    /// `GFP_KERNEL`: may sleep (process context, no spinlock held).
    Kernel,
}

impl Gfp {
    pub(super) fn to_raw(self) -> bindings::gfp_t {
        match self {
            Gfp::Kernel => bindings::KAME_GFP_KERNEL,
        }
    }
}

/// Whether [`Sock::queue_rcv`] queued a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Queued {
    /// The message is on the receive queue.
    Yes,
    /// The receive buffer was over its limit; the message was dropped.
    ReceiverFull,
}

/// A socket family of the glue.
pub(crate) trait SockFamily: Sized + 'static {
    /// The address family number (`PF_KEY`).
    const FAMILY: i32;
    /// The name shown in `/proc/net/protocols`.
    const NAME: &'static CStr;
    /// State kept with each socket, dropped when the socket is destroyed.
    type Data: Send + Sync;
    /// The per-namespace state the family's sockets reach through
    /// [`Sock::pernet`].
    type Pernet: PernetState;

    /// The static that holds the family's kernel structures.
    fn storage() -> &'static FamilyStorage;

    /// Vets a new socket in its creator's context and builds its state.
    fn create(net: &Net, sock_type: i32, protocol: i32) -> Result<Self::Data>;

    /// Handles a `sendmsg()` of `len` bytes; `Ok` makes it return `len`.
    fn sendmsg(sk: &Sock<'_, Self>, msg: &mut MsgReader<'_>, len: usize) -> Result;

    /// Called once a new socket is set up, before user space sees it; an
    /// error fails the `socket()` call.
    fn created(_sk: &Sock<'_, Self>) -> Result {
        Ok(())
    }

    /// Called after a `recvmsg()` took a message off the queue, so a
    /// streamed reply (a dump) can continue as the reader drains.
    fn recv_done(_sk: &Sock<'_, Self>) {}

    /// The socket's deferred work, asked for by [`Sock::defer`]: runs in
    /// process context on an unbound worker, at most once at a time.
    fn deferred(_sk: &Sock<'_, Self>) {}

    /// Called when user space closes the socket, before it is orphaned.
    fn release(_sk: &Sock<'_, Self>) {}
}

/// The kernel structures of one socket family, in a `static`.
pub(crate) struct FamilyStorage {
    proto: Opaque<bindings::proto>,
    ops: Opaque<bindings::proto_ops>,
    family: Opaque<bindings::net_proto_family>,
}

// SAFETY: the structures are written only by `FamilyRegistration::register`
// before the family is published, and read by the kernel afterwards.
unsafe impl Sync for FamilyStorage {}

impl FamilyStorage {
    /// Storage for a family not yet registered.
    pub(crate) const fn new() -> Self {
        FamilyStorage {
            proto: Opaque::zeroed(),
            ops: Opaque::zeroed(),
            family: Opaque::zeroed(),
        }
    }
}

/// A socket as the kernel allocates it for family `F`: the `struct sock`
/// followed by its deferred work and our state. `bindings::sock` is opaque
/// (its size and alignment are the compiler's; its fields are reached
/// through C helpers).
#[repr(C)]
struct SockWithData<D> {
    sk: bindings::sock,
    /// Queued with a reference on `sk` (helpers/sock.c), cancelled when
    /// the socket is released.
    work: Opaque<bindings::work_struct>,
    data: D,
}

/// A registered socket family; unregistered when dropped.
///
/// # Invariants
///
/// `F::storage()`'s `proto` is registered with `proto_register()` and its
/// `family` with `sock_register()` until `drop`.
pub(crate) struct FamilyRegistration<F: SockFamily> {
    _family: PhantomData<F>,
}

impl<F: SockFamily> FamilyRegistration<F> {
    /// Registers the family. Fails with EEXIST if another module (af_key)
    /// owns the family number.
    ///
    /// `_pernet` proves the per-namespace state sockets reach exists; the
    /// module drops this registration before that one (field order), so
    /// every socket's namespace has its state.
    pub(crate) fn register(
        module: &'static ThisModule,
        _pernet: &PernetRegistration<F::Pernet>,
    ) -> Result<Self> {
        let st = F::storage();
        let owner = module.as_ptr().cast::<bindings::module>();
        let obj_size = u32::try_from(size_of::<SockWithData<F::Data>>())?;
        // SAFETY: registration happens once, from module init, before the
        // family is visible to anyone, so nothing reads the storage yet.
        unsafe {
            let proto = st.proto.get();
            (*proto).name.fill(0);
            for (dst, &src) in (*proto).name.iter_mut().zip(F::NAME.to_bytes()) {
                *dst = src;
            }
            (*proto).owner = owner;
            (*proto).obj_size = obj_size;

            let ops = st.ops.get();
            (*ops).family = F::FAMILY;
            (*ops).owner = owner;
            (*ops).release = Some(release_trampoline::<F>);
            (*ops).bind = Some(bindings::sock_no_bind);
            (*ops).connect = Some(bindings::sock_no_connect);
            (*ops).socketpair = Some(bindings::sock_no_socketpair);
            (*ops).accept = Some(bindings::sock_no_accept);
            (*ops).getname = Some(bindings::sock_no_getname);
            (*ops).ioctl = Some(bindings::sock_no_ioctl);
            (*ops).listen = Some(bindings::sock_no_listen);
            (*ops).shutdown = Some(bindings::sock_no_shutdown);
            (*ops).mmap = Some(bindings::sock_no_mmap);
            (*ops).poll = Some(bindings::datagram_poll);
            (*ops).sendmsg = Some(sendmsg_trampoline::<F>);
            (*ops).recvmsg = Some(recvmsg_trampoline::<F>);

            let family = st.family.get();
            (*family).family = F::FAMILY;
            (*family).create = Some(create_trampoline::<F>);
            (*family).owner = owner;
        }
        // SAFETY: `proto` is initialised above and lives in a static.
        super::to_result(unsafe { bindings::proto_register(st.proto.get(), 0) })?;
        // SAFETY: `family` is initialised above and lives in a static.
        let registered = unsafe { bindings::sock_register(st.family.get()) };
        if let Err(e) = super::to_result(registered) {
            // SAFETY: registered just above, and no socket can exist.
            unsafe { bindings::proto_unregister(st.proto.get()) };
            return Err(e);
        }
        // INVARIANT: both registered just above.
        Ok(Self {
            _family: PhantomData,
        })
    }
}

impl<F: SockFamily> Drop for FamilyRegistration<F> {
    fn drop(&mut self) {
        let st = F::storage();
        // SAFETY: by the type invariant both are registered. Every socket
        // holds a module reference, so none exists when the module unloads.
        unsafe {
            bindings::sock_unregister(F::FAMILY);
            bindings::proto_unregister(st.proto.get());
        }
    }
}

/// One of family `F`'s sockets, borrowed for a callback.
///
/// # Invariants
///
/// `sk` is a live socket of family `F` (a `SockWithData<F::Data>`) for `'a`.
pub(crate) struct Sock<'a, F: SockFamily> {
    sk: *mut bindings::sock,
    _life: PhantomData<&'a F>,
}

impl<'a, F: SockFamily> Sock<'a, F> {
    /// # Safety
    ///
    /// `sk` is a live socket of family `F` for `'a`.
    unsafe fn from_raw(sk: *mut bindings::sock) -> Self {
        // INVARIANT: guaranteed by the caller.
        Sock {
            sk,
            _life: PhantomData,
        }
    }

    /// The socket's state.
    pub(crate) fn data(&self) -> &'a F::Data {
        // SAFETY: by the type invariant `sk` heads a `SockWithData`, whose
        // `data` `create_trampoline` initialised.
        unsafe { &(*self.sk.cast::<SockWithData<F::Data>>()).data }
    }

    /// The namespace the socket lives in.
    pub(crate) fn net(&self) -> &'a Net {
        // SAFETY: `sk` is live (type invariant) and a user socket holds a
        // reference on its namespace, so the namespace outlives `'a`.
        unsafe { Net::from_raw(bindings::kame_sock_net(self.sk)) }
    }

    /// The family's state in the socket's namespace.
    pub(crate) fn pernet(&self) -> &'a F::Pernet {
        // SAFETY: the namespace is live for `'a` (see `net`), and
        // `FamilyRegistration::register` proved `F::Pernet` registered for
        // as long as sockets of `F` can exist.
        unsafe { pernet::state::<F::Pernet>(self.net()) }
    }

    /// A counted reference to the socket, to reach it after this callback.
    pub(crate) fn to_ref(&self) -> SockRef<F> {
        // SAFETY: `sk` is live (type invariant); the reference taken here is
        // dropped by `SockRef::drop`.
        unsafe { bindings::kame_sock_hold(self.sk) };
        // INVARIANT: we hold a reference just taken.
        SockRef {
            // SAFETY: a live socket pointer is not null.
            sk: unsafe { NonNull::new_unchecked(self.sk) },
            _family: PhantomData,
        }
    }

    /// Runs [`SockFamily::deferred`] for the socket soon, on an unbound
    /// worker (so possibly on another CPU while this one goes on), unless
    /// a run is already pending. The socket is held until it has run.
    pub(crate) fn defer(&self) {
        // SAFETY: `sk` is live (type invariant) and heads a `SockWithData`
        // whose `work` `create_trampoline` initialised; the helper holds
        // `sk` for the run, which `release_trampoline` cancels or waits for.
        unsafe { bindings::kame_sock_work_queue(self.sk, work_of::<F>(self.sk)) };
    }

    /// Whether the reader's queue already holds more than the receive
    /// buffer allows (af_key's test before each message it queues).
    fn rcvbuf_over(&self) -> bool {
        let (used, size) = self.rmem();
        used > size
    }

    /// Bytes queued for the reader (`sk_rmem_alloc`) and the receive
    /// buffer's size (`sk_rcvbuf`).
    fn rmem(&self) -> (usize, usize) {
        // SAFETY: `sk` is live (type invariant).
        let (used, size) = unsafe {
            (
                bindings::kame_sk_rmem_alloc(self.sk),
                bindings::kame_sk_rcvbuf(self.sk),
            )
        };
        (
            usize::try_from(used).unwrap_or(usize::MAX),
            usize::try_from(size).unwrap_or(0),
        )
    }

    /// Whether a message may be queued now without crossing `limit` parts
    /// of the receive buffer in `of` (e.g. 2 of 3): the test af_key makes
    /// before it streams more of a dump.
    pub(crate) fn rcvbuf_below(&self, limit: usize, of: usize) -> bool {
        let (used, size) = self.rmem();
        used.saturating_mul(of) <= size.saturating_mul(limit)
    }

    /// Bytes that may still be queued before `limit` parts of the receive
    /// buffer in `of` are used (0 when they are).
    pub(crate) fn rcvbuf_room(&self, limit: usize, of: usize) -> usize {
        let (used, size) = self.rmem();
        (size.saturating_mul(limit) / of).saturating_sub(used)
    }

    /// The socket's send buffer size in bytes (`sk_sndbuf`).
    pub(crate) fn sndbuf(&self) -> usize {
        // SAFETY: `sk` is live (type invariant).
        let v = unsafe { bindings::kame_sk_sndbuf(self.sk) };
        usize::try_from(v).unwrap_or(0)
    }

    /// Queues one message for the socket's reader, as af_key's
    /// `pfkey_broadcast_one()`: not queued when the receive buffer is already
    /// over its limit; ENOBUFS when no memory is left.
    pub(crate) fn queue_rcv(&self, bytes: &[u8], gfp: Gfp) -> Result<Queued> {
        let len = u32::try_from(bytes.len())?;
        if self.rcvbuf_over() {
            return Ok(Queued::ReceiverFull);
        }
        // SAFETY: plain allocation.
        let skb = unsafe { bindings::kame_alloc_skb(len, gfp.to_raw()) };
        if skb.is_null() {
            return Err(ENOBUFS);
        }
        // SAFETY: `skb` is a fresh buffer with room for `len` bytes; `bytes`
        // is readable for `len` bytes.
        unsafe { bindings::kame_skb_put_data(skb, bytes.as_ptr().cast::<c_void>(), len) };
        // SAFETY: `skb` is ours, linear, and owned by no socket.
        unsafe { self.enqueue(skb) };
        Ok(Queued::Yes)
    }

    /// Queues a built message (or batch) for the socket's reader, as
    /// [`Self::queue_rcv`] but without a copy, and whatever the receive
    /// buffer holds: for a dump, which bounds itself by
    /// [`Self::rcvbuf_room`] and must lose nothing.
    pub(crate) fn queue_skb(&self, skb: MsgSkb) {
        // SAFETY: `into_raw` hands over a linear buffer owned by no socket.
        unsafe { self.enqueue(skb.into_raw()) };
    }

    /// Charges `skb` to the socket, queues it for the reader and wakes it.
    ///
    /// # Safety
    ///
    /// `skb` is a valid buffer the caller owns, charged to no socket; it
    /// is the socket's (which frees it) from this call on.
    unsafe fn enqueue(&self, skb: *mut bindings::sk_buff) {
        // SAFETY: `skb` is ours to hand over (caller); `sk` is live (type
        // invariant).
        unsafe {
            bindings::kame_skb_set_owner_r(skb, self.sk);
            bindings::kame_sk_queue_rcv_tail(self.sk, skb);
            bindings::kame_sk_data_ready(self.sk);
        }
    }

    /// Queues `skb` itself for the socket's reader, as [`Self::queue_clone`]
    /// a clone: a broadcast's last receiver takes the message built, with
    /// no clone to make and no original to free. Not queued (freed) when
    /// the receive buffer is already over its limit.
    pub(crate) fn queue_built(&self, skb: MsgSkb) -> Queued {
        if self.rcvbuf_over() {
            return Queued::ReceiverFull;
        }
        self.queue_skb(skb);
        Queued::Yes
    }

    /// Queues a clone of `skb` (sharing its bytes) for the socket's reader,
    /// as af_key copies a message to promiscuous sockets; ENOBUFS if the
    /// clone cannot be allocated. `skb` must not change afterwards.
    pub(crate) fn queue_clone(&self, skb: &mut MsgSkb) -> Result<Queued> {
        if self.rcvbuf_over() {
            return Ok(Queued::ReceiverFull);
        }
        // SAFETY: `skb` is a valid buffer; the clone is a new `sk_buff`
        // sharing its data, owned by us until queued.
        let clone = unsafe { bindings::skb_clone(skb.as_raw(), Gfp::Kernel.to_raw()) };
        if clone.is_null() {
            return Err(ENOBUFS);
        }
        // SAFETY: `clone` is ours and owned by no socket.
        unsafe { self.enqueue(clone) };
        Ok(Queued::Yes)
    }
}

/// A counted reference to one of family `F`'s sockets, kept past a
/// callback (in the list of sockets a broadcast reaches).
///
/// # Invariants
///
/// `sk` is a socket of family `F` on which this value holds a reference.
pub(crate) struct SockRef<F: SockFamily> {
    sk: NonNull<bindings::sock>,
    _family: PhantomData<F>,
}

// SAFETY: a `struct sock` is reference counted and its queueing functions
// lock internally, so the reference may move to and be used from any thread.
unsafe impl<F: SockFamily> Send for SockRef<F> {}
// SAFETY: as for `Send`; `&SockRef` only queues messages and compares.
unsafe impl<F: SockFamily> Sync for SockRef<F> {}

impl<F: SockFamily> SockRef<F> {
    /// Borrows the socket for as long as the reference is held.
    pub(crate) fn get(&self) -> Sock<'_, F> {
        // SAFETY: we hold a reference (type invariant), so the socket lives
        // at least as long as `self`.
        unsafe { Sock::from_raw(self.sk.as_ptr()) }
    }

    /// Whether this refers to `sk`.
    pub(crate) fn is(&self, sk: &Sock<'_, F>) -> bool {
        core::ptr::eq(self.sk.as_ptr(), sk.sk)
    }
}

impl<F: SockFamily> Drop for SockRef<F> {
    fn drop(&mut self) {
        // SAFETY: drops the reference this value holds (type invariant).
        unsafe { bindings::kame_sock_put(self.sk.as_ptr()) };
    }
}

/// The user message of a `sendmsg()` call, to be copied in once.
pub(crate) struct MsgReader<'a> {
    msg: *mut bindings::msghdr,
    _life: PhantomData<&'a mut bindings::msghdr>,
}

impl MsgReader<'_> {
    /// The `MSG_*` flags of the call.
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: `msg` is the live message header of the current call.
        unsafe { (*self.msg).msg_flags }
    }

    /// Copies `len` bytes of the user's message in and calls `f` on them:
    /// on the stack up to [`MsgReader::ON_STACK`] bytes (nearly every
    /// PF_KEY message; an allocation per message showed in profiles), else
    /// in a buffer as [`MsgReader::read_all`]'s. Its errors, and EFAULT if
    /// the user memory is bad.
    pub(crate) fn with_message<R>(&mut self, len: usize, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        if len > Self::ON_STACK {
            return Ok(f(&self.read_all(len)?));
        }
        let mut buf = [const { MaybeUninit::<u8>::uninit() }; Self::ON_STACK];
        // SAFETY: `buf` has room for `len` bytes (checked above).
        unsafe { self.copy_in(buf.as_mut_ptr().cast(), len)? };
        // SAFETY: `copy_in` succeeded, so the first `len` bytes are
        // written; `u8` has the layout of `MaybeUninit<u8>`.
        let bytes = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
        Ok(f(bytes))
    }

    /// The longest message [`MsgReader::with_message`] copies to the stack.
    pub(crate) const ON_STACK: usize = 512;

    /// Copies `len` bytes of the user's message into a new kernel buffer:
    /// ENOBUFS if it cannot be allocated, EFAULT if the user memory is bad.
    pub(crate) fn read_all(&mut self, len: usize) -> Result<KVec<u8>> {
        let mut buf = KVec::<u8>::with_capacity(len, GFP_KERNEL).map_err(|_| ENOBUFS)?;
        // SAFETY: `buf` has room for `len` bytes.
        unsafe { self.copy_in(buf.as_mut_ptr(), len)? };
        // SAFETY: `copy_in` succeeded, so all `len` bytes are written.
        unsafe { buf.inc_len(len) };
        Ok(buf)
    }

    /// Copies `len` bytes of the user's message to `dst`; EFAULT if the
    /// user memory is bad.
    ///
    /// # Safety
    ///
    /// `dst` is valid for writes of `len` bytes.
    unsafe fn copy_in(&mut self, dst: *mut u8, len: usize) -> Result {
        let n = c_int::try_from(len)?;
        // SAFETY: `dst` has room for `len` bytes (caller); `msg` is the
        // live message header of the current call.
        match unsafe { bindings::kame_memcpy_from_msg(dst.cast(), self.msg, n) } {
            0 => Ok(()),
            _ => Err(EFAULT),
        }
    }
}

/// # Safety
///
/// Called by the socket layer for a new socket of family `F`.
unsafe extern "C" fn create_trampoline<F: SockFamily>(
    net: *mut bindings::net,
    sock: *mut bindings::socket,
    protocol: c_int,
    kern: c_int,
) -> c_int {
    from_result(|| {
        // SAFETY: the kernel passes a live namespace and a new `socket`.
        let (netref, sock_type) = unsafe { (Net::from_raw(net), (*sock).type_) };
        let data = F::create(netref, i32::from(sock_type), protocol)?;
        let st = F::storage();
        // SAFETY: `proto` is registered; `sk_alloc` zeroes `obj_size` bytes.
        let sk = unsafe {
            bindings::sk_alloc(net, F::FAMILY, Gfp::Kernel.to_raw(), st.proto.get(), kern)
        };
        if sk.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `sk` heads `obj_size == size_of::<SockWithData<_>>()`
        // bytes; `data` is written once before anyone reads it, and
        // `destruct_trampoline` drops it. `sock` is the new socket.
        unsafe {
            addr_of_mut!((*sk.cast::<SockWithData<F::Data>>()).data).write(data);
            bindings::kame_sock_work_init(work_of::<F>(sk), Some(work_trampoline::<F>));
            (*sock).ops = st.ops.get();
            bindings::sock_init_data(sock, sk);
            bindings::kame_sk_set_destruct(sk, Some(destruct_trampoline::<F>));
        }
        // SAFETY: `sk` is set up and owned by `sock` for the call.
        if let Err(e) = F::created(&unsafe { Sock::<F>::from_raw(sk) }) {
            // SAFETY: as `release_trampoline`, the socket layer wants `sk`
            // freed and detached when `create` fails.
            unsafe {
                bindings::kame_sock_orphan(sk);
                (*sock).sk = core::ptr::null_mut();
                bindings::kame_sock_put(sk);
            }
            return Err(e);
        }
        Ok(0)
    })
}

/// # Safety
///
/// Called by the socket layer when a socket of family `F` is freed.
unsafe extern "C" fn destruct_trampoline<F: SockFamily>(sk: *mut bindings::sock) {
    // SAFETY: `sk` is one of ours being freed: purge what is queued and drop
    // the state `create_trampoline` wrote; nothing uses either afterwards.
    unsafe {
        bindings::kame_sk_queue_purge(sk);
        addr_of_mut!((*sk.cast::<SockWithData<F::Data>>()).data).drop_in_place();
    }
}

/// # Safety
///
/// Called by the socket layer when user space closes a socket of `F`.
unsafe extern "C" fn release_trampoline<F: SockFamily>(sock: *mut bindings::socket) -> c_int {
    // SAFETY: `sock` is live for the call.
    let sk = unsafe { (*sock).sk };
    if sk.is_null() {
        return 0;
    }
    // SAFETY: `sk` is live until the `sock_put` below; no system call is
    // in progress on it, so nothing queues its work again once cancelled
    // (a run that was pending drops its reference here).
    unsafe { bindings::kame_sock_work_cancel(sk, work_of::<F>(sk)) };
    // SAFETY: `sk` is live until the `sock_put` below.
    F::release(&unsafe { Sock::<F>::from_raw(sk) });
    // SAFETY: detach the sock from the socket and drop the socket's
    // reference; `destruct_trampoline` runs when the last one goes.
    unsafe {
        bindings::kame_sock_orphan(sk);
        (*sock).sk = core::ptr::null_mut();
        bindings::kame_sock_put(sk);
    }
    0
}

/// The deferred work of `sk`, a socket of `F`'s (no access is made).
fn work_of<F: SockFamily>(sk: *mut bindings::sock) -> *mut bindings::work_struct {
    let at = core::mem::offset_of!(SockWithData<F::Data>, work);
    sk.cast::<u8>().wrapping_add(at).cast()
}

/// # Safety
///
/// Called by the workqueue with the `work` of a socket of `F`, queued by
/// [`Sock::defer`] with a reference held.
unsafe extern "C" fn work_trampoline<F: SockFamily>(work: *mut bindings::work_struct) {
    let at = core::mem::offset_of!(SockWithData<F::Data>, work);
    let sk = work.cast::<u8>().wrapping_sub(at).cast::<bindings::sock>();
    // SAFETY: `work` lives in the socket `sk`, which the queueing held.
    F::deferred(&unsafe { Sock::<F>::from_raw(sk) });
    // SAFETY: drops the reference `kame_sock_work_queue` took for this run.
    unsafe { bindings::kame_sock_put(sk) };
}

/// # Safety
///
/// Called by the socket layer for `sendmsg()` on a socket of `F`.
unsafe extern "C" fn sendmsg_trampoline<F: SockFamily>(
    sock: *mut bindings::socket,
    msg: *mut bindings::msghdr,
    len: usize,
) -> c_int {
    from_result(|| {
        // SAFETY: a socket of ours in a system call has its `sk`.
        let sk = unsafe { Sock::<F>::from_raw((*sock).sk) };
        let mut reader = MsgReader {
            msg,
            _life: PhantomData,
        };
        F::sendmsg(&sk, &mut reader, len)?;
        Ok(c_int::try_from(len)?)
    })
}

/// # Safety
///
/// Called by the socket layer for `recvmsg()` on a socket of `F`.
unsafe extern "C" fn recvmsg_trampoline<F: SockFamily>(
    sock: *mut bindings::socket,
    msg: *mut bindings::msghdr,
    len: usize,
    flags: c_int,
) -> c_int {
    let allowed = bindings::KAME_MSG_PEEK
        | bindings::KAME_MSG_DONTWAIT
        | bindings::KAME_MSG_TRUNC
        | bindings::KAME_MSG_CMSG_COMPAT;
    if flags as u32 & !allowed != 0 {
        return EINVAL.to_errno();
    }
    // SAFETY: a socket of ours in a system call has its `sk`.
    let sk = unsafe { (*sock).sk };
    let peek = flags as u32 & bindings::KAME_MSG_PEEK != 0;
    let (mut at, mut full): (c_int, c_int) = (0, 0);
    let skb = loop {
        // SAFETY: `sk` is live; `step_message` is what `kame_sk_next_msg`
        // expects, and `at` and `full` are writable.
        let skb =
            unsafe { bindings::kame_sk_next_msg(sk, peek, Some(step_message), &mut at, &mut full) };
        if !skb.is_null() {
            break skb;
        }
        // Nothing queued: wait as any datagram socket does (timeout,
        // signals, MSG_DONTWAIT), then take the message as above.
        let mut err: c_int = 0;
        // SAFETY: `sk` is live; `err` receives the error on failure.
        let head = unsafe {
            bindings::skb_recv_datagram(sk, flags as u32 | bindings::KAME_MSG_PEEK, &mut err)
        };
        if head.is_null() {
            return err;
        }
        // SAFETY: drops the reference the peek took.
        unsafe { bindings::skb_free_datagram(sk, head) };
    };
    let full = full as usize;
    let copied = if full > len {
        // SAFETY: `msg` is live for the call.
        unsafe { (*msg).msg_flags |= bindings::KAME_MSG_TRUNC };
        len
    } else {
        full
    };
    // SAFETY: `skb` holds `full >= copied` bytes from `at`; `msg` is live.
    let mut ret = unsafe { bindings::kame_skb_copy_datagram_msg(skb, at, msg, copied as c_int) };
    if ret == 0 {
        // SAFETY: as above.
        unsafe { bindings::kame_sock_recv_cmsgs(msg, sk, skb) };
        let n = if flags as u32 & bindings::KAME_MSG_TRUNC != 0 {
            full
        } else {
            copied
        };
        ret = n as c_int;
    }
    // SAFETY: drops the reference `kame_sk_next_msg` gave us (and frees
    // the buffer if its last message was taken).
    unsafe { bindings::skb_free_datagram(sk, skb) };
    // SAFETY: a socket of ours in a system call is live.
    F::recv_done(&unsafe { Sock::<F>::from_raw(sk) });
    ret
}

/// Where the next message of the head `skb` of a receive queue lies (in
/// `at` and `len`) and whether more follow it; moves past it if `advance`.
///
/// # Safety
///
/// Called by `kame_sk_next_msg` under the queue's lock, with its head (a
/// linear buffer of one of our sockets) and writable `at` and `len`.
unsafe extern "C" fn step_message(
    skb: *mut bindings::sk_buff,
    advance: bool,
    at: *mut c_int,
    len: *mut c_int,
) -> bool {
    // SAFETY: `skb` is a queued buffer of ours, held by the queue (caller).
    let (from, full, rest) = unsafe { next_message(skb) };
    if rest && advance {
        // The next reader reads on after this message, copied or not: a
        // datagram is consumed either way. The lock orders readers.
        // SAFETY: as above.
        if let Some(next) = unsafe { msg_skb::batch_next(skb) } {
            next.store(from as u32 + full as u32, Relaxed);
        }
    }
    // SAFETY: writable (caller); a message is shorter than a buffer.
    unsafe {
        *at = from;
        *len = full as c_int;
    }
    rest
}

/// The next message of `skb`: its offset, its length, and whether more
/// follow it. A plain buffer is one message (whatever it holds: a
/// promiscuous socket's copy of a user's write may have any length); a
/// batch's messages are ours, each `sadb_msg_len` words long.
///
/// # Safety
///
/// `skb` is a linear buffer of one of our sockets, held by the caller.
unsafe fn next_message(skb: *mut bindings::sk_buff) -> (c_int, usize, bool) {
    // SAFETY: `skb` is valid (caller).
    let len = unsafe { (*skb).len } as usize;
    // SAFETY: as above.
    let Some(next) = (unsafe { msg_skb::batch_next(skb) }) else {
        return (0, len, false);
    };
    let at = (next.load(Relaxed) as usize).min(len);
    // SAFETY: a batch is linear (built by `MsgSkb`) and holds `len` bytes.
    let bytes = unsafe { core::slice::from_raw_parts((*skb).data, len) };
    let words = bytes
        .get(at + 4..at + 6)
        .map_or(0, |w| usize::from(u16::from_ne_bytes([w[0], w[1]])));
    // A length we did not write (none should be) takes the rest.
    let full = match words * 8 {
        n if n < 16 || n > len - at => len - at,
        n => n,
    };
    (at as c_int, full, at + full < len)
}
