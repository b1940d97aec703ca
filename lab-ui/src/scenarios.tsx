// Scenario runner: the catalogue (GET /api/scenarios) as cards, runs
// (POST /api/runs, polled while they run), a harm chart per run with the
// attack window shaded and events marked, one time cursor for the chart,
// the sequence chart and the topology, defence off vs on compared, run
// records downloaded and opened again without a lab (the same views,
// replayed from the file), and a permalink that runs the same again.

import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api, labKey } from "./api";
import { pagePoolUser } from "./pooluser";
import { store } from "./store";

export interface Metric {
  name: string;
  unit: string;
  description: string;
  worse: "lower" | "higher";
}
export interface Defence {
  name: string;
  kind: string;
  what: string;
  default: boolean;
}
export interface Scenario {
  id: string;
  section: string | null;
  class: string;
  title: string;
  threat: string;
  effect: string;
  not_staged_reason: string | null;
  topology?: { pool: string };
  phases: { name: string; duration_ms: number }[];
  metrics: Metric[];
  defences: Defence[];
  expectation?: { metric: string } | null;
  browser_part: { role: string; what: string } | null;
}
export interface RunEvent {
  t_ms: number;
  kind: string;
  node?: string;
  detail?: string;
}
export interface RunRecord {
  schema: string;
  scenario: Scenario;
  seed: number;
  started_at?: string;
  defences: Record<string, boolean>;
  phases: { name: string; start_ms: number; end_ms: number }[];
  samples: { t_ms: number; values: Record<string, number> }[];
  events: RunEvent[];
  summary?: Record<string, Record<string, number>>;
  verdict?: { passed: boolean; text: string } | null;
  /** The run's capture (docs/run-record.md), absent when none was taken. */
  pcap?: { file: string; bytes: number; packets: number; truncated?: string | null };
}
export interface RunView {
  run_id: string;
  state: "running" | "finished" | "stopped" | "failed";
  started_ms: number;
  progress: { phase: string; elapsed_ms: number } | null;
  record: RunRecord | null;
  has_pcap: boolean;
  error: string | null;
}
interface RunRequest {
  scenario: string;
  seed: number;
  defences: Record<string, boolean>;
  floor?: number;
  phase_scale?: number;
}

/** `#key=…&scenario=ID&seed=N&defences=a,b&scale=S&run=1`: the permalink of a run. */
function fromHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const num = (k: string) => {
    const v = p.get(k);
    return v !== null && v !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined;
  };
  return {
    scenario: p.get("scenario") ?? undefined,
    seed: num("seed"),
    scale: num("scale"),
    defences: p.get("defences")?.split(",").filter(Boolean),
    run: p.get("run") === "1",
  };
}
function permalink(s: Scenario, seed: number, on: string[], scale: number): string {
  const p = new URLSearchParams();
  p.set("key", labKey());
  p.set("scenario", s.id);
  p.set("seed", String(seed));
  p.set("defences", on.join(","));
  if (scale !== 1) p.set("scale", String(scale));
  p.set("run", "1");
  return `${location.pathname}#${p.toString()}`;
}

const PALETTE = ["#2563eb", "#b91c1c", "#059669", "#7c3aed", "#c2410c", "#0891b2"];
const EVENT_COLOURS: Record<string, string> = {
  "attack-start": "#dc2626",
  "attack-stop": "#dc2626",
  "pe-killed": "#111827",
  eviction: "#c2410c",
  failover: "#7c3aed",
  "registrar-change": "#0891b2",
};

/** The metrics a record has values for, the scenario's own first. */
function chartMetrics(r: RunRecord): string[] {
  const seen = new Set<string>();
  for (const s of r.samples) for (const k of Object.keys(s.values)) seen.add(k);
  const own = r.scenario.metrics.map((m) => m.name).filter((m) => seen.has(m));
  return own.length > 0 ? own : [...seen].slice(0, 4);
}

