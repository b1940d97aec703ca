//! The pool user's side of a gateway, sans-IO: registrar channels whose
//! endpoint is a `ws://` or `wss://` URL become WebSocket links speaking
//! [`crate::gateway_protocol`].
//!
//! One link is one WebSocket to one gateway URL, carrying one registrar
//! association (wire channel 0) and the pool-element sessions the pool user
//! opens through it (wire channels 1..=65535, numbered here).
//! [`GatewayLinks`] turns the pool user's [`Action`]s and [`Transmit`]s into
//! link operations (open a WebSocket, send a frame, close it) and the
//! frames and socket events the driver reports into the pool user's inputs
//! (connected, received, closed with a typed [`CloseReason`]). Every rule
//! that maps a gateway notice to a channel's end lives here, once; a driver
//! only moves bytes:
//!
//! ```
//! use client_core::gateway_link::{GatewayLinks, LinkOutput};
//! use client_core::gateway_protocol::{Frame, NoticeCode};
//! use client_core::pool_user::ChannelId;
//!
//! let mut links = GatewayLinks::new();
//! links.open(ChannelId(1), "wss://gw.example/asap/1");
//! assert!(matches!(links.poll(), Some(LinkOutput::Open { .. })));
//! // The socket delivered the gateway's first notice: the registrar is up.
//! let up = Frame::notice(0, NoticeCode::RegistrarUp, "").encode();
//! links.handle_frame(ChannelId(1), &up);
//! match links.poll() {
//!     Some(LinkOutput::Connected { channel, security }) => {
//!         assert_eq!(channel, ChannelId(1));
//!         assert!(security.tls && security.via_gateway);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use crate::gateway_protocol::{Frame, FrameError, NoticeCode, REGISTRAR_CHANNEL, SUBPROTOCOL};
use crate::pool_user::{Action, ChannelId, CloseReason, PathSecurity, Transmit};
use crate::wire::{PoolElementId, PoolHandle};
use litemap::LiteMap as Map;
use std::collections::VecDeque;

/// Prefix of the subprotocol value that presents a gateway token
/// (`rserpool.token.<base64url without padding>`, offered beside
/// [`SUBPROTOCOL`]; docs/gateway.md, "Token").
pub const TOKEN_PROTOCOL_PREFIX: &str = "rserpool.token.";

/// What the driver must do, or tell the pool user, next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkOutput {
    /// Open a WebSocket to `url` offering `protocols` (always
    /// [`SUBPROTOCOL`] first, then the token value if one is set). Answer
    /// with [`GatewayLinks::handle_frame`] / [`GatewayLinks::handle_socket_closed`],
    /// or [`GatewayLinks::handle_open_failed`] if it cannot even start.
    Open {
        /// The registrar channel this link carries.
        link: ChannelId,
        /// The gateway URL (`ws://` or `wss://`).
        url: String,
        /// `Sec-WebSocket-Protocol` values to offer, in order.
        protocols: Vec<String>,
    },
    /// Send one binary WebSocket message on the link.
    Send {
        /// The link's registrar channel.
        link: ChannelId,
        /// One encoded [`Frame`].
        frame: Vec<u8>,
    },
    /// Close the link's WebSocket; the link is forgotten already.
    Close {
        /// The link's registrar channel.
        link: ChannelId,
    },
    /// Pool-user input: `channel` is established.
    Connected {
        /// A registrar or pool-element channel of the pool user.
        channel: ChannelId,
        /// What protects it (TLS to the gateway, plain SCTP beyond).
        security: PathSecurity,
    },
    /// Pool-user input: one message arrived on `channel`.
    Received {
        /// A registrar or pool-element channel of the pool user.
        channel: ChannelId,
        /// The message's PPID.
        ppid: u32,
        /// The message, as the gateway forwarded it.
        payload: Vec<u8>,
    },
    /// Pool-user input: `channel` ended.
    Closed {
        /// A registrar or pool-element channel of the pool user.
        channel: ChannelId,
        /// Why, as the link saw it.
        reason: CloseReason,
    },
    /// Something the application should hear of; no channel state changes
    /// beyond the outputs queued with it.
    Problem(LinkProblem),
}

