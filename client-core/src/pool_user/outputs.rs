//! Outputs the driver drains (actions, transmits, events, the next
//! deadline) and the helpers every concern uses to produce them.

use super::*;

impl PoolUser {
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline, if any timer is armed.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let mut t: Option<Duration> = None;
        let mut consider = |d: Duration| t = Some(t.map_or(d, |x| x.min(d)));
        if let RegState::Connecting { deadline, .. } = self.reg {
            consider(deadline);
        }
        if let Some(o) = self.outstanding.front() {
            consider(o.deadline);
        }
        for s in self.sessions.values() {
            match s.state {
                SState::Connecting { deadline, .. } => consider(deadline),
                SState::Waiting { until } => consider(until),
                _ => {}
            }
        }
        t
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

    pub(super) fn arm(&mut self, timer: Timer, at: Duration) {
        self.trace(Event::TimerArmed { timer, at });
    }

    pub(super) fn send_message(&mut self, channel: ChannelId, message: Message) {
        self.transmits.push_back(Transmit {
            channel,
            ppid: message.ppid(),
            bytes: message.to_bytes(),
        });
        self.trace(Event::MessageSent { channel, message });
    }

    pub(super) fn set_reg(&mut self, new: RegState) {
        let from = self.reg.name();
        self.reg = new;
        let to = self.reg.name();
        self.trace(Event::StateChanged(StateChange::Registrar { from, to }));
    }

    pub(super) fn set_session(&mut self, sid: SessionId, new: SState) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let from = s.state.name();
        let to = new.name();
        s.state = new;
        self.trace(Event::StateChanged(StateChange::Session {
            session: sid,
            from,
            to,
        }));
    }

    pub(super) fn close_channel(&mut self, channel: ChannelId) {
        if self.channels.remove(&channel).is_some() {
            self.actions.push_back(Action::Close { channel });
        }
    }
}
