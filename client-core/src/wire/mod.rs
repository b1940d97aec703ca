//! ASAP (RFC 5352) and ENRP (RFC 5353) messages and their parameters
//! (RFC 5354), encoded and decoded exactly as RSPLIB does.
//!
//! * [`types`]: the validated representations (what a message means).
//! * [`consts`]: every protocol number, defined once.
//! * [`decode`] / [`Message::encode`]: bytes ⇄ representations. Decoding never
//!   panics; it returns a [`DecodeError`] that says what was wrong and where.
//! * [`Codec`]: the same encode/decode for each parameter on its own.
//! * [`raw`]: builders for deliberately malformed bytes (attack scenarios).
//!
//! Which table a type byte belongs to is decided by the SCTP PPID (11 ASAP,
//! 12 ENRP), never by the byte itself: pass the [`Protocol`].

mod codec;
pub mod consts;
mod error;
mod param;
pub mod raw;
pub mod types;

pub use codec::Codec;
pub use error::{DecodeError, DecodeErrorKind};
pub use param::{policy_from_words, policy_words};
pub use types::*;

use consts::{asap_type as at, enrp_type as et, flags, MESSAGE_HEADER_LEN};
use error::DecodeErrorKind as K;
use param::{padding, Ctx, Reader, Writer};

/// Limits that protect a decoder from hostile input. The default matches
/// what RSPLIB accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DecodeLimits {
    /// Longest pool handle (RSPLIB: 32; longer ones crash RSPLIB).
    pub max_pool_handle_len: usize,
    /// Most pool elements in one message (RSPLIB: 128).
    pub max_elements: usize,
    /// Most addresses in one transport parameter (RSPLIB: 64).
    pub max_addresses: usize,
    /// Most causes in one Operation Error.
    pub max_causes: usize,
    /// Deepest parameter nesting (RSPLIB's deepest is 3: PE → transport → address).
    pub max_depth: usize,
    /// Longest message (RSPLIB's buffer: 65536).
    pub max_message_len: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_pool_handle_len: consts::MAX_POOL_HANDLE_LEN,
            max_elements: consts::MAX_ELEMENTS_PER_MESSAGE,
            max_addresses: consts::MAX_TRANSPORT_ADDRESSES,
            max_causes: 16,
            max_depth: 4,
            max_message_len: consts::MAX_MESSAGE_LEN,
        }
    }
}

impl DecodeLimits {
    /// Limits for inspecting hostile traffic (e.g. a lab decoding an
    /// attacker's oversized pool handle): everything the format can express
    /// within one message, still bounded.
    pub fn permissive() -> Self {
        DecodeLimits {
            max_pool_handle_len: u16::MAX as usize,
            max_elements: 4096,
            max_addresses: 1024,
            max_causes: 1024,
            max_depth: 8,
            max_message_len: consts::MAX_MESSAGE_LEN,
        }
    }
}

/// A decoded message and the parameters skipped by their action bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The message.
    pub message: Message,
    /// Unknown parameters with action bits 10 (skip) or 11 (skip and report),
    /// in wire order. [`UnknownParameter::action`] tells which must be reported.
    pub skipped: Vec<UnknownParameter>,
}

impl Decoded {
    /// Error causes to report for the skipped parameters whose action bits
    /// are 11 (skip and report, RFC 5354 §3): cause 0x0001 "Unrecognized
    /// Parameter" with the parameter (header, value, no padding) as info, in
    /// wire order. RSPLIB does not send these reports; a receiver that wants
    /// to can put them in one Operation Error.
    pub fn report_causes(&self) -> Vec<ErrorCause> {
        self.skipped
            .iter()
            .filter(|p| p.action() == UnrecognizedAction::SkipAndReport)
            .map(|p| {
                let len =
                    u16::try_from(consts::PARAMETER_HEADER_LEN + p.value.len()).unwrap_or(u16::MAX);
                let mut info = Vec::with_capacity(usize::from(len));
                info.extend_from_slice(&p.param_type.to_be_bytes());
                info.extend_from_slice(&len.to_be_bytes());
                info.extend_from_slice(&p.value);
                ErrorCause {
                    code: CauseCode(consts::cause_code::UNRECOGNIZED_PARAMETER),
                    info,
                }
            })
            .collect()
    }
}

/// Decodes one ASAP or ENRP message (one SCTP user message or UDP payload)
/// with the default limits.
pub fn decode(protocol: Protocol, bytes: &[u8]) -> Result<Decoded, DecodeError> {
    decode_with(protocol, bytes, &DecodeLimits::default())
}

