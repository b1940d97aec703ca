//! Sessions with pool elements: picking one, connecting, cookies, and
//! failover (RFC 5352 §3.9–3.10; the path-security notice of RFC 5355 §2.9).

use super::*;

impl PoolUser {
    /// Opens a session to a pool: resolves, picks a PE by the pool's
    /// policy and asks the driver to connect to it. `app_ppid` is the PPID
    /// of application data sent without an explicit one.
    pub fn open_session(
        &mut self,
        pool_handle: PoolHandle,
        app_ppid: u32,
        now: Duration,
    ) -> SessionId {
        let sid = SessionId(self.next());
        self.sessions.insert(
            sid,
            Session {
                pool_handle,
                app_ppid,
                state: SState::Resolving,
                cookie: None,
                outbox: VecDeque::new(),
                failover: None,
                recent_failures: Vec::new(),
            },
        );
        self.session_need_pe(sid, now);
        sid
    }

    /// Sends application data on a session (queued while it has no PE).
    pub fn send(
        &mut self,
        session: SessionId,
        ppid: Option<u32>,
        bytes: Vec<u8>,
        _now: Duration,
    ) -> Result<(), SessionError> {
        let limit = self.cfg.session_queue_limit;
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(SessionError::UnknownSession(session))?;
        let ppid = ppid.unwrap_or(s.app_ppid);
        if let SState::Up { channel, .. } = s.state {
            self.transmits.push_back(Transmit {
                channel,
                ppid,
                bytes,
            });
            return Ok(());
        }
        if s.outbox.len() >= limit {
            return Err(SessionError::QueueFull(session));
        }
        s.outbox.push_back((ppid, bytes));
        Ok(())
    }

    /// Sends an ASAP Business Card (RFC 5352 §3.9: the PEs to fail over
    /// to, from the PU's side) on the session's channel. RSPLIB PEs only log
    /// it. Fails if the session is not connected.
    pub fn send_business_card(
        &mut self,
        session: SessionId,
        card: BusinessCard,
        _now: Duration,
    ) -> Result<(), SessionError> {
        let s = self
            .sessions
            .get(&session)
            .ok_or(SessionError::UnknownSession(session))?;
        let SState::Up { channel, .. } = s.state else {
            return Err(SessionError::NotConnected(session));
        };
        self.send_message(channel, Message::Asap(AsapMessage::BusinessCard(card)));
        Ok(())
    }

    /// Ends a session and closes its channel.
    pub fn close_session(
        &mut self,
        session: SessionId,
        _now: Duration,
    ) -> Result<(), SessionError> {
        let s = self
            .sessions
            .remove(&session)
            .ok_or(SessionError::UnknownSession(session))?;
        self.disarm_session(session);
        if let SState::Up { channel, .. } | SState::Connecting { channel, .. } = s.state {
            self.close_channel(channel);
        }
        self.event(Event::SessionClosed {
            session,
            reason: SessionCloseReason::ByApplication,
        });
        Ok(())
    }

