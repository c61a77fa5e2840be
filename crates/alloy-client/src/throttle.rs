//! Adaptive request-rate limit shared by every operation of one client.
//!
//! Retrying each 429 is not enough: with Terraform's ~10 parallel operations, every caller keeps
//! bursting into the server's limit, and each burst costs a wave of 429s and `Retry-After` waits.
//! So the client paces itself once the server has shown a limit:
//!
//! - Off (no pacing at all) until the first 429, so an unthrottled API costs nothing.
//! - On a 429, the rate becomes a fraction of what the server *accepted* during the last second
//!   (for a per-second limit that is the limit itself), and never more than a fraction of the
//!   current rate. Only 429s for requests sent after the last decrease count, so one burst of
//!   rejections lowers the rate once, not once per rejected request.
//! - Each accepted request raises the rate a little (at least 0.5 request/s per second of
//!   traffic, or 2 %/s at higher rates), probing back up towards the server's limit.
//! - A 429's `Retry-After` pauses every caller, not only the one that got it: the server has
//!   said its window is closed, and requests sent into it are wasted. 429s for requests sent
//!   during that pause do not lower the rate again.
//! - Requests are paced one slot at a time (no burst allowance), so at a rate `r` no one-second
//!   window holds more than about `r` requests.
//!
//! Time is passed in explicitly so the arithmetic can be unit-tested without sleeping.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);
/// Slowest pace: the throttle never stalls a client completely.
const MIN_RATE: f64 = 0.5;
/// Above this the throttle switches itself off again.
const MAX_RATE: f64 = 10_000.0;
/// Share of the rate accepted in the last second that we aim for after a 429.
const ACCEPTED_SHARE: f64 = 0.9;
/// Multiplicative decrease of the current rate on a further 429.
const DECREASE: f64 = 0.8;
/// Relative increase per accepted request (2 %/s at the current rate)...
const GROWTH: f64 = 0.02;
/// ...but at least this many requests/s gained per second.
const MIN_GROWTH_PER_SEC: f64 = 0.5;
/// Bound on remembered acceptances (only the last second is needed).
const MAX_REMEMBERED: usize = 20_000;
/// Longest shared pause taken from one `Retry-After` (the caller that got it still waits the
/// full time, or gives up if that is past its deadline).
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// How the server answered a request, as far as the throttle cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Anything but 429.
    Accepted,
    /// 429, with the `Retry-After` it carried.
    Limited(Option<Duration>),
}

#[derive(Debug)]
pub(crate) struct Throttle {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Requests per second, or `None` while the server has not rate limited us.
    rate: Option<f64>,
    /// Earliest time the next request may be sent.
    next_slot: Instant,
    /// Send times of recently accepted (non-429) requests.
    accepted: VecDeque<Instant>,
    /// 429s for requests sent before this instant do not lower the rate: they answer an
    /// earlier rate or fall in a pause the server asked for.
    decrease_guard: Option<Instant>,
}