export function HarmChart({ record, cursor }: { record: RunRecord; cursor: number | null }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const cursorRef = useRef(cursor);
  cursorRef.current = cursor;
  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const metrics = chartMetrics(record);
    const end = Math.max(
      record.phases.reduce((m, p) => Math.max(m, p.end_ms), 0),
      record.samples.at(-1)?.t_ms ?? 0,
    );
    const xs = [0, ...record.samples.map((s) => s.t_ms / 1000)];
    const data: uPlot.AlignedData = [
      xs,
      ...metrics.map((m) => [null, ...record.samples.map((s) => s.values[m] ?? null)]),
    ];
    const vline = (u: uPlot, t_ms: number) => {
      const x = u.valToPos(t_ms / 1000, "x", true);
      u.ctx.beginPath();
      u.ctx.moveTo(x, u.bbox.top);
      u.ctx.lineTo(x, u.bbox.top + u.bbox.height);
      u.ctx.stroke();
    };
    const marks = (u: uPlot) => {
      const g = u.ctx;
      g.save();
      for (const p of record.phases) {
        if (p.name !== "attack") continue;
        const x0 = u.valToPos(p.start_ms / 1000, "x", true);
        const x1 = u.valToPos(p.end_ms / 1000, "x", true);
        g.fillStyle = "rgba(220, 38, 38, 0.12)";
        g.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
      }
      g.lineWidth = 1.5 * devicePixelRatio;
      g.setLineDash([4, 3]);
      for (const e of record.events) {
        g.strokeStyle = EVENT_COLOURS[e.kind] ?? "#6b7280";
        vline(u, e.t_ms);
      }
      const c = cursorRef.current;
      if (c !== null) {
        g.strokeStyle = "#f59e0b";
        g.lineWidth = 2 * devicePixelRatio;
        g.setLineDash([]);
        vline(u, c);
      }
      g.restore();
    };
    const p = new uPlot(
      {
        width: Math.max(280, host.clientWidth),
        height: 220,
        scales: { x: { time: false, range: [0, Math.max(1, end / 1000)] } },
        axes: [{ label: "seconds into the run" }, {}],
        series: [
          { label: "t (s)" },
          ...metrics.map((m, i) => ({
            label: m,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            spanGaps: true,
          })),
        ],
        hooks: { draw: [marks] },
        legend: { live: false },
      },
      data,
      host,
    );
    plot.current = p;
    return () => {
      p.destroy();
      plot.current = null;
    };
  }, [record]);
  useEffect(() => plot.current?.redraw(false, false), [cursor]);
  return (
    <div
      class="harm"
      ref={el}
      data-testid="harm-chart"
      role="img"
      aria-label={`Harm metrics over time, attack window shaded, ${record.events.length} events marked`}
    />
  );
}

/** Time cursor → the sequence chart (messages at that time) and the topology (nodes the run's events name up to then). */
function moveCursor(record: RunRecord, startedMs: number | null, t: number | null) {
  if (t === null || startedMs === null) {
    store.setCursor(null);
    return;
  }
  const named = record.events.filter((e) => e.t_ms <= t && e.node).map((e) => e.node as string);
  store.setCursor({ t_ms: startedMs + t, nodes: [...new Set(named)] });
}

