// Installs the packed npm package (wasm/pkg/*.tgz) into a fresh consumer
// project and imports it by name, as a user would. Shared by the Node tests.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { WebSocket } from "ws";

const wasmDir = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Returns `{ project, pkg }`: the consumer directory and the imported package. */
export async function installPackage(prefix) {
  const pkgDir = join(wasmDir, "pkg");
  const tgz = readdirSync(pkgDir).find((f) => f.endsWith(".tgz"));
  assert.ok(tgz, "wasm/pkg/*.tgz missing: run wasm/build.sh first");
  const project = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", "--loglevel=error", join(pkgDir, tgz)], {
    cwd: project,
    stdio: "inherit",
  });
  // Import by package name from inside the consumer project.
  writeFileSync(join(project, "entry.mjs"), 'export * from "rserpool-wasm";\n');
  globalThis.WebSocket = WebSocket; // Node 20 has none (docs/build-notes.md)
  const pkg = await import(pathToFileURL(join(project, "entry.mjs")).href);
  return { project, pkg };
}
