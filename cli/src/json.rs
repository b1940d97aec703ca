//! JSON forms of core types for `--json` output (client-core's `serde`
//! feature: one representation shared with the gateway and the browser).

use client_core::wire::Message;

/// A decoded message as JSON: its serde form plus a readable name.
pub fn message(m: &Message) -> serde_json::Value {
    let mut v = serde_json::to_value(m).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut v {
        map.insert("name".into(), m.type_name().into());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::wire::{AsapMessage, HandleResolution, PoolHandle};

    #[test]
    fn messages_serialize_with_their_fields() {
        let m = Message::Asap(AsapMessage::HandleResolution(HandleResolution {
            pool_handle: PoolHandle::from("EchoPool"),
            option: None,
        }));
        let v = message(&m);
        assert_eq!(v["name"], "ASAP Handle Resolution");
        let text = v.to_string();
        assert!(text.contains("HandleResolution"), "{text}");
    }
}
