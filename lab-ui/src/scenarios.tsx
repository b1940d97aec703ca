// Scenario runner: the catalogue (GET /api/scenarios), runs (POST /api/runs,
// polled), a harm chart per run with the attack window shaded and events
// marked, defence off vs on compared, run records downloaded and opened
// again offline (the same chart, replayed from the file).

import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api } from "./api";

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
  metrics: Metric[];
  defences: Defence[];
  browser_part: { role: string; what: string } | null;
}
export interface RunRecord {
  schema: string;
  scenario: Scenario;
  seed: number;
  defences: Record<string, boolean>;
  phases: { name: string; start_ms: number; end_ms: number }[];
  samples: { t_ms: number; values: Record<string, number> }[];
  events: { t_ms: number; kind: string; node?: string; detail?: string }[];
  summary?: Record<string, Record<string, number>>;
  verdict?: { passed: boolean; text: string };
}
interface RunState {
  run_id: string;
  state: "running" | "finished" | "stopped" | "failed";
  progress: { phase: string; elapsed_ms: number } | null;
  record: RunRecord | null;
  has_pcap: boolean;
  error: string | null;
}

/** `#key=…&scenario=ID&seed=N&defences=a,b` (the permalink of a run). */
function fromHash(): { scenario?: string; seed?: number; defences?: string[] } {
  const p = new URLSearchParams(location.hash.slice(1));
  const seed = p.get("seed");
  return {
    scenario: p.get("scenario") ?? undefined,
    seed: seed !== null ? Number(seed) : undefined,
    defences: p.get("defences")?.split(",").filter(Boolean),
  };
}
function permalink(s: Scenario, seed: number, on: string[]): string {
  const p = new URLSearchParams(location.hash.slice(1));
  p.set("scenario", s.id);
  p.set("seed", String(seed));
  p.set("defences", on.join(","));
  return `#${p.toString()}`;
}

export function HarmChart({ record, cursor }: { record: RunRecord; cursor?: number }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = el.current;
    if (!host || record.samples.length === 0) return;
    const metrics = record.scenario.metrics.map((m) => m.name);
    const xs = record.samples.map((s) => s.t_ms / 1000);
    const data: uPlot.AlignedData = [
      xs,
      ...metrics.map((m) => record.samples.map((s) => s.values[m] ?? null)),
    ];
    const palette = ["#2563eb", "#b91c1c", "#059669", "#7c3aed", "#c2410c"];
    const shade = (u: uPlot) => {
      const g = u.ctx;
      g.save();
      for (const p of record.phases) {
        if (p.name !== "attack") continue;
        const x0 = u.valToPos(p.start_ms / 1000, "x", true);
        const x1 = u.valToPos(p.end_ms / 1000, "x", true);
        g.fillStyle = "rgba(220, 38, 38, 0.12)";
        g.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
      }
      g.strokeStyle = "#6b7280";
      g.setLineDash([4, 3]);
      for (const e of record.events) {
        const x = u.valToPos(e.t_ms / 1000, "x", true);
        g.beginPath();
        g.moveTo(x, u.bbox.top);
        g.lineTo(x, u.bbox.top + u.bbox.height);
        g.stroke();
      }
      if (cursor !== undefined) {
        g.strokeStyle = "#f59e0b";
        g.setLineDash([]);
        const x = u.valToPos(cursor / 1000, "x", true);
        g.beginPath();
        g.moveTo(x, u.bbox.top);
        g.lineTo(x, u.bbox.top + u.bbox.height);
        g.stroke();
      }
      g.restore();
    };
    const plot = new uPlot(
      {
        width: Math.max(300, host.clientWidth),
        height: 220,
        scales: { x: { time: false } },
        axes: [{ label: "s" }, {}],
        series: [
          { label: "t (s)" },
          ...metrics.map((m, i) => ({ label: m, stroke: palette[i % palette.length] })),
        ],
        hooks: { drawAxes: [shade] },
      },
      data,
      host,
    );
    return () => plot.destroy();
  }, [record, cursor]);
  return <div class="harm" ref={el} data-testid="harm-chart" />;
}

