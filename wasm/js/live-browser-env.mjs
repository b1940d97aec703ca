// What the live browser tests (wasm/tests/browser_live*.rs) need around
// headless Chromium, started by scripts/test.d/60-live.sh once the lab is
// up, and kept running until it is killed:
//  - webdriver.json for wasm-bindgen-test-runner: Chromium trusts exactly
//    the lab gateway's server key (--ignore-certificate-errors-spki-list,
//    base64 SHA-256 of its SubjectPublicKeyInfo), nothing else;
//  - a "rogue" gateway: our gateway binary with a certificate from another
//    CA, so its key is not in that list and the browser refuses it;
//  - a loopback HTTP helper the test page calls with fetch() to kill the
//    RSPLIB PE on an SCTP port inside the lab (a page cannot exec).
//
//   node live-browser-env.mjs <env-file> <webdriver.json>
// Env in: RSERPOOL_LIVE_GATEWAYS, RSERPOOL_LIVE_CLI, RSERPOOL_LIVE_GATEWAY_BIN.
// Env file out: RSERPOOL_LIVE_GATEWAYS, RSERPOOL_LIVE_ROGUE, RSERPOOL_LIVE_HELPER.
import { execFileSync, spawn } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { killPeOnPort } from "../../tests/live/lab.mjs";

const [envFile, webdriverJson] = process.argv.slice(2);
const gateways = (process.env.RSERPOOL_LIVE_GATEWAYS ?? "").split(",").filter(Boolean);
const cli = process.env.RSERPOOL_LIVE_CLI;
const gatewayBin = process.env.RSERPOOL_LIVE_GATEWAY_BIN;
if (!envFile || !webdriverJson || gateways.length < 2 || !cli || !gatewayBin) {
  console.error("usage: RSERPOOL_LIVE_GATEWAYS=… RSERPOOL_LIVE_CLI=… RSERPOOL_LIVE_GATEWAY_BIN=… node live-browser-env.mjs <env-file> <webdriver.json>");
  process.exit(2);
}

/** The server certificate a TLS endpoint presents (not verified: we only read its key). */
function peerCertificate(host, port) {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, servername: host, rejectUnauthorized: false }, () => {
      const raw = s.getPeerCertificate().raw;
      s.end();
      raw ? resolve(new X509Certificate(raw)) : reject(new Error(`${host}:${port}: no certificate`));
    });
    s.on("error", reject);
  });
}

function spkiHash(cert) {
  const der = cert.publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}

function freePort() {
  return new Promise((res) => {
    const s = createTcpServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The lab gateway serves every registrar path on one port with one key.
const keys = new Set();
for (const g of gateways) {
  const u = new URL(g);
  keys.add(spkiHash(await peerCertificate(u.hostname, Number(u.port))));
}

const certDir = mkdtempSync(join(tmpdir(), "rogue-gw-browser-"));
execFileSync(gatewayBin, ["gen-certs", "--out", certDir, "--ca-name", "rogue CA"]);
const roguePort = await freePort();
const rogue = spawn(gatewayBin, [
  "--listen", `127.0.0.1:${roguePort}`, "--cert", join(certDir, "server.pem"), "--key", join(certDir, "server-key.pem"),
  "--registrar", "/asap=127.0.0.1:3863",
], { stdio: ["ignore", "ignore", "inherit"] });
let rogueKey;
for (let i = 0; i < 100 && !rogueKey; i++) {
  rogueKey = await peerCertificate("localhost", roguePort).then(spkiHash, () => undefined);
  if (!rogueKey) await sleep(100);
}
if (!rogueKey || keys.has(rogueKey)) {
  console.error(rogueKey ? "rogue gateway has the lab gateway's key" : "rogue gateway did not start");
  process.exit(1);
}

// GET /kill-pe?port=N → 200 after the PE is SIGKILLed. CORS open: the test
// page is served by the test runner from another loopback port.
const helper = createServer((req, res) => {
  const u = new URL(req.url, "http://127.0.0.1");
  const headers = { "access-control-allow-origin": "*", "content-type": "text/plain" };
  const port = Number(u.searchParams.get("port"));
  if (u.pathname !== "/kill-pe" || !Number.isInteger(port) || port <= 0 || port > 65535) {
    res.writeHead(404, headers).end("GET /kill-pe?port=N\n");
    return;
  }
  try {
    killPeOnPort(cli, port);
    res.writeHead(200, headers).end(`killed the PE on SCTP port ${port}\n`);
  } catch (e) {
    res.writeHead(500, headers).end(`${e.message}\n`);
  }
});
await new Promise((r) => helper.listen(0, "127.0.0.1", r));

writeFileSync(webdriverJson, JSON.stringify({
  "goog:chromeOptions": {
    binary: process.env.RSERPOOL_CHROMIUM ?? "/usr/bin/chromium",
    args: [`--ignore-certificate-errors-spki-list=${[...keys].join(",")}`],
  },
}, null, 2));
// Written last and atomically: the script waits for this file.
writeFileSync(`${envFile}.tmp`, [
  `RSERPOOL_LIVE_GATEWAYS=${gateways.join(",")}`,
  `RSERPOOL_LIVE_ROGUE=wss://localhost:${roguePort}/asap`,
  `RSERPOOL_LIVE_HELPER=http://127.0.0.1:${helper.address().port}`,
  "",
].join("\n"));
renameSync(`${envFile}.tmp`, envFile);

const stop = () => {
  rogue.kill();
  helper.close();
  rmSync(certDir, { recursive: true, force: true });
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
