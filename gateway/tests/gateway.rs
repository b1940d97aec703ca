//! The gateway on 127.0.0.1 with real TLS and WebSockets, in front of an
//! in-process fake registrar and pool element (this host has no kernel
//! SCTP; live RSPLIB runs in the lab tests). Each hostile input gets its
//! typed refusal while a well-behaved client keeps being served.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use client_core::gateway_protocol::{Frame, NoticeCode, SUBPROTOCOL};
use client_core::wire::{self, *};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use rserpool_gateway::upstream::{Association, Connector, Delivery};
use rserpool_gateway::{Config, Gateway, Limits, Route};
use tokio::sync::{mpsc, Mutex};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Ws;

const PE_ID: u32 = 0x0e00_0001;
const REGISTRAR: &str = "10.1.0.1:3863";
const PE_ADDR: &str = "10.0.2.15:7";

/// Answers to one sent message: `(ppid, bytes)` pairs.
type Respond = fn(u32, &[u8]) -> Vec<(u32, Vec<u8>)>;

/// A fake association: what is sent is answered by `respond`.
struct Fake {
    tx: mpsc::Sender<(u32, Vec<u8>)>,
    rx: Mutex<mpsc::Receiver<(u32, Vec<u8>)>>,
    respond: Respond,
    /// Notified: the peer shuts the association down gracefully (as
    /// RSPLIB's autoclose does with an idle one).
    shutdown: Arc<tokio::sync::Notify>,
}

impl Association for Fake {
    fn send<'a>(&'a self, ppid: u32, data: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            for r in (self.respond)(ppid, data) {
                let _ = self.tx.send(r).await;
            }
            Ok(())
        })
    }
    fn recv(&self) -> BoxFuture<'_, io::Result<Delivery>> {
        Box::pin(async move {
            let mut rx = self.rx.lock().await;
            tokio::select! {
                m = rx.recv() => m.map(Some).ok_or_else(|| io::Error::other("closed")),
                _ = self.shutdown.notified() => Ok(None),
            }
        })
    }
}

fn element() -> PoolElement {
    let a: SocketAddr = PE_ADDR.parse().unwrap();
    PoolElement {
        id: PoolElementId(PE_ID),
        home_registrar: ServerId(0x1000_0001),
        registration_life_ms: 90_000,
        user_transport: TransportAddress::sctp(a.port(), 1, vec![a.ip()]),
        policy: SelectionPolicy::RoundRobin,
        registrator_transport: None,
    }
}

/// The registrar: answers a Handle Resolution with one PE.
fn registrar(ppid: u32, data: &[u8]) -> Vec<(u32, Vec<u8>)> {
    match wire::decode(Protocol::Asap, data).map(|d| d.message) {
        Ok(Message::Asap(AsapMessage::HandleResolution(h))) => {
            let m = Message::Asap(AsapMessage::HandleResolutionResponse(
                HandleResolutionResponse {
                    pool_handle: h.pool_handle,
                    policy: Some(SelectionPolicy::RoundRobin),
                    elements: vec![element()],
                    error: None,
                },
            ));
            vec![(ppid, m.to_bytes())]
        }
        _ => vec![],
    }
}

/// The pool element: echoes data.
fn echo(ppid: u32, data: &[u8]) -> Vec<(u32, Vec<u8>)> {
    if ppid == 11 {
        vec![]
    } else {
        vec![(ppid, data.to_vec())]
    }
}

struct FakeNet {
    /// Every address the gateway tried to reach.
    dialed: std::sync::Mutex<Vec<SocketAddr>>,
    /// Shutdown triggers of every registrar association opened.
    registrar_assocs: std::sync::Mutex<Vec<Arc<tokio::sync::Notify>>>,
    /// The registrar refuses new associations (its process is gone).
    registrar_down: std::sync::atomic::AtomicBool,
}

impl FakeNet {
    /// The registrar shuts every open association down gracefully.
    fn registrar_shuts_down_associations(&self) {
        for n in self.registrar_assocs.lock().unwrap().drain(..) {
            n.notify_one();
        }
    }

    fn registrar_dials(&self) -> usize {
        let r: SocketAddr = REGISTRAR.parse().unwrap();
        self.dialed
            .lock()
            .unwrap()
            .iter()
            .filter(|&&a| a == r)
            .count()
    }
}

