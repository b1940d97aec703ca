//! A host-side subscription to the agent's event stream (`subscribe` on the
//! control protocol): process started/ended, readiness, Component Status
//! reports and the gateway's tap, one [`Event`] per line.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::proto::{Event, Request, Response};

/// An open `subscribe` connection to a lab agent.
pub struct Subscription {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Subscription {
    /// Connects to the agent at `addr`, authenticates with the run's token
    /// and subscribes. Events flow from the moment this returns.
    pub fn open(addr: &str, token: &str) -> Result<Subscription> {
        let mut stream = TcpStream::connect(addr)
            .with_context(|| format!("connecting to the lab agent at {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        for req in [
            Request::Hello {
                token: token.to_string(),
            },
            Request::Subscribe,
        ] {
            writeln!(stream, "{}", serde_json::to_string(&req)?)?;
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                bail!("the lab agent closed the connection");
            }
            match serde_json::from_str(line.trim())
                .with_context(|| format!("agent answer {line:?}"))?
            {
                Response::Ok => {}
                Response::Error { message } => bail!("lab agent: {message}"),
                other => bail!("unexpected agent answer {other:?}"),
            }
        }
        // From here on the agent writes only when something happens.
        stream.set_read_timeout(None)?;
        Ok(Subscription { reader, stream })
    }

    /// The next event; an error when the connection ends or breaks.
    pub fn next_event(&mut self) -> Result<Event> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("the lab agent closed the event stream");
            }
            match serde_json::from_str::<Response>(line.trim()) {
                Ok(Response::Event(e)) => return Ok(e),
                // An event kind this host does not know (a newer agent):
                // skip it rather than end the stream.
                Ok(_) | Err(_) => continue,
            }
        }
    }

    /// Ends the subscription from another thread (the blocked
    /// [`Subscription::next_event`] then returns an error).
    pub fn closer(&self) -> Result<TcpStream> {
        Ok(self.stream.try_clone()?)
    }
}
