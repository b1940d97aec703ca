// The lab page against a live lab in real Chromium: it draws exactly the
// running topology, its pool user resolves and keeps an echo session
// through the gateway, and a PE killed from the page turns dead while the
// session's failover shows in the notice panel and the sequence chart.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { openPage, SMALL_TOPOLOGY, screenshot, screenshotOf, startLab } from "./lab-harness.mjs";

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
    await page.getByRole("button", { name: "Resolve", exact: true }).click();
    await page
      .waitForSelector("[data-testid=resolved] tbody tr", { timeout: 60_000 })
      .catch(async (e) =>
        assert.fail(`${e.message}; pool user: ${await page.getByTestId("pu-status").textContent()}`),
      );
    // Named with their lab process once the handlespace has them.
    const names = () =>
      page.$$eval("[data-testid=resolved] tbody tr td:nth-child(2)", (t) =>
        t.map((x) => x.textContent).sort(),
      );
    await page
      .waitForFunction(
        () =>
          [...document.querySelectorAll("[data-testid=resolved] tbody tr td:nth-child(2)")].every(
            (td) => !td.textContent.startsWith("PE "),
          ),
        null,
        { timeout: 30_000 },
      )
      .catch(() => {});
    assert.deepEqual(await names(), ["pe-east", "pe-west"]);

    await page.getByRole("button", { name: "Open session", exact: true }).click();
    const serving = page.getByTestId("session-pe");
    await serving.waitFor({ timeout: 30_000 });
    const pe = (await serving.textContent()).replace("serving PE: ", "");
    assert.ok(["pe-east", "pe-west"].includes(pe), `serving ${pe}`);
    await page.getByLabel("echo", { exact: true }).fill("before-kill");
    await page.getByRole("button", { name: "Send", exact: true }).click();
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
    await page.getByRole("button", { name: "Send", exact: true }).click();
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

  test("narrow window keeps every control reachable", async () => {
    const { page, errors } = browser;
    await page.setViewportSize({ width: 420, height: 800 });
    await page.getByRole("button", { name: "Resolve", exact: true }).focus();
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
    // ENRP peerings arrive from the registrars' Component Status reports:
    // all three, none of them drawn behind a third registrar.
    await page.waitForFunction(() => document.querySelectorAll("line.edge.enrp").length === 3, null, {
      timeout: 30_000,
    });
    const crossings = await page.$$eval("svg", ([svg]) => {
      const centre = (g) =>
        g
          .getAttribute("transform")
          .match(/translate\(([-\d.]+),([-\d.]+)\)/)
          .slice(1)
          .map(Number);
      const regs = [...svg.querySelectorAll("g.node.registrar")].map(centre);
      const out = [];
      for (const l of svg.querySelectorAll("line.edge.enrp")) {
        const [x1, y1, x2, y2] = ["x1", "y1", "x2", "y2"].map((a) => Number(l.getAttribute(a)));
        for (const [x, y] of regs) {
          if ((x === x1 && y === y1) || (x === x2 && y === y2)) continue;
          const t = Math.max(
            0,
            Math.min(1, ((x - x1) * (x2 - x1) + (y - y1) * (y2 - y1)) / ((x2 - x1) ** 2 + (y2 - y1) ** 2)),
          );
          // A registrar box is 96 × 36: a line closer than 20 to its centre runs behind it.
          if (Math.hypot(x1 + t * (x2 - x1) - x, y1 + t * (y2 - y1) - y) < 20)
            out.push([x1, y1, x2, y2, x, y]);
        }
      }
      return out;
    });
    assert.deepEqual(crossings, []);
    // Nothing has been sent yet: the sequence chart says how to fill it.
    assert.match(await page.getByTestId("seq-empty").textContent(), /Resolve a pool or open a session/);
    await screenshot(page, "topology-default");
    assert.deepEqual(errors, []);
  });

  test("a scenario run with the defence off, then on: attack window, harm charts, comparison, downloads (run.json, pcap)", async () => {
    const { page, errors } = browser;
    const card = page.locator('.card[data-scenario="rfc5355-2.13-eu-flood"]');
    await card.waitFor({ timeout: 20_000 });
    assert.ok((await page.locator(".card").count()) > 10, "the whole catalogue is shown");
    await card.click();
    const runner = page.getByTestId("runner");
    await runner.getByLabel("seed").fill("7");
    await runner.getByLabel("duration").selectOption("0.5");
    await runner.getByRole("checkbox", { name: /maxeurate/ }).check();
    const link = await runner.getByTestId("permalink").getAttribute("href");
    assert.match(link, /scenario=rfc5355-2\.13-eu-flood&seed=7&defences=maxeurate&scale=0\.5&run=1/);
    await runner.getByRole("button", { name: "Run off, then on" }).click();
    // While the first runs, its chart grows with the attack window shaded.
    await runner.getByTestId("run-state").filter({ hasText: "running" }).waitFor({ timeout: 30_000 });
    await runner
      .locator("[data-testid=run-view] [data-testid=harm-chart] canvas")
      .waitFor({ timeout: 60_000 });
    await screenshot(page, "scenario-running");
    const compare = runner.getByTestId("compare");
    await compare
      .waitFor({ timeout: 300_000 })
      .catch(async (e) =>
        assert.fail(`${e.message}; ${await runner.getByTestId("run-state").textContent()}`),
      );
    const views = runner.getByTestId("run-view");
    assert.equal(await views.count(), 2);
    assert.deepEqual(await views.evaluateAll((v) => v.map((x) => x.dataset.defences)), ["", "maxeurate"]);
    for (const v of await views.all()) {
      assert.match(await v.getByTestId("attack-window").textContent(), /attack window 1\.5–4\.5 s/);
      await v.locator("[data-testid=harm-chart] canvas").waitFor();
      assert.match(await v.locator(".events").textContent(), /attack-start/);
    }
    // The expectation's metric, off vs on, in numbers.
    const row = compare.locator('tr[data-metric="healthy_pes"]');
    const cells = await row.locator("td").allTextContents();
    assert.equal(cells.length, 5);
    assert.ok(
      !Number.isNaN(Number.parseFloat(cells[1])) && !Number.isNaN(Number.parseFloat(cells[2])),
      cells.join(" | "),
    );
    console.log(`eu-flood seed 7, attack phase healthy_pes: ${cells.join(" | ")}`);
    // The time cursor moves the topology and the sequence chart with it.
    await views.first().getByRole("slider", { name: "time cursor" }).fill("2000");
    assert.match(await views.first().getByTestId("cursor-at").textContent(), /^2\.00 s, attack/);
    await compare.scrollIntoViewIfNeeded();
    await screenshot(page, "scenario-compare");
    await screenshotOf(page.locator(".scenarios .runner"), "scenario-compare-panel");
    // run.json as downloaded is the run record.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      views.last().getByRole("button", { name: "Download run.json" }).click(),
    ]);
    const saved = JSON.parse(readFileSync(await download.path(), "utf8"));
    assert.equal(saved.schema, "rserpool-run/2");
    assert.equal(saved.seed, 7);
    assert.equal(saved.defences.maxeurate, true);
    // Samples carry the time they were taken (rserpool-run/2): increasing,
    // and every phase of the run has some.
    const times = saved.samples.map((s) => s.t_ms);
    assert.ok(
      times.every((t, i) => i === 0 || t > times[i - 1]),
      `${times}`,
    );
    for (const p of saved.phases) {
      assert.ok(
        times.some((t) => t > p.start_ms && t <= p.end_ms),
        `no sample in ${p.name}: ${times}`,
      );
    }
    // The run was captured inside the lab: the pcap as downloaded is the
    // file the record describes (classic pcap, its size in bytes).
    assert.match(await views.last().getByTestId("pcap-info").textContent(), /\d+ packets, [\d.]+ kB/);
    const [pcapDownload] = await Promise.all([
      page.waitForEvent("download"),
      views.last().getByRole("button", { name: "Download pcap" }).click(),
    ]);
    const pcap = readFileSync(await pcapDownload.path());
    assert.equal(pcap.readUInt32LE(0), 0xa1b2c3d4, "pcap magic");
    assert.equal(pcap.length, saved.pcap.bytes);
    assert.ok(saved.pcap.packets > 0, JSON.stringify(saved.pcap));
    // The defence-off run of the comparison keeps its own capture.
    const [offPcap] = await Promise.all([
      page.waitForEvent("download"),
      views.first().getByRole("button", { name: "Download pcap" }).click(),
    ]);
    const offBytes = readFileSync(await offPcap.path());
    assert.equal(offBytes.readUInt32LE(0), 0xa1b2c3d4, "pcap magic (defences off)");
    // Its own file: the size its panel states, from its own record.
    assert.match(
      await views.first().getByTestId("pcap-info").textContent(),
      new RegExp(`${(offBytes.length / 1000).toFixed(1).replace(".", "\\.")} kB`),
    );
    assert.deepEqual(errors, []);
  });

  test("the page is the victim of a registration flood: its own resolutions are handed fake PEs", async () => {
    const { page, errors } = browser;
    const runner = page.getByTestId("runner");
    // One run at a time: a run left over is stopped first.
    const stop = runner.getByRole("button", { name: "Stop", exact: true });
    if (await stop.isEnabled()) await stop.click();
    await page.locator('.card[data-scenario="rfc5355-2.1-reg-flood"]').click();
    await runner.getByLabel("seed").fill("3");
    await runner.getByLabel("duration").selectOption("0.5");
    await runner.getByRole("checkbox", { name: /registration-allow-list/ }).uncheck();
    await runner.getByRole("button", { name: "Run", exact: true }).click({ timeout: 120_000 });
    const victim = runner.getByTestId("victim");
    await page.waitForFunction(
      () => Number(document.querySelector("[data-testid=victim]")?.dataset.fake) > 0,
      null,
      { timeout: 120_000 },
    );
    assert.match(await victim.textContent(), /of them not a PE of this lab/);
    await screenshotOf(runner, "scenario-victim");
    await runner
      .getByTestId("run-state")
      .filter({ hasText: /finished|stopped/ })
      .waitFor({ timeout: 120_000 });
    assert.deepEqual(errors, []);
  });
});
