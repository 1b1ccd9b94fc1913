//! Sealed receiver tokens and the key ring that seals and opens them (docs/token.md).
//!
//! Wire form, all URL-safe: `hg1.<kid>.<payload>.<tag>` where `kid` names the key
//! (1–16 of `[A-Za-z0-9_-]`), `payload` is the canonical binary claim encoding
//! ([`codec`]) in unpadded base64url, and `tag` is HMAC-SHA256 over every byte before the
//! last `.`, in unpadded base64url (43 characters).
//!
//! `open` checks, in order: size, shape and alphabet (no allocation), version, key id, the
//! tag in constant time, and only then reads the payload's bytes. This module is pure: no I/O, no
//! clock (`now` is an argument), no logging. Keys never appear in `Debug` output.

mod codec;
#[cfg(test)]
mod tests;

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::drivers::DriverConfig;
use crate::error::{Error, TokenRefusal};
use crate::receiver::ReceiverId;

type HmacSha256 = Hmac<Sha256>;

/// Everything a token carries: the whole receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub receiver_id: ReceiverId,
    pub project_id: String,
    /// Unix seconds.
    pub issued_at: u64,
    /// Unix seconds; the token is refused from this instant on.
    pub expires_at: Option<u64>,
    pub config: DriverConfig,
}

impl Claims {
    /// The claims as `hookgate inspect` prints them, in Rancher's `<driver>Config` naming.
    pub fn to_json(&self) -> serde_json::Value {
        let driver = self.config.driver().name();
        let mut v = serde_json::json!({
            "receiverId": self.receiver_id.to_string(),
            "projectId": self.project_id,
            "issuedAt": self.issued_at,
            "expiresAt": self.expires_at,
            "driver": driver,
        });
        v[format!("{driver}Config")] = self.config.to_json();
        v
    }
}

/// The only version this build seals and opens.
pub const PREFIX: &str = "hg1.";
/// Tokens longer than this are refused before anything else is looked at.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Shortest secret a key may have.
pub const MIN_KEY_LEN: usize = 32;
const MAX_KID_LEN: usize = 16;
const TAG_B64_LEN: usize = 43;

/// Why a token was refused. The variants are classes the HTTP layer maps to statuses; the
/// token itself is never part of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    TooLarge,
    Malformed,
    UnsupportedVersion,
    UnknownKey,
    BadSignature,
    BadPayload,
    Expired,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for TokenError {}

impl TokenError {
    /// How the HTTP layer answers it.
    pub fn class(self) -> TokenRefusal {
        match self {
            TokenError::TooLarge
            | TokenError::Malformed
            | TokenError::UnsupportedVersion
            | TokenError::BadPayload => TokenRefusal::Malformed,
            TokenError::UnknownKey | TokenError::BadSignature => TokenRefusal::Untrusted,
            TokenError::Expired => TokenRefusal::Expired,
        }
    }

    fn text(self) -> &'static str {
        match self {
            TokenError::TooLarge => "token is longer than 4096 bytes",
            TokenError::Malformed => "token is malformed",
            TokenError::UnsupportedVersion => "token version is not supported",
            TokenError::UnknownKey => "token key id is not in the key ring",
            TokenError::BadSignature => "token signature is invalid",
            TokenError::BadPayload => "token payload is invalid",
            TokenError::Expired => "token has expired",
        }
    }
}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Self {
        Error::Token {
            class: e.class(),
            detail: e.text(),
        }
    }
}

/// Why `seal` could not produce a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("claims are invalid: {0}")]
    InvalidClaims(&'static str),
    #[error("claims do not fit in a token")]
    TooLarge,
}

/// Why a key ring could not be built. Messages name the line, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("the key ring is empty")]
    Empty,
    #[error("line {line}: expected `<key-id> <base64url-secret>`")]
    Syntax { line: usize },
    #[error("line {line}: key id must be 1-{MAX_KID_LEN} characters of A-Z a-z 0-9 _ -")]
    BadKeyId { line: usize },
    #[error("line {line}: secret is not unpadded base64url")]
    BadSecret { line: usize },
    #[error("line {line}: key `{id}` is {len} bytes; keys need at least {MIN_KEY_LEN}")]
    WeakKey { line: usize, id: String, len: usize },
    #[error("line {line}: key id `{id}` appears twice")]
    DuplicateKeyId { line: usize, id: String },
}

