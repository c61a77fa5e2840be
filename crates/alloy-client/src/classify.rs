//! Answer classification: what an attempt's outcome (a status and body, or a transport error)
//! means for the operation — done, worth another attempt (and whether the request may have
//! taken effect), or a failure with its [`Error`] — and how success bodies are decoded.
//!
//! Secrets: messages echoed from the API are scrubbed of the key and bounded; a secret answer
//! (a user token) is never quoted, and no body is ever logged.

use std::error::Error as _;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::attempt::{Call, Failure, Outcome, Reply};
use super::client::AlloyClient;
use super::error::Error;
use super::model;

/// Longest API message kept in an error (an HTML error page is not a message).
pub(super) const MAX_MESSAGE_CHARS: usize = 300;

/// What the retry loop should do with an attempt's outcome.
pub(super) enum Step {
    Done(Reply),
    /// Worth another attempt; `error` is what to report if no attempt is left.
    Retry {
        error: Error,
        retry_after: Option<Duration>,
        /// The request may have taken effect (5xx, lost answer, timeout).
        ambiguous: bool,
    },
    Fail(Error),
}

impl Step {
    /// The error this step ends the operation with, if it does.
    pub(super) fn failure(&self) -> Option<&Error> {
        match self {
            Step::Fail(e) => Some(e),
            _ => None,
        }
    }
}

impl AlloyClient {
    /// Maps an outcome to the retry loop's next step.
    pub(super) fn step(&self, call: &Call, outcome: Outcome, attempts: u32) -> Step {
        let op = call.op;
        match outcome {
            Outcome::Failed(Failure {
                detail,
                maybe_sent,
                retryable,
                unreachable,
            }) => {
                let error = Error::Transport {
                    op,
                    detail,
                    attempts,
                    unreachable,
                };
                if retryable {
                    Step::Retry {
                        error,
                        retry_after: None,
                        ambiguous: maybe_sent,
                    }
                } else {
                    Step::Fail(error)
                }
            }
            Outcome::Reply(reply) if reply.status.is_success() => Step::Done(reply),
            Outcome::Reply(reply) => {
                let status = reply.status.as_u16();
                let message = if reply.status.is_redirection() {
                    reply
                        .location
                        .as_deref()
                        .map(|l| format!("redirected to {l}; set base_url to the final address"))
                } else {
                    model::error_message(&reply.body)
                }
                .map(|m| self.scrub(&m));
                match status {
                    429 => Step::Retry {
                        error: Error::RateLimited {
                            op,
                            message,
                            attempts,
                        },
                        retry_after: reply.retry_after,
                        ambiguous: false,
                    },
                    500..=599 => Step::Retry {
                        error: Error::Server {
                            op,
                            status,
                            message,
                            attempts,
                        },
                        retry_after: if status == 503 {
                            reply.retry_after
                        } else {
                            None
                        },
                        ambiguous: true,
                    },
                    401 | 403 => Step::Fail(Error::Unauthorized {
                        op,
                        status,
                        message,
                    }),
                    // Only the API's own 404 (a JSON body) says "no such user": a web page from a
                    // proxy or another server must not make the provider drop users from state.
                    404 if is_json_object(&reply.body) => {
                        Step::Fail(Error::NotFound { op, message })
                    }
                    404 => Step::Fail(Error::Decode {
                        op,
                        status,
                        detail: format!(
                            "not the API's JSON error but {}; the base URL may be wrong",
                            describe_body(&reply)
                        ),
                    }),
                    422 if call.unprocessable_422 => {
                        Step::Fail(Error::Unprocessable { op, message })
                    }
                    409 | 422 => Step::Fail(Error::Conflict {
                        op,
                        status,
                        message,
                    }),
                    _ => Step::Fail(Error::Api {
                        op,
                        status,
                        message,
                    }),
                }
            }
        }
    }

    /// Removes the API key from text echoed by the server and bounds its length.
    fn scrub(&self, message: &str) -> String {
        let key = self.inner.key.expose();
        // Also every secret the process registered (credential data values, tokens): an API
        // that echoes a rejected value back must not carry it into an error.
        let cleaned = secrets::redact(&message.replace(key, "<redacted>")).into_owned();
        let mut out: String = cleaned
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_MESSAGE_CHARS)
            .collect();
        if cleaned.chars().count() > MAX_MESSAGE_CHARS {
            out.push('…');
        }
        out.trim().to_owned()
    }
}

impl Failure {
    /// Describes a request that got no complete answer, and whether it may have been acted on.
    pub(super) fn of(e: &reqwest::Error, request_timeout: Duration) -> Failure {
        let (maybe_sent, retryable) = classify_transport(e);
        let detail = if e.is_timeout() && !e.is_connect() {
            format!(
                "no answer within {} s (request timeout)",
                request_timeout.as_secs_f64()
            )
        } else {
            chain(e)
        };
        Failure {
            detail,
            maybe_sent,
            retryable,
            // Refused, unresolvable, out of reach or failing verification: not this request's
            // problem but every request's.
            unreachable: e.is_connect() || is_tls_failure(e),
        }
    }
}

