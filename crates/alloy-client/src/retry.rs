//! Backoff between attempts and parsing of `Retry-After`.
//!
//! Full jitter (a uniform wait between zero and an exponentially growing ceiling) rather than
//! "exponential plus a little noise": Terraform runs about ten operations at once, and callers
//! that failed together must not come back together.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// Exponential backoff with full jitter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The largest wait before retry number `retry` (0 for the first retry).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A random wait in `[0, ceiling(retry)]`.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// How long to wait before retry number `retry`: at least what the server asked for.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let jittered = self.delay(retry);
        match retry_after {
            Some(asked) => asked.max(jittered),
            None => jittered,
        }
    }
}

/// Longest `Retry-After` taken literally; anything beyond is clamped (the deadline then decides).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Parses a `Retry-After` value: delay-seconds, or an HTTP date relative to `now`, in any of
/// the three forms RFC 9110 (section 5.6.7) says a recipient must accept: IMF-fixdate, the
/// obsolete RFC 850 form and asctime. The `httpdate` crate (already in the tree through hyper)
/// parses all three. A date in the past means "now" (zero). Unparseable values give `None`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_grows_exponentially_then_caps() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(0), Duration::from_millis(200));
        assert_eq!(b.ceiling(1), Duration::from_millis(400));
        assert_eq!(b.ceiling(3), Duration::from_millis(1600));
        assert_eq!(b.ceiling(5), Duration::from_secs(5));
        assert_eq!(b.ceiling(40), Duration::from_secs(5));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn delay_stays_within_bounds_and_is_spread() {
        let b = Backoff::default();
        for retry in 0..10 {
            let mut seen_low = false;
            let mut seen_high = false;
            for _ in 0..500 {
                let d = b.delay(retry);
                assert!(d <= b.ceiling(retry), "{d:?} > {:?}", b.ceiling(retry));
                seen_low |= d < b.ceiling(retry) / 4;
                seen_high |= d > b.ceiling(retry) * 3 / 4;
            }
            assert!(seen_low && seen_high, "full jitter must cover the range");
        }
    }

    #[test]
    fn wait_honours_retry_after_as_a_minimum() {
        let b = Backoff::default();
        for _ in 0..200 {
            let w = b.wait(0, Some(Duration::from_secs(2)));
            assert_eq!(w, Duration::from_secs(2), "jitter ceiling is below 2 s");
            let w = b.wait(6, Some(Duration::from_millis(10)));
            assert!(w >= Duration::from_millis(10) && w <= Duration::from_secs(5));
        }
    }

    #[test]
    fn retry_after_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    /// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date: 784111777 s after the epoch.
    const EXAMPLE: u64 = 784_111_777;

    fn example() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(EXAMPLE)
    }

    #[test]
    fn retry_after_imf_fixdate() {
        let before = example() - Duration::from_secs(7);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", before),
            Some(Duration::from_secs(7))
        );
        let after = example() + Duration::from_secs(60);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", after),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(
            parse_retry_after(" Sun, 06 Nov 1994 08:49:37 GMT ", before),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn retry_after_rfc_850_date() {
        let before = example() - Duration::from_secs(7);
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", before),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn retry_after_asctime_date() {
        let before = example() - Duration::from_secs(7);
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:37 1994", before),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn retry_after_far_dates_are_clamped_and_bad_dates_refused() {
        let long_before = example() - Duration::from_secs(10 * 86_400);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", long_before),
            Some(MAX_RETRY_AFTER)
        );
        let before = example() - Duration::from_secs(7);
        for bad in [
            // No zone, a zone other than GMT, a day that does not exist.
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
        ] {
            assert_eq!(parse_retry_after(bad, before), None, "{bad}");
        }
    }
}
