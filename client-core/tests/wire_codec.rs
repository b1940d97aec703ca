//! The per-parameter codec (`wire::Codec`) and the malformed-input builders
//! (`wire::raw`): parameters encode exactly as inside RSPLIB's messages,
//! decode on their own with typed errors, and what `raw` builds is refused
//! for the stated reason.

use std::net::IpAddr;

use client_core::wire::consts::{asap_type as at, param_type as pt, policy_code};
use client_core::wire::{self, *};
use rserpool_testdata::vector;

/// Position of `needle` inside `haystack`, if present.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn hrr(bytes: &[u8]) -> HandleResolutionResponse {
    match wire::decode(Protocol::Asap, bytes).unwrap().message {
        Message::Asap(AsapMessage::HandleResolutionResponse(h)) => h,
        other => panic!("not an HRR: {other:?}"),
    }
}

#[test]
fn parameters_encode_exactly_as_inside_rsplib_messages() {
    for name in [
        "asap-handle-resolution-response-1",
        "asap-handle-resolution-response-2",
        "asap-handle-resolution-response-4",
    ] {
        let bytes = vector(name);
        let h = hrr(&bytes);
        assert!(!h.elements.is_empty(), "{name} has PEs");
        let ph = h.pool_handle.to_bytes();
        assert_eq!(find(&bytes, &ph), Some(4), "{name}: pool handle first");
        let policy = h
            .policy
            .clone()
            .expect("RSPLIB always sends the pool policy");
        assert_eq!(
            find(&bytes, &policy.to_bytes()),
            Some(4 + ph.len()),
            "{name}"
        );
        for e in &h.elements {
            let enc = e.to_bytes();
            let at = find(&bytes, &enc).unwrap_or_else(|| panic!("{name}: PE {} not found", e.id));
            assert_eq!(PoolElement::decode(&bytes[at..at + enc.len()]).unwrap(), *e);
            let t = e.user_transport.to_bytes();
            assert!(find(&enc, &t).is_some(), "{name}: transport inside the PE");
            assert_eq!(TransportAddress::decode(&t).unwrap(), e.user_transport);
            for a in &e.user_transport.addresses {
                assert_eq!(IpAddr::decode(&a.to_bytes()).unwrap(), *a);
            }
        }
    }
}

#[test]
fn every_parameter_type_round_trips_on_its_own() {
    fn rt<T: Codec + PartialEq + std::fmt::Debug>(v: T) {
        let b = v.to_bytes();
        assert_eq!(b.len() % 4, 0, "{v:?} is padded");
        assert_eq!(T::decode(&b).unwrap(), v);
    }
    rt(PoolHandle::from("EchoPool"));
    rt(PoolHandle::new(vec![0u8; 5]));
    rt(PoolElementId(0x1a2b3c4d));
    rt("192.0.2.1".parse::<IpAddr>().unwrap());
    rt("2001:db8::1".parse::<IpAddr>().unwrap());
    rt(TransportAddress::sctp(
        9901,
        0,
        vec!["10.1.0.1".parse().unwrap()],
    ));
    rt(SelectionPolicy::LeastUsedDegradationDpf {
        load: 1,
        degradation: 2,
        load_dpf: 3,
        distance: 4,
    });
    rt(ServerInformation {
        server_id: ServerId(0x10000001),
        transport: TransportAddress::sctp(9901, 0, vec!["10.1.0.1".parse().unwrap()]),
    });
    rt(OperationError {
        causes: vec![ErrorCause {
            code: CauseCode(0x0003),
            info: vec![0, 9, 0, 5, b'x'],
        }],
    });
    rt(Cookie(vec![1, 2, 3, 4, 5, 6, 7, 8]));
    rt(HandleResolutionOption { items: 1 });
}

#[test]
fn handle_resolution_option_matches_rsplibs_connect_request() {
    // docs/rsplib-wire.md, "Handle Resolution option": "EchoPool" + 0x803f
    // with Items = 1.
    let option = HandleResolutionOption { items: 1 }.to_bytes();
    assert_eq!(hex::encode(&option), "803f000800000001");
    let m = raw::message_of(
        at::HANDLE_RESOLUTION,
        0,
        &[PoolHandle::from("EchoPool").to_bytes(), option],
        None,
    );
    assert_eq!(
        hex::encode(&m),
        "05000018000900 0c4563686f506f6f6c803f000800000001".replace(' ', "")
    );
}

#[test]
fn parameter_decode_refuses_trailing_bytes_and_other_types() {
    let mut b = PoolElementId(7).to_bytes();
    b.extend_from_slice(&[0, 0, 0, 0]);
    let e = PoolElementId::decode(&b).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::TrailingBytes { count: 4 });
    assert_eq!(e.offset, 8);

    let e = PoolElementId::decode(&PoolHandle::from("EchoPool").to_bytes()).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::MissingParameter {
            expected: pt::PE_IDENTIFIER
        }
    );

    let e = IpAddr::decode(&PoolElementId(7).to_bytes()).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::UnexpectedParameter { expected: None }
    );
    assert_eq!(e.parameter, Some(pt::PE_IDENTIFIER));

    let e = Cookie::decode(&[]).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::MissingParameter {
            expected: pt::COOKIE
        }
    );
}

