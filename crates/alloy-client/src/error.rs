//! Why an Alloy API operation failed.
//!
//! One variant per cause the provider reacts to differently (drop from state, suggest import,
//! tell the user to fix the key, retry later...). Every variant names the operation ("create
//! user") and, when the API sent one, its `message`. The Display string says what happened in
//! the API's terms only: what to do about it in Terraform (which attribute to fix, which flag to
//! lower) is the provider's to add, once (`provider::api_error`). The API key never appears here:
//! messages echoed from the API are scrubbed of it before they are stored (see `classify.rs`).

use std::fmt;
use std::time::Duration;

use super::reach::Verdict;

/// Renders an optional API message as `: <message>` (or nothing).
struct Msg<'a>(&'a Option<String>);

impl fmt::Display for Msg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) => write!(f, ": {m}"),
            None => Ok(()),
        }
    }
}

/// Renders an attempt count as ` after N attempts` (or nothing for a single attempt).
struct Attempts(u32);

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 1 {
            write!(f, " after {} attempts", self.0)
        } else {
            Ok(())
        }
    }
}

struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs_f64();
        if s < 10.0 {
            write!(f, "{s:.1} s")
        } else {
            write!(f, "{} s", self.0.as_secs())
        }
    }
}

struct Last<'a>(&'a Option<String>);

impl fmt::Display for Last<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) => write!(f, " (last problem: {m})"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client could not be built from its configuration.
    #[error("invalid Alloy API client configuration: {message}")]
    Config { message: String },

    /// The caller passed a value that cannot be sent (e.g. an empty id).
    #[error("{op}: {message}")]
    InvalidArgument { op: &'static str, message: String },

    /// 401 or 403: the key is wrong, revoked, or not allowed here.
    #[error(
        "{op}: the Alloy API rejected the API key (HTTP {status}{msg}).",
        msg = Msg(message)
    )]
    Unauthorized {
        op: &'static str,
        status: u16,
        message: Option<String>,
    },

    /// 404: no such user or integration in this key's environment.
    #[error(
        "{op}: not found (HTTP 404{msg}); it does not exist in this API key's environment.",
        msg = Msg(message)
    )]
    NotFound {
        op: &'static str,
        message: Option<String>,
    },

    /// 409 or 422: typically a username that is already taken in this environment.
    #[error(
        "{op}: the Alloy API refused it as a conflict (HTTP {status}{msg}).",
        msg = Msg(message)
    )]
    Conflict {
        op: &'static str,
        status: u16,
        message: Option<String>,
    },

    /// 422 from a call where it means "cannot be done as asked" rather than a name conflict: an
    /// upgrade to a workflow version whose configurable fields changed, which the user must
    /// reinstall instead. Nothing was changed.
    #[error(
        "{op}: the Alloy API refused it as impossible to carry out (HTTP 422{msg}).",
        msg = Msg(message)
    )]
    Unprocessable {
        op: &'static str,
        message: Option<String>,
    },

    /// 429 on every attempt the retry budget allowed.
    #[error(
        "{op}: the Alloy API kept rate limiting requests (HTTP 429{msg}){n}.",
        msg = Msg(message),
        n = Attempts(*attempts)
    )]
    RateLimited {
        op: &'static str,
        message: Option<String>,
        attempts: u32,
    },

    /// 5xx on every attempt the retry budget allowed.
    #[error(
        "{op}: the Alloy API failed with a server error (HTTP {status}{msg}){n}.",
        msg = Msg(message),
        n = Attempts(*attempts)
    )]
    Server {
        op: &'static str,
        status: u16,
        message: Option<String>,
        attempts: u32,
    },

    /// Any other non-success status (other 4xx, or an unexpected redirect).
    #[error(
        "{op}: the Alloy API rejected the request (HTTP {status}{msg}).",
        msg = Msg(message)
    )]
    Api {
        op: &'static str,
        status: u16,
        message: Option<String>,
    },

    /// The API could not be reached, or the connection failed before a full answer arrived.
    #[error(
        "{op}: could not get an answer from the Alloy API{n}: {detail}.",
        n = Attempts(*attempts)
    )]
    Transport {
        op: &'static str,
        detail: String,
        attempts: u32,
        /// No connection could be made at all: every request would fail the same way.
        unreachable: bool,
    },

    /// Not sent: an earlier operation of this client met a failure that every request would
    /// meet (see [`reach`](super::reach)).
    #[error("{op}: not sent, because earlier in this run {reason}.", reason = verdict.reason())]
    Halted { op: &'static str, verdict: Verdict },

    /// A success status whose body is not what the documented API returns.
    #[error(
        "{op}: the Alloy API answered HTTP {status} with a body the provider cannot read \
         ({detail})."
    )]
    Decode {
        op: &'static str,
        status: u16,
        detail: String,
    },

    /// Terraform asked the provider to stop.
    /// A write whose outcome was unknown, read back, matched several candidates (or none could
    /// be told apart): nothing was adopted and nothing was sent again.
    #[error("{op}: the outcome of an earlier attempt is ambiguous: {detail}.")]
    Ambiguous {
        op: &'static str,
        detail: String,
        candidates: Vec<String>,
    },

    #[error("{op}: cancelled because Terraform asked the provider to stop.")]
    Cancelled { op: &'static str },

    /// The operation's overall time budget ran out.
    #[error(
        "{op}: gave up after {t}, the time allowed for one operation{last}.",
        t = Secs(*after),
        last = Last(last)
    )]
    Deadline {
        op: &'static str,
        after: Duration,
        last: Option<String>,
    },
}

