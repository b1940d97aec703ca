//! `wss://` registrars: a gateway whose certificate the user does not trust
//! is a TLS failure with rustls' reason, the next URL is tried, and the exit
//! status says "TLS"; with `--ca` the same gateway is trusted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use client_core::gateway_protocol::{Frame, NoticeCode, REGISTRAR_CHANNEL, SUBPROTOCOL};
use futures_util::{SinkExt, StreamExt};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rserpool_testdata::vector;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Answer the handshake with the subprotocol the client asked for.
// The callback's error type is fixed by tungstenite's `Callback` trait.
#[allow(clippy::result_large_err)]
fn with_subprotocol(_req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    resp.headers_mut()
        .insert("Sec-WebSocket-Protocol", SUBPROTOCOL.parse().unwrap());
    Ok(resp)
}

struct Gateway {
    addr: SocketAddr,
    ca_pem: String,
}

/// A TLS WebSocket server with a certificate from a fresh test CA. It
/// accepts the WebSocket handshake and then holds the connection.
async fn start_gateway() -> Gateway {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake is the point of one test: ignore errors.
                if let Ok(tls) = acceptor.accept(tcp).await {
                    if let Ok(mut ws) =
                        tokio_tungstenite::accept_hdr_async(tls, with_subprotocol).await
                    {
                        // A gateway in front of one registrar speaking
                        // rserpool.asap.v1: hello, registrar up, and every
                        // registrar-channel request answered with RSPLIB's
                        // Handle Resolution Response.
                        let hello = Frame::Hello {
                            version: 1,
                            max_payload: 65536,
                            max_sessions: 8,
                            registrar: "10.1.0.3:3863".into(),
                        };
                        let up = Frame::notice(REGISTRAR_CHANNEL, NoticeCode::RegistrarUp, "");
                        for f in [hello, up] {
                            if ws.send(WsMessage::binary(f.encode())).await.is_err() {
                                return;
                            }
                        }
                        while let Some(Ok(msg)) = ws.next().await {
                            let reply = match Frame::decode(&msg.into_data()) {
                                Ok(Frame::Message {
                                    channel: 0,
                                    ppid: 11,
                                    ..
                                }) => Frame::registrar(vector("asap-handle-resolution-response-1")),
                                // A session to the resolved PE: up at once.
                                Ok(Frame::OpenSession {
                                    channel,
                                    pe_id: 0x0e00_0001,
                                    ..
                                }) => Frame::notice(channel, NoticeCode::SessionUp, ""),
                                // Data on a session: echoed like rspserver -echo.
                                Ok(Frame::Message {
                                    channel,
                                    ppid,
                                    payload,
                                }) if channel != 0 => Frame::Message {
                                    channel,
                                    ppid,
                                    payload,
                                },
                                _ => continue,
                            };
                            if ws.send(WsMessage::binary(reply.encode())).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    Gateway {
        addr,
        ca_pem: ca_cert.pem(),
    }
}

async fn rserpool(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rserpool"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn untrusted_gateway_is_a_tls_failure_and_the_next_url_is_tried() {
    let gw = start_gateway().await;
    let url = format!("wss://127.0.0.1:{}/asap", gw.addr.port());
    let second = format!("wss://localhost:{}/asap", gw.addr.port());
    let o = rserpool(vec![
        "resolve".into(),
        "EchoPool".into(),
        "-r".into(),
        url.clone(),
        "-r".into(),
        second.clone(),
    ])
    .await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(11), "{err}");
    assert!(
        err.contains(&format!(
            "{url}: TLS: invalid peer certificate: UnknownIssuer"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{second}: TLS: invalid peer certificate: UnknownIssuer"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn ca_option_makes_the_gateway_trusted_and_resolve_works_through_it() {
    let gw = start_gateway().await;
    let dir = std::env::temp_dir().join(format!("rserpool-wss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca: PathBuf = dir.join("ca.pem");
    std::fs::write(&ca, &gw.ca_pem).unwrap();
    let url = format!("wss://localhost:{}/asap", gw.addr.port());
    let o = rserpool(vec![
        "resolve".into(),
        "EchoPool".into(),
        "-r".into(),
        url.clone(),
        "--ca".into(),
        ca.display().to_string(),
    ])
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        out.starts_with(&format!("pool EchoPool via {url}\n")),
        "{out}"
    );
    assert!(out.contains("0x0e000001  sctp       56661"), "{out}");
}

#[tokio::test]
async fn session_through_the_gateway_echoes_lines() {
    let gw = start_gateway().await;
    let dir = std::env::temp_dir().join(format!("rserpool-wss-s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca: PathBuf = dir.join("ca.pem");
    std::fs::write(&ca, &gw.ca_pem).unwrap();
    let url = format!("wss://localhost:{}/asap", gw.addr.port());
    let ca_arg = ca.display().to_string();
    let o = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rserpool"))
            .args(["session", "EchoPool", "-r", &url, "--ca", &ca_arg])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"hello gateway\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "hello gateway\n",
        "{err}"
    );
    assert!(
        err.contains("connected to pool element 0x0e000001 (websocket)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_url_is_reported_even_when_a_later_one_answers() {
    // Two gateways with certificates from two different private CAs (same
    // CA name, other key: rustls says BadSignature); only the second one's
    // CA is trusted.
    let untrusted = start_gateway().await;
    let trusted = start_gateway().await;
    let dir = std::env::temp_dir().join(format!("rserpool-wss-attempts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca: PathBuf = dir.join("ca.pem");
    std::fs::write(&ca, &trusted.ca_pem).unwrap();
    let first = format!("wss://localhost:{}/asap", untrusted.addr.port());
    let second = format!("wss://localhost:{}/asap", trusted.addr.port());
    let args = |json: bool| {
        let mut a: Vec<String> = Vec::new();
        if json {
            a.push("--json".into());
        }
        a.extend(["resolve", "EchoPool", "-r", &first, "-r", &second, "--ca"].map(String::from));
        a.push(ca.display().to_string());
        a
    };

    let o = rserpool(args(true)).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["registrar"], second.as_str());
    let attempts = v["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{v}");
    assert_eq!(attempts[0]["registrar"], first.as_str());
    assert_eq!(attempts[0]["outcome"], "tls-failed");
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("TLS: invalid peer certificate"),
        "{v}"
    );
    assert_eq!(attempts[1]["registrar"], second.as_str());
    assert_eq!(attempts[1]["outcome"], "answered");

    // The table goes to stdout, the refused URL to stderr.
    let o = rserpool(args(false)).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("skipped {first}: TLS: invalid peer certificate")),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(&format!("pool EchoPool via {second}")));
    std::fs::remove_dir_all(&dir).unwrap();
}