#[test]
fn parameter_decode_honours_action_bits_in_front_of_it() {
    // 0x803e (action 10) is skipped, as RSPLIB does; 0x3e3e (action 00) stops.
    let mut b = raw::tlv(0x803e, &[1, 2, 3], None, true);
    b.extend(PoolElementId(9).to_bytes());
    assert_eq!(PoolElementId::decode(&b).unwrap(), PoolElementId(9));

    let mut b = raw::tlv(0x3e3e, &[1], None, true);
    b.extend(PoolElementId(9).to_bytes());
    let e = PoolElementId::decode(&b).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::UnrecognizedParameter {
            action: UnrecognizedAction::Stop,
            tlv: vec![0x3e, 0x3e, 0, 5, 1],
        }
    );
}

#[test]
fn ipv4_mapped_ipv6_parameter_decodes_as_the_ipv4_host() {
    // Regression for a fuzz finding: a 0x0002 parameter carrying
    // ::ffff:255.255.255.255 decoded as IPv6 but re-encoded as 0x0001, so a
    // decoded message did not survive encode → decode unchanged.
    let v6 = raw::tlv(
        pt::IPV6_ADDRESS,
        &{
            let mut o = [0u8; 16];
            o[10..].copy_from_slice(&[0xff, 0xff, 10, 1, 0, 1]);
            o
        },
        None,
        true,
    );
    assert_eq!(
        IpAddr::decode(&v6).unwrap(),
        "10.1.0.1".parse::<IpAddr>().unwrap()
    );
    let mapped: IpAddr = "::ffff:10.1.0.1".parse().unwrap();
    assert_eq!(hex::encode(mapped.to_bytes()), "000100080a010001");
}

#[test]
fn fuzz_finding_presence_with_mapped_address_round_trips() {
    // fuzz/artifacts crash-e545ace1 (selector byte removed): an ENRP
    // Presence whose Server Information lists ::ffff:255.255.255.255.
    let bytes = hex::decode(concat!(
        "010000a08f4c4a4700000000000f0006ffff0000000b008c8f4c4a4700040084",
        "aa3c0000000100087f0000010002001400000000000000000000ffffffffffff",
        "ffff00080a010001000100080a010002000100080a010003000100080a010004",
        "000100080a010005000100080a010006000100080a00020f00020014fe800000",
        "00000000505400fffe12345600020014fec0000000000000505400fffe123456",
    ))
    .unwrap();
    let first = wire::decode(Protocol::Enrp, &bytes).unwrap().message;
    let again = first.to_bytes();
    let second = wire::decode(Protocol::Enrp, &again).unwrap().message;
    assert_eq!(second, first);
    assert_eq!(second.to_bytes(), again);
}

