//! The micro-VM image: a Debian kernel with the SCTP module, and an initramfs
//! with busybox-static, RSPLIB's programs and the libraries they link.
//!
//! Why a VM at all: RSPLIB speaks ASAP/ENRP over kernel SCTP only, and many
//! hosts (CI containers, WSL-like systems, macOS) have no SCTP. The kernel
//! and the image are built from Debian packages and cached, keyed by what
//! went into them, so only the first run pays for the build.
//!
//! The image knows nothing about a topology: its `/init` loads the modules,
//! brings up the network, mounts the host's share (9p, tag `lab`) on
//! `/share` and runs `/share/init.sh`, which the host writes for each run.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Kernel modules the guest needs whatever the machine, with what pulls
/// each in. Their load order is computed from the `depends=` strings inside
/// the `.ko` files (the unpacked package has no modules.dep).
const COMMON_MODULES: &[&str] = &[
    // crc32c_generic is only a *soft* dependency of libcrc32c (no depends=
    // entry), but SCTP's checksum needs it: load it first explicitly.
    "crc32c_generic",
    "sctp",
    // The slirp NIC: virtio-net is up at once and its driver loads in a
    // fraction of e1000's time (e1000's probe alone took 0.6 s under TCG,
    // and its link came up 2 s after `ip link set up`).
    "virtio_net",
    // The host share.
    "9pnet_virtio",
    "9p",
    // The lab's packet filter (nftables), off until a scenario switches on
    // a lab stand-in defence (scenarios/src/defences.rs; docs/lab-defences.md).
    "nf_tables",
];

/// The virtio transport of each machine type (see `vm.rs`): MMIO devices on
/// `microvm` (no PCI bus at all), PCI devices on `pc`. `/init` loads one
/// set, chosen by `lab.virtio=` on the kernel command line.
const MMIO_MODULES: &[&str] = &["virtio_mmio"];
const PCI_MODULES: &[&str] = &["virtio_pci"];

/// RSPLIB programs copied into the image (Debian packages rsplib-registrar,
/// rsplib-services, rsplib-tools); `calcappclient` is RSPLIB's CalcApp
/// pool user (the papers' workload, with `rspserver -calcapp`).
pub const RSPLIB_PROGRAMS: &[&str] = &[
    "rspregistrar",
    "rspserver",
    "hsdump",
    "rspterminal",
    "calcappclient",
];

/// Other programs copied into the image: `nft` (Debian nftables), the
/// packet filter of the lab's stand-in defences, and `tcpdump` (Debian
/// tcpdump), which captures a scenario run's ASAP/ENRP traffic
/// (`rserpool scenario run --pcap`, scenarios/src/capture.rs).
pub const LAB_TOOLS: &[&str] = &["nft", "tcpdump"];

/// Where the kernel and images are cached: `$RSERPOOL_LAB_CACHE`, else
/// `$XDG_CACHE_HOME/rserpool-lab`, else `~/.cache/rserpool-lab`.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("RSERPOOL_LAB_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("rserpool-lab")
}

/// A bootable image.
#[derive(Clone, Debug)]
pub struct Image {
    /// The kernel as packaged (`vmlinuz`, a compressed bzImage).
    pub kernel: PathBuf,
    /// The same kernel uncompressed (`vmlinux`, ELF) when it has a PVH entry
    /// point: qemu then loads it directly, which skips the bzImage's
    /// decompressor — 3.8 s of the boot under TCG.
    pub pvh_kernel: Option<PathBuf>,
    pub initrd: PathBuf,
    /// The kernel package it came from, e.g. `linux-image-6.1.0-56-amd64`.
    pub kernel_package: String,
}

/// Builds (or finds in the cache) the image.
pub fn build(cache: &Path) -> Result<Image> {
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let kernel_package = match std::env::var("RSERPOOL_LAB_KERNEL") {
        Ok(p) => p,
        Err(_) => newest_kernel_package()?,
    };
    let kdir = cache.join(&kernel_package);
    let kernel = kdir.join("vmlinuz");
    let modules = kdir.join("modules");
    if !kernel.exists() || !modules.join("sctp.ko").exists() {
        fetch_kernel(&kernel_package, &kdir)?;
    }
    let pvh_kernel = pvh_kernel(&kdir)?;
    let mmio = module_load_order(&modules, &[COMMON_MODULES, MMIO_MODULES].concat())?;
    let pci = module_load_order(&modules, &[COMMON_MODULES, PCI_MODULES].concat())?;
    let init = init_script(&mmio, &pci);
    let key = image_key(&kernel_package, &init)?;
    let initrd = cache.join(format!("initrd-{key:016x}.cpio"));
    if !initrd.exists() {
        let all: BTreeSet<String> = mmio.iter().chain(&pci).cloned().collect();
        build_initrd(&modules, &all, &init, &initrd)?;
    }
    Ok(Image {
        kernel,
        pvh_kernel,
        initrd,
        kernel_package,
    })
}

