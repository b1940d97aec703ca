// The lab control server's API (docs/lab-page.md): the run's secret comes
// from the URL fragment and goes with every request as X-Lab-Key.

export interface Registrar {
  name: string;
  id: number;
  asap: string;
  enrp: string;
}
export interface PoolElementSpec {
  name: string;
  pool: string;
  registrar: string;
}
export interface ProcessSpec {
  name: string;
  kind: string;
}
export interface LabInfo {
  mode: string;
  topology: { registrars: Registrar[]; pool_elements: PoolElementSpec[]; processes: ProcessSpec[] };
  gateway_urls: string[];
  csp_interval_ms: number | null;
}
export interface ProcessStatus {
  name: string;
  kind: string;
  state: "not-started" | "running" | "exited" | "killed";
  pid: number | null;
}
export interface HsElement {
  id: number;
  id_hex: string;
  home: number;
  home_registrar: string | null;
  addresses: string[];
  port: number;
  transport: string;
  node: string | null;
}
export interface HsRegistrar {
  name: string;
  id: number;
  error: string | null;
  pools: Record<string, { policy: string; elements: HsElement[] }>;
}
export interface Handlespace {
  registrars: HsRegistrar[];
  t_ms: number;
}
export interface CspAssociation {
  receiver_kind: string;
  receiver_node: string | null;
  ppid: number;
}
export interface CspEvent {
  kind: string;
  node: string | null;
  status: string;
  workload: number | null;
  interval_ms: number;
  final: boolean;
  associations: CspAssociation[];
  t_ms: number;
}
export interface TapEvent {
  gateway: string;
  session: number;
  direction: "from-client" | "from-registrar" | "from-pool-element";
  channel: number;
  message_type: string;
  message: unknown;
  t_ms: number;
}
export interface ProcessEvent {
  name: string;
  change: "started" | "ended";
  state: ProcessStatus["state"];
  t_ms: number;
}

export function labKey(): string {
  const m = /(?:^|[#&])key=([^&]+)/.exec(location.hash);
  return m?.[1] ? decodeURIComponent(m[1]) : "";
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { "X-Lab-Key": labKey() } };
  if (body !== undefined) {
    init.headers = { "X-Lab-Key": labKey(), "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(r.status, "bad-json", `${path}: not JSON (${r.status})`);
  }
  if (!r.ok) {
    const e = (json ?? {}) as { error?: string; message?: string };
    throw new ApiError(r.status, e.error ?? "http", e.message ?? `${path}: ${r.status}`);
  }
  return json as T;
}

export const api = {
  lab: () => call<LabInfo>("GET", "/api/lab"),
  status: () => call<ProcessStatus[]>("GET", "/api/status"),
  handlespace: () => call<Handlespace>("GET", "/api/handlespace"),
  scenarios: () => call<unknown>("GET", "/api/scenarios"),
  startRun: (req: unknown) => call<unknown>("POST", "/api/runs", req),
  run: (id: string) => call<unknown>("GET", `/api/runs/${encodeURIComponent(id)}`),
  stopRun: (id: string) => call<unknown>("POST", `/api/runs/${encodeURIComponent(id)}/stop`),
  node: (name: string, action: "kill" | "stop" | "restart") =>
    call<unknown>("POST", `/api/nodes/${encodeURIComponent(name)}/${action}`),
};

export interface EventHandlers {
  process: (e: ProcessEvent) => void;
  csp: (e: CspEvent) => void;
  tap: (e: TapEvent) => void;
  ready: (e: { after_ms: number }) => void;
}

export function subscribe(h: EventHandlers): EventSource {
  const es = new EventSource(`/api/events?key=${encodeURIComponent(labKey())}`);
  const on = <K extends keyof EventHandlers>(name: K) =>
    es.addEventListener(name, (ev) => {
      try {
        h[name](JSON.parse((ev as MessageEvent<string>).data));
      } catch (err) {
        console.warn(`lab page: bad ${name} event`, err);
      }
    });
  on("process");
  on("csp");
  on("tap");
  on("ready");
  return es;
}
