//! Prometheus counters, exposed in the text format on the loopback metrics
//! listener (`GET /metrics`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use client_core::gateway_protocol::NoticeCode;

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Metrics {
    pub sessions_total: Counter,
    pub sessions_active: Counter,
    pub connections_refused: Counter,
    pub handshakes_failed: Counter,
    pub messages_from_client: Counter,
    pub messages_to_client: Counter,
    /// Registrar associations reopened after the registrar shut an idle
    /// one down (RSPLIB's autoclose).
    pub registrar_reopened: Counter,
    notices: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts a notice sent to a client (refusals included, by code).
    pub fn count_notice(&self, code: NoticeCode) {
        let mut n = self.notices.lock().unwrap_or_else(|e| e.into_inner());
        *n.entry(code.slug()).or_insert(0) += 1;
    }

    pub fn notices(&self, code: NoticeCode) -> u64 {
        let n = self.notices.lock().unwrap_or_else(|e| e.into_inner());
        n.get(code.slug()).copied().unwrap_or(0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut one = |name: &str, help: &str, kind: &str, v: u64| {
            s.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        };
        one(
            "rserpool_gateway_sessions_total",
            "WebSocket sessions accepted.",
            "counter",
            self.sessions_total.get(),
        );
        one(
            "rserpool_gateway_sessions_active",
            "WebSocket sessions open now.",
            "gauge",
            self.sessions_active.get(),
        );
        one(
            "rserpool_gateway_connections_refused_total",
            "Connections refused by the connection caps.",
            "counter",
            self.connections_refused.get(),
        );
        one(
            "rserpool_gateway_handshakes_failed_total",
            "TLS or WebSocket handshakes that failed or timed out.",
            "counter",
            self.handshakes_failed.get(),
        );
        one(
            "rserpool_gateway_messages_from_client_total",
            "Messages forwarded upstream.",
            "counter",
            self.messages_from_client.get(),
        );
        one(
            "rserpool_gateway_messages_to_client_total",
            "Messages forwarded to clients.",
            "counter",
            self.messages_to_client.get(),
        );
        one(
            "rserpool_gateway_registrar_reopened_total",
            "Registrar associations reopened after the registrar shut an idle one down (autoclose).",
            "counter",
            self.registrar_reopened.get(),
        );
        s.push_str("# HELP rserpool_gateway_notices_total Notices sent to clients, refusals included.\n# TYPE rserpool_gateway_notices_total counter\n");
        for (code, v) in self
            .notices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            s.push_str(&format!(
                "rserpool_gateway_notices_total{{code=\"{code}\"}} {v}\n"
            ));
        }
        s
    }
}
