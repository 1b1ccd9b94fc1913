//! The binary payload inside a version-1 token (docs/token.md): receiver id, project,
//! issue and expiry times, then the driver's tag and its config, each driver encoding its
//! own fields with the canonical primitives of [`crate::codec`]. Every claim set has exactly
//! one encoding and `decode` accepts only that one, so a payload that opens always re-seals
//! to the same bytes.

use crate::codec::{DecodeError, Reader, Writer};
use crate::drivers::DriverConfig;
use crate::receiver::ReceiverId;
use crate::token::Claims;

/// Encodes `c` into `out`; `false` if something did not fit (strings ≤ 255 bytes, maps ≤
/// 255 entries), in which case `out` must not be used.
pub fn encode(c: &Claims, out: &mut Vec<u8>) -> bool {
    let mut w = Writer::new(out);
    w.bytes(&c.receiver_id.0);
    w.str(&c.project_id);
    w.u64(c.issued_at);
    w.option(c.expires_at.as_ref(), |w, t| w.u64(*t));
    c.config.encode(&mut w);
    !w.overflowed()
}

pub fn decode(bytes: &[u8]) -> Result<Claims, DecodeError> {
    let mut r = Reader::new(bytes);
    let receiver_id = ReceiverId(r.array()?);
    let project_id = r.string()?;
    let issued_at = r.u64()?;
    let expires_at = r.option("expiry tag", Reader::u64)?;
    let config = DriverConfig::decode(&mut r)?;
    r.finish()?;
    let claims = Claims {
        receiver_id,
        project_id,
        issued_at,
        expires_at,
        config,
    };
    claims.config.check().map_err(DecodeError::InvalidValue)?;
    Ok(claims)
}
