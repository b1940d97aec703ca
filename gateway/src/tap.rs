//! The message tap: every ASAP message a session carries, decoded, as JSON
//! lines for the lab's sequence charts (`GET /tap` on the metrics listener).

use client_core::wire::Message;
use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    FromClient,
    FromRegistrar,
    FromPoolElement,
}

#[derive(Clone, Debug, Serialize)]
pub struct TapEvent {
    pub session: u64,
    pub direction: Direction,
    pub channel: u16,
    pub message_type: &'static str,
    pub message: Message,
}

#[derive(Clone)]
pub struct Tap(broadcast::Sender<TapEvent>);

impl Default for Tap {
    fn default() -> Self {
        Tap(broadcast::channel(1024).0)
    }
}

impl Tap {
    pub fn publish(&self, session: u64, direction: Direction, channel: u16, m: &Message) {
        // Nobody listening is the normal case: skip the clone.
        if self.0.receiver_count() > 0 {
            let _ = self.0.send(TapEvent {
                session,
                direction,
                channel,
                message_type: m.type_name(),
                message: m.clone(),
            });
        }
    }
    pub fn subscribe(&self) -> broadcast::Receiver<TapEvent> {
        self.0.subscribe()
    }
}
