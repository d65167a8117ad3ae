// Copies the chart library, installed from the npm registry at the version package-lock.json
// pins (`npm ci`), into the Python package's static files: heatpump_monitor/web/static/build/.
// Those files are build output (.gitignore), never committed and never loaded from a CDN.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "node_modules", "uplot", "dist");
const out = join(here, "..", "src", "heatpump_monitor", "web", "static", "build");
const files = ["uPlot.iife.min.js", "uPlot.min.css"];

const { version } = JSON.parse(readFileSync(join(here, "node_modules", "uplot", "package.json"), "utf8"));
mkdirSync(out, { recursive: true });
for (const name of files) copyFileSync(join(dist, name), join(out, name));
console.log(`frontend: uPlot ${version} -> ${out} (${files.join(", ")})`);