function RunPanel({
  record,
  label,
  startedMs,
  run,
}: {
  record: RunRecord;
  label: string;
  startedMs: number | null;
  run?: RunView;
}) {
  const [cursor, setCursor] = useState<number | null>(null);
  const [playing, setPlaying] = useState(false);
  const end = Math.max(
    record.phases.reduce((m, p) => Math.max(m, p.end_ms), 0),
    record.samples.at(-1)?.t_ms ?? 0,
  );
  const attack = record.phases.find((p) => p.name === "attack");
  const move = (t: number | null) => {
    setCursor(t);
    moveCursor(record, startedMs, t);
  };
  useEffect(() => {
    if (!playing) return;
    const timer = setInterval(() => {
      setCursor((c) => {
        const next = (c ?? 0) + 250;
        if (next >= end) setPlaying(false);
        const t = Math.min(next, end);
        moveCursor(record, startedMs, t);
        return t;
      });
    }, 125);
    return () => clearInterval(timer);
  }, [playing, end, record, startedMs]);
  const at = cursor !== null ? [...record.samples].reverse().find((s) => s.t_ms <= cursor) : undefined;
  const phaseAt =
    cursor !== null ? record.phases.find((p) => cursor >= p.start_ms && cursor <= p.end_ms) : undefined;
  const download = () => {
    const blob = new Blob([JSON.stringify(record, null, 2)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `run-${record.scenario.id}-seed${record.seed}.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  const [pcapError, setPcapError] = useState<string | null>(null);
  const pcap = async () => {
    if (!run) return;
    const r = await fetch(`/api/runs/${run.run_id}/pcap`, { headers: { "X-Lab-Key": labKey() } });
    if (!r.ok) {
      const body = (await r.json().catch(() => null)) as { message?: string } | null;
      setPcapError(`pcap: ${body?.message ?? `HTTP ${r.status}`}`);
      return;
    }
    setPcapError(null);
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await r.blob());
    a.download = `run-${record.scenario.id}-seed${record.seed}.pcap`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  const on = Object.entries(record.defences ?? {})
    .filter(([, v]) => v)
    .map(([n]) => n);
  return (
    <div class="run" data-testid="run-view" data-defences={on.join(",")}>
      <h3>
        {label}: {record.scenario.title}, seed {record.seed}, defences {on.join(", ") || "off"}
      </h3>
      {attack && (
        <p class="small" data-testid="attack-window">
          attack window {(attack.start_ms / 1000).toFixed(1)}–{(attack.end_ms / 1000).toFixed(1)} s (shaded)
        </p>
      )}
      <HarmChart record={record} cursor={cursor} />
      <div class="cursor">
        <label>
          time cursor{" "}
          <input
            type="range"
            min={0}
            max={end}
            step={250}
            value={cursor ?? 0}
            aria-valuetext={cursor !== null ? `${(cursor / 1000).toFixed(2)} s` : "not set"}
            onInput={(e) => move(Number((e.target as HTMLInputElement).value))}
          />
        </label>{" "}
        <button type="button" onClick={() => setPlaying(!playing)} aria-pressed={playing}>
          {playing ? "Pause replay" : "Replay"}
        </button>{" "}
        <span data-testid="cursor-at">
          {cursor !== null
            ? `${(cursor / 1000).toFixed(2)} s${phaseAt ? `, ${phaseAt.name}` : ""}${
                at
                  ? `: ${chartMetrics(record)
                      .map((m) => `${m} ${at.values[m] ?? "–"}`)
                      .join(", ")}`
                  : ""
              }`
            : ""}
        </span>
      </div>
      {record.events.length > 0 && (
        <ul class="events" aria-label="run events">
          {record.events.map((e, i) => (
            <li key={`${e.t_ms}-${e.kind}-${i}`}>
              <button type="button" class="link" onClick={() => move(e.t_ms)}>
                {(e.t_ms / 1000).toFixed(2)} s
              </button>{" "}
              <span style={{ color: EVENT_COLOURS[e.kind] ?? "#6b7280" }}>{e.kind}</span>
              {e.node ? ` ${e.node}` : ""}
              {e.detail ? `: ${e.detail.length > 160 ? `${e.detail.slice(0, 160)}…` : e.detail}` : ""}
            </li>
          ))}
        </ul>
      )}
      {record.verdict && (
        <p class={`verdict ${record.verdict.passed ? "passed" : "failed"}`} data-testid="verdict">
          verdict: {record.verdict.passed ? "as expected" : "not as expected"}: {record.verdict.text}
        </p>
      )}
      <button type="button" onClick={download}>
        Download run.json
      </button>{" "}
      {run?.has_pcap && (
        <>
          <button type="button" onClick={pcap}>
            Download pcap
          </button>{" "}
          {record.pcap && (
            <span class="small" data-testid="pcap-info">
              {record.pcap.packets} packets, {(record.pcap.bytes / 1000).toFixed(1)} kB
              {record.pcap.truncated ? ` (cut short: ${record.pcap.truncated})` : ""}
            </span>
          )}
          {pcapError && (
            <span class="small" role="alert">
              {" "}
              {pcapError}
            </span>
          )}
        </>
      )}
    </div>
  );
}

function attackValue(r: RunRecord, metric: string): number | null {
  const s = r.summary?.attack?.[metric];
  return typeof s === "number" ? s : null;
}

function Compare({ off, on }: { off: RunRecord; on: RunRecord }) {
  const focus = off.scenario.expectation?.metric;
  const metrics = off.scenario.metrics.filter(
    (m) => attackValue(off, m.name) !== null || attackValue(on, m.name) !== null,
  );
  return (
    <table class="compare" data-testid="compare">
      <caption>
        Seed {off.seed}, attack phase: defences off vs on (
        {Object.entries(on.defences)
          .filter(([, v]) => v)
          .map(([n]) => n)
          .join(", ")}
        )
      </caption>
      <thead>
        <tr>
          <th scope="col">metric</th>
          <th scope="col">off</th>
          <th scope="col">on</th>
          <th scope="col">on − off</th>
          <th scope="col">harm</th>
        </tr>
      </thead>
      <tbody>
        {metrics.map((m) => {
          const a = attackValue(off, m.name);
          const b = attackValue(on, m.name);
          const d = a !== null && b !== null ? b - a : null;
          const harm =
            d === null || Math.abs(d) < 1e-9
              ? "same"
              : (m.worse === "lower" ? d > 0 : d < 0)
                ? "less with the defence"
                : "more with the defence";
          return (
            <tr key={m.name} data-metric={m.name} data-harm={harm} class={m.name === focus ? "focus" : ""}>
              <td>
                {m.name} ({m.unit}){m.name === focus ? " ★" : ""}
              </td>
              <td>{a?.toFixed(2) ?? "–"}</td>
              <td>{b?.toFixed(2) ?? "–"}</td>
              <td>{d?.toFixed(2) ?? "–"}</td>
              <td>{harm}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** The page as the scenario's victim: its own pool user resolves the pool through the gateway while the run lasts. */
function Victim({ scenario, running }: { scenario: Scenario; running: boolean }) {
  const [seen, setSeen] = useState<{ total: number; fake: number; rounds: number; error: string }>({
    total: 0,
    fake: 0,
    rounds: 0,
    error: "",
  });
  const pool = scenario.topology?.pool ?? "EchoPool";
  useEffect(() => {
    if (!running) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const lab = new Set(store.lab?.topology.pool_elements.map((p) => p.name));
    const round = async () => {
      try {
        const pu = await pagePoolUser();
        const els = await pu.resolve(pool);
        const fake = els.filter((e) => !lab.has(store.peName(e.identifier))).length;
        if (!stopped) setSeen((s) => ({ total: els.length, fake, rounds: s.rounds + 1, error: "" }));
      } catch (e) {
        if (!stopped) setSeen((s) => ({ ...s, error: (e as Error).message }));
      }
      if (!stopped) timer = setTimeout(round, 1000);
    };
    timer = setTimeout(round, 0);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [running, pool]);
  return (
    <p class="victim" data-testid="victim" data-fake={seen.fake} data-rounds={seen.rounds}>
      This page is the victim: {scenario.browser_part?.what}.{" "}
      {seen.rounds > 0
        ? `Last resolution of ${pool}: ${seen.total} elements, ${seen.fake} of them not a PE of this lab.`
        : running
          ? "Resolving…"
          : ""}
      {seen.error && ` (${seen.error})`}
    </p>
  );
}

export function Scenarios({ online }: { online: boolean }) {
  const wanted = useRef(fromHash()).current;
  const [catalogue, setCatalogue] = useState<Scenario[]>([]);
  const [error, setError] = useState("");
  const [chosen, setChosen] = useState<string | null>(wanted.scenario ?? null);
  const [seed, setSeed] = useState(wanted.seed ?? 1);
  const [on, setOn] = useState<string[]>(wanted.defences ?? []);
  const [floor, setFloor] = useState("");
  const [scale, setScale] = useState(wanted.scale ?? 1);
  const [run, setRun] = useState<RunView | null>(null);
  const [queue, setQueue] = useState<RunRequest[]>([]);
  const [offline, setOffline] = useState<RunRecord | null>(null);
  // Ended runs with their ids, so that each one's capture stays downloadable.
  const [done, setDone] = useState<{ view: RunView; record: RunRecord }[]>([]);
  const autoRun = useRef(wanted.run);

  useEffect(() => {
    if (!online) return;
    api
      .scenarios()
      .then((c) => setCatalogue((c as { scenarios: Scenario[] }).scenarios))
      .catch((e: Error) => setError(`scenarios: ${e.message}`));
  }, [online]);

  // Poll the run while it runs; start the next queued one when it ends.
  useEffect(() => {
    if (!run) return;
    if (run.state !== "running") {
      const next = queue[0];
      if (next) {
        setQueue(queue.slice(1));
        void submit(next);
      }
      return;
    }
    const t = setTimeout(async () => {
      try {
        const r = (await api.run(run.run_id)) as RunView;
        setRun(r);
        const ended = r.record;
        if (r.state !== "running" && ended) setDone((d) => [...d, { view: r, record: ended }]);
      } catch (e) {
        setError((e as Error).message);
      }
    }, 400);
    return () => clearTimeout(t);
  }, [run]);

  const scenario = catalogue.find((s) => s.id === chosen) ?? null;
  const request = (s: Scenario, defencesOn: string[]): RunRequest => {
    const r: RunRequest = {
      scenario: s.id,
      seed,
      defences: Object.fromEntries(s.defences.map((d) => [d.name, defencesOn.includes(d.name)])),
    };
    const f = Number.parseFloat(floor);
    if (floor.trim() !== "" && Number.isFinite(f)) r.floor = f;
    if (scale !== 1) r.phase_scale = scale;
    return r;
  };
  const submit = async (req: RunRequest) => {
    setError("");
    try {
      const { run_id } = (await api.startRun(req)) as { run_id: string };
      setRun({
        run_id,
        state: "running",
        started_ms: Date.now(),
        progress: null,
        record: null,
        has_pcap: false,
        error: null,
      });
    } catch (e) {
      setQueue([]);
      setError(`run: ${(e as Error).message}`);
    }
  };
  const start = () => {
    if (!scenario) return;
    history.replaceState(null, "", permalink(scenario, seed, on, scale));
    void submit(request(scenario, on));
  };
  const compare = () => {
    if (!scenario) return;
    const withOn = on.length > 0 ? on : scenario.defences.map((d) => d.name);
    setQueue([request(scenario, withOn)]);
    void submit(request(scenario, []));
  };
  useEffect(() => {
    if (autoRun.current && scenario && !run) {
      autoRun.current = false;
      start();
    }
  }, [scenario]);

  const stop = () => {
    setQueue([]);
    if (run) void api.stopRun(run.run_id).catch((e: Error) => setError(e.message));
  };
  const open = async (ev: Event) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (!f) return;
    try {
      const r = JSON.parse(await f.text()) as RunRecord;
      if (r.schema !== "rserpool-run/2") throw new Error(`not a run record (schema ${String(r.schema)})`);
      if (!Array.isArray(r.samples) || !Array.isArray(r.phases) || !r.scenario)
        throw new Error("a run record needs scenario, phases and samples");
      r.events ??= [];
      r.defences ??= {};
      setOffline(r);
    } catch (e) {
      setError(`open: ${(e as Error).message}`);
    }
  };
  const sameSeed = (r: RunRecord, want: boolean) =>
    r.scenario.id === chosen && r.seed === seed && Object.values(r.defences).some((x) => x) === want;
  const offEnded = [...done].reverse().find((d) => sameSeed(d.record, false));
  const onEnded = [...done].reverse().find((d) => sameSeed(d.record, true));
  const offRun = offEnded?.record;
  const onRun = onEnded?.record;
  const running = run?.state === "running";
  const startedMs = (r: RunRecord, fallback: number | null) => {
    const t = r.started_at ? Date.parse(r.started_at) : Number.NaN;
    return Number.isFinite(t) ? t : fallback;
  };

  return (
    <section class="panel scenarios" aria-labelledby="sc-h">
      <h2 id="sc-h">Scenarios</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <label class="open-run">
        Open a saved run (run.json){" "}
        <input type="file" accept="application/json,.json" onChange={open} data-testid="open-run" />
      </label>
      {offline && <RunPanel record={offline} label="Saved run" startedMs={null} />}
      {online && catalogue.length === 0 && !error && <p class="hint">Loading the catalogue…</p>}
      <div class="cards" data-testid="catalogue">
        {catalogue.map((s) => (
          <button
            type="button"
            key={s.id}
            class={`card ${s.id === chosen ? "chosen" : ""}`}
            aria-pressed={s.id === chosen}
            data-scenario={s.id}
            onClick={() => {
              setChosen(s.id);
              setOn(s.defences.filter((d) => d.default).map((d) => d.name));
            }}
            disabled={s.class === "not-staged" || s.phases.length === 0}
            title={s.not_staged_reason ?? s.effect}
          >
            <strong>{s.title}</strong>
            <span class="small">
              {s.section ? `RFC 5355 §${s.section}` : "beyond RFC 5355"} · {s.class}
              {s.phases.length === 0 && s.class !== "not-staged" ? " · a probe (CLI)" : ""}
            </span>
            <span class="threat">{s.threat}</span>
            <span class="small">
              {s.defences.length > 0
                ? `defences: ${s.defences.map((d) => d.name).join(", ")}`
                : "no defence to switch"}
              {s.browser_part ? ` · this page plays the ${s.browser_part.role}` : ""}
            </span>
          </button>
        ))}
      </div>
      {scenario && (
        <div class="runner" data-testid="runner">
          <h3>{scenario.title}</h3>
          <p>
            {scenario.threat} <em>{scenario.effect}</em>
          </p>
          <fieldset>
            <legend>Defences</legend>
            {scenario.defences.length === 0 && <span>none to switch</span>}
            {scenario.defences.map((d) => (
              <label key={d.name} title={d.what}>
                <input
                  type="checkbox"
                  checked={on.includes(d.name)}
                  onChange={(e) =>
                    setOn((x) =>
                      (e.target as HTMLInputElement).checked ? [...x, d.name] : x.filter((n) => n !== d.name),
                    )
                  }
                />{" "}
                {d.name} <span class="small">({d.kind})</span>
              </label>
            ))}
          </fieldset>
          <div class="run-controls">
            <label>
              seed{" "}
              <input
                type="number"
                min={0}
                value={seed}
                onInput={(e) =>
                  setSeed(Math.max(0, Math.trunc(Number((e.target as HTMLInputElement).value))))
                }
              />
            </label>
            <label>
              duration{" "}
              <select value={scale} onChange={(e) => setScale(Number((e.target as HTMLSelectElement).value))}>
                <option value={1}>as in the catalogue</option>
                <option value={0.5}>× 0.5</option>
                <option value={0.25}>× 0.25</option>
                <option value={2}>× 2</option>
              </select>
            </label>
            <label title="Stop the run when the scenario's service metric falls below this value">
              stop below{" "}
              <input
                type="number"
                step="any"
                value={floor}
                placeholder="no floor"
                onInput={(e) => setFloor((e.target as HTMLInputElement).value)}
              />
            </label>
            <button type="button" onClick={start} disabled={running}>
              Run
            </button>
            <button type="button" onClick={compare} disabled={running || scenario.defences.length === 0}>
              Run off, then on
            </button>
            <button type="button" onClick={stop} disabled={!running}>
              Stop
            </button>
            <a href={permalink(scenario, seed, on, scale)} data-testid="permalink">
              permalink (runs this again)
            </a>
          </div>
          {scenario.browser_part?.role === "victim" && <Victim scenario={scenario} running={running} />}
          {scenario.browser_part?.role === "attacker" && (
            <p class="small">
              In this scenario the attacker could be a browser: {scenario.browser_part.what}.
            </p>
          )}
          {run && (
            <p role="status" data-testid="run-state" data-state={run.state}>
              run {run.run_id}: {run.state}
              {run.progress
                ? `, ${run.progress.phase} at ${(run.progress.elapsed_ms / 1000).toFixed(1)} s`
                : ""}
              {queue.length > 0 ? ", then the same seed with the defence on" : ""}
              {run.error ? `: ${run.error}` : ""}
            </p>
          )}
          {run?.record && !(offRun && onRun) && (
            <RunPanel
              record={run.record}
              label={`Run ${run.run_id}${run.state === "running" ? " (running)" : ""}`}
              startedMs={startedMs(run.record, run.started_ms)}
              run={run}
            />
          )}
          {offRun && onRun && (
            <>
              <Compare off={offRun} on={onRun} />
              <div class="runs">
                <RunPanel
                  record={offRun}
                  label="Defences off"
                  startedMs={startedMs(offRun, null)}
                  run={offEnded?.view}
                />
                <RunPanel
                  record={onRun}
                  label="Defences on"
                  startedMs={startedMs(onRun, null)}
                  run={onEnded?.view}
                />
              </div>
            </>
          )}
        </div>
      )}
    </section>
  );
}