    pub(super) fn session_need_pe(&mut self, sid: SessionId, now: Duration) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let ph = s.pool_handle.clone();
        match self.cache_select(&ph, 1, now, true).into_iter().next() {
            Some(pe) => self.session_connect(sid, pe, now),
            None => {
                self.set_session(sid, SState::Resolving);
                self.queue.push_back(Request {
                    kind: ReqKind::Session(sid),
                    pool_handle: ph,
                    items: 1,
                    trials: 0,
                    unknown_answers: 0,
                });
                self.ensure_registrar(now);
            }
        }
    }

    pub(super) fn session_wait(&mut self, sid: SessionId, error: ResolveError, now: Duration) {
        if !self.sessions.contains_key(&sid) {
            return;
        }
        let retry_in = match error {
            ResolveError::NoRegistrarReachable { .. } => self.cfg.no_registrar_retry,
            _ => self.cfg.empty_pool_retry,
        };
        let until = now + retry_in;
        self.set_session(sid, SState::Waiting);
        self.arm(Timer::SessionRetry(sid), until);
        self.event(Event::SessionWaiting {
            session: sid,
            error,
            retry_in,
        });
    }

    pub(super) fn session_connect(&mut self, sid: SessionId, pe: PoolElement, now: Duration) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if s.recent_failures.contains(&pe.id) {
            // Offered a PE that already failed in this round (the registrar
            // still lists it): wait like RSPLIB after a failed failover
            // instead of spinning, then start a fresh round.
            s.recent_failures.clear();
            self.session_wait(sid, ResolveError::NoUsableElement, now);
            return;
        }
        let pool_handle = s.pool_handle.clone();
        let channel = ChannelId(self.next());
        self.channels.insert(channel, Owner::Session(sid));
        let deadline = now + self.cfg.pe_connect_timeout;
        self.actions.push_back(Action::ConnectPoolElement {
            channel,
            session: sid,
            pool_handle,
            element: pe.clone(),
        });
        self.set_session(
            sid,
            SState::Connecting {
                channel,
                element: Box::new(pe),
            },
        );
        self.arm(Timer::ElementConnect(sid), deadline);
    }

    /// The session's PE failed: report it (unless it closed in an orderly
    /// way), drop it from the cache, pick the next PE (RFC 5352 §3.10).
    pub(super) fn session_failed(&mut self, sid: SessionId, reason: FailoverReason, now: Duration) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let (channel, element) = match &s.state {
            SState::Up {
                channel,
                element,
                security,
            } => {
                s.failover = Some(FailoverState {
                    old: element.id,
                    old_security: security.clone(),
                    reason: reason.clone(),
                    failed: vec![element.id],
                });
                (*channel, element.id)
            }
            SState::Connecting {
                channel, element, ..
            } => {
                if let Some(f) = s.failover.as_mut() {
                    f.failed.push(element.id);
                }
                (*channel, element.id)
            }
            _ => return,
        };
        s.recent_failures.push(element);
        let pool_handle = s.pool_handle.clone();
        self.close_channel(channel);
        if reason == FailoverReason::ChannelClosed(CloseReason::Closed) {
            self.cache_remove(&pool_handle, element);
        } else {
            self.report(pool_handle, element, now);
        }
        self.session_need_pe(sid, now);
    }

    pub(super) fn session_up(
        &mut self,
        sid: SessionId,
        channel: ChannelId,
        security: PathSecurity,
    ) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let SState::Connecting { element, .. } = s.state.clone() else {
            return;
        };
        let failover = s.failover.take();
        s.recent_failures.clear();
        let cookie = s.cookie.clone();
        let outbox = std::mem::take(&mut s.outbox);
        let pool_handle = s.pool_handle.clone();
        let new_id = element.id;
        self.set_session(
            sid,
            SState::Up {
                channel,
                element,
                security: security.clone(),
            },
        );
        let mut cookie_replayed = false;
        if let (Some(_), Some(cookie)) = (&failover, cookie) {
            // RFC 5352 §3.10: the Cookie Echo goes first on the new PE.
            self.send_message(channel, Message::Asap(AsapMessage::CookieEcho(cookie)));
            cookie_replayed = true;
        }
        self.event(Event::SessionUp {
            session: sid,
            element: new_id,
            security: security.clone(),
        });
        if let Some(f) = failover {
            let security_changed = f.old_security.differs_from(&security);
            self.event(Event::Failover(FailoverNotice {
                session: sid,
                pool_handle,
                old_element: f.old,
                new_element: new_id,
                reason: f.reason,
                failed_elements: f.failed,
                cookie_replayed,
                old_security: f.old_security,
                new_security: security,
                security_changed,
            }));
        }
        for (ppid, bytes) in outbox {
            self.transmits.push_back(Transmit {
                channel,
                ppid,
                bytes,
            });
        }
    }

    pub(super) fn on_session_message(
        &mut self,
        sid: SessionId,
        channel: ChannelId,
        ppid: u32,
        bytes: &[u8],
    ) {
        if ppid != consts::PPID_ASAP {
            self.event(Event::SessionData {
                session: sid,
                ppid,
                bytes: bytes.to_vec(),
            });
            return;
        }
        // ASAP control on the session channel (RFC 5352 §3.9).
        let decoded = match wire::decode(Protocol::Asap, bytes) {
            Ok(d) => d,
            Err(e) => {
                self.event(Event::Error {
                    channel: Some(channel),
                    error: InputError::Undecodable {
                        from: InputSource::PoolElement,
                        error: e.to_string(),
                    },
                });
                return;
            }
        };
        let at = self.events.len();
        match &decoded.message {
            Message::Asap(AsapMessage::Cookie(c)) => {
                let len = c.0.len();
                if let Some(s) = self.sessions.get_mut(&sid) {
                    // Only the latest cookie is kept (RSPLIB; docs/rsplib-behaviour.md,
                    // "Cookies and failover").
                    s.cookie = Some(c.clone());
                }
                self.event(Event::CookieReceived { session: sid, len });
            }
            Message::Asap(AsapMessage::BusinessCard(card)) => {
                let card = card.clone();
                self.event(Event::BusinessCardReceived { session: sid, card });
            }
            other => self.event(Event::Error {
                channel: Some(channel),
                error: InputError::Unexpected {
                    from: InputSource::PoolElement,
                    message: other.type_name().into(),
                },
            }),
        }
        self.trace_received_at(at, channel, decoded.message);
    }
}
