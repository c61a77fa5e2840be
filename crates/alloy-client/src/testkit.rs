//! Fixtures shared by the client's unit tests: clients, hand-made answers, the in-process
//! emulator and its admin API, a web server that is not the API, [`Scripted`], a loopback HTTP
//! server whose answers a test writes (for routes the emulator does not serve, and answers it
//! would not give), and [`Relay`], which lets a test act while a request is on the wire without
//! guessing how long that takes.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::attempt::{Call, Reply};
use super::client::AlloyClient;
use super::config::{ApiKey, ClientConfig};
use alloy_emulator::{BadAnswer, EmulatorConfig, Faults, RunningEmulator};

pub(super) const KEY: &str = "sk-test-SECRET-0123456789";

pub(super) fn client(base: &str) -> AlloyClient {
    let cfg = ClientConfig::new(
        Url::parse(base).unwrap(),
        "2025-09",
        ApiKey::new(KEY),
        "terraform-provider-alloy/0.1.0 terraform/1.9.0",
    );
    AlloyClient::new(cfg).unwrap()
}

pub(super) fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status: StatusCode::from_u16(status).unwrap(),
        retry_after: None,
        content_type: Some("application/json".into()),
        location: None,
        body: body.as_bytes().to_vec(),
    }
}

pub(super) fn get_call(op: &'static str) -> Call {
    Call::new(
        op,
        Method::GET,
        "/users/{id}",
        Url::parse("http://127.0.0.1:1/users/x").unwrap(),
    )
}

// ---- the emulator (in-process, loopback) ----