/// Decodes one message with explicit limits.
pub fn decode_with(
    protocol: Protocol,
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<Decoded, DecodeError> {
    if bytes.len() < MESSAGE_HEADER_LEN {
        return Err(DecodeError::new(
            K::MessageTooShort {
                available: bytes.len(),
            },
            0,
            None,
        ));
    }
    let msg_type = bytes[0];
    let msg_flags = bytes[1];
    let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    if length < MESSAGE_HEADER_LEN {
        return Err(DecodeError::new(
            K::MessageLengthTooShort { length },
            2,
            None,
        ));
    }
    if length > limits.max_message_len {
        return Err(DecodeError::new(
            K::MessageTooLong {
                length,
                max: limits.max_message_len,
            },
            2,
            None,
        ));
    }
    if length > bytes.len() {
        return Err(DecodeError::new(
            K::MessageTruncated {
                length,
                available: bytes.len(),
            },
            2,
            None,
        ));
    }
    // RSPLIB accepts a Message Length with or without the final padding, but
    // requires the padding bytes to be there. Anything else after the
    // message is trailing data.
    let padded = length + padding(length);
    let end = if bytes.len() > length && bytes.len() == padded {
        padded
    } else {
        length
    };
    if bytes.len() > end {
        return Err(DecodeError::new(
            K::TrailingBytes {
                count: bytes.len() - end,
            },
            end,
            None,
        ));
    }
    let body = &bytes[MESSAGE_HEADER_LEN..end];
    let mut ctx = Ctx {
        limits,
        skipped: Vec::new(),
    };
    let mut r = Reader::new(body, MESSAGE_HEADER_LEN);
    let message = match protocol {
        Protocol::Asap => Message::Asap(decode_asap(msg_type, msg_flags, body, &mut r, &mut ctx)?),
        Protocol::Enrp => Message::Enrp(decode_enrp(msg_type, msg_flags, body, &mut r, &mut ctx)?),
    };
    r.finish(&mut ctx)?;
    Ok(Decoded {
        message,
        skipped: ctx.skipped,
    })
}

fn unknown(msg_type: u8, msg_flags: u8, body: &[u8], r: &mut Reader<'_>) -> UnknownMessage {
    // The body is kept as data, not parsed.
    r.skip_rest();
    UnknownMessage {
        msg_type,
        flags: msg_flags,
        body: body.to_vec(),
    }
}

fn decode_asap(
    ty: u8,
    fl: u8,
    body: &[u8],
    r: &mut Reader<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<AsapMessage, DecodeError> {
    use AsapMessage as M;
    Ok(match ty {
        at::REGISTRATION => M::Registration(Registration {
            pool_handle: r.pool_handle(ctx)?,
            pool_element: r.pool_element(ctx)?,
        }),
        at::DEREGISTRATION => M::Deregistration(Deregistration {
            pool_handle: r.pool_handle(ctx)?,
            pe_id: r.pe_id(ctx)?,
        }),
        at::REGISTRATION_RESPONSE => M::RegistrationResponse(RegistrationResponse {
            rejected: fl & flags::REGISTRATION_RESPONSE_REJECT != 0,
            pool_handle: r.pool_handle(ctx)?,
            pe_id: r.pe_id(ctx)?,
            error: r.opt_operation_error(ctx)?,
        }),
        at::DEREGISTRATION_RESPONSE => M::DeregistrationResponse(DeregistrationResponse {
            pool_handle: r.pool_handle(ctx)?,
            pe_id: r.pe_id(ctx)?,
            error: r.opt_operation_error(ctx)?,
        }),
        at::HANDLE_RESOLUTION => M::HandleResolution(HandleResolution {
            pool_handle: r.pool_handle(ctx)?,
            option: r.opt_hr_option(ctx)?,
        }),
        at::HANDLE_RESOLUTION_RESPONSE => M::HandleResolutionResponse(HandleResolutionResponse {
            pool_handle: r.pool_handle(ctx)?,
            policy: r.opt_policy(ctx)?,
            elements: r.pool_elements(ctx)?,
            error: r.opt_operation_error(ctx)?,
        }),
        at::ENDPOINT_KEEP_ALIVE => M::EndpointKeepAlive(EndpointKeepAlive {
            home: fl & flags::KEEP_ALIVE_HOME != 0,
            server_id: ServerId(r.u32("server identifier")?),
            pool_handle: r.pool_handle(ctx)?,
            pe_id: r.opt_pe_id(ctx)?,
        }),
        at::ENDPOINT_KEEP_ALIVE_ACK => M::EndpointKeepAliveAck(EndpointKeepAliveAck {
            pool_handle: r.pool_handle(ctx)?,
            pe_id: r.pe_id(ctx)?,
        }),
        at::ENDPOINT_UNREACHABLE => M::EndpointUnreachable(EndpointUnreachable {
            pool_handle: r.pool_handle(ctx)?,
            pe_id: r.pe_id(ctx)?,
        }),
        at::SERVER_ANNOUNCE => M::ServerAnnounce(ServerAnnounce {
            server_id: ServerId(r.u32("server identifier")?),
            transports: r.transports(ctx)?,
        }),
        at::COOKIE => M::Cookie(r.cookie(ctx)?),
        at::COOKIE_ECHO => M::CookieEcho(r.cookie(ctx)?),
        at::BUSINESS_CARD => M::BusinessCard(BusinessCard {
            pool_handle: r.pool_handle(ctx)?,
            policy: r.opt_policy(ctx)?,
            elements: r.pool_elements(ctx)?,
        }),
        at::ERROR => M::Error(r.operation_error(ctx)?),
        _ => M::Unknown(unknown(ty, fl, body, r)),
    })
}

/// Without the `enrp` feature (the browser build: a gateway never relays
/// ENRP, RFC 5353 is registrar-to-registrar) every ENRP message decodes as
/// [`EnrpMessage::Unknown`] with its body kept, as an unknown type would.
#[cfg(not(feature = "enrp"))]
fn decode_enrp(
    ty: u8,
    fl: u8,
    body: &[u8],
    r: &mut Reader<'_>,
    _ctx: &mut Ctx<'_>,
) -> Result<EnrpMessage, DecodeError> {
    Ok(EnrpMessage::Unknown(unknown(ty, fl, body, r)))
}

#[cfg(feature = "enrp")]
fn decode_enrp(
    ty: u8,
    fl: u8,
    body: &[u8],
    r: &mut Reader<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<EnrpMessage, DecodeError> {
    use EnrpMessage as M;
    if !(et::PRESENCE..=et::ERROR).contains(&ty) {
        return Ok(M::Unknown(unknown(ty, fl, body, r)));
    }
    // Every ENRP message starts with the sender's and receiver's server IDs.
    let sender = ServerId(r.u32("sender server identifier")?);
    let receiver = ServerId(r.u32("receiver server identifier")?);
    Ok(match ty {
        et::PRESENCE => M::Presence(Presence {
            reply_required: fl & flags::PRESENCE_REPLY_REQUIRED != 0,
            sender,
            receiver,
            checksum: r.checksum(ctx)?,
            server_info: r.opt_server_information(ctx)?,
        }),
        et::HANDLE_TABLE_REQUEST => M::HandleTableRequest(HandleTableRequest {
            own_children_only: fl & flags::HANDLE_TABLE_REQUEST_OWN_CHILDREN != 0,
            sender,
            receiver,
        }),
        et::HANDLE_TABLE_RESPONSE => {
            let mut pools = Vec::new();
            let mut total = 0usize;
            while let Some(pool_handle) = r.opt_pool_handle(ctx)? {
                let elements = r.pool_elements(ctx)?;
                total += elements.len();
                if total > ctx.limits.max_elements {
                    return Err(DecodeError::new(
                        K::TooManyElements {
                            max: ctx.limits.max_elements,
                        },
                        r.offset(),
                        None,
                    ));
                }
                pools.push(HandleTablePool {
                    pool_handle,
                    elements,
                });
            }
            M::HandleTableResponse(HandleTableResponse {
                reject: fl & flags::HANDLE_TABLE_RESPONSE_REJECT != 0,
                more_to_send: fl & flags::HANDLE_TABLE_RESPONSE_MORE != 0,
                sender,
                receiver,
                pools,
            })
        }
        et::HANDLE_UPDATE => {
            let update_action = r.u16("update action")?;
            let _reserved = r.u16("reserved")?;
            M::HandleUpdate(HandleUpdate {
                takeover_suggested: fl & flags::HANDLE_UPDATE_TAKEOVER != 0,
                sender,
                receiver,
                update_action,
                pool_handle: r.pool_handle(ctx)?,
                pool_element: r.pool_element(ctx)?,
            })
        }
        et::LIST_REQUEST => M::ListRequest(ListRequest { sender, receiver }),
        et::LIST_RESPONSE => {
            let mut servers = Vec::new();
            while let Some(s) = r.opt_server_information(ctx)? {
                servers.push(s);
            }
            M::ListResponse(ListResponse {
                reject: fl & flags::LIST_RESPONSE_REJECT != 0,
                sender,
                receiver,
                servers,
            })
        }
        et::INIT_TAKEOVER | et::INIT_TAKEOVER_ACK | et::TAKEOVER_SERVER => {
            let t = Takeover {
                sender,
                receiver,
                target: ServerId(r.u32("target server identifier")?),
            };
            match ty {
                et::INIT_TAKEOVER => M::InitTakeover(t),
                et::INIT_TAKEOVER_ACK => M::InitTakeoverAck(t),
                _ => M::TakeoverServer(t),
            }
        }
        _ => M::Error(EnrpError {
            sender,
            receiver,
            error: r.operation_error(ctx)?,
        }),
    })
}

impl Message {
    /// ASAP or ENRP.
    pub fn protocol(&self) -> Protocol {
        match self {
            Message::Asap(_) => Protocol::Asap,
            Message::Enrp(_) => Protocol::Enrp,
        }
    }

    /// The SCTP PPID this message must be sent with (RFC 5352 §3; RSPLIB
    /// decides the protocol by it).
    pub fn ppid(&self) -> u32 {
        self.protocol().ppid()
    }

    /// The message type code.
    pub fn type_code(&self) -> u8 {
        match self {
            Message::Asap(m) => m.type_code(),
            Message::Enrp(m) => m.type_code(),
        }
    }

    /// A short human-readable name ("ASAP Handle Resolution").
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Asap(m) => m.type_name(),
            Message::Enrp(m) => m.type_name(),
        }
    }

    /// The bytes of this message, as RSPLIB would send them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Appends the encoded message: header, fields, padded parameters.
    /// Message Length includes the final padding (RSPLIB).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let (ty, fl) = match self {
            Message::Asap(m) => (m.type_code(), m.flags()),
            Message::Enrp(m) => (m.type_code(), m.flags()),
        };
        out.extend_from_slice(&[ty, fl, 0, 0]);
        let mut w = Writer { out };
        match self {
            Message::Asap(m) => encode_asap(m, &mut w),
            Message::Enrp(m) => encode_enrp(m, &mut w),
        }
        let len = out.len() - start;
        let field = u16::try_from(len).unwrap_or(u16::MAX);
        out[start + 2..start + 4].copy_from_slice(&field.to_be_bytes());
    }
}

