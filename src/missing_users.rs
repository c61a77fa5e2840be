//! The guard against mass disappearance: users that vanish together are a wrong key, not drift.
//!
//! A refresh that cannot find a user reports it deleted outside Terraform and drops it from
//! state, so the next apply re-creates it. That is right for a few users deleted out of band. It
//! is a disaster when *every* user is missing because the key belongs to the other environment
//! or another Alloy account: an auto-applying pipeline would re-create every tenant in the wrong
//! place, and record it as the right one. So this process counts the `alloy_user` reads that
//! found their user and those that did not, and when the missing ones look like a mass
//! disappearance it fails them all with one explanation and removes nothing from state.
//!
//! # The rule (also in the provider's documentation)
//! The guard trips when, among the users this run has read,
//! - at least [`MIN_MISSING`] are missing and none was found, or
//! - at least [`MASS_MISSING`] are missing and they are more than [`MASS_SHARE_PERCENT`] % of
//!   those read.
//!
//! A missing user is held back while the first rule could still trip (nothing found yet, fewer
//! than [`MIN_MISSING`] missing) until another read settles it or [`QUIET`] passes with no other
//! read under way; so the warnings of genuine drift and the error of a wrong key are never mixed
//! in one run. Once tripped, every missing user of the run fails, and so does any read that the
//! list of users cannot answer (no further API call is worth making). A run that trips fails, so
//! Terraform saves nothing it refreshed: even a user released as deleted before the trip stays in
//! state.
//!
//! Accepting a real mass deletion is explicit: `accept_missing_users` (or its variable) lets every
//! missing user go, protected or not.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::AlloyData;
use super::repeats::Cause;
use terraform_plugin::framework::Diagnostics;

/// Missing users, with none found, that trip the guard.
pub(crate) const MIN_MISSING: usize = 3;
/// Missing users that trip the guard when they are also more than [`MASS_SHARE_PERCENT`] % of
/// the users read.
pub(crate) const MASS_MISSING: usize = 10;
/// See [`MASS_MISSING`].
pub(crate) const MASS_SHARE_PERCENT: usize = 10;
/// How long a held-back missing user waits, with no other read under way, for more evidence.
pub(crate) const QUIET: Duration = Duration::from_secs(1);

/// What happens to one missing user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ruling {
    /// Deleted outside Terraform: warn and drop it from state (or refuse, if protected).
    Gone,
    /// The guard tripped: fail, keep the state.
    Tripped,
    /// The guard is off for this run: drop it from state, protected or not.
    Accepted,
}

/// What the reads of this run found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub found: usize,
    pub missing: usize,
    /// Reads begun and not yet ended (held-back missing users included).
    in_flight: usize,
    /// Missing users held back, waiting for evidence.
    held: usize,
    pub tripped: bool,
}

impl Tally {
    fn trips(&self) -> bool {
        let read = self.found + self.missing;
        (self.missing >= MIN_MISSING && self.found == 0)
            || (self.missing >= MASS_MISSING && self.missing * 100 > read * MASS_SHARE_PERCENT)
    }
}

/// The guard of one provider process. See the module documentation.
pub(crate) struct MissingUsers {
    accept: bool,
    tally: Mutex<(Tally, Instant)>,
    changed: Notify,
}

/// One read under way; ends when dropped.
pub(crate) struct Reading<'a>(&'a MissingUsers);

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0
            .update(|t| t.in_flight = t.in_flight.saturating_sub(1));
    }
}

impl MissingUsers {
    pub fn new(accept: bool) -> Self {
        MissingUsers {
            accept,
            tally: Mutex::new((Tally::default(), Instant::now())),
            changed: Notify::new(),
        }
    }

    /// What this run's reads found so far.
    pub fn tally(&self) -> Tally {
        self.lock().0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Tally, Instant)> {
        super::lock(&self.tally)
    }

    /// Changes the tally, marks activity and wakes the held-back reads to look again.
    fn update<T>(&self, change: impl FnOnce(&mut Tally) -> T) -> T {
        let out = {
            let mut g = self.lock();
            g.1 = Instant::now();
            change(&mut g.0)
        };
        self.changed.notify_waiters();
        out
    }

