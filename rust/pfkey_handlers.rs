// SPDX-License-Identifier: GPL-2.0

//! The PF_KEY message handlers, one per message type, with af_key's replies
//! and broadcasts (Documentation/pfkey.rst lists where we differ on
//! purpose). Each runs under the namespace's key mutex with a message whose
//! header and extensions were checked.

#![forbid(unsafe_code)]

use crate::{
    acquire,
    kame_core::{
        acquire::Template,
        algs,
        errno::Errno,
        pfkey::{
            ext::Exts,
            wire::{ext_type as et, Alg, Sa2, SpiRange, Supported},
            MsgHeader, MsgType, SADB_MSG_LEN, WORD,
        },
        sad::{
            self, address_pair, canonical_mode, lookup_id, AddrFilter, SaMessage, SaRecord,
            SaState, GETSPI_DEFAULT, PROTO_ANY, SATYPE_MAX,
        },
        spd::{dir_of, selector_of, PolicyRecord},
    },
    kapi::{
        clock::{random_u32, real_seconds},
        sock::Sock,
    },
    keydb::KeyState,
    pfkey_bcast::{broadcast, broadcast_skb, Target},
    pfkey_build::{message, reply_header, sized_message_skb},
    pfkey_dump::{self, DumpKind},
    pfkey_sock::PfKey,
    sa_crypto::SaTransform,
    sad_table::NewSaSlot,
    spd_table::{id_dir, NewPolicySlot},
};
use kernel::{
    prelude::*,
    sync::{rcu, Arc},
};

/// One request: who sent it and what it says.
pub(crate) struct Request<'a> {
    /// The sending socket.
    pub(crate) me: &'a Sock<'a, PfKey>,
    /// Its header.
    pub(crate) hdr: MsgHeader,
    /// Its type.
    pub(crate) ty: MsgType,
    /// Its extensions, checked.
    pub(crate) exts: Exts<'a>,
    /// The whole message.
    pub(crate) raw: &'a [u8],
}

/// `sadb_msg_reserved` of policy messages: af_key puts its reference count
/// there; these are the values it shows for a policy no packet touched.
mod refcnt {
    pub(super) const NOTIFY_ADD: u16 = 3;
    pub(super) const GET: u16 = 2;
    pub(super) const DELETE: u16 = 1;
}

/// Runs the handler of `req.ty`.
pub(crate) fn handle(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    use MsgType::*;
    match req.ty {
        GetSpi => getspi(st, req),
        Update | Add => add(st, req),
        Delete => delete(st, req),
        Get => get(st, req),
        Acquire => acquire(st, req),
        Register => register(st, req),
        Flush => flush(st, req),
        Dump => dump(st, req, DumpKind::Sa),
        XPromisc => promisc(st, req),
        XSpdUpdate | XSpdAdd | XSpdSetIdx => spdadd(st, req),
        XSpdDelete => spddelete(st, req),
        XSpdGet | XSpdDelete2 => spdget(st, req),
        XSpdDump => dump(st, req, DumpKind::Spd),
        XSpdFlush => spdflush(st, req),
        // TODO[A]: MIGRATE; af_key without CONFIG_NET_KEY_MIGRATE says
        // ENOPROTOOPT after the extensions passed.
        XMigrate => Err(Errno(92)),
        Expire | XPchange | XSpdAcquire | XSpdExpire | XNatTNewMapping => Err(Errno::EOPNOTSUPP),
    }
}

/// Sends an SA message of type `ty` describing `rec`.
fn send_sa(
    st: &KeyState,
    req: &Request<'_>,
    rec: &SaRecord,
    ty: MsgType,
    target: Target,
) -> Result<(), Errno> {
    let hdr = reply_header(&req.hdr, ty as u8, rec.satype());
    let msg = SaMessage {
        rec,
        with_keys: true,
        counted: &rec.counted(),
    };
    let skb = sized_message_skb(&hdr, &msg)?;
    let me = (target != Target::All).then_some(req.me);
    broadcast_skb(&st.socks, skb, target, me);
    Ok(())
}

/// Sends a policy message of type `ty` describing `rec`.
fn send_policy(
    st: &KeyState,
    req: &Request<'_>,
    rec: &PolicyRecord,
    ty: MsgType,
    reserved: u16,
    target: Target,
) -> Result<(), Errno> {
    let hdr = MsgHeader {
        reserved,
        ..reply_header(&req.hdr, ty as u8, 0)
    };
    let skb = sized_message_skb(&hdr, rec)?;
    let me = (target != Target::All).then_some(req.me);
    broadcast_skb(&st.socks, skb, target, me);
    Ok(())
}

