// SPDX-License-Identifier: GPL-2.0

//! The crypto transforms an SA needs, as the kernel crypto API names and
//! keys them: what `esp_init_aead()`/`esp_init_authenc()` (esp4.c, esp6.c)
//! and `ah_init_state()` (ah4.c, ah6.c) build from an XFRM state, here built
//! from an [`SaRecord`]: [`esp`] and [`ah`].
//!
//! ESP always uses one AEAD transform:
//! - an AEAD algorithm (AES-GCM, AES-CCM, AES-GMAC, ChaCha20-Poly1305) by
//!   its own name, keyed with the PF_KEY key as is (cipher key then salt or
//!   nonce: `rfc4106`, `rfc4309`, `rfc4543` and `rfc7539esp` split it);
//! - a cipher with an authenticator as `authenc(AUTH,CIPHER)` (or
//!   `authencesn` with extended sequence numbers), `digest_null` standing in
//!   for no authenticator, keyed with the [`authenc_key`] blob.
//!
//! Either is wrapped in the IV generator XFRM's algorithm table gives it
//! (`seqiv` for counter modes and AEADs, `echainiv` for CBC, none for the
//! NULL cipher), so the transform writes the IV into the packet itself from
//! the sequence number the data path passes as `req->iv`, as esp4 relies on:
//! `seqiv(rfc4106(gcm(aes)))`, `echainiv(authenc(hmac(sha256),cbc(aes)))`,
//! `authenc(hmac(sha1),ecb(cipher_null))`.
//!
//! AH uses one keyed hash (`hmac(sha256)`, `xcbc(aes)`, ...) whose digest
//! is truncated to the ICV.
//!
//! ICV lengths are the table's ([`AlgDesc::icv_bits`]): RFC 4868's for
//! SHA-2 (16/24/32 bytes), 12 for HMAC-MD5, HMAC-SHA-1 and AES-XCBC, the
//! AEAD's own for AEADs.

use crate::kame_core::{
    algs::{self, AlgDesc, EncKind, AALG_NULL},
    errno::Errno,
    sad::{KeyBytes, SaRecord, MAX_KEY_BYTES},
};
use core::ffi::CStr;

/// `CRYPTO_MAX_ALG_NAME`: the longest algorithm name, its NUL included.
pub const MAX_ALG_NAME: usize = 128;

/// `RTA_LENGTH(sizeof(struct crypto_authenc_key_param))`: the rtattr header
/// (`rta_len`, `rta_type`, both `u16`) and the big-endian `enckeylen`; also
/// its `RTA_SPACE`, as 8 is aligned.
const AUTHENC_RTA_LEN: u16 = 8;

/// [`AUTHENC_RTA_LEN`] in bytes: where the keys start in an authenc key.
// CAST: lossless, u16 to usize.
pub const AUTHENC_PARAM_LEN: usize = AUTHENC_RTA_LEN as usize;

/// `CRYPTO_AUTHENC_KEYA_PARAM`, the rtattr type of the parameter.
const AUTHENC_KEYA_PARAM: u16 = 1;

/// The longest key a transform takes: an authenc blob of two longest keys.
pub const MAX_XFORM_KEY: usize = AUTHENC_PARAM_LEN + 2 * MAX_KEY_BYTES;

/// PF_KEY id of AES-CTR (`SADB_X_EALG_AESCTR`), the one cipher XFRM gives
/// `seqiv` rather than `echainiv`.
const EALG_AESCTR: u8 = 13;

/// A crypto API algorithm name, NUL-terminated.
///
/// # Invariants
///
/// `buf[..len]` holds no NUL and `buf[len]` is NUL (`len < MAX_ALG_NAME`).
#[derive(Clone, PartialEq, Eq)]
pub struct AlgName {
    buf: [u8; MAX_ALG_NAME],
    len: usize,
}

impl AlgName {
    fn empty() -> AlgName {
        // INVARIANT: an empty, NUL-terminated string.
        AlgName {
            buf: [0; MAX_ALG_NAME],
            len: 0,
        }
    }

    /// Appends `s`: ENAMETOOLONG (esp4's errno) if it would not fit with its
    /// NUL, EINVAL if it holds a NUL.
    fn push(&mut self, s: &[u8]) -> Result<(), Errno> {
        if s.contains(&0) {
            return Err(Errno::EINVAL);
        }
        let end = self
            .len
            .checked_add(s.len())
            .filter(|&e| e < MAX_ALG_NAME)
            .ok_or(Errno::ENAMETOOLONG)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(Errno::ENAMETOOLONG)?
            .copy_from_slice(s);
        // INVARIANT: the bytes pushed hold no NUL, and `buf[end]` is still
        // the zero the buffer started with, as `end < MAX_ALG_NAME`.
        self.len = end;
        Ok(())
    }

    /// The name as the C string the crypto API takes.
    pub fn as_cstr(&self) -> &CStr {
        // By the invariant there is a NUL at `len`; the fallback is never
        // taken (and would name no algorithm).
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"")
    }

    /// The name's bytes, without the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl core::fmt::Debug for AlgName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AlgName({:?})", self.as_cstr())
    }
}

