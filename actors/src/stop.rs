//! Stopping: SIGINT/SIGTERM and the run's deadline.

use tokio::sync::watch;
use tokio::time::Instant;

/// Set once SIGINT or SIGTERM arrived.
#[derive(Clone, Debug)]
pub struct Stop {
    rx: watch::Receiver<bool>,
}

impl Stop {
    /// Listens for SIGINT and SIGTERM (needs a tokio runtime).
    pub fn on_signals() -> std::io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            let _ = tx.send(true);
            // Keep the sender: receivers must not see a closed channel.
            std::future::pending::<()>().await;
        });
        Ok(Stop { rx })
    }

    /// A stop that never fires (tests).
    pub fn never() -> Stop {
        let (tx, rx) = watch::channel(false);
        std::mem::forget(tx);
        Stop { rx }
    }

    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when a signal arrived.
    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|s| *s).await;
    }
}

/// What ended a wait: the deadline or a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Deadline,
    Signal,
}

/// Waits until `deadline` or a signal.
pub async fn until(deadline: Instant, stop: &mut Stop) -> Ended {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => Ended::Deadline,
        _ = stop.wait() => Ended::Signal,
    }
}
