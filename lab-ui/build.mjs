// Bundles the lab page into dist/: index.html, app.js, app.css and the pool
// user's wasm module (copied from the rserpool-wasm package's web build).
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

await esbuild.build({
  entryPoints: { app: join(here, "src/main.tsx") },
  bundle: true,
  minify: true,
  // A classic script (not a module), so that the built page also opens
  // from disk (file://) to look at saved runs without a lab.
  format: "iife",
  // The wasm glue's default module URL (unused: the page passes its own).
  define: { "import.meta.url": "document.baseURI" },
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: dist,
  sourcemap: false,
  logLevel: "warning",
});
const require = createRequire(import.meta.url);
const wasmPkg = dirname(require.resolve("rserpool-wasm/package.json"));
copyFileSync(join(wasmPkg, "web/rserpool_wasm_bg.wasm"), join(dist, "rserpool_wasm_bg.wasm"));
copyFileSync(join(here, "src/index.html"), join(dist, "index.html"));
console.log("lab-ui: built", dist);
