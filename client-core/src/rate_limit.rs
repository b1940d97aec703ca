//! Token-bucket rate limiting, sans-IO: the caller passes `now`.
//!
//! One limiter for the whole product: the pool user uses it to rate-limit
//! Endpoint Unreachable reports (RFC 5355 §2.13: a pool user must not be able
//! to evict healthy PEs by flooding reports), and the gateway uses it for
//! per-client limits on handle resolutions and reports.

use core::time::Duration;

/// A rate: `burst` events at once, refilled at `per_second` events per second.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rate {
    /// Events per second in the long run. 0 blocks everything after the burst.
    pub per_second: f64,
    /// Events allowed back to back (bucket size). At least 1 is meaningful.
    pub burst: u32,
}

impl Rate {
    /// A rate of `per_second` events per second with bursts of `burst`.
    pub const fn new(per_second: f64, burst: u32) -> Self {
        Rate { per_second, burst }
    }
}

/// A token bucket. Time is a `Duration` since any fixed epoch chosen by the
/// driver; it must not go backwards (if it does, no tokens are added).
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: Rate,
    tokens: f64,
    last: Option<Duration>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: Rate) -> Self {
        TokenBucket {
            rate,
            tokens: f64::from(rate.burst),
            last: None,
        }
    }

    /// The rate this bucket enforces.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    fn refill(&mut self, now: Duration) {
        if let Some(last) = self.last {
            if now > last {
                let added = (now - last).as_secs_f64() * self.rate.per_second.max(0.0);
                self.tokens = (self.tokens + added).min(f64::from(self.rate.burst));
            }
        }
        if self.last.is_none_or(|last| now > last) {
            self.last = Some(now);
        }
    }

    /// Takes one token if there is one. Returns whether the event may pass.
    pub fn try_acquire(&mut self, now: Duration) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket is full (holds `burst` tokens): such a bucket
    /// carries no history and may be dropped from a table of buckets.
    pub fn is_full(&mut self, now: Duration) -> bool {
        self.refill(now);
        self.tokens >= f64::from(self.rate.burst)
    }

    /// When the next token will be available (`now` if one is available).
    /// `None` when the rate is 0 and the bucket is empty.
    pub fn next_available(&mut self, now: Duration) -> Option<Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            return Some(now);
        }
        if self.rate.per_second <= 0.0 {
            return None;
        }
        let missing = 1.0 - self.tokens;
        Some(now + Duration::from_secs_f64(missing / self.rate.per_second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn allows_burst_then_refuses_until_refilled() {
        let mut b = TokenBucket::new(Rate::new(2.0, 3));
        let t0 = Duration::from_secs(10);
        assert!((0..3).all(|_| b.try_acquire(t0)));
        assert!(!b.try_acquire(t0));
        // Half a second at 2/s adds exactly one token.
        assert!(b.try_acquire(t0 + S / 2));
        assert!(!b.try_acquire(t0 + S / 2));
    }

    #[test]
    fn never_exceeds_burst_after_long_idle() {
        let mut b = TokenBucket::new(Rate::new(100.0, 2));
        let t0 = Duration::ZERO;
        assert!(b.try_acquire(t0));
        let later = t0 + 3600 * S;
        assert!(b.try_acquire(later));
        assert!(b.try_acquire(later));
        assert!(!b.try_acquire(later));
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let mut b = TokenBucket::new(Rate::new(1.0, 1));
        assert!(b.try_acquire(10 * S));
        assert!(!b.try_acquire(5 * S));
        assert!(!b.try_acquire(10 * S));
        assert!(b.try_acquire(11 * S));
    }

    #[test]
    fn zero_rate_blocks_after_burst_and_has_no_next_time() {
        let mut b = TokenBucket::new(Rate::new(0.0, 1));
        assert!(b.try_acquire(S));
        assert!(!b.try_acquire(100 * S));
        assert_eq!(b.next_available(100 * S), None);
    }

    #[test]
    fn next_available_predicts_refill() {
        let mut b = TokenBucket::new(Rate::new(4.0, 1));
        assert!(b.try_acquire(S));
        assert_eq!(b.next_available(S), Some(S + S / 4));
    }
}
