//! Canonical binary encoding, the primitives of a token's payload (docs/token.md):
//! fixed-width big-endian integers, length-prefixed UTF-8 strings (at most 255 bytes),
//! sorted label maps, one-byte tags. Every value has exactly one encoding and [`Reader`]
//! accepts only that one. Pure: no I/O.

use std::collections::BTreeMap;

/// Why a payload that passed its MAC still cannot be read. Only a key holder can produce one,
/// so these point at a bug or a version skew, never at an attacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    TrailingBytes,
    InvalidValue(&'static str),
}

/// Writes the canonical encoding. A string or map too long for its one-byte length marks
/// the writer as overflowed instead of writing a wrong prefix.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
    overflow: bool,
}

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            overflow: false,
        }
    }

    /// Whether something did not fit (the encoding is then unusable).
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    pub fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    pub fn bool(&mut self, b: bool) {
        self.out.push(u8::from(b));
    }

    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    pub fn str(&mut self, s: &str) {
        match u8::try_from(s.len()) {
            Ok(n) => {
                self.out.push(n);
                self.out.extend_from_slice(s.as_bytes());
            }
            Err(_) => self.overflow = true,
        }
    }

    /// Entries in key order (a `BTreeMap` iterates sorted).
    pub fn map(&mut self, m: &BTreeMap<String, String>) {
        match u8::try_from(m.len()) {
            Ok(n) => self.out.push(n),
            Err(_) => {
                self.overflow = true;
                return;
            }
        }
        for (k, v) in m {
            self.str(k);
            self.str(v);
        }
    }

    /// `0` for none, `1` then the value.
    pub fn option<T>(&mut self, v: Option<&T>, put: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.out.push(0),
            Some(v) => {
                self.out.push(1);
                put(self, v);
            }
        }
    }
}

/// Reads the canonical encoding, refusing anything else.
pub struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    /// Nothing is left to read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Everything was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidValue(what)),
        }
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub fn string(&mut self) -> Result<String, DecodeError> {
        let n = usize::from(self.byte()?);
        let raw = self.take(n)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidValue("utf-8"))
    }

    pub fn map(&mut self) -> Result<BTreeMap<String, String>, DecodeError> {
        let n = self.byte()?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.string()?;
            // Strictly ascending keys: the one canonical order, and no duplicates.
            if m.last_key_value().is_some_and(|(last, _)| *last >= k) {
                return Err(DecodeError::InvalidValue("label order"));
            }
            m.insert(k, v);
        }
        Ok(m)
    }

    /// The counterpart of [`Writer::option`].
    pub fn option<T>(
        &mut self,
        what: &'static str,
        get: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.byte()? {
            0 => Ok(None),
            1 => get(self).map(Some),
            _ => Err(DecodeError::InvalidValue(what)),
        }
    }

    /// A one-byte tag that must index `values`.
    pub fn pick<T: Copy>(&mut self, what: &'static str, values: &[T]) -> Result<T, DecodeError> {
        values
            .get(usize::from(self.byte()?))
            .copied()
            .ok_or(DecodeError::InvalidValue(what))
    }
}