    /// A read of a user begins.
    pub fn reading(&self) -> Reading<'_> {
        self.update(|t| t.in_flight += 1);
        Reading(self)
    }

    /// A read found its user.
    pub fn found(&self) {
        self.update(|t| t.found += 1);
    }

    /// A read found its user missing (confirmed by the API): what to do with it.
    pub async fn missing(&self) -> Ruling {
        if self.accept {
            self.update(|t| t.missing += 1);
            return Ruling::Accepted;
        }
        let mut held = false;
        let ruling = loop {
            let more = self.changed.notified();
            tokio::pin!(more);
            more.as_mut().enable();
            let wait = {
                let mut g = self.lock();
                let (t, last) = &mut *g;
                if !held {
                    t.missing += 1;
                    t.held += 1;
                    held = true;
                    *last = Instant::now();
                }
                if t.tripped || t.trips() {
                    t.tripped = true;
                    break Ruling::Tripped;
                }
                if t.found > 0 {
                    break Ruling::Gone;
                }
                // Nothing found yet and too few missing to tell: wait for another read, unless
                // none is under way and none has begun or ended for a while.
                let others = t.in_flight > t.held;
                let quiet_for = last.elapsed();
                if !others && quiet_for >= QUIET {
                    break Ruling::Gone;
                }
                if others { QUIET } else { QUIET - quiet_for }
            };
            let _ = tokio::time::timeout(wait, more).await;
        };
        self.update(|t| t.held = t.held.saturating_sub(1));
        ruling
    }
}

/// One user that Terraform's state holds: what the messages name.
pub(crate) struct StateUser<'a> {
    pub username: &'a str,
    pub id: &'a str,
    pub protected: bool,
}

const TRIPPED: &str = "Alloy users missing en masse";
const PROTECTED: &str = "Protected Alloy user missing";

/// Rules on a user the API says is missing. `true`: drop it from state (a warning says so);
/// `false`: keep it (an error says why).
pub(crate) async fn settle(
    data: &AlloyData,
    user: &StateUser<'_>,
    diags: &mut Diagnostics,
) -> bool {
    match data.missing.missing().await {
        Ruling::Tripped => {
            tripped(data, "Missing too, kept in state", diags);
            false
        }
        Ruling::Gone if user.protected => {
            let (u, id, env) = (user.username, user.id, data.environment.as_str());
            data.explained.error(
                diags,
                Cause::ProtectedMissing,
                None,
                PROTECTED,
                || {
                    format!(
                        "The user {u:?} (id {id}) has `deletion_protection = true` but no longer exists in \
                         the {env} environment. A protected user is never dropped from state silently, so \
                         it stays in state and this plan stops.\n\nIf it was deleted on purpose, remove it \
                         from state (`terraform state rm` with the address shown above, or a `removed` block \
                         with `destroy = false`), or run once with ALLOY_ACCEPT_MISSING_USERS=true. If not, \
                         check the API key (it came from {source}) and the provider's `environment`.",
                        source = data.key_source,
                    )
                },
                "Protected and missing, kept in state",
            );
            false
        }
        Ruling::Gone | Ruling::Accepted => {
            diags.warning(
                "Alloy user deleted outside Terraform",
                format!(
                    "The user {:?} (id {}) no longer exists in the {} environment: it was deleted outside \
                     Terraform, and has been removed from state. If the configuration still declares it, \
                     the next apply creates it again; a configuration that builds its users from the \
                     `alloy_users` data source drops it instead.",
                    user.username,
                    user.id,
                    data.environment.as_str(),
                ),
            );
            true
        }
    }
}

/// The guard has tripped: this user fails and stays in state; `what` says so in a few words.
pub(crate) fn tripped(data: &AlloyData, what: &str, diags: &mut Diagnostics) {
    data.explained.error(
        diags,
        Cause::UsersMissing,
        None,
        TRIPPED,
        || tripped_detail(data),
        what,
    );
}

