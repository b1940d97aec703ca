//! The decoder refuses malformed input with a typed error that says what and
//! where, and accepts exactly what RSPLIB accepts at the edges.

use client_core::wire::{self, consts::param_type as pt, raw, *};

const ECHO: &[u8] = b"EchoPool";

fn hr(params: &[Vec<u8>]) -> Vec<u8> {
    raw::message(
        consts::asap_type::HANDLE_RESOLUTION,
        0,
        &params.concat(),
        None,
    )
}

fn err(bytes: &[u8]) -> DecodeError {
    wire::decode(Protocol::Asap, bytes).expect_err("must be refused")
}

#[test]
fn trailing_bytes_after_the_message_are_refused() {
    let mut m = hr(&[raw::tlv(pt::POOL_HANDLE, ECHO, None, true)]);
    m.extend_from_slice(&[0, 0, 0, 0]);
    let e = err(&m);
    assert_eq!(e.kind, DecodeErrorKind::TrailingBytes { count: 4 });
    assert_eq!(e.offset, 16);
}

#[test]
fn message_length_without_final_padding_is_accepted_like_rsplib() {
    // Pool handle of 11 bytes: TLV length 15, one padding byte. RSPLIB
    // accepts a Message Length of 19 as long as the padding byte is there.
    let ph = raw::tlv(pt::POOL_HANDLE, b"CalcAppPool", None, true);
    let m = raw::message(consts::asap_type::HANDLE_RESOLUTION, 0, &ph, Some(19));
    assert_eq!(m.len(), 20);
    let d = wire::decode(Protocol::Asap, &m).unwrap();
    let Message::Asap(AsapMessage::HandleResolution(h)) = d.message else {
        panic!()
    };
    assert_eq!(h.pool_handle, PoolHandle::from("CalcAppPool"));
}

#[test]
fn missing_padding_of_the_last_parameter_is_refused_like_rsplib() {
    let ph = raw::tlv(pt::POOL_HANDLE, b"CalcAppPool", None, false);
    let e = err(&raw::message(
        consts::asap_type::HANDLE_RESOLUTION,
        0,
        &ph,
        None,
    ));
    assert_eq!(
        e.kind,
        DecodeErrorKind::PaddingMissing {
            needed: 1,
            available: 0
        }
    );
    assert_eq!(e.parameter, Some(pt::POOL_HANDLE));
}

#[test]
fn parameter_shorter_than_its_header_is_refused_with_position() {
    let m = hr(&[
        raw::tlv(pt::POOL_HANDLE, ECHO, None, true),
        raw::tlv(pt::HANDLE_RESOLUTION_OPTION, &[0, 0, 0, 1], Some(3), true),
    ]);
    let e = err(&m);
    assert_eq!(
        e.kind,
        DecodeErrorKind::ParameterLengthTooShort { length: 3 }
    );
    assert_eq!(e.offset, 16);
    assert_eq!(
        e.to_string(),
        "parameter 0x803f at offset 16: length 3 is shorter than its 4-byte header"
    );
}

#[test]
fn pool_handles_longer_than_rsplib_accepts_are_refused_by_default() {
    let long = vec![b'x'; 33];
    let m = hr(&[raw::tlv(pt::POOL_HANDLE, &long, None, true)]);
    assert_eq!(
        err(&m).kind,
        DecodeErrorKind::PoolHandleTooLong {
            length: 33,
            max: 32
        }
    );
    // A lab inspecting attack traffic can still see it.
    let d = wire::decode_with(Protocol::Asap, &m, &DecodeLimits::permissive()).unwrap();
    let Message::Asap(AsapMessage::HandleResolution(h)) = d.message else {
        panic!()
    };
    assert_eq!(h.pool_handle.0.len(), 33);
}

#[test]
fn empty_pool_handle_is_refused() {
    let m = hr(&[raw::tlv(pt::POOL_HANDLE, &[], None, true)]);
    assert_eq!(err(&m).kind, DecodeErrorKind::EmptyPoolHandle);
}

fn element_bytes(id: u32) -> Vec<u8> {
    let e = PoolElement {
        id: PoolElementId(id),
        home_registrar: ServerId(1),
        registration_life_ms: 90_000,
        user_transport: TransportAddress::sctp(7, 1, vec!["10.1.0.1".parse().unwrap()]),
        policy: SelectionPolicy::RoundRobin,
        registrator_transport: None,
    };
    let m = Message::Asap(AsapMessage::BusinessCard(BusinessCard {
        pool_handle: PoolHandle::from("P"),
        policy: None,
        elements: vec![e],
    }));
    // The PE parameter is everything after the 4-byte header and the 8-byte
    // padded pool handle.
    m.to_bytes()[12..].to_vec()
}

