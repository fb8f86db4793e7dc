// The e2e cases (see tests/e2e/run). Each case builds its own world in a
// temp dir: gatewayd + 3 sim boards + press-line twin + chromium.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Gateway, launchBrowser, cleanup, tmpDir, until, fail, Fail, log, pngjs, SRC } from "./lib.mjs";

const CASES = { dashboard, hologram };

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
    const devRows = await page.locator("table.devices tbody tr").count();
    if (devRows < 3) fail(`expected the 3 boards in the device list, saw ${devRows}`);

    await item.locator("a").click();
    await page.locator("main[data-ready='1']").waitFor({ timeout: 20000 })
        .catch(async () => fail(`twin page did not load: ${await page.locator(".error").allTextContents()} ${errors.join("; ")}`));
    /* the machine starts unstable */
    await page.locator(".twin-status[data-stable='unstable']").waitFor({ timeout: 30000 })
        .catch(() => fail("the press line did not show as unstable at start"));
    const rules0 = await activeRules(page, true);
    log(`unstable, active rules: ${rules0.join(", ")}`);

    /* the speed sliders (setpoints) of the two gears */
    const sliders = await page.locator(".w-slider").evaluateAll((els) => els.map((e) => e.dataset.property));
    /* the per-gear setpoints (not a twin-level line speed that drives both) */
    const speedSliders = sliders.filter((p) => /setpoint/i.test(p) && !/^twin\./.test(p))
        .concat(sliders.filter((p) => /speed|rpm/i.test(p) && !/setpoint/i.test(p) && !/^twin\./.test(p)));
    if (speedSliders.length < 2) fail(`expected two gear speed sliders in the web descriptor, found: ${JSON.stringify(sliders)}`);
    const [pa, pb] = speedSliders;
    const val = (p) => page.evaluate((q) => window.__holotwinDash.twin?.get(q)?.value, p);
    const b = await val(pb);
    if (typeof b !== "number") fail(`no value for ${pb}`);

    /* align gear A with gear B with the slider: confirmed value, state change */
    await setSlider(page, pa, b);
    const alignedRules = await until("an active rule to clear after aligning the gears", async () => {
        const r = await activeRules(page, true);
        return rules0.some((id) => !r.includes(id)) ? r : null;
    }, 60000, gw.watch());
    log(`gears aligned at ${b}; active rules now: ${alignedRules.join(", ") || "(none)"}`);

    /* heater off, fan on: the machine becomes stable */
    await ensureToggle(page, [/^thermal\.heater$/, /heater/i], false);
    await ensureToggle(page, [/^fan\.on$/, /^fan\./, /fan/i], true);
    await page.locator(".twin-status[data-stable='stable']").waitFor({ timeout: 180000 })
        .catch(async () => fail(`the press line did not become stable; active rules: ${(await activeRules(page)).join(", ")}`));
    log("stable");
    await page.waitForTimeout(500);
    await page.screenshot({ path: path.join(dir, "dashboard-stable.png") });

    /* an alarm appears (gears misaligned again) and clears */
    const max = Number(await page.locator(`.w-slider[data-property="${pa}"] input`).getAttribute("max"));
    const far = b + 40 <= max ? b + 40 : Math.max(b - 40, 0);
    await setSlider(page, pa, far);
    await until(`an alarm after misaligning the gears (${pa}=${far}, ${pb}=${b})`,
        async () => (await activeRules(page, true)).length > 0, 60000, gw.watch());
    const alarmItem = page.locator(".twin-status .rules li:not([data-severity='info'])").first();
    if (!(await alarmItem.isVisible())) fail("the raised alarm is not visible on the twin page");
    await page.locator(".twin-status[data-stable='unstable']").waitFor({ timeout: 10000 })
        .catch(() => fail("an alarm is active but the twin did not turn unstable"));
    log(`alarm raised: ${(await activeRules(page, true)).join(", ")}`);
    await page.screenshot({ path: path.join(dir, "dashboard-alarm.png") });
    await setSlider(page, pa, b);
    await page.locator(".twin-status[data-stable='stable']").waitFor({ timeout: 60000 })
        .catch(async () => fail(`the alarm did not clear; active: ${(await activeRules(page)).join(", ")}`));
    if ((await activeRules(page, true)).length) fail(`stable but rules still listed as active: ${await activeRules(page, true)}`);
    log("alarm cleared, stable again");
    await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
    await page.screenshot({ path: path.join(dir, "dashboard.png") });
    saveShot(dir, "dashboard.png", "dashboard.png");
    if (errors.length) fail(`page errors: ${errors.join("; ")}`);
}

/* ids of the active rules listed on the twin page (optionally without
 * info-level ones, which do not make a twin unstable) */
async function activeRules(page, alarmsOnly = false) {
    return page.locator(".twin-status .rules li").evaluateAll((els, only) =>
        els.filter((e) => !only || e.dataset.severity !== "info").map((e) => e.dataset.rule), alarmsOnly);
}