fn getspi(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    let (src, dst) = address_pair(&req.exts)?;
    let proto = match sad::satype_to_proto(req.hdr.satype) {
        Some(PROTO_ANY) | None => return Err(Errno::EINVAL),
        Some(p) => p,
    };
    let has_sa2 = req.exts.get(et::X_SA2).is_some();
    let (mode, reqid) = match req.exts.get(et::X_SA2).map(Sa2::decode) {
        Some(s) => (canonical_mode(s.mode).ok_or(Errno::EINVAL)?, s.reqid),
        None => (sad::MODE_TRANSPORT, 0),
    };
    let (min, max) = req
        .exts
        .get(et::SPIRANGE)
        .map(SpiRange::decode)
        .map_or(GETSPI_DEFAULT, |r| (r.min, r.max));
    sad::check_spi_range(proto, min, max)?;
    // As af_key: an SPI is taken if any SA of the protocol has it, whatever
    // its destination.
    let spi = sad::pick_spi(min, max, random_u32(), |spi| st.sad.spi_in_use(spi, proto))?;
    // The larval entry of an ACQUIRE becomes this SA (with the ACQUIRE's
    // seq and age, as XFRM's ACQ state takes the SPI): by the request's
    // seq, else by mode and reqid when it names them. Otherwise a new
    // larval SA, with seq 0 (af_key's xfrm_find_acq() sets none).
    let tmpl = has_sa2.then(|| Template {
        proto,
        mode,
        reqid,
        src: src.sa.addr.without_scope(),
        dst: dst.sa.addr.without_scope(),
    });
    let to = dst.sa.addr.without_scope();
    let mut rec = match acquire::take_for_getspi(&mut st.acq, req.hdr.seq, &to, tmpl.as_ref()) {
        Some(l) => acquire::larval_record(&l),
        None => SaRecord::larval(proto, &src, &dst, mode, reqid, 0, real_seconds()),
    };
    rec.id.spi = spi;
    let entry = st.sad.insert(rec, None)?;
    send_sa(st, req, &entry.rec, MsgType::GetSpi, Target::One)
}

