//! One-line, human-readable summaries of decoded ASAP/ENRP messages.

use std::fmt::Write;

use client_core::wire::consts::{asap_type as at, enrp_type as et};
use client_core::wire::{
    AsapMessage, EnrpMessage, Message, OperationError, PoolElement, Protocol, SelectionPolicy,
    TransportAddress, TransportProtocol,
};

/// Short lowercase name of a type code in its protocol's table, as used in
/// the vectors' INDEX ("handle-resolution", "unknown-type-0x7f"). Works from
/// the type byte alone so that undecodable messages are still named.
pub fn type_label(protocol: Protocol, code: u8) -> String {
    let name = match protocol {
        Protocol::Asap => match code {
            at::REGISTRATION => "registration",
            at::DEREGISTRATION => "deregistration",
            at::REGISTRATION_RESPONSE => "registration-response",
            at::DEREGISTRATION_RESPONSE => "deregistration-response",
            at::HANDLE_RESOLUTION => "handle-resolution",
            at::HANDLE_RESOLUTION_RESPONSE => "handle-resolution-response",
            at::ENDPOINT_KEEP_ALIVE => "endpoint-keep-alive",
            at::ENDPOINT_KEEP_ALIVE_ACK => "endpoint-keep-alive-ack",
            at::ENDPOINT_UNREACHABLE => "endpoint-unreachable",
            at::SERVER_ANNOUNCE => "server-announce",
            at::COOKIE => "cookie",
            at::COOKIE_ECHO => "cookie-echo",
            at::BUSINESS_CARD => "business-card",
            at::ERROR => "error",
            _ => "",
        },
        Protocol::Enrp => match code {
            et::PRESENCE => "presence",
            et::HANDLE_TABLE_REQUEST => "handle-table-request",
            et::HANDLE_TABLE_RESPONSE => "handle-table-response",
            et::HANDLE_UPDATE => "handle-update",
            et::LIST_REQUEST => "list-request",
            et::LIST_RESPONSE => "list-response",
            et::INIT_TAKEOVER => "init-takeover",
            et::INIT_TAKEOVER_ACK => "init-takeover-ack",
            et::TAKEOVER_SERVER => "takeover-server",
            et::ERROR => "error",
            _ => "",
        },
    };
    if name.is_empty() {
        format!("unknown-type-0x{code:02x}")
    } else {
        name.to_string()
    }
}

/// "asap" / "enrp".
pub fn protocol_label(p: Protocol) -> &'static str {
    match p {
        Protocol::Asap => "asap",
        Protocol::Enrp => "enrp",
    }
}

/// Policy as "RoundRobin" / "LeastUsed(load=…)" style text.
pub fn policy(p: &SelectionPolicy) -> String {
    let text = format!("{p:?}");
    text.replace(" { ", "(")
        .replace(" }", ")")
        .replace(": ", "=")
}

fn transport(t: &TransportAddress) -> String {
    let proto = match t.protocol {
        TransportProtocol::Sctp => "sctp",
        TransportProtocol::Tcp => "tcp",
        TransportProtocol::Udp => "udp",
        TransportProtocol::Dccp => "dccp",
        TransportProtocol::UdpLite => "udplite",
    };
    let addrs: Vec<String> = t.addresses.iter().map(|a| a.to_string()).collect();
    format!("{proto}:[{}]:{}", addrs.join(","), t.port)
}

/// "pe 0x0e000001 sctp:[10.1.0.1,…]:41000 RoundRobin".
pub fn element(e: &PoolElement) -> String {
    format!(
        "pe {} {} {}",
        e.id,
        transport(&e.user_transport),
        policy(&e.policy)
    )
}

fn error(e: &OperationError) -> String {
    let causes: Vec<String> = e
        .causes
        .iter()
        .map(|c| format!("0x{:04x}", c.code.0))
        .collect();
    format!("error causes [{}]", causes.join(","))
}