struct Key {
    id: String,
    /// The HMAC with the key already absorbed; cloning it skips re-hashing the key pads on
    /// every token (two SHA-256 blocks saved on the hot path).
    mac: HmacSha256,
}

/// One signing key (the first) and any number of verify-only keys. Removing a key id
/// revokes every token sealed with it.
pub struct KeyRing {
    keys: Vec<Key>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("KeyRing").field("key_ids", &ids).finish()
    }
}

fn valid_kid(id: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&id.len()) && id.bytes().all(is_b64url)
}

fn is_b64url(b: u8) -> bool {
    B64URL[usize::from(b)]
}

/// Branch-free alphabet check (for telling a malformed payload from a forged one).
fn all_b64url(s: &[u8]) -> bool {
    s.iter().fold(true, |ok, &b| ok & B64URL[usize::from(b)])
}

/// Strict unpadded base64url (RFC 4648 §5): no padding, no other characters, and the spare
/// bits of the last character must be zero, so every byte string has exactly one text form.
/// Writes into `out` (which must hold `s.len() / 4 * 3 + 2` bytes) and returns the length.
/// It runs twice per trigger: `base64-simd` decodes with vector instructions where the CPU
/// has them, about half the cost of a table lookup per character (criterion
/// `token/open`); a property test holds it to the `base64` crate's strict decoder.
fn decode_b64url(s: &[u8], out: &mut [u8]) -> Option<usize> {
    if out.len() < s.len() / 4 * 3 + 2 {
        return None;
    }
    base64_simd::URL_SAFE_NO_PAD
        .decode(s, base64_simd::Out::from_slice(out))
        .ok()
        .map(|d| d.len())
}

static B64URL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        i += 1;
    }
    t
};

impl KeyRing {
    /// Builds a ring from `(id, secret)` pairs; the first signs.
    pub fn new<I, S>(keys: I) -> Result<Self, KeyRingError>
    where
        I: IntoIterator<Item = (S, Vec<u8>)>,
        S: Into<String>,
    {
        let mut ring = KeyRing { keys: Vec::new() };
        for (i, (id, secret)) in keys.into_iter().enumerate() {
            ring.push(i + 1, id.into(), &secret)?;
        }
        if ring.keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(ring)
    }