/// The kernel's uncompressed ELF image with a PVH entry point, extracted
/// once from `vmlinuz` into the kernel's cache directory. `None` when the
/// kernel cannot be booted that way (a kernel without a PVH entry is noted
/// in `vmlinux.none`, so that the next run does not look again); the VM then
/// boots `vmlinuz`.
fn pvh_kernel(kdir: &Path) -> Result<Option<PathBuf>> {
    let vmlinux = kdir.join("vmlinux");
    let none = kdir.join("vmlinux.none");
    if vmlinux.exists() {
        return Ok(Some(vmlinux));
    }
    if none.exists() {
        return Ok(None);
    }
    let bz = fs::read(kdir.join("vmlinuz"))?;
    let elf = match extract_vmlinux(&bz) {
        Ok(elf) if has_pvh_entry(&elf) => elf,
        Ok(_) => {
            // A property of this kernel: remember it.
            fs::write(&none, "no PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY)\n")?;
            return Ok(None);
        }
        Err(e) => {
            // Not cached: a later version of this code may read it.
            eprintln!("rserpool-lab: booting the compressed kernel: {e:#}");
            return Ok(None);
        }
    };
    let tmp = kdir.join("vmlinux.tmp");
    fs::write(&tmp, elf)?;
    fs::rename(&tmp, &vmlinux)?;
    Ok(Some(vmlinux))
}

/// The ELF kernel inside a bzImage: the setup header (Linux boot protocol
/// ≥ 2.08, `Documentation/x86/boot.rst`) says where the compressed payload
/// is; Debian compresses it with xz (BCJ x86 + LZMA2, which liblzma reads).
pub fn extract_vmlinux(bz: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let u8_at = |o: usize| bz.get(o).copied().context("bzImage too short");
    let u16_at = |o: usize| -> Result<u16> { Ok(u16::from_le_bytes([u8_at(o)?, u8_at(o + 1)?])) };
    let u32_at = |o: usize| -> Result<u32> {
        Ok(u32::from_le_bytes([
            u8_at(o)?,
            u8_at(o + 1)?,
            u8_at(o + 2)?,
            u8_at(o + 3)?,
        ]))
    };
    if bz.get(0x202..0x206) != Some(b"HdrS") {
        bail!("not a bzImage (no HdrS setup header)");
    }
    if u16_at(0x206)? < 0x208 {
        bail!("boot protocol older than 2.08: no payload fields");
    }
    let setup_sects = match u8_at(0x1f1)? {
        0 => 4,
        n => usize::from(n),
    };
    let start = (setup_sects + 1) * 512 + usize::try_from(u32_at(0x248)?)?;
    let len = usize::try_from(u32_at(0x24c)?)?;
    let payload = start
        .checked_add(len)
        .and_then(|end| bz.get(start..end))
        .context("bzImage payload out of bounds")?;
    if !payload.starts_with(b"\xfd7zXZ\x00") {
        bail!("kernel payload is not xz-compressed");
    }
    // The kernel build appends the uncompressed size (4 bytes, LE) to the
    // compressed stream (`size_append`): the decoder must not see it, and it
    // checks the result.
    let (stream, size) = payload.split_at(payload.len().saturating_sub(4));
    let size = u32::from_le_bytes(size.try_into().context("bzImage payload too short")?);
    let mut out = Vec::new();
    xz2::read::XzDecoder::new(stream)
        .read_to_end(&mut out)
        .context("decompressing the kernel")?;
    if u32::try_from(out.len()).ok() != Some(size) {
        bail!(
            "kernel decompressed to {} bytes, the bzImage says {size}",
            out.len()
        );
    }
    Ok(out)
}

