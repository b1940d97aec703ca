// Figures for BENCHMARKS.md (printed, never asserted):
//   page download, gzip -9: app.js + app.css + the wasm module
//   lab page opened → topology listed (every PE of the lab shown up)
//   frame time while scrolling the sequence chart with 10,000 messages
// Usage: node bench.mjs   (after npm run build; starts a lab of its own)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { openPage, SMALL_TOPOLOGY, startLab } from "./test/lab-harness.mjs";

const dist = join(import.meta.dirname, "dist");
let total = 0;
for (const f of ["app.js", "app.css", "rserpool_wasm_bg.wasm"]) {
  const raw = readFileSync(join(dist, f));
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  console.log(`download ${f}: ${(raw.length / 1024).toFixed(1)} KB, gzip ${(gz / 1024).toFixed(1)} KB`);
}
console.log(`download total gzip (JS+CSS+wasm): ${(total / 1024).toFixed(1)} KB`);

const lab = await startLab(SMALL_TOPOLOGY);
try {
  const t0 = Date.now();
  const { page, context } = await openPage(lab);
  await page.waitForFunction(
    () =>
      document.querySelectorAll('[data-testid=node-list] tr[data-kind="pool-element"][data-state="up"]')
        .length === 3,
    null,
    { timeout: 60_000 },
  );
  console.log(`lab up: ${lab.upMs} ms; page opened → topology listed: ${Date.now() - t0} ms`);
  const frames = await page.evaluate(async () => {
    const s = window.__labBench;
    for (let i = 0; i < 10_000; i++)
      s.push({
        t_ms: Date.now() + i,
        from: "this page",
        to: "gateway",
        type: `msg-${i % 7}`,
        source: "page",
        length: 40,
        detail: null,
      });
    await new Promise((r) => setTimeout(r, 500));
    const view = document.querySelector(".seq-view");
    const times = [];
    let last = performance.now();
    for (let f = 0; f < 120; f++) {
      view.scrollTop = (f * 997) % view.scrollHeight;
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
    times.sort((a, b) => a - b);
    return {
      median: times[60],
      p95: times[114],
      count: document.querySelector("[data-testid=seq-count]").textContent,
    };
  });
  console.log(
    `sequence chart, ${frames.count}: frame time while scrolling median ${frames.median.toFixed(1)} ms, p95 ${frames.p95.toFixed(1)} ms`,
  );
  await context.close();
} finally {
  await lab.down();
}
