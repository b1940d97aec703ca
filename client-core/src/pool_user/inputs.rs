//! Inputs from the driver: channel events, received bytes, Server
//! Announces and timeouts.

use super::*;

impl PoolUser {
    /// The driver established `channel`.
    pub fn handle_connected(&mut self, channel: ChannelId, security: PathSecurity, now: Duration) {
        match self.channels.get(&channel).copied() {
            Some(Owner::Registrar) => {
                self.registrar_up(channel, now);
            }
            Some(Owner::Session(sid)) => self.session_up(sid, channel, security),
            // A connect that completed after the pool user gave up on it
            // (a losing hunt attempt, a timed-out PE): close it again.
            None => self.actions.push_back(Action::Close { channel }),
        }
    }

    /// `channel` ended (or never came up).
    pub fn handle_closed(&mut self, channel: ChannelId, reason: CloseReason, now: Duration) {
        // Channels the pool user closed itself are already forgotten.
        let Some(owner) = self.channels.remove(&channel) else {
            return;
        };
        match owner {
            Owner::Registrar => match &self.reg {
                RegState::Connecting { .. } => {
                    let failure = match reason {
                        CloseReason::AuthenticationFailed(m) => {
                            RegistrarFailure::AuthenticationFailed(m)
                        }
                        CloseReason::Closed => RegistrarFailure::Closed,
                        CloseReason::Aborted | CloseReason::ConnectFailed => {
                            RegistrarFailure::ConnectFailed
                        }
                    };
                    self.registrar_attempt_failed(channel, failure, now);
                }
                RegState::Up { .. } => {
                    let failure = match reason {
                        CloseReason::AuthenticationFailed(m) => {
                            RegistrarFailure::AuthenticationFailed(m)
                        }
                        CloseReason::Closed => RegistrarFailure::Closed,
                        CloseReason::Aborted | CloseReason::ConnectFailed => {
                            RegistrarFailure::Aborted
                        }
                    };
                    self.drop_registrar(failure, true, now);
                }
                RegState::Idle => {}
            },
            Owner::Session(sid) => {
                // The channel is already forgotten: no Close action for it.
                self.session_failed(sid, FailoverReason::ChannelClosed(reason), now);
            }
        }
    }

    /// One message received on `channel` with `ppid`.
    pub fn handle_received(&mut self, channel: ChannelId, ppid: u32, bytes: &[u8], now: Duration) {
        match self.channels.get(&channel).copied() {
            None => self.event(Event::Error {
                channel: Some(channel),
                error: InputError::UnknownChannel,
            }),
            Some(Owner::Session(sid)) => self.on_session_message(sid, channel, ppid, bytes),
            Some(Owner::Registrar) => self.on_registrar_message(channel, ppid, bytes, now),
        }
    }

    pub(super) fn on_registrar_message(
        &mut self,
        channel: ChannelId,
        ppid: u32,
        bytes: &[u8],
        now: Duration,
    ) {
        if !matches!(self.reg, RegState::Up { channel: c, .. } if c == channel) {
            self.event(Event::Error {
                channel: Some(channel),
                error: InputError::RegistrarNotUp,
            });
            return;
        }
        let Some(protocol) = Protocol::from_ppid(ppid) else {
            self.event(Event::Error {
                channel: Some(channel),
                error: InputError::UnexpectedPpid(ppid),
            });
            return;
        };
        let decoded = match wire::decode(protocol, bytes) {
            Ok(d) => d,
            Err(e) => {
                let error = InputError::Undecodable {
                    from: InputSource::Registrar,
                    error: e.to_string(),
                };
                self.event(Event::Error {
                    channel: Some(channel),
                    error: error.clone(),
                });
                // FIFO matching may be out of step now: start afresh.
                self.drop_registrar(RegistrarFailure::ProtocolError(error), false, now);
                return;
            }
        };
        let at = self.events.len();
        match &decoded.message {
            Message::Asap(AsapMessage::HandleResolutionResponse(hrr)) => {
                self.on_resolution_response(hrr, now)
            }
            // Keep-alives are for PEs, announces for the multicast socket;
            // neither concerns a pool user's requests.
            Message::Asap(AsapMessage::EndpointKeepAlive(_))
            | Message::Asap(AsapMessage::ServerAnnounce(_)) => {}
            Message::Asap(AsapMessage::Error(err)) => {
                let cause = err.causes.first().map_or(0, |c| c.code.0);
                let error = InputError::AsapError { cause };
                self.event(Event::Error {
                    channel: Some(channel),
                    error: error.clone(),
                });
                self.drop_registrar(RegistrarFailure::ProtocolError(error), false, now);
            }
            other => {
                let error = InputError::Unexpected {
                    from: InputSource::Registrar,
                    message: other.type_name().into(),
                };
                self.event(Event::Error {
                    channel: Some(channel),
                    error: error.clone(),
                });
                self.drop_registrar(RegistrarFailure::ProtocolError(error), false, now);
            }
        }
        self.trace_received_at(at, channel, decoded.message);
    }

