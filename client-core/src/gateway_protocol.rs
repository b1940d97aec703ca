//! The gateway's WebSocket subprotocol `rserpool.asap.v1`, sans-IO.
//!
//! Browsers cannot speak SCTP; the gateway carries a pool user's traffic to
//! a registrar and to pool elements over SCTP. One WebSocket session is one
//! SCTP association to one registrar (so the registrar's per-association
//! rate limits apply per client), plus the pool-element sessions the client
//! opens through it. Every WebSocket message is one binary frame:
//!
//! ```text
//!  0        1        2                 4                                 8
//! +--------+--------+-----------------+---------------------------------+----------
//! |  kind  | flags=0|  channel (BE)   |          PPID (BE)              | payload…
//! +--------+--------+-----------------+---------------------------------+----------
//! ```
//!
//! * channel 0 is the registrar association; 1..=65535 are pool-element
//!   sessions, numbered by the client.
//! * `Message` frames carry one ASAP message unchanged (PPID 11) or one
//!   application message (the session's PPID) — never re-encoded.
//! * The gateway reports everything that happens to the associations with
//!   typed `Notice`s; it hides no failure (the pool user drives the hunt).
//!
//! The full specification, with the gateway's rules, is in
//! `docs/gateway-protocol.md`.

/// The WebSocket subprotocol name (`Sec-WebSocket-Protocol`).
pub const SUBPROTOCOL: &str = "rserpool.asap.v1";
/// Version carried in [`Frame::Hello`].
pub const VERSION: u16 = 1;
/// Bytes of the frame header.
pub const HEADER_LEN: usize = 8;
/// The registrar channel.
pub const REGISTRAR_CHANNEL: u16 = 0;

const KIND_MESSAGE: u8 = 0;
const KIND_OPEN_SESSION: u8 = 1;
const KIND_CLOSE_SESSION: u8 = 2;
const KIND_NOTICE: u8 = 3;
const KIND_HELLO: u8 = 4;

/// A frame of the subprotocol.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Frame {
    /// Both directions: one ASAP or application message on a channel.
    Message {
        /// 0 for the registrar association, otherwise the pool-element session.
        channel: u16,
        /// SCTP PPID the message travels with: 11 for ASAP, the session's application
        /// PPID for data.
        ppid: u32,
        /// The message bytes, exactly as on the SCTP association.
        payload: Vec<u8>,
    },
    /// Client → gateway: open pool-element session `channel` to the PE with
    /// this identifier, which must have been in a Handle Resolution Response
    /// this client received through this gateway (no open proxy).
    OpenSession {
        /// The session number the client picks (1..=65535).
        channel: u16,
        /// PPID of the application's data on this session.
        app_ppid: u32,
        /// Identifier of the PE to connect to.
        pe_id: u32,
        /// Pool handle of the resolution that listed the PE.
        pool_handle: Vec<u8>,
    },
    /// Client → gateway: close a pool-element session.
    CloseSession {
        /// The session to close.
        channel: u16,
    },
    /// Gateway → client: something happened, or a request was refused.
    Notice {
        /// The channel the notice is about (0: the registrar or the WebSocket session as a whole).
        channel: u16,
        /// What happened.
        code: NoticeCode,
        /// Human-readable detail; not for matching.
        text: String,
    },
    /// Gateway → client, first frame of a session.
    Hello {
        /// Subprotocol version the gateway speaks ([`VERSION`]).
        version: u16,
        /// Largest payload the gateway accepts in one frame.
        max_payload: u32,
        /// Most pool-element sessions open at once.
        max_sessions: u16,
        /// The registrar this WebSocket session is attached to (`addr:port`).
        registrar: String,
    },
}

