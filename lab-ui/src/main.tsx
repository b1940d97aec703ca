import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, labKey, subscribe } from "./api";
import { PoolUserPanel } from "./pooluser";
import { Scenarios } from "./scenarios";
import { SequenceChart } from "./seq";
import { refreshHandlespace, store } from "./store";
import { Topology } from "./topology";

function useStore(): number {
  const [v, setV] = useState(0);
  useEffect(() => store.subscribe(() => setV((x) => x + 1)), []);
  return v;
}

async function poll(): Promise<void> {
  try {
    store.setStatus(await api.status());
  } catch (e) {
    store.error = (e as Error).message;
  }
}

async function start(): Promise<void> {
  if (!labKey()) {
    store.error = "No lab key in the address: open the URL `rserpool lab up` printed (…/#key=…).";
    store.changed();
    return;
  }
  try {
    store.setLab(await api.lab());
  } catch (e) {
    store.error = `lab: ${(e as Error).message}`;
    store.changed();
    return;
  }
  await poll();
  subscribe({
    process: (e) => store.processChanged(e.name, e.state),
    csp: (e) => store.csp(e),
    tap: (e) => store.tap(e),
    ready: () => void refreshHandlespace(),
  });
  void refreshHandlespace();
  setInterval(poll, 2000);
  setInterval(refreshHandlespace, 4000);
  // Staleness is a matter of time passing.
  setInterval(() => store.changed(), 1000);
}

function App() {
  const v = useStore();
  const nodes = store.nodes(Date.now());
  return (
    <>
      <header>
        <h1>RSerPool lab</h1>
        <span data-testid="lab-mode">{store.lab ? `${store.lab.mode} lab` : "connecting…"}</span>
      </header>
      {store.error && (
        <p class="error" role="alert">
          {store.error}
        </p>
      )}
      {store.lab && (
        <main>
          <Topology nodes={nodes} />
          <PoolUserPanel />
          <SequenceChart version={v} />
          <Scenarios online={true} />
        </main>
      )}
      {!store.lab && (
        <main>
          <Scenarios online={false} />
        </main>
      )}
    </>
  );
}

// The benchmark (bench.mjs) fills the sequence chart through this handle.
(window as unknown as { __labBench: typeof store }).__labBench = store;

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App />, root);
}
void start();
