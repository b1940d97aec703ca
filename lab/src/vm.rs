//! Booting the micro-VM: qemu-system-x86_64 with TCG (KVM hangs on this
//! kind of host), user-mode networking with host ports forwarded from
//! 127.0.0.1 only, a 9p share for run-specific files, and the serial console
//! in a file that doubles as the readiness signal.
//!
//! Boot time is most of a lab start, so the choices here are measured ones
//! (BENCHMARKS.md, "Lab boot time"): qemu's `microvm` machine (no PCI bus,
//! no firmware work, virtio-mmio devices), the kernel loaded uncompressed
//! through its PVH entry point, RDRAND for the guest so that its CRNG is
//! ready at once (the gateway's key generation otherwise blocked on
//! entropy for over a second), and the TSC frequency on the command line:
//! microvm has no HPET or ACPI PM timer to calibrate against, and the PIT
//! calibration fails on a loaded host, leaving a guest without a clock.
//! `RSERPOOL_LAB_MACHINE=pc` boots the classic PC instead (slower, with
//! HPET); it is also the choice where the host's TSC rate is unknown.
//!
//! qemu's stderr goes to `qemu-stderr.log` beside the console, so that a VM
//! that dies leaves its reason behind; [`Vm::exit`] tells whether qemu is
//! gone and why (its exit status, the tail of its stderr and of the console).
//!
//! The VM never outlives its owner: qemu gets SIGKILL when the process that
//! started it dies (`PR_SET_PDEATHSIG`), and [`Vm`] kills it on drop.

use std::fs;
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
    stderr: PathBuf,
    forwards: Vec<Forward>,
    started: Instant,
}

/// The qemu machine type (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `-machine microvm`, virtio-mmio; the guest is told the TSC rate.
    Microvm { tsc_khz: u32 },
    /// `-machine pc`, virtio-pci, HPET for clock calibration.
    Pc,
}

impl Machine {
    /// `RSERPOOL_LAB_MACHINE=microvm|pc` if set, else microvm when the
    /// host's TSC rate can be measured (x86-64 with an invariant TSC: under
    /// TCG the guest reads the host's TSC), else pc.
    pub fn choose() -> Result<Machine> {
        let env = std::env::var("RSERPOOL_LAB_MACHINE").ok();
        Machine::choose_from(env.as_deref(), host_tsc_khz())
    }

    fn choose_from(env: Option<&str>, tsc_khz: Option<u32>) -> Result<Machine> {
        match (env, tsc_khz) {
            (Some("pc"), _) => Ok(Machine::Pc),
            (Some("microvm") | None, Some(tsc_khz)) => Ok(Machine::Microvm { tsc_khz }),
            (Some("microvm"), None) => {
                bail!("RSERPOOL_LAB_MACHINE=microvm needs the host's TSC rate, which is unknown here (use pc)")
            }
            (None, None) => Ok(Machine::Pc),
            (Some(other), _) => bail!("RSERPOOL_LAB_MACHINE={other:?}: use microvm or pc"),
        }
    }

    /// qemu arguments for the machine, CPU, NIC and share devices.
    fn qemu_args(self, netdev: &str, share: &Path) -> Vec<String> {
        let (machine, bus) = match self {
            Machine::Microvm { .. } => ("microvm", "device"),
            Machine::Pc => ("pc", "pci"),
        };
        let rom = if bus == "pci" { ",romfile=" } else { "" };
        // qemu's option syntax doubles a literal comma.
        let path = share.display().to_string().replace(',', ",,");
        [
            "-machine",
            machine,
            // RDRAND: the guest kernel seeds its CRNG from it at boot.
            // AES-NI, PCLMULQDQ and SSSE3/SSE4 (on every x86-64 CPU of the
            // last decade, and emulated by TCG): without them TLS runs
            // ring's table-based AES and software GHASH, which under TCG
            // made every gateway message cost far more than on hardware.
            "-cpu",
            "qemu64,+rdrand,+ssse3,+sse4.1,+sse4.2,+popcnt,+aes,+pclmulqdq",
            "-netdev",
            netdev,
            "-device",
            &format!("virtio-net-{bus},netdev=n0{rom}"),
            "-fsdev",
            &format!("local,id=lab,path={path},security_model=none"),
            "-device",
            &format!("virtio-9p-{bus},fsdev=lab,mount_tag=lab"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// The kernel command line.
    pub fn kernel_cmdline(self) -> String {
        // cryptomgr.notests: the crypto API's boot self-tests took 0.2–0.3 s
        // of TCG time; the lab relies on none of them.
        let mut s = String::from(
            "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init \
             random.trust_cpu=on cryptomgr.notests",
        );
        match self {
            Machine::Microvm { tsc_khz } => {
                // No calibration against timers microvm lacks; no watchdog
                // comparing the TSC with jiffies, which lag under load.
                s.push_str(&format!(
                    " tsc_early_khz={tsc_khz} tsc=reliable lab.virtio=mmio"
                ));
            }
            Machine::Pc => s.push_str(" lab.virtio=pci"),
        }
        s
    }
}

/// The host's TSC rate in kHz, measured once per process against the
/// monotonic clock (median of three 15 ms samples). `None` off x86-64 or
/// without an invariant TSC.
pub fn host_tsc_khz() -> Option<u32> {
    static KHZ: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *KHZ.get_or_init(measure_tsc_khz)
}

#[cfg(target_arch = "x86_64")]
fn measure_tsc_khz() -> Option<u32> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").ok()?;
    let flags = cpuinfo.lines().find(|l| l.starts_with("flags"))?;
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    if !(has("constant_tsc") && has("nonstop_tsc")) {
        return None;
    }
    let mut samples: Vec<u64> = (0..3)
        .map(|_| {
            let t0 = Instant::now();
            // SAFETY: RDTSC has no preconditions on x86-64.
            let c0 = unsafe { core::arch::x86_64::_rdtsc() };
            std::thread::sleep(Duration::from_millis(15));
            let c1 = unsafe { core::arch::x86_64::_rdtsc() };
            let ns = t0.elapsed().as_nanos().max(1);
            u64::try_from(u128::from(c1.wrapping_sub(c0)) * 1_000_000 / ns).unwrap_or(0)
        })
        .collect();
    samples.sort_unstable();
    let khz = u32::try_from(samples[1]).ok()?;
    // A TSC outside 100 MHz .. 10 GHz is a measurement gone wrong.
    (100_000..=10_000_000).contains(&khz).then_some(khz)
}

#[cfg(not(target_arch = "x86_64"))]
fn measure_tsc_khz() -> Option<u32> {
    None
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
        let stderr = config.share.join("qemu-stderr.log");
        let stderr_file =
            fs::File::create(&stderr).with_context(|| format!("creating {}", stderr.display()))?;
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
        let machine = Machine::choose()?;
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
        .args(machine.qemu_args(&netdev, &config.share))
        .arg("-kernel")
        .arg(image.pvh_kernel.as_ref().unwrap_or(&image.kernel))
        .arg("-initrd")
        .arg(&image.initrd)
        .args(["-append", &machine.kernel_cmdline()])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr_file));
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
            stderr,
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