impl Connector for FakeNet {
    fn connect(
        &self,
        addrs: Vec<SocketAddr>,
    ) -> BoxFuture<'static, io::Result<Arc<dyn Association>>> {
        self.dialed.lock().unwrap().extend(addrs.iter().copied());
        let shutdown = Arc::new(tokio::sync::Notify::new());
        let to_registrar = addrs.first() == Some(&REGISTRAR.parse().unwrap());
        if to_registrar {
            self.registrar_assocs.lock().unwrap().push(shutdown.clone());
        }
        let refused = to_registrar
            && self
                .registrar_down
                .load(std::sync::atomic::Ordering::Relaxed);
        Box::pin(async move {
            if refused {
                return Err(io::Error::from(io::ErrorKind::ConnectionRefused));
            }
            let respond = if addrs[0] == REGISTRAR.parse::<SocketAddr>().unwrap() {
                registrar
            } else if addrs[0] == PE_ADDR.parse::<SocketAddr>().unwrap() {
                echo
            } else {
                return Err(io::Error::other("unreachable"));
            };
            let (tx, rx) = mpsc::channel(16);
            Ok(Arc::new(Fake {
                tx,
                rx: Mutex::new(rx),
                respond,
                shutdown,
            }) as Arc<dyn Association>)
        })
    }
}

