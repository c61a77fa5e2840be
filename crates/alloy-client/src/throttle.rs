//! Adaptive request-rate limit shared by every operation of one client.
//!
//! Retrying each 429 is not enough: with Terraform's ~10 parallel operations, every caller keeps
//! bursting into the server's limit, and each burst costs a wave of 429s and `Retry-After` waits.
//! So the client paces itself once the server has shown a limit, and aims to run *at* that limit
//! from the first refusal on: a burst of N writes against a limit of 10 requests/s should take
//! about N / 10 seconds, whatever else used the server's first window.
//!
//! - Off (no pacing at all) until the first 429, so an unthrottled API costs nothing.
//! - The first 429 sets the rate to 97 % of what the server accepted of ours in the last second,
//!   counted by send time. The answers of one burst arrive in any order, often a 429 first, so
//!   an accepted answer that arrives later for a request sent in that second counts too, and
//!   raises the rate to what the count then says. (Counting only the answers already in when the
//!   429 came is how a burst of ten accepted deletes once set the pace to 0.5 request/s, and a
//!   destroy of 100 users took 28 s instead of 11.)
//! - Only 429s for requests sent after the last decrease (and after the pause it asked for) lower
//!   the rate again, so one burst of rejections lowers it once, not once per rejected request.
//! - A 429 for a paced request marks the *ceiling*: what went through per second (over the last
//!   second, or the last three when that says more: one second of a window-based limit can hold
//!   one request too few), the limit (our share of it) as best known. The rate drops to 97 % of
//!   it, and by at least 5 %.
//! - Accepted requests raise the rate only while the pace is what holds requests back (a caller
//!   waited for its slot in the last second): callers slower than the pace say nothing about the
//!   server. Then by 30 % per second until a paced request has been refused, or while the rate
//!   is below 95 % of the ceiling (a first estimate can be low: another process of the same
//!   Terraform command may have used part of the server's first window), and by 0.5 % per second
//!   above, probing gently for a limit that was raised.
//! - A `Retry-After` longer than a second pauses every caller, not only the one that got it: the
//!   server's window is longer than the second the rate is measured over, and every request sent
//!   into it would be refused. One of a second or less does not: the server's window closes
//!   within it, and pausing everyone for the whole second (all the header can say) would waste
//!   most of it; the paced requests that still meet the closed window cost a 429 each and wait
//!   out their own `Retry-After`.
//! - Nothing is reserved ahead: a caller takes the next slot when it has come, or learns how long
//!   to wait and asks again ([`Throttle::take`]). So a lower rate or a pause holds back at once
//!   every caller already waiting, and at a rate `r` no second holds more than about `r`
//!   requests (no burst allowance).
//!
//! Time is passed in explicitly so the arithmetic can be unit-tested without sleeping.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);
/// The longer stretch a paced refusal averages what went through over.
const LONG_WINDOW: Duration = Duration::from_secs(3);
/// Slowest pace: the throttle never stalls a client completely.
const MIN_RATE: f64 = 0.5;
/// Above this the throttle switches itself off again.
const MAX_RATE: f64 = 10_000.0;
/// Share of what the server accepted in the second before a 429 that we aim for.
const ACCEPTED_SHARE: f64 = 0.97;
/// A 429 for a paced request lowers the rate at least to this share of it.
const DECREASE: f64 = 0.95;
/// Growth per second of traffic while discovering the limit (or below it)...
const FAST_GROWTH: f64 = 0.3;
/// ...below this share of the ceiling...
const NEAR_CEILING: f64 = 0.95;
/// ...and near the ceiling, relative...
const SLOW_GROWTH: f64 = 0.005;
/// ...but at least this many requests/s gained per second.
const MIN_SLOW_GROWTH_PER_SEC: f64 = 0.02;
/// Bound on remembered acceptances (only the last second or two are needed).
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
    /// Send times of recently accepted (non-429) requests, in the order their answers came.
    accepted: VecDeque<Instant>,
    /// 429s for requests sent before this instant do not lower the rate: they answer an
    /// earlier rate or fall in a pause the server asked for.
    decrease_guard: Option<Instant>,
    /// What the server accepted of ours in the second before it last refused a paced request:
    /// the limit (our share of it) as best known.
    ceiling: Option<f64>,
    /// The second of send times the last decrease counted, and the most a late count may raise
    /// the rate to.
    counted: Option<Counted>,
    /// When the last caller that had to wait for its slot was let go. While the pace is what
    /// holds requests back, accepted answers say the server takes that pace; callers slower
    /// than the pace say nothing about it, and do not raise it.
    last_wait: Option<Instant>,
}

