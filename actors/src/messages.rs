//! The ASAP messages the actors send, built with client-core's codec
//! (byte-exact with RSPLIB: the tests compare with captured messages).

use std::net::IpAddr;

use client_core::wire::{
    consts, AsapMessage, Cookie, Deregistration, DeregistrationResponse, EndpointKeepAlive,
    EndpointKeepAliveAck, EndpointUnreachable, EnrpMessage, HandleResolution,
    HandleResolutionOption, HandleTableRequest, HandleUpdate, Message, PoolElement, PoolElementId,
    PoolHandle, Presence, Registration, RegistrationResponse, SelectionPolicy, ServerAnnounce,
    ServerId, ServerInformation, TransportAddress,
};

/// A pool element with an SCTP user transport carrying data and control,
/// as RSPLIB's `rspserver` registers (its home registrar is not known yet).
pub fn pool_element(
    id: u32,
    addresses: Vec<IpAddr>,
    port: u16,
    policy: SelectionPolicy,
    life_ms: u32,
) -> PoolElement {
    PoolElement {
        id: PoolElementId(id),
        home_registrar: ServerId(0),
        registration_life_ms: life_ms,
        user_transport: TransportAddress::sctp(
            port,
            consts::transport_use::DATA_PLUS_CONTROL,
            addresses,
        ),
        policy,
        registrator_transport: None,
    }
}

fn asap(m: AsapMessage) -> Vec<u8> {
    Message::Asap(m).to_bytes()
}

pub fn registration(pool: &PoolHandle, pe: PoolElement) -> Vec<u8> {
    asap(AsapMessage::Registration(Registration {
        pool_handle: pool.clone(),
        pool_element: pe,
    }))
}

pub fn deregistration(pool: &PoolHandle, id: u32) -> Vec<u8> {
    asap(AsapMessage::Deregistration(Deregistration {
        pool_handle: pool.clone(),
        pe_id: PoolElementId(id),
    }))
}

pub fn endpoint_unreachable(pool: &PoolHandle, id: u32) -> Vec<u8> {
    asap(AsapMessage::EndpointUnreachable(EndpointUnreachable {
        pool_handle: pool.clone(),
        pe_id: PoolElementId(id),
    }))
}

/// A Handle Resolution; `items` adds RSPLIB's option 0x803f.
pub fn handle_resolution(pool: &PoolHandle, items: Option<u32>) -> Vec<u8> {
    asap(AsapMessage::HandleResolution(HandleResolution {
        pool_handle: pool.clone(),
        option: items.map(|items| HandleResolutionOption { items }),
    }))
}

pub fn keep_alive_ack(pool: &PoolHandle, id: PoolElementId) -> Vec<u8> {
    asap(AsapMessage::EndpointKeepAliveAck(EndpointKeepAliveAck {
        pool_handle: pool.clone(),
        pe_id: id,
    }))
}

pub fn keep_alive(home: bool, server: u32, pool: &PoolHandle, id: u32) -> Vec<u8> {
    asap(AsapMessage::EndpointKeepAlive(EndpointKeepAlive {
        home,
        server_id: ServerId(server),
        pool_handle: pool.clone(),
        pe_id: Some(PoolElementId(id)),
    }))
}

pub fn server_announce(server: u32, transports: Vec<TransportAddress>) -> Vec<u8> {
    asap(AsapMessage::ServerAnnounce(ServerAnnounce {
        server_id: ServerId(server),
        transports,
    }))
}

pub fn cookie_echo(cookie: Vec<u8>) -> Vec<u8> {
    asap(AsapMessage::CookieEcho(Cookie(cookie)))
}

/// What a registrar answers a PE that registered (accepted).
pub fn registration_response(pool: &PoolHandle, id: PoolElementId) -> Vec<u8> {
    asap(AsapMessage::RegistrationResponse(RegistrationResponse {
        rejected: false,
        pool_handle: pool.clone(),
        pe_id: id,
        error: None,
    }))
}

/// What a registrar answers a PE that deregistered (done).
pub fn deregistration_response(pool: &PoolHandle, id: PoolElementId) -> Vec<u8> {
    asap(AsapMessage::DeregistrationResponse(
        DeregistrationResponse {
            pool_handle: pool.clone(),
            pe_id: id,
            error: None,
        },
    ))
}
/// Handle Update actions (RFC 5353 §2.3.5).
pub const ADD_PE: u16 = 0;
pub const DEL_PE: u16 = 1;

