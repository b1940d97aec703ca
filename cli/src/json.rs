//! JSON forms of core types for `--json` output.

use client_core::wire::Message;

/// A decoded message as JSON.
///
/// client-core's `serde` feature does not build yet (its `DecodeError`
/// cannot derive `Deserialize` because of a `&'static str` field), so the
/// message is rendered as its Rust debug form under `"debug"` until it does.
pub fn message(m: &Message) -> serde_json::Value {
    serde_json::json!({ "name": m.type_name(), "debug": format!("{m:?}") })
}
