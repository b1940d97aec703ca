// The lab page against a live lab in real Chromium: it draws exactly the
// running topology, its pool user resolves and keeps an echo session
// through the gateway, and a PE killed from the page turns dead while the
// session's failover shows in the notice panel and the sequence chart.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { openPage, SMALL_TOPOLOGY, screenshot, startLab } from "./lab-harness.mjs";

async function listedNodes(page) {
  return page.$$eval("[data-testid=node-list] tbody tr", (rows) =>
    rows.map((r) => ({ name: r.dataset.node, kind: r.dataset.kind, state: r.dataset.state })),
  );
}

async function waitForNodes(page, kind, names) {
  await page.waitForFunction(
    ([kind, n]) =>
      [...document.querySelectorAll(`[data-testid=node-list] tr[data-kind="${kind}"]`)].length === n,
    [kind, names.length],
    { timeout: 30_000 },
  );
}

describe("lab page, two registrars and three PEs in two pools", () => {
  let labRun;
  let browser;
  before(async () => {
    labRun = await startLab(SMALL_TOPOLOGY);
    browser = await openPage(labRun);
  });
  after(async () => {
    await browser?.context.close();
    await labRun?.down();
  });

  test("lists exactly the running topology's registrars and PEs", async () => {
    const { page } = browser;
    await waitForNodes(page, "pool-element", ["pe-east", "pe-west", "pe-other"]);
    const nodes = await listedNodes(page);
    assert.deepEqual(
      nodes.filter((n) => n.kind === "registrar").map((n) => n.name),
      ["registrar-east", "registrar-west"],
    );
    assert.deepEqual(
      nodes
        .filter((n) => n.kind === "pool-element")
        .map((n) => n.name)
        .sort(),
      ["pe-east", "pe-other", "pe-west"],
    );
    // Both pools are drawn as groups.
    const pools = await page.$$eval(".pool text", (t) => t.map((x) => x.textContent));
    assert.deepEqual(pools.sort(), ["EchoPool", "OtherPool"]);
    await page.waitForFunction(
      () =>
        document.querySelectorAll('[data-testid=node-list] tr[data-kind="pool-element"][data-state="up"]')
          .length === 3,
      null,
      { timeout: 30_000 },
    );
  });

  test("resolves EchoPool, echoes, and a PE killed from the page fails the session over", async () => {
    const { page, errors } = browser;
    await page.getByRole("button", { name: "Resolve" }).click();
    await page.waitForSelector("[data-testid=resolved] tbody tr", { timeout: 30_000 });
    const resolved = await page.$$eval("[data-testid=resolved] tbody tr td:nth-child(2)", (t) =>
      t.map((x) => x.textContent),
    );
    assert.deepEqual(resolved.sort(), ["pe-east", "pe-west"]);

    await page.getByRole("button", { name: "Open session" }).click();
    const serving = page.getByTestId("session-pe");
    await serving.waitFor({ timeout: 30_000 });
    const pe = (await serving.textContent()).replace("serving PE: ", "");
    assert.ok(["pe-east", "pe-west"].includes(pe), `serving ${pe}`);
    await page.getByLabel("echo", { exact: true }).fill("before-kill");
    await page.getByRole("button", { name: "Send" }).click();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=echo]")?.textContent.includes("before-kill"),
      null,
      {
        timeout: 20_000,
      },
    );
    await screenshot(page, "session");

    await page.getByRole("button", { name: `actions for ${pe}` }).click();
    await page.getByRole("button", { name: "Kill", exact: true }).click();
    await page.getByRole("button", { name: "Confirm kill" }).click();
    await page.waitForSelector(`[data-testid=node-list] tr[data-node="${pe}"][data-state="dead"]`, {
      timeout: 20_000,
    });

    await page.getByLabel("echo", { exact: true }).fill("after-kill");
    await page.getByRole("button", { name: "Send" }).click();
    const notice = page.getByTestId("failover-notices").locator(".notice");
    await notice.first().waitFor({ timeout: 60_000 });
    const text = await notice.first().textContent();
    const other = pe === "pe-east" ? "pe-west" : "pe-east";
    assert.match(text, new RegExp(`${pe} → ${other}`));
    assert.match(text, /cookie (replayed|not replayed)/);
    assert.match(text, /security/);
    await page.waitForFunction(
      () => document.querySelector("[data-testid=echo]")?.textContent.includes("after-kill"),
      null,
      {
        timeout: 30_000,
      },
    );
    // The failover is a row of the sequence chart.
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll("[data-testid=seq-rows] li")].some((li) =>
          li.textContent.includes("failover"),
        ),
      null,
      { timeout: 10_000 },
    );
    const rows = await page.$$eval("[data-testid=seq-rows] li", (l) => l.map((x) => x.textContent));
    assert.ok(
      rows.some((r) => r.includes(`${pe} → ${other}: failover`)),
      rows.join("\n"),
    );
    // The page's own ASAP messages are in it too.
    const count = await page.getByTestId("seq-count").textContent();
    assert.ok(Number.parseInt(count, 10) > 3, count);
    await screenshot(page, "failover");
    assert.deepEqual(errors, []);
  });

  test("the scenario catalogue is shown as cards", async () => {
    const { page, errors } = browser;
    await page.locator(".scenarios .card").first().waitFor({ timeout: 10_000 });
    assert.ok((await page.locator(".scenarios .card").count()) > 3);
    assert.deepEqual(errors, []);
  });

  test("narrow window keeps every control reachable", async () => {
    const { page, errors } = browser;
    await page.setViewportSize({ width: 420, height: 800 });
    await page.getByRole("button", { name: "Resolve" }).focus();
    await page.keyboard.press("Enter");
    await page.waitForSelector("[data-testid=resolved] tbody tr");
    await screenshot(page, "narrow");
    await page.setViewportSize({ width: 1280, height: 800 });
    assert.deepEqual(errors, []);
  });
});

describe("lab page, default topology", () => {
  let labRun;
  let browser;
  before(async () => {
    labRun = await startLab(null);
    browser = await openPage(labRun);
  });
  after(async () => {
    await browser?.context.close();
    await labRun?.down();
  });

  test("lists exactly the default lab's three registrars and four PEs", async () => {
    const { page, errors } = browser;
    await waitForNodes(page, "pool-element", ["pe-1", "pe-2", "pe-3", "pe-4"]);
    const nodes = await listedNodes(page);
    assert.deepEqual(
      nodes.filter((n) => n.kind === "registrar").map((n) => n.name),
      ["registrar-1", "registrar-2", "registrar-3"],
    );
    assert.deepEqual(
      nodes.filter((n) => n.kind === "pool-element").map((n) => n.name),
      ["pe-1", "pe-2", "pe-3", "pe-4"],
    );
    // ENRP peerings arrive from the registrars' Component Status reports.
    await page.waitForSelector("line.edge.enrp", { state: "attached", timeout: 30_000 });
    await screenshot(page, "topology-default");
    assert.deepEqual(errors, []);
  });
});