    /// Where qemu's stderr is kept.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr
    }

    /// `None` while qemu runs (or after [`Vm::kill`]); once it has exited
    /// on its own, why: its exit status (or the signal that ended it), the
    /// tail of its stderr and of the guest's console.
    pub fn exit(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        let how = match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            (None, None) => status.to_string(),
        };
        let err = fs::read(&self.stderr)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let err = err.trim();
        Some(format!(
            "qemu (pid {}) exited after {:.0} s: {how}; stderr ({}): {}\nconsole ({}), last lines:\n{}",
            self.pid().unwrap_or(0),
            self.uptime().as_secs_f64(),
            self.stderr.display(),
            if err.is_empty() { "empty" } else { err },
            self.console.display(),
            tail(&self.console(), 20)
        ))
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
            if let Some(why) = self.exit() {
                bail!("{why}\n(before '{marker}')");
            }
            if Instant::now() > deadline {
                bail!(
                    "no '{marker}' from the lab VM after {timeout:?}; console:\n{}",
                    tail(&text, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_follows_the_environment_and_the_tsc() {
        let micro = Machine::Microvm { tsc_khz: 2_595_000 };
        assert_eq!(Machine::choose_from(None, Some(2_595_000)).unwrap(), micro);
        assert_eq!(Machine::choose_from(None, None).unwrap(), Machine::Pc);
        assert_eq!(
            Machine::choose_from(Some("pc"), Some(2_595_000)).unwrap(),
            Machine::Pc
        );
        assert_eq!(
            Machine::choose_from(Some("microvm"), Some(2_595_000)).unwrap(),
            micro
        );
        assert!(Machine::choose_from(Some("microvm"), None).is_err());
        assert!(Machine::choose_from(Some("q35"), Some(1)).is_err());
    }

    #[test]
    fn microvm_gets_mmio_devices_and_the_tsc_rate() {
        let m = Machine::Microvm { tsc_khz: 2_595_000 };
        let cmdline = m.kernel_cmdline();
        assert!(cmdline.contains("tsc_early_khz=2595000"));
        assert!(cmdline.contains("tsc=reliable"));
        assert!(cmdline.contains("lab.virtio=mmio"));
        assert!(cmdline.contains("rdinit=/init"));
        let args = m.qemu_args("user,id=n0", Path::new("/tmp/a,b"));
        assert!(args.contains(&"microvm".to_string()));
        assert!(args.contains(&"virtio-net-device,netdev=n0".to_string()));
        assert!(args.contains(&"virtio-9p-device,fsdev=lab,mount_tag=lab".to_string()));
        // A comma in the share's path must not end qemu's option.
        assert!(args.contains(&"local,id=lab,path=/tmp/a,,b,security_model=none".to_string()));
    }

    #[test]
    fn pc_gets_pci_devices_and_calibrates_itself() {
        let cmdline = Machine::Pc.kernel_cmdline();
        assert!(!cmdline.contains("tsc_early_khz"));
        assert!(cmdline.contains("lab.virtio=pci"));
        let args = Machine::Pc.qemu_args("user,id=n0", Path::new("/tmp/x"));
        assert!(args.contains(&"pc".to_string()));
        assert!(args.contains(&"virtio-net-pci,netdev=n0,romfile=".to_string()));
        assert!(args.contains(&"virtio-9p-pci,fsdev=lab,mount_tag=lab".to_string()));
    }
}
