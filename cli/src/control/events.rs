//! `GET /api/events`: Server-Sent Events for the page, relayed from the
//! agent's `subscribe` stream (one connection for every page, held by a
//! thread of its own and opened again when it breaks).

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use rserpool_lab::proto::Event;
use rserpool_lab::Subscription;
use serde_json::json;
use tokio::sync::broadcast;

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

/// The page's form of an agent event.
pub fn page_event(e: &Event) -> (&'static str, serde_json::Value) {
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
    }
}

/// The thread that holds the agent subscription.
pub struct AgentRelay {
    stopped: Arc<AtomicBool>,
    current: Arc<Mutex<Option<std::net::TcpStream>>>,
}

impl AgentRelay {
    pub fn start(agent: String, token: String, hub: EventHub) -> AgentRelay {
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
                    let (kind, data) = page_event(&e);
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
        let (kind, data) = page_event(&Event::ProcessEnded {
            name: "pe-1".into(),
            exit_code: None,
            signal: Some(9),
        });
        assert_eq!(kind, "process");
        assert_eq!(data["name"], "pe-1");
        assert_eq!(data["change"], "ended");
        assert_eq!(data["state"], "killed");
        assert_eq!(data["signal"], 9);
    }
}
