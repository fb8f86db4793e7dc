// Builds web/dist from web/src with esbuild: one bundle per client, CSS
// extracted next to it, HTML copied. Everything is bundled (three.js, uPlot):
// the clients fetch nothing from the internet at run time.
//   node build.mjs            production build (minified, source maps)
//   node build.mjs --watch    rebuild on change (development)
import * as esbuild from "esbuild";
import { mkdirSync, copyFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const dist = join(here, "dist");
const watch = process.argv.includes("--watch");

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "holo"), { recursive: true });
copyFileSync(join(src, "dashboard", "index.html"), join(dist, "index.html"));
copyFileSync(join(src, "holo", "index.html"), join(dist, "holo", "index.html"));
copyFileSync(join(src, "favicon.svg"), join(dist, "favicon.svg"));

const options = {
    entryPoints: {
        "app": join(src, "dashboard", "main.js"),
        "holo/holo": join(src, "holo", "main.js"),
    },
    outdir: dist,
    bundle: true,
    format: "esm",
    target: ["es2020", "chrome100", "firefox100", "safari15"],
    minify: !watch,
    sourcemap: true,
    legalComments: "linked",
    logLevel: "warning",
    loader: { ".svg": "text" },
};

if (watch) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    console.log("watching web/src ...");
} else {
    await esbuild.build(options);
}
