//! Rancher 1.4's own trigger URLs, `/v1-webhooks/endpoint?token=<JWT>` (docs/migrating.md):
//! the receiver travels in a JWT signed RS256 by the Rancher installation's RSA key. Pure:
//! reading the public key, verifying a token, reading its claims. Whether the receiver is
//! still alive, and whether its config still passes creation checks, is the trigger path's.
//!
//! Verification is RS256 and nothing else, by ring: the header's `alg` must say so before the
//! signature is even looked at, so `alg: none`, HS256 keyed with the public key (the classic
//! algorithm confusion) and every other algorithm are refused. The payload is decoded only
//! once the signature verifies.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use crate::error::{Error, TokenRefusal};
use crate::receiver::ReceiverId;

/// Longest token considered (the query string is capped near this too).
pub const MAX_JWT_LEN: usize = 4096;
/// The RSA key sizes accepted, in bits (ring's RS256 verifier allows these).
const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 8192;
/// `1.2.840.113549.1.1.1`, rsaEncryption: the algorithm of an SPKI RSA public key.
const RSA_ENCRYPTION: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Whether a `token` value is a JWT rather than one of hookgate's tokens (`hg1.` ...): three
/// base64url segments, the first a JSON object (`{"` encodes as `eyJ`).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ")
        && token.bytes().filter(|&b| b == b'.').count() == 2
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The Rancher installation's RSA public key, which signed its 1.4-era trigger URLs.
pub struct RancherKey {
    /// The key as PKCS#1 `RSAPublicKey` DER, what ring verifies with.
    pkcs1: Vec<u8>,
    bits: usize,
}

impl std::fmt::Debug for RancherKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RancherKey({} bits)", self.bits)
    }
}

/// Why a public key could not be used. Never repeats the file's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM file")]
    NotPem,
    #[error(
        "PEM block is {0:?}; expected an RSA public key (\"PUBLIC KEY\" or \"RSA PUBLIC KEY\")"
    )]
    WrongBlock(String),
    #[error("the key is not a well-formed RSA public key")]
    BadKey,
    #[error("the key is {0} bits; RS256 keys must be 2048 to 8192 bits")]
    Size(usize),
}

impl RancherKey {
    /// Reads a PEM public key: SPKI (`-----BEGIN PUBLIC KEY-----`, what Rancher's service
    /// was configured with) or PKCS#1 (`-----BEGIN RSA PUBLIC KEY-----`).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem::parse(text.trim()).map_err(|_| KeyError::NotPem)?;
        let pkcs1 = match block.tag() {
            "PUBLIC KEY" => {
                use spki::der::Decode as _;
                let info = spki::SubjectPublicKeyInfoRef::from_der(block.contents())
                    .map_err(|_| KeyError::BadKey)?;
                if info.algorithm.oid != RSA_ENCRYPTION {
                    return Err(KeyError::BadKey);
                }
                info.subject_public_key
                    .as_bytes()
                    .ok_or(KeyError::BadKey)?
                    .to_vec()
            }
            "RSA PUBLIC KEY" => block.contents().to_vec(),
            other => return Err(KeyError::WrongBlock(other.chars().take(40).collect())),
        };
        let bits = {
            use pkcs1::der::Decode as _;
            let key = pkcs1::RsaPublicKey::from_der(&pkcs1).map_err(|_| KeyError::BadKey)?;
            let n = key.modulus.as_bytes();
            match n.first() {
                Some(&top) => n.len() * 8 - top.leading_zeros() as usize,
                None => return Err(KeyError::BadKey),
            }
        };
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(KeyError::Size(bits));
        }
        Ok(Self { pkcs1, bits })
    }

    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Verifies a Rancher 1.4 token and reads its receiver. Order: shape, header (RS256
    /// only), signature, then the payload; `now` is checked against `exp`/`nbf` if present
    /// (Rancher set neither).
    pub fn open(&self, token: &str, now: u64) -> Result<RancherReceiver, JwtError> {
        if token.len() > MAX_JWT_LEN {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let signed = &token[..header_b64.len() + 1 + payload.len()];
        let header = decode_json(header_b64)?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(JwtError::Algorithm);
        }
        // A critical extension is one this reader would have to understand: none is.
        if header.get("crit").is_some() {
            return Err(JwtError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwtError::Malformed)?;
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.pkcs1,
        )
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| JwtError::BadSignature)?;
        read_claims(payload, signed, now)
    }
}

