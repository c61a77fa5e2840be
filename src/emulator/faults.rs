//! Fault injection for the API routes: latency, server errors, rate limiting and lost responses.
//!
//! The knobs exist so the API client and the provider can be tested against the failures a real
//! network service produces. They apply to API routes only: the admin routes under
//! `/_emulator` must stay reliable, since tests use them to set up state and to count requests.
//!
//! Order of application for one API request: latency (+ jitter) first, then the rate limit,
//! then the error rate — both of which answer before the store is touched — then the handler,
//! then, for a successful write, the lost-response draw (the write stays committed, only the
//! answer disappears).
//!
//! The rate limit is a *fixed* one-second window shared by both API keys: the window opens at
//! the first request after the previous one closed and admits `rate_limit` requests; the rest are
//! answered 429 with `Retry-After: 1` (the window is at most one second away from closing, and
//! the header counts whole seconds). Rejected requests do not use up the allowance.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::lock;

/// The fault knobs. All zero (the default) means a well-behaved API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Fixed delay before each API request is handled, in milliseconds.
    pub latency_ms: u64,
    /// Extra delay drawn uniformly from `0..=jitter_ms`, added to `latency_ms`.
    pub jitter_ms: u64,
    /// Fraction (0..=1) of API requests answered 500 or 503 (alternately) before any work.
    pub error_rate: f64,
    /// Admitted API requests per second; 0 turns the limit off.
    pub rate_limit: u32,
    /// Fraction (0..=1) of successful writes (POST/PUT/DELETE) whose response is dropped: the
    /// change is committed and the connection is closed without an HTTP response.
    pub lost_response_rate: f64,
}

impl Faults {
    /// Check the rates are probabilities.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("error_rate", self.error_rate),
            ("lost_response_rate", self.lost_response_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be between 0 and 1, got {v}"));
            }
        }
        Ok(())
    }
}

/// A partial update of [`Faults`] (the admin `PUT /_emulator/faults` body): omitted fields keep
/// their value. Unknown fields are refused so that a typo in a test fails loudly.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultsPatch {
    latency_ms: Option<u64>,
    jitter_ms: Option<u64>,
    error_rate: Option<f64>,
    rate_limit: Option<u32>,
    lost_response_rate: Option<f64>,
}

impl FaultsPatch {
    pub(crate) fn apply(&self, base: &Faults) -> Faults {
        Faults {
            latency_ms: self.latency_ms.unwrap_or(base.latency_ms),
            jitter_ms: self.jitter_ms.unwrap_or(base.jitter_ms),
            error_rate: self.error_rate.unwrap_or(base.error_rate),
            rate_limit: self.rate_limit.unwrap_or(base.rate_limit),
            lost_response_rate: self.lost_response_rate.unwrap_or(base.lost_response_rate),
        }
    }
}

/// A request refused by fault injection, before it reached the store.
#[derive(Debug, PartialEq)]
pub(crate) enum Rejection {
    /// 429 with `Retry-After` in whole seconds.
    RateLimited { retry_after_secs: u64 },
    /// An injected 500 or 503.
    ServerError { status: u16 },
}

struct Window {
    opened: Option<Instant>,
    admitted: u32,
}

/// The live fault state: the knobs, a random generator (seeded with `--seed` for reproducible
/// runs), the rate-limit window and the 500/503 alternation.
pub(crate) struct FaultInjector {
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    window: Mutex<Window>,
    errors_injected: AtomicU64,
}

impl FaultInjector {
    pub(crate) fn new(faults: Faults, rng: StdRng) -> FaultInjector {
        FaultInjector {
            faults: Mutex::new(faults),
            rng: Mutex::new(rng),
            window: Mutex::new(Window {
                opened: None,
                admitted: 0,
            }),
            errors_injected: AtomicU64::new(0),
        }
    }

