//! `GET /api/handlespace`: every registrar's handlespace as RSPLIB's
//! `hsdump` shows it, asked at all registrars at once, each element named
//! with the lab process that serves it.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use rserpool_lab::hsdump::{self, Handlespace};
use rserpool_lab::proto::{Request, Response};
use rserpool_lab::topology::ENRP_PORT;
use rserpool_lab::Topology;
use serde_json::{json, Value};

use super::events::now_ms;
use super::nodes::{port_owners, registrar_names};
use super::{ApiError, AppState};

/// How long one registrar may take to answer `hsdump`.
const HSDUMP_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn get(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let lab = &s.lab;
    let asks: Vec<_> = lab
        .topology
        .registrars
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let enrp = format!("{}:{ENRP_PORT}", Topology::registrar_address(i));
            let access = lab.clone();
            let ep = enrp.clone();
            let task = tokio::task::spawn_blocking(move || {
                access.request(Request::Exec {
                    program: "hsdump".into(),
                    args: vec![ep],
                    timeout_ms: u64::try_from(HSDUMP_TIMEOUT.as_millis()).unwrap_or(5000),
                })
            });
            (r.name.clone(), r.id, enrp, task)
        })
        .collect();
    let owners = {
        let access = lab.clone();
        tokio::task::spawn_blocking(move || port_owners(&access))
    };
    let mut dumps = Vec::new();
    for (name, id, enrp, task) in asks {
        let answer = task.await.map_err(|e| ApiError::agent(e.into()))?;
        let parsed: Result<Handlespace, String> = match answer {
            Ok(Response::Exec {
                stdout,
                stderr,
                timed_out,
                ..
            }) => hsdump::parse_handlespace(&stdout).ok_or_else(|| {
                if timed_out {
                    format!("hsdump {enrp} did not answer within {HSDUMP_TIMEOUT:?}")
                } else {
                    format!(
                        "hsdump {enrp}: no handlespace in its output: {}",
                        stderr.trim()
                    )
                }
            }),
            Ok(Response::Error { message }) => Err(message),
            Ok(other) => Err(format!("unexpected answer {other:?}")),
            // One registrar's hsdump lost (the agent busy, say, while a
            // scenario samples every registrar): that registrar's error,
            // the others' handlespaces still answer.
            Err(e) => Err(format!("the lab agent did not answer for {enrp}: {e:#}")),
        };
        dumps.push((name, id, enrp, parsed));
    }
    let owners = owners
        .await
        .map_err(|e| ApiError::agent(e.into()))?
        .unwrap_or_default();
    // The map the CSP relay uses is as fresh as this one.
    s.ports.set(owners.clone());
    let registrar_name = registrar_names(lab);
    let registrars: Vec<Value> = dumps
        .into_iter()
        .map(|(name, id, enrp, parsed)| match parsed {
            Ok(h) => {
                let pools: serde_json::Map<String, Value> = h
                    .pools
                    .into_iter()
                    .map(|(pool, p)| {
                        let elements: Vec<Value> = p
                            .elements
                            .iter()
                            .map(|e| {
                                let mut v = json!(e);
                                v["id_hex"] = json!(format!("{:08x}", e.id));
                                v["home_registrar"] = json!(registrar_name.get(&e.home));
                                v["node"] = json!(owners.get(&e.port));
                                v
                            })
                            .collect();
                        (pool, json!({ "policy": p.policy, "elements": elements }))
                    })
                    .collect();
                json!({ "name": name, "id": id, "enrp": enrp,
                        "pools": pools, "error": null })
            }
            Err(error) => json!({ "name": name, "id": id, "enrp": enrp,
                                  "pools": {}, "error": error }),
        })
        .collect();
    Ok(Json(json!({ "registrars": registrars, "t_ms": now_ms() })))
}
