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

/// Kernel modules the guest needs, with what pulls each in. Their load order
/// is computed from the `depends=` strings inside the `.ko` files (the
/// unpacked package has no modules.dep).
const WANTED_MODULES: &[&str] = &[
    // crc32c_generic is only a *soft* dependency of libcrc32c (no depends=
    // entry), but SCTP's checksum needs it: load it first explicitly.
    "crc32c_generic",
    "sctp",
    // The slirp NIC.
    "e1000",
    // The host share.
    "virtio_pci",
    "9pnet_virtio",
    "9p",
];

/// RSPLIB programs copied into the image (Debian packages rsplib-registrar,
/// rsplib-services, rsplib-tools).
pub const RSPLIB_PROGRAMS: &[&str] = &["rspregistrar", "rspserver", "hsdump", "rspterminal"];

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
    pub kernel: PathBuf,
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
    let order = module_load_order(&modules)?;
    let init = init_script(&order);
    let key = image_key(&kernel_package, &init)?;
    let initrd = cache.join(format!("initrd-{key:016x}.cpio"));
    if !initrd.exists() {
        build_initrd(&modules, &order, &init, &initrd)?;
    }
    Ok(Image {
        kernel,
        initrd,
        kernel_package,
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

/// Dependencies first, each module once.
fn module_load_order(modules: &Path) -> Result<Vec<String>> {
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
    for m in WANTED_MODULES {
        visit(m, modules, &mut done, &mut order, 0)?;
    }
    Ok(order)
}

/// The guest's `/init` (busybox sh).
fn init_script(modules: &[String]) -> String {
    let mut s = String::from(
        "#!/bin/busybox sh\n\
         # Generated by rserpool-lab (lab/src/image.rs).\n\
         /bin/busybox --install -s /bin\n\
         export PATH=/bin:/usr/bin:/sbin\n\
         mkdir -p /proc /sys /dev /tmp /run /var/run /share\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sys /sys\n\
         mount -t devtmpfs dev /dev\n\
         mount -t tmpfs tmp /tmp\n",
    );
    for m in modules {
        s.push_str(&format!(
            "insmod /lib/modules/{m}.ko || echo \"LAB: insmod {m} failed\"\n"
        ));
    }
    s.push_str(
        "ip link set lo up\n\
         ip link set eth0 up\n\
         ip addr add 10.0.2.15/24 dev eth0\n\
         ip route add default via 10.0.2.2\n\
         if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 lab /share; then\n\
         \techo \"LAB: share mounted\"\n\
         \tif [ -f /share/init.sh ]; then /bin/sh /share/init.sh; fi\n\
         else\n\
         \techo \"LAB: no share\"\n\
         fi\n\
         echo \"LAB: powering off\"\n\
         poweroff -f\n",
    );
    s
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
    ]))
    .context("busybox-static and RSPLIB must be installed (scripts/setup)")?;
    // FNV-1a: stable across runs and Rust versions (unlike DefaultHasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kernel_package
        .bytes()
        .chain(versions.bytes())
        .chain(init.bytes())
        .chain(RSPLIB_PROGRAMS.concat().bytes())
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
    bail!("{program} is not installed (scripts/setup installs RSPLIB and busybox-static)")
}

fn build_initrd(modules: &Path, order: &[String], init: &str, out: &Path) -> Result<()> {
    let root = out.with_extension("root");
    let _ = fs::remove_dir_all(&root);
    for d in ["bin", "usr/bin", "sbin", "lib/modules", "etc", "lib64"] {
        fs::create_dir_all(root.join(d))?;
    }
    fs::copy(which("busybox")?, root.join("bin/busybox"))?;
    for m in order {
        fs::copy(
            modules.join(format!("{m}.ko")),
            root.join(format!("lib/modules/{m}.ko")),
        )?;
    }
    let mut libs = BTreeSet::new();
    for p in RSPLIB_PROGRAMS {
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
        let s = init_script(&["libcrc32c".into(), "sctp".into()]);
        let a = s.find("libcrc32c.ko").unwrap();
        let b = s.find("sctp.ko").unwrap();
        assert!(a < b);
        assert!(s.contains("/share/init.sh"));
        assert!(s.trim_end().ends_with("poweroff -f"));
    }
}
