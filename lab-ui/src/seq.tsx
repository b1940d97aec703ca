// Message sequence chart: one column per node, time downwards, one row per
// message. Virtualised: only the rows in view are drawn (canvas) and listed
// (text, for screen readers and tests), so 10,000 messages scroll smoothly.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { type Msg, PAGE_PU, store } from "./store";

const ROW_H = 20;
const HEAD_H = 28;
const VIEW_ROWS = 22;

const COLORS: Record<Msg["source"], string> = { page: "#2563eb", tap: "#059669", note: "#b91c1c" };

export function columns(): string[] {
  const l = store.lab;
  const cols = [PAGE_PU, "gateway"];
  for (const r of l?.topology.registrars ?? []) cols.push(r.name);
  for (const p of l?.topology.pool_elements ?? []) cols.push(p.name);
  for (const m of store.msgs) {
    if (!cols.includes(m.from)) cols.push(m.from);
    if (!cols.includes(m.to)) cols.push(m.to);
  }
  return cols;
}

export function SequenceChart({ version }: { version: number }) {
  const [paused, setPaused] = useState(false);
  const [frozenAt, setFrozenAt] = useState(0);
  const [type, setType] = useState("");
  const [node, setNode] = useState("");
  const [top, setTop] = useState(0);
  const [picked, setPicked] = useState<Msg | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const follow = useRef(true);

  const limit = paused ? frozenAt : store.msgs.length;
  const rows = useMemo(
    () =>
      store.msgs
        .slice(0, limit)
        .filter((m) => (!type || m.type === type) && (!node || m.from === node || m.to === node)),
    [limit, type, node, version],
  );
  const types = useMemo(() => [...new Set(store.msgs.map((m) => m.type))].sort(), [version]);
  const cols = columns();

  useEffect(() => {
    const el = scroller.current;
    if (el && follow.current && !paused) {
      el.scrollTop = el.scrollHeight;
      setTop(el.scrollTop);
    }
  }, [rows.length, paused]);

  // A scenario run's time cursor: show the messages of that moment.
  const cursorMs = store.cursor?.t_ms ?? null;
  useEffect(() => {
    const el = scroller.current;
    if (!el || cursorMs === null) return;
    const i = rows.findIndex((m) => m.t_ms >= cursorMs);
    follow.current = false;
    el.scrollTop = Math.max(0, (i < 0 ? rows.length : i) * ROW_H - (VIEW_ROWS / 2) * ROW_H);
    setTop(el.scrollTop);
  }, [cursorMs]);

  const first = Math.max(0, Math.floor(top / ROW_H));
  const visible = rows.slice(first, first + VIEW_ROWS);

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const width = c.clientWidth;
    const height = HEAD_H + VIEW_ROWS * ROW_H;
    const dpr = window.devicePixelRatio || 1;
    c.width = width * dpr;
    c.height = height * dpr;
    const g = c.getContext("2d");
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    const colW = width / cols.length;
    const x = (name: string) => (cols.indexOf(name) + 0.5) * colW;
    g.font = "12px system-ui, sans-serif";
    g.textAlign = "center";
    g.fillStyle = "#111827";
    g.strokeStyle = "#d1d5db";
    for (const name of cols) {
      g.fillText(name, x(name), 16);
      g.beginPath();
      g.moveTo(x(name), HEAD_H);
      g.lineTo(x(name), height);
      g.stroke();
    }
    const t0 = rows[0]?.t_ms ?? 0;
    visible.forEach((m, i) => {
      const y = HEAD_H + i * ROW_H + ROW_H / 2;
      const a = x(m.from);
      const b = x(m.to);
      g.strokeStyle = COLORS[m.source];
      g.fillStyle = COLORS[m.source];
      if (picked && picked.seq === m.seq) {
        g.save();
        g.fillStyle = "#fef3c7";
        g.fillRect(0, y - ROW_H / 2, width, ROW_H);
        g.restore();
      }
      g.beginPath();
      g.moveTo(a, y);
      g.lineTo(b, y);
      g.stroke();
      const dir = b >= a ? 1 : -1;
      g.beginPath();
      g.moveTo(b, y);
      g.lineTo(b - dir * 7, y - 4);
      g.lineTo(b - dir * 7, y + 4);
      g.fill();
      g.textAlign = "left";
      g.fillText(m.type, Math.min(a, b) + 6, y - 3);
      g.fillStyle = "#6b7280";
      g.fillText(`${((m.t_ms - t0) / 1000).toFixed(2)} s`, 4, y + 4);
      g.textAlign = "center";
    });
  });

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    follow.current = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_H;
    setTop(el.scrollTop);
  };
  const onClick = (ev: MouseEvent) => {
    const c = canvas.current;
    if (!c) return;
    const y = ev.clientY - c.getBoundingClientRect().top - HEAD_H;
    const m = visible[Math.floor(y / ROW_H)];
    if (m) setPicked(m);
  };

  return (
    <section class="panel seq" aria-labelledby="seq-h">
      <h2 id="seq-h">Message sequence</h2>
      <div class="controls">
        <button
          type="button"
          onClick={() => {
            setFrozenAt(store.msgs.length);
            setPaused(!paused);
          }}
          aria-pressed={paused}
        >
          {paused ? "Resume" : "Pause"}
        </button>
        <label>
          type{" "}
          <select value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {types.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          node{" "}
          <select value={node} onChange={(e) => setNode((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {cols.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <span data-testid="seq-count">
          {rows.length} of {store.msgs.length} messages
        </span>
      </div>
      {rows.length === 0 && (
        <p class="hint" data-testid="seq-empty">
          {store.msgs.length === 0
            ? "No messages yet. Resolve a pool or open a session in the pool user panel: every ASAP message of this page's pool user, and every message the gateway carries, appears here as an arrow from sender to receiver."
            : "No message matches these filters."}
        </p>
      )}
      <div
        class="seq-view"
        ref={scroller}
        onScroll={onScroll}
        style={{ height: `${HEAD_H + VIEW_ROWS * ROW_H}px` }}
      >
        <div style={{ height: `${HEAD_H + rows.length * ROW_H}px`, position: "relative" }}>
          <canvas
            ref={canvas}
            onClick={onClick}
            style={{ position: "sticky", top: 0, width: "100%", height: `${HEAD_H + VIEW_ROWS * ROW_H}px` }}
          />
        </div>
      </div>
      <ol class="seq-rows" data-testid="seq-rows" aria-label="messages in view" start={first + 1}>
        {visible.map((m) => (
          <li key={m.seq}>
            <button type="button" onClick={() => setPicked(m)}>
              {m.from} → {m.to}: {m.type}
            </button>
          </li>
        ))}
      </ol>
      {picked && <Decode m={picked} onClose={() => setPicked(null)} />}
    </section>
  );
}

function hex(bytes: number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

function Decode({ m, onClose }: { m: Msg; onClose: () => void }) {
  const d = m.detail as { datagram?: string; bytes?: number[] } | null;
  return (
    <section class="decode" aria-label="message decode">
      <h3>
        {m.type}: {m.from} → {m.to}{" "}
        <button type="button" onClick={onClose}>
          Close
        </button>
      </h3>
      <pre data-testid="decode">{JSON.stringify(m.detail, null, 2)}</pre>
      {d?.bytes && <pre class="hex">{hex(d.bytes)}</pre>}
      {m.length !== null && <p>{m.length} bytes on the wire</p>}
    </section>
  );
}
