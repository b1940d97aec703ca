// Starts a lab of its own (`rserpool lab up` with a private lab cache and a
// private lab CA), makes a fresh browser profile trust that CA the way a
// user's would (`rserpool lab trust` into the NSS database of a temporary
// HOME), and opens the lab page in Debian's Chromium via playwright-core.

import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "../..");
export const cli = process.env.RSERPOOL_CLI ?? join(root, "target/debug/rserpool");
export const shots = join(root, "target/lab-ui-screenshots");

export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Two registrars, three PEs in two pools: not the default lab. */
export const SMALL_TOPOLOGY = `
forward = [8443]
[csp]
interval_ms = 500
port = 2960
[[registrar]]
name = "registrar-east"
id = 0x20000001
[[registrar]]
name = "registrar-west"
id = 0x20000002
[[pool_element]]
name = "pe-east"
pool = "EchoPool"
registrar = "registrar-east"
[[pool_element]]
name = "pe-west"
pool = "EchoPool"
registrar = "registrar-west"
[[pool_element]]
name = "pe-other"
pool = "OtherPool"
registrar = "registrar-west"
[[process]]
name = "gateway"
program = "rserpool-gateway"
args = ["--listen", "0.0.0.0:8443", "--cert", "/share/certs/server.pem", "--key", "/share/certs/server-key.pem",
  "--registrar", "/asap/1=10.1.0.1:3863", "--registrar", "/asap/2=10.1.0.2:3863",
  "--metrics", "127.0.0.1:9464", "--allow-origin", "*"]
`;

export async function startLab(topologyToml) {
  const tmp = mkdtempSync(join(tmpdir(), "lab-ui-"));
  const shared =
    process.env.RSERPOOL_LAB_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/root", ".cache"), "rserpool-lab");
  const cache = join(tmp, "lab-cache");
  mkdirSync(cache, { recursive: true });
  mkdirSync(shared, { recursive: true });
  for (const e of readdirSync(shared)) {
    if (e === "current.json" || e === "runs") continue;
    symlinkSync(join(shared, e), join(cache, e));
  }
  const env = {
    ...process.env,
    RSERPOOL_LAB_CACHE: cache,
    RSERPOOL_LAB_CA_DIR: join(tmp, "ca"),
    RSERPOOL_LAB_UI: join(root, "lab-ui/dist"),
  };
  const args = ["--json", "lab", "up"];
  if (topologyToml) {
    writeFileSync(join(tmp, "topology.toml"), topologyToml);
    args.push("--topology", join(tmp, "topology.toml"));
  }
  const t0 = Date.now();
  const child = spawn(cli, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => {
    err += d;
  });
  const up = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n")[0];
      if (out.includes("\n")) {
        try {
          resolve(JSON.parse(line));
        } catch (e) {
          reject(e);
        }
      }
    });
    child.on("exit", (c) => reject(new Error(`lab up exited ${c}: ${err}`)));
  });
  const home = join(tmp, "home");
  mkdirSync(home, { recursive: true });
  const trust = spawnSync(cli, ["lab", "trust"], { env: { ...env, HOME: home }, encoding: "utf8" });
  if (trust.status !== 0) throw new Error(`lab trust failed: ${trust.stderr}`);
  const down = async () => {
    spawnSync(cli, ["lab", "down"], { env, timeout: 30_000 });
    if (child.exitCode === null) child.kill("SIGINT");
    await new Promise((r) => (child.exitCode === null ? child.on("exit", r) : r()));
    // The cache holds symlinks to the shared image: remove only our links.
    for (const e of readdirSync(cache))
      if (lstatSync(join(cache, e)).isSymbolicLink()) rmSync(join(cache, e));
    rmSync(tmp, { recursive: true, force: true });
  };
  return { up, env, home, tmp, upMs: Date.now() - t0, down };
}

export async function openPage(lab, viewport = { width: 1280, height: 800 }) {
  const profile = join(lab.tmp, `profile-${Date.now()}`);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_FLAGS,
    env: { ...process.env, HOME: lab.home },
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => {
    if (r.status() >= 500) errors.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(lab.up.page_url);
  return { context, page, errors };
}

export function lab(cmd, env) {
  return spawnSync(cli, ["lab", ...cmd], { env, encoding: "utf8" });
}

export function screenshot(page, name) {
  mkdirSync(shots, { recursive: true });
  return page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** A screenshot of one part of the page (for docs/images). */
export function screenshotOf(locator, name) {
  mkdirSync(shots, { recursive: true });
  return locator.screenshot({ path: join(shots, `${name}.png`) });
}

export { existsSync };
