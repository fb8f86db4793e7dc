// The e2e cases (see tests/e2e/run). Each case builds its own world in a
// temp dir: gatewayd + 3 sim boards + press-line twin + chromium.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, existsSync, statSync } from "node:fs";
import path from "node:path";
import { Gateway, launchBrowser, cleanup, tmpDir, until, fail, Fail, log, pngjs, SRC, BIN, start, freePort, tail } from "./lib.mjs";

const CASES = { dashboard, hologram, demo_script };

function saveShot(dir, file, name) {
    const out = path.join(dir, file);
    log(`screenshot ${out}`);
    if (process.env.HT_UPDATE_SCREENSHOTS === "1") {
        mkdirSync(path.join(SRC, "docs/screenshots"), { recursive: true });
        copyFileSync(out, path.join(SRC, "docs/screenshots", name));
        log(`copied to docs/screenshots/${name}`);
    }
}

async function newPage(browser, errors) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on("pageerror", (e) => errors.push(e.message));
    /* "confirm before unsafe actions" dialogs: the operator says yes */
    page.on("dialog", (d) => d.accept());
    page.on("console", (m) => { if (m.type() === "error") errors.push("console: " + m.text()); });
    return page;
}

/* ------------------------------------------------------------ dashboard */
async function dashboard() {
    const dir = tmpDir();
    log(`temp dir ${dir}`);
    const gw = await (await new Gateway(dir).start()).startFactory();
    const browser = await launchBrowser();
    const errors = [];
    const page = await newPage(browser, errors);

    /* sign in through the form */
    await page.goto(gw.base + "/");
    await page.locator("#token").fill(gw.operator);
    await page.getByRole("button", { name: "Sign in" }).click();
    const item = page.locator('.twin-item[data-twin="press-line"]');
    await item.waitFor({ timeout: 20000 }).catch(() => fail(`the press line is not listed after sign-in; page errors: ${errors.join("; ")}`));
    log("signed in, press line listed");
    for (const id of ["gears-1", "thermal-1", "panel-1"]) {
        await until(`board ${id} listed as online`, async () =>
            (await page.locator(`table.devices tr[data-device="${id}"] .pill`).textContent().catch(() => "")) === "online", 20000);
    }

    await item.locator("a").click();
    await page.locator("main[data-ready='1']").waitFor({ timeout: 20000 })
        .catch(async () => fail(`twin page did not load: ${await page.locator(".error").allTextContents()} ${errors.join("; ")}`));
    /* the machine starts unstable: once the motors have spun up, gear A
     * (60 rpm) and gear B (95 rpm) are misaligned */
    await until("the press line unstable with gears-aligned active (the demo's start)", async () =>
        (await page.locator(".twin-status").getAttribute("data-stable")) === "unstable" &&
        (await activeRules(page, true)).includes("gears-aligned") &&
        (await ruleWidget(page, "gears-aligned")) === "active", 60000, gw.watch());
    log(`unstable at start, active rules: ${(await activeRules(page)).join(", ")}`);
    if ((await page.locator('.w-display[data-widget="status.stable"] .value').textContent()) !== "Unstable") {
        fail("the machine state display does not say Unstable");
    }

    /* the gears' setpoint sliders, from the descriptor */
    const sliders = await page.locator(".w-slider").evaluateAll((els) => els.map((e) => e.dataset.property));
    for (const p of ["gear_a.setpoint", "gear_b.setpoint", "twin.line_speed"]) {
        if (!sliders.includes(p)) fail(`no ${p} slider on the twin page (sliders: ${sliders.join(", ")})`);
    }
    const b = await val(page, "gear_b.setpoint");
    if (typeof b !== "number") fail(`no value for gear_b.setpoint (${b})`);

    /* align gear A with gear B by dragging the slider with the keyboard:
     * the confirmed value shows, the speed follows, the rule clears */
    await setSlider(page, "gear_a.setpoint", b);
    await until(`gear A's speed gauge to follow its setpoint ${b}`, async () =>
        Math.abs(Number(await page.locator('.w-gauge[data-property="gear_a.speed"] .value').textContent()) - b) < 3, 60000, gw.watch());
    await until("gears-aligned to clear after aligning the gears", async () =>
        !(await activeRules(page)).includes("gears-aligned") && (await ruleWidget(page, "gears-aligned")) === "inactive", 30000, gw.watch());
    log(`gears aligned at ${b}; active rules now: ${(await activeRules(page)).join(", ") || "(none)"}`);
    /* the line speed (a twin-level property) mirrors gear A's setpoint */
    await until(`the line speed to show ${b}`, async () =>
        (await page.locator('.w-slider[data-property="twin.line_speed"] output').textContent()).startsWith(String(b)), 10000);

    /* heater off, fan on: the machine becomes stable */
    await ensureToggle(page, "thermal.heater", false);
    await ensureToggle(page, "fan.on", true);
    await waitStable(page, gw, b, 90000);
    log("stable");
    await page.screenshot({ path: path.join(dir, "dashboard-stable.png") });

    /* an alarm appears (gears misaligned again) and clears */
    const far = b + 40;
    await setSlider(page, "gear_a.setpoint", far);
    await until(`an alarm after misaligning the gears (gear A ${far}, gear B ${b})`, async () =>
        (await activeRules(page, true)).includes("gears-aligned") && (await ruleWidget(page, "gears-aligned")) === "active", 60000, gw.watch());
    if (!(await page.locator('.twin-status .rules li[data-rule="gears-aligned"]').isVisible())) fail("the raised alarm is not visible in the status banner");
    await until("the twin to turn unstable with the alarm", async () =>
        (await page.locator(".twin-status").getAttribute("data-stable")) === "unstable", 10000);
    log(`alarm raised: ${(await activeRules(page, true)).join(", ")}`);
    await page.screenshot({ path: path.join(dir, "dashboard-alarm.png") });
    await setSlider(page, "gear_a.setpoint", b);
    await waitStable(page, gw, b, 60000);
    log("alarm cleared, stable again");
    await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
    /* tall enough to show the gears under the status and machine controls */
    await page.setViewportSize({ width: 1280, height: 1100 });
    await page.screenshot({ path: path.join(dir, "dashboard.png") });
    saveShot(dir, "dashboard.png", "dashboard.png");
    if (errors.length) fail(`page errors: ${errors.join("; ")}`);
}

