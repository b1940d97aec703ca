// A saved run opened without a lab: the built page straight from disk
// (file://, no server, no key), a run record the runner wrote
// (docs/runs/), the same views as a live run, replayed.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { CHROMIUM_FLAGS, root, screenshot } from "./lab-harness.mjs";

const RECORD = join(root, "docs/runs/rfc5355-2.13-eu-flood-off-seed1.json");

test("a saved run replays offline: attack window, harm chart, events, time cursor", async () => {
  const record = JSON.parse(readFileSync(RECORD, "utf8"));
  const attack = record.phases.find((p) => p.name === "attack");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_FLAGS,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = [];
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(String(e)));
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(`file://${join(root, "lab-ui/dist/index.html")}`);
    await page.getByText("no lab: saved runs only").waitFor();
    await page.getByLabel("Open a saved run (run.json)").setInputFiles(RECORD);
    const view = page.getByTestId("run-view");
    await view.waitFor();
    assert.equal(
      await view.getByTestId("attack-window").textContent(),
      `attack window ${(attack.start_ms / 1000).toFixed(1)}–${(attack.end_ms / 1000).toFixed(1)} s (shaded)`,
    );
    await view.locator("[data-testid=harm-chart] canvas").waitFor();
    // Every event of the record is listed, in the record's order.
    const kinds = await view.locator(".events li span").allTextContents();
    assert.deepEqual(
      kinds,
      record.events.map((e) => e.kind),
    );
    assert.match(
      await view.getByTestId("verdict").textContent(),
      new RegExp(record.verdict.passed ? "as expected" : "not as expected"),
    );
    // Replay runs the time cursor to the end of the run.
    await view.getByRole("button", { name: "Replay" }).click();
    const end = Math.max(...record.phases.map((p) => p.end_ms));
    await page.waitForFunction(
      (t) =>
        document
          .querySelector("[data-testid=cursor-at]")
          ?.textContent.startsWith(`${(t / 1000).toFixed(2)} s`),
      end,
      { timeout: 30_000 },
    );
    // A moment in the attack: the cursor names its phase and the values then.
    await view.getByRole("slider", { name: "time cursor" }).fill(String(attack.start_ms + 1000));
    assert.match(await view.getByTestId("cursor-at").textContent(), /, attack: healthy_pes \d/);
    await screenshot(page, "saved-run-offline");
    assert.ok(
      requests.every((u) => u.startsWith("file:") || u.startsWith("data:") || u.startsWith("blob:")),
      requests.join("\n"),
    );
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
