//! Outputs the driver drains (actions, transmits, events, the next
//! deadline) and the helpers every concern uses to produce them.

use super::*;

impl PoolUser {
    /// The next channel to open or close, if any. Drain after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next message to send, if any. Drain after every input.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next application or trace event, if any. Drain after every input.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ------------------------------------------------------------ helpers

    pub(super) fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    pub(super) fn trace(&mut self, e: Event) {
        if self.cfg.trace {
            self.events.push_back(e);
        }
    }

    /// Traces a received message at queue position `at` (where it stood
    /// before handling it), so the message is handled by reference and
    /// moved into its trace event instead of cloned for it (browser
    /// download size: no `Message::clone`).
    pub(super) fn trace_received_at(&mut self, at: usize, channel: ChannelId, message: Message) {
        if self.cfg.trace {
            let at = at.min(self.events.len());
            self.events
                .insert(at, Event::MessageReceived { channel, message });
        }
    }

    pub(super) fn send_message(&mut self, channel: ChannelId, message: Message) {
        self.transmits.push_back(Transmit {
            channel,
            ppid: message.ppid(),
            bytes: message.to_bytes(),
        });
        self.trace(Event::MessageSent { channel, message });
    }

    /// Every registrar state change goes through here: it leaves the
    /// connect timer armed only while a batch is connecting, and traces
    /// the change.
    pub(super) fn set_reg(&mut self, new: RegState) {
        if !matches!(new, RegState::Connecting { .. }) {
            self.disarm(Timer::RegistrarConnect);
        }
        let old = std::mem::replace(&mut self.reg, new);
        if self.cfg.trace {
            let change = StateChange::Registrar {
                from: old.public(),
                to: self.reg.public(),
            };
            self.events.push_back(Event::StateChanged(change));
        }
    }

    /// Every session state change goes through here: the session's timers
    /// are stopped (the caller arms the one the new state waits on), and
    /// the change is traced.
    pub(super) fn set_session(&mut self, sid: SessionId, new: SState) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let old = std::mem::replace(&mut s.state, new);
        let change = self.cfg.trace.then(|| StateChange::Session {
            session: sid,
            from: old.public(),
            to: s.state.public(),
        });
        self.disarm_session(sid);
        if let Some(change) = change {
            self.events.push_back(Event::StateChanged(change));
        }
    }

    pub(super) fn close_channel(&mut self, channel: ChannelId) {
        if self.channels.remove(&channel).is_some() {
            self.actions.push_back(Action::Close { channel });
        }
    }
}
