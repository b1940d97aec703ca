// The packed npm package against the real lab: our gateway in the lab
// environment, live RSPLIB registrars and echo PEs. Started by
// scripts/test.d/60-live.sh, which boots the lab and passes
//   RSERPOOL_LIVE_GATEWAYS  comma-separated wss:// URLs (one per registrar)
//   RSERPOOL_LIVE_CLI       path of the `rserpool` binary (for `lab exec`)
//   NODE_EXTRA_CA_CERTS     the run's gateway CA (trusted by `ws`/Node TLS)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { installPackage } from "../install-package.mjs";
import { killPeOnPort } from "../../../tests/live/lab.mjs";

const gateways = (process.env.RSERPOOL_LIVE_GATEWAYS ?? "").split(",").filter(Boolean);
const cli = process.env.RSERPOOL_LIVE_CLI;

let project;
let PoolUser;

before(async () => {
  assert.ok(gateways.length >= 2 && cli, "run through scripts/test.d/60-live.sh");
  let pkg;
  ({ project, pkg } = await installPackage("rserpool-live-"));
  ({ PoolUser } = pkg);
});

after(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

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

test("session echoes through an RSPLIB PE; killing it gives a failover (kebab-case reason) and the next echo comes from another PE", async () => {
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
  const closes = [];
  s.on("close", (c) => closes.push(c));

  let got = next();
  s.send(new TextEncoder().encode("hello"));
  await got;
  assert.equal(data.at(-1), "hello");

  const pe = pes.find((p) => p.identifier === first);
  assert.ok(pe, `session PE ${first} not among ${pes.map((p) => p.identifier)}`);
  const killedAt = Date.now();
  killPeOnPort(cli, pe.port);
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
  // A killed RSPLIB PE ends its association (SCTP abort or shutdown, as the
  // kernel decides): the reason is one of the package's stable words, never
  // Rust Debug text.
  assert.equal(f.reason, "channel-closed");
  assert.ok(["aborted", "closed"].includes(f.closeReason), `closeReason ${JSON.stringify(f.closeReason)}`);
  got = next();
  s.send(new TextEncoder().encode("again"));
  await got;
  assert.equal(data.at(-1), "again");
  assert.equal(s.element, f.newElement);
  console.log(`# failover: kill to next echo ${Date.now() - killedAt} ms (reason ${f.reason}, ${f.closeReason})`);
  s.close();
  assert.deepEqual(closes, [{ reason: "by-application" }]);
  pu.close();
});