    /// Parses the key ring text format: one `<key-id> <base64url-secret>` per line, the
    /// first key signs; blank lines and lines starting with `#` are ignored.
    pub fn parse(text: &str) -> Result<Self, KeyRingError> {
        let mut ring = KeyRing { keys: Vec::new() };
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let mut parts = l.split_whitespace();
            let (Some(id), Some(secret), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(KeyRingError::Syntax { line });
            };
            let secret = URL_SAFE_NO_PAD
                .decode(secret)
                .map_err(|_| KeyRingError::BadSecret { line })?;
            ring.push(line, id.to_owned(), &secret)?;
        }
        if ring.keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(ring)
    }

    fn push(&mut self, line: usize, id: String, secret: &[u8]) -> Result<(), KeyRingError> {
        if !valid_kid(&id) {
            return Err(KeyRingError::BadKeyId { line });
        }
        if secret.len() < MIN_KEY_LEN {
            return Err(KeyRingError::WeakKey {
                line,
                id,
                len: secret.len(),
            });
        }
        if self.keys.iter().any(|k| k.id == id) {
            return Err(KeyRingError::DuplicateKeyId { line, id });
        }
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = HmacSha256::new_from_slice(secret).map_err(|_| KeyRingError::Syntax { line })?;
        self.keys.push(Key { id, mac });
        Ok(())
    }

    /// A fresh key line for the text format: a random id and 32 random bytes.
    pub fn generate_line() -> Result<String, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        let mut id = [0u8; 4];
        getrandom::fill(&mut id)?;
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("k{id} {}", URL_SAFE_NO_PAD.encode(secret)))
    }

    /// Id of the key that seals new tokens.
    pub fn signing_key_id(&self) -> &str {
        // `new` and `parse` never build an empty ring.
        self.keys.first().map_or("", |k| k.id.as_str())
    }

    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    fn key(&self, id: &[u8]) -> Option<&Key> {
        self.keys.iter().find(|k| k.id.as_bytes() == id)
    }

    /// Seals the claims with the signing key.
    pub fn seal(&self, claims: &Claims) -> Result<String, SealError> {
        claims.config.check().map_err(SealError::InvalidClaims)?;
        let Some(key) = self.keys.first() else {
            return Err(SealError::TooLarge);
        };
        let mut payload = Vec::with_capacity(128);
        // A string over 255 bytes or a map over 255 entries does not fit the encoding.
        if !codec::encode(claims, &mut payload) {
            return Err(SealError::TooLarge);
        }
        let mut out = String::with_capacity(PREFIX.len() + key.id.len() + payload.len() * 2 + 48);
        out.push_str(PREFIX);
        out.push_str(&key.id);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
        let mut mac = key.mac.clone();
        mac.update(out.as_bytes());
        let tag = mac.finalize().into_bytes();
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        if out.len() > MAX_TOKEN_LEN {
            return Err(SealError::TooLarge);
        }
        Ok(out)
    }

    /// Verifies and decodes a token. `now` is Unix seconds.
    pub fn open(&self, token: impl AsRef<[u8]>, now: u64) -> Result<Claims, TokenError> {
        let t = token.as_ref();
        if t.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLarge);
        }
        let rest = match t.strip_prefix(PREFIX.as_bytes()) {
            Some(rest) => rest,
            // `hg<digits>.` with other digits is a version we do not know.
            None if looks_versioned(t) => return Err(TokenError::UnsupportedVersion),
            None => return Err(TokenError::Malformed),
        };
        // `<kid>.<payload>.<tag>`: the tag has a fixed length, the kid a short one, so the
        // parts are found without scanning the payload for dots.
        let Some(split) = rest.len().checked_sub(TAG_B64_LEN + 1) else {
            return Err(TokenError::Malformed);
        };
        let (head, dot_tag) = rest.split_at(split);
        let Some((b'.', tag)) = dot_tag.split_first() else {
            return Err(TokenError::Malformed);
        };
        let Some(kid_len) = head.iter().take(MAX_KID_LEN + 1).position(|&b| b == b'.') else {
            return Err(TokenError::Malformed);
        };
        let (kid, payload) = (&head[..kid_len], &head[kid_len + 1..]);
        if kid.is_empty() || payload.is_empty() {
            return Err(TokenError::Malformed);
        }
        // The payload's text is turned into bytes now, in one pass that also checks its
        // alphabet (typical payloads on the stack); not one of those bytes is read before the
        // tag is verified below.
        let need = payload.len() / 4 * 3 + 2;
        let mut small = [0u8; 256];
        let mut large = Vec::new();
        let buf = if need <= small.len() {
            &mut small[..need]
        } else {
            large.resize(need, 0);
            &mut large[..]
        };
        let decoded = decode_b64url(payload, buf);
        // A character outside the alphabet is a malformed token; non-canonical spare bits
        // are only known to be the signer's doing once the tag verifies.
        if decoded.is_none() && !all_b64url(payload) {
            return Err(TokenError::Malformed);
        }
        let key = self.key(kid).ok_or(TokenError::UnknownKey)?;

        // 43 characters carry 32 bytes and two spare bits.
        let mut tag_bytes = [0u8; 34];
        if decode_b64url(tag, &mut tag_bytes) != Some(32) {
            return Err(TokenError::Malformed);
        }
        let signed = &t[..t.len() - TAG_B64_LEN - 1];
        let mut mac = key.mac.clone();
        mac.update(signed);
        if !tags_equal(&mac.finalize().into_bytes().into(), &tag_bytes) {
            return Err(TokenError::BadSignature);
        }

        // Authentic from here on: the payload was written by a holder of the key.
        let n = decoded.ok_or(TokenError::BadPayload)?;
        let claims = codec::decode(&buf[..n]).map_err(|_| TokenError::BadPayload)?;
        if claims.expires_at.is_some_and(|exp| now >= exp) {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Whether the computed tag equals the token's, in constant time: four 64-bit words, each
/// compared by `subtle` (one optimization barrier per word rather than one per byte).
fn tags_equal(computed: &[u8; 32], given: &[u8; 34]) -> bool {
    use subtle::ConstantTimeEq as _;
    let word = |t: &[u8], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&t[i * 8..i * 8 + 8]);
        u64::from_ne_bytes(w)
    };
    let eq = (0..4).fold(subtle::Choice::from(1), |eq, i| {
        eq & word(computed, i).ct_eq(&word(given, i))
    });
    eq.into()
}

fn looks_versioned(t: &[u8]) -> bool {
    let Some(rest) = t.strip_prefix(b"hg") else {
        return false;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && rest.get(digits) == Some(&b'.')
}
