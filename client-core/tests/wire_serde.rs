//! With the `serde` feature (CLI `--json`, gateway tap, browser binding),
//! decoded messages serialize and come back equal, and decode errors
//! serialize with their kind and position. Run by `scripts/test.d/10-fuzz.sh`
//! as `cargo test -p client-core --features serde --test wire_serde`.
#![cfg(feature = "serde")]

use client_core::wire::{self, *};

#[test]
fn every_decoded_vector_survives_json() {
    let mut n = 0;
    for (name, bytes) in rserpool_testdata::vectors() {
        for protocol in [Protocol::Asap, Protocol::Enrp] {
            let Ok(d) = wire::decode(protocol, &bytes) else {
                continue;
            };
            let json = serde_json::to_string(&d.message).unwrap();
            let back: Message = serde_json::from_str(&json).unwrap();
            assert_eq!(back, d.message, "{name}");
            n += 1;
        }
    }
    assert!(n >= 40, "only {n} decoded vectors");
}

#[test]
fn decode_errors_serialize_with_kind_and_position() {
    let m = raw::message(
        consts::asap_type::HANDLE_RESOLUTION,
        0,
        &raw::tlv(consts::param_type::POOL_HANDLE, b"EchoPool", Some(3), true),
        None,
    );
    let e = wire::decode(Protocol::Asap, &m).unwrap_err();
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["offset"], 4);
    assert_eq!(v["parameter"], consts::param_type::POOL_HANDLE);
    assert_eq!(v["kind"]["ParameterLengthTooShort"]["length"], 3);
}
