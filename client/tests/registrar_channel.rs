//! A raw registrar channel through the real gateway on 127.0.0.1 (TLS,
//! WebSocket, `rserpool.asap.v1`), whose registrar is an in-process fake
//! that records what reaches it: the bytes a tool sends arrive unchanged
//! when the gateway's rules allow them, and each refusal comes back as a
//! typed notice (this host has no kernel SCTP; live RSPLIB is in the lab
//! tests of `tests/`).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use client_core::gateway_protocol::NoticeCode;
use client_core::wire::{self, *};
use futures_util::future::BoxFuture;
use rserpool_client::tls::client_config;
use rserpool_client::{FromRegistrar, GatewayOptions, RegistrarChannel};
use rserpool_gateway::upstream::{Association, Connector, Delivery};
use rserpool_gateway::{Config, Gateway, Route};
use tokio::sync::{mpsc, Mutex};

const REGISTRAR: &str = "10.1.0.1:3863";
const PE: PoolElementId = PoolElementId(0x0e00_0001);

fn pool() -> PoolHandle {
    PoolHandle(b"EchoPool".to_vec())
}

fn element() -> PoolElement {
    PoolElement {
        id: PE,
        home_registrar: ServerId(0x1000_0001),
        registration_life_ms: 90_000,
        user_transport: TransportAddress::sctp(7001, 1, vec!["10.0.2.15".parse().unwrap()]),
        policy: SelectionPolicy::RoundRobin,
        registrator_transport: None,
    }
}

fn asap(m: AsapMessage) -> Vec<u8> {
    Message::Asap(m).to_bytes()
}

fn resolution() -> Vec<u8> {
    asap(AsapMessage::HandleResolution(HandleResolution {
        pool_handle: pool(),
        option: None,
    }))
}

fn unreachable(pe: PoolElementId) -> Vec<u8> {
    asap(AsapMessage::EndpointUnreachable(EndpointUnreachable {
        pool_handle: pool(),
        pe_id: pe,
    }))
}

/// A registrar that answers every Handle Resolution with [`element`] and
/// keeps every message that reaches it.
struct FakeRegistrar {
    seen: Arc<StdMutex<Vec<Vec<u8>>>>,
    tx: mpsc::Sender<(u32, Vec<u8>)>,
    rx: Mutex<mpsc::Receiver<(u32, Vec<u8>)>>,
}

impl Association for FakeRegistrar {
    fn send<'a>(&'a self, ppid: u32, data: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(data.to_vec());
            if let Ok(Message::Asap(AsapMessage::HandleResolution(h))) =
                wire::decode(Protocol::Asap, data).map(|d| d.message)
            {
                let answer = asap(AsapMessage::HandleResolutionResponse(
                    HandleResolutionResponse {
                        pool_handle: h.pool_handle,
                        policy: Some(SelectionPolicy::RoundRobin),
                        elements: vec![element()],
                        error: None,
                    },
                ));
                let _ = self.tx.send((ppid, answer)).await;
            }
            Ok(())
        })
    }

    fn recv(&self) -> BoxFuture<'_, io::Result<Delivery>> {
        Box::pin(async move {
            match self.rx.lock().await.recv().await {
                Some(m) => Ok(Some(m)),
                None => Err(io::Error::other("closed")),
            }
        })
    }
}

struct FakeNet {
    seen: Arc<StdMutex<Vec<Vec<u8>>>>,
}

impl Connector for FakeNet {
    fn connect(
        &self,
        addrs: Vec<SocketAddr>,
    ) -> BoxFuture<'static, io::Result<Arc<dyn Association>>> {
        let seen = self.seen.clone();
        Box::pin(async move {
            if addrs[0] != REGISTRAR.parse::<SocketAddr>().unwrap() {
                return Err(io::Error::other("unreachable"));
            }
            let (tx, rx) = mpsc::channel(16);
            Ok(Arc::new(FakeRegistrar {
                seen,
                tx,
                rx: Mutex::new(rx),
            }) as Arc<dyn Association>)
        })
    }
}

