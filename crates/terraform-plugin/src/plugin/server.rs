//! The gRPC server around a `tfplugin6::Provider`: unix socket or loopback
//! TCP, optional TLS, go-plugin housekeeping services, and the ways it stops.
//!
//! Shape and reasons:
//! - The unix socket lives in a fresh 0700 directory so no other local user
//!   can connect even in plaintext mode; the directory is removed on every
//!   clean exit path (Shutdown RPC, SIGTERM, Ctrl-C in debug mode).
//! - TCP (go-plugin's transport on Windows) listens on 127.0.0.1 only, on the
//!   first free port of `PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT` as go-plugin does,
//!   with Nagle off on every connection. Any local process can connect, so
//!   under Terraform it is AutoMTLS that keeps strangers out.
//! - TLS handshakes run in their own tasks and feed finished streams to tonic
//!   through a channel: one slow or failing client cannot stall the accept
//!   loop or stop the server.
//! - Everything stops through one [`StopHandle`]. tonic then drains open
//!   connections; the drain is bounded (short after Shutdown, longer after a
//!   signal) so the process always exits well inside Terraform's 2 s kill
//!   window, whatever the client does.
//! - Requests reach the four services through [`Services`], a match on the
//!   service name in the path, rather than tonic's `Router`: that one is built
//!   on axum, a web framework the provider would otherwise carry for four
//!   fixed routes.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt as _;
#[cfg(unix)]
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
#[cfg(unix)]
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, BoxStream, Service, http};
use tonic::server::NamedService;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

use crate::proto::plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use crate::proto::plugin::grpc_stdio_server::{GrpcStdio, GrpcStdioServer};
use crate::proto::plugin::{Empty, StdioData};
use crate::proto::tfplugin6::provider_server::{Provider, ProviderServer};

use super::handshake::Address;

/// terraform-plugin-go's limit; schemas and states can be large.
pub const MAX_MESSAGE_SIZE: usize = 256 << 20;

/// How long open connections may drain after `GRPCController.Shutdown`.
/// Terraform has finished with the provider by then and closes its side at
/// once; go-plugin's own servers even stop hard. The bound only matters for a
/// client that stops reading, and keeps us far from the 2 s kill.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_millis(200);

/// How long in-flight RPCs may finish after SIGTERM (or Ctrl-C in debug mode).
pub const SIGNAL_DRAIN: Duration = Duration::from_millis(1500);

/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Stops the server; shared by the Shutdown RPC and the signal handlers.
/// Each stop request names how long connections may drain; the shortest wins.
#[derive(Debug, Clone)]
pub struct StopHandle {
    token: CancellationToken,
    drain_ms: Arc<AtomicU64>,
}

impl Default for StopHandle {
    fn default() -> Self {
        Self {
            token: CancellationToken::new(),
            drain_ms: Arc::new(AtomicU64::new(u64::MAX)),
        }
    }
}

impl StopHandle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests a stop, allowing open connections `drain` to finish.
    pub fn stop(&self, drain: Duration) {
        let ms = u64::try_from(drain.as_millis()).unwrap_or(u64::MAX);
        self.drain_ms.fetch_min(ms, Ordering::SeqCst);
        self.token.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once a stop was requested.
    pub async fn stopped(&self) {
        self.token.cancelled().await;
    }

    fn drain(&self) -> Duration {
        match self.drain_ms.load(Ordering::SeqCst) {
            u64::MAX => SIGNAL_DRAIN,
            ms => Duration::from_millis(ms),
        }
    }
}

/// The socket's private directory; removed when dropped.
#[cfg(unix)]
#[derive(Debug)]
pub struct SocketDir {
    dir: tempfile::TempDir,
    socket: PathBuf,
}