macro_rules! notice_codes {
    ($($(#[$m:meta])* $name:ident = $code:literal, $slug:literal;)*) => {
        /// Typed gateway notices. Codes below 0x100 report events; from 0x100
        /// on, refusals of something the client sent. Stable: clients match
        /// on them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub enum NoticeCode {
            $($(#[$m])* $name,)*
            /// A code this version does not know.
            Unknown(u16),
        }

        impl NoticeCode {
            /// The code on the wire.
            pub fn code(self) -> u16 {
                match self {
                    $(NoticeCode::$name => $code,)*
                    NoticeCode::Unknown(c) => c,
                }
            }
            /// The notice a wire code stands for ([`NoticeCode::Unknown`] if none).
            pub fn from_code(c: u16) -> NoticeCode {
                match c {
                    $($code => NoticeCode::$name,)*
                    c => NoticeCode::Unknown(c),
                }
            }
            /// Stable kebab-case name, e.g. `forbidden-message-type`.
            pub fn slug(self) -> &'static str {
                match self {
                    $(NoticeCode::$name => $slug,)*
                    NoticeCode::Unknown(_) => "unknown",
                }
            }
        }
    };
}

notice_codes! {
    /// The registrar association is up (channel 0).
    RegistrarUp = 0x0001, "registrar-up";
    /// The registrar association failed or ended; the WebSocket closes next.
    RegistrarLost = 0x0002, "registrar-lost";
    /// A pool-element session is established.
    SessionUp = 0x0003, "session-up";
    /// A pool-element session failed (connect failed, aborted, lost).
    SessionAborted = 0x0004, "session-aborted";
    /// A pool-element session ended in order.
    SessionClosed = 0x0005, "session-closed";
    /// The frame could not be parsed.
    MalformedFrame = 0x0100, "malformed-frame";
    /// A message type a pool user may not send (Registration, ENRP, …).
    ForbiddenMessageType = 0x0101, "forbidden-message-type";
    /// A per-session or per-client rate limit was hit.
    RateLimited = 0x0102, "rate-limited";
    /// The channel is not open.
    UnknownChannel = 0x0103, "unknown-channel";
    /// The PE was never in a resolution this client received here.
    PeNotResolved = 0x0104, "pe-not-resolved";
    /// The frame exceeds the size limit.
    TooLarge = 0x0105, "too-large";
    /// Too many pool-element sessions are open.
    TooManySessions = 0x0106, "too-many-sessions";
    /// Text frames are not part of the protocol.
    TextFrame = 0x0107, "text-frame";
    /// The message could not be decoded as ASAP.
    UndecodableMessage = 0x0108, "undecodable-message";
    /// The channel is already open.
    ChannelInUse = 0x0109, "channel-in-use";
    /// An Endpoint Unreachable the gateway did not forward: the PE was not
    /// listed to this session, was reported by it already, or the
    /// gateway-wide report budget for the PE is spent (RFC 5355 §2.13).
    ReportRefused = 0x010A, "report-refused";
    /// The gateway itself is out of a resource (file descriptors, session
    /// slots): not a registrar failure.
    GatewayBusy = 0x010B, "gateway-busy";
}

/// Why bytes are not a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header or a fixed field needs.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// An unknown frame kind.
    UnknownKind(u8),
    /// Flags must be 0 in version 1.
    NonZeroFlags(u8),
    /// Notice or hello text that is not UTF-8.
    BadText,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Truncated { needed, available } => {
                write!(f, "frame needs {needed} bytes, has {available}")
            }
            FrameError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            FrameError::NonZeroFlags(x) => write!(f, "frame flags 0x{x:02x} must be 0"),
            FrameError::BadText => write!(f, "frame text is not UTF-8"),
        }
    }
}

impl std::error::Error for FrameError {}

impl Frame {
    /// A message on the registrar channel (PPID 11).
    pub fn registrar(payload: Vec<u8>) -> Frame {
        Frame::Message {
            channel: REGISTRAR_CHANNEL,
            ppid: crate::wire::consts::PPID_ASAP,
            payload,
        }
    }

    /// A notice frame.
    pub fn notice(channel: u16, code: NoticeCode, text: impl Into<String>) -> Frame {
        Frame::Notice {
            channel,
            code,
            text: text.into(),
        }
    }

    /// The channel a frame concerns (0 for Hello).
    pub fn channel(&self) -> u16 {
        match self {
            Frame::Message { channel, .. }
            | Frame::OpenSession { channel, .. }
            | Frame::CloseSession { channel }
            | Frame::Notice { channel, .. } => *channel,
            Frame::Hello { .. } => REGISTRAR_CHANNEL,
        }
    }