impl Protocol {
    /// The SCTP PPID of the protocol: 11 for ASAP, 12 for ENRP.
    pub fn ppid(self) -> u32 {
        match self {
            Protocol::Asap => consts::PPID_ASAP,
            Protocol::Enrp => consts::PPID_ENRP,
        }
    }

    /// The protocol a PPID selects, if any.
    pub fn from_ppid(ppid: u32) -> Option<Protocol> {
        match ppid {
            consts::PPID_ASAP => Some(Protocol::Asap),
            consts::PPID_ENRP => Some(Protocol::Enrp),
            _ => None,
        }
    }
}

impl AsapMessage {
    /// The message type code (see [`consts::asap_type`]).
    pub fn type_code(&self) -> u8 {
        use AsapMessage as M;
        match self {
            M::Registration(_) => at::REGISTRATION,
            M::Deregistration(_) => at::DEREGISTRATION,
            M::RegistrationResponse(_) => at::REGISTRATION_RESPONSE,
            M::DeregistrationResponse(_) => at::DEREGISTRATION_RESPONSE,
            M::HandleResolution(_) => at::HANDLE_RESOLUTION,
            M::HandleResolutionResponse(_) => at::HANDLE_RESOLUTION_RESPONSE,
            M::EndpointKeepAlive(_) => at::ENDPOINT_KEEP_ALIVE,
            M::EndpointKeepAliveAck(_) => at::ENDPOINT_KEEP_ALIVE_ACK,
            M::EndpointUnreachable(_) => at::ENDPOINT_UNREACHABLE,
            M::ServerAnnounce(_) => at::SERVER_ANNOUNCE,
            M::Cookie(_) => at::COOKIE,
            M::CookieEcho(_) => at::COOKIE_ECHO,
            M::BusinessCard(_) => at::BUSINESS_CARD,
            M::Error(_) => at::ERROR,
            M::Unknown(u) => u.msg_type,
        }
    }

