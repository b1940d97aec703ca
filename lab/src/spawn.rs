//! Ad-hoc processes inside the lab (attackers, workloads of a scenario):
//! started by the agent on `spawn`, bounded in time, their stdout lines kept
//! for the host to read while they run, ended on `spawn-stop` or at their
//! timeout.
//!
//! [`SpawnTable`] is the agent's side; [`Spawned`] the host's (from any
//! process that knows the agent's address and token, e.g. through the lab's
//! `current.json`).

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::proto::{
    Request, Response, SpawnOutput, MAX_SPAWNED, MAX_SPAWN_LINE, MAX_SPAWN_LINES, MAX_SPAWN_MS,
    SPAWN_STOP_GRACE_MS,
};

/// Lines of stderr kept per spawned process.
const STDERR_TAIL: usize = 40;

/// Ended processes kept for a late `spawn-output`, oldest dropped first.
const KEEP_ENDED: usize = 32;

#[derive(Default)]
struct Buffer {
    lines: Vec<String>,
    dropped_lines: usize,
    stderr_tail: VecDeque<String>,
    running: bool,
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stop_requested: bool,
    /// Both pipes are at end of file (every line is in `lines`).
    stdout_done: bool,
}

impl Buffer {
    fn output(&self, id: u64, from_line: usize) -> SpawnOutput {
        let from = from_line.min(self.lines.len());
        SpawnOutput {
            id,
            lines: self.lines[from..].to_vec(),
            next_line: self.lines.len(),
            // Not ended until its output is all read: a caller that sees
            // `running: false` has every line.
            running: self.running || !self.stdout_done,
            code: self.code,
            signal: self.signal,
            timed_out: self.timed_out,
            dropped_lines: self.dropped_lines,
            stderr_tail: self.stderr_tail.iter().cloned().collect(),
        }
    }
}

type Shared = Arc<Mutex<Buffer>>;

fn lock(b: &Shared) -> std::sync::MutexGuard<'_, Buffer> {
    b.lock().unwrap_or_else(|e| e.into_inner())
}

/// The agent's spawned processes.
#[derive(Default)]
pub struct SpawnTable {
    next_id: u64,
    procs: BTreeMap<u64, Shared>,
}