#[cfg(unix)]
impl SocketDir {
    /// Creates `<parent>/alloy-plugin-XXXXXX/` with mode 0700; `parent` is
    /// `PLUGIN_UNIX_SOCKET_DIR` when given, else the system temp directory.
    pub fn create(parent: Option<&Path>) -> io::Result<Self> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = tempfile::Builder::new()
            .prefix("alloy-plugin-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&parent)?;
        // Set explicitly as well: the creation mode is subject to the umask
        // and to platform quirks; the final mode must not be.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        let socket = dir.path().join("plugin.sock");
        Ok(Self { dir, socket })
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A byte stream from either listener.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// One accepted connection, with or without TLS.
enum Conn {
    Plain(Box<dyn Io>),
    Tls(Box<tokio_rustls::server::TlsStream<Box<dyn Io>>>),
}

/// What the server accepts connections on.
enum Listener {
    #[cfg(unix)]
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    async fn accept(&self) -> io::Result<Box<dyn Io>> {
        match self {
            #[cfg(unix)]
            Listener::Unix(l) => Ok(Box::new(l.accept().await?.0)),
            Listener::Tcp(l) => {
                let (stream, _) = l.accept().await?;
                // gRPC writes small frames and waits for answers: Nagle's delay would only
                // add latency (Go turns it off by default too).
                stream.set_nodelay(true)?;
                Ok(Box::new(stream))
            }
        }
    }
}

/// Listens on 127.0.0.1: the first free port of `range` in order (go-plugin's rule), or any
/// free port the system picks when no range was given.
pub async fn bind_tcp(range: Option<RangeInclusive<u16>>) -> io::Result<TcpListener> {
    let Some(range) = range else {
        return TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await;
    };
    let (min, max) = (*range.start(), *range.end());
    for port in range {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            Ok(l) => return Ok(l),
            Err(err) if err.kind() == io::ErrorKind::AddrInUse => {}
            // Not ours to skip (e.g. a privileged port): try the next one all the same, as
            // go-plugin does, but keep the reason visible.
            Err(err) => tracing::debug!(port, error = %err, "cannot listen on port"),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "no free port on 127.0.0.1 between PLUGIN_MIN_PORT={min} and PLUGIN_MAX_PORT={max}"
        ),
    ))
}

impl Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// Accepts connections until `stop` fires, performing TLS handshakes (when
/// configured) off the accept loop, and yields ready connections.
fn incoming(
    listener: Listener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: CancellationToken,
) -> impl futures::Stream<Item = io::Result<Conn>> {
    let (tx, mut rx) = mpsc::channel::<Conn>(16);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(stream) => stream,
                    Err(err) => {
                        tracing::debug!(error = %err, "accept failed");
                        // E.g. out of file descriptors: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
            match &tls {
                None => {
                    if tx.send(Conn::Plain(stream)).await.is_err() {
                        break;
                    }
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(tls_stream)) => {
                                let _ = tx.send(Conn::Tls(Box::new(tls_stream))).await;
                            }
                            Ok(Err(err)) => {
                                tracing::debug!(error = %err, "TLS handshake failed; connection dropped")
                            }
                            Err(_) => {
                                tracing::debug!("TLS handshake timed out; connection dropped")
                            }
                        }
                    });
                }
            }
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|c| c.map(Ok)))
}

/// go-plugin's controller: `Shutdown` stops the whole server.
struct Controller {
    stop: StopHandle,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        tracing::debug!("GRPCController.Shutdown received; stopping");
        self.stop.stop(SHUTDOWN_DRAIN);
        Ok(Response::new(Empty {}))
    }
}