/// Decodes a success body, naming the operation and never quoting a secret answer.
pub(super) fn decode<T: DeserializeOwned>(call: &Call, reply: &Reply) -> Result<T, Error> {
    let fail = |detail: String| Error::Decode {
        op: call.op,
        status: reply.status.as_u16(),
        detail,
    };
    if reply.body.iter().all(u8::is_ascii_whitespace) {
        return Err(fail("the body is empty".to_owned()));
    }
    serde_json::from_slice(&reply.body).map_err(|e| {
        let is_json = reply
            .content_type
            .as_deref()
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        let looks_like_json = reply
            .body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| matches!(b, b'{' | b'['));
        if !is_json && !looks_like_json {
            let ct = reply.content_type.as_deref().unwrap_or("no content type");
            fail(format!("expected JSON, got {ct}"))
        } else if call.secret_answer {
            fail("the JSON is not the documented shape".to_owned())
        } else {
            let mut detail = e.to_string();
            detail.truncate(200);
            fail(format!("unexpected JSON: {detail}"))
        }
    })
}

/// A decoded body's identifier `field` must not be empty.
pub(super) fn check_id(call: &Call, reply: &Reply, id: &str, field: &str) -> Result<(), Error> {
    if id.trim().is_empty() {
        return Err(Error::Decode {
            op: call.op,
            status: reply.status.as_u16(),
            detail: format!("\"{field}\" is empty"),
        });
    }
    Ok(())
}

/// Whether a body is a JSON object, as every answer of the API is.
fn is_json_object(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.is_object())
}

/// A short description of a body that is not what the API sends, for error messages.
fn describe_body(reply: &Reply) -> String {
    if reply.body.iter().all(u8::is_ascii_whitespace) {
        "an empty body".to_owned()
    } else {
        match reply.content_type.as_deref() {
            Some(ct) => format!("a body of type {ct}"),
            None => "a body without content type".to_owned(),
        }
    }
}

/// `(maybe_sent, retryable)` for a request that got no complete answer.
fn classify_transport(e: &reqwest::Error) -> (bool, bool) {
    if is_tls_failure(e) {
        // A certificate problem does not fix itself by retrying.
        return (false, false);
    }
    if e.is_builder() {
        return (false, false);
    }
    if e.is_connect() {
        // No connection, so the request was never sent.
        return (false, true);
    }
    // Timeouts, resets and connections closed mid-answer: the server may have acted.
    (true, true)
}

fn is_tls_failure(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = source {
        if is_rustls(s) {
            return true;
        }
        source = s.source();
    }
    false
}

/// `io::Error::source` skips the error it wraps, so wrapped errors are unwrapped by hand
/// (hyper-util nests a rustls error two `io::Error`s deep).
fn is_rustls(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => is_rustls(inner),
        None => false,
    }
}

