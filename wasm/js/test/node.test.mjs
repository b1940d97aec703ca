// Node tests of the packed npm package: install the tarball into a fresh
// project, import it by name, resolve through a WebSocket "gateway" on
// loopback that answers with RSPLIB's captured bytes, and type-check a
// consumer with `tsc --strict`.
//
// The fake gateway only carries registrar traffic (one ASAP message per
// binary frame); the live lab gateway replaces it once it exists.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { WebSocket, WebSocketServer } from "ws";
import { startFakeGateway, answer, vector, KIND, SUBPROTOCOL } from "../fake-gateway.mjs";
import { installPackage } from "../install-package.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const wasmDir = join(here, "..", "..");
const ECHO_POOL_RESPONSE = vector("asap-handle-resolution-response-2"); // RSPLIB 3.4.4: 3 PEs

let project;
let PoolUser;
let gateway;
let gatewayUrl;
const state = { frames: [], dead: new Set() };

before(async () => {
  let pkg;
  ({ project, pkg } = await installPackage("rserpool-consumer-"));
  ({ PoolUser } = pkg);

  ({ server: gateway, url: gatewayUrl } = await startFakeGateway(state));
});

after(() => {
  gateway?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});

test("resolve EchoPool returns RSPLIB's pool element with every field", async () => {
  const pu = new PoolUser({ gateways: [gatewayUrl] });
  const trace = [];
  pu.on("trace", (t) => trace.push(t));
  const elements = await pu.resolve("EchoPool");
  pu.close();
  assert.deepEqual(
    elements.map((e) => e.identifier),
    ["0x0e000003", "0x0e000004", "0x0e000002"],
  );
  const pe = elements[0];
  assert.equal(pe.identifierValue, 0x0e000003);
  assert.equal(pe.homeRegistrar, "0x10000002");
  assert.equal(pe.transport, "sctp");
  assert.ok(pe.port > 0);
  assert.ok(pe.addresses.length > 0);
  assert.ok(["data", "data+control"].includes(pe.transportUse));
  assert.equal(typeof pe.policy.type, "string");
  assert.notEqual(pe.policy.type, "Unknown");
  assert.ok(Array.isArray(pe.policy.values));
  assert.equal(typeof pe.registrationLifeMs, "number");
  // The request went out as one binary rserpool.asap.v1 Message frame on
  // the registrar channel (0) with PPID 11, holding an ASAP Handle Resolution.
  const req = state.frames.find((f) => f.kind === KIND.MESSAGE && f.channel === 0 && f.payload[0] === 0x05);
  assert.ok(req && req.isBinary);
  assert.equal(req.ppid, 11);
  // The trace feed saw both messages, decoded.
  assert.deepEqual(
    trace.map((t) => [t.direction, t.name]),
    [
      ["sent", trace[0].name],
      ["received", trace[1].name],
    ],
  );
  assert.match(trace[0].name, /Handle Resolution/);
  assert.match(trace[1].name, /Handle Resolution Response/);
  assert.equal(trace[1].length, ECHO_POOL_RESPONSE.length);
});

test("unknown pool rejects with code no-such-pool", async () => {
  const pu = new PoolUser({ gateways: [gatewayUrl] });
  await assert.rejects(pu.resolve("NoSuchPool"), (e) => e instanceof Error && e.code === "no-such-pool");
  pu.close();
});

test("a dead first gateway is skipped and the second one is used", async () => {
  // A port that was just listening and is now closed: connection refused.
  const dead = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => dead.on("listening", r));
  const deadUrl = `ws://127.0.0.1:${dead.address().port}/asap`;
  await new Promise((r) => dead.close(r));

  const pu = new PoolUser({ gateways: [deadUrl, gatewayUrl], trace: false });
  const changes = [];
  pu.on("registrar-change", (c) => changes.push(c));
  const elements = await pu.resolve("EchoPool");
  assert.equal(elements[0].identifier, "0x0e000003");
  assert.equal(pu.homeRegistrar, gatewayUrl);
  assert.equal(changes.at(-1).to, gatewayUrl);
  pu.close();
});

test("no reachable gateway rejects with code no-registrar-reachable", async () => {
  const dead = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => dead.on("listening", r));
  const deadUrl = `ws://127.0.0.1:${dead.address().port}/asap`;
  await new Promise((r) => dead.close(r));
  const pu = new PoolUser({ gateways: [deadUrl] });
  await assert.rejects(pu.resolve("EchoPool"), (e) => e.code === "no-registrar-reachable");
  pu.close();
});