/* The page's model value of a property. */
function val(page, p) { return page.evaluate((q) => window.__holotwinDash.twin?.get(q)?.value, p); }

/* The state a rule's alert widget shows (unknown/inactive/pending/active). */
function ruleWidget(page, id) {
    return page.locator(`.w-alert[data-rule="${id}"]`).getAttribute("data-state").catch(() => null);
}

/* Stable with no alarm, both gears settled at `rpm` (the rule is
 * evaluated per value, so it may flicker while the speeds converge). */
async function waitStable(page, gw, rpm, ms) {
    await until("the press line to become stable", async () => {
        if ((await page.locator(".twin-status").getAttribute("data-stable")) !== "stable") return false;
        if ((await activeRules(page, true)).length) return false;
        const [a, bb] = [await val(page, "gear_a.speed"), await val(page, "gear_b.speed")];
        return Math.abs(a - rpm) < 2 && Math.abs(bb - rpm) < 2;
    }, ms, gw.watch()).catch(async (e) => fail(`${e.message}; banner: ${await page.locator(".twin-status").textContent()}`));
    if ((await page.locator('.w-display[data-widget="status.stable"] .value').textContent()) !== "Stable") {
        fail("the machine state display does not say Stable");
    }
}

/* ids of the active rules listed on the twin page (optionally without
 * info-level ones, which do not make a twin unstable) */
async function activeRules(page, alarmsOnly = false) {
    return page.locator(".twin-status .rules li").evaluateAll((els, only) =>
        els.filter((e) => !only || e.dataset.severity !== "info").map((e) => e.dataset.rule), alarmsOnly);
}