fn add(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    // Parsed straight into the SA's allocation (see `NewSa`).
    let slot = NewSaSlot::new()?;
    let now = real_seconds();
    let mut sa = SaRecord::from_msg_into(&req.hdr, &req.exts, now, |rec| slot.fill(rec))?;
    // As af_key (xfrm_init_state() before any SAD lookup), the crypto is
    // set up first: a missing algorithm or a refused key fails the message
    // and leaves the SAD as it was. An UPDATE of a mature SA keeps the
    // SA's own (af_key changes only its lifetimes and NAT-T ports).
    let keys = &req.me.pernet().dp().keys;
    let xform =
        Arc::new(SaTransform::new(sa.rec(), keys)?, GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
    let existing = st.sad.get(&sa.rec().id).map(|r| r.state);
    if req.ty == MsgType::Add {
        if existing.is_some() {
            return Err(Errno::EEXIST);
        }
        // The larval SA this one completes goes, silently.
        let larval = match sa.rec().seq {
            0 => None,
            seq => st.sad.larval_by_seq(seq, &sa.rec().id.dst),
        };
        // The reply describes the stored record (no clone of it): the
        // larval SA has another identity, as this one was free.
        sa.set_xform(Some(xform));
        let entry = st.sad.insert_new(sa)?;
        if let Some(l) = larval {
            st.sad.remove(&l);
        }
        return send_sa(st, req, &entry.rec, MsgType::Add, Target::All);
    }
    let rec = sa.rec().clone();
    match existing {
        None => Err(Errno::ESRCH),
        Some(SaState::Larval) => {
            let old = st.sad.remove(&rec.id);
            if let Err(e) = st.sad.insert(rec.clone(), Some(xform)) {
                if let Some(o) = old {
                    let _ = st.sad.insert(o, None);
                }
                return Err(e);
            }
            send_sa(st, req, &rec, MsgType::Update, Target::All)
        }
        Some(_) => update_mature(st, req, rec),
    }
}

/// UPDATE of a mature SA: as af_key, only lifetimes and NAT-T ports change,
/// and the broadcast describes the request (state dead), not the SA.
fn update_mature(st: &mut KeyState, req: &Request<'_>, mut rec: SaRecord) -> Result<(), Errno> {
    st.sad.update(&rec.id, |cur| {
        match (&mut cur.natt, rec.natt) {
            (Some(a), Some(b)) if a.ty == b.ty => {
                a.sport = b.sport;
                a.dport = b.dport;
            }
            (None, None) => {}
            _ => return Err(Errno::EINVAL),
        }
        cur.hard = rec.hard;
        cur.soft = rec.soft;
        if cur.state == SaState::Dying {
            cur.state = SaState::Mature;
        }
        Ok(())
    })?;
    // New limits: the soft one may be reached again (XFRM clears
    // `km.dying`).
    if let Some(u) = st.sad.entry(&rec.id).and_then(|e| e.usage()) {
        u.clear_soft();
    }
    rec.state = SaState::Dead;
    send_sa(st, req, &rec, MsgType::Update, Target::All)
}

fn delete(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    let id = lookup_id(&req.hdr, &req.exts)?;
    let mut rec = st.sad.remove(&id).ok_or(Errno::ESRCH)?;
    rec.state = SaState::Dead;
    send_sa(st, req, &rec, MsgType::Delete, Target::All)
}

/// GET looks the SA up as the packet path does, without the key mutex's
/// help (af_key's `xfrm_state_lookup()` is the packets' lookup too).
fn get(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    let id = lookup_id(&req.hdr, &req.exts)?;
    let entry = {
        let g = rcu::read_lock();
        req.me.pernet().dp().keys.sad.by_id(&g, &id).cloned()
    };
    let entry = entry.ok_or(Errno::ESRCH)?;
    // With the current lifetime as counted so far, as af_key.
    send_sa(st, req, &entry.report(), MsgType::Get, Target::One)
}

/// ACQUIRE from a daemon reports a failed negotiation: no reply.
/// TODO[A]: mark the larval SA of `seq` failed once the data path raises
/// ACQUIREs.
/// A daemon's SADB_ACQUIRE: with an errno, it gives up on the ACQUIRE of
/// that seq (af_key's `pfkey_acquire()`: the ACQ state becomes
/// XFRM_STATE_ERROR); no reply either way.
fn acquire(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    if usize::from(req.hdr.len) != SADB_MSG_LEN / WORD {
        return Err(Errno::EOPNOTSUPP);
    }
    if req.hdr.seq != 0 && req.hdr.errno != 0 {
        st.acq.fail(req.hdr.seq);
    }
    Ok(())
}

/// Most algorithms a SUPPORTED list holds (the table's length).
const MAX_ALGS: usize = 32;

/// The algorithms of `table` the kernel can provide now.
fn available(table: &[algs::AlgDesc]) -> KVec<Alg> {
    let mut v = KVec::new();
    for a in table
        .iter()
        .filter(|a| crate::crypto_probe::has(a.crypto_name))
    {
        let alg = Alg {
            id: a.id,
            ivlen: a.ivlen,
            min_bits: a.min_bits,
            max_bits: a.max_bits,
        };
        if v.len() < MAX_ALGS && v.push(alg, GFP_KERNEL).is_err() {
            break;
        }
    }
    v
}

fn register(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    let satype = req.hdr.satype;
    if satype > SATYPE_MAX {
        return Err(Errno::EINVAL);
    }
    let bit = if satype == 0 { 0 } else { 1u32 << satype };
    let me = st
        .socks
        .iter_mut()
        .find(|k| k.sk.is(req.me))
        .ok_or(Errno::EINVAL)?;
    if me.registered & bit != 0 {
        return Err(Errno::EEXIST);
    }
    me.registered |= bit;
    let (auth, enc) = (available(&algs::AUTH), available(&algs::ENC));
    let hdr = MsgHeader {
        errno: 0,
        ..req.hdr
    };
    let built = message(&hdr, |e| {
        if !auth.is_empty() {
            e.ext(et::SUPPORTED_AUTH, &Supported(&auth))?;
        }
        if !enc.is_empty() {
            e.ext(et::SUPPORTED_ENCRYPT, &Supported(&enc))?;
        }
        Ok(())
    });
    match built {
        Ok(msg) => {
            broadcast(&st.socks, &msg, Target::Registered, Some(req.me));
            Ok(())
        }
        Err(e) => {
            if let Some(k) = st.socks.iter_mut().find(|k| k.sk.is(req.me)) {
                k.registered &= !bit;
            }
            Err(e)
        }
    }
}

/// The header-only reply FLUSH and SPDFLUSH send to the sender first.
fn unicast_header(st: &KeyState, req: &Request<'_>) -> Result<(), Errno> {
    let hdr = MsgHeader {
        errno: 0,
        len: 0,
        ..req.hdr
    };
    let msg = message(&hdr, |_| Ok(()))?;
    broadcast(&st.socks, &msg, Target::One, Some(req.me));
    Ok(())
}

fn flush(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    let proto = sad::satype_to_proto(req.hdr.satype).ok_or(Errno::EINVAL)?;
    // XFRM's flush takes the ACQUIREs' larval states too.
    let acqs = st.acq.flush((proto != PROTO_ANY).then_some(proto));
    let n = st.sad.flush(proto) + acqs;
    if proto == PROTO_ANY || proto == sad::IPPROTO_ESP {
        // Spares of a bulk load end with it: they hold the crypto instances.
        req.me.pernet().dp().keys.spares.lock().clear();
    }
    unicast_header(st, req)?;
    if n > 0 {
        let hdr = reply_header(&req.hdr, MsgType::Flush as u8, sad::proto_to_satype(proto));
        let msg = message(&hdr, |_| Ok(()))?;
        broadcast(&st.socks, &msg, Target::All, None);
    }
    Ok(())
}

fn dump(st: &mut KeyState, req: &Request<'_>, kind: DumpKind) -> Result<(), Errno> {
    let (proto, filter) = match kind {
        DumpKind::Sa => {
            let proto = sad::satype_to_proto(req.hdr.satype).ok_or(Errno::EINVAL)?;
            // af_key reads the address filter on SADB_DUMP only.
            let filter = req.exts.get(et::X_FILTER).map(AddrFilter::decode);
            (proto, filter.transpose()?)
        }
        DumpKind::Spd => (PROTO_ANY, None),
    };
    pfkey_dump::start(st, req.me, &req.hdr, kind, proto, filter)
}

fn promisc(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    let mut hdr = req.hdr;
    if usize::from(req.hdr.len) == SADB_MSG_LEN / WORD {
        let on = match req.hdr.satype {
            0 => false,
            1 => true,
            _ => return Err(Errno::EINVAL),
        };
        if let Some(k) = st.socks.iter_mut().find(|k| k.sk.is(req.me)) {
            k.promisc = on;
        }
        hdr.errno = 0;
        let msg = message(&hdr, |_| Ok(()))?;
        broadcast(&st.socks, &msg, Target::All, None);
    } else {
        broadcast(&st.socks, req.raw, Target::All, None);
    }
    Ok(())
}

fn spdadd(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    let slot = NewPolicySlot::new()?;
    let spd = &mut st.spd;
    let now = real_seconds();
    let pol = PolicyRecord::from_msg_into(&req.exts, now, || spd.gen_reqid(), |r| slot.fill(r))?;
    let (dir, sel) = (pol.rec().dir, pol.rec().sel);
    let keep_id = match st.spd.get_by_sel(dir, &sel) {
        Some(old) if req.ty == MsgType::XSpdUpdate => Some(old.id),
        Some(_) => return Err(Errno::EEXIST),
        None => None,
    };
    let old = if keep_id.is_some() {
        st.spd.remove_by_sel(dir, &sel)
    } else {
        None
    };
    // The reply is built from the stored record (a reference, not a copy
    // of it).
    let entry = match st.spd.insert_new(pol, keep_id) {
        Ok(e) => e,
        Err(e) => {
            if let Some(o) = old {
                let id = o.id;
                let _ = st.spd.insert(o, Some(id));
            }
            return Err(e);
        }
    };
    let ty = if req.ty == MsgType::XSpdUpdate {
        MsgType::XSpdUpdate
    } else {
        MsgType::XSpdAdd
    };
    send_policy(st, req, &entry.rec, ty, refcnt::NOTIFY_ADD, Target::All)
}

fn spddelete(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    let (sel, pol, _) = selector_of(&req.exts)?;
    let dir = dir_of(&pol)?;
    let rec = st.spd.remove_by_sel(dir, &sel).ok_or(Errno::ENOENT)?;
    send_policy(
        st,
        req,
        &rec,
        MsgType::XSpdDelete,
        refcnt::DELETE,
        Target::All,
    )
}

fn spdget(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    let pol = req
        .exts
        .get(et::X_POLICY)
        .map(crate::kame_core::pfkey::wire::Policy::decode)
        .ok_or(Errno::EINVAL)?;
    if id_dir(pol.id) >= 3 {
        return Err(Errno::EINVAL);
    }
    if req.ty == MsgType::XSpdDelete2 {
        let rec = st.spd.remove_by_id(pol.id).ok_or(Errno::ENOENT)?;
        return send_policy(
            st,
            req,
            &rec,
            MsgType::XSpdDelete2,
            refcnt::DELETE,
            Target::All,
        );
    }
    let rec = st.spd.get_by_id(pol.id).ok_or(Errno::ENOENT)?;
    send_policy(st, req, rec, MsgType::XSpdGet, refcnt::GET, Target::One)
}

fn spdflush(st: &mut KeyState, req: &Request<'_>) -> Result<(), Errno> {
    let n = st.spd.flush();
    unicast_header(st, req)?;
    if n > 0 {
        let hdr = reply_header(&req.hdr, MsgType::XSpdFlush as u8, 0);
        let msg = message(&hdr, |_| Ok(()))?;
        broadcast(&st.socks, &msg, Target::All, None);
    }
    Ok(())
}
