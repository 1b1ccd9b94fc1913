//! The binary payload inside a version-1 token: a fixed field order, fixed-width big-endian
//! integers, length-prefixed UTF-8 strings, sorted label maps and tagged options. Every
//! claim set has exactly one encoding and `decode` accepts only that one, so a payload that
//! opens always re-seals to the same bytes.

use crate::receiver::{
    AddressType, Claims, DeleteOption, DriverConfig, ForwardPostConfig, Labels, OnResolved,
    PayloadFormat, ReceiverId, ScaleAction, ScaleHostConfig, ScaleServiceConfig,
    ServiceUpgradeConfig,
};

/// Why a payload that passed its MAC still cannot be read. Only a key holder can produce one,
/// so these point at a bug or a version skew, never at an attacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    TrailingBytes,
    InvalidValue(&'static str),
}

pub fn encode(c: &Claims, out: &mut Vec<u8>) {
    out.extend_from_slice(&c.receiver_id.0);
    put_str(out, &c.project_id);
    out.extend_from_slice(&c.issued_at.to_be_bytes());
    match c.expires_at {
        None => out.push(0),
        Some(t) => {
            out.push(1);
            out.extend_from_slice(&t.to_be_bytes());
        }
    }
    match &c.config {
        DriverConfig::ScaleService(s) => {
            out.push(0);
            put_str(out, &s.service_id);
            out.push(action_byte(s.action));
            put_u32s(out, &[s.amount, s.min, s.max, s.cooldown_seconds]);
            out.push(resolved_byte(s.on_resolved));
        }
        DriverConfig::ScaleHost(s) => {
            out.push(1);
            match &s.host_selector {
                None => out.push(0),
                Some(m) => {
                    out.push(1);
                    put_map(out, m);
                }
            }
            match &s.host_template_id {
                None => out.push(0),
                Some(t) => {
                    out.push(1);
                    put_str(out, t);
                }
            }
            out.push(action_byte(s.action));
            put_u32s(out, &[s.amount, s.min, s.max]);
            out.push(match s.delete_option {
                None => 0,
                Some(DeleteOption::MostRecent) => 1,
                Some(DeleteOption::LeastRecent) => 2,
            });
            put_u32s(out, &[s.cooldown_seconds]);
            out.push(resolved_byte(s.on_resolved));
        }
        DriverConfig::ServiceUpgrade(s) => {
            out.push(2);
            put_map(out, &s.service_selector);
            put_str(out, &s.tag);
            out.push(s.payload_format as u8);
            out.push(s.address_type as u8);
            put_u32s(out, &[s.batch_size, s.interval_millis]);
            out.push(u8::from(s.start_first));
        }
        DriverConfig::ForwardPost(s) => {
            out.push(3);
            for f in [&s.project_id, &s.service_name, &s.port, &s.path] {
                put_str(out, f);
            }
        }
    }
}

