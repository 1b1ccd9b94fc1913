//! A receiver's identity: 128 random bits, rendered as 32 lowercase hex characters. It is
//! also the `key` of the receiver's generic object in Cattle; Rancher's own keys were 40
//! alphanumeric characters, so the two never collide, and an id grants nothing
//! (docs/security.md). What a receiver does lives in [`crate::drivers`]; what its token
//! carries in [`crate::token::Claims`]. Nothing here does I/O.

use std::fmt;

/// A receiver's identity: 128 random bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiverId(pub [u8; 16]);

impl ReceiverId {
    /// A fresh id from the operating system's random source.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b)?;
        Ok(Self(b))
    }

    /// The stable id of a receiver Rancher's service made, which has no id of ours: a digest
    /// of `label` (which kind of URL), its project and its key, so its dedupe, cooldown and
    /// revocation memory are its own.
    pub fn derived(label: &str, project: &str, key: &str) -> Self {
        use sha2::Digest as _;
        let d = sha2::Sha256::new()
            .chain_update(label.as_bytes())
            .chain_update(b"\0")
            .chain_update(project.as_bytes())
            .chain_update(b"\0")
            .chain_update(key.as_bytes())
            .finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        Self(id)
    }

    /// Parses the 32-hex-character form; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.as_bytes();
        if s.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in s.chunks_exact(2).enumerate() {
            out[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
        }
        Some(Self(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl ReceiverId {
    /// The 32-hex-character form, without the formatting machinery (every trigger's answer
    /// carries it).
    pub fn hex(&self) -> Hex {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        Hex(out)
    }
}

/// A receiver id written out: 32 lowercase hex characters.
pub struct Hex([u8; 32]);

impl Hex {
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for ReceiverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex().as_str())
    }
}

impl fmt::Debug for ReceiverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReceiverId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::ReceiverId;

    #[test]
    fn ids_print_and_parse_as_32_hex_characters() {
        let id = ReceiverId([
            0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff, 9, 10, 11, 12, 13, 14, 15, 16,
        ]);
        let s = id.to_string();
        assert_eq!(s, "00017f80abcdefff090a0b0c0d0e0f10");
        assert_eq!(id.hex().as_str(), s);
        assert_eq!(ReceiverId::parse(&s), Some(id));
        for bad in [
            "",
            "00017f80abcdefff090a0b0c0d0e0f1",
            "00017F80abcdefff090a0b0c0d0e0f10",
            "g0017f80abcdefff090a0b0c0d0e0f10",
        ] {
            assert_eq!(ReceiverId::parse(bad), None, "{bad}");
        }
    }
}