    fn flags(&self) -> u8 {
        match self {
            AsapMessage::RegistrationResponse(m) if m.rejected => {
                flags::REGISTRATION_RESPONSE_REJECT
            }
            AsapMessage::EndpointKeepAlive(m) if m.home => flags::KEEP_ALIVE_HOME,
            AsapMessage::Unknown(u) => u.flags,
            _ => 0,
        }
    }

    /// A short human-readable name ("ASAP Handle Resolution").
    pub fn type_name(&self) -> &'static str {
        use AsapMessage as M;
        match self {
            M::Registration(_) => "ASAP Registration",
            M::Deregistration(_) => "ASAP Deregistration",
            M::RegistrationResponse(_) => "ASAP Registration Response",
            M::DeregistrationResponse(_) => "ASAP Deregistration Response",
            M::HandleResolution(_) => "ASAP Handle Resolution",
            M::HandleResolutionResponse(_) => "ASAP Handle Resolution Response",
            M::EndpointKeepAlive(_) => "ASAP Endpoint Keep-Alive",
            M::EndpointKeepAliveAck(_) => "ASAP Endpoint Keep-Alive Ack",
            M::EndpointUnreachable(_) => "ASAP Endpoint Unreachable",
            M::ServerAnnounce(_) => "ASAP Server Announce",
            M::Cookie(_) => "ASAP Cookie",
            M::CookieEcho(_) => "ASAP Cookie Echo",
            M::BusinessCard(_) => "ASAP Business Card",
            M::Error(_) => "ASAP Error",
            M::Unknown(_) => "ASAP (unknown type)",
        }
    }
}

