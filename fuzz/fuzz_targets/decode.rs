//! Feeds arbitrary bytes to the ASAP/ENRP decoder. The first byte picks the
//! protocol (as the PPID would) and the limits; the rest is the message.
//! Whatever decodes must re-encode, and the encoding must decode to the same
//! meaning.
#![no_main]

use client_core::wire::{self, DecodeLimits, Protocol};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let protocol = if selector & 1 == 0 { Protocol::Asap } else { Protocol::Enrp };
    let limits = if selector & 2 == 0 {
        DecodeLimits::default()
    } else {
        DecodeLimits::permissive()
    };
    if let Ok(d) = wire::decode_with(protocol, bytes, &limits) {
        let again = d.message.to_bytes();
        let back = wire::decode_with(protocol, &again, &DecodeLimits::permissive())
            .expect("our own encoding decodes");
        assert_eq!(back.message, d.message);
    }
});