/// Key bytes for a transform's `setkey`, wiped when dropped.
#[derive(PartialEq, Eq)]
pub struct XformKey {
    buf: [u8; MAX_XFORM_KEY],
    len: usize,
}

impl XformKey {
    fn new() -> XformKey {
        XformKey {
            buf: [0; MAX_XFORM_KEY],
            len: 0,
        }
    }

    /// Appends `b`; EINVAL if the key would exceed [`MAX_XFORM_KEY`].
    fn push(&mut self, b: &[u8]) -> Result<(), Errno> {
        let end = self.len.checked_add(b.len()).ok_or(Errno::EINVAL)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(Errno::EINVAL)?
            .copy_from_slice(b);
        self.len = end;
        Ok(())
    }

    /// The key as `setkey` takes it.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl core::fmt::Debug for XformKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "XformKey({} bytes)", self.len)
    }
}

impl Drop for XformKey {
    fn drop(&mut self) {
        self.buf.iter_mut().for_each(|b| *b = 0);
    }
}

/// The key of an `authenc`/`authencesn` transform, as
/// `crypto_authenc_extractkeys()` reads it: an rtattr of type
/// `CRYPTO_AUTHENC_KEYA_PARAM` holding the cipher key's length (big
/// endian), then the authentication key, then the cipher key. The rtattr
/// header is in host order, as `struct rtattr` is.
pub fn authenc_key(auth: &[u8], enc: &[u8]) -> Result<XformKey, Errno> {
    let mut k = XformKey::new();
    push_authenc_key(&mut k, auth, enc)?;
    Ok(k)
}

/// Appends [`authenc_key`]'s blob to `k`.
fn push_authenc_key(k: &mut XformKey, auth: &[u8], enc: &[u8]) -> Result<(), Errno> {
    let enc_len = u32::try_from(enc.len()).map_err(|_| Errno::EINVAL)?;
    // RTA_LENGTH(sizeof(param)): header and payload, no padding after.
    k.push(&AUTHENC_RTA_LEN.to_ne_bytes())?;
    k.push(&AUTHENC_KEYA_PARAM.to_ne_bytes())?;
    k.push(&enc_len.to_be_bytes())?;
    k.push(auth)?;
    k.push(enc)
}

/// The IV generator template wrapped around an ESP transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IvGen {
    /// None: the NULL cipher has no IV.
    None,
    /// `seqiv`: the IV is the sequence number (XORed with a per-key salt);
    /// for counter modes and AEADs, whose IVs must only be unique.
    Seqiv,
    /// `echainiv`: the IV is the sequence number encrypted; for CBC, whose
    /// IVs must be unpredictable.
    Echainiv,
}

impl IvGen {
    /// XFRM's choice for `enc` (`uinfo.encr.geniv`, `uinfo.aead.geniv` in
    /// `net/xfrm/xfrm_algo.c`).
    pub fn of(enc: &AlgDesc) -> IvGen {
        match enc.kind {
            EncKind::Aead => IvGen::Seqiv,
            EncKind::Cipher if enc.ivlen == 0 => IvGen::None,
            EncKind::Cipher if enc.id == EALG_AESCTR => IvGen::Seqiv,
            EncKind::Cipher => IvGen::Echainiv,
        }
    }

    fn template(self) -> Option<&'static [u8]> {
        match self {
            IvGen::None => None,
            IvGen::Seqiv => Some(b"seqiv"),
            IvGen::Echainiv => Some(b"echainiv"),
        }
    }
}

/// Whether an SA uses 64-bit extended sequence numbers (RFC 4303 2.2.1),
/// which make ESP's cipher-and-authenticator transform `authencesn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Esn {
    /// 32-bit sequence numbers.
    Off,
    /// 64-bit sequence numbers, the high half authenticated but not sent.
    On,
}

/// The AEAD transform of an ESP SA.
#[derive(Debug)]
pub struct EspXform {
    /// The name to allocate (`crypto_alloc_aead()`).
    pub name: AlgName,
    /// The key to set (`crypto_aead_setkey()`).
    pub key: XformKey,
    /// The ICV length in bytes (`crypto_aead_setauthsize()`); 0 without
    /// authentication.
    pub icv_len: u8,
    /// The IV generator the name wraps the algorithm in.
    pub ivgen: IvGen,
    /// Whether the transform is a plain AEAD (the key is the PF_KEY
    /// encryption key) rather than `authenc` (the key is a blob).
    pub aead: bool,
    /// The table names of the cipher (or AEAD) and of the authenticator
    /// (none for `digest_null`): what af_key asks the crypto API for
    /// (`crypto_has_alg()`) before it builds the transform.
    pub parts: [Option<&'static CStr>; 2],
}

/// The keyed hash of an AH SA.
#[derive(Debug)]
pub struct AhXform<'a> {
    /// The name to allocate (`crypto_alloc_ahash()`).
    pub name: &'static CStr,
    /// The key to set (`crypto_ahash_setkey()`).
    pub key: &'a [u8],
    /// The ICV length in bytes: the digest truncated to this.
    pub icv_len: u8,
}

