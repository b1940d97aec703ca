//! The registrar hunt (RFC 5352 §3.4; RSPLIB's version in
//! docs/rsplib-behaviour.md, "Registrar hunt"): which registrar to connect
//! to, when to give one up, and flushing queued requests once one is up.

use super::*;

impl PoolUser {
    pub(super) fn usable_registrars(&self, now: Duration) -> usize {
        self.registrars.iter().filter(|r| r.usable(now)).count()
    }

    pub(super) fn ensure_registrar(&mut self, now: Duration) {
        match self.reg {
            RegState::Idle => {
                self.hunt_round = 0;
                self.hunt_tried = 0;
                self.try_next_registrar(now);
            }
            RegState::Connecting { .. } => {}
            RegState::Up { .. } => self.flush_registrar(now),
        }
    }

    /// RFC 5352 §3.4 hunt: the next `hunt_parallel` usable registrars in
    /// table order, at once (RSPLIB `MAX_SIMULTANEOUS_REQUESTS` = 3).
    pub(super) fn try_next_registrar(&mut self, now: Duration) {
        // Forget announced registrars whose lifetime is over (T7, RSPLIB 5 s).
        self.registrars
            .retain(|r| r.announced.is_none_or(|(_, exp)| now < exp));
        let usable = self.usable_registrars(now);
        if usable > 0 && self.hunt_tried >= usable {
            self.hunt_round += 1;
            self.hunt_tried = 0;
        }
        if usable == 0 || self.hunt_round >= self.cfg.hunt_rounds {
            let error = ResolveError::NoRegistrarReachable {
                registrars: self.registrars.len() as u32,
                rounds: self.hunt_round,
            };
            self.set_reg(RegState::Idle);
            self.reports.clear();
            while let Some(req) = self.queue.pop_front() {
                self.fail_request(req, error.clone(), now);
            }
            return;
        }
        let n = self.registrars.len();
        let want = self.cfg.hunt_parallel.max(1).min(usable - self.hunt_tried);
        let start = self.hunt_position % n;
        let picked: Vec<usize> = (0..n)
            .map(|k| (start + k) % n)
            .filter(|&i| self.registrars[i].usable(now))
            .take(want)
            .collect();
        let Some(&last) = picked.last() else {
            return;
        };
        self.hunt_position = last + 1;
        self.hunt_tried += picked.len();
        let deadline = now + self.cfg.registrar_connect_timeout;
        let mut attempts = Vec::new();
        for idx in picked {
            let endpoint = self.registrars[idx].endpoint.clone();
            let channel = ChannelId(self.next());
            self.channels.insert(channel, Owner::Registrar);
            attempts.push(Attempt {
                channel,
                endpoint: endpoint.clone(),
            });
            self.actions
                .push_back(Action::ConnectRegistrar { channel, endpoint });
        }
        self.set_reg(RegState::Connecting { attempts });
        self.arm(Timer::RegistrarConnect, deadline);
    }

    /// One connection attempt of the current batch failed. When none is
    /// left, the hunt goes on with the next batch.
    pub(super) fn registrar_attempt_failed(
        &mut self,
        channel: ChannelId,
        reason: RegistrarFailure,
        now: Duration,
    ) {
        let RegState::Connecting { attempts } = self.reg.clone() else {
            return;
        };
        let Some(pos) = attempts.iter().position(|a| a.channel == channel) else {
            return;
        };
        let mut attempts = attempts;
        let endpoint = attempts.remove(pos).endpoint;
        self.close_channel(channel);
        if let RegistrarFailure::AuthenticationFailed(_) = reason {
            // RFC 5355 §2.7: do not use a registrar that failed
            // authentication; keep it out of hunts for a while.
            let until = now + self.cfg.auth_failure_holdoff;
            for r in self
                .registrars
                .iter_mut()
                .filter(|r| r.endpoint == endpoint)
            {
                r.held_until = Some(until);
            }
        }
        self.event(Event::RegistrarFailed { endpoint, reason });
        if !attempts.is_empty() {
            self.reg = RegState::Connecting { attempts };
            return;
        }
        self.set_reg(RegState::Idle);
        if self.queue.is_empty() && self.reports.is_empty() {
            return;
        }
        self.try_next_registrar(now);
    }

