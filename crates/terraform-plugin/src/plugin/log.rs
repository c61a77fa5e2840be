//! Logging for a provider process: hclog-style JSON lines on stderr.
//!
//! Terraform reads a provider's stderr line by line. A line that parses as JSON
//! with `@level`/`@message` (and, if present, a `@timestamp` in Go's
//! `2006-01-02T15:04:05.000000Z07:00` layout) is re-logged by Terraform at that
//! level under `provider.terraform-provider-alloy`; every other key becomes a
//! key/value pair. So this module is a small `tracing` layer that writes exactly
//! that shape, and nothing else.
//!
//! The level comes from `TF_LOG_PROVIDER`, falling back to `TF_LOG`, the same
//! variables Terraform uses to decide whether to show the lines at all. When the
//! level is off no subscriber is installed, so `tracing` macros cost a single
//! relaxed load and no line is ever formatted.
//!
//! Secrets: code that handles an API key or token registers it with
//! [`secrets`]; every line is scrubbed of registered strings just before
//! it is written. This is a second line of defence behind "never log secrets",
//! not a licence to.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::Arc;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

use secrets::redact;

/// What `@module` says in every line; Terraform shows it next to the message.
const MODULE: &str = "alloy";

/// This crate's target prefix. It and the provider's crates (the `own` targets
/// [`init`] receives) log at the requested level, while dependencies (h2, hyper,
/// tonic) are capped at INFO so `TF_LOG=trace` shows the provider's trace without
/// every HTTP/2 frame.
const OWN_TARGET: &str = env!("CARGO_CRATE_NAME");

/// Parses a Terraform log level name as `TF_LOG` accepts it. `JSON` is
/// Terraform's "trace, as JSON" setting. `None` means logging is off (unset,
/// `OFF` or a value we do not recognise).
pub fn parse_level(value: &str) -> Option<Level> {
    match value.trim().to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" => Some(Level::ERROR),
        _ => None,
    }
}

/// The level selected by `TF_LOG_PROVIDER` (when set and non-empty) or else
/// `TF_LOG`.
pub fn level_from_env() -> Option<Level> {
    level_from(
        std::env::var("TF_LOG_PROVIDER").ok().as_deref(),
        std::env::var("TF_LOG").ok().as_deref(),
    )
}

fn level_from(provider: Option<&str>, global: Option<&str>) -> Option<Level> {
    match provider.map(str::trim) {
        Some(p) if !p.is_empty() => parse_level(p),
        _ => global.and_then(parse_level),
    }
}

/// Installs the stderr JSON logger at `level` (nothing when `None`) and the
/// panic hook. Call once, early; later calls leave the first subscriber.
pub fn init(level: Option<Level>, own: &[&str]) {
    install_panic_hook();
    if let Some(level) = level {
        let sink: Sink = Arc::new(write_stderr_line);
        let subscriber = tracing_subscriber::registry()
            .with(HclogLayer::new(sink).with_filter(targets(level, own)));
        // Fails only if a subscriber is already set (e.g. a second call).
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
}

/// Per-target levels: our crates at `level`, dependencies capped at INFO.
fn targets(level: Level, own: &[&str]) -> Targets {
    own.iter().fold(
        Targets::new()
            .with_default(std::cmp::min(level, Level::INFO))
            .with_target(OWN_TARGET, level),
        |t, target| t.with_target(*target, level),
    )
}

/// Where finished lines go (stderr in the product, a buffer in tests).
type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Writes one line with a single `write_all` so that concurrent writers
/// cannot interleave inside a line. Errors (stderr closed) are ignored: there
/// is nowhere left to report them.
fn write_stderr_line(line: &str) {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    let _ = std::io::stderr().lock().write_all(buf.as_bytes());
}

/// The `tracing` layer that turns events into hclog JSON lines.
pub struct HclogLayer {
    sink: Sink,
}

impl HclogLayer {
    fn new(sink: Sink) -> Self {
        Self { sink }
    }
}

/// Fields recorded on a span, kept so events inside it carry them too
/// (e.g. the RPC name set on a per-request span).
struct SpanFields(Vec<(&'static str, Value)>);

impl<S> Layer<S> for HclogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut visitor = FieldVisitor::default();
            attrs.record(&mut visitor);
            span.extensions_mut().insert(SpanFields(visitor.fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut visitor = FieldVisitor::default();
            values.record(&mut visitor);
            let mut ext = span.extensions_mut();
            if let Some(fields) = ext.get_mut::<SpanFields>() {
                for (name, value) in visitor.fields {
                    set_field(&mut fields.0, name, value);
                }
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields: Vec<(&'static str, Value)> = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(span_fields) = span.extensions().get::<SpanFields>() {
                    for (name, value) in &span_fields.0 {
                        set_field(&mut fields, name, value.clone());
                    }
                }
            }
        }
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        for (name, value) in visitor.fields {
            set_field(&mut fields, name, value);
        }
        let line = format_line(
            *event.metadata().level(),
            visitor.message.as_deref().unwrap_or(""),
            &timestamp_now(),
            &fields,
        );
        (self.sink)(&redact(&line));
    }
}

fn set_field(fields: &mut Vec<(&'static str, Value)>, name: &'static str, value: Value) {
    match fields.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => fields.push((name, value)),
    }
}

/// Collects an event's or span's fields; `message` is kept apart because it
/// becomes `@message`.
#[derive(Default)]
struct FieldVisitor {
    message: Option<String>,
    fields: Vec<(&'static str, Value)>,
}

impl FieldVisitor {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            set_field(&mut self.fields, field.name(), value);
        }
    }
}

impl Visit for FieldVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
}

