// Builds web/dist from web/src with esbuild: one bundle per client, CSS
// extracted next to it, HTML copied. Everything is bundled (three.js, uPlot):
// the clients fetch nothing from the internet at run time. The licence of
// every bundled package goes into dist/LICENSES.txt (uPlot, for one, has no
// @license comment for esbuild's legalComments to keep), and each bundle
// names that file in its first line.
//   node build.mjs            production build (minified, source maps)
//   node build.mjs --watch    rebuild on change (development)
import * as esbuild from "esbuild";
import {
    mkdirSync, copyFileSync, rmSync, readFileSync, readdirSync, writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const dist = join(here, "dist");
const watch = process.argv.includes("--watch");
const NOTICE = "/*! Third-party licences: /LICENSES.txt */";

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
    metafile: true,
    banner: { js: NOTICE, css: NOTICE },
    logLevel: "warning",
    loader: { ".svg": "text" },
};

if (watch) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    console.log("watching web/src ...");
} else {
    const result = await esbuild.build(options);
    writeLicences(result.metafile);
}

// dist/LICENSES.txt: for each npm package with a file in a bundle, its
// name, version and LICENSE file as shipped in the package.
function writeLicences(meta) {
    const pkgs = new Set();
    for (const input of Object.keys(meta.inputs)) {
        const m = input.match(/(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//);
        if (m) pkgs.add(m[1]);
    }
    let out = "Holotwin web clients: third-party software bundled in these files.\n";
    for (const name of [...pkgs].sort()) {
        const dir = join(here, "node_modules", name);
        const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
        const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f));
        if (!file) throw new Error(`${name}: no LICENSE file to ship`);
        out += `\n== ${name} ${pkg.version} (${pkg.license})\n\n`;
        out += readFileSync(join(dir, file), "utf8").trimEnd() + "\n";
    }
    writeFileSync(join(dist, "LICENSES.txt"), out);
}