/// go-plugin's stdio forwarder. We never write to stdout/stderr for the host
/// to relay (logs go to stderr directly), so the stream stays silent and ends
/// when the server stops, letting the connection drain.
struct Stdio {
    stop: StopHandle,
}

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<BoxStream<StdioData>>, Status> {
        let stop = self.stop.clone();
        let stream = futures::stream::once(async move {
            stop.stopped().await;
        })
        .filter_map(|()| async { None::<Result<StdioData, Status>> });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The services the plugin serves, routed by the service name a gRPC path starts with
/// (`/tfplugin6.Provider/GetProviderSchema`); any other path is answered `UNIMPLEMENTED`, as
/// tonic's router does.
struct Services<P, H> {
    provider: ProviderServer<P>,
    controller: GrpcControllerServer<Controller>,
    stdio: GrpcStdioServer<Stdio>,
    health: H,
}

// By hand: the derive would ask for `P: Clone`, while the generated server shares `P` in an `Arc`.
impl<P, H: Clone> Clone for Services<P, H> {
    fn clone(&self) -> Self {
        Self {
            provider: self.provider.clone(),
            controller: self.controller.clone(),
            stdio: self.stdio.clone(),
            health: self.health.clone(),
        }
    }
}

impl<P, H> Services<P, H> {
    /// The service part of a gRPC path, when a method follows it.
    fn service_of(path: &str) -> Option<&str> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        (!method.is_empty()).then_some(service)
    }
}

impl<P, H> Service<http::Request<Body>> for Services<P, H>
where
    P: Provider,
    H: Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = std::convert::Infallible,
        > + NamedService
        + Clone
        + Send
        + 'static,
    H::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    /// Always ready: the generated services are (their `poll_ready` returns `Ready(Ok)`), and
    /// each request is handed to its own clone.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let service = Self::service_of(req.uri().path());
        if service == Some(ProviderServer::<P>::NAME) {
            Box::pin(self.provider.clone().call(req))
        } else if service == Some(GrpcControllerServer::<Controller>::NAME) {
            Box::pin(self.controller.clone().call(req))
        } else if service == Some(GrpcStdioServer::<Stdio>::NAME) {
            Box::pin(self.stdio.clone().call(req))
        } else if service == Some(H::NAME) {
            Box::pin(self.health.clone().call(req))
        } else {
            Box::pin(std::future::ready(
                Ok(Status::unimplemented("").into_http()),
            ))
        }
    }
}

/// Where to listen.
pub enum Listen {
    /// A unix socket in this private directory.
    #[cfg(unix)]
    Unix(SocketDir),
    /// 127.0.0.1, on the first free port of the range (any free port without one).
    Tcp(Option<RangeInclusive<u16>>),
}

/// How the server was asked to listen.
pub struct ServeOptions {
    pub listen: Listen,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub stop: StopHandle,
}

/// A bound, not yet serving, server; split from [`Bound::serve`] so the
/// caller can print the handshake line between "listening" and "serving".
pub struct Bound {
    listener: Listener,
    address: Address,
    /// Removed (with the socket) when the server stops.
    #[cfg(unix)]
    socket_dir: Option<SocketDir>,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: StopHandle,
}

impl Bound {
    /// Binds the socket or port (must be called inside the runtime).
    pub async fn bind(opts: ServeOptions) -> io::Result<Self> {
        let ServeOptions { listen, tls, stop } = opts;
        match listen {
            #[cfg(unix)]
            Listen::Unix(dir) => {
                let listener = UnixListener::bind(dir.socket_path())?;
                Ok(Self {
                    listener: Listener::Unix(listener),
                    address: Address::Unix(dir.socket_path().to_path_buf()),
                    socket_dir: Some(dir),
                    tls,
                    stop,
                })
            }
            Listen::Tcp(range) => {
                let listener = bind_tcp(range).await?;
                let port = listener.local_addr()?.port();
                Ok(Self {
                    listener: Listener::Tcp(listener),
                    address: Address::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
                    #[cfg(unix)]
                    socket_dir: None,
                    tls,
                    stop,
                })
            }
        }
    }