/// The error and its causes as one line, without repeating identical messages.
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last().is_none_or(|p| !p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::super::model::{TokenBody, User};
    use super::super::testkit::{KEY, client, get_call, reply};
    use super::*;

    fn step_err(c: &AlloyClient, status: u16, body: &str) -> (Error, bool) {
        match c.step(
            &get_call("get user"),
            Outcome::Reply(reply(status, body)),
            1,
        ) {
            Step::Fail(e) => (e, false),
            Step::Retry { error, .. } => (error, true),
            Step::Done(_) => panic!("{status} treated as success"),
        }
    }

    #[test]
    fn status_mapping() {
        let c = client("http://127.0.0.1:1");
        let (e, retry) = step_err(&c, 401, r#"{"message":"Unauthorized"}"#);
        assert!(e.is_unauthorized() && !retry);
        assert_eq!(e.api_message(), Some("Unauthorized"));
        let (e, retry) = step_err(&c, 403, "");
        assert!(e.is_unauthorized() && !retry && e.api_message().is_none());
        let (e, retry) = step_err(&c, 404, r#"{"message":"User not found"}"#);
        assert!(e.is_not_found() && !retry);
        assert_eq!(e.api_message(), Some("User not found"));
        let (e, retry) = step_err(&c, 422, r#"{"message":"Username bob already exists"}"#);
        assert!(e.is_conflict() && !retry);
        assert!(e.to_string().contains("Username bob already exists"));
        // On the workflow routes a 422 is a request that cannot be carried out, not a conflict.
        let call = get_call("upgrade workflow").unprocessable_on_422();
        let body = r#"{"message":"Workflow w1 version 3 changed its configurable fields"}"#;
        match c.step(&call, Outcome::Reply(reply(422, body)), 1) {
            Step::Fail(e) => {
                assert!(e.is_unprocessable() && !e.is_conflict(), "{e}");
                assert_eq!(
                    e.api_message(),
                    Some("Workflow w1 version 3 changed its configurable fields")
                );
                assert!(e.to_string().starts_with("upgrade workflow: "), "{e}");
            }
            _ => panic!("a 422 is final"),
        }
        let (e, retry) = step_err(&c, 409, "{}");
        assert!(e.is_conflict() && !retry);
        let (e, retry) = step_err(&c, 400, r#"{"message":"username is required"}"#);
        assert!(matches!(e, Error::Api { status: 400, .. }) && !retry);
        let (e, retry) = step_err(&c, 429, r#"{"message":"Rate limit exceeded"}"#);
        assert!(e.is_rate_limited() && retry);
        for s in [500, 502, 503, 504] {
            let (e, retry) = step_err(&c, s, "<html>oops</html>");
            assert!(matches!(e, Error::Server { status, .. } if status == s) && retry);
            assert_eq!(e.api_message(), None);
        }
    }

    #[test]
    fn server_errors_are_ambiguous_and_429_is_not() {
        let c = client("http://127.0.0.1:1");
        let call = get_call("create user");
        let mut r = reply(429, "{}");
        r.retry_after = Some(Duration::from_secs(2));
        match c.step(&call, Outcome::Reply(r), 1) {
            Step::Retry {
                ambiguous,
                retry_after,
                ..
            } => {
                assert!(!ambiguous);
                assert_eq!(retry_after, Some(Duration::from_secs(2)));
            }
            _ => panic!("429 must be retried"),
        }
        let mut r = reply(500, "{}");
        r.retry_after = Some(Duration::from_secs(2));
        match c.step(&call, Outcome::Reply(r), 1) {
            Step::Retry {
                ambiguous,
                retry_after,
                ..
            } => {
                assert!(ambiguous);
                assert_eq!(retry_after, None, "Retry-After is honoured on 429/503 only");
            }
            _ => panic!("500 must be retried"),
        }
    }

    #[test]
    fn redirect_is_reported_with_location() {
        let c = client("http://127.0.0.1:1");
        let mut r = reply(301, "");
        r.location = Some("https://elsewhere.test/users/x".into());
        match c.step(&get_call("get user"), Outcome::Reply(r), 1) {
            Step::Fail(e) => {
                assert_eq!(e.status(), Some(301));
                assert!(
                    e.to_string().contains("https://elsewhere.test/users/x"),
                    "{e}"
                );
            }
            _ => panic!("a redirect is not followed nor retried"),
        }
    }

    #[test]
    fn api_messages_are_scrubbed_of_the_key_and_bounded() {
        let c = client("http://127.0.0.1:1");
        let body = format!(r#"{{"message":"invalid key {KEY}\n{}"}}"#, "x".repeat(1000));
        let (e, _) = step_err(&c, 401, &body);
        let s = e.to_string();
        assert!(!s.contains(KEY) && s.contains("<redacted>"), "{s}");
        assert!(!s.contains('\n'));
        assert!(e.api_message().unwrap().chars().count() <= MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn malformed_success_bodies_are_decode_errors() {
        let call = get_call("get user");
        let cases = [
            ("", "empty"),
            ("   \n", "empty"),
            ("<!DOCTYPE html><html>gateway</html>", "expected JSON"),
            (r#"{"userId": "abc""#, "unexpected JSON"),
            (r#"{"username": "abc"}"#, "userId"),
            ("[1,2]", "unexpected JSON"),
        ];
        for (body, needle) in cases {
            let mut r = reply(200, body);
            if body.starts_with('<') {
                r.content_type = Some("text/html; charset=utf-8".into());
            }
            let e = decode::<User>(&call, &r).unwrap_err();
            assert!(e.is_decode(), "{body}: {e}");
            let s = e.to_string();
            assert!(s.starts_with("get user: "), "{s}");
            assert!(s.contains(needle), "{body}: {s}");
        }
    }

    #[test]
    fn secret_answers_are_never_quoted() {
        let mut call = get_call("get user token");
        call.secret_answer = true;
        let r = reply(
            200,
            r#"{"token": ["eyJhbGciOiJIUzI1NiJ9.SECRETPAYLOAD.sig"]}"#,
        );
        // TokenBody has no Debug on purpose (it holds a secret), so no unwrap_err here.
        let Err(e) = decode::<TokenBody>(&call, &r) else {
            panic!("a list is not a token");
        };
        assert!(!e.to_string().contains("SECRETPAYLOAD"), "{e}");
    }

    #[test]
    fn only_a_json_404_means_not_found() {
        let c = client("http://127.0.0.1:1");
        let (e, retry) = step_err(&c, 404, "{}");
        assert!(e.is_not_found() && !retry);
        let mut html = reply(404, "<html><body>404 Not Found</body></html>");
        html.content_type = Some("text/html".into());
        for r in [
            html,
            reply(404, ""),
            reply(404, "[]"),
            reply(404, "Not Found"),
        ] {
            match c.step(&get_call("get user"), Outcome::Reply(r), 1) {
                Step::Fail(e) => {
                    assert!(!e.is_not_found(), "{e}");
                    assert!(e.is_decode() && e.status() == Some(404), "{e}");
                    let s = e.to_string();
                    assert!(s.starts_with("get user: "), "{s}");
                    assert!(s.contains("base URL may be wrong"), "{s}");
                }
                _ => panic!("a 404 page is not retried"),
            }
        }
    }
}