/* Sets a toggle and waits for the device's confirmation. */
async function ensureToggle(page, prop, want) {
    const w = page.locator(`.w-toggle[data-property="${prop}"]`);
    if (!(await w.count())) fail(`no toggle for ${prop}`);
    const sw = w.locator("[role=switch]");
    if (await sw.isDisabled()) fail(`toggle ${prop} is disabled for the operator`);
    if (((await sw.getAttribute("aria-checked")) === "true") === want) return;
    await sw.click();
    await until(`toggle ${prop}=${want} confirmed`, async () => {
        const s = await w.locator(".cmd-status").getAttribute("data-state");
        if (s === "failed") fail(`toggle ${prop} failed: ${await w.locator(".cmd-status").textContent()}`);
        return s === "confirmed" && (await sw.getAttribute("aria-checked")) === String(want);
    }, 20000);
    log(`${prop} = ${want} confirmed`);
}

/* Moves a slider to v as a user would with the keyboard (focus, Home, then
 * arrow keys up to v), then waits for "confirmed v". */
async function setSlider(page, prop, v) {
    const w = page.locator(`.w-slider[data-property="${prop}"]`);
    const input = w.locator("input[type=range]");
    if (await input.isDisabled()) fail(`slider ${prop} is disabled for the operator`);
    const cur = Number(await input.inputValue());
    const step = Number(await input.getAttribute("step")) || 1;
    await input.focus();
    const n = Math.round(Math.abs(v - cur) / step);
    for (let i = 0; i < n; i++) await input.press(v > cur ? "ArrowRight" : "ArrowLeft");
    if (Number(await input.inputValue()) !== v) await input.fill(String(v));   /* off-step target */
    const st = w.locator(".cmd-status");
    await until(`slider ${prop}=${v} confirmed`, async () => {
        const s = await st.getAttribute("data-state");
        if (s === "failed") fail(`command ${prop}=${v} failed: ${await st.textContent()}`);
        return s === "confirmed" && (await st.textContent()).includes(`confirmed ${v}`);
    }, 30000);
    await input.blur();
    log(`${prop} = ${v} confirmed`);
}

