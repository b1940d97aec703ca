//! The timer table: the one place that knows every deadline of the pool
//! user, in the manner of quinn-proto's `TimerTable`.
//!
//! The states say *what* the pool user waits for (a registrar batch
//! connecting, a response, a PE connecting, a session's retry); the table
//! says *until when*. Arming a timer ([`PoolUser::arm`]) and stopping it
//! ([`PoolUser::disarm`]) are the only ways a deadline changes, so
//! [`PoolUser::poll_timeout`] is a minimum over the table and
//! [`PoolUser::handle_timeout`] fires what is due from it: no scan over
//! the states that could miss a deadline one of them keeps.
//!
//! | timer | armed when | stopped when | on expiry |
//! |---|---|---|---|
//! | `RegistrarConnect` | a hunt batch starts connecting | a registrar is up, or the batch is given up | every attempt of the batch fails with `ConnectTimeout` |
//! | `RegistrarResponse` | a request is sent with none outstanding, or the oldest is answered and another waits | the last outstanding request is answered, or the registrar is dropped | the registrar is dropped (`ResponseTimeout`) |
//! | `ElementConnect(s)` | session `s` connects to a PE | the PE is up, fails, or the session ends | failover (`ConnectTimeout`) |
//! | `SessionRetry(s)` | session `s` found no PE and waits | it resolves again, or ends | it resolves again |

use super::*;

/// Armed timers and their deadlines; at most one entry per [`Timer`].
#[derive(Clone, Debug, Default)]
pub(super) struct TimerTable {
    armed: Map<Timer, Duration>,
}

impl TimerTable {
    pub(super) fn set(&mut self, timer: Timer, at: Duration) {
        self.armed.insert(timer, at);
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.armed.remove(&timer);
    }

    /// Whether `timer` is armed and due at `now`.
    pub(super) fn is_due(&self, timer: Timer, now: Duration) -> bool {
        self.armed.get(&timer).is_some_and(|&at| at <= now)
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Duration> {
        self.armed.iter().map(|(_, &at)| at).min()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.armed.len()
    }
}

impl Timer {
    /// The session a session timer belongs to.
    pub fn session(self) -> Option<SessionId> {
        match self {
            Timer::ElementConnect(s) | Timer::SessionRetry(s) => Some(s),
            Timer::RegistrarConnect | Timer::RegistrarResponse => None,
        }
    }
}

impl PoolUser {
    /// Arms (or re-arms) `timer` for `at`.
    pub(super) fn arm(&mut self, timer: Timer, at: Duration) {
        self.timers.set(timer, at);
        self.trace(Event::TimerArmed { timer, at });
    }

    /// Stops `timer` (no-op if it is not armed).
    pub(super) fn disarm(&mut self, timer: Timer) {
        self.timers.stop(timer);
    }

    /// Stops every timer of a session.
    pub(super) fn disarm_session(&mut self, sid: SessionId) {
        self.disarm(Timer::ElementConnect(sid));
        self.disarm(Timer::SessionRetry(sid));
    }

    /// The earliest deadline, if any timer is armed: when the driver must
    /// call [`PoolUser::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.timers.next()
    }

    /// Fires every timer due at `now`: the registrar's first (a dropped
    /// registrar re-queues requests before sessions retry), then the
    /// sessions' in session order.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.timers.is_due(Timer::RegistrarConnect, now) {
            self.disarm(Timer::RegistrarConnect);
            self.trace(Event::TimerFired {
                timer: Timer::RegistrarConnect,
                at: now,
            });
            if let RegState::Connecting { attempts } = self.reg.clone() {
                for a in attempts {
                    self.registrar_attempt_failed(a.channel, RegistrarFailure::ConnectTimeout, now);
                }
            }
        }
        if self.timers.is_due(Timer::RegistrarResponse, now) {
            self.disarm(Timer::RegistrarResponse);
            self.trace(Event::TimerFired {
                timer: Timer::RegistrarResponse,
                at: now,
            });
            self.drop_registrar(RegistrarFailure::ResponseTimeout, true, now);
        }
        // In session order (the table's own order puts every connect timer
        // before every retry; walking the sessions keeps the order the
        // driver saw before the table, without a sort in the download).
        let sessions: Vec<SessionId> = self.sessions.keys().copied().collect();
        let due = sessions
            .into_iter()
            .flat_map(|s| [Timer::ElementConnect(s), Timer::SessionRetry(s)]);
        for timer in due {
            // An earlier firing may have moved this session on.
            if !self.timers.is_due(timer, now) {
                continue;
            }
            self.disarm(timer);
            self.trace(Event::TimerFired { timer, at: now });
            match timer {
                Timer::ElementConnect(sid) => {
                    self.session_failed(sid, FailoverReason::ConnectTimeout, now)
                }
                Timer::SessionRetry(sid) => self.session_need_pe(sid, now),
                Timer::RegistrarConnect | Timer::RegistrarResponse => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: SessionId = SessionId(1);
    const S2: SessionId = SessionId(2);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_next_deadline_is_the_earliest_armed_one() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::RegistrarResponse, ms(300));
        t.set(Timer::SessionRetry(S1), ms(100));
        t.set(Timer::ElementConnect(S2), ms(200));
        assert_eq!(t.next(), Some(ms(100)));
        t.stop(Timer::SessionRetry(S1));
        assert_eq!(t.next(), Some(ms(200)));
    }

    #[test]
    fn re_arming_moves_a_deadline_instead_of_adding_one() {
        let mut t = TimerTable::default();
        t.set(Timer::RegistrarResponse, ms(100));
        t.set(Timer::RegistrarResponse, ms(400));
        assert_eq!(t.len(), 1);
        assert_eq!(t.next(), Some(ms(400)));
        assert!(!t.is_due(Timer::RegistrarResponse, ms(399)));
        assert!(t.is_due(Timer::RegistrarResponse, ms(400)));
    }

    #[test]
    fn a_stopped_timer_is_never_due() {
        let mut t = TimerTable::default();
        t.set(Timer::ElementConnect(S1), ms(10));
        t.stop(Timer::ElementConnect(S1));
        t.stop(Timer::ElementConnect(S2));
        assert!(!t.is_due(Timer::ElementConnect(S1), ms(1000)));
        assert_eq!(t.next(), None);
    }
}
