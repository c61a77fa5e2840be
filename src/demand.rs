//! When a list pays: the rule the user and workflow snapshots share.
//!
//! Reads are counted in the order they are asked for, and only those that what the process
//! already knows cannot answer:
//! - the first [`PER_ITEM_READS`] reads are answered one by one;
//! - the next one waits up to [`DEMAND_WINDOW`] for another read to be asked for. If one comes
//!   (a refresh of many instances: Terraform sends up to ten at once), the whole list is fetched
//!   and answers both; if none comes, it is read one by one too, so three instances never cost a
//!   list;
//! - every later read, and every read once the list has been asked for (by a data source, say),
//!   is answered from the list.
//!
//! So N instances cost N calls for N ≤ 3 and at most 3 + 1 beyond, never more than N + 1.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Reads that are always answered one by one.
pub(crate) const PER_ITEM_READS: usize = 2;

/// How long the read after those waits for a sign that more reads are coming.
pub(crate) const DEMAND_WINDOW: Duration = Duration::from_millis(250);

/// How one read is served.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Strategy {
    /// One request for this item: one of the first reads.
    One,
    /// One request for this item: the read after the first waited, and no other came (so the
    /// whole run reads one by one; worth a log line).
    Few,
    /// From the list.
    List,
}

impl Strategy {
    /// Whether the list answers.
    pub(crate) fn listed(self) -> bool {
        self == Strategy::List
    }
}

/// The demand for one list: see the module documentation.
#[derive(Default)]
pub(crate) struct Demand {
    /// Reads asked for that what was known could not answer.
    requested: AtomicUsize,
    /// Set once the list has been asked for.
    listing: AtomicBool,
    /// Wakes the read waiting in the demand window.
    more: Notify,
}

impl Demand {
    /// Decides how the read being asked for is served.
    pub(crate) async fn strategy(&self) -> Strategy {
        if self.listing.load(Ordering::SeqCst) {
            return Strategy::List;
        }
        let n = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= PER_ITEM_READS {
            return Strategy::One;
        }
        if n > PER_ITEM_READS + 1 {
            return Strategy::List;
        }
        // The read after the one-by-one ones: is anyone else coming?
        let more = self.more.notified();
        tokio::pin!(more);
        more.as_mut().enable();
        let busy =
            || self.requested.load(Ordering::SeqCst) > n || self.listing.load(Ordering::SeqCst);
        if !busy() {
            let _ = tokio::time::timeout(DEMAND_WINDOW, more).await;
        }
        if busy() {
            Strategy::List
        } else {
            Strategy::Few
        }
    }

    /// The list is being asked for (by a read or a data source): from now on every read is
    /// served from it, and the read waiting in the window stops waiting.
    pub(crate) fn listing(&self) {
        if !self.listing.swap(true, Ordering::SeqCst) {
            self.more.notify_waiters();
        }
    }

    /// Reads counted so far (for log lines).
    pub(crate) fn requested(&self) -> usize {
        self.requested.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn three_lone_reads_are_one_by_one() {
        let d = Demand::default();
        assert_eq!(d.strategy().await, Strategy::One);
        assert_eq!(d.strategy().await, Strategy::One);
        assert_eq!(d.strategy().await, Strategy::Few);
        // A fourth is past the window's read: the list pays now.
        assert_eq!(d.strategy().await, Strategy::List);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_during_the_window_turns_both_to_the_list() {
        let d = Arc::new(Demand::default());
        assert_eq!(d.strategy().await, Strategy::One);
        assert_eq!(d.strategy().await, Strategy::One);
        let waiting = tokio::spawn({
            let d = d.clone();
            async move { d.strategy().await }
        });
        // Let the third read enter its window, then ask for a fourth.
        tokio::task::yield_now().await;
        assert_eq!(d.strategy().await, Strategy::List);
        d.listing();
        assert_eq!(waiting.await.ok(), Some(Strategy::List));
    }

    #[tokio::test(start_paused = true)]
    async fn once_listing_every_read_uses_the_list() {
        let d = Demand::default();
        d.listing();
        assert_eq!(d.strategy().await, Strategy::List);
        assert_eq!(d.requested(), 0);
    }
}
