// Orchestration for the e2e cases: a real gatewayd (with its own mosquitto),
// the three virtual-factory sim boards, the press-line twin, and Debian's
// chromium through playwright-core. Every child runs in its own process
// group and is killed on success, failure and signals.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, openSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const SRC = process.env.HT_SRC_DIR || path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
export const BIN = process.env.HT_BIN_DIR || path.join(SRC, "build/bin");
const require = createRequire(path.join(SRC, "tests/package.json"));

export class Fail extends Error {}
export function fail(msg) { throw new Fail(msg); }
export function log(...a) { console.log(`[e2e ${new Date().toISOString().slice(11, 23)}]`, ...a); }

const children = [];
let browser = null;

/** Kills every process group we started (TERM, then KILL after a grace). */
export async function cleanup() {
    if (browser) { try { await browser.close(); } catch { /* already gone */ } browser = null; }
    const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
    for (const c of alive) { try { process.kill(-c.pid, "SIGTERM"); } catch { /* gone */ } }
    await Promise.all(alive.map((c) => new Promise((res) => {
        if (c.exitCode !== null || c.signalCode !== null) return res();
        const t = setTimeout(() => { try { process.kill(-c.pid, "SIGKILL"); } catch { /* gone */ } res(); }, 5000);
        c.once("exit", () => { clearTimeout(t); res(); });
    })));
    children.length = 0;
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, async () => { await cleanup(); process.exit(128 + os.constants.signals[sig]); });
}
/* A process.exit() that skips cleanup() (e.g. a library refusing this node
 * version while a case runs) must not leave the gateway and boards running:
 * kill whatever is still alive, synchronously. */
process.on("exit", () => {
    for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) { try { process.kill(-c.pid, "SIGKILL"); } catch { /* gone */ } }
    }
});

export function tmpDir() { return mkdtempSync(path.join(process.env.TMPDIR || "/tmp", "ht-e2e-")); }

export function freePort() {
    return new Promise((res, rej) => {
        const s = net.createServer();
        s.once("error", rej);
        s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
    });
}

/** Starts a program in its own process group, output to DIR/NAME.log;
 *  env (may be omitted) is added to this process's environment. */
export function start(name, exe, args, dir, env = {}) {
    if (!existsSync(exe)) fail(`${exe} does not exist (build it first: make -j2 VARIANT=test, or set HT_BIN_DIR)`);
    const out = openSync(path.join(dir, `${name}.log`), "a");
    const c = spawn(exe, args, { cwd: SRC, detached: true, stdio: ["ignore", out, out], env: { ...process.env, ...env } });
    c.name = name;
    c.logFile = path.join(dir, `${name}.log`);
    children.push(c);
    c.on("exit", (code, sig) => { c.exitInfo = sig ? `signal ${sig}` : `exit ${code}`; });
    return c;
}

