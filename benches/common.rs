//! What the benches share: a typical scaleService receiver.

use hookgate::drivers::{DriverConfig, OnResolved, ScaleAction, ScaleServiceConfig};
use hookgate::receiver::ReceiverId;
use hookgate::token::Claims;

pub const NOW: u64 = 1_764_324_000;

/// A typical scaleService receiver (up by 1 within [1, 100]).
pub fn scale_claims(cooldown_seconds: u32) -> Claims {
    Claims {
        receiver_id: ReceiverId([0x5a; 16]),
        project_id: "1a5".into(),
        issued_at: NOW,
        expires_at: None,
        config: DriverConfig::ScaleService(ScaleServiceConfig {
            service_id: "1s1".into(),
            action: ScaleAction::Up,
            amount: 1,
            min: 1,
            max: 100,
            cooldown_seconds,
            on_resolved: OnResolved::Ignore,
        }),
    }
}