pub(super) async fn emulator() -> RunningEmulator {
    RunningEmulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A client of the emulator's development environment that requests go to at `base` (the
/// emulator itself, or a [`Relay`] in front of it).
pub(super) fn client_at(
    base: &str,
    emu: &RunningEmulator,
    stop: &CancellationToken,
) -> AlloyClient {
    let mut cfg = ClientConfig::new(
        Url::parse(base).unwrap(),
        "2025-09",
        ApiKey::new(emu.development_key()),
        "ua",
    );
    cfg.request_timeout = Duration::from_secs(10);
    cfg.deadline = Duration::from_secs(60);
    cfg.stop = stop.clone();
    AlloyClient::new(cfg).unwrap()
}

pub(super) fn client_for(emu: &RunningEmulator, stop: &CancellationToken) -> AlloyClient {
    client_at(&emu.url(), emu, stop)
}

/// The emulator, a [`Relay`] in front of it, and a client of the relay with its stop signal.
pub(super) async fn relayed() -> (RunningEmulator, Relay, CancellationToken, AlloyClient) {
    let emu = emulator().await;
    let relay = Relay::start(&emu).await;
    let stop = CancellationToken::new();
    let client = client_at(relay.url(), &emu, &stop);
    (emu, relay, stop, client)
}

/// Request counts by route (`"POST /users"`) from the emulator's admin API.
pub(super) async fn count(emu: &RunningEmulator, route: &str) -> u64 {
    let v: serde_json::Value = reqwest::get(format!("{}/_emulator/requests", emu.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["by_route"][route].as_u64().unwrap_or(0)
}

pub(super) async fn usernames(emu: &RunningEmulator) -> Vec<String> {
    let v: serde_json::Value = reqwest::get(format!(
        "{}/_emulator/users?environment=development",
        emu.url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

pub(super) fn scoped(routes: &[&str], f: Faults) -> Faults {
    Faults {
        routes: routes.iter().map(|r| r.to_string()).collect(),
        ..f
    }
}

pub(super) fn bad(kind: BadAnswer) -> Faults {
    Faults {
        bad_answer_rate: 1.0,
        bad_answer: kind,
        ..Faults::default()
    }
}

/// A web server that answers every request with `status` and an HTML page.
pub(super) async fn html_server(status: u16) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let body = "<html><body><h1>Not Found</h1></body></html>";
                let answer = format!(
                    "HTTP/1.1 {status} Whatever\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

// ---- a scripted server ----

/// A request as [`Scripted`] received it.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub method: String,
    /// Path and query, as sent: `/workflows/w1/upgrade?userId=u1`.
    pub target: String,
    pub body: String,
}

impl Seen {
    /// `"PUT /workflows/w1/upgrade?userId=u1"`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.target)
    }
}

/// What [`Scripted`] does with a request.
pub(super) enum Say {
    /// Answers with this status, extra headers and JSON body.
    Json {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Closes the connection without answering: the client never learns the outcome.
    Drop,
}

impl Say {
    pub fn json(status: u16, body: impl Into<String>) -> Say {
        Say::Json {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(self, name: &'static str, value: &str) -> Say {
        match self {
            Say::Json {
                status,
                mut headers,
                body,
            } => {
                headers.push((name, value.to_owned()));
                Say::Json {
                    status,
                    headers,
                    body,
                }
            }
            Say::Drop => Say::Drop,
        }
    }
}

type Script = dyn Fn(&Seen) -> Say + Send + Sync;

/// A loopback HTTP/1.1 server that answers each request as `script` says, one request per
/// connection (`connection: close`), and records every request it received whole.
pub(super) struct Scripted {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    pub async fn start(script: impl Fn(&Seen) -> Say + Send + Sync + 'static) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve_one(sock, script.clone(), log.clone()));
            }
        });
        Scripted { url, seen }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.url.trim_start_matches("http://").parse().unwrap()
    }

    /// Every request received so far, as `"METHOD target"`.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(Seen::line).collect()
    }

    /// How many requests received so far start with `prefix` (`"PUT /workflows/"`).
    pub fn count(&self, prefix: &str) -> usize {
        self.seen().iter().filter(|l| l.starts_with(prefix)).count()
    }
}

async fn serve_one(mut sock: TcpStream, script: Arc<Script>, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (len, _) = loop {
        if let Some(whole) = whole_request(&buf) {
            break whole;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head_len = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    let mut first = head.lines().next().unwrap_or_default().split(' ');
    let request = Seen {
        method: first.next().unwrap_or_default().to_owned(),
        target: first.next().unwrap_or_default().to_owned(),
        body: String::from_utf8_lossy(&buf[head_len..len]).into_owned(),
    };
    seen.lock().unwrap().push(request.clone());
    match script(&request) {
        Say::Drop => {}
        Say::Json {
            status,
            headers,
            body,
        } => {
            let mut answer = format!(
                "HTTP/1.1 {status} Scripted\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                answer.push_str("content-type: application/json\r\n");
            }
            for (name, value) in headers {
                answer.push_str(&format!("{name}: {value}\r\n"));
            }
            answer.push_str("\r\n");
            answer.push_str(&body);
            let _ = sock.write_all(answer.as_bytes()).await;
        }
    }
    let _ = sock.shutdown().await;
}

// ---- the relay ----

/// A TCP relay in front of the emulator. It records each request it has received whole
/// (`"POST /users"`, path as sent) and can hold the answers to the requests of one method —
/// a dropped connection included — until released. A test that must stop the client while a
/// request is on the wire waits for [`received`](Relay::received), acts, then releases: no
/// sleep has to win a race against the emulator.
///
/// It reads requests as the client sends them: one at a time per connection (no pipelining),
/// bodies with a `content-length`.
pub(super) struct Relay {
    url: String,
    seen: Arc<watch::Sender<Vec<String>>>,
    hold: Arc<watch::Sender<Option<&'static str>>>,
}

impl Relay {
    pub async fn start(emu: &RunningEmulator) -> Relay {
        Relay::start_to(emu.addr()).await
    }

    /// A relay in front of any loopback server.
    pub async fn start_to(upstream: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(watch::Sender::new(Vec::new()));
        let hold = Arc::new(watch::Sender::new(None));
        let (s, h) = (seen.clone(), hold.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, s.clone(), h.subscribe()));
            }
        });
        Relay { url, seen, hold }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Holds the answers to requests with `method` from now on, until [`release`](Self::release).
    pub fn hold(&self, method: &'static str) {
        self.hold.send_replace(Some(method));
    }

    pub fn release(&self) {
        self.hold.send_replace(None);
    }

    /// Holds the answers to `method` requests, and returns what a test joins with the operation:
    /// once the first such request has been received, it stops the client, then lets the
    /// answer through.
    pub fn stop_when_received<'a>(
        &'a self,
        method: &'static str,
        stop: &'a CancellationToken,
    ) -> impl Future<Output = ()> + 'a {
        self.hold(method);
        async move {
            self.received(method, 1).await;
            stop.cancel();
            self.release();
        }
    }

    /// Waits until the relay has received `n` whole requests with `method`.
    pub async fn received(&self, method: &str, n: usize) {
        let prefix = format!("{method} ");
        self.seen
            .subscribe()
            .wait_for(|seen| seen.iter().filter(|r| r.starts_with(&prefix)).count() >= n)
            .await
            .expect("the relay keeps its sender");
    }
}

/// Relays one client connection to the emulator and back.
async fn relay(
    client: TcpStream,
    upstream: std::net::SocketAddr,
    seen: Arc<watch::Sender<Vec<String>>>,
    mut hold: watch::Receiver<Option<&'static str>>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    // The method of the request being answered: set before its last byte is passed on, so
    // before any byte of its answer can come back.
    let answering = Mutex::new(String::new());
    let requests = async {
        let mut pending = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = match from_client.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&chunk[..n]);
            while let Some((len, line)) = whole_request(&pending) {
                let method = line.split(' ').next().unwrap_or_default().to_owned();
                *answering.lock().unwrap() = method;
                seen.send_modify(|s| s.push(line));
                pending.drain(..len);
            }
            if to_server.write_all(&chunk[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_server.shutdown().await;
    };
    let answers = async {
        let mut chunk = [0u8; 8192];
        loop {
            let n = from_server.read(&mut chunk).await.unwrap_or(0);
            let method = answering.lock().unwrap().clone();
            // An error means the relay is gone: nothing is held any more.
            let _ = hold.wait_for(|h| *h != Some(method.as_str())).await;
            if n == 0 || to_client.write_all(&chunk[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_client.shutdown().await;
    };
    tokio::join!(requests, answers);
}

/// The length and `"METHOD path"` of the first whole request in `buf`, if it holds one.
fn whole_request(buf: &[u8]) -> Option<(usize, String)> {
    let head_len = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_len]).ok()?;
    let body_len = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map_or(Some(0), |(_, v)| v.trim().parse::<usize>().ok())?;
    if buf.len() < head_len + body_len {
        return None;
    }
    let mut line = head.lines().next()?.split(' ');
    let (method, path) = (line.next()?, line.next()?);
    Some((head_len + body_len, format!("{method} {path}")))
}

#[cfg(test)]
mod tests {
    use super::whole_request;

    #[test]
    fn a_request_is_whole_with_its_head_and_its_body() {
        let post = b"POST /users HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(whole_request(&post[..20]), None, "half a head");
        assert_eq!(whole_request(&post[..post.len() - 1]), None, "half a body");
        assert_eq!(
            whole_request(post),
            Some((post.len(), "POST /users".to_owned()))
        );
        let get = b"GET /users/x HTTP/1.1\r\nHost: a\r\n\r\n";
        let two = [&get[..], &post[..]].concat();
        assert_eq!(
            whole_request(&two),
            Some((get.len(), "GET /users/x".to_owned()))
        );
    }
}