/// Whether `encode` can represent the claims at all (strings ≤ 255 bytes, ≤ 255 labels).
pub fn encodable(c: &Claims) -> bool {
    let short = |s: &str| s.len() <= 255;
    let map_ok = |m: &Labels| m.len() <= 255 && m.iter().all(|(k, v)| short(k) && short(v));
    short(&c.project_id)
        && match &c.config {
            DriverConfig::ScaleService(s) => short(&s.service_id),
            DriverConfig::ScaleHost(s) => {
                s.host_selector.as_ref().is_none_or(map_ok)
                    && s.host_template_id.as_deref().is_none_or(short)
            }
            DriverConfig::ServiceUpgrade(s) => map_ok(&s.service_selector) && short(&s.tag),
            DriverConfig::ForwardPost(s) => [&s.project_id, &s.service_name, &s.port, &s.path]
                .iter()
                .all(|f| short(f)),
        }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // `encodable` is checked before sealing, so the length fits in a byte.
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

fn put_map(out: &mut Vec<u8>, m: &Labels) {
    out.push(m.len() as u8);
    for (k, v) in m {
        put_str(out, k);
        put_str(out, v);
    }
}

fn put_u32s(out: &mut Vec<u8>, v: &[u32]) {
    for x in v {
        out.extend_from_slice(&x.to_be_bytes());
    }
}

fn action_byte(a: ScaleAction) -> u8 {
    match a {
        ScaleAction::Up => 0,
        ScaleAction::Down => 1,
    }
}

fn resolved_byte(r: OnResolved) -> u8 {
    match r {
        OnResolved::Ignore => 0,
        OnResolved::Reverse => 1,
        OnResolved::Trigger => 2,
    }
}

pub fn decode(bytes: &[u8]) -> Result<Claims, DecodeError> {
    let mut r = Reader(bytes);
    let receiver_id = ReceiverId(r.array()?);
    let project_id = r.string()?;
    let issued_at = u64::from_be_bytes(r.array()?);
    let expires_at = match r.byte()? {
        0 => None,
        1 => Some(u64::from_be_bytes(r.array()?)),
        _ => return Err(DecodeError::InvalidValue("expiry tag")),
    };
    let config = match r.byte()? {
        0 => DriverConfig::ScaleService(ScaleServiceConfig {
            service_id: r.string()?,
            action: r.action()?,
            amount: r.u32()?,
            min: r.u32()?,
            max: r.u32()?,
            cooldown_seconds: r.u32()?,
            on_resolved: r.on_resolved()?,
        }),
        1 => DriverConfig::ScaleHost(Box::new(ScaleHostConfig {
            host_selector: match r.byte()? {
                0 => None,
                1 => Some(r.map()?),
                _ => return Err(DecodeError::InvalidValue("hostSelector tag")),
            },
            host_template_id: match r.byte()? {
                0 => None,
                1 => Some(r.string()?),
                _ => return Err(DecodeError::InvalidValue("hostTemplateId tag")),
            },
            action: r.action()?,
            amount: r.u32()?,
            min: r.u32()?,
            max: r.u32()?,
            delete_option: match r.byte()? {
                0 => None,
                1 => Some(DeleteOption::MostRecent),
                2 => Some(DeleteOption::LeastRecent),
                _ => return Err(DecodeError::InvalidValue("deleteOption")),
            },
            cooldown_seconds: r.u32()?,
            on_resolved: r.on_resolved()?,
        })),
        2 => DriverConfig::ServiceUpgrade(Box::new(ServiceUpgradeConfig {
            service_selector: r.map()?,
            tag: r.string()?,
            payload_format: match r.byte()? {
                0 => PayloadFormat::Dockerhub,
                1 => PayloadFormat::Alicloud,
                2 => PayloadFormat::Azure,
                3 => PayloadFormat::Quay,
                4 => PayloadFormat::Harbor,
                5 => PayloadFormat::Distribution,
                _ => return Err(DecodeError::InvalidValue("payloadFormat")),
            },
            address_type: match r.byte()? {
                0 => AddressType::Registry,
                1 => AddressType::RegistryInternal,
                2 => AddressType::RegistryVpc,
                _ => return Err(DecodeError::InvalidValue("addressType")),
            },
            batch_size: r.u32()?,
            interval_millis: r.u32()?,
            start_first: match r.byte()? {
                0 => false,
                1 => true,
                _ => return Err(DecodeError::InvalidValue("startFirst")),
            },
        })),
        3 => DriverConfig::ForwardPost(Box::new(ForwardPostConfig {
            project_id: r.string()?,
            service_name: r.string()?,
            port: r.string()?,
            path: r.string()?,
        })),
        _ => return Err(DecodeError::InvalidValue("driver")),
    };
    if !r.0.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
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

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let n = usize::from(self.byte()?);
        let raw = self.take(n)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidValue("utf-8"))
    }

    fn map(&mut self) -> Result<Labels, DecodeError> {
        let n = self.byte()?;
        let mut m = Labels::new();
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

    fn action(&mut self) -> Result<ScaleAction, DecodeError> {
        match self.byte()? {
            0 => Ok(ScaleAction::Up),
            1 => Ok(ScaleAction::Down),
            _ => Err(DecodeError::InvalidValue("action")),
        }
    }

    fn on_resolved(&mut self) -> Result<OnResolved, DecodeError> {
        match self.byte()? {
            0 => Ok(OnResolved::Ignore),
            1 => Ok(OnResolved::Reverse),
            2 => Ok(OnResolved::Trigger),
            _ => Err(DecodeError::InvalidValue("onResolved")),
        }
    }
}