function RunView({ record, label }: { record: RunRecord; label: string }) {
  const [cursor, setCursor] = useState<number | undefined>(undefined);
  const end = record.phases.reduce((m, p) => Math.max(m, p.end_ms), 0);
  const attack = record.phases.find((p) => p.name === "attack");
  const download = () => {
    const blob = new Blob([JSON.stringify(record, null, 2)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `run-${record.scenario.id}-seed${record.seed}.json`;
    a.click();
    URL.revokeObjectURL(a.href);
  };
  return (
    <div class="run" data-testid="run-view">
      <h3>
        {label}: {record.scenario.title}, seed {record.seed}, defences{" "}
        {Object.entries(record.defences)
          .filter(([, on]) => on)
          .map(([n]) => n)
          .join(", ") || "off"}
      </h3>
      {attack && (
        <p data-testid="attack-window">
          attack window {(attack.start_ms / 1000).toFixed(1)}–{(attack.end_ms / 1000).toFixed(1)} s
        </p>
      )}
      <HarmChart record={record} cursor={cursor} />
      <label>
        time{" "}
        <input
          type="range"
          min={0}
          max={end}
          step={250}
          value={cursor ?? 0}
          onInput={(e) => setCursor(Number((e.target as HTMLInputElement).value))}
        />{" "}
        {cursor !== undefined ? `${(cursor / 1000).toFixed(2)} s` : ""}
      </label>
      <ul class="events">
        {record.events.map((e, i) => (
          <li key={`${e.t_ms}-${e.kind}-${i}`}>
            {(e.t_ms / 1000).toFixed(2)} s {e.kind}
            {e.node ? ` ${e.node}` : ""}
            {e.detail ? `: ${e.detail}` : ""}
          </li>
        ))}
      </ul>
      {record.verdict && <p>verdict: {record.verdict.text}</p>}
      <button type="button" onClick={download}>
        Download run.json
      </button>
    </div>
  );
}

function attackMean(r: RunRecord, metric: string): number | null {
  const s = r.summary?.attack?.[metric];
  return typeof s === "number" ? s : null;
}

function Compare({ off, on }: { off: RunRecord; on: RunRecord }) {
  return (
    <table data-testid="compare">
      <caption>Defence off vs on (attack phase)</caption>
      <thead>
        <tr>
          <th scope="col">metric</th>
          <th scope="col">off</th>
          <th scope="col">on</th>
          <th scope="col">difference</th>
        </tr>
      </thead>
      <tbody>
        {off.scenario.metrics.map((m) => {
          const a = attackMean(off, m.name);
          const b = attackMean(on, m.name);
          return (
            <tr key={m.name}>
              <td>
                {m.name} ({m.unit})
              </td>
              <td>{a ?? "–"}</td>
              <td>{b ?? "–"}</td>
              <td>{a !== null && b !== null ? (b - a).toFixed(2) : "–"}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function Scenarios({ online }: { online: boolean }) {
  const [catalogue, setCatalogue] = useState<Scenario[]>([]);
  const [error, setError] = useState("");
  const wanted = fromHash();
  const [chosen, setChosen] = useState<string | null>(wanted.scenario ?? null);
  const [seed, setSeed] = useState(wanted.seed ?? 42);
  const [on, setOn] = useState<string[]>(wanted.defences ?? []);
  const [run, setRun] = useState<RunState | null>(null);
  const [offline, setOffline] = useState<RunRecord | null>(null);
  const [done, setDone] = useState<RunRecord[]>([]);

  useEffect(() => {
    if (!online) return;
    api
      .scenarios()
      .then((c) => setCatalogue((c as { scenarios: Scenario[] }).scenarios))
      .catch((e: Error) => setError(`scenarios: ${e.message}`));
  }, [online]);

  useEffect(() => {
    if (run?.state !== "running") return;
    const t = setTimeout(async () => {
      try {
        const r = (await api.run(run.run_id)) as RunState;
        setRun(r);
        if (r.state !== "running" && r.record) setDone((d) => [...d, r.record as RunRecord]);
      } catch (e) {
        setError((e as Error).message);
      }
    }, 500);
    return () => clearTimeout(t);
  }, [run]);

  const scenario = catalogue.find((s) => s.id === chosen) ?? null;
  const start = async () => {
    if (!scenario) return;
    setError("");
    const defences = Object.fromEntries(scenario.defences.map((d) => [d.name, on.includes(d.name)]));
    try {
      const { run_id } = (await api.startRun({ scenario: scenario.id, seed, defences })) as {
        run_id: string;
      };
      history.replaceState(null, "", permalink(scenario, seed, on));
      setRun({ run_id, state: "running", progress: null, record: null, has_pcap: false, error: null });
    } catch (e) {
      setError(`run: ${(e as Error).message}`);
    }
  };
  const stop = () => run && void api.stopRun(run.run_id).catch((e: Error) => setError(e.message));
  const open = async (ev: Event) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (!f) return;
    try {
      const r = JSON.parse(await f.text()) as RunRecord;
      if (r.schema !== "rserpool-run/1") throw new Error(`not a run record (schema ${String(r.schema)})`);
      setOffline(r);
    } catch (e) {
      setError(`open: ${(e as Error).message}`);
    }
  };
  const last = (id: string, withDefence: boolean) =>
    [...done]
      .reverse()
      .find((r) => r.scenario.id === id && Object.values(r.defences).some((x) => x) === withDefence);
  const offRun = scenario ? last(scenario.id, false) : undefined;
  const onRun = scenario ? last(scenario.id, true) : undefined;

  return (
    <section class="panel scenarios" aria-labelledby="sc-h">
      <h2 id="sc-h">Scenarios</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <label>
        Open a saved run (run.json){" "}
        <input type="file" accept="application/json,.json" onChange={open} data-testid="open-run" />
      </label>
      {offline && <RunView record={offline} label="Saved run" />}
      <div class="cards">
        {catalogue.map((s) => (
          <button
            type="button"
            key={s.id}
            class={`card ${s.id === chosen ? "chosen" : ""}`}
            aria-pressed={s.id === chosen}
            onClick={() => {
              setChosen(s.id);
              setOn(s.defences.filter((d) => d.default).map((d) => d.name));
            }}
            disabled={s.class === "not-staged"}
            title={s.not_staged_reason ?? s.effect}
          >
            <strong>{s.title}</strong>
            <span class="small">
              {s.section ? `RFC 5355 §${s.section} · ` : ""}
              {s.class}
              {s.browser_part ? " · the page plays a part" : ""}
            </span>
          </button>
        ))}
      </div>
      {scenario && (
        <div class="runner">
          <p>{scenario.threat}</p>
          <fieldset>
            <legend>Defences</legend>
            {scenario.defences.length === 0 && <span>none exists</span>}
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
                {d.name}
              </label>
            ))}
          </fieldset>
          <label>
            seed{" "}
            <input
              type="number"
              value={seed}
              onInput={(e) => setSeed(Number((e.target as HTMLInputElement).value))}
            />
          </label>{" "}
          <button type="button" onClick={start} disabled={run?.state === "running"}>
            Run
          </button>{" "}
          <button type="button" onClick={stop} disabled={run?.state !== "running"}>
            Stop
          </button>
          {run && (
            <p role="status" data-testid="run-state">
              run {run.run_id}: {run.state}
              {run.progress ? `, ${run.progress.phase} ${(run.progress.elapsed_ms / 1000).toFixed(1)} s` : ""}
              {run.error ? `: ${run.error}` : ""}
            </p>
          )}
          {run?.record && <RunView record={run.record} label={`Run ${run.run_id}`} />}
          {offRun && onRun && <Compare off={offRun} on={onRun} />}
        </div>
      )}
    </section>
  );
}
