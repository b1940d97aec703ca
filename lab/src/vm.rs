//! Booting the micro-VM: qemu-system-x86_64 with TCG (KVM hangs on this
//! kind of host), user-mode networking with host ports forwarded from
//! 127.0.0.1 only, a 9p share for run-specific files, and the serial console
//! in a file that doubles as the readiness signal.
//!
//! The VM never outlives its owner: qemu gets SIGKILL when the process that
//! started it dies (`PR_SET_PDEATHSIG`), and [`Vm`] kills it on drop.

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::image::Image;

/// A TCP port of the guest made reachable on the host's 127.0.0.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub guest_port: u16,
    pub host_port: u16,
}

/// How to boot.
#[derive(Clone, Debug)]
pub struct VmConfig {
    /// Directory shared with the guest as `/share` (holds `init.sh`).
    pub share: PathBuf,
    /// Guest TCP ports to forward; each gets a free host port on 127.0.0.1.
    pub guest_ports: Vec<u16>,
    /// Guest memory in MiB (128 works, 96 panics; 256 is comfortable).
    pub memory_mib: u32,
}

/// A running VM.
pub struct Vm {
    child: Option<Child>,
    console: PathBuf,
    forwards: Vec<Forward>,
    started: Instant,
}

/// A free TCP port on 127.0.0.1 (bound and released; qemu binds it next).
fn free_port() -> Result<u16> {
    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?.port())
}

impl Vm {
    /// Boots the image. Returns as soon as qemu runs; use
    /// [`Vm::wait_for_console`] to wait for the guest.
    pub fn boot(image: &Image, config: &VmConfig) -> Result<Vm> {
        let qemu = "qemu-system-x86_64";
        let console = config.share.join("console.log");
        let _ = fs::remove_file(&console);
        let mut forwards = Vec::new();
        let mut netdev = String::from("user,id=n0,net=10.0.2.0/24");
        for &guest_port in &config.guest_ports {
            let host_port = free_port()?;
            netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host_port}-:{guest_port}"));
            forwards.push(Forward {
                guest_port,
                host_port,
            });
        }
        let mut cmd = Command::new(qemu);
        cmd.args([
            "-accel",
            "tcg",
            "-nodefaults",
            "-no-reboot",
            "-display",
            "none",
        ])
        .args(["-monitor", "none", "-m", &config.memory_mib.to_string()])
        .arg("-kernel")
        .arg(&image.kernel)
        .arg("-initrd")
        .arg(&image.initrd)
        .args([
            "-append",
            "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init",
        ])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .args(["-netdev", &netdev])
        .args(["-device", "e1000,netdev=n0,romfile="])
        .arg("-virtfs")
        .arg(format!(
            "local,path={},mount_tag=lab,security_model=none,id=lab",
            config.share.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; nothing else runs between
            // fork and exec here.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        // PR_SET_PDEATHSIG fires when the *thread* that forked the child
        // ends, not the process: fork from a thread that lives as long as
        // this process, so a VM started on a short-lived thread (a test
        // harness thread, say) is not killed when that thread returns.
        let child = spawn_from_process_lifetime_thread(cmd)
            .with_context(|| format!("starting {qemu} (scripts/setup installs qemu-system-x86)"))?;
        Ok(Vm {
            child: Some(child),
            console,
            forwards,
            started: Instant::now(),
        })
    }

    /// The forwarded ports.
    pub fn forwards(&self) -> &[Forward] {
        &self.forwards
    }

    /// The host port that reaches `guest_port`, if it was forwarded.
    pub fn host_port(&self, guest_port: u16) -> Option<u16> {
        self.forwards
            .iter()
            .find(|f| f.guest_port == guest_port)
            .map(|f| f.host_port)
    }

    /// The guest's serial console so far.
    pub fn console(&self) -> String {
        fs::read(&self.console)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn console_path(&self) -> &Path {
        &self.console
    }

    /// Time since qemu was started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// qemu's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits until a console line contains `marker`. Fails early if qemu
    /// exits or a line contains `failure`.
    pub fn wait_for_console(
        &mut self,
        marker: &str,
        failure: &str,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.console();
            if text.lines().any(|l| l.contains(marker)) {
                return Ok(());
            }
            if let Some(l) = text.lines().find(|l| l.contains(failure)) {
                bail!("the lab VM reported: {l}");
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    bail!(
                        "qemu exited ({status}) before '{marker}': {}\nconsole:\n{}",
                        err.trim(),
                        tail(&text, 30)
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "no '{marker}' from the lab VM after {timeout:?}; console:\n{}",
                    tail(&text, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills qemu and waits for it. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns `cmd` on one long-lived helper thread (see [`Vm::boot`]).
fn spawn_from_process_lifetime_thread(cmd: Command) -> std::io::Result<Child> {
    use std::sync::mpsc;
    use std::sync::{Mutex, OnceLock};
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("lab-vm-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawning the lab's VM spawner thread");
        Mutex::new(tx)
    });
    let (reply, result) = mpsc::channel();
    tx.lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply))
        .map_err(|_| std::io::Error::other("VM spawner thread is gone"))?;
    result
        .recv()
        .map_err(|_| std::io::Error::other("VM spawner thread is gone"))?
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
