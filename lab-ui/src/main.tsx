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
  if (store.offline) return;
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
        <span data-testid="lab-mode">
          {store.lab ? `${store.lab.mode} lab` : store.offline ? "no lab: saved runs only" : "connecting…"}
        </span>
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
      {store.offline && (
        <main>
          <p class="hint">
            No lab key in the address, so no lab: open a saved run below. For the live lab, open the URL{" "}
            <code>rserpool lab up</code> printed (…/#key=…).
          </p>
          <Scenarios online={false} />
        </main>
      )}
    </>
  );
}

// The benchmark (bench.mjs) fills the sequence chart through this handle.
(window as unknown as { __labBench: typeof store }).__labBench = store;

// Without a lab key (a saved page, or the built files opened from disk)
// there is no lab: only saved runs can be looked at.
store.offline = !labKey();
const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App />, root);
}
void start();