    /// The frame's bytes: the 8-byte header, then the kind's fields.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, channel, ppid) = match self {
            Frame::Message { channel, ppid, .. } => (KIND_MESSAGE, *channel, *ppid),
            Frame::OpenSession {
                channel, app_ppid, ..
            } => (KIND_OPEN_SESSION, *channel, *app_ppid),
            Frame::CloseSession { channel } => (KIND_CLOSE_SESSION, *channel, 0),
            Frame::Notice { channel, .. } => (KIND_NOTICE, *channel, 0),
            Frame::Hello { .. } => (KIND_HELLO, REGISTRAR_CHANNEL, 0),
        };
        let mut v = Vec::with_capacity(HEADER_LEN + 16);
        v.push(kind);
        v.push(0);
        v.extend_from_slice(&channel.to_be_bytes());
        v.extend_from_slice(&ppid.to_be_bytes());
        match self {
            Frame::Message { payload, .. } => v.extend_from_slice(payload),
            Frame::OpenSession {
                pe_id, pool_handle, ..
            } => {
                v.extend_from_slice(&pe_id.to_be_bytes());
                v.extend_from_slice(pool_handle);
            }
            Frame::CloseSession { .. } => {}
            Frame::Notice { code, text, .. } => {
                v.extend_from_slice(&code.code().to_be_bytes());
                v.extend_from_slice(text.as_bytes());
            }
            Frame::Hello {
                version,
                max_payload,
                max_sessions,
                registrar,
            } => {
                v.extend_from_slice(&version.to_be_bytes());
                v.extend_from_slice(&max_payload.to_be_bytes());
                v.extend_from_slice(&max_sessions.to_be_bytes());
                v.extend_from_slice(registrar.as_bytes());
            }
        }
        v
    }

    /// Parses one WebSocket binary message as a frame.
    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        let need = |n: usize, have: &[u8]| {
            if have.len() < n {
                Err(FrameError::Truncated {
                    needed: n,
                    available: have.len(),
                })
            } else {
                Ok(())
            }
        };
        need(HEADER_LEN, bytes)?;
        let kind = bytes[0];
        if bytes[1] != 0 {
            return Err(FrameError::NonZeroFlags(bytes[1]));
        }
        let channel = u16::from_be_bytes([bytes[2], bytes[3]]);
        let ppid = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let p = &bytes[HEADER_LEN..];
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| FrameError::BadText);
        Ok(match kind {
            KIND_MESSAGE => Frame::Message {
                channel,
                ppid,
                payload: p.to_vec(),
            },
            KIND_OPEN_SESSION => {
                need(HEADER_LEN + 4, bytes)?;
                Frame::OpenSession {
                    channel,
                    app_ppid: ppid,
                    pe_id: u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
                    pool_handle: p[4..].to_vec(),
                }
            }
            KIND_CLOSE_SESSION => Frame::CloseSession { channel },
            KIND_NOTICE => {
                need(HEADER_LEN + 2, bytes)?;
                Frame::Notice {
                    channel,
                    code: NoticeCode::from_code(u16::from_be_bytes([p[0], p[1]])),
                    text: text(&p[2..])?,
                }
            }
            KIND_HELLO => {
                need(HEADER_LEN + 8, bytes)?;
                Frame::Hello {
                    version: u16::from_be_bytes([p[0], p[1]]),
                    max_payload: u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
                    max_sessions: u16::from_be_bytes([p[6], p[7]]),
                    registrar: text(&p[8..])?,
                }
            }
            k => return Err(FrameError::UnknownKind(k)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_kind_round_trips() {
        let frames = [
            Frame::registrar(vec![5, 0, 0, 4]),
            Frame::Message {
                channel: 7,
                ppid: 0,
                payload: b"hello".to_vec(),
            },
            Frame::OpenSession {
                channel: 1,
                app_ppid: 38,
                pe_id: 0x0e00_0001,
                pool_handle: b"EchoPool".to_vec(),
            },
            Frame::CloseSession { channel: 1 },
            Frame::notice(0, NoticeCode::ForbiddenMessageType, "ASAP Registration"),
            Frame::notice(3, NoticeCode::Unknown(0x7777), ""),
            Frame::Hello {
                version: VERSION,
                max_payload: 65536,
                max_sessions: 8,
                registrar: "10.1.0.1:3863".into(),
            },
        ];
        for f in frames {
            assert_eq!(Frame::decode(&f.encode()), Ok(f.clone()), "{f:?}");
        }
    }

    #[test]
    fn message_payload_is_carried_unchanged_after_an_8_byte_header() {
        let asap = [0x09, 0, 0, 0x18, 0, 9, 0, 0xc];
        let b = Frame::registrar(asap.to_vec()).encode();
        assert_eq!(&b[..HEADER_LEN], &[0, 0, 0, 0, 0, 0, 0, 11]);
        assert_eq!(&b[HEADER_LEN..], &asap);
    }

    #[test]
    fn malformed_frames_are_typed_errors() {
        assert_eq!(
            Frame::decode(&[0, 0, 0]),
            Err(FrameError::Truncated {
                needed: 8,
                available: 3
            })
        );
        assert_eq!(
            Frame::decode(&[9, 0, 0, 0, 0, 0, 0, 0]),
            Err(FrameError::UnknownKind(9))
        );
        assert_eq!(
            Frame::decode(&[0, 1, 0, 0, 0, 0, 0, 0]),
            Err(FrameError::NonZeroFlags(1))
        );
        assert!(matches!(
            Frame::decode(&[1, 0, 0, 1, 0, 0, 0, 0, 1]),
            Err(FrameError::Truncated { needed: 12, .. })
        ));
        assert_eq!(
            Frame::decode(&[3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xff]),
            Err(FrameError::BadText)
        );
    }

    #[test]
    fn notice_codes_have_stable_numbers_and_names() {
        for c in [
            NoticeCode::RegistrarUp,
            NoticeCode::RegistrarLost,
            NoticeCode::SessionUp,
            NoticeCode::SessionAborted,
            NoticeCode::SessionClosed,
            NoticeCode::MalformedFrame,
            NoticeCode::ForbiddenMessageType,
            NoticeCode::RateLimited,
            NoticeCode::UnknownChannel,
            NoticeCode::PeNotResolved,
            NoticeCode::TooLarge,
            NoticeCode::TooManySessions,
            NoticeCode::TextFrame,
            NoticeCode::UndecodableMessage,
            NoticeCode::ChannelInUse,
        ] {
            assert_eq!(NoticeCode::from_code(c.code()), c);
            assert_ne!(c.slug(), "unknown");
        }
        assert_eq!(NoticeCode::ForbiddenMessageType.code(), 0x0101);
        assert_eq!(NoticeCode::from_code(0x4242), NoticeCode::Unknown(0x4242));
    }
}
