//! Gateway heap per idle session, and where it goes (issue 10, item 4).
//!
//!     cargo bench -p rserpool-gateway --bench session_memory -- [SESSIONS]
//!
//! The gateway runs in this process on its own runtime, in front of an
//! in-process registrar whose associations never speak (the same seam the
//! gateway's tests use), on 127.0.0.1. Clients run on a second runtime and
//! open SESSIONS (default 1000) TLS WebSocket sessions that stay idle. A
//! counting allocator charges every allocation to the runtime whose thread
//! made it, so the figure is the gateway's live heap per session and
//! nothing of the clients. The parts are then measured alone, on a gateway
//! thread: one TLS server connection after its handshake (rustls), one
//! WebSocket stream over it with the gateway's buffer sizes (tungstenite),
//! and what is left (the session and reader tasks, channels, the fake
//! association) is the difference.
//!
//! The lab's capacity bench (`lab-bench --capacity`, BENCHMARKS.md) measures
//! the same thing as RSS inside the VM with real SCTP associations; this one
//! runs anywhere, in a second, and breaks the figure down.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use client_core::gateway_protocol::SUBPROTOCOL;
use futures_util::future::BoxFuture;
use rserpool_gateway::upstream::{Association, Connector, Delivery};
use rserpool_gateway::{Config, Gateway, Limits, Route};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Counting;

static GATEWAY_LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Set on the gateway runtime's threads (and while measuring parts).
    static GATEWAY_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn on_gateway_thread() -> bool {
    GATEWAY_THREAD.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if on_gateway_thread() {
            GATEWAY_LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if on_gateway_thread() {
            GATEWAY_LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if on_gateway_thread() {
            GATEWAY_LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    GATEWAY_LIVE.load(Ordering::Relaxed)
}

/// A registrar association that never sends anything.
struct Quiet;

impl Association for Quiet {
    fn send<'a>(&'a self, _: u32, _: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn recv(&self) -> BoxFuture<'_, io::Result<Delivery>> {
        Box::pin(std::future::pending())
    }
}

struct QuietNet;

impl Connector for QuietNet {
    fn connect(&self, _: Vec<SocketAddr>) -> BoxFuture<'static, io::Result<Arc<dyn Association>>> {
        Box::pin(async { Ok(Arc::new(Quiet) as Arc<dyn Association>) })
    }
}

fn gateway_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(|| GATEWAY_THREAD.with(|g| g.set(true)))
        .enable_all()
        .build()
        .expect("runtime")
}

fn client_config(dir: &std::path::Path) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(dir.join("ca.pem")).expect("ca") {
        roots.add(c.expect("ca cert")).expect("root");
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// Gateway heap per idle session, in bytes, over `n` sessions.
fn whole(dir: &std::path::Path, n: usize) -> f64 {
    let server_rt = gateway_runtime();
    let limits = Limits {
        max_connections: n + 16,
        max_connections_per_ip: n + 16,
        ..Limits::default()
    };
    let cfg = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        cert: Some(dir.join("server.pem")),
        key: Some(dir.join("server-key.pem")),
        routes: vec![Route {
            path: "/asap".into(),
            registrar: vec!["10.1.0.1:3863".parse().expect("addr")],
        }],
        limits,
        ..Config::default()
    };
    let url = server_rt.block_on(async {
        let gw = Gateway::new(cfg, Arc::new(QuietNet)).expect("gateway");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(gw.serve(listener, std::future::pending()));
        format!("wss://localhost:{port}/asap")
    });
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let ca = client_config(dir);
    let open = |count: usize| {
        client_rt.block_on(async {
            let mut held = Vec::with_capacity(count);
            for _ in 0..count {
                let mut req = url.as_str().into_client_request().expect("request");
                req.headers_mut().insert(
                    "sec-websocket-protocol",
                    SUBPROTOCOL.parse().expect("value"),
                );
                let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
                    req,
                    None,
                    false,
                    Some(tokio_tungstenite::Connector::Rustls(ca.clone())),
                )
                .await
                .expect("session");
                held.push(ws);
            }
            held
        })
    };
    let settle = || std::thread::sleep(std::time::Duration::from_millis(300));
    // Warm up (the listener's first accept, the TLS session cache, lazily
    // built tables), then count from there.
    let warm = open(16);
    settle();
    let before = live();
    let held = open(n);
    settle();
    let after = live();
    drop((warm, held));
    drop(client_rt);
    drop(server_rt);
    (after - before) as f64 / n as f64
}

/// Heap of one TLS server connection after its handshake, and of the
/// gateway's WebSocket stream over it, measured on a gateway-marked thread
/// over an in-memory pipe (the client half runs unmarked).
fn parts(dir: &std::path::Path, n: usize) -> (f64, f64) {
    let server_cfg = Arc::new(
        rserpool_gateway::server::tls_config(&dir.join("server.pem"), &dir.join("server-key.pem"))
            .expect("tls"),
    );
    let ca = client_config(dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut tls_total = 0isize;
        let mut ws_total = 0isize;
        let mut held = Vec::new();
        for _ in 0..n {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let acceptor = tokio_rustls::TlsAcceptor::from(server_cfg.clone());
            let connector = tokio_rustls::TlsConnector::from(ca.clone());
            let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
            // Only the server half's allocations are charged: the flag is
            // set around its polls.
            let server = Marked(Box::pin(acceptor.accept(a)));
            let client = connector.connect(name, b);
            let before = live();
            let (s, c) = tokio::join!(server, client);
            let (s, c) = (s.expect("server tls"), c.expect("client tls"));
            let after_tls = live();
            tls_total += after_tls - before;
            let ws_server = Marked(Box::pin(tokio_tungstenite::accept_async_with_config(
                s,
                Some(rserpool_gateway::server::ws_config(&Limits::default())),
            )));
            let ws_client = tokio_tungstenite::client_async("ws://localhost/asap", c);
            let (ws, wc) = tokio::join!(ws_server, ws_client);
            ws_total += live() - after_tls;
            held.push((ws.expect("ws server"), wc.expect("ws client")));
        }
        (tls_total as f64 / n as f64, ws_total as f64 / n as f64)
    })
}

/// A future whose polls count as the gateway's.
struct Marked<F>(F);

impl<F: std::future::Future + Unpin> std::future::Future for Marked<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        GATEWAY_THREAD.with(|g| g.set(true));
        let r = std::pin::Pin::new(&mut self.0).poll(cx);
        GATEWAY_THREAD.with(|g| g.set(false));
        r
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!("gw-mem-bench-{}", std::process::id()));
    rserpool_gateway::certs::generate(&dir, &["localhost".into()], "bench CA").expect("certs");
    let per_session = whole(&dir, n);
    let (tls, ws) = parts(&dir, n.min(200));
    let _ = std::fs::remove_dir_all(&dir);
    println!("gateway heap per idle session ({n} sessions): {per_session:.0} B");
    println!("  TLS server connection after handshake (rustls): {tls:.0} B");
    println!("  WebSocket stream over it (tungstenite, gateway buffers): {ws:.0} B");
    println!(
        "  session and reader tasks, channels, association: {:.0} B",
        per_session - tls - ws
    );
}
