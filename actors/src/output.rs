//! The actors' output: one JSON object per line on stdout (contract 3 in
//! `actors/README.md`): actions, samples, events and a last `done` line.

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::time::Instant;

/// Writes lines stamped with milliseconds since the actor started.
#[derive(Clone, Debug)]
pub struct Output {
    start: Instant,
}

impl Default for Output {
    fn default() -> Self {
        Output::new()
    }
}

impl Output {
    pub fn new() -> Self {
        Output {
            start: Instant::now(),
        }
    }

    /// Milliseconds since the start.
    pub fn t_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn write(&self, v: &Value) {
        // A reader that went away must not stop the actor's own bounds
        // (it still ends by count or time); write errors are ignored.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    }

    /// `{"t_ms","seq","plan_ms","action", …fields}`.
    pub fn action(&self, seq: u64, plan: Duration, name: &str, fields: Map<String, Value>) {
        self.write(&action_line(self.t_ms(), seq, plan, name, fields));
    }

    /// `{"t_ms","sample":{…}}`.
    pub fn sample(&self, values: Map<String, Value>) {
        self.write(&json!({"t_ms": self.t_ms(), "sample": values}));
    }

    /// `{"t_ms","event","detail"}`.
    pub fn event(&self, kind: &str, detail: impl Into<Value>) {
        self.write(&json!({"t_ms": self.t_ms(), "event": kind, "detail": detail.into()}));
    }

    /// The last line: `{"t_ms","done":true,"reason","sent", …extra}`.
    pub fn done(&self, reason: Reason, sent: u64, extra: Map<String, Value>) {
        self.write(&done_line(self.t_ms(), reason, sent, extra));
    }
}

/// Why an actor stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Every planned action was done (and nothing is held until the end).
    Count,
    /// The duration ran out.
    Duration,
    /// SIGINT or SIGTERM.
    Signal,
    /// It could not go on (the target refused or vanished); an `error`
    /// event before says why.
    Error,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Count => "count",
            Reason::Duration => "duration",
            Reason::Signal => "signal",
            Reason::Error => "error",
        }
    }
}

pub fn action_line(
    t_ms: u64,
    seq: u64,
    plan: Duration,
    name: &str,
    fields: Map<String, Value>,
) -> Value {
    let mut m = Map::new();
    m.insert("t_ms".into(), t_ms.into());
    m.insert("seq".into(), seq.into());
    m.insert(
        "plan_ms".into(),
        u64::try_from(plan.as_millis()).unwrap_or(u64::MAX).into(),
    );
    m.insert("action".into(), name.into());
    for (k, v) in fields {
        m.entry(k).or_insert(v);
    }
    Value::Object(m)
}

pub fn done_line(t_ms: u64, reason: Reason, sent: u64, extra: Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("t_ms".into(), t_ms.into());
    m.insert("done".into(), true.into());
    m.insert("reason".into(), reason.as_str().into());
    m.insert("sent".into(), sent.into());
    for (k, v) in extra {
        m.entry(k).or_insert(v);
    }
    Value::Object(m)
}

/// A JSON object from pairs (`fields!{"pe_id" => …}`).
#[macro_export]
macro_rules! fields {
    ($($k:expr => $v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut m = serde_json::Map::new();
        $( m.insert(String::from($k), serde_json::Value::from($v)); )*
        m
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_lines_carry_time_sequence_plan_and_name_before_their_fields() {
        let v = action_line(
            12,
            3,
            Duration::from_millis(150),
            "register",
            crate::fields! {"pe_id" => "0x00000001", "t_ms" => 999},
        );
        // The line's own time wins over a field of the same name.
        assert_eq!(
            v,
            serde_json::json!({"t_ms":12,"seq":3,"plan_ms":150,"action":"register","pe_id":"0x00000001"})
        );
    }

    #[test]
    fn the_done_line_names_its_reason_and_count() {
        for (r, s) in [
            (Reason::Count, "count"),
            (Reason::Duration, "duration"),
            (Reason::Signal, "signal"),
            (Reason::Error, "error"),
        ] {
            let v = done_line(5, r, 7, crate::fields! {"refused" => 2});
            assert_eq!(
                v,
                serde_json::json!({"t_ms":5,"done":true,"reason":s,"sent":7,"refused":2})
            );
            assert!(!v.to_string().contains('\n'), "one line");
        }
    }
}
