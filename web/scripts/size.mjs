// Prints what the first screen downloads: the scripts index.html loads (and the modules they
// preload), gzipped, and fails the build over the budget (docs/web.md).
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const BUDGET = 150 * 1024;
const dist = new URL("../dist/", import.meta.url).pathname;
const html = readFileSync(join(dist, "index.html"), "utf8");
const refs = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*rel="modulepreload"[^>]*\shref)="([^"]+\.js)"/g)].map((m) => m[1]);
let total = 0;
for (const ref of new Set(refs)) {
  const body = readFileSync(join(dist, ref.replace(/^\//, "")));
  const gz = gzipSync(body, { level: 9 }).length;
  total += gz;
  console.log(`first screen: ${ref} ${(body.length / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`first-screen JavaScript: ${(total / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET / 1024} KiB)`);
if (total > BUDGET) {
  console.error("over the first-screen JavaScript budget");
  process.exit(1);
}

// The service worker registers as a classic script (no { type: "module" }, which not every browser
// supports for workers): it must have come out of the build with no import or export left.
const sw = readFileSync(join(dist, "sw.js"), "utf8");
if (/^\s*(import|export)\b/m.test(sw) || /\bimport\s*\(/.test(sw)) {
  console.error("dist/sw.js imports or exports a module: it must be self-contained (vite.config.ts)");
  process.exit(1);
}
console.log(`service worker: /sw.js ${(sw.length / 1024).toFixed(1)} KiB, not on the first screen`);