impl Error {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    pub fn is_unprocessable(&self) -> bool {
        matches!(self, Error::Unprocessable { .. })
    }

    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Unauthorized { .. })
    }

    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Error::RateLimited { .. })
    }

    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled { .. })
    }

    pub fn is_deadline(&self) -> bool {
        matches!(self, Error::Deadline { .. })
    }

    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Transport { .. })
    }

    /// Not sent because of a process-wide verdict met earlier.
    pub fn is_halted(&self) -> bool {
        matches!(self, Error::Halted { .. })
    }

    /// The process-wide failure this error is, or was halted by: the same for every request of
    /// this client. `None` for failures of one request.
    pub fn verdict(&self) -> Option<Verdict> {
        match self {
            Error::Halted { verdict, .. } => Some(verdict.clone()),
            Error::Unauthorized { status, .. } => Some(Verdict::Rejected { status: *status }),
            Error::Transport {
                detail,
                unreachable: true,
                ..
            } => Some(Verdict::Unreachable {
                detail: detail.clone(),
            }),
            _ => None,
        }
    }

    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Error::Ambiguous { .. })
    }

    /// The ids an [`Error::Ambiguous`] could not choose between (empty for any other error).
    pub fn candidates(&self) -> &[String] {
        match self {
            Error::Ambiguous { candidates, .. } => candidates,
            _ => &[],
        }
    }

    pub fn is_decode(&self) -> bool {
        matches!(self, Error::Decode { .. })
    }

    /// The HTTP status behind this error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { status, .. }
            | Error::Conflict { status, .. }
            | Error::Server { status, .. }
            | Error::Api { status, .. }
            | Error::Decode { status, .. } => Some(*status),
            Error::NotFound { .. } => Some(404),
            Error::Unprocessable { .. } => Some(422),
            Error::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// The `message` the API put in its error body, when it sent one.
    pub fn api_message(&self) -> Option<&str> {
        match self {
            Error::Unauthorized { message, .. }
            | Error::NotFound { message, .. }
            | Error::Unprocessable { message, .. }
            | Error::Conflict { message, .. }
            | Error::RateLimited { message, .. }
            | Error::Server { message, .. }
            | Error::Api { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    /// The operation that failed ("create user", ...); `None` for configuration errors.
    pub fn operation(&self) -> Option<&'static str> {
        match self {
            Error::Config { .. } => None,
            Error::InvalidArgument { op, .. }
            | Error::Unauthorized { op, .. }
            | Error::NotFound { op, .. }
            | Error::Unprocessable { op, .. }
            | Error::Conflict { op, .. }
            | Error::RateLimited { op, .. }
            | Error::Server { op, .. }
            | Error::Api { op, .. }
            | Error::Transport { op, .. }
            | Error::Decode { op, .. }
            | Error::Ambiguous { op, .. }
            | Error::Cancelled { op }
            | Error::Halted { op, .. }
            | Error::Deadline { op, .. } => Some(op),
        }
    }

    /// A short description of the cause without the operation, used as the "last problem" of a
    /// [`Error::Deadline`].
    pub(crate) fn summary(&self) -> String {
        match self {
            Error::Transport { detail, .. } => detail.clone(),
            Error::Decode { status, detail, .. } => format!("HTTP {status}, {detail}"),
            Error::Cancelled { .. } => "cancelled".to_owned(),
            Error::Config { message } | Error::InvalidArgument { message, .. } => message.clone(),
            Error::Deadline { .. } => "deadline".to_owned(),
            Error::Halted { verdict, .. } => verdict.reason(),
            other => match (other.status(), other.api_message()) {
                (Some(s), Some(m)) => format!("HTTP {s}: {m}"),
                (Some(s), None) => format!("HTTP {s}"),
                _ => other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_operation_status_and_message() {
        let e = Error::Conflict {
            op: "create user",
            status: 422,
            message: Some("Username jane@example.com already exists".into()),
        };
        let s = e.to_string();
        assert!(s.starts_with("create user: "), "{s}");
        assert!(
            s.contains("HTTP 422: Username jane@example.com already exists"),
            "{s}"
        );
        assert!(!s.contains("import"), "no Terraform advice here: {s}");
        assert!(e.is_conflict() && !e.is_not_found());
        assert_eq!(e.status(), Some(422));
        assert_eq!(
            e.api_message(),
            Some("Username jane@example.com already exists")
        );
        assert_eq!(e.operation(), Some("create user"));
    }

    #[test]
    fn display_without_message_has_no_dangling_colon() {
        let e = Error::NotFound {
            op: "get user",
            message: None,
        };
        let s = e.to_string();
        assert!(s.contains("(HTTP 404)"), "{s}");
        assert!(e.is_not_found());
    }

    #[test]
    fn attempts_are_mentioned_only_when_retried() {
        let once = Error::Server {
            op: "list users",
            status: 500,
            message: None,
            attempts: 1,
        };
        assert!(!once.to_string().contains("attempts"));
        let many = Error::RateLimited {
            op: "list users",
            message: Some("Rate limit exceeded".into()),
            attempts: 4,
        };
        let s = many.to_string();
        assert!(s.contains("after 4 attempts"), "{s}");
        assert!(s.contains("Rate limit exceeded"), "{s}");
        assert!(many.is_rate_limited());
        assert_eq!(many.status(), Some(429));
    }

    #[test]
    fn deadline_reports_the_last_problem() {
        let e = Error::Deadline {
            op: "delete user",
            after: Duration::from_secs(90),
            last: Some("HTTP 503: Service Unavailable".into()),
        };
        let s = e.to_string();
        assert!(s.contains("after 90 s"), "{s}");
        assert!(
            s.contains("last problem: HTTP 503: Service Unavailable"),
            "{s}"
        );
        assert!(e.is_deadline());
        assert_eq!(e.status(), None);
    }

    #[test]
    fn summary_is_short() {
        let e = Error::Server {
            op: "x",
            status: 503,
            message: Some("busy".into()),
            attempts: 2,
        };
        assert_eq!(e.summary(), "HTTP 503: busy");
        let t = Error::Transport {
            op: "x",
            detail: "connection reset".into(),
            attempts: 1,
            unreachable: false,
        };
        assert_eq!(t.summary(), "connection reset");
    }
}