fn tripped_detail(data: &AlloyData) -> String {
    let t = data.missing.tally();
    let env = data.environment.as_str();
    let listed = match data.users.listed() {
        Some(n) if t.found == 0 => {
            format!(", whose list of users holds {n} other users and none of these")
        }
        Some(n) => format!(", whose list of users holds {n}"),
        None => String::new(),
    };
    format!(
        "{missing} of the {read} Alloy users this run has read so far are missing from the {env} \
         environment{listed}. Users rarely disappear together: most likely the API key belongs to the \
         other environment or to another Alloy account (the key in use came from {source}). Nothing \
         has been removed from state, and this plan stops here.\n\nCheck the key and the provider's \
         `environment`, then plan again. If these users really were deleted outside Terraform, accept \
         it for one run with ALLOY_ACCEPT_MISSING_USERS=true (or `accept_missing_users = true` in the \
         provider block): the missing users are then removed from state, protected or not, and the \
         next apply re-creates those the configuration still declares. The guard trips when at least \
         {MIN_MISSING} users are missing and none was found, or when at least {MASS_MISSING} are \
         missing and they are more than {MASS_SHARE_PERCENT}% of the users read.",
        missing = t.missing,
        read = t.found + t.missing,
        source = data.key_source,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tally(found: usize, missing: usize) -> Tally {
        Tally {
            found,
            missing,
            ..Tally::default()
        }
    }

    #[test]
    fn the_rule() {
        // None found: three missing trip, two do not.
        assert!(tally(0, 3).trips());
        assert!(!tally(0, 2).trips());
        // Genuine drift: 3 of 300, or 9 of 20, never trips.
        assert!(!tally(297, 3).trips());
        assert!(!tally(11, 9).trips());
        // Ten or more missing, more than a tenth of those read.
        assert!(tally(80, 10).trips());
        assert!(!tally(90, 10).trips(), "exactly a tenth is not more");
        assert!(!tally(1990, 10).trips());
    }

    #[test]
    fn the_guide_states_the_rule_the_code_applies() {
        let guide = include_str!("../docs/guides/environments.md");
        for rule in [
            format!("at least {MIN_MISSING} are missing and none was found"),
            format!(
                "at least {MASS_MISSING} are missing and they are more than {MASS_SHARE_PERCENT}% of \
                 the users read"
            ),
        ] {
            let flat = guide.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                flat.contains(&rule),
                "docs/guides/environments.md must say: {rule}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_missing_user_is_gone_after_a_quiet_second() {
        let guard = MissingUsers::new(false);
        let read = guard.reading();
        let started = Instant::now();
        assert_eq!(guard.missing().await, Ruling::Gone);
        drop(read);
        assert_eq!(
            started.elapsed(),
            QUIET,
            "held back exactly the quiet window"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_found_user_releases_the_held_ones_as_drift() {
        let guard = Arc::new(MissingUsers::new(false));
        let held = {
            let g = guard.clone();
            tokio::spawn(async move {
                let _r = g.reading();
                g.missing().await
            })
        };
        let other = guard.reading();
        while guard.tally().held == 0 {
            tokio::task::yield_now().await;
        }
        guard.found();
        drop(other);
        assert_eq!(held.await.unwrap(), Ruling::Gone);
        assert!(!guard.tally().tripped);
    }

    #[tokio::test(start_paused = true)]
    async fn three_missing_and_none_found_trip_all_of_them() {
        let guard = Arc::new(MissingUsers::new(false));
        let reads: Vec<_> = (0..3)
            .map(|_| {
                let g = guard.clone();
                tokio::spawn(async move {
                    let _r = g.reading();
                    g.missing().await
                })
            })
            .collect();
        for r in reads {
            assert_eq!(r.await.unwrap(), Ruling::Tripped);
        }
        // Once tripped, a missing user fails even after users are found.
        guard.found();
        assert_eq!(guard.missing().await, Ruling::Tripped);
        let t = guard.tally();
        assert_eq!((t.found, t.missing, t.tripped), (1, 4, true));
    }

    #[tokio::test(start_paused = true)]
    async fn accepting_lets_every_missing_user_go_at_once() {
        let guard = MissingUsers::new(true);
        for _ in 0..5 {
            assert_eq!(guard.missing().await, Ruling::Accepted);
        }
        assert!(!guard.tally().tripped);
    }
}
