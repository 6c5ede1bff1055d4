//! A token bucket: `burst` tokens, refilled at `rate` per second, one token per message.

use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct RateConfig {
    pub per_second: f64,
    pub burst: u32,
}

#[derive(Debug)]
pub struct TokenBucket {
    config: RateConfig,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(config: RateConfig) -> Self {
        Self::new_at(config, Instant::now())
    }

    fn new_at(config: RateConfig, now: Instant) -> Self {
        Self {
            config,
            tokens: f64::from(config.burst),
            refilled_at: now,
        }
    }

    /// Whether the bucket has refilled completely (nothing to remember about it).
    pub fn is_full(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens + elapsed * self.config.per_second >= f64::from(self.config.burst)
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * self.config.per_second).min(f64::from(self.config.burst));
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const CONFIG: RateConfig = RateConfig {
        per_second: 20.0,
        burst: 40,
    };

    #[test]
    fn burst_then_refuse() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new_at(CONFIG, start);
        assert_eq!((0..40).filter(|_| bucket.try_take_at(start)).count(), 40);
        assert!(!bucket.try_take_at(start));
    }

    #[test]
    fn refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new_at(CONFIG, start);
        while bucket.try_take_at(start) {}
        let later = start + Duration::from_millis(100);
        assert_eq!((0..10).filter(|_| bucket.try_take_at(later)).count(), 2);
    }

    #[test]
    fn never_exceeds_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new_at(CONFIG, start);
        let much_later = start + Duration::from_secs(3600);
        assert_eq!(
            (0..100).filter(|_| bucket.try_take_at(much_later)).count(),
            40
        );
    }
}