    pub(crate) fn current(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub(crate) fn set(&self, faults: Faults) {
        *lock(&self.faults) = faults;
        let mut w = lock(&self.window);
        w.opened = None;
        w.admitted = 0;
    }

    /// How long to wait before handling a request.
    pub(crate) fn delay(&self, f: &Faults) -> Option<Duration> {
        if f.latency_ms == 0 && f.jitter_ms == 0 {
            return None;
        }
        let jitter = if f.jitter_ms > 0 {
            lock(&self.rng).random_range(0..=f.jitter_ms)
        } else {
            0
        };
        Some(Duration::from_millis(f.latency_ms.saturating_add(jitter)))
    }

    /// Rate limit, then error rate. `Ok` means the request may proceed.
    pub(crate) fn admit(&self, f: &Faults, now: Instant) -> Result<(), Rejection> {
        if f.rate_limit > 0 {
            let mut w = lock(&self.window);
            let second = Duration::from_secs(1);
            match w.opened {
                Some(t) if now.saturating_duration_since(t) < second => {}
                _ => {
                    w.opened = Some(now);
                    w.admitted = 0;
                }
            }
            if w.admitted >= f.rate_limit {
                return Err(Rejection::RateLimited {
                    retry_after_secs: 1,
                });
            }
            w.admitted += 1;
        }
        if f.error_rate > 0.0 && lock(&self.rng).random::<f64>() < f.error_rate {
            let n = self.errors_injected.fetch_add(1, Ordering::Relaxed);
            let status = if n.is_multiple_of(2) { 500 } else { 503 };
            return Err(Rejection::ServerError { status });
        }
        Ok(())
    }

    /// Whether to drop the response of a successful write.
    pub(crate) fn lose_response(&self, f: &Faults) -> bool {
        f.lost_response_rate > 0.0 && lock(&self.rng).random::<f64>() < f.lost_response_rate
    }
}

/// A generator seeded from `seed` (offset per purpose, so that the store's ids and the fault
/// draws are independent sequences), or from the OS when no seed is given.
pub(crate) fn rng_for(seed: Option<u64>, purpose: u64) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        None => StdRng::from_os_rng(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn injector(f: &Faults) -> FaultInjector {
        FaultInjector::new(f.clone(), rng_for(Some(42), 1))
    }

    #[test]
    fn no_faults_admits_everything_without_delay() {
        let f = Faults::default();
        let inj = injector(&f);
        let now = Instant::now();
        assert_eq!(inj.delay(&f), None);
        for _ in 0..1000 {
            assert_eq!(inj.admit(&f, now), Ok(()));
            assert!(!inj.lose_response(&f));
        }
    }

    #[test]
    fn latency_plus_jitter_stays_in_range() {
        let f = Faults {
            latency_ms: 10,
            jitter_ms: 5,
            ..Faults::default()
        };
        let inj = injector(&f);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let d = inj.delay(&f).unwrap().as_millis();
            assert!((10..=15).contains(&d), "{d}");
            seen.insert(d);
        }
        assert!(seen.len() > 3, "jitter varies: {seen:?}");
    }

    #[test]
    fn fixed_window_rate_limit() {
        let f = Faults {
            rate_limit: 3,
            ..Faults::default()
        };
        let inj = injector(&f);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(inj.admit(&f, t0), Ok(()));
        }
        let limited = Err(Rejection::RateLimited {
            retry_after_secs: 1,
        });
        assert_eq!(inj.admit(&f, t0 + Duration::from_millis(500)), limited);
        assert_eq!(inj.admit(&f, t0 + Duration::from_millis(999)), limited);
        // A new window opens a second after the first.
        assert_eq!(inj.admit(&f, t0 + Duration::from_millis(1000)), Ok(()));
    }

    #[test]
    fn error_rate_is_roughly_right_and_alternates_500_503() {
        let f = Faults {
            error_rate: 0.3,
            ..Faults::default()
        };
        let inj = injector(&f);
        let now = Instant::now();
        let errors: Vec<u16> = (0..10_000)
            .filter_map(|_| match inj.admit(&f, now) {
                Err(Rejection::ServerError { status }) => Some(status),
                _ => None,
            })
            .collect();
        assert!((2700..=3300).contains(&errors.len()), "{}", errors.len());
        assert!(errors.iter().step_by(2).all(|s| *s == 500));
        assert!(errors.iter().skip(1).step_by(2).all(|s| *s == 503));
    }

    #[test]
    fn seeded_draws_are_reproducible() {
        let f = Faults {
            error_rate: 0.5,
            ..Faults::default()
        };
        let draws = |inj: FaultInjector| -> Vec<bool> {
            (0..200)
                .map(|_| inj.admit(&f, Instant::now()).is_ok())
                .collect()
        };
        assert_eq!(draws(injector(&f)), draws(injector(&f)));
    }

    #[test]
    fn patch_changes_only_given_fields_and_validation() {
        let base = Faults {
            latency_ms: 5,
            rate_limit: 7,
            ..Faults::default()
        };
        let patch: FaultsPatch = serde_json::from_str(r#"{"error_rate": 0.25}"#).unwrap();
        let f = patch.apply(&base);
        assert_eq!(f.latency_ms, 5);
        assert_eq!(f.rate_limit, 7);
        assert_eq!(f.error_rate, 0.25);
        assert!(serde_json::from_str::<FaultsPatch>(r#"{"eror_rate": 1}"#).is_err());
        assert!(
            Faults {
                lost_response_rate: 1.5,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Faults {
                error_rate: f64::NAN,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
        assert!(f.validate().is_ok());
    }
}