/// hclog's level names.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// Builds one JSON line: the four `@` keys first, then the fields in order.
fn format_line(level: Level, message: &str, timestamp: &str, fields: &[(&str, Value)]) -> String {
    let mut line = String::with_capacity(96 + message.len());
    let _ = write!(
        line,
        "{{\"@level\":\"{}\",\"@message\":{},\"@module\":\"{MODULE}\",\"@timestamp\":\"{timestamp}\"",
        level_name(level),
        Value::String(message.to_owned()),
    );
    for (name, value) in fields {
        if name.starts_with('@') {
            // Would shadow hclog's own keys; Terraform would misread the line.
            continue;
        }
        let _ = write!(line, ",{}:{}", Value::String((*name).to_owned()), value);
    }
    line.push('}');
    line
}

/// Current UTC time in Go's `2006-01-02T15:04:05.000000Z07:00` layout, which
/// for UTC ends in a literal `Z`.
fn timestamp_now() -> String {
    format_timestamp(time::OffsetDateTime::now_utc())
}

fn format_timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Replaces Rust's default panic printout with one hclog error line (message,
/// location, and a backtrace when `RUST_BACKTRACE` asks for one). Terraform
/// treats a `@message` starting with `panic: ` as a crash report.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let bt = std::backtrace::Backtrace::capture();
        let backtrace =
            (bt.status() == std::backtrace::BacktraceStatus::Captured).then(|| bt.to_string());
        let line = panic_line(
            info.payload(),
            info.location().map(ToString::to_string),
            thread.name(),
            backtrace,
            &timestamp_now(),
        );
        write_stderr_line(&line);
    }));
}

