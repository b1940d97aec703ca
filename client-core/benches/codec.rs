//! Decoding and encoding a 3-PE Handle Resolution Response, the message a
//! pool user handles most. The PEs are the first PE of a real RSPLIB capture
//! (`asap-handle-resolution-response-1`: 7 IPv4 + 1 IPv6 addresses), given
//! three identifiers.
//!
//! Run: `cargo bench -p client-core --bench codec`

use client_core::wire::{self, AsapMessage, Message, PoolElementId, Protocol};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const RSPLIB_HRR: &str = "060000840009000c4563686f506f6f6c0008000800000001000a006c0e0000011000000100015f9000040054dd550001000100080a010001000100080a010002000100080a010003000100080a010004000100080a010005000100080a010006000100080a00020f00020014fec0000000000000505400fffe1234560008000800000001";

fn three_pe_response() -> (Message, Vec<u8>) {
    let bytes = hex::decode(RSPLIB_HRR).unwrap();
    let mut m = wire::decode(Protocol::Asap, &bytes).unwrap().message;
    if let Message::Asap(AsapMessage::HandleResolutionResponse(h)) = &mut m {
        let pe = h.elements[0].clone();
        h.elements = (1..=3)
            .map(|i| {
                let mut e = pe.clone();
                e.id = PoolElementId(0x0e00_0000 + i);
                e
            })
            .collect();
    }
    let bytes = m.to_bytes();
    (m, bytes)
}

fn codec(c: &mut Criterion) {
    let (message, bytes) = three_pe_response();
    let mut g = c.benchmark_group("hrr_3pe");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| wire::decode(Protocol::Asap, black_box(&bytes)).unwrap())
    });
    let mut out = Vec::with_capacity(bytes.len());
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(&message).encode(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