/// A typed problem on a link, for the application's error listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkProblem {
    /// The gateway sent bytes that are not a frame.
    UndecodableFrame(FrameError),
    /// The gateway sent a text message (not part of the protocol).
    TextFrame,
    /// The gateway sent a frame only a client may send.
    ClientOnlyFrame,
    /// A pool-element session was asked for while no link to the home
    /// registrar is up (the gateway only opens sessions to pool elements
    /// resolved through that same link).
    NoElementTransport {
        /// The pool element that could not be reached.
        pe_id: PoolElementId,
    },
    /// The gateway refused something (a notice from 0x100 on, or one this
    /// version does not know).
    Refused {
        /// The notice.
        code: NoticeCode,
        /// The gateway's text.
        text: String,
    },
}

impl core::fmt::Display for LinkProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LinkProblem::UndecodableFrame(e) => write!(f, "undecodable gateway frame: {e}"),
            LinkProblem::TextFrame => f.write_str("gateway sent a text frame"),
            LinkProblem::ClientOnlyFrame => f.write_str("gateway sent a client-only frame"),
            LinkProblem::NoElementTransport { pe_id } => {
                write!(f, "no gateway link is up to reach pool element {pe_id}")
            }
            LinkProblem::Refused { code, text } => write!(f, "gateway: {}: {text}", code.slug()),
        }
    }
}

struct Link {
    url: String,
    tls: bool,
    /// The gateway said `registrar-up`.
    up: bool,
    /// Wire channel (1..=65535) → pool-element channel.
    sessions: Map<u16, ChannelId>,
    next_wire: u16,
}

/// A pool-element channel carried by a link.
#[derive(Clone, Copy)]
struct Element {
    link: ChannelId,
    wire: u16,
    up: bool,
}

/// Every gateway link of one pool user. See the [module docs](self).
#[derive(Default)]
pub struct GatewayLinks {
    links: Map<ChannelId, Link>,
    elements: Map<ChannelId, Element>,
    token_protocol: Option<String>,
    out: VecDeque<LinkOutput>,
}

/// RFC 4648 §5 base64url without padding, appended to `out`. Written out
/// rather than taken from the `base64` crate (which the tests compare it
/// with): its generic engine costs the browser download about 1 KB gzip
/// for the one token this encodes (BENCHMARKS.md "Browser package size").
fn base64url_no_pad(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        // 3 bytes give 4 symbols; a final 1 or 2 bytes give 2 or 3.
        for k in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * k)) as usize & 63]));
        }
    }
}

impl GatewayLinks {
    /// No links yet, no token.
    pub fn new() -> Self {
        GatewayLinks::default()
    }

    /// Present `token` to every gateway opened from now on, as the
    /// subprotocol value `rserpool.token.<base64url-no-pad of its bytes>`.
    pub fn set_token(&mut self, token: Option<&str>) {
        self.token_protocol = token.map(|t| {
            let mut v = String::from(TOKEN_PROTOCOL_PREFIX);
            base64url_no_pad(t.as_bytes(), &mut v);
            v
        });
    }

    /// Whether `endpoint` is one for a gateway link (`ws://`, `wss://`).
    pub fn is_gateway_endpoint(endpoint: &str) -> bool {
        endpoint.starts_with("wss://") || endpoint.starts_with("ws://")
    }

    /// The next output, in the order the outputs arose.
    pub fn poll(&mut self) -> Option<LinkOutput> {
        self.out.pop_front()
    }

    /// Carries out one pool-user action. `app_ppid` is the PPID of the
    /// session's data (for [`Action::ConnectPoolElement`]); `home` the pool
    /// user's home registrar endpoint, whose link carries new sessions.
    pub fn perform(&mut self, action: Action, app_ppid: u32, home: Option<&str>) {
        match action {
            Action::ConnectRegistrar { channel, endpoint } => self.open(channel, &endpoint),
            Action::ConnectPoolElement {
                channel,
                pool_handle,
                element,
                ..
            } => self.connect_element(channel, app_ppid, element.id, &pool_handle, home),
            Action::Close { channel } => self.close(channel),
        }
    }