impl Throttle {
    pub fn new() -> Self {
        Throttle {
            state: Mutex::new(State {
                rate: None,
                next_slot: Instant::now(),
                accepted: VecDeque::new(),
                decrease_guard: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the numbers inconsistent enough to
        // matter, so a poisoned lock is simply reused.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current pace in requests per second, `None` when off.
    pub fn rate(&self) -> Option<f64> {
        self.lock().rate
    }

    /// Reserves the next send slot and returns how long to wait for it.
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut s = self.lock();
        let Some(rate) = s.rate else {
            return Duration::ZERO;
        };
        let slot = s.next_slot.max(now);
        s.next_slot = slot + Duration::from_secs_f64(1.0 / rate);
        slot - now
    }

    /// Records the answer to a request sent at `sent_at`.
    pub fn on_answer(&self, sent_at: Instant, answer: Answer, now: Instant) {
        let mut s = self.lock();
        let horizon = now.checked_sub(WINDOW);
        while let Some(&front) = s.accepted.front() {
            if horizon.is_some_and(|h| front < h) || s.accepted.len() > MAX_REMEMBERED {
                s.accepted.pop_front();
            } else {
                break;
            }
        }
        let Answer::Limited(retry_after) = answer else {
            s.accepted.push_back(sent_at);
            if let Some(rate) = s.rate {
                let step = GROWTH.max(MIN_GROWTH_PER_SEC / rate);
                let grown = rate + step;
                s.rate = (grown < MAX_RATE).then_some(grown);
            }
            return;
        };
        let pause_end = now + retry_after.unwrap_or(Duration::ZERO).min(MAX_PAUSE);
        if s.decrease_guard.is_some_and(|g| sent_at < g) {
            if s.rate.is_some() {
                s.next_slot = s.next_slot.max(pause_end);
            }
            return;
        }
        let accepted_last_window = s
            .accepted
            .iter()
            .filter(|&&t| horizon.is_none_or(|h| t >= h))
            .count() as f64;
        let target = accepted_last_window * ACCEPTED_SHARE;
        let new_rate = match s.rate {
            Some(rate) => target.min(rate * DECREASE),
            None => target,
        }
        .max(MIN_RATE);
        s.next_slot = if s.rate.is_none() {
            pause_end
        } else {
            s.next_slot.max(pause_end)
        };
        s.rate = Some(new_rate);
        s.decrease_guard = Some(pause_end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Answer = Answer::Accepted;
    const LIMITED: Answer = Answer::Limited(None);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn off_until_first_429() {
        let t = Throttle::new();
        let t0 = Instant::now();
        for i in 0..100 {
            t.on_answer(t0 + ms(i), OK, t0 + ms(i + 1));
            assert_eq!(t.reserve(t0 + ms(i)), Duration::ZERO);
        }
        assert_eq!(t.rate(), None);
    }

    #[test]
    fn first_429_sets_rate_from_accepted_last_second() {
        let t = Throttle::new();
        let t0 = Instant::now();
        // 20 accepted in the last 500 ms, and 30 accepted long before (outside the window).
        for i in 0..30 {
            t.on_answer(t0 + ms(i), OK, t0 + ms(i));
        }
        let base = t0 + ms(5_000);
        for i in 0..20 {
            t.on_answer(base + ms(i * 25), OK, base + ms(i * 25 + 1));
        }
        let now = base + ms(520);
        t.on_answer(now - ms(5), LIMITED, now);
        let rate = t.rate().unwrap();
        assert!((rate - 18.0).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn a_burst_of_429s_decreases_once() {
        let t = Throttle::new();
        let t0 = Instant::now();
        for i in 0..20 {
            t.on_answer(t0 + ms(i * 10), OK, t0 + ms(i * 10 + 1));
        }
        let now = t0 + ms(300);
        // Ten callers all sent before the first 429 arrived.
        for k in 0..10 {
            t.on_answer(t0 + ms(250 + k), LIMITED, now + ms(k));
        }
        assert!((t.rate().unwrap() - 18.0).abs() < 1e-9);
        // A 429 for a request sent after the decrease lowers the rate again.
        t.on_answer(now + ms(50), LIMITED, now + ms(60));
        let r = t.rate().unwrap();
        assert!(r < 18.0 * DECREASE + 1e-9, "{r}");
    }

    #[test]
    fn floor_when_nothing_was_accepted() {
        let t = Throttle::new();
        let t0 = Instant::now();
        t.on_answer(t0, LIMITED, t0 + ms(1));
        assert_eq!(t.rate(), Some(MIN_RATE));
    }

    #[test]
    fn pacing_spaces_slots_at_one_over_rate() {
        let t = Throttle::new();
        let t0 = Instant::now();
        for i in 0..10 {
            t.on_answer(t0 + ms(i), OK, t0 + ms(i + 1));
        }
        let now = t0 + ms(20);
        t.on_answer(t0 + ms(15), LIMITED, now); // rate = 9/s
        let waits: Vec<Duration> = (0..9).map(|_| t.reserve(now)).collect();
        assert_eq!(waits[0], Duration::ZERO);
        for pair in waits.windows(2) {
            let gap = pair[1] - pair[0];
            assert!((gap.as_secs_f64() - 1.0 / 9.0).abs() < 1e-6, "{gap:?}");
        }
        // Nine slots cover just under one second: no window holds more than the rate.
        assert!(waits[8] < Duration::from_secs(1));
        // Once time has passed the reserved slots, the next one is immediate again.
        assert_eq!(t.reserve(now + Duration::from_secs(5)), Duration::ZERO);
    }

    #[test]
    fn successes_grow_the_rate_additively_then_switch_off() {
        let t = Throttle::new();
        let t0 = Instant::now();
        for i in 0..20 {
            t.on_answer(t0 + ms(i), OK, t0 + ms(i + 1));
        }
        t.on_answer(t0 + ms(30), LIMITED, t0 + ms(31));
        let r0 = t.rate().unwrap();
        // About one second of traffic at the current rate.
        for i in 0..18 {
            t.on_answer(t0 + ms(100 + i), OK, t0 + ms(101 + i));
        }
        let r1 = t.rate().unwrap();
        let gained = r1 - r0;
        assert!(
            (0.45..=0.6).contains(&gained),
            "gained {gained} req/s in a second"
        );
        // Growth is slow but unbounded: it switches off eventually.
        let mut now = t0 + ms(1_000);
        let mut n = 0;
        while t.rate().is_some() {
            now += ms(1);
            t.on_answer(now, OK, now);
            n += 1;
            assert!(n < 1_000_000, "never switched off");
        }
    }

    #[test]
    fn retry_after_pauses_every_caller_and_guards_the_rate() {
        let t = Throttle::new();
        let t0 = Instant::now();
        for i in 0..20 {
            t.on_answer(t0 + ms(i), OK, t0 + ms(i + 1));
        }
        let now = t0 + ms(30);
        t.on_answer(
            t0 + ms(25),
            Answer::Limited(Some(Duration::from_secs(1))),
            now,
        );
        assert!((t.rate().unwrap() - 18.0).abs() < 1e-9);
        // Nobody is sent before the server's window reopens.
        assert_eq!(t.reserve(now), Duration::from_secs(1));
        // A request sent during the pause (reserved earlier, say) that is refused does not
        // lower the rate a second time, but it does extend the pause.
        t.on_answer(
            now + ms(10),
            Answer::Limited(Some(Duration::from_secs(1))),
            now + ms(20),
        );
        assert!((t.rate().unwrap() - 18.0).abs() < 1e-9);
        assert!(t.reserve(now + ms(20)) >= Duration::from_secs(1));
        // After the pause, a refusal is news again.
        let later = now + ms(2_500);
        t.on_answer(later, LIMITED, later + ms(5));
        assert!(t.rate().unwrap() < 18.0 * DECREASE + 1e-9);
    }

    #[test]
    fn pause_is_bounded() {
        let t = Throttle::new();
        let t0 = Instant::now();
        t.on_answer(t0, Answer::Limited(Some(Duration::from_secs(3_600))), t0);
        assert_eq!(t.reserve(t0), MAX_PAUSE);
    }
}
