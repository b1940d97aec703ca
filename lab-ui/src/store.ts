// The page's state: the lab as started, what the feeds say about each node,
// and every message for the sequence chart. One store, subscribers redraw.

import { api, type CspEvent, type Handlespace, type LabInfo, type ProcessStatus, type TapEvent } from "./api";

export type NodeKind = "registrar" | "pool-element" | "pool-user" | "gateway" | "attacker" | "other";
export type NodeState = "up" | "stale" | "dead" | "evicted" | "not-started";

export interface LabNode {
  name: string;
  kind: NodeKind;
  pool: string | null;
  registrar: string | null;
  state: NodeState;
  /** Lab process that can be killed (not the page's own pool user). */
  controllable: boolean;
}

export interface Edge {
  from: string;
  to: string;
  protocol: "enrp" | "asap" | "asap-ws";
}

export interface Msg {
  seq: number;
  t_ms: number;
  from: string;
  to: string;
  type: string;
  source: "page" | "tap" | "note";
  length: number | null;
  detail: unknown;
}

export const PAGE_PU = "this page";
const STALE_INTERVALS = 4;

export class Store {
  lab: LabInfo | null = null;
  status = new Map<string, ProcessStatus>();
  lastCsp = new Map<string, CspEvent>();
  handlespace: Handlespace | null = null;
  /** PE identifier (hex, 8 digits) → lab node, from the handlespace. */
  peById = new Map<string, string>();
  msgs: Msg[] = [];
  homeRegistrar: string | null = null;
  sessionPe: string | null = null;
  error: string | null = null;
  /** No lab to talk to (no key in the address): saved runs only. */
  offline = false;
  /** A scenario run's time cursor: a moment (host clock, ms) and the nodes its events named up to then. */
  cursor: { t_ms: number; nodes: string[] } | null = null;
  private subs = new Set<() => void>();
  private queued = false;