    /// Opens registrar channel `link` as a WebSocket to `url`.
    pub fn open(&mut self, link: ChannelId, url: &str) {
        let mut protocols = vec![String::from(SUBPROTOCOL)];
        protocols.extend(self.token_protocol.clone());
        self.links.insert(
            link,
            Link {
                url: url.into(),
                tls: url.starts_with("wss://"),
                up: false,
                sessions: Map::new(),
                next_wire: 0,
            },
        );
        self.out.push_back(LinkOutput::Open {
            link,
            url: url.into(),
            protocols,
        });
    }

    /// Opens pool-element channel `channel` to `pe_id` through the link of
    /// the home registrar, or fails it at once if that link is not up.
    pub fn connect_element(
        &mut self,
        channel: ChannelId,
        app_ppid: u32,
        pe_id: PoolElementId,
        pool_handle: &PoolHandle,
        home: Option<&str>,
    ) {
        let found = self
            .links
            .iter_mut()
            .find(|(_, l)| l.up && Some(l.url.as_str()) == home);
        let Some((&link, l)) = found else {
            self.out
                .push_back(LinkOutput::Problem(LinkProblem::NoElementTransport {
                    pe_id,
                }));
            self.out.push_back(LinkOutput::Closed {
                channel,
                reason: CloseReason::ConnectFailed,
            });
            return;
        };
        let wire = loop {
            l.next_wire = l.next_wire.checked_add(1).unwrap_or(1);
            if !l.sessions.contains_key(&l.next_wire) {
                break l.next_wire;
            }
        };
        l.sessions.insert(wire, channel);
        self.elements.insert(
            channel,
            Element {
                link,
                wire,
                up: false,
            },
        );
        let frame = Frame::OpenSession {
            channel: wire,
            app_ppid,
            pe_id: pe_id.0,
            pool_handle: pool_handle.0.clone(),
        };
        self.send(link, &frame);
    }

    /// Closes `channel`: a pool-element session is closed on its link; a
    /// registrar channel closes its WebSocket, aborting the sessions on it.
    pub fn close(&mut self, channel: ChannelId) {
        if let Some(e) = self.elements.remove(&channel) {
            if let Some(l) = self.links.get_mut(&e.link) {
                l.sessions.remove(&e.wire);
                self.send(e.link, &Frame::CloseSession { channel: e.wire });
            }
        } else if let Some(l) = self.links.remove(&channel) {
            self.abort_sessions(&l);
            self.out.push_back(LinkOutput::Close { link: channel });
        }
    }

    /// Forgets every link, session and pending output (the pool user is
    /// going away; the driver closes all its sockets without telling it).
    pub fn close_all(&mut self) {
        self.links.clear();
        self.elements.clear();
        self.out.clear();
    }

    /// Sends a pool-user transmit as a `Message` frame on its link; dropped
    /// if its channel is no longer carried.
    pub fn transmit(&mut self, t: Transmit) {
        let (link, wire) = if self.links.contains_key(&t.channel) {
            (t.channel, REGISTRAR_CHANNEL)
        } else if let Some(e) = self.elements.get(&t.channel) {
            (e.link, e.wire)
        } else {
            return;
        };
        let frame = Frame::Message {
            channel: wire,
            ppid: t.ppid,
            payload: t.bytes,
        };
        self.send(link, &frame);
    }

    /// The WebSocket of `link` could not be opened: `reason` is
    /// [`CloseReason::ConnectFailed`], or [`CloseReason::AuthenticationFailed`]
    /// where the driver can tell that the TLS handshake failed (a native
    /// client can; a browser cannot).
    pub fn handle_open_failed(&mut self, link: ChannelId, reason: CloseReason) {
        if self.links.remove(&link).is_some() {
            self.out.push_back(LinkOutput::Closed {
                channel: link,
                reason,
            });
        }
    }