export function tail(c, n = 30) {
    try { return readFileSync(c.logFile, "utf8").split("\n").slice(-n).join("\n"); } catch { return ""; }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

/** Polls fn() until it returns a truthy value; fails with `what` after limitMs. */
export async function until(what, fn, limitMs = 30000, watch = []) {
    const end = Date.now() + limitMs;
    let last;
    for (;;) {
        for (const c of watch) {
            if (c.exitCode !== null || c.signalCode !== null) fail(`${c.name} died (${c.exitInfo}) while waiting for ${what}:\n${tail(c)}`);
        }
        try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
        if (Date.now() > end) fail(`timed out waiting for ${what}${last ? ": " + last.message : ""}`);
        await sleep(200);
    }
}

export class Gateway {
    /* opts.args: more gatewayd arguments, opts.env: its environment, opts.name:
     * its log's name (several gateways in one world: the fleet) */
    constructor(dir, opts = {}) { this.dir = dir; this.opts = opts; }

    async start() {
        this.http = await freePort();
        this.mqtt = await freePort();
        this.mqtts = await freePort();
        this.data = path.join(this.dir, "data");
        mkdirSync(this.data, { recursive: true });
        this.base = `http://127.0.0.1:${this.http}`;
        const web = path.join(SRC, "web/dist");
        if (!existsSync(path.join(web, "index.html")) || !existsSync(path.join(web, "holo/index.html"))) {
            fail("web/dist is not built (run make web)");
        }
        this.proc = start(this.opts.name || "gatewayd", path.join(BIN, "gatewayd"),
            ["--data-dir", this.data, "--http-port", String(this.http), "--mqtt-port", String(this.mqtt),
                "--mqtt-tls-port", String(this.mqtts), "--web-root", web, "--no-mdns", ...(this.opts.args || [])],
            this.dir, this.opts.env);
        /* ready = subscribed: boards started earlier could publish their
         * first values before the gateway listens for them */
        await until("gatewayd /healthz with mqtt_ready", async () => {
            const r = await fetch(this.base + "/healthz").catch(() => null);
            return !!r && r.ok && (await r.json()).mqtt_ready === true;
        }, 30000, [this.proc]);
        const tokFile = path.join(this.data, "admin.token");
        await until("DATA_DIR/admin.token", () => existsSync(tokFile) && statSync(tokFile).size > 0, 10000, [this.proc]);
        this.admin = readFileSync(tokFile, "utf8").trim();
        return this;
    }

    async api(method, p, body, token = this.admin) {
        const r = await fetch(this.base + p, {
            method,
            headers: { Authorization: "Bearer " + token, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
            body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        });
        const text = await r.text();
        let data = null;
        try { data = text ? JSON.parse(text) : null; } catch { data = text; }
        if (!r.ok) throw new Error(`${method} ${p}: HTTP ${r.status} ${text.slice(0, 300)}`);
        return data;
    }

    /** The three virtual-factory boards, approved, and the press-line twin. */
    async startFactory() {
        this.agents = [];
        for (const id of ["gears-1", "thermal-1", "panel-1"]) {
            const example = path.join(SRC, "device-agent/examples", `${id}.json`);
            if (!existsSync(example)) fail(`missing ${example}`);
            /* secure by default: the board's own broker account, over TLS,
             * trusting the gateway's CA (as `gwctl devices add` writes it) */
            const ans = await this.api("POST", "/api/v1/devices", { id });
            const m = ans.mqtt || {};
            if (!m.password || !m.tls || !m.tls.ca) fail(`no credentials or TLS in the answer for ${id}: ${JSON.stringify(ans)}`);
            const conf = path.join(this.dir, `${id}.json`);
            writeFileSync(conf, JSON.stringify({
                ...JSON.parse(readFileSync(example, "utf8")),
                mqtt: { broker: `127.0.0.1:${m.tls.port}`, username: m.username, password: m.password, ca: m.tls.ca },
            }), { mode: 0o600 });
            /* no mDNS: parallel test worlds must not see each other's boards */
            this.agents.push(start(id, path.join(BIN, "device-agent"), ["--config", conf,
                "--no-mdns", "--control", this.controlPath(id)], this.dir));
        }
        const watch = [this.proc, ...this.agents];
        for (const id of ["gears-1", "thermal-1", "panel-1"]) {
            const d = await until(`device ${id} registered`, () => this.api("GET", `/api/v1/devices/${id}`), 30000, watch);
            if (d.state !== "approved") await this.api("POST", `/api/v1/devices/${id}/approve`);
            await until(`device ${id} online`, async () => (await this.api("GET", `/api/v1/devices/${id}`)).online === true, 30000, watch);
        }
        const twin = readFileSync(path.join(SRC, "twins/virtual-factory/press-line.json"), "utf8");
        await this.api("PUT", "/api/v1/twins/press-line", twin);
        /* the anchor marker the hmd descriptor names, as scripts/demo uploads it */
        const marker = path.join(SRC, "twins/virtual-factory/press-line-marker.png");
        const r = await fetch(this.base + "/api/v1/twins/press-line/assets/press-line-marker.png", {
            method: "PUT", headers: { Authorization: "Bearer " + this.admin, "Content-Type": "image/png" }, body: readFileSync(marker) });
        if (!r.ok) fail(`PUT the press-line marker: HTTP ${r.status} ${await r.text()}`);
        await until("press-line state", () => this.api("GET", "/api/v1/twins/press-line/state"), 20000, watch);
        const t = await this.api("POST", "/api/v1/tokens", { role: "operator", name: "e2e" });
        if (!t || !t.token) fail(`POST /api/v1/tokens gave no token: ${JSON.stringify(t)}`);
        this.operator = t.token;
        return this;
    }

    /** One board (a device-agent example, e.g. panel-1) approved, and a twin
     *  (its document as text) over it: a small cell for the fleet case. */
    async startBoard(id, twinDoc) {
        const example = path.join(SRC, "device-agent/examples", `${id}.json`);
        const ans = await this.api("POST", "/api/v1/devices", { id });
        const m = ans.mqtt || {};
        const conf = path.join(this.dir, `${id}.json`);
        writeFileSync(conf, JSON.stringify({
            ...JSON.parse(readFileSync(example, "utf8")),
            mqtt: { broker: `127.0.0.1:${m.tls.port}`, username: m.username, password: m.password, ca: m.tls.ca },
        }), { mode: 0o600 });
        this.agents = [...(this.agents || []), start(`${this.opts.name || "gw"}-${id}`, path.join(BIN, "device-agent"),
            ["--config", conf, "--no-mdns", "--control", this.controlPath(id)], this.dir)];
        const d = await until(`device ${id} registered`, () => this.api("GET", `/api/v1/devices/${id}`), 30000, this.watch());
        if (d.state !== "approved") await this.api("POST", `/api/v1/devices/${id}/approve`);
        await until(`device ${id} online`, async () => (await this.api("GET", `/api/v1/devices/${id}`)).online === true, 30000, this.watch());
        const tid = JSON.parse(twinDoc).id;
        await this.api("PUT", `/api/v1/twins/${tid}`, twinDoc);
        await until(`${tid} state`, () => this.api("GET", `/api/v1/twins/${tid}/state`), 20000, this.watch());
        return this;
    }

    watch() { return [this.proc, ...(this.agents || [])]; }

    controlPath(id) { return path.join(this.dir, `${id}.sock`); }

    /** One command on a sim board's control socket (docs/device-agent.md);
     *  resolves with the reply line, fails on `error ...`. */
    sim(id, cmd) {
        return new Promise((res, rej) => {
            const c = net.createConnection(this.controlPath(id));
            let buf = "";
            const t = setTimeout(() => { c.destroy(); rej(new Fail(`sim ${id}: no reply to '${cmd}'`)); }, 10000);
            c.on("connect", () => c.write(cmd + "\n"));
            c.on("data", (d) => {
                buf += d;
                const nl = buf.indexOf("\n");
                if (nl < 0) return;
                clearTimeout(t);
                c.end();
                const line = buf.slice(0, nl);
                if (line.startsWith("ok")) res(line); else rej(new Fail(`sim ${id} '${cmd}': ${line}`));
            });
            c.on("error", (e) => { clearTimeout(t); rej(new Fail(`sim ${id}: ${e.message}`)); });
        });
    }

    /** The twin state document (admin token). */
    state(id = "press-line") { return this.api("GET", `/api/v1/twins/${id}/state`); }
}

/** Debian's chromium through playwright-core (never a downloaded browser). */
export async function launchBrowser() {
    const exe = "/usr/bin/chromium";
    if (!existsSync(exe)) fail("chromium is not installed at /usr/bin/chromium (apt-get install chromium; scripts/setup-deps does it)");
    let pw;
    try { pw = require("playwright-core"); } catch (e) { fail(`playwright-core missing in tests/node_modules (make tests-js): ${e.message}`); }
    try {
        browser = await pw.chromium.launch({
            executablePath: exe,
            args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--use-gl=swiftshader", "--enable-unsafe-swiftshader"],
        });
    } catch (e) {
        fail(`chromium could not start: ${e.message.split("\n")[0]}`);
    }
    return browser;
}

export function pngjs() { return require("pngjs"); }
