//! Exponential backoff with jitter, shared by every retry loop of ours (the SDK has its own).

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    /// Lowest share of the ceiling a pause may be: 0 is "full jitter", 0.5 keeps pauses from
    /// collapsing to nothing when a service is down for a while.
    pub min_fraction: f64,
}

impl Backoff {
    /// base·2^attempt, capped.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(1 << attempt.min(16)).min(self.cap)
    }

    /// A random pause between `min_fraction` of the ceiling and the ceiling.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.ceiling(attempt)
            .mul_f64(rand::rng().random_range(self.min_fraction..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Backoff = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(5),
        min_fraction: 0.5,
    };

    #[test]
    fn ceiling_doubles_then_stops_at_the_cap() {
        assert_eq!(POLICY.ceiling(0), Duration::from_millis(100));
        assert_eq!(POLICY.ceiling(3), Duration::from_millis(800));
        assert_eq!(POLICY.ceiling(40), Duration::from_secs(5));
    }

    #[test]
    fn delay_stays_between_the_floor_and_the_ceiling() {
        for attempt in 0..40 {
            let d = POLICY.delay(attempt);
            assert!(d <= POLICY.ceiling(attempt));
            assert!(d >= POLICY.ceiling(attempt).mul_f64(0.5));
        }
    }
}
