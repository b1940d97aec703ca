//! JSON forms of core types for `--json` output (client-core's `serde`
//! feature: one representation shared with the gateway and the browser).

use client_core::wire::{Message, PoolHandle};

/// A decoded message as JSON: its serde form plus a readable name, pool
/// handles as text.
pub fn message(m: &Message) -> serde_json::Value {
    let mut v = serde_json::to_value(m).unwrap_or(serde_json::Value::Null);
    pool_handles_as_text(&mut v);
    if let serde_json::Value::Object(map) = &mut v {
        map.insert("name".into(), m.type_name().into());
    }
    v
}

/// Every `pool_handle` in `v` (client-core serialises a [`PoolHandle`] as
/// its bytes, as it must for handles that are not text) as the text a user
/// reads: UTF-8 where it is, else `0x…` hex (`PoolHandle`'s Display). ENRP
/// messages nest them in handle-table entries; every depth is rewritten.
pub fn pool_handles_as_text(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                if k == "pool_handle" {
                    if let Ok(h) = serde_json::from_value::<PoolHandle>(x.clone()) {
                        *x = h.to_string().into();
                        continue;
                    }
                }
                pool_handles_as_text(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(pool_handles_as_text),
        _ => {}
    }
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
        assert_eq!(
            v["Asap"]["HandleResolution"]["pool_handle"], "EchoPool",
            "{text}"
        );
    }

    #[test]
    fn pool_handles_nested_in_enrp_messages_are_text() {
        // A Handle Update's pool handle sits below the message.
        let mut v = serde_json::json!({ "HandleUpdate": { "entry": { "pool_handle": [69, 99, 104, 111] } },
                                        "other": [{ "pool_handle": [0, 255] }] });
        pool_handles_as_text(&mut v);
        assert_eq!(v["HandleUpdate"]["entry"]["pool_handle"], "Echo");
        assert_eq!(v["other"][0]["pool_handle"], "0x00ff");
    }
}
