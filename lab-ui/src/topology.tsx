// Live topology: registrars on top, pool elements grouped by pool below,
// the gateway and this page's pool user at the bottom. A deterministic
// layout (the same lab always draws the same), edges coloured by protocol.

import { useState } from "preact/hooks";
import { api } from "./api";
import { type LabNode, PAGE_PU, store } from "./store";

const W = 760;
const H = 390;
const ROW = { registrar: 40, pe: 200, bottom: 330 };
/** Registrars sit on an arc (the middle ones lower), so that no ENRP line
 * between two of them runs behind a third, as it would on a straight row. */
const ARC = 70;

function place(nodes: LabNode[]): Map<string, { x: number; y: number }> {
  const pos = new Map<string, { x: number; y: number }>();
  const spread = (list: LabNode[], y: number) =>
    list.forEach((n, i) => {
      pos.set(n.name, { x: ((i + 0.5) * W) / list.length, y });
    });
  const registrars = nodes.filter((n) => n.kind === "registrar");
  registrars.forEach((n, i) => {
    pos.set(n.name, {
      x: ((i + 0.5) * W) / registrars.length,
      y: ROW.registrar + ARC * Math.sin((Math.PI * (i + 0.5)) / registrars.length),
    });
  });
  const pes = nodes.filter((n) => n.kind === "pool-element");
  const pools = [...new Set(pes.map((p) => p.pool ?? ""))].sort();
  const ordered = pools.flatMap((pool) => pes.filter((p) => p.pool === pool));
  spread(ordered, ROW.pe);
  spread(
    nodes.filter((n) => n.kind !== "registrar" && n.kind !== "pool-element"),
    ROW.bottom,
  );
  return pos;
}

export function Topology({ nodes }: { nodes: LabNode[] }) {
  const [selected, setSelected] = useState<string | null>(null);
  const pos = place(nodes);
  const edges = store.edges();
  const pes = nodes.filter((n) => n.kind === "pool-element");
  const pools = [...new Set(pes.map((p) => p.pool ?? ""))].sort();
  return (
    <section class="panel topology" aria-labelledby="topo-h">
      <h2 id="topo-h">Topology</h2>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label="Lab topology drawing; the list below has the same"
      >
        <title>Lab topology</title>
        {pools.map((pool) => {
          const xs = pes.filter((p) => p.pool === pool).map((p) => pos.get(p.name)?.x ?? 0);
          const x0 = Math.min(...xs) - 55;
          const x1 = Math.max(...xs) + 55;
          return (
            <g key={pool} class="pool">
              <rect x={x0} y={ROW.pe - 44} width={x1 - x0} height={104} rx={10} />
              <text x={x0 + 8} y={ROW.pe - 28}>
                {pool}
              </text>
            </g>
          );
        })}
        {edges.map((e) => {
          const a = pos.get(e.from);
          const b = pos.get(e.to);
          if (!a || !b) return null;
          return (
            <line
              key={`${e.from}-${e.to}-${e.protocol}`}
              class={`edge ${e.protocol}`}
              x1={a.x}
              y1={a.y}
              x2={b.x}
              y2={b.y}
            />
          );
        })}
        {nodes.map((n) => {
          const p = pos.get(n.name);
          if (!p) return null;
          return (
            // biome-ignore lint/a11y/useSemanticElements: an SVG node cannot be a <button>; the list below has real buttons
            <g
              key={n.name}
              class={`node ${n.kind} ${n.state}${store.cursor?.nodes.includes(n.name) ? " at-cursor" : ""}`}
              transform={`translate(${p.x},${p.y})`}
              role="button"
              tabIndex={n.controllable ? 0 : -1}
              aria-label={`${n.name}, ${n.kind}, ${n.state}`}
              onClick={() => n.controllable && setSelected(n.name)}
              onKeyDown={(ev) =>
                (ev.key === "Enter" || ev.key === " ") && n.controllable && setSelected(n.name)
              }
            >
              {n.kind === "registrar" ? (
                <rect x={-48} y={-18} width={96} height={36} rx={6} />
              ) : (
                <circle r={20} />
              )}
              <text y={n.kind === "registrar" ? 5 : 36}>{n.name}</text>
              <text class="state" y={n.kind === "registrar" ? 32 : 50}>
                {n.state}
              </text>
            </g>
          );
        })}
      </svg>
      <div class="legend" aria-hidden="true">
        <span class="k enrp">ENRP</span> <span class="k asap">ASAP</span>{" "}
        <span class="k asap-ws">ASAP over WebSocket</span> <span class="s up">up</span>{" "}
        <span class="s stale">stale</span> <span class="s dead">dead</span>{" "}
        <span class="s evicted">evicted</span>
      </div>
      <table class="nodes" data-testid="node-list">
        <caption>Nodes</caption>
        <thead>
          <tr>
            <th scope="col">name</th>
            <th scope="col">kind</th>
            <th scope="col">pool</th>
            <th scope="col">state</th>
            <th scope="col">actions</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((n) => (
            <tr key={n.name} data-node={n.name} data-kind={n.kind} data-state={n.state}>
              <td>{n.name}</td>
              <td>{n.kind}</td>
              <td>{n.pool ?? (n.kind === "pool-user" && n.registrar ? `home ${n.registrar}` : "")}</td>
              <td class={`s ${n.state}`}>{n.state}</td>
              <td>
                {n.controllable && n.name !== PAGE_PU && (
                  <button
                    type="button"
                    onClick={() => setSelected(n.name)}
                    aria-label={`actions for ${n.name}`}
                  >
                    Actions…
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {selected && <NodeActions name={selected} onClose={() => setSelected(null)} />}
    </section>
  );
}

function NodeActions({ name, onClose }: { name: string; onClose: () => void }) {
  const [confirm, setConfirm] = useState<"kill" | "stop" | "restart" | null>(null);
  const [msg, setMsg] = useState<string>("");
  const run = async (a: "kill" | "stop" | "restart") => {
    setMsg(`${a} ${name}…`);
    try {
      await api.node(name, a);
      setMsg(`${a} ${name}: done`);
      const st = await api.status();
      store.setStatus(st);
      onClose();
    } catch (e) {
      setMsg(`${a} ${name} failed: ${(e as Error).message}`);
    }
  };
  return (
    <div class="dialog" role="dialog" aria-modal="false" aria-labelledby="act-h">
      <h3 id="act-h">{name}</h3>
      {confirm ? (
        <p>
          {confirm === "kill"
            ? "Kill (SIGKILL, no deregistration)"
            : confirm === "stop"
              ? "Stop (SIGINT)"
              : "Restart"}{" "}
          <strong>{name}</strong>?{" "}
          <button type="button" class="danger" onClick={() => run(confirm)}>
            Confirm {confirm}
          </button>{" "}
          <button type="button" onClick={() => setConfirm(null)}>
            Cancel
          </button>
        </p>
      ) : (
        <p>
          <button type="button" onClick={() => setConfirm("kill")}>
            Kill
          </button>{" "}
          <button type="button" onClick={() => setConfirm("stop")}>
            Stop
          </button>{" "}
          <button type="button" onClick={() => setConfirm("restart")}>
            Restart
          </button>{" "}
          <button type="button" onClick={onClose}>
            Close
          </button>
        </p>
      )}
      <p role="status">{msg}</p>
    </div>
  );
}