    /// A UDP datagram from the ASAP announce group (RFC 5352 §3.6;
    /// docs/rsplib-behaviour.md, "Server Announces"). `source` is the datagram's source as an endpoint string
    /// (`sctp://10.1.0.1:3863`): RSPLIB's announces carry no transport, the
    /// receiver uses the UDP source address and port.
    pub fn handle_server_announce(&mut self, source: &str, bytes: &[u8], now: Duration) {
        let msg = match wire::decode(Protocol::Asap, bytes) {
            Ok(d) => d.message,
            Err(e) => {
                self.event(Event::Error {
                    channel: None,
                    error: InputError::Undecodable {
                        from: InputSource::Announce {
                            source: source.into(),
                        },
                        error: e.to_string(),
                    },
                });
                return;
            }
        };
        let Message::Asap(AsapMessage::ServerAnnounce(ann)) = msg else {
            self.event(Event::Error {
                channel: None,
                error: InputError::Unexpected {
                    from: InputSource::Announce {
                        source: source.into(),
                    },
                    message: msg.type_name().into(),
                },
            });
            return;
        };
        if !self.cfg.use_announced_registrars {
            return;
        }
        let endpoint = ann
            .transports
            .iter()
            .find(|t| t.protocol == TransportProtocol::Sctp && !t.addresses.is_empty())
            .map(|t| match t.addresses[0] {
                std::net::IpAddr::V4(a) => format!("sctp://{a}:{}", t.port),
                std::net::IpAddr::V6(a) => format!("sctp://[{a}]:{}", t.port),
            })
            .unwrap_or_else(|| source.to_string());
        let exp = now + self.cfg.announce_lifetime;
        let id = ann.server_id.0;
        match self.registrars.iter_mut().find(|r| r.endpoint == endpoint) {
            Some(r) => {
                if r.announced.is_some() {
                    r.announced = Some((id, exp));
                }
            }
            None => {
                let announced = self
                    .registrars
                    .iter()
                    .filter(|r| r.announced.is_some_and(|(_, exp)| now < exp))
                    .count();
                if announced >= MAX_ANNOUNCED_REGISTRARS {
                    self.event(Event::Error {
                        channel: None,
                        error: InputError::AnnounceTableFull { endpoint },
                    });
                    return;
                }
                self.registrars
                    .retain(|r| r.announced.is_none_or(|(_, exp)| now < exp));
                self.registrars.push(RegistrarEntry {
                    endpoint: endpoint.clone(),
                    announced: Some((id, exp)),
                    held_until: None,
                });
                self.event(Event::RegistrarAnnounced {
                    endpoint,
                    server_id: id,
                });
                if self.reg == RegState::Idle && !self.queue.is_empty() {
                    self.ensure_registrar(now);
                }
            }
        }
    }
}
