// SPDX-License-Identifier: GPL-2.0

//! SA lifetimes by time: one timer per namespace, set for the SAD's next
//! lifetime event, that makes SAs dying or removes them and tells the
//! registered key daemons with SADB_EXPIRE (af_key's message: soft or hard
//! lifetime plus the current one, no keys, `seq` and `pid` 0).

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        pfkey::{MsgHeader, MsgType, PF_KEY_V2},
        sad::{Expiry, SaRecord},
    },
    kapi::clock::real_seconds,
    keydb::{KeyDb, KeyState},
    pfkey_bcast::{broadcast, Target},
    pfkey_build::message,
};

/// The longest the timer sleeps at once: the wall clock may be set
/// meanwhile, and it is read again on waking.
const MAX_SLEEP_SECS: u64 = 3600;

/// The timer's handler: carries out what is due, then sets the timer again.
pub(crate) fn run(db: &KeyDb) {
    let mut st = db.lock();
    st.timer_at = None;
    let now = real_seconds();
    while let Some((kind, rec)) = st.sad.expire_next(now) {
        send_expire(&st, &rec, kind);
    }
    crate::acquire::expire(&mut st, now);
    // What is still due now could not be carried out (memory was short
    // for a dying copy): try again in a second, not at once.
    set_timer(db, &mut st, 1);
    let retired = (st.sad.take_retired(), st.spd.take_retired());
    drop(st);
    drop(retired);
}

/// Sets the timer for the SAD's next lifetime event, if it is not set for
/// that time or earlier already. Call after changing the SAD.
pub(crate) fn rearm(db: &KeyDb, st: &mut KeyState) {
    set_timer(db, st, 0);
}

/// As [`rearm`], sleeping at least `min_secs`.
fn set_timer(db: &KeyDb, st: &mut KeyState, min_secs: u64) {
    let when = match (st.sad.next_event(), st.acq.next_expiry()) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => match a.or(b) {
            Some(w) => w,
            None => return,
        },
    };
    if st.timer_at.is_some_and(|at| at <= when) {
        return;
    }
    st.timer_at = Some(when);
    let secs = when
        .saturating_sub(real_seconds())
        .clamp(min_secs, MAX_SLEEP_SECS);
    // At most an hour: fits in u32 milliseconds.
    db.timer
        .schedule_ms(u32::try_from(secs * 1000).unwrap_or(u32::MAX));
}

/// SADB_EXPIRE for `rec` to every registered socket. Lost, as with af_key,
/// if memory is short.
pub(crate) fn send_expire(st: &KeyState, rec: &SaRecord, kind: Expiry) {
    let hdr = MsgHeader {
        version: PF_KEY_V2,
        msg_type: MsgType::Expire as u8,
        errno: 0,
        satype: rec.satype(),
        len: 0,
        reserved: 0,
        seq: 0,
        pid: 0,
    };
    if let Ok(msg) = message(&hdr, |e| rec.encode_expire(e, kind)) {
        broadcast(&st.socks, &msg, Target::Registered, None);
    }
}