  subscribe(f: () => void): () => void {
    this.subs.add(f);
    return () => this.subs.delete(f);
  }
  /** Coalesces changes into one redraw per animation frame. */
  changed(): void {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      for (const f of this.subs) f();
    });
  }

  setCursor(c: { t_ms: number; nodes: string[] } | null): void {
    this.cursor = c;
    this.changed();
  }
  setLab(l: LabInfo): void {
    this.lab = l;
    this.changed();
  }
  setStatus(list: ProcessStatus[]): void {
    this.status = new Map(list.map((p) => [p.name, p]));
    this.changed();
  }
  processChanged(name: string, state: ProcessStatus["state"]): void {
    const p = this.status.get(name);
    if (p) this.status.set(name, { ...p, state });
    if (state !== "running") this.lastCsp.delete(name);
    this.changed();
  }
  csp(e: CspEvent): void {
    if (e.node) this.lastCsp.set(e.node, e);
    this.changed();
  }
  setHandlespace(h: Handlespace): void {
    this.handlespace = h;
    for (const r of h.registrars)
      for (const pool of Object.values(r.pools))
        for (const el of pool.elements) if (el.node) this.peById.set(el.id_hex.toLowerCase(), el.node);
    this.changed();
  }
  peName(identifier: string): string {
    const hex = identifier.replace(/^0x/i, "").toLowerCase().padStart(8, "0");
    return this.peById.get(hex) ?? `PE ${identifier}`;
  }
  /** A registrar's name from its identifier (as the pool user prints it). */
  registrarName(id: string): string {
    const n = Number.parseInt(id, 16);
    return this.lab?.topology.registrars.find((r) => r.id === n)?.name ?? id;
  }
  /** Registrar behind a gateway URL: /asap/i is the i-th registrar. */
  registrarOfUrl(url: string): string {
    const m = /\/asap\/(\d+)/.exec(url);
    const regs = this.lab?.topology.registrars ?? [];
    const r = m?.[1] ? regs[Number(m[1]) - 1] : undefined;
    return r?.name ?? "registrar";
  }

  push(m: Omit<Msg, "seq">): void {
    this.msgs.push({ ...m, seq: this.msgs.length });
    this.changed();
  }
  tap(e: TapEvent): void {
    const reg = this.homeRegistrar ?? "registrar";
    const pe = this.sessionPe ?? "pool element";
    const toPe =
      e.direction === "from-pool-element" ||
      (e.direction === "from-client" && /Cookie|Business Card|Data/.test(e.message_type));
    const far = toPe ? pe : reg;
    const [from, to] = e.direction === "from-client" ? ["gateway", far] : [far, "gateway"];
    this.push({
      t_ms: e.t_ms,
      from,
      to,
      type: e.message_type,
      source: "tap",
      length: null,
      detail: e,
    });
  }

  nodes(now: number): LabNode[] {
    const l = this.lab;
    if (!l) return [];
    const out: LabNode[] = [];
    const interval = l.csp_interval_ms;
    const inHs = new Set<string>();
    let hsOk = false;
    for (const r of this.handlespace?.registrars ?? []) {
      if (r.error) continue;
      hsOk = true;
      for (const pool of Object.values(r.pools))
        for (const el of pool.elements) if (el.node) inHs.add(el.node);
    }
    const state = (name: string, kind: NodeKind): NodeState => {
      const p = this.status.get(name);
      if (!p) return "up";
      if (p.state === "not-started") return "not-started";
      if (p.state !== "running") return "dead";
      if (kind === "pool-element" && hsOk && !inHs.has(name)) return "evicted";
      const c = this.lastCsp.get(name);
      if (interval && c && now - c.t_ms > STALE_INTERVALS * interval) return "stale";
      return "up";
    };
    for (const r of l.topology.registrars)
      out.push({
        name: r.name,
        kind: "registrar",
        pool: null,
        registrar: null,
        state: state(r.name, "registrar"),
        controllable: true,
      });
    for (const pe of l.topology.pool_elements)
      out.push({
        name: pe.name,
        kind: "pool-element",
        pool: pe.pool,
        registrar: pe.registrar,
        state: state(pe.name, "pool-element"),
        controllable: true,
      });
    const covered = new Set(out.map((n) => n.name));
    for (const p of l.topology.processes) {
      if (covered.has(p.name)) continue;
      const kind: NodeKind = p.name.startsWith("gateway")
        ? "gateway"
        : /attack|rogue|flood|actor/.test(p.kind + p.name)
          ? "attacker"
          : "other";
      out.push({
        name: p.name,
        kind,
        pool: null,
        registrar: null,
        state: state(p.name, kind),
        controllable: true,
      });
    }
    out.push({
      name: PAGE_PU,
      kind: "pool-user",
      pool: null,
      registrar: this.homeRegistrar,
      state: "up",
      controllable: false,
    });
    return out;
  }

  /** Home registrar of a PE: the handlespace's word, else the topology's. */
  homeOf(pe: string): string | null {
    for (const r of this.handlespace?.registrars ?? [])
      for (const pool of Object.values(r.pools))
        for (const el of pool.elements) if (el.node === pe && el.home_registrar) return el.home_registrar;
    return this.lab?.topology.pool_elements.find((p) => p.name === pe)?.registrar ?? null;
  }

  edges(): Edge[] {
    const out: Edge[] = [];
    const seen = new Set<string>();
    for (const [node, c] of this.lastCsp) {
      if (c.kind !== "registrar") continue;
      for (const a of c.associations) {
        if (a.ppid !== 12 || !a.receiver_node || a.receiver_kind !== "registrar") continue;
        const key = [node, a.receiver_node].sort().join("|");
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ from: node, to: a.receiver_node, protocol: "enrp" });
      }
    }
    for (const pe of this.lab?.topology.pool_elements ?? []) {
      const st = this.status.get(pe.name);
      if (st && st.state !== "running") continue;
      const home = this.homeOf(pe.name);
      if (home) out.push({ from: pe.name, to: home, protocol: "asap" });
    }
    const gw = this.lab?.topology.processes.find((p) => p.name.startsWith("gateway"));
    if (this.homeRegistrar && gw) {
      out.push({ from: PAGE_PU, to: gw.name, protocol: "asap-ws" });
      out.push({ from: gw.name, to: this.homeRegistrar, protocol: "asap" });
    }
    return out;
  }
}

export const store = new Store();

let hsBusy: Promise<void> | null = null;
/** Asks every registrar's handlespace again (one request at a time). */
export function refreshHandlespace(): Promise<void> {
  hsBusy ??= api
    .handlespace()
    .then((h) => store.setHandlespace(h))
    .catch((e: Error) => console.warn("handlespace:", e.message))
    .finally(() => {
      hsBusy = null;
    });
  return hsBusy;
}

/** Names for these PE identifiers, asking the handlespace if one is unknown. */
export async function knowPes(ids: string[]): Promise<void> {
  for (let i = 0; i < 3 && ids.some((id) => store.peName(id).startsWith("PE ")); i++)
    await refreshHandlespace();
}
