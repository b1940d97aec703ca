//! `resolve` against an in-process fake registrar that answers with bytes
//! RSPLIB's registrar really sent (shared vectors), so the exchange and its
//! interpretation are tested on hosts without kernel SCTP.

use std::path::PathBuf;

use client_core::wire::{self, AsapMessage, Message, PoolHandle, Protocol};
use rserpool_cli::resolve::{ask_on, check_found, table, Attempt, Resolution};
use rserpool_cli::transport::{parse_endpoint, Channel};
use rserpool_cli::ExitStatus;

fn vector(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("RSERPOOL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let path = dir.join("vectors").join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set RSERPOOL_SHARED)", path.display()));
    hex::decode(text.trim()).unwrap()
}

/// A registrar that first sends an unsolicited keep-alive (as RSPLIB may),
/// then answers the Handle Resolution it receives with `answer`, and hands
/// back what it received.
async fn fake_registrar(peer: Channel, answer: Vec<u8>) -> (u32, Message) {
    let (ppid, request) = peer.recv().await.unwrap();
    peer.send(11, &vector("asap-endpoint-keep-alive-1"))
        .await
        .unwrap();
    peer.send(11, &answer).await.unwrap();
    (
        ppid,
        wire::decode(Protocol::Asap, &request).unwrap().message,
    )
}

#[tokio::test]
async fn resolve_sends_a_handle_resolution_and_reads_rsplibs_answer() {
    let (client, registrar) = Channel::memory_pair();
    let server = tokio::spawn(fake_registrar(
        registrar,
        vector("asap-handle-resolution-response-1"),
    ));
    let pool = PoolHandle::from("EchoPool");
    let response = ask_on(&client, &pool, 60_000).await.unwrap();
    let (ppid, request) = server.await.unwrap();

    assert_eq!(ppid, 11, "ASAP goes with PPID 11");
    match request {
        Message::Asap(AsapMessage::HandleResolution(hr)) => assert_eq!(hr.pool_handle, pool),
        other => panic!("sent {other:?}"),
    }
    assert_eq!(response.elements.len(), 1);
    assert_eq!(response.elements[0].id.0, 0x0e00_0001);
    let resolution = Resolution {
        registrar: parse_endpoint("sctp://10.1.0.3:3863").unwrap(),
        response,
    };
    assert!(check_found(&pool, &resolution).is_ok());
    let t = table(&pool, &resolution);
    assert!(
        t.starts_with("pool EchoPool via sctp://10.1.0.3:3863, policy RoundRobin\n"),
        "{t}"
    );
    assert!(
        t.contains("0x0e000001  sctp       56661  RoundRobin  10.1.0.1,"),
        "{t}"
    );
}

#[tokio::test]
async fn unknown_pool_answer_maps_to_pool_not_found() {
    let (client, registrar) = Channel::memory_pair();
    tokio::spawn(fake_registrar(
        registrar,
        vector("asap-handle-resolution-response-3"),
    ));
    let pool = PoolHandle::from("NoSuchPool");
    let response = ask_on(&client, &pool, 60_000).await.unwrap();
    let resolution = Resolution {
        registrar: parse_endpoint("sctp://10.1.0.3").unwrap(),
        response,
    };
    let err = check_found(&pool, &resolution).unwrap_err();
    assert_eq!(err.status, ExitStatus::PoolNotFound);
    assert!(
        err.to_string()
            .contains("pool NoSuchPool not found at sctp://10.1.0.3:3863"),
        "{err}"
    );
    assert!(err.to_string().contains("rate-limited"));
}

#[tokio::test]
async fn an_asap_error_answer_fails_this_registrar() {
    let (client, registrar) = Channel::memory_pair();
    tokio::spawn(fake_registrar(registrar, vector("asap-error-1")));
    let err = ask_on(&client, &PoolHandle::from("EchoPool"), 60_000)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Attempt::Failed(ref s) if s.contains("ASAP Error")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_registrar_that_hangs_up_fails_with_a_reason() {
    let (client, registrar) = Channel::memory_pair();
    drop(registrar);
    let err = ask_on(&client, &PoolHandle::from("EchoPool"), 60_000)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Attempt::Failed(ref s) if s.contains("closed")),
        "{err:?}"
    );
}
