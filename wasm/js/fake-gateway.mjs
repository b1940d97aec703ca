// A stand-in for the RSerPool gateway's registrar channel, for tests: a
// WebSocket server on loopback that answers an ASAP Handle Resolution
// (one message per binary frame) with the bytes RSPLIB 3.4.4 sent
// (shared/vectors). Also, optionally, a wss:// server with a self-signed
// certificate no browser trusts, to test that such a gateway is skipped.
//
//   node fake-gateway.mjs <env-file>   writes RSERPOOL_TEST_GATEWAY=ws://...
//                                      (and RSERPOOL_TEST_UNTRUSTED=wss://...)
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";

const here = dirname(fileURLToPath(import.meta.url));
const vectors = process.env.RSERPOOL_VECTORS ?? join(here, "..", "..", "..", "shared", "vectors");
export const vector = (name) => Buffer.from(readFileSync(join(vectors, `${name}.hex`), "utf8").trim(), "hex");

/** Answers Handle Resolutions: EchoPool → 1 PE (0x0e000001), else cause 9. */
export function answer(ws, received = []) {
  const echo = vector("asap-handle-resolution-response-1");
  const unknown = vector("asap-handle-resolution-response-3");
  ws.on("message", (data, isBinary) => {
    const bytes = Buffer.from(data);
    received.push({ isBinary, bytes });
    if (bytes[0] === 0x05) ws.send(bytes.includes(Buffer.from("EchoPool")) ? echo : unknown);
  });
}

export async function startFakeGateway(received = []) {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  server.on("connection", (ws) => answer(ws, received));
  await new Promise((r) => server.on("listening", r));
  return { server, url: `ws://127.0.0.1:${server.address().port}/asap` };
}

export async function startUntrustedGateway() {
  const dir = mkdtempSync(join(tmpdir(), "rserpool-untrusted-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
  const https = createServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) });
  const server = new WebSocketServer({ server: https });
  let connections = 0;
  server.on("connection", (ws) => { connections += 1; answer(ws); });
  await new Promise((r) => https.listen(0, "127.0.0.1", r));
  return { server: https, url: `wss://127.0.0.1:${https.address().port}/asap`, connections: () => connections };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const good = await startFakeGateway();
  const bad = await startUntrustedGateway();
  writeFileSync(process.argv[2], `RSERPOOL_TEST_GATEWAY=${good.url}\nRSERPOOL_TEST_UNTRUSTED=${bad.url}\n`);
  process.on("SIGTERM", () => process.exit(0));
}