/// The message's meaning in one line (without its type name).
pub fn details(m: &Message) -> String {
    let mut s = String::new();
    match m {
        Message::Asap(a) => match a {
            AsapMessage::Registration(r) => {
                let _ = write!(s, "pool {} {}", r.pool_handle, element(&r.pool_element));
            }
            AsapMessage::Deregistration(r) => {
                let _ = write!(s, "pool {} pe {}", r.pool_handle, r.pe_id);
            }
            AsapMessage::RegistrationResponse(r) => {
                let _ = write!(s, "pool {} pe {}", r.pool_handle, r.pe_id);
                if r.rejected {
                    s.push_str(" REJECTED");
                }
                if let Some(e) = &r.error {
                    let _ = write!(s, " {}", error(e));
                }
            }
            AsapMessage::DeregistrationResponse(r) => {
                let _ = write!(s, "pool {} pe {}", r.pool_handle, r.pe_id);
                if let Some(e) = &r.error {
                    let _ = write!(s, " {}", error(e));
                }
            }
            AsapMessage::HandleResolution(r) => {
                let _ = write!(s, "pool {}", r.pool_handle);
                if let Some(o) = &r.option {
                    let _ = write!(s, " items {}", o.items);
                }
            }
            AsapMessage::HandleResolutionResponse(r) => {
                let _ = write!(s, "pool {}", r.pool_handle);
                if let Some(p) = &r.policy {
                    let _ = write!(s, " policy {}", policy(p));
                }
                let _ = write!(s, " {} pe", r.elements.len());
                for e in &r.elements {
                    let _ = write!(s, "; {}", element(e));
                }
                if let Some(e) = &r.error {
                    let _ = write!(s, " {}", error(e));
                }
            }
            AsapMessage::EndpointKeepAlive(r) => {
                let _ = write!(s, "server {} pool {}", r.server_id, r.pool_handle);
                if let Some(id) = r.pe_id {
                    let _ = write!(s, " pe {id}");
                }
                if r.home {
                    s.push_str(" home");
                }
            }
            AsapMessage::EndpointKeepAliveAck(r) => {
                let _ = write!(s, "pool {} pe {}", r.pool_handle, r.pe_id);
            }
            AsapMessage::EndpointUnreachable(r) => {
                let _ = write!(s, "pool {} pe {}", r.pool_handle, r.pe_id);
            }
            AsapMessage::ServerAnnounce(r) => {
                let _ = write!(s, "server {}", r.server_id);
                for t in &r.transports {
                    let _ = write!(s, " {}", transport(t));
                }
            }
            AsapMessage::Cookie(c) | AsapMessage::CookieEcho(c) => {
                let _ = write!(s, "{} cookie bytes", c.0.len());
            }
            AsapMessage::BusinessCard(r) => {
                let _ = write!(s, "pool {} {} pe", r.pool_handle, r.elements.len());
            }
            AsapMessage::Error(e) => s.push_str(&error(e)),
            AsapMessage::Unknown(u) => {
                let _ = write!(s, "type 0x{:02x}, {} body bytes", u.msg_type, u.body.len());
            }
        },
        Message::Enrp(e) => match e {
            EnrpMessage::Presence(p) => {
                let _ = write!(
                    s,
                    "{} -> {} checksum 0x{:04x}",
                    p.sender, p.receiver, p.checksum
                );
                if p.reply_required {
                    s.push_str(" reply-required");
                }
            }
            EnrpMessage::HandleTableRequest(r) => {
                let _ = write!(s, "{} -> {}", r.sender, r.receiver);
            }
            EnrpMessage::HandleTableResponse(r) => {
                let pes: usize = r.pools.iter().map(|p| p.elements.len()).sum();
                let _ = write!(
                    s,
                    "{} -> {} {} pools {} pe",
                    r.sender,
                    r.receiver,
                    r.pools.len(),
                    pes
                );
            }
            EnrpMessage::HandleUpdate(u) => {
                let action = if u.update_action == 0 { "add" } else { "del" };
                let _ = write!(
                    s,
                    "{} -> {} {action} pool {} {}",
                    u.sender,
                    u.receiver,
                    u.pool_handle,
                    element(&u.pool_element)
                );
            }
            EnrpMessage::ListRequest(r) => {
                let _ = write!(s, "{} -> {}", r.sender, r.receiver);
            }
            EnrpMessage::ListResponse(r) => {
                let _ = write!(
                    s,
                    "{} -> {} {} servers",
                    r.sender,
                    r.receiver,
                    r.servers.len()
                );
            }
            EnrpMessage::InitTakeover(t)
            | EnrpMessage::InitTakeoverAck(t)
            | EnrpMessage::TakeoverServer(t) => {
                let _ = write!(s, "{} -> {} target {}", t.sender, t.receiver, t.target);
            }
            EnrpMessage::Error(r) => {
                let _ = write!(s, "{} -> {} {}", r.sender, r.receiver, error(&r.error));
            }
            EnrpMessage::Unknown(u) => {
                let _ = write!(s, "type 0x{:02x}, {} body bytes", u.msg_type, u.body.len());
            }
        },
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_protocol_table_not_the_type_byte_alone() {
        assert_eq!(type_label(Protocol::Asap, 0x05), "handle-resolution");
        assert_eq!(type_label(Protocol::Enrp, 0x05), "list-request");
        assert_eq!(type_label(Protocol::Asap, 0x7f), "unknown-type-0x7f");
    }

    #[test]
    fn policies_read_compactly() {
        assert_eq!(policy(&SelectionPolicy::RoundRobin), "RoundRobin");
        assert_eq!(
            policy(&SelectionPolicy::LeastUsed { load: 5 }),
            "LeastUsed(load=5)"
        );
    }
}