struct Harness {
    url: String,
    ca: Arc<rustls::ClientConfig>,
    gw: Arc<Gateway>,
    net: Arc<FakeNet>,
    _dir: tempdir::Dir,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn start(limits: Limits) -> Harness {
    let dir = std::env::temp_dir().join(format!(
        "gw-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    rserpool_gateway::certs::generate(&dir, &["localhost".into(), "127.0.0.1".into()], "test CA")
        .unwrap();
    let cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert: Some(dir.join("server.pem")),
        key: Some(dir.join("server-key.pem")),
        allowed_origins: vec!["http://127.0.0.1:8080".into()],
        routes: vec![Route {
            path: "/asap".into(),
            registrar: vec![REGISTRAR.parse().unwrap()],
        }],
        limits,
        ..Config::default()
    };
    let net = Arc::new(FakeNet {
        dialed: std::sync::Mutex::new(Vec::new()),
        registrar_assocs: std::sync::Mutex::new(Vec::new()),
        registrar_down: std::sync::atomic::AtomicBool::new(false),
    });
    let gw = Gateway::new(cfg, net.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "wss://localhost:{}/asap",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(gw.clone().serve(listener, std::future::pending()));
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for c in rustls_pki_types::CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let ca = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    Harness {
        url,
        ca,
        gw,
        net,
        _dir: tempdir::Dir(dir),
    }
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Harness {
    async fn connect_with(
        &self,
        origin: Option<&str>,
        subprotocol: bool,
    ) -> Result<Client, String> {
        let mut req = self.url.as_str().into_client_request().unwrap();
        if subprotocol {
            req.headers_mut()
                .insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
        }
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        tokio_tungstenite::connect_async_tls_with_config(
            req,
            None,
            false,
            Some(tokio_tungstenite::Connector::Rustls(self.ca.clone())),
        )
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
    }

    /// Connects and reads Hello and RegistrarUp.
    async fn client(&self) -> Client {
        let mut ws = self
            .connect_with(Some("http://127.0.0.1:8080"), true)
            .await
            .unwrap();
        assert!(matches!(
            next(&mut ws).await,
            Frame::Hello { version: 1, .. }
        ));
        assert!(matches!(
            next(&mut ws).await,
            Frame::Notice {
                code: NoticeCode::RegistrarUp,
                ..
            }
        ));
        ws
    }
}

async fn next(ws: &mut Client) -> Frame {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("stream open")
            .expect("no error");
        if let Ws::Binary(b) = m {
            return Frame::decode(&b).expect("the gateway sends valid frames");
        }
    }
}

async fn send(ws: &mut Client, f: Frame) {
    ws.send(Ws::Binary(f.encode().into())).await.unwrap();
}

fn hr() -> Frame {
    Frame::registrar(
        Message::Asap(AsapMessage::HandleResolution(HandleResolution {
            pool_handle: PoolHandle::from("EchoPool"),
            option: None,
        }))
        .to_bytes(),
    )
}

async fn resolve(ws: &mut Client) -> HandleResolutionResponse {
    send(ws, hr()).await;
    match next(ws).await {
        Frame::Message {
            channel: 0,
            ppid: 11,
            payload,
        } => match wire::decode(Protocol::Asap, &payload).unwrap().message {
            Message::Asap(AsapMessage::HandleResolutionResponse(h)) => h,
            m => panic!("unexpected {m:?}"),
        },
        f => panic!("unexpected {f:?}"),
    }
}

async fn expect_notice(ws: &mut Client, want: NoticeCode) -> String {
    match next(ws).await {
        Frame::Notice { code, text, .. } if code == want => text,
        f => panic!("expected {want:?}, got {f:?}"),
    }
}

#[tokio::test]
async fn resolves_and_echoes_through_a_pe_session() {
    let h = start(Limits::default()).await;
    let mut ws = h.client().await;
    let r = resolve(&mut ws).await;
    assert_eq!(r.elements[0].id, PoolElementId(PE_ID));
    send(
        &mut ws,
        Frame::OpenSession {
            channel: 1,
            app_ppid: 0,
            pe_id: PE_ID,
            pool_handle: b"EchoPool".to_vec(),
        },
    )
    .await;
    expect_notice(&mut ws, NoticeCode::SessionUp).await;
    send(
        &mut ws,
        Frame::Message {
            channel: 1,
            ppid: 0,
            payload: b"hello".to_vec(),
        },
    )
    .await;
    assert_eq!(
        next(&mut ws).await,
        Frame::Message {
            channel: 1,
            ppid: 0,
            payload: b"hello".to_vec()
        }
    );
    // The gateway dialled exactly the registrar and the resolved PE.
    let dialed = h.net.dialed.lock().unwrap().clone();
    assert_eq!(
        dialed,
        vec![REGISTRAR.parse().unwrap(), PE_ADDR.parse().unwrap()]
    );
}

#[tokio::test]
async fn hostile_inputs_get_typed_refusals_while_a_good_client_is_served() {
    let h = start(Limits {
        max_payload: 1024,
        max_sessions: 1,
        ..Limits::default()
    })
    .await;
    let mut good = h.client().await;
    let mut bad = h.client().await;

    // Every forbidden ASAP type on the registrar channel.
    let el = element();
    let ph = PoolHandle::from("EchoPool");
    let forbidden = vec![
        AsapMessage::Registration(Registration {
            pool_handle: ph.clone(),
            pool_element: el.clone(),
        }),
        AsapMessage::Deregistration(Deregistration {
            pool_handle: ph.clone(),
            pe_id: el.id,
        }),
        AsapMessage::EndpointKeepAliveAck(EndpointKeepAliveAck {
            pool_handle: ph.clone(),
            pe_id: el.id,
        }),
        AsapMessage::CookieEcho(Cookie(vec![1, 2, 3, 4])),
        AsapMessage::Unknown(UnknownMessage {
            msg_type: 0x7f,
            flags: 0,
            body: vec![],
        }),
    ];
    for m in forbidden {
        send(&mut bad, Frame::registrar(Message::Asap(m).to_bytes())).await;
        expect_notice(&mut bad, NoticeCode::ForbiddenMessageType).await;
    }
    // ENRP (PPID 12) on the registrar channel.
    let enrp = Message::Enrp(EnrpMessage::ListRequest(ListRequest {
        sender: ServerId(1),
        receiver: ServerId(2),
    }));
    send(
        &mut bad,
        Frame::Message {
            channel: 0,
            ppid: 12,
            payload: enrp.to_bytes(),
        },
    )
    .await;
    expect_notice(&mut bad, NoticeCode::ForbiddenMessageType).await;
    // Undecodable ASAP.
    send(&mut bad, Frame::registrar(vec![5, 0, 0, 64])).await;
    expect_notice(&mut bad, NoticeCode::UndecodableMessage).await;
    // Malformed frame, unknown channel, oversized payload, text frame.
    bad.send(Ws::Binary(vec![9, 9].into())).await.unwrap();
    expect_notice(&mut bad, NoticeCode::MalformedFrame).await;
    send(
        &mut bad,
        Frame::Message {
            channel: 9,
            ppid: 0,
            payload: b"x".to_vec(),
        },
    )
    .await;
    expect_notice(&mut bad, NoticeCode::UnknownChannel).await;
    send(&mut bad, Frame::registrar(vec![0; 1000])).await;
    expect_notice(&mut bad, NoticeCode::UndecodableMessage).await;
    send(
        &mut bad,
        Frame::Message {
            channel: 9,
            ppid: 0,
            payload: vec![0; 1025],
        },
    )
    .await;
    expect_notice(&mut bad, NoticeCode::TooLarge).await;
    bad.send(Ws::Text("hello".into())).await.unwrap();
    expect_notice(&mut bad, NoticeCode::TextFrame).await;
    // A PE session to a PE never resolved here (no open proxy / SSRF).
    send(
        &mut bad,
        Frame::OpenSession {
            channel: 1,
            app_ppid: 0,
            pe_id: 0xdead_beef,
            pool_handle: b"EchoPool".to_vec(),
        },
    )
    .await;
    expect_notice(&mut bad, NoticeCode::PeNotResolved).await;
    // After resolving: one session allowed, the second is too many.
    resolve(&mut bad).await;
    send(
        &mut bad,
        Frame::OpenSession {
            channel: 1,
            app_ppid: 0,
            pe_id: PE_ID,
            pool_handle: vec![],
        },
    )
    .await;
    expect_notice(&mut bad, NoticeCode::SessionUp).await;
    send(
        &mut bad,
        Frame::OpenSession {
            channel: 2,
            app_ppid: 0,
            pe_id: PE_ID,
            pool_handle: vec![],
        },
    )
    .await;
    expect_notice(&mut bad, NoticeCode::TooManySessions).await;
    // A Registration on a PE session is refused too.
    send(
        &mut bad,
        Frame::Message {
            channel: 1,
            ppid: 11,
            payload: Message::Asap(AsapMessage::Deregistration(Deregistration {
                pool_handle: ph.clone(),
                pe_id: el.id,
            }))
            .to_bytes(),
        },
    )
    .await;
    expect_notice(&mut bad, NoticeCode::ForbiddenMessageType).await;

    // The good client was served all along, and still is.
    assert_eq!(resolve(&mut good).await.elements.len(), 1);
    assert!(h.gw.metrics.notices(NoticeCode::ForbiddenMessageType) >= 7);
    // Nothing reached the registrar but resolutions.
    assert!(h
        .gw
        .metrics
        .render()
        .contains("rserpool_gateway_notices_total{code=\"forbidden-message-type\"}"));
}

#[tokio::test]
async fn handle_resolutions_beyond_the_rate_are_refused() {
    let h = start(Limits {
        hr_per_second: 0.0,
        hr_burst: 3,
        ..Limits::default()
    })
    .await;
    let mut ws = h.client().await;
    for _ in 0..3 {
        resolve(&mut ws).await;
    }
    send(&mut ws, hr()).await;
    expect_notice(&mut ws, NoticeCode::RateLimited).await;
}

#[tokio::test]
async fn bad_origin_and_missing_subprotocol_are_refused_at_the_handshake() {
    let h = start(Limits::default()).await;
    let e = h
        .connect_with(Some("https://evil.example"), true)
        .await
        .unwrap_err();
    assert!(e.contains("403"), "{e}");
    let e = h.connect_with(None, false).await.unwrap_err();
    assert!(e.contains("400"), "{e}");
    assert_eq!(h.gw.metrics.handshakes_failed.get(), 2);
}

#[tokio::test]
async fn connection_flood_is_capped_per_address() {
    let h = start(Limits {
        max_connections_per_ip: 2,
        ..Limits::default()
    })
    .await;
    let _a = h.client().await;
    let _b = h.client().await;
    assert!(h.connect_with(None, true).await.is_err());
    assert!(h.gw.metrics.connections_refused.get() >= 1);
}

#[tokio::test]
async fn a_slow_handshake_is_cut_off() {
    let h = start(Limits {
        handshake_timeout_ms: 300,
        ..Limits::default()
    })
    .await;
    let port: u16 = h
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/asap")
        .parse()
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    // Say nothing; the gateway must close within its timeout (+ margin).
    let mut buf = [0u8; 16];
    use tokio::io::AsyncReadExt;
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "{r:?}");
    assert_eq!(h.gw.metrics.handshakes_failed.get(), 1);
}

#[tokio::test]
async fn tls_1_1_clients_are_refused() {
    // rustls cannot speak TLS 1.1; send a raw ClientHello whose versions
    // stop at TLS 1.1 and expect a protocol_version alert or a close.
    let h = start(Limits::default()).await;
    let port: u16 = h
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/asap")
        .parse()
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let record = rserpool_gateway::client::legacy_client_hello(0x0302);
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(&record).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    // Either an alert record (0x15) or a plain close; never a ServerHello.
    assert!(n == 0 || buf[0] == 0x15, "got {:?}", &buf[..n]);
    assert!(h.gw.metrics.handshakes_failed.get() >= 1);
}

/// The close code of the next Close frame (other messages skipped), or
/// `None` if the connection ended without one.
async fn close_code(ws: &mut Client, limit: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Ws::Close(Some(f))))) => return Some(f.code.into()),
            Ok(Some(Ok(Ws::Close(None)))) | Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("no close within {limit:?}"),
        }
    }
}