#[test]
fn more_elements_than_the_limit_are_refused() {
    let mut params = vec![
        raw::tlv(pt::POOL_HANDLE, ECHO, None, true),
        raw::tlv(pt::SELECTION_POLICY, &[0, 0, 0, 1], None, true),
    ];
    params.extend((1..=129).map(element_bytes));
    let m = raw::message(
        consts::asap_type::HANDLE_RESOLUTION_RESPONSE,
        0,
        &params.concat(),
        None,
    );
    assert_eq!(err(&m).kind, DecodeErrorKind::TooManyElements { max: 128 });
    // 128 are fine.
    let ok: Vec<u8> = raw::message(
        consts::asap_type::HANDLE_RESOLUTION_RESPONSE,
        0,
        &params[..params.len() - 1].concat(),
        None,
    );
    assert!(wire::decode(Protocol::Asap, &ok).is_ok());
}

#[test]
fn unknown_parameters_are_treated_by_their_action_bits() {
    let ph = raw::tlv(pt::POOL_HANDLE, ECHO, None, true);
    for (ty, outcome) in [
        (0x3e00u16, Err(UnrecognizedAction::Stop)),
        (0x7e00, Err(UnrecognizedAction::StopAndReport)),
        (0xbe00, Ok(UnrecognizedAction::Skip)),
        (0xfe00, Ok(UnrecognizedAction::SkipAndReport)),
    ] {
        let unknown = raw::tlv(ty, &[1, 2, 3], None, true);
        let m = hr(&[ph.clone(), unknown]);
        match (wire::decode(Protocol::Asap, &m), outcome) {
            (Ok(d), Ok(action)) => {
                assert_eq!(d.skipped.len(), 1);
                assert_eq!(d.skipped[0].param_type, ty);
                assert_eq!(d.skipped[0].value, vec![1, 2, 3]);
                assert_eq!(d.skipped[0].action(), action);
            }
            (Err(e), Err(action)) => {
                assert_eq!(
                    e.kind,
                    DecodeErrorKind::UnrecognizedParameter {
                        action,
                        // The offending TLV, for an Operation Error cause 1.
                        tlv: vec![(ty >> 8) as u8, 0, 0, 7, 1, 2, 3],
                    }
                );
                assert_eq!(e.offset, 16);
            }
            (got, want) => panic!("type 0x{ty:04x}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn known_parameter_out_of_place_stops_the_message() {
    // A Cookie where a Handle Resolution allows only the option.
    let m = hr(&[
        raw::tlv(pt::POOL_HANDLE, ECHO, None, true),
        raw::tlv(pt::COOKIE, &[1, 2, 3, 4], None, true),
    ]);
    assert_eq!(
        err(&m).kind,
        DecodeErrorKind::UnexpectedParameter { expected: None }
    );
}

#[test]
fn priority_least_used_with_one_word_is_refused_like_rsplib() {
    let mut v = 0x4000_0003u32.to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0, 0, 9]);
    let m = raw::message(
        consts::asap_type::HANDLE_RESOLUTION_RESPONSE,
        0,
        &[
            raw::tlv(pt::POOL_HANDLE, ECHO, None, true),
            raw::tlv(pt::SELECTION_POLICY, &v, None, true),
        ]
        .concat(),
        None,
    );
    assert_eq!(
        err(&m).kind,
        DecodeErrorKind::InvalidPolicyLength {
            policy: 0x4000_0003,
            words: 1,
            expected: 2
        }
    );
}

#[test]
fn nesting_deeper_than_the_limit_is_refused() {
    let limits = DecodeLimits {
        max_depth: 2,
        ..DecodeLimits::default()
    };
    // PE → transport → address is depth 3.
    let m = raw::message(
        consts::asap_type::BUSINESS_CARD,
        0,
        &[
            raw::tlv(pt::POOL_HANDLE, b"P", None, true),
            element_bytes(5),
        ]
        .concat(),
        None,
    );
    let e = wire::decode_with(Protocol::Asap, &m, &limits).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::TooDeep { max: 2 });
    assert!(wire::decode(Protocol::Asap, &m).is_ok());
}

#[test]
fn transport_without_address_and_bad_cause_length_are_refused() {
    let pe = {
        let mut v = Vec::new();
        v.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 9]);
        v.extend(raw::tlv(pt::SCTP_TRANSPORT, &[0, 7, 0, 1], None, true));
        v.extend(raw::tlv(pt::SELECTION_POLICY, &[0, 0, 0, 1], None, true));
        raw::tlv(pt::POOL_ELEMENT, &v, None, true)
    };
    let m = raw::message(
        consts::asap_type::REGISTRATION,
        0,
        &[raw::tlv(pt::POOL_HANDLE, ECHO, None, true), pe].concat(),
        None,
    );
    let e = err(&m);
    assert_eq!(e.kind, DecodeErrorKind::NoAddresses);
    assert_eq!(e.parameter, Some(pt::SCTP_TRANSPORT));

    let m = raw::message(
        consts::asap_type::ERROR,
        0,
        &raw::tlv(pt::OPERATION_ERROR, &[0, 9, 0, 2], None, true),
        None,
    );
    assert_eq!(
        err(&m).kind,
        DecodeErrorKind::InvalidCauseLength {
            length: 2,
            available: 4
        }
    );
}

