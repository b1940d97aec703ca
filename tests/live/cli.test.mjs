// The native CLI on the host → wss → our gateway in the lab → SCTP → live
// RSPLIB registrars and PEs. Started by scripts/test.d/60-live.sh with
//   RSERPOOL_LIVE_GATEWAYS, RSERPOOL_LIVE_CA, RSERPOOL_LIVE_CLI,
//   RSERPOOL_LIVE_GATEWAY_BIN (to run a gateway whose certificate comes
//   from another CA).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createServer } from "node:net";
import { killPeOnPort } from "./lab.mjs";

const gateways = (process.env.RSERPOOL_LIVE_GATEWAYS ?? "").split(",").filter(Boolean);
const ca = process.env.RSERPOOL_LIVE_CA;
const cli = process.env.RSERPOOL_LIVE_CLI;
const gatewayBin = process.env.RSERPOOL_LIVE_GATEWAY_BIN;
assert.ok(gateways.length >= 2 && ca && cli && gatewayBin, "run through scripts/test.d/60-live.sh");

function resolve(urls, extra = []) {
  const args = ["--json", "resolve", "EchoPool", "--ca", ca, ...extra];
  for (const u of urls) args.push("--registrar", u);
  const r = spawnSyncText(cli, args);
  return r;
}

function spawnSyncText(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60000 });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

test("resolve EchoPool through the gateway at every registrar: 4 RSPLIB PEs", () => {
  for (const g of gateways) {
    const r = resolve([g]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1));
    assert.equal(out.elements.length, 4, r.stdout);
    for (const e of out.elements) {
      assert.equal(e.transport, "sctp");
      assert.ok(e.port > 0);
      assert.ok([0x10000001, 0x10000002, 0x10000003].includes(e.home_registrar));
    }
  }
});

test("a gateway whose certificate comes from another CA is refused and the next URL is used", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rogue-gw-"));
  execFileSync(gatewayBin, ["gen-certs", "--out", dir, "--ca-name", "rogue CA"]);
  const port = await new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
  });
  const rogue = spawn(gatewayBin, [
    "--listen", `127.0.0.1:${port}`, "--cert", join(dir, "server.pem"), "--key", join(dir, "server-key.pem"),
    "--registrar", "/asap=127.0.0.1:3863",
  ], { stdio: "ignore" });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const r = resolve([`wss://localhost:${port}/asap`, gateways[0]]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1));
    assert.equal(out.registrar, gateways[0], "answered by the trusted gateway");
    assert.equal(out.elements.length, 4);
    // The refused URL is reported although a later one answered.
    assert.deepEqual(out.attempts.map((a) => [a.registrar, a.outcome]), [
      [`wss://localhost:${port}/asap`, "tls-failed"],
      [gateways[0], "answered"],
    ]);
    assert.match(out.attempts[0].error, /UnknownIssuer/);
    // Alone, the rogue URL is a TLS failure (exit 11) that says why.
    const alone = resolve([`wss://localhost:${port}/asap`]);
    assert.equal(alone.code, 11, alone.stdout + alone.stderr);
    assert.match(alone.stdout + alone.stderr, /UnknownIssuer/, alone.stdout + alone.stderr);
  } finally {
    rogue.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("rserpool session through the gateway fails over when its PE is killed", async () => {
  const pes = JSON.parse(resolve([gateways[0]]).stdout.trim().split("\n").at(-1)).elements;
  const s = spawn(cli, ["--json", "session", "EchoPool", "--ca", ca, "--registrar", gateways[0], "--registrar", gateways[1]], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const events = [];
  let wake;
  const waitFor = (pred, ms) =>
    new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`timeout; events: ${JSON.stringify(events)}`)), ms);
      const check = () => { const e = events.find(pred); if (e) { clearTimeout(t); res(e); } else wake = check; };
      check();
    });
  for (const stream of [s.stdout, s.stderr]) {
    createInterface({ input: stream }).on("line", (l) => {
      try { events.push(JSON.parse(l)); } catch { events.push({ text: l }); }
      wake?.();
    });
  }
  try {
    const up = await waitFor((e) => e.event === "connected", 20000);
    s.stdin.write("hello\n");
    await waitFor((e) => e.event === "data" && e.text.includes("hello"), 10000);
    const pe = pes.find((p) => p.id_hex === up.pe);
    assert.ok(pe, `PE ${up.pe} not among ${pes.map((p) => p.id_hex)}`);
    const killedAt = Date.now();
    killPeOnPort(cli, pe.port);
    const f = await waitFor((e) => e.event === "failover", 20000);
    assert.equal(f.from, up.pe);
    assert.notEqual(f.to, up.pe);
    s.stdin.write("again\n");
    await waitFor((e) => e.event === "data" && e.text.includes("again"), 10000);
    console.log(`# CLI failover through the gateway: kill to next echo ${Date.now() - killedAt} ms`);
  } finally {
    s.stdin.end();
    s.kill();
  }
});