/// The bytes of an ICV of `bits` bits.
fn icv_bytes(bits: u16) -> Result<u8, Errno> {
    u8::try_from(bits / 8).map_err(|_| Errno::EINVAL)
}

fn key_of(k: &Option<KeyBytes>) -> &[u8] {
    k.as_ref().map_or(&[], |k| k.as_key().key)
}

/// An ESP SA's cipher (or AEAD) and authenticator: ENOSYS for an unknown
/// algorithm, EINVAL for an AEAD beside an authenticator.
fn esp_algs(rec: &SaRecord) -> Result<(&'static AlgDesc, Option<&'static AlgDesc>), Errno> {
    let enc = algs::enc_by_id(rec.encrypt).ok_or(Errno::ENOSYS)?;
    let auth = match rec.auth {
        0 | AALG_NULL => None,
        id => Some(algs::auth_by_id(id).ok_or(Errno::ENOSYS)?),
    };
    if enc.kind == EncKind::Aead && auth.is_some() {
        return Err(Errno::EINVAL);
    }
    Ok((enc, auth))
}

/// What keying an ESP SA's AEAD takes, whatever its name: the key for
/// `crypto_aead_setkey()` and the ICV length.
#[derive(Debug)]
pub struct EspKeying {
    /// As [`EspXform::key`].
    pub key: XformKey,
    /// As [`EspXform::icv_len`].
    pub icv_len: u8,
}

/// [`esp`]'s key and ICV length without its name, for a transform
/// allocated ahead (`xform_spares.rs`); the same errnos.
pub fn esp_keying(rec: &SaRecord) -> Result<EspKeying, Errno> {
    let (enc, auth) = esp_algs(rec)?;
    let mut k = EspKeying {
        key: XformKey::new(),
        icv_len: 0,
    };
    if enc.kind == EncKind::Aead {
        k.key.push(key_of(&rec.enc_key))?;
        k.icv_len = icv_bytes(enc.icv_bits)?;
    } else {
        push_authenc_key(&mut k.key, key_of(&rec.auth_key), key_of(&rec.enc_key))?;
        k.icv_len = auth.map_or(Ok(0), |a| icv_bytes(a.icv_bits))?;
    }
    Ok(k)
}

/// The AEAD an ESP SA needs (`rec.id.proto` is `IPPROTO_ESP`). `rec` has
/// passed [`SaRecord::from_msg`]'s checks, so its algorithms exist and its
/// keys fit them; an inconsistent record still gets an errno, not a panic:
/// ENOSYS for an unknown algorithm, EINVAL for an AEAD beside an
/// authenticator.
pub fn esp(rec: &SaRecord, esn: Esn) -> Result<EspXform, Errno> {
    let (enc, auth) = esp_algs(rec)?;
    let ivgen = IvGen::of(enc);
    // Built where it is returned, field by field: the name and key are
    // 136 and 144 bytes, and building them apart moved each through the
    // stack two or three times (`memcpy` was 3% of SADB_ADD's samples).
    let mut x = EspXform {
        name: AlgName::empty(),
        key: XformKey::new(),
        icv_len: 0,
        ivgen,
        aead: enc.kind == EncKind::Aead,
        parts: [Some(enc.crypto_name), auth.map(|a| a.crypto_name)],
    };
    if let Some(t) = ivgen.template() {
        x.name.push(t)?;
        x.name.push(b"(")?;
    }
    if x.aead {
        x.name.push(enc.crypto_name.to_bytes())?;
        x.key.push(key_of(&rec.enc_key))?;
        x.icv_len = icv_bytes(enc.icv_bits)?;
    } else {
        x.name.push(match esn {
            Esn::Off => b"authenc(",
            Esn::On => b"authencesn(",
        })?;
        x.name
            .push(auth.map_or(b"digest_null".as_slice(), |a| a.crypto_name.to_bytes()))?;
        x.name.push(b",")?;
        x.name.push(enc.crypto_name.to_bytes())?;
        x.name.push(b")")?;
        push_authenc_key(&mut x.key, key_of(&rec.auth_key), key_of(&rec.enc_key))?;
        x.icv_len = auth.map_or(Ok(0), |a| icv_bytes(a.icv_bits))?;
    }
    if ivgen.template().is_some() {
        x.name.push(b")")?;
    }
    Ok(x)
}

/// The keyed hash an AH SA needs (`rec.id.proto` is `IPPROTO_AH`): EINVAL
/// without an authenticator, ENOSYS for an unknown one.
pub fn ah(rec: &SaRecord) -> Result<AhXform<'_>, Errno> {
    let auth = match rec.auth {
        0 | AALG_NULL => return Err(Errno::EINVAL),
        id => algs::auth_by_id(id).ok_or(Errno::ENOSYS)?,
    };
    Ok(AhXform {
        name: auth.crypto_name,
        key: key_of(&rec.auth_key),
        icv_len: icv_bytes(auth.icv_bits)?,
    })
}

#[cfg(test)]
mod tests;