/// Reads the claims of a token whose signature verified: `payload` is its base64url middle
/// segment, `signed` what the signature covers (for the fingerprint).
pub fn read_claims(payload: &str, signed: &str, now: u64) -> Result<RancherReceiver, JwtError> {
    let claims = decode_json(payload)?;
    let time = |name: &str| claims.get(name).and_then(Value::as_f64);
    if time("exp").is_some_and(|exp| (now as f64) >= exp) {
        return Err(JwtError::Expired);
    }
    if time("nbf").is_some_and(|nbf| (now as f64) < nbf) {
        return Err(JwtError::NotYetValid);
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let driver = text("driver").ok_or(JwtError::Claim {
        field: "driver",
        message: "Driver not found after decode",
    })?;
    let project_id = text("projectId")
        .filter(|p| id_like(p))
        .ok_or(JwtError::Claim {
            field: "projectId",
            message: "ProjectId not provided by server",
        })?;
    let uuid = text("uuid").filter(|u| id_like(u)).ok_or(JwtError::Claim {
        field: "uuid",
        message: "Uuid not found after decode",
    })?;
    let config = claims.get("config").cloned().ok_or(JwtError::Claim {
        field: "config",
        message: "Driver config not found",
    })?;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(signed.as_bytes());
    let mut fingerprint = [0u8; 16];
    fingerprint.copy_from_slice(&digest[..16]);
    Ok(RancherReceiver {
        id: receiver_id(&project_id, &uuid),
        driver,
        project_id,
        uuid,
        config,
        fingerprint,
    })
}

/// A project id or uuid as Cattle and Rancher made them: short, of `[A-Za-z0-9-]`.
fn id_like(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// One base64url segment holding a JSON object.
fn decode_json(segment: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// The policy identity of a Rancher 1.4 receiver: derived from its project and uuid, so its
/// dedupe and cooldown memory, and its revocation, are its own.
pub fn receiver_id(project: &str, uuid: &str) -> ReceiverId {
    ReceiverId::derived("hookgate rancher-1.4 receiver", project, uuid)
}

/// What a verified Rancher 1.4 token says. Its config is as the UI sent it, unchecked.
#[derive(Debug, Clone)]
pub struct RancherReceiver {
    pub id: ReceiverId,
    pub driver: String,
    pub project_id: String,
    /// The key of the generic object that keeps the receiver alive.
    pub uuid: String,
    pub config: Value,
    /// A digest of the signed part: two tokens with the same fingerprint say the same.
    pub fingerprint: [u8; 16],
}

/// Why a Rancher 1.4 token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url segments of JSON objects, or a `crit` header.
    Malformed,
    /// The header names an algorithm other than RS256 (`none` and HS256 included).
    Algorithm,
    BadSignature,
    Expired,
    NotYetValid,
    /// Authentic, but a claim the receiver needs is missing or unusable.
    Claim {
        field: &'static str,
        message: &'static str,
    },
}

impl JwtError {
    /// The refusal's reason, as counted in metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::Malformed => "malformed",
            JwtError::Algorithm => "jwt_algorithm",
            JwtError::BadSignature => "bad_signature",
            JwtError::Expired | JwtError::NotYetValid => "expired",
            JwtError::Claim { .. } => "jwt_claims",
        }
    }
}

impl From<JwtError> for Error {
    fn from(e: JwtError) -> Self {
        let token = |class, detail| Error::Token { class, detail };
        match e {
            JwtError::Malformed => token(TokenRefusal::Malformed, "token is malformed"),
            // One answer for a wrong algorithm and a wrong signature, as for hookgate's own.
            JwtError::Algorithm | JwtError::BadSignature => {
                token(TokenRefusal::Untrusted, "token signature is invalid")
            }
            JwtError::Expired => token(TokenRefusal::Expired, "token has expired"),
            JwtError::NotYetValid => token(TokenRefusal::Expired, "token is not valid yet"),
            JwtError::Claim { field, message } => {
                Error::invalid(400, "MissingRequired", field, message)
            }
        }
    }
}

/// The answer to a Rancher 1.4 URL when no public key is configured.
pub fn no_key() -> Error {
    Error::invalid(
        400,
        "InvalidToken",
        "token",
        "this is a Rancher 1.4 trigger URL (a JWT); hookgate runs these only when given the \
         Rancher installation's RSA public key: set --rsa-public-key-file or \
         RSA_PUBLIC_KEY_CONTENTS",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_and_hookgate_tokens_are_told_apart() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJ9.c2ln"));
        for not in [
            "hg1.k.payload.tag",
            "eyJhbGciOiJSUzI1NiJ9.eyJ9",
            "eyJ.a.b.c",
            "eyJhbGc+.eyJ9.c2ln",
            "",
        ] {
            assert!(!looks_like_jwt(not), "{not}");
        }
    }

    #[test]
    fn ids_are_per_project_and_uuid() {
        assert_ne!(receiver_id("1a5", "u"), receiver_id("1a7", "u"));
        assert_ne!(receiver_id("1a5", "u"), receiver_id("1a5", "v"));
    }

    #[test]
    fn keys_that_are_not_rsa_public_keys_are_refused() {
        assert_eq!(RancherKey::from_pem("hello").err(), Some(KeyError::NotPem));
        let cert_like = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            RancherKey::from_pem(cert_like),
            Err(KeyError::WrongBlock(_))
        ));
        let junk = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert_eq!(RancherKey::from_pem(junk).err(), Some(KeyError::BadKey));
    }
}