/// Whether an ELF kernel has a PVH entry point (a `Xen` note of type 18,
/// XEN_ELFNOTE_PHYS32_ENTRY), which qemu needs to boot it directly.
pub fn has_pvh_entry(elf: &[u8]) -> bool {
    use object::read::elf::{ElfFile64, ProgramHeader};
    const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
    let Ok(file) = ElfFile64::<object::LittleEndian>::parse(elf) else {
        return false;
    };
    let endian = object::LittleEndian;
    file.elf_program_headers().iter().any(|ph| {
        let Ok(Some(mut notes)) = ph.notes(endian, elf) else {
            return false;
        };
        while let Ok(Some(note)) = notes.next() {
            if note.name() == b"Xen" && note.n_type(endian) == XEN_ELFNOTE_PHYS32_ENTRY {
                return true;
            }
        }
        false
    })
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The newest `linux-image-<version>-amd64` Debian offers, by exact name
/// (never a glob: a glob downloads every kernel version).
fn newest_kernel_package() -> Result<String> {
    let out = run(Command::new("apt-cache").args([
        "search",
        "--names-only",
        r"^linux-image-[0-9][0-9.]*-[0-9][0-9]*-amd64$",
    ]))?;
    let names = out.lines().filter_map(|l| l.split_whitespace().next());
    pick_newest_kernel(names)
        .context("apt-cache finds no linux-image-*-amd64 package (run `apt-get update` first)")
}

/// Picks the highest version among kernel package names
/// (`linux-image-6.1.0-56-amd64` > `linux-image-6.1.0-9-amd64`).
pub fn pick_newest_kernel<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
    names
        .filter_map(|n| {
            let v = n.strip_prefix("linux-image-")?.strip_suffix("-amd64")?;
            let key: Option<Vec<u64>> = v.split(['.', '-']).map(|p| p.parse().ok()).collect();
            Some((key?, n.to_string()))
        })
        .max()
        .map(|(_, n)| n)
}

fn fetch_kernel(package: &str, kdir: &Path) -> Result<()> {
    let tmp = kdir.with_extension("download");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    run(Command::new("apt-get")
        .args(["download", "-q", package])
        .current_dir(&tmp))
    .with_context(|| format!("downloading {package}"))?;
    let deb = fs::read_dir(&tmp)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download produced no .deb")?;
    let x = tmp.join("x");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x))?;
    let boot = x.join("boot");
    let vmlinuz = fs::read_dir(&boot)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .context("no vmlinuz in the kernel package")?;
    let modules_out = tmp.join("modules");
    fs::create_dir_all(&modules_out)?;
    // Keep every .ko flat by name: only a handful are loaded, but the
    // dependency walk needs to find any of them.
    let mut stack = vec![x.join("lib/modules")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ko") {
                fs::copy(&p, modules_out.join(p.file_name().unwrap()))?;
            }
        }
    }
    fs::copy(&vmlinuz, tmp.join("vmlinuz"))?;
    fs::remove_dir_all(&x)?;
    fs::remove_file(&deb)?;
    let _ = fs::remove_dir_all(kdir);
    fs::rename(&tmp, kdir)?;
    Ok(())
}