    /// What the handshake line announces.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Serves `provider` until the stop token fires, then drains (bounded)
    /// and removes the socket directory, if any.
    pub async fn serve<P: Provider>(self, provider: P) -> Result<(), tonic::transport::Error> {
        let Bound {
            listener,
            address: _,
            #[cfg(unix)]
            socket_dir,
            tls,
            stop,
        } = self;

        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status("plugin", tonic_health::ServingStatus::Serving)
            .await;

        let provider = ProviderServer::new(provider)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE);
        let services = Services {
            provider,
            controller: GrpcControllerServer::new(Controller { stop: stop.clone() }),
            stdio: GrpcStdioServer::new(Stdio { stop: stop.clone() }),
            health: health_service,
        };

        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let conns = incoming(listener, acceptor, stop.token.clone());
        let serve = tonic::transport::Server::builder().serve_with_incoming_shutdown(
            services,
            conns,
            stop.token.clone().cancelled_owned(),
        );
        let mut serve = std::pin::pin!(serve);

        let result = tokio::select! {
            r = &mut serve => r,
            () = stop.stopped() => {
                match tokio::time::timeout(stop.drain(), &mut serve).await {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::debug!("connections still open after the drain limit; exiting anyway");
                        Ok(())
                    }
                }
            }
        };
        // Wake anything still waiting (e.g. after a serve error).
        stop.stop(Duration::ZERO);
        health
            .set_service_status("plugin", tonic_health::ServingStatus::NotServing)
            .await;
        #[cfg(unix)]
        drop(socket_dir);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_takes_the_first_free_port_of_the_range() {
        // A port we hold is busy; the listener must move on to the next free one.
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let busy = held.local_addr().unwrap().port();
        let Some(last) = busy.checked_add(20) else {
            return; // at the top of the port space there is no room for the range
        };
        let l = bind_tcp(Some(busy..=last)).await.unwrap();
        let addr = l.local_addr().unwrap();
        assert_eq!(addr.ip(), Ipv4Addr::LOCALHOST);
        assert!(addr.port() > busy && addr.port() <= last, "{addr}");

        // A range whose only port is taken is an error naming the range.
        let err = bind_tcp(Some(busy..=busy)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no free port on 127.0.0.1 between PLUGIN_MIN_PORT={busy} and PLUGIN_MAX_PORT={busy}"
            )
        );

        // No range: any free loopback port.
        let any = bind_tcp(None).await.unwrap().local_addr().unwrap();
        assert_eq!(any.ip(), Ipv4Addr::LOCALHOST);
        assert_ne!(any.port(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn socket_dir_is_private_and_removed_on_drop() {
        let parent = tempfile::tempdir().unwrap();
        let dir = SocketDir::create(Some(parent.path())).unwrap();
        let path = dir.path().to_path_buf();
        assert!(path.starts_with(parent.path()));
        assert_eq!(dir.socket_path().parent(), Some(path.as_path()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::write(path.join("leftover"), b"x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn stdio_stream_ends_when_stopped() {
        use futures::StreamExt as _;
        let stop = StopHandle::new();
        let stdio = Stdio { stop: stop.clone() };
        let mut stream = stdio
            .stream_stdio(Request::new(()))
            .await
            .unwrap()
            .into_inner();
        let pending = tokio::time::timeout(Duration::from_millis(20), stream.next()).await;
        assert!(pending.is_err(), "must stay silent while serving");
        stop.stop(SIGNAL_DRAIN);
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn shutdown_cancels_the_token() {
        let stop = StopHandle::new();
        let c = Controller { stop: stop.clone() };
        c.shutdown(Request::new(Empty {})).await.unwrap();
        assert!(stop.is_stopped());
        assert_eq!(stop.drain(), SHUTDOWN_DRAIN);
    }

    #[test]
    fn shortest_drain_wins() {
        let stop = StopHandle::new();
        assert!(!stop.is_stopped());
        stop.stop(SIGNAL_DRAIN);
        assert_eq!(stop.drain(), SIGNAL_DRAIN);
        stop.stop(SHUTDOWN_DRAIN);
        assert_eq!(stop.drain(), SHUTDOWN_DRAIN);
        stop.stop(SIGNAL_DRAIN);
        assert_eq!(stop.drain(), SHUTDOWN_DRAIN);
    }
}
