//! `GET /api/events`: Server-Sent Events for the page, relayed from the
//! agent's `subscribe` stream (one connection for every page, held by a
//! thread of its own and opened again when it breaks).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use rserpool_lab::csp::{self, ComponentId, ComponentKind};
use rserpool_lab::proto::Event;
use rserpool_lab::Subscription;
use serde_json::json;
use tokio::sync::broadcast;

use super::nodes::{location_ports, PortNames};
use super::AppState;

/// One event for the page: its SSE event name and its JSON data.
#[derive(Clone, Debug)]
pub struct PageEvent {
    pub kind: &'static str,
    pub data: Arc<str>,
}

/// Fans events out to every open event stream.
#[derive(Clone)]
pub struct EventHub(broadcast::Sender<PageEvent>);

impl Default for EventHub {
    fn default() -> Self {
        // Room for a few seconds of CSP reports from a large topology; a
        // page that falls further behind is told how much it missed.
        EventHub(broadcast::channel(4096).0)
    }
}

impl EventHub {
    pub fn publish(&self, kind: &'static str, data: serde_json::Value) {
        // Nobody listening is normal (no page open).
        let _ = self.0.send(PageEvent {
            kind,
            data: data.to_string().into(),
        });
    }

    fn subscribe(&self) -> broadcast::Receiver<PageEvent> {
        self.0.subscribe()
    }
}

/// Milliseconds since the Unix epoch on this host: the `t_ms` of live events.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What the relay knows to name the components of CSP reports.
pub struct Naming {
    pub registrars: BTreeMap<u32, String>,
    pub ports: Option<PortNames>,
}

impl Naming {
    /// The topology name of a component, where the lab can tell.
    fn node(&self, id: ComponentId, location: Option<&str>) -> Option<String> {
        match id.kind() {
            ComponentKind::Registrar => u32::try_from(id.object())
                .ok()
                .and_then(|i| self.registrars.get(&i).cloned()),
            ComponentKind::Pe => {
                let ports = location_ports(location?);
                self.ports.as_ref()?.owner(&ports)
            }
            _ => None,
        }
    }
}

/// The page's form of a Component Status report (see docs/lab-page.md).
pub fn csp_event(
    from: &str,
    datagram: &str,
    naming: &Naming,
    t_ms: u64,
) -> (&'static str, serde_json::Value) {
    let report = hex::decode(datagram)
        .map_err(|e| format!("not hex: {e}"))
        .and_then(|d| csp::decode(&d).map_err(|e| e.to_string()));
    let r = match report {
        Ok(r) => r,
        Err(error) => {
            return (
                "csp-error",
                json!({ "from": from, "error": error, "datagram": datagram, "t_ms": t_ms }),
            )
        }
    };
    let object_id = |c: ComponentId| match c.kind() {
        ComponentKind::Registrar | ComponentKind::Pe => u32::try_from(c.object()).ok(),
        _ => None,
    };
    let associations: Vec<_> = r
        .associations
        .iter()
        .map(|a| {
            json!({
                "receiver_id": a.receiver.to_string(),
                "receiver_kind": a.receiver.kind(),
                "receiver": object_id(a.receiver),
                "receiver_node": naming.node(a.receiver, None),
                "ppid": a.ppid,
                "protocol": a.protocol,
                "duration_us": a.duration_us,
            })
        })
        .collect();
    (
        "csp",
        json!({
            "sender_id": r.sender.to_string(),
            "kind": r.sender.kind(),
            "id": object_id(r.sender),
            "node": naming.node(r.sender, Some(&r.location)),
            "location": r.location,
            "status": r.status,
            "workload": r.workload_fraction(),
            "associations": associations,
            "interval_ms": r.interval_us / 1000,
            "final": r.final_report,
            "sender_time_us": r.sender_time_us,
            "from": from,
            "datagram": datagram,
            "t_ms": t_ms,
        }),
    )
}

/// The page's form of an agent event.
pub fn page_event(e: &Event, naming: &Naming) -> (&'static str, serde_json::Value) {
    let t_ms = now_ms();
    match e {
        Event::ProcessStarted { name, pid } => (
            "process",
            json!({ "name": name, "change": "started", "state": "running", "pid": pid, "t_ms": t_ms }),
        ),
        Event::ProcessEnded {
            name,
            exit_code,
            signal,
        } => (
            "process",
            json!({
                "name": name,
                "change": "ended",
                "state": if signal.is_some() { "killed" } else { "exited" },
                "exit_code": exit_code,
                "signal": signal,
                "t_ms": t_ms,
            }),
        ),
        Event::Ready { after_ms } => ("ready", json!({ "after_ms": after_ms, "t_ms": t_ms })),
        Event::ComponentStatus { from, datagram } => csp_event(from, datagram, naming, t_ms),
        Event::Tap { gateway, message } => {
            let mut m = match message {
                serde_json::Value::Object(m) => m.clone(),
                other => serde_json::Map::from_iter([("message".to_string(), other.clone())]),
            };
            m.insert("gateway".into(), json!(gateway));
            m.insert("t_ms".into(), json!(t_ms));
            ("tap", serde_json::Value::Object(m))
        }
    }
}

/// The thread that holds the agent subscription.
pub struct AgentRelay {
    stopped: Arc<AtomicBool>,
    current: Arc<Mutex<Option<std::net::TcpStream>>>,
}

impl AgentRelay {
    pub fn start(agent: String, token: String, hub: EventHub, naming: Naming) -> AgentRelay {
        let stopped = Arc::new(AtomicBool::new(false));
        let current = Arc::new(Mutex::new(None::<std::net::TcpStream>));
        let (st, cur) = (stopped.clone(), current.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let mut sub = match Subscription::open(&agent, &token) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("lab page: agent event stream: {e:#}");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                };
                if let Ok(c) = sub.closer() {
                    *cur.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
                }
                if st.load(Ordering::SeqCst) {
                    break;
                }
                while let Ok(e) = sub.next_event() {
                    if matches!(e, Event::ProcessStarted { .. } | Event::ProcessEnded { .. }) {
                        if let Some(p) = &naming.ports {
                            p.ask_refresh();
                        }
                    }
                    let (kind, data) = page_event(&e, &naming);
                    hub.publish(kind, data);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        AgentRelay { stopped, current }
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(s) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// `GET /api/events`.
pub async fn stream(
    State(s): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = s.hub.subscribe();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let ev = match rx.recv().await {
            Ok(ev) => SseEvent::default().event(ev.kind).data(&*ev.data),
            Err(broadcast::error::RecvError::Lagged(n)) => SseEvent::default()
                .event("lagged")
                .data(json!({ "missed": n }).to_string()),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(ev), rx))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_process_is_reported_as_killed() {
        let naming = Naming {
            registrars: BTreeMap::new(),
            ports: None,
        };
        let (kind, data) = page_event(
            &Event::ProcessEnded {
                name: "pe-1".into(),
                exit_code: None,
                signal: Some(9),
            },
            &naming,
        );
        assert_eq!(kind, "process");
        assert_eq!(data["name"], "pe-1");
        assert_eq!(data["change"], "ended");
        assert_eq!(data["state"], "killed");
        assert_eq!(data["signal"], 9);
    }
}
