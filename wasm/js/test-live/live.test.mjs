// The packed npm package against the real lab: our gateway in the lab
// environment, live RSPLIB registrars and echo PEs. Started by
// scripts/test.d/60-live.sh, which boots the lab and passes
//   RSERPOOL_LIVE_GATEWAYS  comma-separated wss:// URLs (one per registrar)
//   RSERPOOL_LIVE_CLI       path of the `rserpool` binary (for `lab exec`)
//   NODE_EXTRA_CA_CERTS     the run's gateway CA (trusted by `ws`/Node TLS)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { WebSocket } from "ws";

const here = dirname(fileURLToPath(import.meta.url));
const wasmDir = join(here, "..", "..");
const gateways = (process.env.RSERPOOL_LIVE_GATEWAYS ?? "").split(",").filter(Boolean);
const cli = process.env.RSERPOOL_LIVE_CLI;

let project;
let PoolUser;

before(async () => {
  assert.ok(gateways.length >= 2 && cli, "run through scripts/test.d/60-live.sh");
  const pkgDir = join(wasmDir, "pkg");
  const tgz = readdirSync(pkgDir).find((f) => f.endsWith(".tgz"));
  assert.ok(tgz, "wasm/pkg/*.tgz missing: run wasm/build.sh first");
  project = mkdtempSync(join(tmpdir(), "rserpool-live-"));
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", "--loglevel=error", join(pkgDir, tgz)], {
    cwd: project,
    stdio: "inherit",
  });
  writeFileSync(join(project, "entry.mjs"), 'export * from "rserpool-wasm";\n');
  globalThis.WebSocket = WebSocket;
  ({ PoolUser } = await import(pathToFileURL(join(project, "entry.mjs")).href));
});

after(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

// Kills (SIGKILL) the rspserver that listens on an SCTP port, inside the lab:
// /proc/net/sctp/eps maps the port to a socket inode, /proc/*/fd to the pid.
function killPeOnPort(port) {
  const script =
    `ino=$(awk -v p=${port} '$6 == p { print $8 }' /proc/net/sctp/eps | head -1); ` +
    `[ -n "$ino" ] || { echo "no endpoint on port ${port}" >&2; exit 1; }; ` +
    `for d in /proc/[0-9]*; do ls -l $d/fd 2>/dev/null | grep -q "socket:\\[$ino\\]" && kill -9 \${d#/proc/} && exit 0; done; exit 1`;
  execFileSync(cli, ["lab", "exec", "sh", "-c", script], { stdio: "inherit" });
}

test("resolves EchoPool at every registrar through the gateway: 4 RSPLIB PEs", async () => {
  for (const g of gateways) {
    const pu = new PoolUser({ gateways: [g], trace: false });
    const pes = await pu.resolve("EchoPool");
    assert.equal(pes.length, 4, `${g}: ${JSON.stringify(pes)}`);
    for (const pe of pes) {
      assert.match(pe.identifier, /^0x[0-9a-f]{8}$/);
      assert.match(pe.homeRegistrar, /^0x1000000[123]$/);
    }
    pu.close();
  }
});

test("an unknown pool is reported with a stable code", async () => {
  const pu = new PoolUser({ gateways: [gateways[0]], trace: false });
  await assert.rejects(pu.resolve("NoSuchPool"), (e) => e instanceof Error && e.code === "no-such-pool");
  pu.close();
});

test("session echoes through an RSPLIB PE; killing it gives a failover and the next echo comes from another PE", async () => {
  const pu = new PoolUser({ gateways, trace: false });
  const pes = await pu.resolve("EchoPool");
  const s = await pu.session("EchoPool", 0);
  const first = s.element;
  const data = [];
  const failovers = [];
  let wake;
  const next = () => new Promise((r) => (wake = r));
  s.on("data", (d) => { data.push(Buffer.from(d.bytes).toString()); wake?.(); });
  s.on("failover", (f) => { failovers.push(f); wake?.(); });

  let got = next();
  s.send(new TextEncoder().encode("hello"));
  await got;
  assert.equal(data.at(-1), "hello");

  const pe = pes.find((p) => p.identifier === first);
  assert.ok(pe, `session PE ${first} not among ${pes.map((p) => p.identifier)}`);
  const killedAt = Date.now();
  killPeOnPort(pe.port);
  // Keep sending until an echo arrives from the new PE (bounded).
  const deadline = Date.now() + 30000;
  while (failovers.length === 0 && Date.now() < deadline) {
    const t = next();
    s.send(new TextEncoder().encode("ping"));
    await Promise.race([t, new Promise((r) => setTimeout(r, 500))]);
  }
  assert.equal(failovers.length, 1, "no failover event within 30 s");
  const f = failovers[0];
  assert.equal(f.oldElement, first);
  assert.notEqual(f.newElement, first);
  got = next();
  s.send(new TextEncoder().encode("again"));
  await got;
  assert.equal(data.at(-1), "again");
  assert.equal(s.element, f.newElement);
  console.log(`# failover: kill to next echo ${Date.now() - killedAt} ms (reason ${f.reason})`);
  s.close();
  pu.close();
});