    /// The WebSocket of `link` closed (or failed). Its sessions are aborted;
    /// the registrar channel ends as aborted if the gateway had said
    /// `registrar-up`, else as a failed connect (a browser does not say why
    /// a handshake failed: an untrusted certificate looks like any refused
    /// connection).
    pub fn handle_socket_closed(&mut self, link: ChannelId) {
        let Some(l) = self.links.remove(&link) else {
            return;
        };
        self.abort_sessions(&l);
        let reason = if l.up {
            CloseReason::Aborted
        } else {
            CloseReason::ConnectFailed
        };
        self.out.push_back(LinkOutput::Closed {
            channel: link,
            reason,
        });
    }

    /// The gateway sent a text message on `link`.
    pub fn handle_text_frame(&mut self, _link: ChannelId) {
        self.out
            .push_back(LinkOutput::Problem(LinkProblem::TextFrame));
    }

    /// One binary message from the gateway on `link`.
    pub fn handle_frame(&mut self, link: ChannelId, bytes: &[u8]) {
        let frame = match Frame::decode(bytes) {
            Ok(f) => f,
            Err(e) => {
                let p = LinkProblem::UndecodableFrame(e);
                self.out.push_back(LinkOutput::Problem(p));
                return;
            }
        };
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        match frame {
            Frame::Message {
                channel,
                ppid,
                payload,
            } => {
                let channel = if channel == REGISTRAR_CHANNEL {
                    link
                } else if let Some(&pe) = l.sessions.get(&channel) {
                    pe
                } else {
                    return;
                };
                self.out.push_back(LinkOutput::Received {
                    channel,
                    ppid,
                    payload,
                });
            }
            Frame::Notice {
                channel,
                code,
                text,
            } => self.on_notice(link, channel, code, text),
            // Version and limits: nothing to act on in version 1.
            Frame::Hello { .. } => {}
            Frame::OpenSession { .. } | Frame::CloseSession { .. } => self
                .out
                .push_back(LinkOutput::Problem(LinkProblem::ClientOnlyFrame)),
        }
    }

    /// The one mapping of gateway notices to pool-user inputs.
    fn on_notice(&mut self, link: ChannelId, channel: u16, code: NoticeCode, text: String) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        let tls = l.tls;
        match code {
            NoticeCode::RegistrarUp => {
                l.up = true;
                self.out.push_back(LinkOutput::Connected {
                    channel: link,
                    security: security(tls),
                });
            }
            // The WebSocket closes next; its close reports it.
            NoticeCode::RegistrarLost => {}
            NoticeCode::SessionUp => {
                if let Some(&pe) = l.sessions.get(&channel) {
                    if let Some(e) = self.elements.get_mut(&pe) {
                        e.up = true;
                    }
                    self.out.push_back(LinkOutput::Connected {
                        channel: pe,
                        security: security(tls),
                    });
                }
            }
            NoticeCode::SessionAborted | NoticeCode::SessionClosed => {
                if let Some(pe) = l.sessions.remove(&channel) {
                    let was_up = self.elements.remove(&pe).is_some_and(|e| e.up);
                    let reason = match (code, was_up) {
                        (NoticeCode::SessionClosed, _) => CloseReason::Closed,
                        (_, true) => CloseReason::Aborted,
                        (_, false) => CloseReason::ConnectFailed,
                    };
                    self.out.push_back(LinkOutput::Closed {
                        channel: pe,
                        reason,
                    });
                }
            }
            refusal => {
                // A refusal on a session channel ends that session attempt.
                if channel != REGISTRAR_CHANNEL {
                    if let Some(pe) = l.sessions.remove(&channel) {
                        let was_up = self.elements.remove(&pe).is_some_and(|e| e.up);
                        let reason = if was_up {
                            CloseReason::Aborted
                        } else {
                            CloseReason::ConnectFailed
                        };
                        self.out.push_back(LinkOutput::Closed {
                            channel: pe,
                            reason,
                        });
                    }
                }
                let p = LinkProblem::Refused {
                    code: refusal,
                    text,
                };
                self.out.push_back(LinkOutput::Problem(p));
            }
        }
    }

    /// The pool-element channels of a link that ended are aborted with it.
    fn abort_sessions(&mut self, l: &Link) {
        for ch in l.sessions.values() {
            if self.elements.remove(ch).is_some() {
                self.out.push_back(LinkOutput::Closed {
                    channel: *ch,
                    reason: CloseReason::Aborted,
                });
            }
        }
    }

    fn send(&mut self, link: ChannelId, frame: &Frame) {
        self.out.push_back(LinkOutput::Send {
            link,
            frame: frame.encode(),
        });
    }
}

