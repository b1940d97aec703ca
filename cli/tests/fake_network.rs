//! The driver and the commands' interpretation against an in-process fake
//! network: a registrar that answers with bytes RSPLIB's registrar really
//! sent (`testdata/vectors`) and echo pool elements, so resolution, failover
//! and exit statuses are tested on hosts without kernel SCTP.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use client_core::pool_user::{CloseReason, Config, Event, PathSecurity, PoolUser};
use client_core::wire::consts::transport_use;
use client_core::wire::{
    self, AsapMessage, HandleResolution, HandleResolutionResponse, Message, PoolElement,
    PoolElementId, PoolHandle, Protocol, SelectionPolicy, ServerId, TransportAddress,
};
use rserpool_cli::resolve::{resolve, table};
use rserpool_cli::ExitStatus;
use rserpool_client::channel::Channel;
use rserpool_client::driver::{
    BoxFuture, ConnectFailure, Connected, Connector, Driver, FailureKind,
};
use rserpool_testdata::vector;

fn element(id: u32) -> PoolElement {
    PoolElement {
        id: PoolElementId(id),
        home_registrar: ServerId(0x1000_0001),
        registration_life_ms: 90_000,
        user_transport: TransportAddress::sctp(
            40_000 + id as u16,
            transport_use::DATA_PLUS_CONTROL,
            vec![IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1))],
        ),
        policy: SelectionPolicy::RoundRobin,
        registrator_transport: None,
    }
}

/// Fake network: every registrar answers each Handle Resolution with
/// `answer`; pool element 1 echoes one message and then dies (hangs up and
/// refuses new associations), the others echo forever.
struct FakeNet {
    answer: Answer,
    pe1_dead: Arc<AtomicBool>,
}

/// How the fake registrar answers a Handle Resolution.
#[derive(Clone)]
enum Answer {
    /// Always these bytes (a captured RSPLIB response).
    Fixed(Vec<u8>),
    /// Like an RSPLIB registrar: up to `items` of these elements, rotated
    /// round-robin between requests (lab-environment notes).
    Rotate(Vec<PoolElement>),
}

impl Answer {
    fn bytes(&self, request: &HandleResolution, turn: usize) -> Vec<u8> {
        match self {
            Answer::Fixed(b) => b.clone(),
            Answer::Rotate(all) => {
                let items = request
                    .option
                    .as_ref()
                    .map_or(all.len(), |o| o.items as usize);
                let elements: Vec<PoolElement> = (0..all.len().min(items))
                    .map(|i| all[(turn + i) % all.len()].clone())
                    .collect();
                Message::Asap(AsapMessage::HandleResolutionResponse(
                    HandleResolutionResponse {
                        pool_handle: request.pool_handle.clone(),
                        policy: Some(SelectionPolicy::RoundRobin),
                        elements,
                        error: None,
                    },
                ))
                .to_bytes()
            }
        }
    }
}

impl Connector for FakeNet {
    fn connect_registrar(&self, _endpoint: String) -> BoxFuture<Connected> {
        let answer = self.answer.clone();
        Box::pin(async move {
            let (mine, registrar) = Channel::memory_pair();
            tokio::spawn(async move {
                let mut turn = 0;
                while let Ok((ppid, bytes)) = registrar.recv().await {
                    let request = wire::decode(Protocol::Asap, &bytes).unwrap().message;
                    assert_eq!(ppid, 11, "ASAP with PPID 11");
                    if let Message::Asap(AsapMessage::HandleResolution(hr)) = request {
                        // RSPLIB may send a keep-alive in between: ignored.
                        registrar
                            .send(11, &vector("asap-endpoint-keep-alive-1"))
                            .await
                            .unwrap();
                        registrar.send(11, &answer.bytes(&hr, turn)).await.unwrap();
                        turn += 1;
                    }
                }
            });
            Ok((mine, PathSecurity::plain("memory")))
        })
    }

