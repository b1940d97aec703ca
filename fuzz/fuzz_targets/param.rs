//! Feeds arbitrary bytes to the per-parameter decoders (`wire::Codec`). The
//! first byte picks the parameter type and the limits; the rest is the
//! parameter. Whatever decodes must re-encode to bytes that decode to the
//! same value, and encoding must then be stable.
#![no_main]

use std::net::IpAddr;

use client_core::wire::{
    Codec, Cookie, DecodeLimits, HandleResolutionOption, OperationError, PoolElement,
    PoolElementId, PoolHandle, SelectionPolicy, ServerInformation, TransportAddress,
};
use libfuzzer_sys::fuzz_target;

fn check<T: Codec + PartialEq + std::fmt::Debug>(bytes: &[u8], limits: &DecodeLimits) {
    if let Ok(v) = T::decode_with(bytes, limits) {
        let again = v.to_bytes();
        let back =
            T::decode_with(&again, &DecodeLimits::permissive()).expect("our own encoding decodes");
        assert_eq!(back, v);
        assert_eq!(back.to_bytes(), again);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let limits = if selector & 0x80 == 0 {
        DecodeLimits::default()
    } else {
        DecodeLimits::permissive()
    };
    match selector & 0x0f {
        0 => check::<PoolHandle>(bytes, &limits),
        1 => check::<PoolElementId>(bytes, &limits),
        2 => check::<IpAddr>(bytes, &limits),
        3 => check::<TransportAddress>(bytes, &limits),
        4 => check::<SelectionPolicy>(bytes, &limits),
        5 => check::<PoolElement>(bytes, &limits),
        6 => check::<ServerInformation>(bytes, &limits),
        7 => check::<OperationError>(bytes, &limits),
        8 => check::<Cookie>(bytes, &limits),
        _ => check::<HandleResolutionOption>(bytes, &limits),
    }
});