/// What protects a path through a gateway: TLS to the gateway at most;
/// beyond it the path is RSPLIB's plain SCTP, so no peer identity is
/// claimed (RFC 5355 §2.9).
fn security(tls: bool) -> PathSecurity {
    PathSecurity {
        transport: "websocket".into(),
        tls,
        authenticated_peer: None,
        via_gateway: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PoolElementId;

    const URL: &str = "wss://gw.test/asap/1";
    const REG: ChannelId = ChannelId(1);
    const PE: ChannelId = ChannelId(2);

    fn drain(l: &mut GatewayLinks) -> Vec<LinkOutput> {
        std::iter::from_fn(|| l.poll()).collect()
    }

    fn notice(channel: u16, code: NoticeCode) -> Vec<u8> {
        Frame::notice(channel, code, "why").encode()
    }

    /// A link whose registrar is up and one session on wire channel 1.
    fn with_session(up: bool) -> GatewayLinks {
        let mut l = GatewayLinks::new();
        l.open(REG, URL);
        l.handle_frame(REG, &notice(0, NoticeCode::RegistrarUp));
        l.connect_element(
            PE,
            7,
            PoolElementId(42),
            &PoolHandle(b"EchoPool".to_vec()),
            Some(URL),
        );
        if up {
            l.handle_frame(REG, &notice(1, NoticeCode::SessionUp));
        }
        drain(&mut l);
        l
    }

    fn closed(channel: ChannelId, reason: CloseReason) -> LinkOutput {
        LinkOutput::Closed { channel, reason }
    }

    #[test]
    fn the_token_encoding_is_base64url_without_padding() {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut rng = crate::policy::Rng::new(7);
        for len in 0..200usize {
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let mut ours = String::new();
            base64url_no_pad(&bytes, &mut ours);
            assert_eq!(ours, engine.encode(&bytes), "{len} bytes");
        }
        let mut s = String::new();
        base64url_no_pad(&[0xfb, 0xff], &mut s);
        assert_eq!(s, "-_8", "the URL-safe symbols");
    }

    #[test]
    fn open_offers_the_subprotocol_and_a_token_when_set() {
        let mut l = GatewayLinks::new();
        l.open(REG, URL);
        l.set_token(Some("s3cret?"));
        l.open(ChannelId(3), "ws://gw.test/asap/2");
        let protocols: Vec<_> = drain(&mut l)
            .into_iter()
            .map(|o| match o {
                LinkOutput::Open { protocols, .. } => protocols,
                o => panic!("{o:?}"),
            })
            .collect();
        assert_eq!(protocols[0], ["rserpool.asap.v1"]);
        assert_eq!(
            protocols[1],
            ["rserpool.asap.v1", "rserpool.token.czNjcmV0Pw"]
        );
    }

    #[test]
    fn registrar_up_connects_the_registrar_channel_with_gateway_security() {
        let mut l = GatewayLinks::new();
        l.open(ChannelId(9), "ws://gw.test/asap/1");
        drain(&mut l);
        l.handle_frame(ChannelId(9), &notice(0, NoticeCode::RegistrarUp));
        let security = PathSecurity {
            transport: "websocket".into(),
            tls: false,
            authenticated_peer: None,
            via_gateway: true,
        };
        assert_eq!(
            drain(&mut l),
            [LinkOutput::Connected {
                channel: ChannelId(9),
                security
            }]
        );
    }

    #[test]
    fn session_opens_on_the_home_registrars_link_only() {
        let mut l = GatewayLinks::new();
        l.open(REG, URL);
        l.handle_frame(REG, &notice(0, NoticeCode::RegistrarUp));
        drain(&mut l);
        let handle = PoolHandle(b"EchoPool".to_vec());
        l.connect_element(PE, 7, PoolElementId(42), &handle, Some("wss://other/"));
        assert_eq!(
            drain(&mut l),
            [
                LinkOutput::Problem(LinkProblem::NoElementTransport {
                    pe_id: PoolElementId(42)
                }),
                closed(PE, CloseReason::ConnectFailed)
            ]
        );
        l.connect_element(PE, 7, PoolElementId(42), &handle, Some(URL));
        let open = Frame::OpenSession {
            channel: 1,
            app_ppid: 7,
            pe_id: 42,
            pool_handle: handle.0,
        };
        assert_eq!(
            drain(&mut l),
            [LinkOutput::Send {
                link: REG,
                frame: open.encode()
            }]
        );
    }

    #[test]
    fn messages_are_routed_by_wire_channel_both_ways() {
        let mut l = with_session(true);
        let data = Frame::Message {
            channel: 1,
            ppid: 7,
            payload: b"hi".to_vec(),
        };
        l.handle_frame(REG, &data.encode());
        l.handle_frame(REG, &Frame::registrar(b"asap".to_vec()).encode());
        // An unknown wire channel is dropped.
        let stray = Frame::Message {
            channel: 5,
            ppid: 7,
            payload: vec![],
        };
        l.handle_frame(REG, &stray.encode());
        assert_eq!(
            drain(&mut l),
            [
                LinkOutput::Received {
                    channel: PE,
                    ppid: 7,
                    payload: b"hi".to_vec()
                },
                LinkOutput::Received {
                    channel: REG,
                    ppid: 11,
                    payload: b"asap".to_vec()
                }
            ]
        );
        l.transmit(Transmit {
            channel: PE,
            ppid: 7,
            bytes: b"yo".to_vec(),
        });
        l.transmit(Transmit {
            channel: ChannelId(77),
            ppid: 7,
            bytes: vec![],
        });
        let sent = Frame::Message {
            channel: 1,
            ppid: 7,
            payload: b"yo".to_vec(),
        };
        assert_eq!(
            drain(&mut l),
            [LinkOutput::Send {
                link: REG,
                frame: sent.encode()
            }]
        );
    }

    #[test]
    fn session_notices_map_to_close_reasons() {
        for (up, code, reason) in [
            (true, NoticeCode::SessionClosed, CloseReason::Closed),
            (false, NoticeCode::SessionClosed, CloseReason::Closed),
            (true, NoticeCode::SessionAborted, CloseReason::Aborted),
            (
                false,
                NoticeCode::SessionAborted,
                CloseReason::ConnectFailed,
            ),
        ] {
            let mut l = with_session(up);
            l.handle_frame(REG, &notice(1, code));
            assert_eq!(drain(&mut l), [closed(PE, reason.clone())], "{up} {code:?}");
            // The channel is gone: a second notice changes nothing.
            l.handle_frame(REG, &notice(1, code));
            assert_eq!(drain(&mut l), []);
        }
    }

    #[test]
    fn a_refusal_on_a_session_channel_ends_that_session() {
        for (up, reason) in [
            (true, CloseReason::Aborted),
            (false, CloseReason::ConnectFailed),
        ] {
            let mut l = with_session(up);
            l.handle_frame(REG, &notice(1, NoticeCode::PeNotResolved));
            assert_eq!(
                drain(&mut l),
                [
                    closed(PE, reason),
                    LinkOutput::Problem(LinkProblem::Refused {
                        code: NoticeCode::PeNotResolved,
                        text: "why".into()
                    })
                ]
            );
        }
    }

    #[test]
    fn a_refusal_on_the_registrar_channel_is_only_reported() {
        let mut l = with_session(true);
        l.handle_frame(REG, &notice(0, NoticeCode::RateLimited));
        l.handle_frame(REG, &notice(0, NoticeCode::Unknown(0x0777)));
        let out = drain(&mut l);
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|o| matches!(o, LinkOutput::Problem(LinkProblem::Refused { .. }))));
        assert_eq!(out[0].to_problem_text(), "gateway: rate-limited: why");
    }

    #[test]
    fn registrar_lost_waits_for_the_socket_to_close() {
        let mut l = with_session(true);
        l.handle_frame(REG, &notice(0, NoticeCode::RegistrarLost));
        assert_eq!(drain(&mut l), []);
        l.handle_socket_closed(REG);
        assert_eq!(
            drain(&mut l),
            [
                closed(PE, CloseReason::Aborted),
                closed(REG, CloseReason::Aborted)
            ]
        );
        // Nothing is left to send on.
        l.transmit(Transmit {
            channel: PE,
            ppid: 7,
            bytes: vec![],
        });
        assert_eq!(drain(&mut l), []);
    }

    #[test]
    fn a_socket_that_closes_before_registrar_up_failed_to_connect() {
        let mut l = GatewayLinks::new();
        l.open(REG, URL);
        drain(&mut l);
        l.handle_socket_closed(REG);
        l.handle_socket_closed(REG);
        assert_eq!(drain(&mut l), [closed(REG, CloseReason::ConnectFailed)]);
        l.open(REG, URL);
        drain(&mut l);
        l.handle_open_failed(REG, CloseReason::ConnectFailed);
        assert_eq!(drain(&mut l), [closed(REG, CloseReason::ConnectFailed)]);
    }

    #[test]
    fn a_tls_failure_the_driver_can_see_reaches_the_pool_user_as_such() {
        let mut l = GatewayLinks::new();
        l.open(REG, URL);
        drain(&mut l);
        let why = CloseReason::AuthenticationFailed("UnknownIssuer".into());
        l.handle_open_failed(REG, why.clone());
        assert_eq!(drain(&mut l), [closed(REG, why)]);
    }

    #[test]
    fn closing_a_session_sends_close_session_and_closing_a_link_aborts_its_sessions() {
        let mut l = with_session(true);
        l.close(PE);
        assert_eq!(
            drain(&mut l),
            [LinkOutput::Send {
                link: REG,
                frame: Frame::CloseSession { channel: 1 }.encode()
            }]
        );
        let mut l = with_session(true);
        l.close(REG);
        assert_eq!(
            drain(&mut l),
            [
                closed(PE, CloseReason::Aborted),
                LinkOutput::Close { link: REG }
            ]
        );
    }

    #[test]
    fn bad_frames_are_typed_problems_and_change_nothing() {
        let mut l = with_session(true);
        l.handle_frame(REG, &[0xff]);
        l.handle_text_frame(REG);
        l.handle_frame(REG, &Frame::CloseSession { channel: 1 }.encode());
        let out = drain(&mut l);
        assert!(matches!(
            out[0],
            LinkOutput::Problem(LinkProblem::UndecodableFrame(_))
        ));
        assert_eq!(
            out[1..],
            [
                LinkOutput::Problem(LinkProblem::TextFrame),
                LinkOutput::Problem(LinkProblem::ClientOnlyFrame)
            ]
        );
        // The session still works.
        l.handle_frame(REG, &notice(1, NoticeCode::SessionClosed));
        assert_eq!(drain(&mut l), [closed(PE, CloseReason::Closed)]);
    }

    impl LinkOutput {
        fn to_problem_text(&self) -> String {
            match self {
                LinkOutput::Problem(p) => p.to_string(),
                o => panic!("{o:?}"),
            }
        }
    }
}
