// A stand-in for the RSerPool gateway's registrar channel, for tests: a
// WebSocket server on loopback that answers an ASAP Handle Resolution
// (one message per binary frame) with the bytes RSPLIB 3.4.4 sent
// (testdata/vectors, see testdata/README.md). Also, optionally, a wss:// server with a self-signed
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
const vectors = join(here, "..", "..", "testdata", "vectors");
export const vector = (name) => Buffer.from(readFileSync(join(vectors, `${name}.hex`), "utf8").trim(), "hex");

// rserpool.asap.v1 (docs/gateway-protocol.md): kind, flags, channel (BE16),
// PPID (BE32), payload.
export const SUBPROTOCOL = "rserpool.asap.v1";
export const KIND = { MESSAGE: 0, OPEN_SESSION: 1, CLOSE_SESSION: 2, NOTICE: 3, HELLO: 4 };
export const NOTICE = { REGISTRAR_UP: 1, SESSION_UP: 3, SESSION_ABORTED: 4, SESSION_CLOSED: 5 };
export function frame(kind, channel, ppid, payload = Buffer.alloc(0)) {
  const h = Buffer.alloc(8);
  h[0] = kind;
  h.writeUInt16BE(channel, 2);
  h.writeUInt32BE(ppid, 4);
  return Buffer.concat([h, payload]);
}
export function parse(buf) {
  return { kind: buf[0], channel: buf.readUInt16BE(2), ppid: buf.readUInt32BE(4), payload: buf.subarray(8) };
}
/**
 * A Handle Resolution Response without the PE parameters (type 0x000a)
 * of dead PEs: what the registrar answers once it has noticed the kill.
 * Walks the TLVs (RFC 5354 §2: type, length, value padded to 4 bytes).
 */
export function withoutDead(msg, dead) {
  const parts = [msg.subarray(0, 4)];
  for (let i = 4; i + 4 <= msg.length; ) {
    const len = msg.readUInt16BE(i + 2);
    const end = i + Math.ceil(len / 4) * 4;
    const tlv = msg.subarray(i, Math.min(end, msg.length));
    if (!(msg.readUInt16BE(i) === 0x000a && dead.has(msg.readUInt32BE(i + 4)))) parts.push(tlv);
    i = end;
  }
  const out = Buffer.concat(parts);
  out.writeUInt16BE(out.length, 2);
  return out;
}

const notice = (channel, code, text) => {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(code);
  return frame(KIND.NOTICE, channel, 0, Buffer.concat([p, Buffer.from(text)]));
};

/**
 * Plays the gateway plus registrar plus echo PEs for one client:
 * Handle Resolution of EchoPool → RSPLIB's 3-PE answer (0x0e000003,
 * 0x0e000004, 0x0e000002), other pools → cause 9. Sessions: up at once,
 * the PE sends RSPLIB's captured Cookie, data is echoed as "<pe>:<data>";
 * data "kill" aborts the session and marks that PE dead (as the lab's kill
 * would). `state.frames` records every frame the client sent.
 */
export function answer(ws, state = { frames: [], dead: new Set() }) {
  const resolution = vector("asap-handle-resolution-response-2");
  const unknown = vector("asap-handle-resolution-response-3");
  const cookie = vector("asap-cookie-1");
  const sessions = new Map();
  ws.send(frame(KIND.HELLO, 0, 0, Buffer.concat([Buffer.from([0, 1, 0, 0, 0x10, 0, 0, 16]), Buffer.from("10.1.0.2:3863")])));
  ws.send(notice(0, NOTICE.REGISTRAR_UP, "10.1.0.2:3863"));
  ws.on("message", (data, isBinary) => {
    const f = parse(Buffer.from(data));
    state.frames.push({ isBinary, ...f });
    if (f.kind === KIND.MESSAGE && f.channel === 0) {
      if (f.payload[0] === 0x05) {
        ws.send(frame(KIND.MESSAGE, 0, 11, f.payload.includes(Buffer.from("EchoPool")) ? withoutDead(resolution, state.dead) : unknown));
      }
    } else if (f.kind === KIND.OPEN_SESSION) {
      const pe = f.payload.readUInt32BE(0);
      if (state.dead.has(pe)) {
        ws.send(notice(f.channel, NOTICE.SESSION_ABORTED, "connect failed"));
      } else {
        sessions.set(f.channel, pe);
        ws.send(notice(f.channel, NOTICE.SESSION_UP, "up"));
        ws.send(frame(KIND.MESSAGE, f.channel, 11, cookie));
      }
    } else if (f.kind === KIND.MESSAGE && sessions.has(f.channel) && f.ppid !== 11) {
      const pe = sessions.get(f.channel);
      if (f.payload.toString() === "kill") {
        state.dead.add(pe);
        sessions.delete(f.channel);
        ws.send(notice(f.channel, NOTICE.SESSION_ABORTED, "association aborted"));
      } else {
        const id = "0x" + pe.toString(16).padStart(8, "0");
        ws.send(frame(KIND.MESSAGE, f.channel, f.ppid, Buffer.from(`${id}:${f.payload}`)));
      }
    } else if (f.kind === KIND.CLOSE_SESSION) {
      sessions.delete(f.channel);
    }
  });
}

/** `state` shared by all connections if given, else one per connection. */
export async function startFakeGateway(state) {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (p) => (p.has(SUBPROTOCOL) ? SUBPROTOCOL : false) });
  server.on("connection", (ws) => answer(ws, state ?? { frames: [], dead: new Set() }));
  await new Promise((r) => server.on("listening", r));
  return { server, url: `ws://127.0.0.1:${server.address().port}/asap` };
}

export async function startUntrustedGateway() {
  const dir = mkdtempSync(join(tmpdir(), "rserpool-untrusted-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
  const https = createServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) });
  const server = new WebSocketServer({ server: https, handleProtocols: (p) => (p.has(SUBPROTOCOL) ? SUBPROTOCOL : false) });
  let connections = 0;
  server.on("connection", (ws) => {
    connections += 1;
    answer(ws);
  });
  await new Promise((r) => https.listen(0, "127.0.0.1", r));
  return { server: https, url: `wss://127.0.0.1:${https.address().port}/asap`, connections: () => connections };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const good = await startFakeGateway();
  const bad = await startUntrustedGateway();
  writeFileSync(process.argv[2], `RSERPOOL_TEST_GATEWAY=${good.url}\nRSERPOOL_TEST_UNTRUSTED=${bad.url}\n`);
  process.on("SIGTERM", () => process.exit(0));
}