/* Sets the first toggle whose property matches one of `res` (tried in
 * order; twin-level properties excluded) to `want`, waiting for the ack. */
async function ensureToggle(page, res, want) {
    const props = (await page.locator(".w-toggle").evaluateAll((els) => els.map((e) => e.dataset.property)))
        .filter((p) => !/^twin\./.test(p));
    let prop = null;
    for (const re of res) { prop = props.find((p) => re.test(p)); if (prop) break; }
    if (!prop) fail(`no toggle matching ${res.join(" or ")} (toggles: ${props.join(", ")})`);
    const w = page.locator(`.w-toggle[data-property="${prop}"]`);
    const sw = w.locator("[role=switch]");
    if (await sw.isDisabled()) fail(`toggle ${prop} is disabled for the operator`);
    if (((await sw.getAttribute("aria-checked")) === "true") === want) return;
    await sw.click();
    await until(`toggle ${prop}=${want} confirmed`, async () => {
        const s = await w.locator(".cmd-status").getAttribute("data-state");
        if (s === "failed") fail(`toggle ${prop} failed: ${await w.locator(".cmd-status").textContent()}`);
        return s === "confirmed";
    }, 20000);
    log(`${prop} = ${want} confirmed`);
}

async function setSlider(page, prop, v) {
    const w = page.locator(`.w-slider[data-property="${prop}"]`);
    const input = w.locator("input[type=range]");
    if (await input.isDisabled()) fail(`slider ${prop} is disabled for the operator`);
    await input.fill(String(v));
    const st = w.locator(".cmd-status");
    await until(`slider ${prop}=${v} confirmed`, async () => {
        const s = await st.getAttribute("data-state");
        if (s === "failed") fail(`command ${prop}=${v} failed: ${await st.textContent()}`);
        return s === "confirmed" && (await st.textContent()).includes(String(v));
    }, 20000);
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
    const rot = binds.find((x) => x.type === "rotation" && x.kind === "gear") || binds.find((x) => x.type === "rotation");
    if (!rot) fail(`no node with a rotation binding in the hmd descriptor: ${JSON.stringify(binds)}`);
    const sliders = await page.locator("#panels .w-slider").evaluateAll((els) => els.map((e) => e.dataset.property));
    const comp = rot.property.split(".")[0];
    const sp = sliders.find((p) => p.split(".")[0] === comp && /set|speed|rpm/i.test(p)) || sliders.find((p) => /set|speed|rpm/i.test(p));
    if (!sp) fail(`no speed slider in the hologram panels (sliders: ${JSON.stringify(sliders)})`);
    log(`gear ${rot.node} spins with ${rot.property}; driven by ${sp}`);

    const v0 = await until(`a value for ${rot.property}`, () => page.evaluate((p) => window.__holotwin.valueOf(p), rot.property), 20000);
    const rate1 = await page.evaluate((id) => window.__holotwin.measureRate(id, 2000), rot.node);
    log(`speed ${v0} -> ${rate1.toFixed(3)} rad/s`);
    if (!(Math.abs(rate1) > 0)) fail(`gear ${rot.node} does not rotate at speed ${v0}`);

    /* raise the speed through the hologram client's own control */
    const input = page.locator(`#panels .w-slider[data-property="${sp}"] input[type=range]`).first();
    const max = Number(await input.getAttribute("max")) || 200;
    const cur = Number(await input.inputValue());
    const target = Math.min(max, Math.max(cur + 80, v0 * 2));
    await input.fill(String(target));
    await until(`hologram command ${sp}=${target} confirmed`, async () =>
        (await page.locator(`#panels .w-slider[data-property="${sp}"] .cmd-status`).first().getAttribute("data-state")) === "confirmed", 20000);
    const v1 = await until(`${rot.property} to rise well above ${v0}`, async () => {
        const v = await page.evaluate((p) => window.__holotwin.valueOf(p), rot.property);
        return v >= v0 + (target - v0) * 0.8 ? v : null;
    }, 60000, gw.watch());
    const rate2 = await page.evaluate((id) => window.__holotwin.measureRate(id, 2000), rot.node);
    log(`speed ${v1} -> ${rate2.toFixed(3)} rad/s`);
    if (!(Math.abs(rate2) > Math.abs(rate1) * 1.3)) fail(`rotation did not follow the speed: ${rate1.toFixed(3)} rad/s at ${v0}, ${rate2.toFixed(3)} rad/s at ${v1}`);
    const expected = await page.evaluate((id) => window.__holotwin.rateOf(id), rot.node);
    if (Math.abs(expected) < Math.abs(rate1)) fail(`bound rate ${expected} lower than before after raising the speed`);

    await page.screenshot({ path: path.join(dir, "hologram.png") });
    saveShot(dir, "hologram.png", "hologram.png");
    if (errors.length) fail(`page errors: ${errors.join("; ")}`);
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