#[derive(Clone, Copy, Debug)]
struct Counted {
    from: Instant,
    to: Instant,
    cap: f64,
    /// It counted for a refusal of a paced request: a higher count raises the ceiling too.
    paced: bool,
}

impl State {
    /// Accepted requests sent in `[from, to]`. The whole memory is scanned (a few seconds of
    /// answers): they are in the order the answers came, and a slow one can be far out of place.
    fn accepted_between(&self, from: Instant, to: Instant) -> usize {
        self.accepted
            .iter()
            .filter(|&&t| from <= t && t <= to)
            .count()
    }

    fn held_back_recently(&self, now: Instant) -> bool {
        self.last_wait
            .is_some_and(|w| now.saturating_duration_since(w) <= WINDOW)
    }

    /// The rate after one more accepted request.
    fn grown(&self, rate: f64) -> f64 {
        let slow = rate + (SLOW_GROWTH * rate).max(MIN_SLOW_GROWTH_PER_SEC) / rate;
        let fast = rate * (1.0 + FAST_GROWTH).powf(1.0 / rate);
        match self.ceiling {
            None => fast,
            Some(c) => fast.min(NEAR_CEILING * c).max(slow),
        }
    }
}

impl Throttle {
    pub fn new() -> Self {
        Throttle {
            state: Mutex::new(State {
                rate: None,
                next_slot: Instant::now(),
                accepted: VecDeque::new(),
                decrease_guard: None,
                ceiling: None,
                counted: None,
                last_wait: None,
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

    /// Takes the next send slot if it has come (`Ok`), or says how long until it comes; the
    /// caller then waits and asks again. Nothing is reserved ahead, so a lower rate or a pause
    /// holds back at once every caller that is waiting, not only those that come later.
    pub fn take(&self, now: Instant) -> Result<(), Duration> {
        let mut s = self.lock();
        let Some(rate) = s.rate else {
            return Ok(());
        };
        if now < s.next_slot {
            s.last_wait = Some(s.next_slot);
            return Err(s.next_slot - now);
        }
        s.next_slot = now + Duration::from_secs_f64(1.0 / rate);
        Ok(())
    }

    /// Records the answer to a request sent at `sent_at`.
    pub fn on_answer(&self, sent_at: Instant, answer: Answer, now: Instant) {
        let mut s = self.lock();
        let horizon = now.checked_sub(LONG_WINDOW + WINDOW);
        while let Some(&front) = s.accepted.front() {
            if horizon.is_some_and(|h| front < h) || s.accepted.len() > MAX_REMEMBERED {
                s.accepted.pop_front();
            } else {
                break;
            }
        }
        let Answer::Limited(retry_after) = answer else {
            s.accepted.push_back(sent_at);
            let Some(mut rate) = s.rate else {
                return;
            };
            // A late answer of the burst the last decrease counted: count again.
            if let Some(c) = s.counted
                && (c.from..=c.to).contains(&sent_at)
            {
                let count = s.accepted_between(c.from, c.to) as f64;
                rate = rate.max((count * ACCEPTED_SHARE).min(c.cap));
                if c.paced {
                    s.ceiling = s.ceiling.map(|old| old.max(count));
                }
            }
            if s.held_back_recently(now) {
                rate = s.grown(rate);
            }
            s.rate = (rate < MAX_RATE).then_some(rate);
            return;
        };
        let pause = retry_after.unwrap_or(Duration::ZERO).min(MAX_PAUSE);
        // Only a window longer than the one the rate is measured over stops everyone.
        let shared_pause = (pause > WINDOW).then(|| now + pause);
        if s.decrease_guard.is_some_and(|g| sent_at < g) {
            if let (Some(_), Some(end)) = (s.rate, shared_pause) {
                s.next_slot = s.next_slot.max(end);
            }
            return;
        }
        // Everything of ours the server accepted in the last second, by send time: the
        // requests of a burst reach the server in any order, so some sent after the refused
        // one may have been accepted before it.
        let from = now.checked_sub(WINDOW).unwrap_or(now);
        let count = s.accepted_between(from, now) as f64;
        let target = count * ACCEPTED_SHARE;
        let paced = s.rate.is_some();
        let (new_rate, cap) = match s.rate {
            Some(rate) => {
                // What went through per second is the limit (our share of it). One second of
                // a window-based limit can hold one request too few or too many, so a longer
                // stretch is averaged in when there is one.
                let long_from = now.checked_sub(LONG_WINDOW).unwrap_or(now);
                let long = s.accepted_between(long_from, now) as f64 / LONG_WINDOW.as_secs_f64();
                let ceiling = count.max(long).max(MIN_RATE);
                s.ceiling = Some(ceiling);
                (
                    (ceiling * ACCEPTED_SHARE).min(rate * DECREASE),
                    rate * DECREASE,
                )
            }
            None => {
                s.next_slot = now;
                (target, f64::INFINITY)
            }
        };
        if let Some(end) = shared_pause {
            s.next_slot = s.next_slot.max(end);
        }
        s.rate = Some(new_rate.max(MIN_RATE));
        s.counted = Some(Counted {
            from,
            to: now,
            cap,
            paced,
        });
        s.decrease_guard = Some(now + pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Answer = Answer::Accepted;
    const LIMITED: Answer = Answer::Limited(None);
    const ONE_SECOND: Answer = Answer::Limited(Some(Duration::from_secs(1)));

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    /// `n` accepted requests sent `gap` apart from `at`, answered at once, taking no slot.
    fn accepted(t: &Throttle, at: Instant, n: u64, gap: Duration) {
        for i in 0..n {
            let sent = at + gap * u32::try_from(i).unwrap();
            t.on_answer(sent, OK, sent + ms(1));
        }
    }

    /// Callers that always have a request waiting, for `secs` from `at` (or until the throttle
    /// switches off): each takes the next slot when it comes, and its request is accepted at
    /// once. Returns the end time.
    fn held_back(t: &Throttle, at: Instant, secs: u64) -> Instant {
        let end = at + Duration::from_secs(secs);
        let mut now = at;
        while now < end && t.rate().is_some() {
            match t.take(now) {
                Ok(()) => t.on_answer(now, OK, now),
                Err(wait) => now += wait,
            }
        }
        end
    }

    #[test]
    fn off_until_first_429() {
        let t = Throttle::new();
        let t0 = Instant::now();
        for i in 0..100 {
            t.on_answer(t0 + ms(i), OK, t0 + ms(i + 1));
            assert_eq!(t.take(t0 + ms(i)), Ok(()));
        }
        assert_eq!(t.rate(), None);
    }

    #[test]
    fn first_429_sets_rate_from_what_was_accepted_in_the_last_second() {
        let t = Throttle::new();
        let t0 = Instant::now();
        // 30 accepted long before (outside the second), then 20 in 500 ms.
        accepted(&t, t0, 30, ms(1));
        let base = t0 + ms(5_000);
        accepted(&t, base, 20, ms(25));
        let now = base + ms(520);
        t.on_answer(now - ms(5), LIMITED, now);
        let rate = t.rate().unwrap();
        assert!(close(rate, 20.0 * ACCEPTED_SHARE), "{rate}");
    }

    #[test]
    fn late_answers_of_the_refused_burst_count_too() {
        // Ten requests accepted, one refused, all sent together; the 429 is answered first.
        let t = Throttle::new();
        let t0 = Instant::now();
        t.on_answer(t0 + ms(1), ONE_SECOND, t0 + ms(50));
        assert_eq!(t.rate(), Some(MIN_RATE), "nothing counted yet");
        for i in 0..10 {
            t.on_answer(t0 + ms(2), OK, t0 + ms(51 + i));
        }
        let rate = t.rate().unwrap();
        assert!(close(rate, 10.0 * ACCEPTED_SHARE), "{rate}");
        // An answer for a request sent after the refusal is not a recount.
        t.on_answer(t0 + ms(100), OK, t0 + ms(150));
        assert!(close(t.rate().unwrap(), rate));
    }

    #[test]
    fn a_slow_answer_out_of_order_does_not_hide_the_others() {
        let t = Throttle::new();
        let t0 = Instant::now();
        accepted(&t, t0 + ms(5_000), 10, ms(50));
        // A request sent long ago is answered now, just before a refusal.
        t.on_answer(t0, OK, t0 + ms(5_600));
        t.on_answer(t0 + ms(5_550), LIMITED, t0 + ms(5_600));
        let rate = t.rate().unwrap();
        assert!(close(rate, 10.0 * ACCEPTED_SHARE), "{rate}");
    }

    #[test]
    fn a_burst_of_429s_decreases_once_and_a_paced_refusal_marks_the_ceiling() {
        let t = Throttle::new();
        let t0 = Instant::now();
        accepted(&t, t0, 20, ms(10));
        let now = t0 + ms(300);
        // Ten callers all sent before the first 429 arrived.
        for k in 0..10 {
            t.on_answer(t0 + ms(250 + k), LIMITED, now + ms(k));
        }
        let r0 = t.rate().unwrap();
        assert!(close(r0, 20.0 * ACCEPTED_SHARE), "{r0}");
        assert_eq!(t.lock().ceiling, None);
        // A 429 for a request sent after the decrease lowers the rate again, by 5 % at least,
        // and what went through in the last second is the ceiling.
        t.on_answer(now + ms(50), LIMITED, now + ms(60));
        let r = t.rate().unwrap();
        assert!(r <= r0 * DECREASE + 1e-9, "{r}");
        assert_eq!(t.lock().ceiling, Some(20.0));
    }

    #[test]
    fn a_paced_refusal_trusts_three_seconds_over_one() {
        // 10 requests a second for three seconds, of which the last second held only 9.
        let t = Throttle::new();
        let t0 = Instant::now();
        accepted(&t, t0, 1, ms(1));
        t.on_answer(t0, LIMITED, t0 + ms(1));
        accepted(&t, t0 + ms(10), 21, ms(100));
        accepted(&t, t0 + ms(2_120), 9, ms(100));
        let now = t0 + ms(3_005);
        t.lock().rate = Some(11.0);
        t.on_answer(now - ms(50), LIMITED, now);
        let ceiling = t.lock().ceiling.unwrap();
        assert!(close(ceiling, 10.0), "{ceiling}");
        assert!(close(t.rate().unwrap(), 10.0 * ACCEPTED_SHARE));
    }

    #[test]
    fn floor_when_nothing_was_accepted() {
        let t = Throttle::new();
        let t0 = Instant::now();
        t.on_answer(t0, LIMITED, t0 + ms(1));
        assert_eq!(t.rate(), Some(MIN_RATE));
    }

    #[test]
    fn slots_come_one_over_rate_apart_and_a_lower_rate_holds_back_waiting_callers_at_once() {
        let t = Throttle::new();
        let t0 = Instant::now();
        accepted(&t, t0, 10, ms(1));
        let now = t0 + ms(20);
        t.on_answer(t0 + ms(15), LIMITED, now);
        let rate = 10.0 * ACCEPTED_SHARE;
        let gap = Duration::from_secs_f64(1.0 / rate);
        assert_eq!(t.take(now), Ok(()));
        let wait = t.take(now).unwrap_err();
        assert!(
            (wait.as_secs_f64() - gap.as_secs_f64()).abs() < 1e-6,
            "{wait:?}"
        );
        assert_eq!(t.take(now + wait), Ok(()));
        // A caller told to wait comes back after a decrease: it waits longer (nothing was
        // reserved for it at the old rate).
        let told = t.take(now + wait).unwrap_err();
        t.lock().rate = Some(rate / 4.0);
        let back = now + wait + told;
        assert_eq!(
            t.take(back),
            Ok(()),
            "the slot given out before the decrease"
        );
        let longer = t.take(back).unwrap_err();
        assert!(longer > told * 3, "{longer:?} after {told:?}");
        // Once time has passed the last slot, the next one is immediate again.
        assert_eq!(t.take(back + Duration::from_secs(5)), Ok(()));
    }

    #[test]
    fn no_growth_while_callers_are_slower_than_the_pace() {
        let t = Throttle::new();
        let t0 = Instant::now();
        accepted(&t, t0, 10, ms(1));
        t.on_answer(t0 + ms(5), LIMITED, t0 + ms(10));
        let r0 = t.rate().unwrap();
        // Three requests a second against a pace of ten: nobody waits, nothing is learnt.
        for i in 0..30 {
            let at = t0 + ms(2_000 + 333 * i);
            assert_eq!(t.take(at), Ok(()));
            t.on_answer(at, OK, at + ms(50));
        }
        assert!(close(t.rate().unwrap(), r0));
    }

    #[test]
    fn growth_is_fast_until_a_paced_refusal_and_slow_near_the_ceiling() {
        let t = Throttle::new();
        let t0 = Instant::now();
        accepted(&t, t0, 6, ms(1));
        t.on_answer(t0 + ms(10), LIMITED, t0 + ms(11));
        let r0 = t.rate().unwrap();
        // Discovering: about 30 % in a second of held-back traffic.
        let mut at = held_back(&t, t0 + ms(2_000), 1);
        let r1 = t.rate().unwrap();
        assert!((1.25..=1.35).contains(&(r1 / r0)), "{r0} -> {r1}");
        // Refused while paced: the ceiling is what went through, the rate just under it.
        t.on_answer(at - ms(10), LIMITED, at);
        let ceiling = t.lock().ceiling.unwrap();
        let r2 = t.rate().unwrap();
        assert!(r2 <= ceiling * ACCEPTED_SHARE + 1e-9 && r2 <= r1 * DECREASE + 1e-9);
        // Far below the ceiling (say the rate was lowered again): fast back to 95 % of it...
        t.lock().rate = Some(ceiling / 2.0);
        at = held_back(&t, at, 4);
        let r3 = t.rate().unwrap();
        assert!(
            close(r3.min(NEAR_CEILING * ceiling), NEAR_CEILING * ceiling),
            "{r3}"
        );
        // ...then slowly: half a percent a second, at least 0.02 request/s.
        held_back(&t, at, 10);
        let r4 = t.rate().unwrap();
        assert!(
            r4 > r3 && r4 < r3 * 1.06,
            "slow near the ceiling: {r3} -> {r4}"
        );
    }

    #[test]
    fn growth_is_unbounded_and_switches_off_eventually() {
        let t = Throttle::new();
        let t0 = Instant::now();
        t.on_answer(t0, LIMITED, t0 + ms(1));
        held_back(&t, t0 + ms(1_000), 120);
        assert_eq!(t.rate(), None, "switched off");
    }

    #[test]
    fn a_one_second_retry_after_guards_the_rate_without_pausing_everyone() {
        let t = Throttle::new();
        let t0 = Instant::now();
        accepted(&t, t0, 20, ms(1));
        let now = t0 + ms(30);
        t.on_answer(t0 + ms(25), ONE_SECOND, now);
        let r = t.rate().unwrap();
        assert!(close(r, 20.0 * ACCEPTED_SHARE), "{r}");
        // The server's window closes within the second: paced requests go on at once.
        assert_eq!(t.take(now), Ok(()));
        // Refusals for requests sent in that second do not lower the rate again...
        t.on_answer(now + ms(10), ONE_SECOND, now + ms(20));
        t.on_answer(now + ms(900), ONE_SECOND, now + ms(950));
        assert!(close(t.rate().unwrap(), r));
        // ...and after it, a refusal is news again.
        let later = now + ms(1_500);
        t.on_answer(later, LIMITED, later + ms(5));
        assert!(t.rate().unwrap() <= r * DECREASE + 1e-9);
    }

    #[test]
    fn a_longer_retry_after_pauses_every_caller_and_guards_the_rate() {
        let t = Throttle::new();
        let t0 = Instant::now();
        accepted(&t, t0, 20, ms(1));
        let now = t0 + ms(30);
        let five = Answer::Limited(Some(Duration::from_secs(5)));
        t.on_answer(t0 + ms(25), five, now);
        let r = t.rate().unwrap();
        // Nobody is sent before the server's window reopens.
        assert_eq!(t.take(now), Err(Duration::from_secs(5)));
        // A request sent during the pause that is refused does not lower the rate a second
        // time, but it does extend the pause.
        t.on_answer(now + ms(10), five, now + ms(20));
        assert!(close(t.rate().unwrap(), r));
        assert!(t.take(now + ms(20)).unwrap_err() >= Duration::from_secs(5));
        // After the pause, a refusal is news again.
        let later = now + ms(5_500);
        t.on_answer(later, LIMITED, later + ms(5));
        assert!(t.rate().unwrap() <= r * DECREASE + 1e-9);
    }

    #[test]
    fn pause_is_bounded() {
        let t = Throttle::new();
        let t0 = Instant::now();
        t.on_answer(t0, Answer::Limited(Some(Duration::from_secs(3_600))), t0);
        assert_eq!(t.take(t0), Err(MAX_PAUSE));
    }
}
