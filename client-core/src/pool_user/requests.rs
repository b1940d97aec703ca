//! Handle Resolution requests and the pool user's cache (RFC 5352 §3.5;
//! docs/rsplib-behaviour.md, "Handle Resolution and the cache").

use super::*;

impl PoolUser {
    pub(super) fn fail_request(&mut self, req: Request, error: ResolveError, now: Duration) {
        match req.kind {
            ReqKind::App(request) => self.event(Event::ResolveFailed {
                request,
                pool_handle: req.pool_handle,
                error,
            }),
            ReqKind::Session(sid) => self.session_wait(sid, error, now),
        }
    }

    pub(super) fn cache_select(
        &mut self,
        pool_handle: &PoolHandle,
        n: usize,
        now: Duration,
        purge: bool,
    ) -> Vec<PoolElement> {
        let Some(pool) = self.cache.get_mut(pool_handle) else {
            return Vec::new();
        };
        if purge {
            // Drop entries whose stale-cache time has passed (RFC 5352 §3.5).
            let expired: Vec<PoolElementId> = pool
                .expiry
                .iter()
                .filter(|(_, &t)| t <= now)
                .map(|(&id, _)| id)
                .collect();
            for id in expired {
                pool.expiry.remove(&id);
                pool.selector.remove(id);
            }
        }
        let chosen = pool.selector.select(n, &mut self.rng);
        if pool.selector.is_empty() {
            self.cache.remove(pool_handle);
        }
        chosen
    }

    pub(super) fn cache_remove(&mut self, pool_handle: &PoolHandle, id: PoolElementId) {
        if let Some(pool) = self.cache.get_mut(pool_handle) {
            pool.selector.remove(id);
            pool.expiry.remove(&id);
            if pool.selector.is_empty() {
                self.cache.remove(pool_handle);
            }
        }
    }

    /// Resolves a pool handle: from the cache if it has usable PEs,
    /// otherwise by asking a registrar. Answers with
    /// [`Event::Resolved`] or [`Event::ResolveFailed`].
    pub fn resolve(&mut self, pool_handle: PoolHandle, now: Duration) -> RequestId {
        let request = RequestId(self.next());
        let n = usize::try_from(self.cfg.resolve_items).unwrap_or(usize::MAX);
        let cached = self.cache_select(&pool_handle, n, now, true);
        if !cached.is_empty() {
            self.event(Event::Resolved {
                request,
                pool_handle,
                elements: cached,
            });
            return request;
        }
        self.queue.push_back(Request {
            kind: ReqKind::App(request),
            pool_handle,
            items: self.cfg.resolve_items,
            trials: 0,
            unknown_answers: 0,
        });
        self.ensure_registrar(now);
        request
    }

    pub(super) fn on_resolution_response(&mut self, hrr: &HandleResolutionResponse, now: Duration) {
        let Some(out) = self.outstanding.pop_front() else {
            self.event(Event::Error {
                channel: self.reg_channel(),
                error: InputError::ResponseWithoutRequest,
            });
            self.drop_registrar(
                RegistrarFailure::ProtocolError(InputError::ResponseWithoutRequest),
                false,
                now,
            );
            return;
        };
        match self.outstanding.front() {
            Some(next) => {
                let at = next.deadline;
                self.arm(Timer::RegistrarResponse, at);
            }
            None => self.disarm(Timer::RegistrarResponse),
        }
        let mut req = out.req;
        if let Some(err) = &hrr.error {
            let cause = err.causes.first().map_or(0, |c| c.code.0);
            if cause == consts::cause_code::UNKNOWN_POOL_HANDLE {
                req.unknown_answers += 1;
                // Cause 9 may be a rate limit, not a missing pool: ask
                // another registrar first (docs/rsplib-behaviour.md, "Unknown pool and rate limiting look the same").
                if req.unknown_answers <= self.cfg.unknown_pool_retries
                    && self.usable_registrars(now) > 1
                {
                    self.queue.push_front(req);
                    self.drop_registrar(RegistrarFailure::AskAnother, false, now);
                    return;
                }
                let error = ResolveError::NoSuchPool {
                    registrars_asked: req.unknown_answers,
                };
                self.fail_request(req, error, now);
            } else {
                self.fail_request(req, ResolveError::Refused { cause }, now);
            }
            return;
        }
        // PEs go under the pool handle we asked for (RSPLIB;
        // docs/rsplib-behaviour.md, "Handle Resolution and the cache").
        let expiry = now + self.cfg.stale_cache;
        for pe in &hrr.elements {
            let id = pe.id;
            let pe = pe.clone();
            let pool = self.cache.entry(req.pool_handle.clone()).or_default();
            match pool.selector.insert(pe) {
                Ok(()) => {
                    pool.expiry.insert(id, expiry);
                }
                Err(reason) => self.event(Event::ElementSkipped {
                    pool_handle: req.pool_handle.clone(),
                    element: id,
                    reason,
                }),
            }
        }
        if self
            .cache
            .get(&req.pool_handle)
            .is_some_and(|p| p.selector.is_empty())
        {
            self.cache.remove(&req.pool_handle);
        }
        match req.kind {
            ReqKind::App(request) => {
                let n = usize::try_from(req.items).unwrap_or(usize::MAX);
                let elements = self.cache_select(&req.pool_handle, n, now, false);
                if elements.is_empty() {
                    self.fail_request(req, ResolveError::NoUsableElement, now);
                } else {
                    self.event(Event::Resolved {
                        request,
                        pool_handle: req.pool_handle,
                        elements,
                    });
                }
            }
            ReqKind::Session(sid) => {
                if !self.sessions.contains_key(&sid) {
                    return;
                }
                let pick = self.cache_select(&req.pool_handle, 1, now, false);
                match pick.into_iter().next() {
                    Some(pe) => self.session_connect(sid, pe, now),
                    None => self.session_wait(sid, ResolveError::NoUsableElement, now),
                }
            }
        }
    }

    pub(super) fn reg_channel(&self) -> Option<ChannelId> {
        match self.reg {
            RegState::Up { channel, .. } => Some(channel),
            RegState::Connecting { .. } | RegState::Idle => None,
        }
    }
}