/* ------------------------------------------------------------ hologram */
async function hologram() {
    const dir = tmpDir();
    log(`temp dir ${dir}`);
    const gw = await (await new Gateway(dir).start()).startFactory();
    const browser = await launchBrowser();
    const errors = [];
    const page = await newPage(browser, errors);
    await page.goto(`${gw.base}/holo/#token=${encodeURIComponent(gw.operator)}`);
    await page.waitForFunction(() => window.__holotwin && window.__holotwin.ready && window.__holotwin.frames > 10, null, { timeout: 60000 })
        .catch(async () => fail(`hologram scene did not render: status "${await page.locator("#status").textContent()}" ${errors.join("; ")}`));
    const nodes = await page.evaluate(() => window.__holotwin.nodes);
    log(`scene nodes: ${nodes.join(", ")}`);

    /* the canvas really renders: many distinct colours, not a blank frame */
    const shot = await page.locator("#view").screenshot();
    const { PNG } = pngjs();
    const png = PNG.sync.read(shot);
    const colours = new Set();
    for (let i = 0; i < png.data.length; i += 4) colours.add((png.data[i] << 16) | (png.data[i + 1] << 8) | png.data[i + 2]);
    log(`canvas ${png.width}x${png.height}, ${colours.size} distinct colours`);
    if (colours.size < 64) fail(`the canvas looks blank: only ${colours.size} distinct colours`);

    /* a gear bound to a speed, and the slider that drives it */
    const binds = await page.evaluate(() => window.__holotwin.bindings());
    const rot = binds.find((x) => x.type === "rotation" && x.kind === "gear");
    if (!rot) fail(`no gear with a rotation binding in the hmd descriptor: ${JSON.stringify(binds)}`);
    const sliders = await page.locator("#panels .w-slider").evaluateAll((els) => els.map((e) => e.dataset.property));
    /* the line speed drives both gears, so they stay aligned */
    const sp = sliders.find((p) => p === "twin.line_speed") || sliders.find((p) => p === rot.property.split(".")[0] + ".setpoint");
    if (!sp) fail(`no speed slider in the hologram panels (sliders: ${JSON.stringify(sliders)})`);
    log(`gear ${rot.node} spins with ${rot.property}; driven by ${sp}`);

    /* the spin rate is the bound speed (rpm) in rad/s; measured on frames */
    const settled = async (what, target) => until(what, async () => {
        const v = await page.evaluate((p) => window.__holotwin.valueOf(p), rot.property);
        return typeof v === "number" && Math.abs(v - target) <= Math.max(1.5, target * 0.02) ? v : null;
    }, 60000, gw.watch());
    const sp0 = await until(`a value for ${sp}`, () => page.evaluate((p) => window.__holotwin.valueOf(p), sp), 20000);
    const v0 = await settled(`${rot.property} to settle at its setpoint ${sp0}`, sp0);
    const rate1 = await checkRate(page, rot, v0);

    /* raise the speed through the hologram client's own control */
    const input = page.locator(`#panels .w-slider[data-property="${sp}"] input[type=range]`).first();
    const target = Math.min(Number(await input.getAttribute("max")) || 200, Math.round(sp0 + 60), 140);
    await input.fill(String(target));
    await until(`hologram command ${sp}=${target} confirmed`, async () => {
        const st = page.locator(`#panels .w-slider[data-property="${sp}"] .cmd-status`).first();
        if ((await st.getAttribute("data-state")) === "failed") fail(`${sp}=${target} failed: ${await st.textContent()}`);
        return (await st.textContent()).includes(`confirmed ${target}`);
    }, 20000);
    const v1 = await settled(`${rot.property} to follow to ${target}`, target);
    const rate2 = await checkRate(page, rot, v1);
    if (!(Math.abs(rate2) > Math.abs(rate1) * 1.3)) fail(`rotation did not follow the speed: ${rate1.toFixed(3)} rad/s at ${v0}, ${rate2.toFixed(3)} rad/s at ${v1}`);

    /* the spatial panel works like a control: click "Cooling mode" on the
     * machine panel in the 3D view (ray-cast pick, same command path) */
    const pt = await page.evaluate(() => window.__holotwin.pickPoint("panel.machine", "twin.cooling"));
    if (!pt) fail("no Cooling mode control on the machine's spatial panel");
    const v = (p) => page.evaluate((q) => window.__holotwin.valueOf(q), p);
    if ((await v("fan.on")) !== false) fail(`the fan should be off before cooling: ${await v("fan.on")}`);
    await page.mouse.click(pt.x, pt.y);
    await until("cooling on through the 3D panel (fan on, heater off)", async () =>
        (await v("fan.on")) === true && (await v("thermal.heater")) === false, 20000, gw.watch());
    const fanRate = await page.evaluate(() => window.__holotwin.rateOf("fan"));
    if (!(Math.abs(fanRate) > 1)) fail(`the fan does not spin after switching it on (rate ${fanRate})`);
    log(`cooling on from the 3D panel; fan spins at ${fanRate.toFixed(2)} rad/s`);
    await until("the hologram to show the press line stable", async () =>
        (await page.locator("#panels .rules").getAttribute("data-stable")) === "stable" &&
        (await page.evaluate(() => window.__holotwin.twin.activeRules().filter((r) => r.severity !== "info").length)) === 0,
    60000, gw.watch())
        .catch(async () => fail(`not stable: ${await page.locator("#panels .rules").textContent()}`));
    await page.screenshot({ path: path.join(dir, "hologram.png") });
    saveShot(dir, "hologram.png", "hologram.png");
    if (errors.length) fail(`page errors: ${errors.join("; ")}`);
}

/* Measures a node's spin over 2 s of rendered frames and checks it against
 * the bound speed (rpm -> rad/s); the sim's speed varies by ~1 rpm. */