impl EnrpMessage {
    /// The message type code (see [`consts::enrp_type`]).
    pub fn type_code(&self) -> u8 {
        use EnrpMessage as M;
        match self {
            M::Presence(_) => et::PRESENCE,
            M::HandleTableRequest(_) => et::HANDLE_TABLE_REQUEST,
            M::HandleTableResponse(_) => et::HANDLE_TABLE_RESPONSE,
            M::HandleUpdate(_) => et::HANDLE_UPDATE,
            M::ListRequest(_) => et::LIST_REQUEST,
            M::ListResponse(_) => et::LIST_RESPONSE,
            M::InitTakeover(_) => et::INIT_TAKEOVER,
            M::InitTakeoverAck(_) => et::INIT_TAKEOVER_ACK,
            M::TakeoverServer(_) => et::TAKEOVER_SERVER,
            M::Error(_) => et::ERROR,
            M::Unknown(u) => u.msg_type,
        }
    }

    fn flags(&self) -> u8 {
        use EnrpMessage as M;
        let bit = |b: bool, f: u8| if b { f } else { 0 };
        match self {
            M::Presence(m) => bit(m.reply_required, flags::PRESENCE_REPLY_REQUIRED),
            M::HandleTableRequest(m) => bit(
                m.own_children_only,
                flags::HANDLE_TABLE_REQUEST_OWN_CHILDREN,
            ),
            M::HandleTableResponse(m) => {
                bit(m.reject, flags::HANDLE_TABLE_RESPONSE_REJECT)
                    | bit(m.more_to_send, flags::HANDLE_TABLE_RESPONSE_MORE)
            }
            M::HandleUpdate(m) => bit(m.takeover_suggested, flags::HANDLE_UPDATE_TAKEOVER),
            M::ListResponse(m) => bit(m.reject, flags::LIST_RESPONSE_REJECT),
            M::Unknown(u) => u.flags,
            _ => 0,
        }
    }

    /// A short human-readable name ("ENRP Presence").
    pub fn type_name(&self) -> &'static str {
        use EnrpMessage as M;
        match self {
            M::Presence(_) => "ENRP Presence",
            M::HandleTableRequest(_) => "ENRP Handle Table Request",
            M::HandleTableResponse(_) => "ENRP Handle Table Response",
            M::HandleUpdate(_) => "ENRP Handle Update",
            M::ListRequest(_) => "ENRP List Request",
            M::ListResponse(_) => "ENRP List Response",
            M::InitTakeover(_) => "ENRP Init Takeover",
            M::InitTakeoverAck(_) => "ENRP Init Takeover Ack",
            M::TakeoverServer(_) => "ENRP Takeover Server",
            M::Error(_) => "ENRP Error",
            M::Unknown(_) => "ENRP (unknown type)",
        }
    }
}