fn enrp(m: EnrpMessage) -> Vec<u8> {
    Message::Enrp(m).to_bytes()
}

/// An ENRP Presence from `sender`, announcing its ENRP endpoint
/// (`port` at `addresses`, SCTP, data only, as RSPLIB's registrars send).
pub fn presence(
    sender: u32,
    receiver: u32,
    checksum: u16,
    reply_required: bool,
    port: u16,
    addresses: Vec<IpAddr>,
) -> Vec<u8> {
    enrp(EnrpMessage::Presence(Presence {
        reply_required,
        sender: ServerId(sender),
        receiver: ServerId(receiver),
        checksum,
        server_info: Some(ServerInformation {
            server_id: ServerId(sender),
            transport: TransportAddress::sctp(port, consts::transport_use::DATA_ONLY, addresses),
        }),
    }))
}

/// ENRP Handle Table Request for every PE the receiver knows.
pub fn handle_table_request(server: u32, receiver: u32) -> Vec<u8> {
    enrp(EnrpMessage::HandleTableRequest(HandleTableRequest {
        own_children_only: false,
        sender: ServerId(server),
        receiver: ServerId(receiver),
    }))
}

/// An ENRP Handle Update (`ADD_PE` or `DEL_PE`) from `sender` about `pe`.
pub fn handle_update(
    sender: u32,
    receiver: u32,
    action: u16,
    pool: &PoolHandle,
    pe: PoolElement,
) -> Vec<u8> {
    enrp(EnrpMessage::HandleUpdate(HandleUpdate {
        takeover_suggested: false,
        sender: ServerId(sender),
        receiver: ServerId(receiver),
        update_action: action,
        pool_handle: pool.clone(),
        pool_element: pe,
    }))
}

/// Parses a selection policy option: `round-robin`, `random`,
/// `least-used:LOAD` (LOAD a fraction 0..=1), `weighted-round-robin:W`,
/// `weighted-random:W`, `priority:P`.
pub fn parse_policy(text: &str) -> Result<SelectionPolicy, String> {
    let (name, arg) = match text.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (text, None),
    };
    let int = |a: Option<&str>| -> Result<u32, String> {
        a.ok_or_else(|| format!("{text}: needs a value after ':'"))?
            .parse()
            .map_err(|e| format!("{text}: {e}"))
    };
    let load = |a: Option<&str>| -> Result<u32, String> {
        let f: f64 = a
            .ok_or_else(|| format!("{text}: needs a load 0..1 after ':'"))?
            .parse()
            .map_err(|e| format!("{text}: {e}"))?;
        if !(0.0..=1.0).contains(&f) {
            return Err(format!("{text}: load must be within 0..1"));
        }
        // RSPLIB scales fractions with rint(f × 0xFFFFFFFF).
        Ok((f * f64::from(u32::MAX)).round() as u32)
    };
    Ok(match name {
        "round-robin" => SelectionPolicy::RoundRobin,
        "random" => SelectionPolicy::Random,
        "least-used" => SelectionPolicy::LeastUsed { load: load(arg)? },
        "weighted-round-robin" => SelectionPolicy::WeightedRoundRobin { weight: int(arg)? },
        "weighted-random" => SelectionPolicy::WeightedRandom { weight: int(arg)? },
        "priority" => SelectionPolicy::Priority {
            priority: int(arg)?,
        },
        _ => {
            return Err(format!(
                "unknown policy {name:?}: round-robin, random, least-used:LOAD, \
                 weighted-round-robin:W, weighted-random:W, priority:P"
            ))
        }
    })
}