async function checkRate(page, rot, v) {
    const rate = await page.evaluate((id) => window.__holotwin.measureRate(id, 2000), rot.node);
    const want = (v * 2 * Math.PI) / 60;
    log(`${rot.property} ${v} rpm -> ${rate.toFixed(3)} rad/s (expected ${want.toFixed(3)})`);
    if (!(Math.abs(Math.abs(rate) - want) <= want * 0.15 + 0.1)) fail(`gear ${rot.node} spins at ${rate.toFixed(3)} rad/s at ${v} rpm, expected ${want.toFixed(3)}`);
    return rate;
}

/* ------------------------------------------------------------ demo */
/* Processes whose command line mentions one of `needles` (ours only). */
function procsWith(needles) {
    const out = [];
    for (const pid of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
        let cmd;
        try { cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim(); } catch { continue; }
        if (Number(pid) === process.pid || !cmd) continue;
        try { if (/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"))) continue; } catch { continue; }
        if (needles.some((n) => cmd.includes(n))) out.push(`${pid} ${cmd}`);
    }
    return out;
}

/* scripts/demo (what `make demo` runs) for real: the printed URLs and
 * token work, the machine starts unstable, Ctrl-C (SIGINT) stops it all. */
async function demo_script() {
    const dir = tmpDir();
    log(`temp dir ${dir}`);
    const http = await freePort(), mqtt = await freePort(), mqtts = await freePort();
    const data = path.join(dir, "data");
    const demo = start("demo", path.join(SRC, "scripts/demo"),
        ["--data-dir", data, "--http-port", String(http), "--mqtt-port", String(mqtt),
            "--mqtt-tls-port", String(mqtts), "--no-mdns"], dir);
    const out = () => { try { return readFileSync(demo.logFile, "utf8"); } catch { return ""; } };
    const m = await until("the demo to print its URLs", () =>
        out().match(/Dashboard:\s+(http:\/\/\S+?):(\d+)\/#token=(\S+)/), 120000, [demo]);
    const [, host, port, token] = m;
    if (Number(port) !== http) fail(`the demo printed port ${port}, not --http-port ${http}`);
    const holo = out().match(/Hologram:\s+(\S+)/);
    if (!holo || holo[1] !== `${host}:${port}/holo/#token=${token}`) fail(`no matching hologram URL in:\n${out()}`);
    const base = `${host}:${port}`;
    log(`demo up at ${base}`);

    /* the web clients are served */
    for (const p of ["/", "/holo/"]) {
        const r = await fetch(base + p);
        const body = await r.text();
        if (!r.ok || !/<script/.test(body)) fail(`GET ${p}: HTTP ${r.status}, ${body.slice(0, 200)}`);
    }
    /* the printed token reads the twin; once every value is known, the
     * machine is unstable with an alarm */
    const get = async (p) => {
        const r = await fetch(base + p, { headers: { Authorization: `Bearer ${token}` } });
        if (!r.ok) fail(`GET ${p} with the printed token: HTTP ${r.status} ${await r.text()}`);
        return r.json();
    };
    const st = await until("every press-line value to be known", async () => {
        const s = await get("/api/v1/twins/press-line/state");
        return Object.values(s.properties).every((p) => p.quality === "good") ? s : null;
    }, 60000, [demo]);
    log(`state: stable=${st.stable}, alarms: ${st.alarms.map((a) => a.rule).join(", ")}`);
    if (st.stable !== false || !st.alarms.length) fail(`the press line does not start unstable: ${JSON.stringify(st)}`);
    const devs = await get("/api/v1/devices");
    for (const id of ["gears-1", "thermal-1", "panel-1"]) {
        const d = (devs.items || []).find((x) => x.id === id);
        if (!d || d.state !== "approved" || d.online !== true) fail(`board ${id} not approved and online: ${JSON.stringify(d)}`);
    }
    /* secure by default: each board has its own account and talks TLS,
     * trusting the gateway's CA; its config is private */
    for (const id of ["gears-1", "thermal-1", "panel-1"]) {
        const f = path.join(data, "boards", `${id}.json`);
        if (!existsSync(f)) fail(`no board config ${f}`);
        if ((statSync(f).mode & 0o777) !== 0o600) fail(`${f} has mode ${(statSync(f).mode & 0o777).toString(8)}, want 600`);
        const c = JSON.parse(readFileSync(f, "utf8"));
        if (c.mqtt.broker !== `127.0.0.1:${mqtts}` || c.mqtt.username !== id || !/BEGIN CERTIFICATE/.test(c.mqtt.ca || ""))
            fail(`board ${id} is not on TLS with its own account: ${JSON.stringify({ ...c.mqtt, password: "(hidden)" })}`);
    }
    /* and an MQTT account for HMD apps, kept private */
    const acc = path.join(data, "hmd-account.json");
    if (!existsSync(acc) || (statSync(acc).mode & 0o777) !== 0o600) fail(`no private ${acc}`);
    const a = JSON.parse(readFileSync(acc, "utf8"));
    if (a.username !== "_operator.demo-hmd" || !a.password || !a.mqtt?.tls?.ca || !a.topics?.request)
        fail(`the HMD account is incomplete: ${JSON.stringify({ ...a, password: "(hidden)" })}`);
    /* an operator token: it may write, and not manage tokens */
    const put = await fetch(base + "/api/v1/twins/press-line/properties/gear_a.setpoint", {
        method: "PUT", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: "95" });
    if (put.status !== 200) fail(`operator write with the printed token: HTTP ${put.status} ${await put.text()}`);
    const adm = await fetch(base + "/api/v1/tokens", { headers: { Authorization: `Bearer ${token}` } });
    if (adm.status !== 403) fail(`the printed token can list tokens (HTTP ${adm.status}): it should be an operator token`);

    /* everything the demo started, then Ctrl-C */
    const needles = [data, `127.0.0.1:${mqtt}`];
    const running = procsWith(needles);
    log(`running:\n  ${running.join("\n  ")}`);
    for (const re of [/gatewayd/, /mosquitto/, /gears-1/, /thermal-1/, /panel-1/]) {
        if (!running.some((l) => re.test(l))) fail(`no ${re.source} process among the demo's:\n${running.join("\n")}`);
    }
    process.kill(demo.pid, "SIGINT");
    await until("the demo to exit after SIGINT", () => demo.exitCode !== null || demo.signalCode !== null, 60000)
        .catch(() => fail(`the demo still runs 60 s after SIGINT:\n${tail(demo)}`));
    if (demo.exitCode !== 130) fail(`the demo exited with ${demo.exitInfo} after SIGINT (want exit 130):\n${tail(demo)}`);
    if (!/demo: stopped/.test(out())) fail(`the demo did not say it stopped:\n${tail(demo)}`);
    await until("every process of the demo to be gone", () => procsWith(needles).length === 0, 15000)
        .catch(() => fail(`left running after the demo stopped:\n${procsWith(needles).join("\n")}`));
    /* sanitizer builds report leaks and errors at exit, into the logs */
    for (const f of readdirSync(path.join(data, "logs"))) {
        const text = readFileSync(path.join(data, "logs", f), "utf8");
        if (/ERROR: (Address|Leak)Sanitizer|runtime error:/.test(text)) fail(`sanitizer report in ${f}:\n${text.slice(-3000)}`);
    }
    if (!existsSync(path.join(data, "admin.token"))) fail("the chosen --data-dir was not kept");
    log("demo stopped cleanly, nothing left running");
}

/* ------------------------------------------------------------ main */
const arg = process.argv[2];
if (!arg || arg === "--help") {
    console.log("usage: tests/e2e/run --list | CASE");
    process.exit(arg ? 0 : 2);
}
if (arg === "--list") {
    console.log(Object.keys(CASES).join("\n"));
    process.exit(0);
}
const fn = CASES[arg];
if (!fn) { console.error(`e2e: unknown case '${arg}' (cases: ${Object.keys(CASES).join(", ")})`); process.exit(2); }
let rc = 0;
try {
    await fn();
    log(`PASS ${arg}`);
} catch (e) {
    console.error(`FAIL ${arg}: ${e instanceof Fail ? e.message : e.stack}`);
    rc = 1;
}
await cleanup();
process.exit(rc);