test("session: echo through a PE, PE killed, failover with cookie replay, next echo from another PE; close reasons are kebab-case", async () => {
  const pu = new PoolUser({ gateways: [gatewayUrl], trace: false });
  const s = await pu.session("EchoPool", 0);
  const first = s.element;
  assert.match(first, /^0x0e00000[234]$/);
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
  assert.deepEqual(data, [`${first}:hello`]);

  got = next();
  s.send(new TextEncoder().encode("kill")); // the PE dies (abort)
  await got;
  assert.equal(failovers.length, 1);
  const f = failovers[0];
  assert.equal(f.oldElement, first);
  assert.notEqual(f.newElement, first);
  assert.equal(f.cookieReplayed, true);
  assert.equal(f.securityChanged, false);
  // Stable kebab-case words, never Rust Debug text ("channel-closed: Aborted").
  assert.equal(f.reason, "channel-closed");
  assert.equal(f.closeReason, "aborted");
  assert.equal(f.newSecurity.viaGateway, true);
  got = next();
  s.send(new TextEncoder().encode("again"));
  await got;
  assert.equal(data.at(-1), `${f.newElement}:again`);
  assert.equal(s.element, f.newElement);
  // The new PE got RSPLIB's Cookie back as an ASAP Cookie Echo (PPID 11),
  // before the data (same WebSocket, in order).
  const cookie = vector("asap-cookie-1");
  const echo = state.frames.find((x) => x.kind === KIND.MESSAGE && x.channel !== 0 && x.ppid === 11);
  assert.ok(echo, "no Cookie Echo sent");
  assert.equal(echo.payload[0], 0x0c); // ASAP Cookie Echo (Cookie is 0x0b)
  assert.deepEqual(echo.payload.subarray(4), cookie.subarray(4));
  s.close();
  assert.deepEqual(closes, [{ reason: "by-application" }]);
  pu.close();
});

test("a token is offered as the subprotocol value rserpool.token.<base64url>; a gateway that requires it serves only then", async () => {
  // Like the real gateway (docs/gateway.md, "Token"): the token must be
  // among the offered subprotocols, else the upgrade is refused.
  const token = "s3cret?/+ é";
  const want = `rserpool.token.${Buffer.from(token).toString("base64url")}`;
  const offered = [];
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    verifyClient: (info) => (info.req.headers["sec-websocket-protocol"] ?? "").split(/, */).includes(want),
    handleProtocols: (p) => {
      offered.push([...p]);
      return p.has(SUBPROTOCOL) ? SUBPROTOCOL : false;
    },
  });
  server.on("connection", (ws) => answer(ws));
  await new Promise((r) => server.on("listening", r));
  const url = `ws://127.0.0.1:${server.address().port}/asap`;
  try {
    const without = new PoolUser({ gateways: [url], trace: false, huntRounds: 1 });
    await assert.rejects(without.resolve("EchoPool"), (e) => e.code === "no-registrar-reachable");
    without.close();
    assert.equal(offered.length, 0, "refused before the subprotocol was chosen");

    const pu = new PoolUser({ gateways: [url], trace: false, token });
    const elements = await pu.resolve("EchoPool");
    assert.equal(elements[0].identifier, "0x0e000003");
    assert.deepEqual(offered.at(-1), [SUBPROTOCOL, want]);
    pu.close();
  } finally {
    server.close();
  }
  assert.throws(() => new PoolUser({ gateways: ["ws://x/"], token: "" }), (e) => e.code === "bad-options");
  assert.throws(() => new PoolUser({ gateways: ["ws://x/"], token: 7 }), (e) => e.code === "bad-options");
});

test("bad options throw an Error with code bad-options", () => {
  assert.throws(() => new PoolUser({ gateways: [] }), (e) => e instanceof Error && e.code === "bad-options");
  assert.throws(() => new PoolUser({ gateways: ["http://x/"] }), (e) => e.code === "bad-options");
  assert.throws(() => new PoolUser({ gateways: ["ws://x/"], nonsense: 1 }), (e) => e.code === "bad-options");
});

test("huge timeouts saturate instead of aborting the module", () => {
  // Duration::from_secs_f64 used to panic (wasm trap) on values like 1e300.
  const pu = new PoolUser({ gateways: ["ws://127.0.0.1:9/"], responseTimeoutMs: 1e300, registrarConnectTimeoutMs: 1e300 });
  assert.equal(pu.homeRegistrar, undefined);
  pu.close();
});

test("the package's types compile under tsc --strict in a consumer project", () => {
  writeFileSync(
    join(project, "consumer.ts"),
    `import { PoolUser, type PoolElement, type FailoverEvent, type TraceEvent, type PoolUserError } from "rserpool-wasm";
const pu: PoolUser = new PoolUser({ gateways: ["wss://gw.example/asap"], responseTimeoutMs: 3000 });
pu.on("trace", (t: TraceEvent) => { const d: "sent" | "received" = t.direction; void d; });
pu.on("registrar-change", (c) => { const to: string = c.to; void to; });
pu.on("error", (e: PoolUserError) => { const code: string = e.code; void code; });
export async function run(): Promise<number> {
  const pes: PoolElement[] = await pu.resolve("EchoPool");
  const s = await pu.session("EchoPool", 0);
  s.on("failover", (f: FailoverEvent) => { const b: boolean = f.cookieReplayed || f.securityChanged; void b; });
  s.on("data", (d) => { const n: number = d.bytes.length; void n; });
  s.send(new Uint8Array([1, 2, 3]));
  return pes[0].policy.values.length + pes[0].port;
}
`,
  );
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022", "esnext.disposable"], skipLibCheck: false, types: [] },
      files: ["consumer.ts"],
    }),
  );
  const tsc = join(here, "..", "node_modules", ".bin", "tsc");
  execFileSync(tsc, ["-p", project], { stdio: "inherit" });
  // And a misuse must fail to compile: the types are not `any`.
  writeFileSync(join(project, "consumer.ts"), `import { PoolUser } from "rserpool-wasm";
const pu = new PoolUser({ gateways: ["wss://gw/asap"] });
export async function bad(): Promise<string> { const pes = await pu.resolve("P"); return pes[0].port; }
pu.on("failover", () => {});
`);
  assert.throws(() => execFileSync(tsc, ["-p", project], { stdio: "pipe" }));
});