/// Parses a PE identifier: `0x0e000001` (hex) or decimal.
pub fn parse_pe_id(text: &str) -> Result<u32, String> {
    let r = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => text.parse(),
    };
    match r {
        Ok(0) => Err(format!("{text}: PE identifier 0 is invalid")),
        Ok(v) => Ok(v),
        Err(e) => Err(format!("{text}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolHandle {
        PoolHandle::from("EchoPool")
    }

    /// A message RSPLIB 3.4.4 sent in the lab, as hex (testdata/README.md).
    fn vector(name: &str) -> String {
        rserpool_testdata::vector_hex(name)
    }

    #[test]
    fn registration_matches_rsplibs_capture() {
        let addrs: Vec<IpAddr> = [
            "10.1.0.1",
            "10.1.0.2",
            "10.1.0.3",
            "10.1.0.4",
            "10.1.0.5",
            "10.1.0.6",
            "10.0.2.15",
            "fec0::5054:ff:fe12:3456",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let pe = pool_element(
            0x0e00_0001,
            addrs,
            56661,
            SelectionPolicy::RoundRobin,
            90_000,
        );
        assert_eq!(
            hex::encode(registration(&pool(), pe)),
            vector("asap-registration-1")
        );
    }

    #[test]
    fn deregistration_unreachable_and_keep_alive_ack_match_captures() {
        assert_eq!(
            hex::encode(deregistration(&pool(), 0x0e00_0005)),
            vector("asap-deregistration-1")
        );
        assert_eq!(
            hex::encode(endpoint_unreachable(&pool(), 0x0e00_0006)),
            vector("probe-asap-endpoint-unreachable-1")
        );
        assert_eq!(
            hex::encode(keep_alive_ack(&pool(), PoolElementId(0x0e00_0001))),
            vector("asap-endpoint-keep-alive-ack-1")
        );
    }

    #[test]
    fn handle_resolution_keep_alive_and_announce_match_captures() {
        assert_eq!(
            hex::encode(handle_resolution(&pool(), Some(1))),
            vector("asap-handle-resolution-1")
        );
        assert_eq!(
            hex::encode(keep_alive(false, 0x1000_0001, &pool(), 0x0e00_0001)),
            vector("asap-endpoint-keep-alive-1")
        );
        assert_eq!(
            hex::encode(server_announce(0x1000_0004, vec![])),
            vector("asap-server-announce-1")
        );
    }

    #[test]
    fn registrar_answers_match_captures() {
        assert_eq!(
            hex::encode(registration_response(&pool(), PoolElementId(0x0e00_0001))),
            vector("asap-registration-response-1")
        );
        assert_eq!(
            hex::encode(deregistration_response(&pool(), PoolElementId(0x0e00_0005))),
            vector("asap-deregistration-response-1")
        );
    }

    #[test]
    fn handle_table_request_matches_capture() {
        assert_eq!(
            hex::encode(handle_table_request(0x1000_0001, 0x1000_0002)),
            vector("enrp-handle-table-request-1")
        );
    }

    #[test]
    fn cookie_echo_matches_capture() {
        let c = hex::decode("00000001000000000026439600000000000dc0d2").unwrap();
        assert_eq!(hex::encode(cookie_echo(c)), vector("asap-cookie-echo-1"));
    }

    #[test]
    fn presence_and_handle_update_match_rsplibs_captures() {
        assert_eq!(
            hex::encode(presence(
                0x1000_0001,
                0,
                0xffff,
                false,
                9901,
                vec!["127.0.0.1".parse().unwrap()]
            )),
            vector("enrp-presence-1")
        );
        let addrs: Vec<IpAddr> = [
            "10.1.0.1",
            "10.1.0.2",
            "10.1.0.3",
            "10.1.0.4",
            "10.1.0.5",
            "10.1.0.6",
            "10.0.2.15",
            "fec0::5054:ff:fe12:3456",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let mut pe = pool_element(
            0x0e00_0001,
            addrs.clone(),
            56661,
            SelectionPolicy::RoundRobin,
            90_000,
        );
        pe.home_registrar = ServerId(0x1000_0001);
        pe.registrator_transport = Some(TransportAddress::sctp(
            37056,
            consts::transport_use::DATA_ONLY,
            addrs,
        ));
        assert_eq!(
            hex::encode(handle_update(0x1000_0001, 0, ADD_PE, &pool(), pe)),
            vector("enrp-handle-update-1")
        );
    }

    #[test]
    fn policies_and_ids_parse_or_say_why_not() {
        assert_eq!(parse_policy("round-robin"), Ok(SelectionPolicy::RoundRobin));
        assert_eq!(
            parse_policy("least-used:0"),
            Ok(SelectionPolicy::LeastUsed { load: 0 })
        );
        assert_eq!(
            parse_policy("least-used:1"),
            Ok(SelectionPolicy::LeastUsed { load: u32::MAX })
        );
        assert!(parse_policy("least-used:2").is_err());
        assert!(parse_policy("priority").is_err());
        assert!(parse_policy("fastest")
            .unwrap_err()
            .contains("unknown policy"));
        assert_eq!(parse_pe_id("0x0e000001"), Ok(0x0e00_0001));
        assert_eq!(parse_pe_id("17"), Ok(17));
        assert!(parse_pe_id("0").is_err());
        assert!(parse_pe_id("0xzz").is_err());
    }
}