    /// Gives up the registrar that is up (RSPLIB drops the association on
    /// timeouts, unexpected responses and errors; docs/rsplib-behaviour.md,
    /// "Registrar hunt"). Outstanding
    /// requests go back to the queue; with `count_trial` each has used
    /// up one trial.
    pub(super) fn drop_registrar(
        &mut self,
        reason: RegistrarFailure,
        count_trial: bool,
        now: Duration,
    ) {
        let RegState::Up { channel, endpoint } = self.reg.clone() else {
            return;
        };
        self.close_channel(channel);
        self.event(Event::RegistrarFailed { endpoint, reason });
        self.set_reg(RegState::Idle);
        // The taken deque itself, not `drain(..).collect()` into a Vec: no
        // Drain iterator or conversion per element type (browser download
        // size, BENCHMARKS.md "Browser package size").
        let outstanding = std::mem::take(&mut self.outstanding);
        self.disarm(Timer::RegistrarResponse);
        for o in outstanding.into_iter().rev() {
            let mut req = o.req;
            if count_trial {
                req.trials += 1;
                if req.trials >= self.cfg.request_max_trials {
                    let error = ResolveError::Timeout {
                        registrars_tried: req.trials,
                    };
                    self.fail_request(req, error, now);
                    continue;
                }
            }
            self.queue.push_front(req);
        }
        if !self.queue.is_empty() || !self.reports.is_empty() {
            self.hunt_round = 0;
            self.hunt_tried = 0;
            self.try_next_registrar(now);
        }
    }

    pub(super) fn registrar_up(&mut self, channel: ChannelId, now: Duration) {
        let RegState::Connecting { attempts, .. } = self.reg.clone() else {
            return;
        };
        let Some(endpoint) = attempts
            .iter()
            .find(|a| a.channel == channel)
            .map(|a| a.endpoint.clone())
        else {
            return;
        };
        // The first association up wins; the other attempts are abandoned.
        for a in attempts.iter().filter(|a| a.channel != channel) {
            self.close_channel(a.channel);
        }
        // The next hunt starts after this registrar (a dropped registrar is
        // not asked again first).
        if let Some(i) = self.registrars.iter().position(|r| r.endpoint == endpoint) {
            self.hunt_position = i + 1;
        }
        self.set_reg(RegState::Up {
            channel,
            endpoint: endpoint.clone(),
        });
        self.hunt_round = 0;
        self.hunt_tried = 0;
        self.event(Event::RegistrarUp {
            channel,
            endpoint: endpoint.clone(),
        });
        if let Some(prev) = self.home.replace(endpoint.clone()) {
            if prev != endpoint {
                self.event(Event::RegistrarChanged {
                    from: prev,
                    to: endpoint,
                });
            }
        }
        self.flush_registrar(now);
    }

    /// Sends queued requests and reports to the registrar that is up.
    pub(super) fn flush_registrar(&mut self, now: Duration) {
        let RegState::Up { channel, .. } = self.reg else {
            return;
        };
        while let Some(eu) = self.reports.pop_front() {
            let (pool_handle, element) = (eu.pool_handle.clone(), eu.pe_id);
            self.send_message(channel, Message::Asap(AsapMessage::EndpointUnreachable(eu)));
            self.event(Event::ReportSent {
                pool_handle,
                element,
            });
        }
        while let Some(req) = self.queue.pop_front() {
            // The Items option is RSPLIB's; it sends it only with stale
            // cache 0 or "all" (docs/rsplib-behaviour.md, "Handle Resolution and the cache").
            let option = (self.cfg.stale_cache.is_zero()
                || req.items == consts::HANDLE_RESOLUTION_ITEMS_ALL)
                .then_some(HandleResolutionOption { items: req.items });
            let msg = Message::Asap(AsapMessage::HandleResolution(HandleResolution {
                pool_handle: req.pool_handle.clone(),
                option,
            }));
            self.send_message(channel, msg);
            let deadline = now + self.cfg.response_timeout;
            if self.outstanding.is_empty() {
                self.arm(Timer::RegistrarResponse, deadline);
            }
            self.outstanding.push_back(Outstanding { req, deadline });
        }
    }
}