async fn open_echo_session(ws: &mut Client) {
    resolve(ws).await;
    send(
        ws,
        Frame::OpenSession {
            channel: 1,
            app_ppid: 0,
            pe_id: PE_ID,
            pool_handle: b"EchoPool".to_vec(),
        },
    )
    .await;
    expect_notice(ws, NoticeCode::SessionUp).await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_within_the_write_timeout() {
    let h = start(Limits {
        write_timeout_ms: 500,
        ..Limits::default()
    })
    .await;
    let mut ws = h.client().await;
    open_echo_session(&mut ws).await;
    // 64 KB echoes sent, none read: the gateway's writes to this client
    // back up until one cannot complete.
    let big = vec![0x5a; 60_000];
    let t0 = std::time::Instant::now();
    for _ in 0..400 {
        let f = Frame::Message {
            channel: 1,
            ppid: 0,
            payload: big.clone(),
        };
        if tokio::time::timeout(
            Duration::from_millis(200),
            ws.send(Ws::Binary(f.encode().into())),
        )
        .await
        .map_or(true, |r| r.is_err())
        {
            break;
        }
        if h.gw.metrics.sessions_active.get() == 0 {
            break;
        }
    }
    let mut waited = 0;
    while h.gw.metrics.sessions_active.get() != 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(
        h.gw.metrics.sessions_active.get(),
        0,
        "the session of a client that never reads is still open after {:?}",
        t0.elapsed()
    );
    // A well-behaved client is served meanwhile and after.
    let mut good = h.client().await;
    resolve(&mut good).await;
}

#[tokio::test]
async fn a_quiet_session_that_answers_pings_outlives_the_idle_timeout() {
    let h = start(Limits {
        idle_timeout_ms: 1_500,
        ping_interval_ms: 300,
        ..Limits::default()
    })
    .await;
    // Reading (so tungstenite answers every Ping with a Pong) but sending
    // no frame for twice the idle timeout: still open.
    let mut quiet = h.client().await;
    let stay = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(Ok(m)) = quiet.next().await {
            assert!(
                !matches!(m, Ws::Close(_)),
                "closed although it answered pings"
            );
        }
        panic!("the quiet session ended");
    })
    .await;
    assert!(stay.is_err(), "the read loop ended early");
    resolve(&mut quiet).await;
}