impl SpawnTable {
    /// Starts `program` with `path` as its PATH; the id to ask about it.
    pub fn spawn(
        &mut self,
        program: &str,
        args: &[String],
        timeout: Duration,
        path: &str,
    ) -> Result<u64> {
        let running = self.procs.values().filter(|b| lock(b).running).count();
        if running >= MAX_SPAWNED {
            bail!("{running} spawned processes are running already (at most {MAX_SPAWNED})");
        }
        self.forget_old();
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: a timeout or stop ends whatever it started.
            .process_group(0);
        // A process started from a background job inherits SIGINT ignored
        // (and a shell cannot trap a signal ignored on entry), so a stop
        // would not reach it: give the child the default dispositions.
        // SAFETY: signal(2) is async-signal-safe; nothing else runs here.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGQUIT, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| anyhow::anyhow!("{program}: {e}"))?;
        self.next_id += 1;
        let id = self.next_id;
        let buf: Shared = Arc::new(Mutex::new(Buffer {
            running: true,
            ..Buffer::default()
        }));
        self.procs.insert(id, buf.clone());

        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let b = buf.clone();
        std::thread::spawn(move || {
            if let Some(o) = stdout {
                read_lines(o, |line| {
                    let mut g = lock(&b);
                    if g.lines.len() < MAX_SPAWN_LINES {
                        g.lines.push(line);
                    } else {
                        g.dropped_lines += 1;
                    }
                });
            }
            lock(&b).stdout_done = true;
        });
        let b = buf.clone();
        std::thread::spawn(move || {
            if let Some(e) = stderr {
                read_lines(e, |line| {
                    let mut g = lock(&b);
                    if g.stderr_tail.len() == STDERR_TAIL {
                        g.stderr_tail.pop_front();
                    }
                    g.stderr_tail.push_back(line);
                });
            }
        });
        // The watchdog owns the child: it reaps it, and ends its group at
        // the timeout or when a stop is asked for.
        let b = buf;
        let timeout = timeout.min(Duration::from_millis(MAX_SPAWN_MS));
        std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            let mut sigint_at: Option<Instant> = None;
            let pgid = i32::try_from(child.id()).ok();
            let group = |sig: i32| {
                if let Some(p) = pgid {
                    // SAFETY: kill(2) on the process group we created.
                    unsafe { libc::kill(-p, sig) };
                }
            };
            let status = loop {
                match child.try_wait() {
                    Ok(Some(s)) => break Some(s),
                    Ok(None) => {}
                    Err(_) => break None,
                }
                let now = Instant::now();
                if now > deadline {
                    lock(&b).timed_out = true;
                    group(libc::SIGKILL);
                    break child.wait().ok();
                }
                let stop = lock(&b).stop_requested;
                match sigint_at {
                    None if stop => {
                        group(libc::SIGINT);
                        sigint_at = Some(now);
                    }
                    Some(t)
                        if now.duration_since(t) > Duration::from_millis(SPAWN_STOP_GRACE_MS) =>
                    {
                        group(libc::SIGKILL);
                        break child.wait().ok();
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            // Whatever the leader left behind in its group goes too.
            group(libc::SIGKILL);
            use std::os::unix::process::ExitStatusExt;
            let mut g = lock(&b);
            g.running = false;
            g.code = status.and_then(|s| s.code());
            g.signal = status.and_then(|s| s.signal());
        });
        Ok(id)
    }

    fn forget_old(&mut self) {
        let ended: Vec<u64> = self
            .procs
            .iter()
            .filter(|(_, b)| !lock(b).running)
            .map(|(id, _)| *id)
            .collect();
        for id in ended.iter().take(ended.len().saturating_sub(KEEP_ENDED)) {
            self.procs.remove(id);
        }
    }

    fn get(&self, id: u64) -> Result<Shared> {
        match self.procs.get(&id) {
            Some(b) => Ok(b.clone()),
            None => bail!("no spawned process {id}"),
        }
    }

    /// Its output from `from_line` on.
    pub fn output(&self, id: u64, from_line: usize) -> Result<SpawnOutput> {
        Ok(lock(&self.get(id)?).output(id, from_line))
    }

    /// Asks it to stop; the caller waits with [`Stopping::wait_ended`]
    /// (without holding the table).
    pub fn request_stop(&self, id: u64) -> Result<Stopping> {
        let b = self.get(id)?;
        lock(&b).stop_requested = true;
        Ok(Stopping { id, buf: b })
    }
}

/// A spawned process asked to stop.
pub struct Stopping {
    id: u64,
    buf: Shared,
}

impl Stopping {
    /// Waits (bounded) until it has ended and its output is all read.
    pub fn wait_ended(&self, from_line: usize) -> SpawnOutput {
        wait_ended(&self.buf, self.id, from_line)
    }
}

fn wait_ended(b: &Shared, id: u64, from_line: usize) -> SpawnOutput {
    let deadline = Instant::now() + Duration::from_millis(SPAWN_STOP_GRACE_MS + 3_000);
    loop {
        let out = lock(b).output(id, from_line);
        if !out.running || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Calls `f` with each line of `r` (lossy UTF-8, at most
/// [`MAX_SPAWN_LINE`] bytes kept of each), until end of file.
fn read_lines(r: impl Read, mut f: impl FnMut(String)) {
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                buf.truncate(MAX_SPAWN_LINE);
                f(String::from_utf8_lossy(&buf).into_owned());
            }
        }
    }
}

/// The host's handle on a process spawned in the lab: reads its new lines
/// as it runs and stops it. Needs only the agent's address and token, so
/// another process than the one that started the lab can use it. Dropping
/// it stops the process.
pub struct Spawned {
    addr: String,
    token: String,
    id: u64,
    next_line: usize,
    ended: bool,
}

impl Spawned {
    /// Starts `program args…` inside the lab, killed after `timeout`.
    pub fn start(
        addr: &str,
        token: &str,
        program: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<Spawned> {
        match crate::request_agent(
            addr,
            token,
            Request::Spawn {
                program: program.into(),
                args: args.to_vec(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            },
        )? {
            Response::Spawned { id } => Ok(Spawned {
                addr: addr.into(),
                token: token.into(),
                id,
                next_line: 0,
                ended: false,
            }),
            Response::Error { message } => bail!("spawn {program}: {message}"),
            other => bail!("unexpected agent answer {other:?}"),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    fn ask(&mut self, req: Request) -> Result<SpawnOutput> {
        match crate::request_agent(&self.addr, &self.token, req)? {
            Response::SpawnOutput(o) => {
                self.next_line = o.next_line;
                self.ended = !o.running;
                Ok(o)
            }
            Response::Error { message } => bail!("spawned process {}: {message}", self.id),
            other => bail!("unexpected agent answer {other:?}"),
        }
    }

    /// The lines printed since the last call, and its state.
    pub fn poll(&mut self) -> Result<SpawnOutput> {
        let req = Request::SpawnOutput {
            id: self.id,
            from_line: self.next_line,
        };
        self.ask(req)
    }

    /// Stops it (SIGINT, then SIGKILL) and returns the lines not yet read.
    pub fn stop(&mut self) -> Result<SpawnOutput> {
        let req = Request::SpawnStop {
            id: self.id,
            from_line: self.next_line,
        };
        self.ask(req)
    }

    /// Polls every `every` until it ends by itself (or `timeout` passes,
    /// then stops it), handing each batch of new lines to `f`.
    pub fn wait(
        &mut self,
        every: Duration,
        timeout: Duration,
        mut f: impl FnMut(&[String]),
    ) -> Result<SpawnOutput> {
        let deadline = Instant::now() + timeout;
        loop {
            let o = self.poll()?;
            f(&o.lines);
            if !o.running {
                return Ok(o);
            }
            if Instant::now() > deadline {
                let o = self.stop()?;
                f(&o.lines);
                return Ok(o);
            }
            std::thread::sleep(every);
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(t: &mut SpawnTable, script: &str, timeout_ms: u64) -> u64 {
        t.spawn(
            "sh",
            &["-c".into(), script.into()],
            Duration::from_millis(timeout_ms),
            &std::env::var("PATH").unwrap_or_default(),
        )
        .expect("spawn sh")
    }

    fn until_ended(t: &SpawnTable, id: u64) -> SpawnOutput {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let o = t.output(id, 0).unwrap();
            if !o.running || Instant::now() > deadline {
                return o;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn collects_stdout_lines_while_running_and_the_exit_code() {
        let mut t = SpawnTable::default();
        let id = sh(
            &mut t,
            "echo one; echo two; sleep 2; echo three >&2; exit 3",
            10_000,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let first = loop {
            let o = t.output(id, 0).unwrap();
            if o.lines.len() >= 2 || Instant::now() > deadline {
                break o;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(first.running);
        assert_eq!(first.lines, ["one", "two"]);
        let last = until_ended(&t, id);
        assert_eq!(
            (last.running, last.code, last.timed_out),
            (false, Some(3), false)
        );
        assert_eq!(last.stderr_tail, ["three"]);
        // Reading on from where the last read ended gives only new lines.
        assert!(t.output(id, first.next_line).unwrap().lines.is_empty());
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let mut t = SpawnTable::default();
        // `cat` keeps stdout open as long as `sleep` lives.
        let id = sh(&mut t, "echo started; sleep 30 | cat", 300);
        let o = until_ended(&t, id);
        assert!(!o.running && o.timed_out, "{o:?}");
        assert_eq!(o.signal, Some(libc::SIGKILL));
        assert_eq!(o.lines, ["started"]);
    }

    #[test]
    fn stop_sends_sigint_first_so_the_process_can_say_goodbye() {
        let mut t = SpawnTable::default();
        let id = sh(
            &mut t,
            "trap 'echo bye; exit 0' INT; echo up; while :; do sleep 0.05; done",
            10_000,
        );
        std::thread::sleep(Duration::from_millis(200));
        let b = t.request_stop(id).unwrap();
        let o = b.wait_ended(0);
        assert!(!o.running, "{o:?}");
        assert_eq!(o.lines, ["up", "bye"]);
        assert!(!o.timed_out);
    }

    #[test]
    fn unknown_ids_and_missing_programs_are_errors() {
        let mut t = SpawnTable::default();
        assert!(t
            .output(7, 0)
            .unwrap_err()
            .to_string()
            .contains("no spawned process 7"));
        let e = t
            .spawn("/no/such/program", &[], Duration::from_secs(1), "")
            .unwrap_err();
        assert!(e.to_string().contains("/no/such/program"), "{e}");
    }

    #[test]
    fn at_most_max_spawned_run_at_once() {
        let mut t = SpawnTable::default();
        let ids: Vec<u64> = (0..MAX_SPAWNED)
            .map(|_| sh(&mut t, "sleep 5", 5_000))
            .collect();
        let e = t
            .spawn("true", &[], Duration::from_secs(1), "/usr/bin:/bin")
            .unwrap_err();
        assert!(e.to_string().contains("at most"), "{e}");
        for id in ids {
            let b = t.request_stop(id).unwrap();
            assert!(!b.wait_ended(0).running);
        }
    }
}