    fn connect_element(&self, _pool: PoolHandle, element: PoolElement) -> BoxFuture<Connected> {
        let dead = self.pe1_dead.clone();
        Box::pin(async move {
            if element.id.0 == 1 && dead.load(Ordering::SeqCst) {
                return Err(ConnectFailure {
                    reason: CloseReason::ConnectFailed,
                    kind: FailureKind::Unreachable,
                    text: "connection refused".into(),
                });
            }
            let (mine, pe) = Channel::memory_pair();
            tokio::spawn(async move {
                while let Ok((ppid, bytes)) = pe.recv().await {
                    let reply = format!("pe{} {}", element.id.0, String::from_utf8_lossy(&bytes));
                    pe.send(ppid, reply.as_bytes()).await.unwrap();
                    if element.id.0 == 1 {
                        dead.store(true, Ordering::SeqCst);
                        return; // hang up: the session must fail over
                    }
                }
            });
            Ok((mine, PathSecurity::plain("memory")))
        })
    }
}

fn driver(answer: Answer) -> Driver {
    let config = Config {
        registrars: vec!["sctp://10.1.0.3:3863".into()],
        use_announced_registrars: false,
        trace: false,
        ..Config::default()
    };
    Driver::new(
        PoolUser::new(config),
        Arc::new(FakeNet {
            answer,
            pe1_dead: Arc::new(AtomicBool::new(false)),
        }),
    )
}

#[tokio::test]
async fn resolve_reads_rsplibs_handle_resolution_response() {
    let mut d = driver(Answer::Fixed(vector("asap-handle-resolution-response-1")));
    let pool = PoolHandle::from("EchoPool");
    let r = resolve(&mut d, &pool).await.unwrap();
    assert_eq!(r.elements.len(), 1);
    assert_eq!(r.elements[0].id, PoolElementId(0x0e00_0001));
    assert_eq!(r.registrar.as_deref(), Some("sctp://10.1.0.3:3863"));
    let t = table(&pool, &r);
    assert!(
        t.starts_with("pool EchoPool via sctp://10.1.0.3:3863\n"),
        "{t}"
    );
    assert!(
        t.contains("0x0e000001  sctp       56661  RoundRobin  0x10000001  10.1.0.1,"),
        "{t}"
    );
}

#[tokio::test]
async fn unknown_pool_is_pool_not_found_with_the_rate_limit_caveat() {
    let mut d = driver(Answer::Fixed(vector("asap-handle-resolution-response-3")));
    let err = resolve(&mut d, &PoolHandle::from("NoSuchPool"))
        .await
        .unwrap_err();
    assert_eq!(err.status, ExitStatus::PoolNotFound);
    let text = err.to_string();
    assert!(
        text.starts_with("resolving NoSuchPool: no such pool"),
        "{text}"
    );
    assert!(text.contains("rate limit"), "{text}");
}

#[tokio::test]
async fn session_data_flows_and_a_hung_up_element_fails_over() {
    let mut d = driver(Answer::Rotate(vec![element(1), element(2)]));
    let now = d.now();
    let session = d
        .pool_user()
        .open_session(PoolHandle::from("EchoPool"), 0, now);
    let now = d.now();
    d.pool_user()
        .send(session, None, b"one".to_vec(), now)
        .unwrap();

    let mut replies = Vec::new();
    let mut failover = None;
    // A guard against hanging forever if failover never happens, not a
    // speed requirement (the exchange takes milliseconds).
    let guard = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while replies.len() < 2 {
        assert!(
            tokio::time::Instant::now() < guard,
            "no failover: {replies:?}"
        );
        match d.next_event().await {
            Event::SessionData { bytes, ppid, .. } => {
                assert_eq!(ppid, 0);
                replies.push(String::from_utf8(bytes).unwrap());
                if replies.len() == 1 {
                    // Wait for the failover before sending more.
                    loop {
                        if let Event::Failover(n) = d.next_event().await {
                            failover = Some(n);
                            break;
                        }
                    }
                    let now = d.now();
                    d.pool_user()
                        .send(session, None, b"two".to_vec(), now)
                        .unwrap();
                }
            }
            Event::ResolveFailed { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
    let n = failover.expect("failover notice");
    let first = replies[0].split(' ').next().unwrap().to_string();
    let second = replies[1].split(' ').next().unwrap().to_string();
    // Round robin starts at element 1; it dies after one reply and the
    // session continues on element 2 (element 1 may be retried first: the
    // registrar still lists it).
    assert_eq!(n.old_element, PoolElementId(1), "{replies:?}");
    assert_eq!(n.new_element, PoolElementId(2));
    assert_eq!((first.as_str(), second.as_str()), ("pe1", "pe2"));
    assert_eq!(replies[1], "pe2 two");
}