fn encode_asap(m: &AsapMessage, w: &mut Writer<'_>) {
    use AsapMessage as M;
    match m {
        M::Registration(m) => {
            w.pool_handle(&m.pool_handle);
            w.pool_element(&m.pool_element);
        }
        M::Deregistration(m) => {
            w.pool_handle(&m.pool_handle);
            w.pe_id(m.pe_id);
        }
        M::RegistrationResponse(m) => {
            w.pool_handle(&m.pool_handle);
            w.pe_id(m.pe_id);
            if let Some(e) = &m.error {
                w.operation_error(e);
            }
        }
        M::DeregistrationResponse(m) => {
            w.pool_handle(&m.pool_handle);
            w.pe_id(m.pe_id);
            if let Some(e) = &m.error {
                w.operation_error(e);
            }
        }
        M::HandleResolution(m) => {
            w.pool_handle(&m.pool_handle);
            if let Some(o) = m.option {
                w.tlv(consts::param_type::HANDLE_RESOLUTION_OPTION, |w| {
                    w.u32(o.items)
                });
            }
        }
        M::HandleResolutionResponse(m) => {
            w.pool_handle(&m.pool_handle);
            if let Some(p) = &m.policy {
                w.policy(p);
            }
            for e in &m.elements {
                w.pool_element(e);
            }
            if let Some(e) = &m.error {
                w.operation_error(e);
            }
        }
        M::EndpointKeepAlive(m) => {
            w.u32(m.server_id.0);
            w.pool_handle(&m.pool_handle);
            if let Some(id) = m.pe_id {
                w.pe_id(id);
            }
        }
        M::EndpointKeepAliveAck(m) => {
            w.pool_handle(&m.pool_handle);
            w.pe_id(m.pe_id);
        }
        M::EndpointUnreachable(m) => {
            w.pool_handle(&m.pool_handle);
            w.pe_id(m.pe_id);
        }
        M::ServerAnnounce(m) => {
            w.u32(m.server_id.0);
            for t in &m.transports {
                w.transport(t);
            }
        }
        M::Cookie(c) | M::CookieEcho(c) => w.cookie(c),
        M::BusinessCard(m) => {
            w.pool_handle(&m.pool_handle);
            if let Some(p) = &m.policy {
                w.policy(p);
            }
            for e in &m.elements {
                w.pool_element(e);
            }
        }
        M::Error(e) => w.operation_error(e),
        M::Unknown(u) => w.bytes(&u.body),
    }
}

fn encode_enrp(m: &EnrpMessage, w: &mut Writer<'_>) {
    use EnrpMessage as M;
    let ids = |w: &mut Writer<'_>, s: ServerId, r: ServerId| {
        w.u32(s.0);
        w.u32(r.0);
    };
    match m {
        M::Presence(m) => {
            ids(w, m.sender, m.receiver);
            w.tlv(consts::param_type::PE_CHECKSUM, |w| w.u16(m.checksum));
            if let Some(s) = &m.server_info {
                w.server_information(s);
            }
        }
        M::HandleTableRequest(m) => ids(w, m.sender, m.receiver),
        M::HandleTableResponse(m) => {
            ids(w, m.sender, m.receiver);
            for p in &m.pools {
                w.pool_handle(&p.pool_handle);
                for e in &p.elements {
                    w.pool_element(e);
                }
            }
        }
        M::HandleUpdate(m) => {
            ids(w, m.sender, m.receiver);
            w.u16(m.update_action);
            w.u16(0);
            w.pool_handle(&m.pool_handle);
            w.pool_element(&m.pool_element);
        }
        M::ListRequest(m) => ids(w, m.sender, m.receiver),
        M::ListResponse(m) => {
            ids(w, m.sender, m.receiver);
            for s in &m.servers {
                w.server_information(s);
            }
        }
        M::InitTakeover(t) | M::InitTakeoverAck(t) | M::TakeoverServer(t) => {
            ids(w, t.sender, t.receiver);
            w.u32(t.target.0);
        }
        M::Error(e) => {
            ids(w, e.sender, e.receiver);
            w.operation_error(&e.error);
        }
        M::Unknown(u) => w.bytes(&u.body),
    }
}

impl From<AsapMessage> for Message {
    fn from(m: AsapMessage) -> Self {
        Message::Asap(m)
    }
}

impl From<EnrpMessage> for Message {
    fn from(m: EnrpMessage) -> Self {
        Message::Enrp(m)
    }
}