/// The (redacted) hclog line for a panic.
fn panic_line(
    payload: &(dyn std::any::Any + Send),
    location: Option<String>,
    thread: Option<&str>,
    backtrace: Option<String>,
    timestamp: &str,
) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    };
    let mut fields: Vec<(&str, Value)> = Vec::new();
    if let Some(loc) = location {
        fields.push(("location", Value::String(loc)));
    }
    if let Some(name) = thread {
        fields.push(("thread", Value::String(name.to_owned())));
    }
    if let Some(bt) = backtrace {
        fields.push(("backtrace", Value::String(bt)));
    }
    let line = format_line(Level::ERROR, &format!("panic: {text}"), timestamp, &fields);
    redact(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrets::{REDACTED, register as register_secret};
    use std::borrow::Cow;
    use std::sync::Mutex;

    /// Runs `f` with a layer at `level` whose lines land in the returned vector.
    fn capture(level: Level, f: impl FnOnce()) -> Vec<String> {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink_lines = Arc::clone(&lines);
        let sink: Sink = Arc::new(move |l: &str| sink_lines.lock().unwrap().push(l.to_owned()));
        let subscriber = tracing_subscriber::registry()
            .with(HclogLayer::new(sink).with_filter(targets(level, &[])));
        tracing::subscriber::with_default(subscriber, f);
        lines.lock().unwrap().clone()
    }

    /// Go's `2006-01-02T15:04:05.000000Z07:00` for a UTC time.
    fn is_go_layout_utc(ts: &str) -> bool {
        let re = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$").unwrap();
        re.is_match(ts)
    }

    #[test]
    fn event_becomes_hclog_json_line() {
        let lines = capture(Level::TRACE, || {
            tracing::info!(
                rpc = "GetProviderSchema",
                count = 3u64,
                ok = true,
                "served {}",
                "schema"
            );
        });
        assert_eq!(lines.len(), 1);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["@level"], "info");
        assert_eq!(v["@message"], "served schema");
        assert_eq!(v["@module"], "alloy");
        assert_eq!(v["rpc"], "GetProviderSchema");
        assert_eq!(v["count"].as_u64(), Some(3));
        assert_eq!(v["ok"], true);
        assert!(
            is_go_layout_utc(v["@timestamp"].as_str().unwrap()),
            "{}",
            lines[0]
        );
        assert!(lines[0].starts_with("{\"@level\":\"info\",\"@message\":"));
    }

    #[test]
    fn span_fields_are_inherited_and_event_fields_win() {
        let lines = capture(Level::DEBUG, || {
            let span = tracing::info_span!("rpc", tf_rpc = "ReadResource", shared = "span");
            let _g = span.enter();
            tracing::debug!(shared = "event", "inside");
        });
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["tf_rpc"], "ReadResource");
        assert_eq!(v["shared"], "event");
        assert_eq!(v["@level"], "debug");
    }

    #[test]
    fn timestamp_matches_go_layout_exactly() {
        let t = time::macros::datetime!(2024-03-05 07:08:09.012_345_678 UTC);
        assert_eq!(format_timestamp(t), "2024-03-05T07:08:09.012345Z");
        // Non-UTC input is converted, never printed with an offset.
        let t = time::macros::datetime!(2024-03-05 09:08:09.5 +02:00);
        assert_eq!(format_timestamp(t), "2024-03-05T07:08:09.500000Z");
        assert!(is_go_layout_utc(&timestamp_now()));
    }

    #[test]
    fn levels_filter_and_dependencies_are_capped() {
        let lines = capture(Level::WARN, || {
            tracing::info!("hidden");
            tracing::warn!("shown");
        });
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("\"@level\":\"warn\""));

        let lines = capture(Level::TRACE, || {
            tracing::trace!(target: "h2::codec", "frame");
            tracing::info!(target: "hyper::server", "dep info");
            tracing::trace!("ours");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("dep info"));
        assert!(lines[1].contains("\"@message\":\"ours\""));
    }

    #[test]
    fn level_parsing_follows_terraform() {
        assert_eq!(parse_level("trace"), Some(Level::TRACE));
        assert_eq!(parse_level("JSON"), Some(Level::TRACE));
        assert_eq!(parse_level("Debug"), Some(Level::DEBUG));
        assert_eq!(parse_level("INFO"), Some(Level::INFO));
        assert_eq!(parse_level("warn"), Some(Level::WARN));
        assert_eq!(parse_level("ERROR"), Some(Level::ERROR));
        assert_eq!(parse_level("off"), None);
        assert_eq!(parse_level("loud"), None);
        assert_eq!(level_from(None, None), None);
        assert_eq!(level_from(Some("debug"), Some("trace")), Some(Level::DEBUG));
        assert_eq!(level_from(Some("off"), Some("trace")), None);
        assert_eq!(level_from(Some(""), Some("info")), Some(Level::INFO));
        assert_eq!(level_from(None, Some("error")), Some(Level::ERROR));
    }

    #[test]
    fn special_characters_stay_valid_json() {
        let line = format_line(
            Level::ERROR,
            "quote \" backslash \\ newline \n",
            "2024-01-01T00:00:00.000000Z",
            &[
                ("weird key\"", Value::String("x".into())),
                ("@level", Value::String("no".into())),
            ],
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["@message"], "quote \" backslash \\ newline \n");
        assert_eq!(v["weird key\""], "x");
        assert_eq!(v["@level"], "error");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn panics_become_one_redacted_error_line() {
        register_secret("panic-secret-value-123");
        let payload: Box<dyn std::any::Any + Send> =
            Box::new(String::from("bad state: panic-secret-value-123"));
        let line = panic_line(
            payload.as_ref(),
            Some("src/x.rs:1:2".into()),
            Some("tokio-runtime-worker"),
            None,
            "2024-01-01T00:00:00.000000Z",
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["@level"], "error");
        assert_eq!(v["@message"], format!("panic: bad state: {REDACTED}"));
        assert_eq!(v["location"], "src/x.rs:1:2");
        assert_eq!(v["thread"], "tokio-runtime-worker");
        let payload: Box<dyn std::any::Any + Send> = Box::new("static str");
        let line = panic_line(payload.as_ref(), None, None, Some("bt".into()), "t");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["@message"], "panic: static str");
        assert_eq!(v["backtrace"], "bt");
    }

    #[test]
    fn registered_secrets_are_redacted_in_lines() {
        register_secret("sk_live_0123456789abcdef");
        register_secret("sk_live_0123456789abcdef_longer_variant");
        register_secret("short"); // below the minimum: ignored
        register_secret("pa\"ss\\word-with-quotes");
        let lines = capture(Level::TRACE, || {
            tracing::info!(
                api_key = "sk_live_0123456789abcdef",
                "using sk_live_0123456789abcdef_longer_variant"
            );
            tracing::info!("short words stay; pa\"ss\\word-with-quotes goes");
        });
        assert_eq!(lines.len(), 2);
        assert!(!lines[0].contains("sk_live"), "{}", lines[0]);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["api_key"], REDACTED);
        // The longer secret is replaced whole, not as "[REDACTED]_longer_variant".
        assert_eq!(v["@message"], format!("using {REDACTED}"));
        let v: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(v["@message"], format!("short words stay; {REDACTED} goes"));
        assert_eq!(redact("nothing here"), "nothing here");
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
    }
}