/// The `depends=` list of a module file.
fn module_depends(ko: &[u8]) -> Vec<String> {
    let needle = b"depends=";
    ko.windows(needle.len())
        .position(|w| w == needle)
        .map(|i| {
            let rest = &ko[i + needle.len()..];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end])
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `wanted` and what they depend on, dependencies first, each module once.
fn module_load_order(modules: &Path, wanted: &[&str]) -> Result<Vec<String>> {
    fn visit(
        m: &str,
        modules: &Path,
        done: &mut BTreeSet<String>,
        order: &mut Vec<String>,
        depth: usize,
    ) -> Result<()> {
        if done.contains(m) {
            return Ok(());
        }
        if depth > 32 {
            bail!("module dependency cycle at {m}");
        }
        let path = modules.join(format!("{m}.ko"));
        let ko = fs::read(&path).with_context(|| format!("module {m} ({})", path.display()))?;
        for d in module_depends(&ko) {
            visit(&d, modules, done, order, depth + 1)?;
        }
        done.insert(m.to_string());
        order.push(m.to_string());
        Ok(())
    }
    let mut done = BTreeSet::new();
    let mut order = Vec::new();
    for m in wanted {
        visit(m, modules, &mut done, &mut order, 0)?;
    }
    Ok(order)
}

/// The guest's `/init` (busybox sh). `mmio` and `pci` are the module load
/// orders for the two machine types; `lab.virtio=pci` on the kernel
/// command line picks the second.
fn init_script(mmio: &[String], pci: &[String]) -> String {
    let insmod = |mods: &[String]| -> String {
        mods.iter()
            .map(|m| format!("\tinsmod /lib/modules/{m}.ko || echo \"LAB: insmod {m} failed\"\n"))
            .collect()
    };
    format!(
        "#!/bin/busybox sh\n\
         # Generated by rserpool-lab (lab/src/image.rs).\n\
         /bin/busybox --install -s /bin\n\
         export PATH=/bin:/usr/bin:/sbin\n\
         mkdir -p /proc /sys /dev /tmp /run /var/run /share\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sys /sys\n\
         mount -t devtmpfs dev /dev\n\
         mount -t tmpfs tmp /tmp\n\
         read -r cmdline < /proc/cmdline\n\
         case \" $cmdline \" in\n\
         *\" lab.virtio=pci \"*)\n{pci}\t;;\n\
         *)\n{mmio}\t;;\n\
         esac\n\
         ip link set lo up\n\
         ip link set eth0 up\n\
         ip addr add 10.0.2.15/24 dev eth0\n\
         ip route add default via 10.0.2.2\n\
         if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 lab /share; then\n\
         \tread -r up _ < /proc/uptime\n\
         \techo \"LAB: share mounted at uptime $up s\"\n\
         \tif [ -f /share/init.sh ]; then /bin/sh /share/init.sh; fi\n\
         else\n\
         \techo \"LAB: no share\"\n\
         fi\n\
         echo \"LAB: powering off\"\n\
         poweroff -f\n",
        mmio = insmod(mmio),
        pci = insmod(pci),
    )
}

/// A key for the initrd built from these inputs: kernel package, the
/// installed versions of busybox-static and RSPLIB, and the init script.
fn image_key(kernel_package: &str, init: &str) -> Result<u64> {
    let versions = run(Command::new("dpkg-query").args([
        "-W",
        "-f=${Package}=${Version}\n",
        "busybox-static",
        "rsplib-registrar",
        "rsplib-services",
        "rsplib-tools",
        "nftables",
        "tcpdump",
        "libpcap0.8",
    ]))
    .context("busybox-static, RSPLIB, nftables and tcpdump must be installed (scripts/setup)")?;
    // FNV-1a: stable across runs and Rust versions (unlike DefaultHasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kernel_package
        .bytes()
        .chain(versions.bytes())
        .chain(init.bytes())
        .chain(RSPLIB_PROGRAMS.concat().bytes())
        .chain(LAB_TOOLS.concat().bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Ok(h)
}

/// Every shared library `ldd` lists for `bin`, with the loader.
fn shared_libraries(bin: &Path) -> Result<Vec<PathBuf>> {
    let out = run(Command::new("ldd").arg(bin))?;
    Ok(out
        .lines()
        .filter_map(|l| {
            // "libx.so => /lib/.../libx.so (0x…)" or "/lib64/ld-linux… (0x…)"
            let path = match l.split_once("=>") {
                Some((_, rhs)) => rhs.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

fn which(program: &str) -> Result<PathBuf> {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return Ok(p);
        }
    }
    bail!("{program} is not installed (scripts/setup installs RSPLIB, busybox-static, nftables and tcpdump)")
}

fn build_initrd(modules: &Path, wanted: &BTreeSet<String>, init: &str, out: &Path) -> Result<()> {
    let root = out.with_extension("root");
    let _ = fs::remove_dir_all(&root);
    for d in ["bin", "usr/bin", "sbin", "lib/modules", "etc", "lib64"] {
        fs::create_dir_all(root.join(d))?;
    }
    fs::copy(which("busybox")?, root.join("bin/busybox"))?;
    for m in wanted {
        fs::copy(
            modules.join(format!("{m}.ko")),
            root.join(format!("lib/modules/{m}.ko")),
        )?;
    }
    let mut libs = BTreeSet::new();
    for p in RSPLIB_PROGRAMS.iter().chain(LAB_TOOLS) {
        let bin = which(p)?;
        fs::copy(&bin, root.join("usr/bin").join(p))?;
        libs.extend(shared_libraries(&bin)?);
    }
    for lib in libs {
        // Same path inside the guest; follow symlinks to copy the file.
        let dest = root.join(lib.strip_prefix("/").unwrap_or(&lib));
        fs::create_dir_all(dest.parent().unwrap())?;
        fs::copy(&lib, &dest).with_context(|| format!("copying {}", lib.display()))?;
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n")?;
    fs::write(root.join("etc/group"), "root:x:0:\n")?;
    fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n")?;
    let init_path = root.join("init");
    fs::write(&init_path, init)?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&init_path, fs::Permissions::from_mode(0o755))?;

    // newc cpio, uncompressed: the kernel unpacks it faster under TCG than
    // it would decompress it.
    let tmp = out.with_extension("tmp");
    let status = Command::new("sh")
        .arg("-c")
        .arg("find . -print0 | cpio --null -o -H newc --quiet > \"$0\"")
        .arg(&tmp)
        .current_dir(&root)
        .status()
        .context("running cpio (scripts/setup installs it)")?;
    if !status.success() {
        bail!("cpio failed: {status}");
    }
    fs::rename(&tmp, out)?;
    fs::remove_dir_all(&root)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_highest_kernel_version_numerically() {
        let names = [
            "linux-image-6.1.0-9-amd64",
            "linux-image-6.1.0-56-amd64",
            "linux-image-6.1.0-55-amd64",
            "linux-image-amd64",
            "linux-image-6.1.0-56-cloud-amd64",
        ];
        assert_eq!(
            pick_newest_kernel(names.into_iter()).as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
    }

    #[test]
    fn reads_depends_from_module_info() {
        let ko =
            b"\x00license=GPL\x00depends=udp_tunnel,ip6_udp_tunnel,libcrc32c\x00retpoline=Y\x00";
        assert_eq!(
            module_depends(ko),
            vec!["udp_tunnel", "ip6_udp_tunnel", "libcrc32c"]
        );
        assert!(module_depends(b"\x00depends=\x00").is_empty());
    }

    #[test]
    fn init_loads_modules_in_the_given_order_and_runs_the_share() {
        let s = init_script(
            &["libcrc32c".into(), "sctp".into(), "virtio_mmio".into()],
            &["libcrc32c".into(), "sctp".into(), "virtio_pci".into()],
        );
        let a = s.find("libcrc32c.ko").unwrap();
        let b = s.find("sctp.ko").unwrap();
        assert!(a < b);
        assert!(s.contains("/share/init.sh"));
        assert!(s.trim_end().ends_with("poweroff -f"));
    }

    /// Runs the generated /init's module selection in a real shell (with
    /// `insmod` stubbed, /proc/cmdline replaced) and returns what it loads.
    fn modules_loaded_for(cmdline: &str) -> Vec<String> {
        let s = init_script(
            &["virtio".into(), "virtio_mmio".into()],
            &["virtio".into(), "virtio_pci".into()],
        );
        let start = s.find("read -r cmdline").unwrap();
        let end = s.find("esac").unwrap() + 4;
        let fragment = s[start..end]
            .replace("/proc/cmdline", "\"$CMDLINE_FILE\"")
            .replace("insmod ", "echo ");
        let dir = std::env::temp_dir().join(format!("lab-init-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("cmdline-{}", cmdline.len()));
        fs::write(&file, format!("{cmdline}\n")).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(fragment)
            .env("CMDLINE_FILE", &file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                l.trim_start_matches("/lib/modules/")
                    .trim_end_matches(".ko")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn init_picks_the_virtio_transport_from_the_kernel_command_line() {
        assert_eq!(
            modules_loaded_for("console=ttyS0 lab.virtio=mmio quiet"),
            ["virtio", "virtio_mmio"]
        );
        assert_eq!(
            modules_loaded_for("console=ttyS0 lab.virtio=pci quiet"),
            ["virtio", "virtio_pci"]
        );
        // Not a prefix match: only the exact word selects PCI.
        assert_eq!(
            modules_loaded_for("lab.virtio=pcix"),
            ["virtio", "virtio_mmio"]
        );
        assert_eq!(
            modules_loaded_for("lab.virtio=pci"),
            ["virtio", "virtio_pci"]
        );
    }

    /// A minimal bzImage around an xz payload, as the kernel build lays it out.
    fn fake_bzimage(payload: &[u8]) -> Vec<u8> {
        let setup_sects = 3u8;
        let mut bz = vec![0u8; (usize::from(setup_sects) + 1) * 512];
        bz[0x1f1] = setup_sects;
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        bz[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        let payload_offset = 0x40u32;
        bz[0x248..0x24c].copy_from_slice(&payload_offset.to_le_bytes());
        bz[0x24c..0x250].copy_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
        bz.extend(std::iter::repeat_n(0u8, payload_offset as usize));
        bz.extend_from_slice(payload);
        bz.extend_from_slice(b"trailing bytes after the payload");
        bz
    }

    /// An xz payload as the kernel build makes it: stream + uncompressed size.
    fn kernel_payload(kernel: &[u8], size: u32) -> Vec<u8> {
        use std::io::Write;
        let mut enc = xz2::write::XzEncoder::new(Vec::new(), 6);
        enc.write_all(kernel).unwrap();
        let mut xz = enc.finish().unwrap();
        xz.extend_from_slice(&size.to_le_bytes());
        xz
    }

    #[test]
    fn extracts_the_xz_payload_of_a_bzimage() {
        let kernel = b"\x7fELF pretend kernel".repeat(100);
        let size = u32::try_from(kernel.len()).unwrap();
        let bz = fake_bzimage(&kernel_payload(&kernel, size));
        assert_eq!(extract_vmlinux(&bz).unwrap(), kernel);
        // The appended size must match what came out.
        let bz = fake_bzimage(&kernel_payload(&kernel, size + 1));
        assert!(format!("{:#}", extract_vmlinux(&bz).unwrap_err()).contains("says"));
    }

    #[test]
    fn refuses_what_is_not_an_xz_bzimage() {
        assert!(extract_vmlinux(b"short").is_err());
        assert!(extract_vmlinux(&[0u8; 4096]).is_err());
        let gz = fake_bzimage(b"\x1f\x8b\x08 gzip payload");
        assert!(format!("{:#}", extract_vmlinux(&gz).unwrap_err()).contains("not xz"));
        // Payload length past the end of the file.
        let mut bad = fake_bzimage(b"\xfd7zXZ\x00");
        bad[0x24c..0x250].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(extract_vmlinux(&bad).is_err());
        // A corrupt xz stream is an error, not a panic.
        let corrupt = fake_bzimage(b"\xfd7zXZ\x00\x00\x04garbage-garbage");
        assert!(extract_vmlinux(&corrupt).is_err());
    }

    /// An ELF64 file with one PT_NOTE segment holding one note.
    fn elf_with_note(name: &[u8; 4], n_type: u32) -> Vec<u8> {
        let mut note = Vec::new();
        for v in [4u32, 4, n_type] {
            note.extend_from_slice(&v.to_le_bytes());
        }
        note.extend_from_slice(name);
        note.extend_from_slice(&0x0100_0000u32.to_le_bytes()); // the entry address
        let mut e = vec![0x7f, b'E', b'L', b'F', 2, 1, 1];
        e.resize(16, 0);
        e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        e.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        e.extend_from_slice(&1u32.to_le_bytes());
        e.extend_from_slice(&0u64.to_le_bytes()); // entry
        e.extend_from_slice(&64u64.to_le_bytes()); // phoff
        e.extend_from_slice(&0u64.to_le_bytes()); // shoff
        e.extend_from_slice(&0u32.to_le_bytes()); // flags
        for v in [64u16, 56, 1, 64, 0, 0] {
            e.extend_from_slice(&v.to_le_bytes());
        }
        e.extend_from_slice(&4u32.to_le_bytes()); // PT_NOTE
        e.extend_from_slice(&4u32.to_le_bytes()); // PF_R
        let len = note.len() as u64;
        for v in [120u64, 0, 0, len, len, 4] {
            e.extend_from_slice(&v.to_le_bytes());
        }
        e.extend_from_slice(&note);
        e
    }

    #[test]
    fn pvh_entry_is_the_xen_phys32_entry_note() {
        assert!(has_pvh_entry(&elf_with_note(b"Xen\0", 18)));
        assert!(!has_pvh_entry(&elf_with_note(b"Xen\0", 17)));
        assert!(!has_pvh_entry(&elf_with_note(b"GNU\0", 18)));
        assert!(!has_pvh_entry(b"not an elf"));
        assert!(!has_pvh_entry(&[]));
        // Truncated: no panic, no entry.
        let full = elf_with_note(b"Xen\0", 18);
        assert!(!has_pvh_entry(&full[..full.len() - 6]));
    }
}
