// The page is a pool user: the project's npm package (rserpool-wasm) in this
// browser, through the lab gateway. Resolve a pool, open an echo session,
// and see the failover when its PE dies.

import { useRef, useState } from "preact/hooks";
import init, { type FailoverEvent, type PoolElement, PoolUser, type Session } from "rserpool-wasm/web";
import { knowPes, store } from "./store";

/** ASAP messages between a pool user and a PE (RFC 5352 §2.2); the rest go to its registrar. */
const PE_MESSAGES = /Cookie|Business Card|Data|Handle Update/;

let ready: Promise<unknown> | null = null;
let pu: PoolUser | null = null;
let puGateways = "";

function poolUser(gateways: string[]): PoolUser {
  const key = gateways.join(",");
  if (pu && puGateways === key) return pu;
  pu?.close();
  const p = new PoolUser({ gateways, trace: true });
  p.on("trace", (t) => {
    const far = PE_MESSAGES.test(t.name)
      ? (store.sessionPe ?? "pool element")
      : (store.homeRegistrar ?? "registrar");
    const [from, to] = t.direction === "sent" ? ["this page", far] : [far, "this page"];
    store.push({ t_ms: Date.now(), from, to, type: t.name, source: "page", length: t.length, detail: t });
  });
  p.on("registrar-change", (e) => {
    store.homeRegistrar = store.registrarOfUrl(e.to);
    store.changed();
  });
  p.on("error", (e) => console.warn("pool user:", e.code, e.message));
  pu = p;
  puGateways = key;
  return p;
}

/** This page's pool user, the wasm module loaded on first use. */
export async function pagePoolUser(): Promise<PoolUser> {
  ready ??= init({ module_or_path: new URL("rserpool_wasm_bg.wasm", location.href) });
  await ready;
  return poolUser(store.lab?.gateway_urls ?? []);
}

export interface Notice {
  from: string;
  to: string;
  f: FailoverEvent;
}

export function PoolUserPanel() {
  const gateways = store.lab?.gateway_urls ?? [];
  const pools = [...new Set(store.lab?.topology.pool_elements.map((p) => p.pool) ?? [])];
  const [pool, setPool] = useState(pools[0] ?? "EchoPool");
  const [elements, setElements] = useState<PoolElement[] | null>(null);
  const [status, setStatus] = useState("");
  const [echo, setEcho] = useState<string[]>([]);
  const [notices, setNotices] = useState<Notice[]>([]);
  const [text, setText] = useState("hello");
  const session = useRef<Session | null>(null);
  const [connected, setConnected] = useState<string | null>(null);

  const start = pagePoolUser;
  const resolve = async () => {
    setStatus(`resolving ${pool}…`);
    try {
      const p = await start();
      const els = await p.resolve(pool);
      await knowPes(els.map((e) => e.identifier));
      setElements(els);
      setStatus(`${pool}: ${els.length} elements`);
    } catch (e) {
      const err = e as Error & { code?: string };
      setStatus(`resolve failed: ${err.code ?? ""} ${err.message}`);
    }
  };
  const open = async () => {
    setStatus(`opening a session with ${pool}…`);
    try {
      const p = await start();
      const s = await p.session(pool);
      session.current = s;
      if (s.element) await knowPes([s.element]);
      const pe = s.element ? store.peName(s.element) : "?";
      store.sessionPe = pe;
      setConnected(pe);
      store.changed();
      s.on("data", (d) => setEcho((x) => [...x.slice(-19), new TextDecoder().decode(d.bytes)]));
      s.on("failover", async (f) => {
        await knowPes([f.oldElement, f.newElement]);
        const n = { from: store.peName(f.oldElement), to: store.peName(f.newElement), f };
        store.sessionPe = n.to;
        setConnected(n.to);
        setNotices((x) => [...x, n]);
        store.push({
          t_ms: Date.now(),
          from: n.from,
          to: n.to,
          type: `failover (${f.reason})`,
          source: "note",
          length: null,
          detail: f,
        });
      });
      s.on("close", (c) => {
        setStatus(`session closed: ${c.reason}`);
        setConnected(null);
      });
      setStatus(`session with ${pe}`);
    } catch (e) {
      const err = e as Error & { code?: string };
      setStatus(`session failed: ${err.code ?? ""} ${err.message}`);
    }
  };
  const send = () => {
    session.current?.send(new TextEncoder().encode(`${text}\n`));
  };
  const close = () => {
    session.current?.close();
    session.current = null;
    setConnected(null);
  };

  return (
    <section class="panel pu" aria-labelledby="pu-h">
      <h2 id="pu-h">This page's pool user</h2>
      <p class="small">Gateways: {gateways.join(", ") || "none"}</p>
      <div class="controls">
        <label>
          pool{" "}
          <select value={pool} onChange={(e) => setPool((e.target as HTMLSelectElement).value)}>
            {pools.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={resolve}>
          Resolve
        </button>
        <button type="button" onClick={open} disabled={connected !== null}>
          Open session
        </button>
        <button type="button" onClick={close} disabled={connected === null}>
          Close session
        </button>
      </div>
      <p role="status" data-testid="pu-status">
        {status}
      </p>
      {elements && (
        <table data-testid="resolved">
          <caption>Resolved elements</caption>
          <thead>
            <tr>
              <th scope="col">element</th>
              <th scope="col">node</th>
              <th scope="col">policy</th>
              <th scope="col">load</th>
              <th scope="col">home registrar</th>
            </tr>
          </thead>
          <tbody>
            {elements.map((e) => (
              <tr key={e.identifier}>
                <td>{e.identifier}</td>
                <td>{store.peName(e.identifier)}</td>
                <td>{e.policy.type}</td>
                <td>{e.policy.values.join(", ") || "–"}</td>
                <td>{store.registrarName(e.homeRegistrar)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {connected && (
        <div class="controls">
          <span data-testid="session-pe">serving PE: {connected}</span>
          <label>
            echo <input value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
          </label>
          <button type="button" onClick={send}>
            Send
          </button>
        </div>
      )}
      {echo.length > 0 && (
        <pre class="echo" data-testid="echo">
          {echo.join("")}
        </pre>
      )}
      <div aria-live="polite" data-testid="failover-notices">
        {notices.map((n, i) => (
          <div class="notice" key={i}>
            <strong>Failover</strong>: {n.from} → {n.to}; reason {n.f.reason}; cookie{" "}
            {n.f.cookieReplayed ? "replayed" : "not replayed"}; security{" "}
            {n.f.securityChanged
              ? `changed (${n.f.oldSecurity.transport} → ${n.f.newSecurity.transport})`
              : "unchanged"}
          </div>
        ))}
      </div>
    </section>
  );
}