#[tokio::test]
async fn an_idle_registrar_association_shut_down_by_the_registrar_is_reopened_silently() {
    // RSPLIB's registrar shuts down ASAP associations idle for its
    // autoclose timeout (300 s): no failure, so no `registrar-lost`.
    let h = start(Limits::default()).await;
    let mut ws = h.client().await;
    resolve(&mut ws).await;
    tokio::time::sleep(rserpool_gateway::policy::REGISTRAR_REOPEN_MIN_AGE).await;
    h.net.registrar_shuts_down_associations();
    let said = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
    assert!(said.is_err(), "the client was told {said:?}");
    assert_eq!(resolve(&mut ws).await.elements[0].id, PoolElementId(PE_ID));
    assert_eq!(h.net.registrar_dials(), 2);
    assert_eq!(h.gw.metrics.registrar_reopened.get(), 1);
    assert_eq!(h.gw.metrics.notices(NoticeCode::RegistrarLost), 0);
}

#[tokio::test]
async fn a_registrar_that_shut_down_and_refuses_a_new_association_is_registrar_lost() {
    // A registrar process that dies closes its associations gracefully too;
    // the reopening fails, and that is reported.
    let h = start(Limits::default()).await;
    let mut ws = h.client().await;
    resolve(&mut ws).await;
    tokio::time::sleep(rserpool_gateway::policy::REGISTRAR_REOPEN_MIN_AGE).await;
    h.net
        .registrar_down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    h.net.registrar_shuts_down_associations();
    expect_notice(&mut ws, NoticeCode::RegistrarLost).await;
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(1011)
    );
}

#[tokio::test]
async fn a_silent_session_is_closed_at_the_idle_timeout_with_1001() {
    // (No Pings in the way: a client reading queued Pings after the close
    // would fail writing their Pongs before it sees the Close frame.)
    let h = start(Limits {
        idle_timeout_ms: 1_000,
        ping_interval_ms: 60_000,
        ..Limits::default()
    })
    .await;
    let mut silent = h.client().await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        close_code(&mut silent, Duration::from_secs(5)).await,
        Some(1001)
    );
}

#[tokio::test]
async fn websocket_protocol_violations_close_with_1002() {
    let h = start(Limits::default()).await;
    let mut ws = h.client().await;
    // A control frame longer than 125 bytes (RFC 6455 §5.5) is a protocol
    // violation that tungstenite's client sink lets through.
    let _ = ws.send(Ws::Pong(vec![0; 200].into())).await;
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(1002)
    );
}
