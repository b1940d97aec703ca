//! The client against the real gateway on 127.0.0.1 (TLS, WebSockets,
//! the `rserpool.asap.v1` subprotocol), whose upstream side is an
//! in-process fake registrar and two echo pool elements (this host has no
//! kernel SCTP; live RSPLIB runs in the lab tests of `tests/`).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use client_core::wire::{self, *};
use futures_util::future::BoxFuture;
use rserpool_client::{Client, ClientConfig, Event, FailureKind};
use rserpool_gateway::upstream::{Association, Connector};
use rserpool_gateway::{Config, Gateway, Route};
use tokio::sync::{mpsc, Mutex};

const REGISTRAR: &str = "10.1.0.1:3863";
const PE_ADDRS: [&str; 2] = ["10.0.2.15:7001", "10.0.2.16:7002"];

fn element(i: usize) -> PoolElement {
    let a: SocketAddr = PE_ADDRS[i].parse().unwrap();
    PoolElement {
        id: PoolElementId(0x0e00_0001 + i as u32),
        home_registrar: ServerId(0x1000_0001),
        registration_life_ms: 90_000,
        user_transport: TransportAddress::sctp(a.port(), 1, vec![a.ip()]),
        policy: SelectionPolicy::RoundRobin,
        registrator_transport: None,
    }
}

/// What a fake association does with what is sent to it.
#[derive(Clone, Copy)]
enum Role {
    /// Answers a Handle Resolution as RSPLIB's registrar does: as many
    /// elements as the request's option asks for, rotated round-robin
    /// between requests.
    Registrar,
    /// Echoes data; dies (its association ends, new ones are refused)
    /// once `dead` names it.
    Element(usize),
}

struct Fake {
    role: Role,
    dead: Arc<Dead>,
    tx: mpsc::Sender<(u32, Vec<u8>)>,
    rx: Mutex<mpsc::Receiver<(u32, Vec<u8>)>>,
}

impl Association for Fake {
    fn send<'a>(&'a self, ppid: u32, data: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let answer = match self.role {
                Role::Registrar => match wire::decode(Protocol::Asap, data).map(|d| d.message) {
                    Ok(Message::Asap(AsapMessage::HandleResolution(h))) => {
                        let items = h.option.as_ref().map_or(2, |o| o.items as usize);
                        let turn = self.dead.turn.fetch_add(1, Ordering::SeqCst);
                        let elements = (0..items.min(2)).map(|i| element((turn + i) % 2)).collect();
                        Some(
                            Message::Asap(AsapMessage::HandleResolutionResponse(
                                HandleResolutionResponse {
                                    pool_handle: h.pool_handle,
                                    policy: Some(SelectionPolicy::RoundRobin),
                                    elements,
                                    error: None,
                                },
                            ))
                            .to_bytes(),
                        )
                    }
                    _ => None,
                },
                Role::Element(_) => Some(data.to_vec()),
            };
            if let Some(a) = answer {
                let _ = self.tx.send((ppid, a)).await;
            }
            Ok(())
        })
    }

    fn recv(&self) -> BoxFuture<'_, io::Result<Option<(u32, Vec<u8>)>>> {
        Box::pin(async move {
            let mut rx = self.rx.lock().await;
            loop {
                if let Role::Element(i) = self.role {
                    if self.dead.is(i) {
                        return Err(io::Error::other("pool element died"));
                    }
                }
                match tokio::time::timeout(Duration::from_millis(20), rx.recv()).await {
                    Ok(Some(m)) => return Ok(Some(m)),
                    Ok(None) => return Err(io::Error::other("closed")),
                    Err(_) => {}
                }
            }
        })
    }
}

/// The fake network's state: which pool element is dead (none: 0, else
/// index + 1) and the registrar's round-robin turn.
#[derive(Default)]
struct Dead {
    dead: AtomicUsize,
    turn: AtomicUsize,
}

impl Dead {
    fn is(&self, i: usize) -> bool {
        self.dead.load(Ordering::SeqCst) == i + 1
    }
    fn kill(&self, id: PoolElementId) {
        let i = (0..PE_ADDRS.len()).find(|i| element(*i).id == id).unwrap();
        self.dead.store(i + 1, Ordering::SeqCst);
    }
}

struct FakeNet {
    dead: Arc<Dead>,
}