struct Harness {
    url: String,
    dir: PathBuf,
    seen: Arc<StdMutex<Vec<Vec<u8>>>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Harness {
    fn trusted(&self) -> GatewayOptions {
        GatewayOptions {
            tls: Some(client_config(Some(&self.dir.join("ca.pem"))).unwrap()),
            ..GatewayOptions::default()
        }
    }

    fn seen(&self) -> Vec<Vec<u8>> {
        self.seen.lock().unwrap().clone()
    }
}

async fn start(name: &str) -> Harness {
    let dir = std::env::temp_dir().join(format!("client-rc-{}-{name}", std::process::id()));
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
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let gw = Gateway::new(cfg, Arc::new(FakeNet { seen: seen.clone() })).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "wss://localhost:{}/asap",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(gw.serve(listener, std::future::pending()));
    Harness { url, dir, seen }
}

async fn next(channel: &RegistrarChannel) -> FromRegistrar {
    tokio::time::timeout(Duration::from_secs(10), channel.recv())
        .await
        .expect("something within 10 s")
        .expect("the channel is up")
}

fn refused(code: NoticeCode) -> impl Fn(&FromRegistrar) -> bool {
    move |m| matches!(m, FromRegistrar::Refused { code: c, .. } if *c == code)
}

#[tokio::test]
async fn raw_reports_reach_the_registrar_only_as_the_gateways_rules_allow() {
    let h = start("reports").await;
    let channel = RegistrarChannel::connect(&h.url, &h.trusted())
        .await
        .expect("the gateway's registrar is up");
    assert!(channel.via_gateway());

    // A report about a PE this session was never given.
    channel.send_asap(&unreachable(PE)).await.unwrap();
    let m = next(&channel).await;
    assert!(refused(NoticeCode::ReportRefused)(&m), "{m:?}");

    // Resolved, the first report goes through as sent; a repeat does not.
    channel.send_asap(&resolution()).await.unwrap();
    let FromRegistrar::Asap(answer) = next(&channel).await else {
        panic!("a Handle Resolution Response")
    };
    let decoded = wire::decode(Protocol::Asap, &answer).unwrap().message;
    assert!(matches!(
        decoded,
        Message::Asap(AsapMessage::HandleResolutionResponse(ref r)) if r.elements[0].id == PE
    ));
    channel.send_asap(&unreachable(PE)).await.unwrap();
    channel.send_asap(&unreachable(PE)).await.unwrap();
    let m = next(&channel).await;
    assert!(refused(NoticeCode::ReportRefused)(&m), "{m:?}");
    assert_eq!(h.seen(), [resolution(), unreachable(PE)]);
}

#[tokio::test]
async fn a_message_no_pool_user_may_send_is_refused_and_never_forwarded() {
    let h = start("forbidden").await;
    let channel = RegistrarChannel::connect(&h.url, &h.trusted())
        .await
        .unwrap();
    let registration = asap(AsapMessage::Registration(Registration {
        pool_handle: pool(),
        pool_element: element(),
    }));
    channel.send_asap(&registration).await.unwrap();
    let m = next(&channel).await;
    assert!(refused(NoticeCode::ForbiddenMessageType)(&m), "{m:?}");
    assert!(h.seen().is_empty(), "{:?}", h.seen());
}

#[tokio::test]
async fn an_untrusted_gateway_is_a_connect_failure_naming_tls() {
    let h = start("untrusted").await;
    let web_pki = GatewayOptions {
        tls: Some(client_config(None).unwrap()),
        ..GatewayOptions::default()
    };
    let failure = match RegistrarChannel::connect(&h.url, &web_pki).await {
        Ok(_) => panic!("the web PKI does not trust the test CA"),
        Err(f) => f,
    };
    assert_eq!(failure.kind, rserpool_client::FailureKind::Tls);
    assert!(failure.text.contains("UnknownIssuer"), "{}", failure.text);
}