#[test]
fn raw_builders_produce_what_the_decoder_refuses_for_that_reason() {
    let ph = PoolHandle::from("EchoPool").to_bytes();

    // A one-word Priority Least Used: RSPLIB refuses it (0x0011).
    let pe = PoolElement {
        id: PoolElementId(1),
        home_registrar: ServerId(0),
        registration_life_ms: 0,
        user_transport: TransportAddress::sctp(7, 1, vec!["10.0.0.1".parse().unwrap()]),
        policy: SelectionPolicy::RoundRobin,
        registrator_transport: None,
    };
    let good_policy = SelectionPolicy::RoundRobin.to_bytes();
    let bad_policy = raw::policy(policy_code::PRIORITY_LEAST_USED, &[5]);
    let pe_bytes = pe.to_bytes();
    let at_policy = find(&pe_bytes, &good_policy).unwrap();
    let mut value = pe_bytes[4..at_policy].to_vec();
    value.extend(&bad_policy);
    let m = raw::message_of(
        at::REGISTRATION,
        0,
        &[ph.clone(), raw::tlv(pt::POOL_ELEMENT, &value, None, true)],
        None,
    );
    let e = wire::decode(Protocol::Asap, &m).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::InvalidPolicyLength {
            policy: policy_code::PRIORITY_LEAST_USED,
            words: 1,
            expected: 2
        }
    );

    // A cause whose length runs past its Operation Error.
    let err = raw::tlv(
        pt::OPERATION_ERROR,
        &raw::cause(0x0009, &[], Some(12)),
        None,
        true,
    );
    let m = raw::message_of(at::ERROR, 0, &[err], None);
    let e = wire::decode(Protocol::Asap, &m).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::InvalidCauseLength {
            length: 12,
            available: 4
        }
    );
    assert_eq!((e.offset, e.parameter), (8, Some(pt::OPERATION_ERROR)));

    // The last parameter without its padding (RSPLIB: 0x0003).
    let short = PoolHandle::from("CalcAppPool").to_bytes();
    let m = raw::message_of(at::HANDLE_RESOLUTION, 0, &[raw::unpadded(&short)], None);
    assert_eq!(m.len(), 4 + 15);
    let e = wire::decode(Protocol::Asap, &m).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::PaddingMissing {
            needed: 1,
            available: 0
        }
    );

    // A pool handle RSPLIB would abort() on: the encoder writes it, the
    // decoder refuses it by default and shows it with permissive limits.
    let long = PoolHandle::new(vec![b'x'; 40]);
    let m = raw::message_of(at::HANDLE_RESOLUTION, 0, &[long.to_bytes()], None);
    let e = wire::decode(Protocol::Asap, &m).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::PoolHandleTooLong {
            length: 40,
            max: 32
        }
    );
    let d = wire::decode_with(Protocol::Asap, &m, &DecodeLimits::permissive()).unwrap();
    assert_eq!(
        d.message,
        Message::Asap(AsapMessage::HandleResolution(HandleResolution {
            pool_handle: long,
            option: None
        }))
    );

    // A Message Length that lies, set after building.
    let mut m = raw::message_of(at::HANDLE_RESOLUTION, 0, &[ph], None);
    raw::set_length(&mut m, 8);
    let e = wire::decode(Protocol::Asap, &m).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::TrailingBytes { count: 8 });
    let mut tiny = vec![1, 2];
    raw::set_length(&mut tiny, 99);
    assert_eq!(tiny, vec![1, 2], "too short to carry a length: unchanged");
}

#[test]
fn action_bits_01_and_11_yield_unrecognized_parameter_causes() {
    let ph = PoolHandle::from("EchoPool").to_bytes();

    // 01: the message stops; the cause carries the whole parameter.
    let stop_report = raw::tlv(0x4abc, &[1, 2, 3, 4, 5], None, true);
    let m = raw::message_of(at::HANDLE_RESOLUTION, 0, &[ph.clone(), stop_report], None);
    let e = wire::decode(Protocol::Asap, &m).unwrap_err();
    let cause = e.report_cause().expect("action 01 is reported");
    assert_eq!(
        cause.code,
        CauseCode(consts::cause_code::UNRECOGNIZED_PARAMETER)
    );
    assert_eq!(hex::encode(&cause.info), "4abc00090102030405");

    // 00: stops silently.
    let m = raw::message_of(
        at::HANDLE_RESOLUTION,
        0,
        &[ph.clone(), raw::tlv(0x0abc, &[1], None, true)],
        None,
    );
    assert_eq!(
        wire::decode(Protocol::Asap, &m).unwrap_err().report_cause(),
        None
    );

    // 10 and 11: skipped; only 11 asks for a report.
    let m = raw::message_of(
        at::HANDLE_RESOLUTION,
        0,
        &[
            ph,
            raw::tlv(0x8abc, &[7], None, true),
            raw::tlv(0xcabc, &[8, 9], None, true),
        ],
        None,
    );
    let d = wire::decode(Protocol::Asap, &m).unwrap();
    assert_eq!(d.skipped.len(), 2);
    let causes = d.report_causes();
    assert_eq!(causes.len(), 1);
    assert_eq!(hex::encode(&causes[0].info), "cabc00060809");
    // The cause fits an Operation Error that decodes back.
    let reply = Message::Asap(AsapMessage::Error(OperationError { causes }));
    let back = wire::decode(Protocol::Asap, &reply.to_bytes())
        .unwrap()
        .message;
    assert_eq!(back, reply);
}

#[test]
fn odd_length_cookie_is_padded_and_counted_in_message_length() {
    // docs/rsplib-wire.md, "Cookies": RSPLIB's own decoder fails on cookies
    // whose length is not a multiple of 4, so they never come from RSPLIB;
    // we still encode them correctly (Length 4 + n, zero padding, Message
    // Length including the padding) and read them back unchanged.
    let m = Message::Asap(AsapMessage::CookieEcho(Cookie(vec![0xaa; 5])));
    let b = m.to_bytes();
    assert_eq!(hex::encode(&b), "0c000010000d0009aaaaaaaaaa000000");
    assert_eq!(wire::decode(Protocol::Asap, &b).unwrap().message, m);
    // Without the final padding bytes the message is refused, like RSPLIB.
    let mut cut = b[..13].to_vec();
    raw::set_length(&mut cut, 13);
    assert_eq!(
        wire::decode(Protocol::Asap, &cut).unwrap_err().kind,
        DecodeErrorKind::PaddingMissing {
            needed: 3,
            available: 0
        }
    );
}
