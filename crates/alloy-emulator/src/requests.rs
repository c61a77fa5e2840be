//! The request log behind `GET /_emulator/requests`.
//!
//! Tests of the client and the provider assert how many API calls were made, with which
//! outcome and when (e.g. that a client waited for `Retry-After` before retrying). Counters are
//! kept exactly; the per-request entries are bounded (the oldest are dropped past
//! [`LOG_CAPACITY`]) so a long benchmark cannot exhaust memory. Routes are the matched
//! templates with the version prefix removed (`GET /users/{id}`), so both URL styles count as
//! the same route.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use super::lock;

/// How many entries `log` keeps.
pub const LOG_CAPACITY: usize = 100_000;

/// How the API version of a request was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum VersionSource {
    /// A `/{YYYY-MM}/...` path segment.
    Path,
    /// The `x-api-version` header.
    Header,
    /// Neither: the current version was assumed.
    Default,
}

/// One API request as the log keeps it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Entry {
    pub at_ms: u64,
    pub method: String,
    /// The matched route template, or `(unmatched)`.
    pub route: String,
    /// The request path with any version segment removed.
    pub path: String,
    pub status: u16,
    /// `development`, `production`, or null when the request was not authenticated.
    pub environment: Option<&'static str>,
    pub api_version: String,
    pub versioned_by: VersionSource,
    /// True when the response was deliberately dropped (the client saw no answer).
    pub lost: bool,
    /// True when a successful answer was replaced by a malformed one (`bad_answer` fault).
    pub bad_answer: bool,
}

#[derive(Default, Serialize)]
struct Counters {
    total: u64,
    lost_responses: u64,
    bad_answers: u64,
    by_route: BTreeMap<String, u64>,
    by_status: BTreeMap<u16, u64>,
}

#[derive(Default)]
pub(crate) struct RequestLog {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    counters: Counters,
    entries: VecDeque<Entry>,
}

impl RequestLog {
    pub(crate) fn record(&self, entry: Entry) {
        let key = format!("{} {}", entry.method, entry.route);
        let mut inner = lock(&self.inner);
        let c = &mut inner.counters;
        c.total += 1;
        c.lost_responses += u64::from(entry.lost);
        c.bad_answers += u64::from(entry.bad_answer);
        *c.by_route.entry(key).or_default() += 1;
        *c.by_status.entry(entry.status).or_default() += 1;
        if inner.entries.len() == LOG_CAPACITY {
            inner.entries.pop_front();
        }
        inner.entries.push_back(entry);
    }

    pub(crate) fn clear(&self) {
        *lock(&self.inner) = Inner::default();
    }

    /// The admin view: `{"total", "lost_responses", "bad_answers", "by_route", "by_status", "log"}`, with only
    /// the last `tail` entries in `log` when given (a full log can be megabytes).
    pub(crate) fn to_json(&self, tail: Option<usize>) -> serde_json::Result<Vec<u8>> {
        #[derive(Serialize)]
        struct View<'a> {
            total: u64,
            lost_responses: u64,
            bad_answers: u64,
            by_route: &'a BTreeMap<String, u64>,
            by_status: BTreeMap<String, u64>,
            log: Vec<&'a Entry>,
        }
        let inner = lock(&self.inner);
        let c = &inner.counters;
        let skip = tail.map_or(0, |n| inner.entries.len().saturating_sub(n));
        serde_json::to_vec(&View {
            total: c.total,
            lost_responses: c.lost_responses,
            bad_answers: c.bad_answers,
            by_route: &c.by_route,
            by_status: c
                .by_status
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            log: inner.entries.iter().skip(skip).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn entry(route: &str, status: u16) -> Entry {
        Entry {
            at_ms: 1,
            method: "GET".into(),
            route: route.into(),
            path: "/x".into(),
            status,
            environment: Some("development"),
            api_version: "2025-09".into(),
            versioned_by: VersionSource::Header,
            lost: false,
            bad_answer: false,
        }
    }

    #[test]
    fn counts_by_route_and_status() {
        let log = RequestLog::default();
        log.record(entry("/users", 200));
        log.record(entry("/users", 429));
        log.record(entry("/users/{id}", 200));
        let v: Value = serde_json::from_slice(&log.to_json(None).unwrap()).unwrap();
        assert_eq!(v["total"], 3);
        assert_eq!(v["by_route"]["GET /users"], 2);
        assert_eq!(v["by_route"]["GET /users/{id}"], 1);
        assert_eq!(v["by_status"]["200"], 2);
        assert_eq!(v["by_status"]["429"], 1);
        assert_eq!(v["log"][1]["status"], 429);
        assert_eq!(v["log"][1]["versioned_by"], "header");
        let v: Value = serde_json::from_slice(&log.to_json(Some(1)).unwrap()).unwrap();
        assert_eq!(v["total"], 3);
        assert_eq!(v["log"].as_array().unwrap().len(), 1);
        assert_eq!(v["log"][0]["route"], "/users/{id}");
        let v: Value = serde_json::from_slice(&log.to_json(Some(0)).unwrap()).unwrap();
        assert_eq!(v["log"], serde_json::json!([]));
        log.clear();
        let v: Value = serde_json::from_slice(&log.to_json(None).unwrap()).unwrap();
        assert_eq!(v["total"], 0);
    }

    #[test]
    fn entries_are_bounded_but_counters_are_exact() {
        let log = RequestLog::default();
        for _ in 0..LOG_CAPACITY + 10 {
            log.record(entry("/users", 200));
        }
        assert_eq!(lock(&log.inner).entries.len(), LOG_CAPACITY);
        assert_eq!(lock(&log.inner).counters.total, LOG_CAPACITY as u64 + 10);
    }
}