#[test]
fn short_inputs_say_what_is_missing() {
    assert_eq!(
        err(&[5, 0]).kind,
        DecodeErrorKind::MessageTooShort { available: 2 }
    );
    assert_eq!(
        err(&[5, 0, 0, 2]).kind,
        DecodeErrorKind::MessageLengthTooShort { length: 2 }
    );
    // A Keep-Alive whose server identifier is cut short.
    let e = err(&raw::message(
        consts::asap_type::ENDPOINT_KEEP_ALIVE,
        0,
        &[1, 2],
        None,
    ));
    assert_eq!(
        e.kind,
        DecodeErrorKind::FieldTruncated {
            field: "server identifier",
            needed: 4,
            available: 2
        }
    );
}

#[test]
fn the_same_bytes_mean_different_messages_by_protocol() {
    // Type 5 is a Handle Resolution under PPID 11 and a List Request under 12.
    let m = raw::message(5, 0, &[0, 0, 0, 1, 0, 0, 0, 2], None);
    assert!(matches!(
        wire::decode(Protocol::Enrp, &m).unwrap().message,
        Message::Enrp(EnrpMessage::ListRequest(ListRequest {
            sender: ServerId(1),
            receiver: ServerId(2)
        }))
    ));
    assert!(wire::decode(Protocol::Asap, &m).is_err());
}

/// A Server Announce (server id, then transports) whose one SCTP transport
/// carries `addresses` (already encoded address parameters).
fn announce_with_addresses(addresses: &[Vec<u8>]) -> Vec<u8> {
    let mut value = vec![0, 7, 0, 1];
    value.extend(addresses.concat());
    raw::message(
        consts::asap_type::SERVER_ANNOUNCE,
        0,
        &[
            vec![0, 0, 0, 1],
            raw::tlv(pt::SCTP_TRANSPORT, &value, None, true),
        ]
        .concat(),
        None,
    )
}

#[test]
fn more_addresses_than_the_limit_are_refused_at_the_first_one_over() {
    let v4 = |i: u8| raw::tlv(pt::IPV4_ADDRESS, &[10, 0, 0, i], None, true);
    let limits = DecodeLimits {
        max_addresses: 3,
        ..DecodeLimits::default()
    };
    let three: Vec<Vec<u8>> = (1..=3).map(v4).collect();
    assert!(wire::decode_with(Protocol::Asap, &announce_with_addresses(&three), &limits).is_ok());
    let mut four = three.clone();
    four.push(raw::tlv(pt::IPV6_ADDRESS, &[0xfe; 16], None, true));
    let e =
        wire::decode_with(Protocol::Asap, &announce_with_addresses(&four), &limits).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::TooManyAddresses { max: 3 });
    // Header 4, server id 4, transport header 4, port and use 4, three
    // IPv4 parameters of 8 bytes: the fourth address starts at 40.
    assert_eq!((e.offset, e.parameter), (40, Some(pt::IPV6_ADDRESS)));
}

#[test]
fn address_parameters_of_the_wrong_length_are_refused_inside_a_transport() {
    let good = raw::tlv(pt::IPV4_ADDRESS, &[10, 0, 0, 1], None, true);
    for (ty, value) in [
        (pt::IPV4_ADDRESS, vec![10, 0, 0, 2, 0, 0, 0, 0]),
        (pt::IPV6_ADDRESS, vec![0xfe; 12]),
    ] {
        let bad = raw::tlv(ty, &value, None, true);
        let m = announce_with_addresses(&[good.clone(), bad]);
        let e = err(&m);
        assert_eq!(
            e.kind,
            DecodeErrorKind::InvalidParameterLength {
                expected: if ty == pt::IPV4_ADDRESS { 8 } else { 20 },
                length: 4 + value.len(),
            },
            "type {ty:#06x}"
        );
        assert_eq!((e.offset, e.parameter), (24, Some(ty)));
    }
    // A truncated address parameter (its length runs past the transport).
    let mut m = announce_with_addresses(&[good.clone(), good]);
    let at = m.len() - 8 + 2;
    m[at..at + 2].copy_from_slice(&12u16.to_be_bytes());
    assert!(matches!(
        err(&m).kind,
        DecodeErrorKind::ParameterOverrun { length: 12, .. }
    ));
}