impl Connector for FakeNet {
    fn connect(
        &self,
        addrs: Vec<SocketAddr>,
    ) -> BoxFuture<'static, io::Result<Arc<dyn Association>>> {
        let dead = self.dead.clone();
        Box::pin(async move {
            let role = if addrs[0] == REGISTRAR.parse::<SocketAddr>().unwrap() {
                Role::Registrar
            } else if let Some(i) = PE_ADDRS.iter().position(|a| a.parse() == Ok(addrs[0])) {
                if dead.is(i) {
                    return Err(io::Error::other("refused"));
                }
                Role::Element(i)
            } else {
                return Err(io::Error::other("unreachable"));
            };
            let (tx, rx) = mpsc::channel(16);
            Ok(Arc::new(Fake {
                role,
                dead,
                tx,
                rx: Mutex::new(rx),
            }) as Arc<dyn Association>)
        })
    }
}

struct Harness {
    url: String,
    dir: PathBuf,
    dead: Arc<Dead>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Harness {
    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn config(&self, ca: Option<&Path>) -> ClientConfig {
        let mut c = ClientConfig::new([self.url.clone()]);
        c.ca = ca.map(Path::to_path_buf);
        c
    }
}

async fn start(name: &str) -> Harness {
    let dir = std::env::temp_dir().join(format!("client-gw-{}-{name}", std::process::id()));
    rserpool_gateway::certs::generate(&dir, &["localhost".into()], "client test CA").unwrap();
    let cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert: Some(dir.join("server.pem")),
        key: Some(dir.join("server-key.pem")),
        routes: vec![Route {
            path: "/asap".into(),
            registrar: vec![REGISTRAR.parse().unwrap()],
        }],
        ..Config::default()
    };
    let dead = Arc::new(Dead::default());
    let gw = Gateway::new(cfg, Arc::new(FakeNet { dead: dead.clone() })).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "wss://localhost:{}/asap",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(gw.serve(listener, std::future::pending()));
    Harness { url, dir, dead }
}

#[tokio::test]
async fn resolves_a_pool_through_the_gateway() {
    let h = start("resolve").await;
    let mut client = Client::new(h.config(Some(&h.ca()))).unwrap();
    let elements = tokio::time::timeout(Duration::from_secs(10), client.resolve("EchoPool"))
        .await
        .expect("an answer within 10 s")
        .expect("resolved");
    let ids: Vec<PoolElementId> = elements.iter().map(|e| e.id).collect();
    assert_eq!(ids, [element(0).id, element(1).id]);
    assert_eq!(client.home_registrar().as_deref(), Some(h.url.as_str()));
}

#[tokio::test]
async fn an_untrusted_gateway_fails_resolution_naming_the_tls_reason() {
    let h = start("untrusted").await;
    let mut client = Client::new(h.config(None)).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), client.resolve("EchoPool"))
        .await
        .expect("a verdict within 30 s")
        .expect_err("the web PKI does not trust the test CA");
    let (what, failure) = &err.attempts[0];
    assert_eq!(what, &h.url);
    assert_eq!(failure.kind, FailureKind::Tls);
    assert!(failure.text.contains("UnknownIssuer"), "{}", failure.text);
    assert!(
        err.to_string()
            .starts_with("resolving EchoPool: no registrar reachable"),
        "{err}"
    );
}

#[tokio::test]
async fn a_session_echoes_and_fails_over_when_its_element_dies() {
    let h = start("failover").await;
    let mut client = Client::new(h.config(Some(&h.ca()))).unwrap();
    let session = client.open_session("EchoPool");
    client.send(session, b"one".to_vec()).unwrap();
    let mut echoed = Vec::new();
    let mut failover = None;
    let mut first = None;
    let run = async {
        loop {
            match client.next_event().await {
                Event::SessionData { bytes, .. } => {
                    echoed.push(bytes);
                    if echoed.len() == 1 {
                        // The element that answered dies; the next message
                        // must reach the other one.
                        let pe = client.driver().pool_user().session_element(session);
                        let pe = pe.expect("the session has an element").id;
                        first = Some(pe);
                        h.dead.kill(pe);
                    } else {
                        return;
                    }
                }
                Event::Failover(n) => {
                    failover = Some(n);
                    client.send(session, b"two".to_vec()).unwrap();
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("echo, failover and echo within 20 s");
    assert_eq!(echoed, [b"one".to_vec(), b"two".to_vec()]);
    let n = failover.expect("a failover notice");
    assert_eq!(Some(n.old_element), first);
    assert_ne!(n.new_element, n.old_element);
    assert!(n.new_security.via_gateway && n.new_security.tls);
}
