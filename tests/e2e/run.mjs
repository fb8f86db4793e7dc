// The e2e cases (see tests/e2e/run). Each case builds its own world in a
// temp dir: gatewayd + 3 sim boards + press-line twin + chromium.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, existsSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Gateway, launchBrowser, cleanup, tmpDir, until, fail, Fail, log, pngjs, SRC, BIN, start, freePort, tail } from "./lib.mjs";

const CASES = { dashboard, hologram, demo_script, alarms, time_travel, control, quality, plant_view };

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

    /* the overview: the machine's state at a glance, its boards, and the
     * slots the alarm list and the control holder go into */
    await until("the press line's card to show its state and boards", async () =>
        /^(stable|unstable)$/.test(await item.getAttribute("data-stable")) &&
        (await item.locator(".twin-meta").textContent()) === "3/3 boards online", 20000, gw.watch());
    for (const slot of ["alarms", "control"]) {
        if (!(await item.locator(`[data-slot="${slot}"]`).count())) fail(`no ${slot} slot on the machine's card`);
    }
    /* each alarm on the card carries its rule's own priority (the model's,
     * as the alarm list shows it), not one derived from its severity */
    const model = await gw.api("GET", "/api/v1/twins/press-line");
    const priorities = new Map((model.rules ?? model.model?.rules ?? []).filter((r) => r.priority).map((r) => [r.id, r.priority]));
    let chips = [];
    await until("the press line's card to list its alarms with their own priorities", async () => {
        chips = await item.locator(".twin-alarm").evaluateAll((els) => els.map((e) => [e.dataset.rule, e.querySelector(".prio")?.textContent]));
        return chips.length > 0 && chips.every(([r, p]) => p === (priorities.get(r) ?? p));
    }, 60000, gw.watch()).catch(() => fail(`the card's alarms: ${JSON.stringify(chips)}, the model's priorities: ${JSON.stringify([...priorities])}`));
    await page.screenshot({ path: path.join(dir, "dashboard-overview.png") });
    saveShot(dir, "dashboard-overview.png", "dashboard-overview.png");

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
    await checkHighPerformance(page, priorities);
    await checkAccessibility(page);
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

/* ISA-101 by default: normal states grey, colour only for alarms (the
 * priority colours of app.css), limits and normal ranges from the rules
 * on gauges, and a dark theme one keypress away. */
async function checkHighPerformance(page, priorities) {
    const style = (sel, prop) => page.locator(sel).first().evaluate((e, p) => getComputedStyle(e)[p], prop);
    const rgb = (c) => (c.match(/\d+(\.\d+)?/g) || []).slice(0, 3).map(Number);
    const grey = (c) => { const [r, g, b] = rgb(c); return Math.max(r, g, b) - Math.min(r, g, b) <= 24; };
    const alarmHigh = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--alarm-high").trim());
    if (alarmHigh !== "#f28c00") fail(`--alarm-high is "${alarmHigh}"`);
    /* the active rule in its own priority's colour (gears-aligned: a
     * warning whose model says medium, as the alarm list shows it), in its
     * widget and in the status banner; an OK rule and an "on" switch
     * without colour */
    const want = priorities.get("gears-aligned");
    if (!want) fail("gears-aligned has no priority in the press line's model");
    const wantHex = await page.evaluate((p) => getComputedStyle(document.documentElement).getPropertyValue(`--alarm-${p}`).trim(), want);
    const hexRgb = (x) => [1, 3, 5].map((i) => parseInt(x.slice(i, i + 2), 16)).join();
    const act = await style('.w-alert[data-rule="gears-aligned"] .rule-state', "backgroundColor");
    if (rgb(act).join() !== hexRgb(wantHex)) fail(`the active gears-aligned rule is ${act}, not its priority's (${want}) colour ${wantHex}`);
    for (const sel of ['.w-alert[data-rule="gears-aligned"]', '.twin-status .rules li[data-rule="gears-aligned"]']) {
        const p = await page.locator(sel).first().getAttribute("data-priority");
        if (p !== want) fail(`${sel} says priority ${p}, the model ${want}`);
    }
    const okBg = await style('.w-alert[data-state="inactive"] .rule-state', "backgroundColor");
    const okFg = await style('.w-alert[data-state="inactive"] .rule-state', "color");
    if (!/rgba\(0, 0, 0, 0\)|transparent/.test(okBg) || !grey(okFg)) fail(`an OK rule is coloured: ${okBg} / ${okFg}`);
    const on = page.locator('.switch[data-on="1"]');
    if (!(await on.count())) fail("no switch is on at the demo's start");
    const onBg = await on.first().evaluate((e) => getComputedStyle(e).backgroundColor);
    if (!grey(onBg)) fail(`an "on" switch is coloured (${onBg}): normal states are grey`);
    for (const [sel, what] of [["main", "the page"], [".group", "a card"]]) {
        const bg = await style(sel === "main" ? "body" : sel, "backgroundColor");
        if (!grey(bg)) fail(`${what} background is coloured: ${bg}`);
    }
    /* the temperature gauge shows its normal range and the overheating
     * limit (a critical rule) */
    const g = page.locator('.w-gauge[data-property="thermal.temperature"]');
    if (!(await g.locator(".g-band").count()) || !(await g.locator(".g-lim.p-critical").count())) fail("the temperature gauge has no normal band or critical limit");
    if (!/normal 0 – 70/.test(await g.locator(".range").textContent())) fail(`temperature range text: ${await g.locator(".range").textContent()}`);
    /* the dark theme, by keyboard */
    await page.locator("#theme").focus();
    await page.keyboard.press("Enter");
    if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== "dark") fail("the theme button did not switch to the dark theme");
    if ((await page.locator("#theme").getAttribute("aria-pressed")) !== "true") fail("the theme button does not say it is pressed");
    await page.keyboard.press("Enter");
    if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== "light") fail("the theme button did not switch back");
    log(`ISA-101 palette: grey normal states, the active gears-aligned in its own priority's (${want}) colour, limits on the gauge, dark theme by keyboard`);
}

/* Accessibility kept (issue 18): every visible control on the twin page
 * is a touch target of at least 44 x 44 CSS px (a range input: 44 high),
 * and what changes by itself is announced (aria-live on the command
 * feedback, the machine's status and the control bar). Keyboard use is
 * exercised by the slider and theme steps. */
async function checkAccessibility(page) {
    const small = await page.evaluate(() => {
        const out = [];
        for (const e of document.querySelectorAll("button, [role=switch], input, select")) {
            const r = e.getBoundingClientRect();
            if (!r.width || !r.height || getComputedStyle(e).visibility === "hidden") continue;
            const range = e.type === "range";
            if (r.height < 44 || (!range && r.width < 44)) {
                out.push(`${e.tagName.toLowerCase()}${e.className ? "." + e.className : ""} "${(e.textContent || e.getAttribute("aria-label") || "").trim().slice(0, 20)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
            }
        }
        return out;
    });
    if (small.length) fail(`controls smaller than 44 x 44 px: ${small.join("; ")}`);
    const live = await page.evaluate(() => ({
        cmd: [...document.querySelectorAll(".cmd-status")].map((e) => e.getAttribute("aria-live")),
        status: document.querySelector(".twin-status")?.getAttribute("aria-live"),
        control: document.querySelector(".twin-control")?.getAttribute("aria-live"),
    }));
    if (!live.cmd.length || live.cmd.some((v) => v !== "polite")) fail(`command feedback without aria-live: ${JSON.stringify(live.cmd)}`);
    if (live.status !== "polite" || live.control !== "polite") fail(`status or control bar not announced: ${JSON.stringify(live)}`);
    log(`accessibility: every control at least 44 x 44 px, ${live.cmd.length} command feedbacks, the status and the control bar announced (aria-live)`);
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
    await fakeXR(page);
    await page.goto(`${gw.base}/holo/#token=${encodeURIComponent(gw.operator)}`);
    await page.waitForFunction(() => window.__holotwin && window.__holotwin.ready && window.__holotwin.frames > 10, null, { timeout: 60000 })
        .catch(async () => fail(`hologram scene did not render: status "${await page.locator("#status").textContent()}" ${errors.join("; ")}`));
    const nodes = await page.evaluate(() => window.__holotwin.nodes);
    log(`scene nodes: ${nodes.join(", ")}`);
    await checkPanelLayout(page, "at the default viewpoint");
    await checkEveryPropertyBound(page, gw);
    await checkAnchoring(page, gw);

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
    /* the status line names the refused AR session; live again for the shot */
    await checkPanelLayout(page, "after the session");
    await page.screenshot({ path: path.join(dir, "hologram.png") });
    saveShot(dir, "hologram.png", "hologram.png");
    if (errors.length) fail(`page errors: ${errors.join("; ")}`);
}

/* The layout as rendered, measured on frames from the default viewpoint:
 * the panels' projected boxes are pairwise apart and in the canvas; in a
 * frame rendered with one flat colour per panel and the models in black,
 * each panel shows (almost) its whole projected area and the boxes of the
 * coloured pixels do not intersect: no panel overlaps another and none is
 * hidden behind a model. */
async function checkPanelLayout(page, when) {
    const rects = await page.evaluate(() => window.__holotwin.panelRects());
    if (rects.length < 2) fail(`only ${rects.length} spatial panels ${when}`);
    const vw = page.viewportSize();
    const inter = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
    /* the header bar lies over the top of the canvas: nothing under it */
    const top = await page.evaluate(() => window.__holotwin.barBottom());
    for (const r of rects) {
        if (r.x0 < 0 || r.y0 < top - 1 || r.x1 > vw.width || r.y1 > vw.height) fail(`panel ${r.id} is outside the view or under the header (${top} px) ${when}: ${JSON.stringify(r)}`);
    }
    /* the 3D alarm panel too, while it shows alarms */
    const ar = await page.evaluate(() => window.__holotwin.alarmPanelRect?.() ?? null);
    if (ar && (ar.x0 < 0 || ar.y0 < top - 1 || ar.x1 > vw.width || ar.y1 > vw.height)) {
        fail(`the alarm panel is outside the view or under the header (${top} px) ${when}: ${JSON.stringify(ar)}`);
    }
    for (let i = 0; i < rects.length; i++) for (let j = i + 1; j < rects.length; j++) {
        if (inter(rects[i], rects[j])) fail(`panels ${rects[i].id} and ${rects[j].id} overlap on screen ${when}: ${JSON.stringify([rects[i], rects[j]])}`);
    }
    const px = await page.evaluate(() => window.__holotwin.panelPixels());
    for (const p of px) {
        if (!(p.area > 100)) fail(`panel ${p.id} covers only ${p.area} px ${when}`);
        if (p.pixels < p.area * 0.97) fail(`panel ${p.id} is partly hidden ${when}: ${p.pixels} of ${Math.round(p.area)} px visible`);
    }
    for (let i = 0; i < px.length; i++) for (let j = i + 1; j < px.length; j++) {
        if (inter({ ...px[i], x1: px[i].x1 + 1, y1: px[i].y1 + 1 }, { ...px[j], x1: px[j].x1 + 1, y1: px[j].y1 + 1 })) {
            fail(`rendered panels ${px[i].id} and ${px[j].id} overlap ${when}`);
        }
    }
    log(`${rects.length} panels apart and fully visible ${when} (smallest ${Math.min(...px.map((p) => p.pixels))} px)`);
}

/* Every property of every component drives something in the 3D scene,
 * and the knob (an input with no binding before) turns with its value. */
async function checkEveryPropertyBound(page, gw) {
    const twin = await gw.api("GET", "/api/v1/twins/press-line");
    const binds = await page.evaluate(() => window.__holotwin.bindings());
    const bound = new Set(binds.map((b) => b.property));
    const comps = twin.components ?? twin.model?.components ?? [];
    if (!comps.length) fail(`no components in GET /api/v1/twins/press-line: ${JSON.stringify(twin).slice(0, 300)}`);
    for (const c of comps) for (const p of c.properties) {
        if (!bound.has(`${c.id}.${p.name}`)) fail(`${c.id}.${p.name} has no 3D binding in the hologram (bound: ${[...bound].join(", ")})`);
    }
    const a0 = await page.evaluate(() => window.__holotwin.angleOf("speed_knob"));
    await gw.sim("panel-1", "turn speed_knob 20");
    const a1 = await until("the knob to turn in the hologram", async () => {
        const a = await page.evaluate(() => window.__holotwin.angleOf("speed_knob"));
        return a !== null && a !== a0 ? a : null;
    }, 20000, gw.watch());
    log(`every property bound in 3D; the knob turned from ${a0}° to ${a1.toFixed(1)}°`);
}

/* A stand-in for navigator.xr that offers immersive-ar and records what
 * the session was asked for, then refuses it (no XR device in CI). */
async function fakeXR(page) {
    await page.addInitScript(() => {
        const xr = {
            isSessionSupported: async (m) => m === "immersive-ar",
            requestSession: async (mode, opts) => {
                window.__xrAsked = { mode, opts };
                throw new DOMException("no XR device in this test", "NotSupportedError");
            },
            addEventListener() {}, removeEventListener() {},
        };
        Object.defineProperty(navigator, "xr", { value: xr, configurable: true });
    });
}

/* The marker asset is served, and "Enter AR" asks for hit testing,
 * anchors and image tracking of that marker at its printed width. */
async function checkAnchoring(page, gw) {
    const r = await fetch(`${gw.base}/api/v1/twins/press-line/assets/press-line-marker.png`, { headers: { Authorization: "Bearer " + gw.operator } });
    const body = Buffer.from(await r.arrayBuffer());
    if (r.status !== 200 || !/image\/png/.test(r.headers.get("content-type") || "") || body.subarray(1, 4).toString() !== "PNG") {
        fail(`the press-line marker is not served: HTTP ${r.status} ${r.headers.get("content-type")}`);
    }
    const btn = page.locator("#enter-ar");
    await btn.waitFor({ state: "visible", timeout: 10000 }).catch(() => fail("no Enter AR button although the browser offers immersive-ar"));
    await btn.click();
    const req = await until("the AR session request", () => page.evaluate(() => window.__holotwin.xrRequest), 10000);
    for (const f of ["hit-test", "anchors", "image-tracking", "local-floor", "dom-overlay"]) {
        if (!req.features.includes(f)) fail(`AR session without optional feature ${f}: ${JSON.stringify(req)}`);
    }
    const t = req.trackedImages[0];
    if (!t || t.width !== 600 || t.widthInMeters !== 0.2) fail(`the marker is not tracked as a 0.2 m image: ${JSON.stringify(req)}`);
    await until("a message that AR is unavailable", async () => /AR unavailable/.test(await page.locator("#status").textContent()), 5000);
    log(`AR asks for ${req.features.join(", ")} and tracks the ${t.width} px marker at ${t.widthInMeters} m`);
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
    /* the hologram's anchor marker is uploaded and served */
    const mk = await fetch(base + "/api/v1/twins/press-line/assets/press-line-marker.png", { headers: { Authorization: `Bearer ${token}` } });
    if (mk.status !== 200 || !/image\/png/.test(mk.headers.get("content-type") || "")) fail(`the demo does not serve press-line-marker.png: HTTP ${mk.status}`);
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

/* ------------------------------------------------------------ alarms */
/* Two operators' dashboards on the press line: the alarm the demo starts
 * with (gears misaligned) is in both banners, lists and machine counts and
 * lights the panel's alarm lamp; acknowledging it on one dashboard shows
 * it acknowledged on the other; acknowledging everything turns the lamp
 * off; shelving shows on the other client too. */
async function alarms() {
    const dir = tmpDir();
    log(`temp dir ${dir}`);
    const gw = await (await new Gateway(dir).start()).startFactory();
    const browser = await launchBrowser();
    const errors = [];
    const a = await newPage(browser, errors);
    const b = await newPage(browser, errors);
    const GA = "press-line:gears-aligned";
    const row = (page) => page.locator(`.alarm-list tr[data-alarm="${GA}"]`);
    const rowState = (page) => row(page).getAttribute("data-state", { timeout: 1000 }).catch(() => null);

    await b.goto(`${gw.base}/#token=${gw.operator}`);
    await until("the second client's overview counts the press line's unacknowledged alarms", async () =>
        Number(await b.locator('.twin-item[data-twin="press-line"] .alarm-count').getAttribute("data-unacked", { timeout: 1000 })
            .catch(() => 0)) >= 1, 60000, gw.watch());
    await until("a banner on the overview", async () => !(await b.locator(".alarm-banner").isHidden()), 10000);
    log(`overview: ${await b.locator(".alarm-banner").textContent()}`);
    for (const p of [a, b]) {
        await p.goto(`${gw.base}/#token=${gw.operator}`);
        await p.evaluate(() => { location.hash = "#/twin/press-line"; });
        await p.locator("main[data-ready='1']").waitFor({ timeout: 20000 })
            .catch(async () => fail(`twin page did not load: ${errors.join("; ")}`));
    }
    await until("gears-aligned unacknowledged in both lists", async () =>
        (await rowState(a)) === "active_unacknowledged" && (await rowState(b)) === "active_unacknowledged", 60000, gw.watch());
    if (!(await row(a).locator(".prio").textContent()).match(/medium/i)) fail("gears-aligned is not shown as a medium priority alarm");
    /* the machine's first-out alarm is marked, and only it (as the API says) */
    await until("the first-out alarm marked in the list as the gateway names it", async () => {
        const api = (await gw.api("GET", "/api/v1/alarms?twin=press-line")).items;
        const first = api.filter((x) => x.first_out).map((x) => x.id);
        if (first.length !== 1) return false;
        const shown = await a.locator(".alarm-list tr[data-alarm]").evaluateAll((rows) =>
            rows.filter((r) => r.querySelector(".first-out")).map((r) => r.dataset.alarm));
        return shown.length === 1 && shown[0] === first[0];
    }, 10000, gw.watch());
    await until("the panel's alarm lamp on (any unacknowledged alarm)", async () =>
        (await gw.sim("panel-1", "get alarm_lamp")) === "ok true", 10000, gw.watch());
    await a.screenshot({ path: path.join(dir, "dashboard-alarms.png") });

    /* acknowledged on one dashboard, seen on the other */
    await row(a).getByRole("button", { name: "Acknowledge" }).click();
    await until("the acknowledgement on the second client", async () =>
        (await rowState(b)) === "active_acknowledged", 10000, gw.watch());
    if (await row(b).getByRole("button", { name: "Acknowledge" }).count()) fail("the second client still offers to acknowledge");
    log("acknowledged on client A, seen on client B");

    /* ...and in the hologram, where an alarm is acknowledged by selecting
     * it on the machine's 3D alarm panel (a click through the raycast) */
    const c = await newPage(browser, errors);
    await c.goto(`${gw.base}/holo/?twin=press-line#token=${encodeURIComponent(gw.operator)}`);
    await until("the hologram's alarms loaded", () => c.evaluate(() => window.__holotwin?.ready && !!window.__holotwin.alarms), 30000);
    await until("gears-aligned acknowledged in the hologram", () =>
        c.evaluate((id) => window.__holotwin.alarmState(id), GA).then((s) => s === "active_acknowledged"), 10000);
    /* a technician takes it out of service and back: annunciated afresh */
    await gw.api("POST", `/api/v1/alarms/${GA}/out-of-service`, {});
    await gw.api("POST", `/api/v1/alarms/${GA}/in-service`, {});
    let pt = null;
    await until("gears-aligned unacknowledged again, with its ACK on the 3D alarm panel", async () =>
        !!(pt = await c.evaluate((id) => window.__holotwin.alarmPickPoint(id), GA)), 10000);
    await until("gears-aligned unacknowledged again on both dashboards", async () =>
        (await rowState(a)) === "active_unacknowledged" && (await rowState(b)) === "active_unacknowledged", 10000);
    await c.mouse.click(pt.x, pt.y);
    await until("acknowledged from the hologram, on both dashboards", async () =>
        (await rowState(a)) === "active_acknowledged" && (await rowState(b)) === "active_acknowledged", 10000, gw.watch());
    log("acknowledged by selecting it in the hologram, seen on both dashboards");
    await c.screenshot({ path: path.join(dir, "hologram-alarms.png") });

    /* every alarm acknowledged from the banner: no banner, the lamp off */
    for (let i = 0; i < 10 && !(await a.locator(".alarm-banner").isHidden()); i++) {
        await a.locator(".alarm-banner button.ack").click();
        await a.waitForTimeout(300);
    }
    await until("no banner on either client", async () =>
        (await a.locator(".alarm-banner").isHidden()) && (await b.locator(".alarm-banner").isHidden()), 10000);
    await until("the panel's alarm lamp off", async () =>
        (await gw.sim("panel-1", "get alarm_lamp")) === "ok false", 10000, gw.watch());

    /* shelved on one, shelved on the other; the journal has who did it */
    await row(a).getByRole("button", { name: "Shelve 30 min" }).click();
    await until("the shelf on the second client", async () => (await rowState(b)) === "shelved", 10000, gw.watch());
    const hist = await gw.api("GET", "/api/v1/alarms/history?twin=press-line&rule=gears-aligned");
    const causes = hist.items.map((x) => x.cause);
    if (causes[0] !== "shelve" || !causes.includes("ack") || !hist.items[0].who?.startsWith("e2e:")) {
        fail(`alarm journal: ${JSON.stringify(hist.items.map((x) => [x.cause, x.who]))}`);
    }
    if (errors.length) fail(`page errors: ${errors.join("; ")}`);
    saveShot(dir, "dashboard-alarms.png", "dashboard-alarms.png");
}

/* ------------------------------------------------------------ time travel */
/* The press line starts with its gears misaligned: the gears-aligned alarm
 * begins. The line is then aligned (the alarm clears live). Scrubbing back
 * to the instant the alarm began shows it again, on the dashboard (marked
 * as the past, controls disabled) and in the hologram. */
async function time_travel() {
    const dir = tmpDir();
    log(`temp dir ${dir}`);
    const gw = await (await new Gateway(dir).start()).startFactory();
    const GA = "gears-aligned";
    /* the instant it began and stayed raised for a while (while the gears
     * settle it may rise and return within one millisecond: the state at
     * that instant is then the returned one, as a live client saw it) */
    const began = await until("the gears-aligned alarm began (journal)", async () => {
        const it = (await gw.api("GET", `/api/v1/alarms/history?twin=press-line&rule=${GA}`)).items; /* newest first */
        for (let i = 0; i < it.length; i++) {
            if (it[i].to !== "active_unacknowledged") continue;
            const next = i ? it[i - 1].ts : Date.now();
            if (next - it[i].ts >= 500) return it[i].ts;
        }
        return null;
    }, 60000, gw.watch());
    log(`gears-aligned began at ${began}`);
    /* live: align the gears and acknowledge, until the alarm is gone */
    await gw.api("PUT", "/api/v1/twins/press-line/properties/twin.line_speed", 80, gw.operator);
    await gw.api("POST", `/api/v1/alarms/press-line:${GA}/ack`, {}, gw.operator).catch(() => {});
    await until("gears-aligned no longer active live", async () => {
        const st = await gw.api("GET", "/api/v1/twins/press-line/state");
        return !st.alarms.some((a) => a.rule === GA);
    }, 60000, gw.watch());

    const browser = await launchBrowser();
    const errors = [];
    const page = await newPage(browser, errors);
    await page.goto(`${gw.base}/#token=${gw.operator}`);
    await page.evaluate(() => { location.hash = "#/twin/press-line"; });
    await page.locator("main[data-ready='1']").waitFor({ timeout: 20000 })
        .catch(() => fail(`twin page did not load: ${errors.join("; ")}`));
    await until("the live page without gears-aligned", async () => !(await activeRules(page)).includes(GA), 20000);
    if (await page.locator(".replay-banner").isVisible()) fail("the replay banner shows on the live page");

    await page.getByRole("button", { name: "Replay" }).click();
    const mark = page.locator(`.replay-mark[data-rule="${GA}"][data-ts="${began}"]`);
    await mark.waitFor({ timeout: 10000 }).catch(async () =>
        fail(`no marker at the instant gears-aligned began; markers: ${await page.locator(".replay-marks").textContent()}`));
    await mark.click();
    await until("the dashboard scrubbed to the instant the alarm began", async () =>
        (await page.locator(".replay-bar").getAttribute("data-shown")) === String(began), 10000);
    await until("gears-aligned active on the dashboard, in the past", async () => (await activeRules(page)).includes(GA), 10000)
        .catch(async () => {
            const st = await gw.api("GET", `/api/v1/twins/press-line/state?at=${began}`);
            fail(`status then: ${await page.locator(".twin-status").textContent()}; the state at ${began}: ` +
                JSON.stringify({ rules: st.rules, gears: [st.properties["gear_a.speed"], st.properties["gear_b.speed"]] }));
        });
    const banner = await page.locator(".replay-banner").textContent();
    if (!(await page.locator(".replay-banner").isVisible()) || !/REPLAY/.test(banner) || !/disabled/.test(banner)) {
        fail(`the past is not clearly marked: "${banner}"`);
    }
    if (Number(await page.locator(".replay-slider").inputValue()) !== began) fail("the scrubber is not at the alarm's instant");
    const controls = page.locator(".grid input, .grid button, .grid [role=switch]");
    const n = await controls.count();
    if (!n) fail("no controls on the twin page");
    for (let i = 0; i < n; i++) {
        const c = controls.nth(i);
        if (!(await c.isDisabled()) && !(await c.evaluate((e) => !!e.closest("[inert]")))) fail("a control is enabled in replay");
    }
    log(`dashboard at ${began}: ${await page.locator(".twin-status").textContent()}`);
    await page.screenshot({ path: path.join(dir, "dashboard-replay.png") });
    await page.getByRole("button", { name: "Back to live" }).click();
    await until("live again without gears-aligned", async () => !(await activeRules(page)).includes(GA) &&
        (await page.locator(".replay-banner").isHidden()), 10000);

    /* a trend of any property over a selectable range, from the rollups
     * when the range is long */
    await page.locator(".trend-property").selectOption("gear_b.speed");
    const trend = page.locator('.w-chart[data-widget="trend-any"]');
    await until("a trend of gear_b.speed", async () => Number(await trend.getAttribute("data-points", { timeout: 1000 })) > 0, 10000);
    await trend.locator(".chart-span").selectOption({ label: "24 h" });
    await until("the 24 h trend from the 1-minute rollups", async () =>
        (await trend.getAttribute("data-span")) === "86400" && (await trend.getAttribute("data-level")) === "1m" &&
        Number(await trend.getAttribute("data-points")) > 0, 10000);

    /* the hologram: the same scrubber, the 3D machine replays */
    const c = await newPage(browser, errors);
    await c.goto(`${gw.base}/holo/?twin=press-line#token=${encodeURIComponent(gw.operator)}`);
    await until("the hologram ready", () => c.evaluate(() => window.__holotwin?.ready && !!window.__holotwin.replay), 30000);
    if ((await c.evaluate(() => window.__holotwin.activeRules())).includes(GA)) fail("gears-aligned active in the live hologram");
    await c.getByRole("button", { name: "Replay" }).click();
    const hmark = c.locator(`.replay-mark[data-rule="${GA}"][data-ts="${began}"]`);
    await hmark.waitFor({ timeout: 10000 }).catch(() => fail("no alarm marker in the hologram's scrubber"));
    await hmark.click();
    await until("gears-aligned active in the hologram, in the past", async () =>
        (await c.evaluate(() => window.__holotwin.replay.at)) === began &&
        (await c.evaluate(() => window.__holotwin.activeRules())).includes(GA), 10000);
    if (!/REPLAY/.test(await c.locator(".replay-banner").textContent()) || !(await c.locator(".replay-banner").isVisible())) {
        fail("the hologram does not mark the past");
    }
    await c.screenshot({ path: path.join(dir, "hologram-replay.png") });
    if (errors.length) fail(`page errors: ${errors.join("; ")}`);
    saveShot(dir, "dashboard-replay.png", "dashboard-replay.png");
}

/* ------------------------------------------------------------ control */
/* Two operators on one machine (issue 16): alice takes control in her
 * dashboard, bob's dashboard and hologram show it at once, and bob's
 * command is refused (423, named in his widget) while alice's goes
 * through; bob asks her for control and her bar names him; when alice
 * releases, bob can command again. */
async function control() {
    const dir = tmpDir();
    log(`temp dir ${dir}`);
    const gw = await (await new Gateway(dir).start()).startFactory();
    const alice = (await gw.api("POST", "/api/v1/tokens", { role: "operator", name: "alice" })).token;
    const bob = (await gw.api("POST", "/api/v1/tokens", { role: "operator", name: "bob" })).token;
    const browser = await launchBrowser();
    const errors = [];
    const a = await newPage(browser, errors);
    const b = await newPage(browser, errors);
    const holo = await newPage(browser, errors);
    for (const [p, tok] of [[a, alice], [b, bob]]) {
        await p.goto(`${gw.base}/#token=${tok}`);
        await p.evaluate(() => { location.hash = "#/twin/press-line"; });
        await p.locator("main[data-ready='1']").waitFor({ timeout: 20000 })
            .catch(async () => fail(`twin page did not load: ${errors.join("; ")}`));
    }
    await holo.goto(`${gw.base}/holo/?twin=press-line#token=${encodeURIComponent(bob)}`);
    const bar = (p) => p.locator(".twin-control").first();
    for (const p of [a, b, holo]) {
        await until("the control bar to say nobody controls the press line", async () =>
            (await bar(p).getAttribute("data-holder", { timeout: 1000 }).catch(() => null)) === "", 20000, gw.watch());
    }

    /* alice takes control: everyone sees it, live */
    await bar(a).getByRole("button", { name: "Take control" }).click();
    await until("alice's dashboard to say she controls the line", async () =>
        (await bar(a).getAttribute("data-mine")) === "1", 10000);
    for (const [p, what] of [[b, "bob's dashboard"], [holo, "bob's hologram"]]) {
        await until(`${what} to show alice as the holder`, async () =>
            (await bar(p).getAttribute("data-holder")) === "alice" &&
            (await bar(p).locator(".control-text").textContent()) === "Controlled by alice", 10000);
        if (await bar(p).getByRole("button", { name: "Take control" }).isVisible()) fail(`${what} still offers to take control`);
    }
    /* and the overview's machine card says who controls it */
    const ov = await newPage(browser, errors);
    await ov.goto(`${gw.base}/#token=${bob}`);
    await until("the overview card to name alice", async () =>
        (await ov.locator('.twin-item[data-twin="press-line"] [data-slot="control"]').getAttribute("data-holder", { timeout: 1000 })
            .catch(() => null)) === "alice", 20000, gw.watch());
    await ov.close();
    log("alice holds the press line; bob's clients show it");

    /* bob's command is refused and says why; alice's goes through */
    const toggle = (p) => p.locator('.w-toggle[data-property="fan.on"]');
    const sw = toggle(b).locator("[role=switch]");
    const before = await sw.getAttribute("aria-checked");
    await sw.click();
    await until("bob's fan toggle to fail with 'held'", async () =>
        (await toggle(b).locator(".cmd-status").getAttribute("data-state")) === "failed" &&
        /held.*alice/.test(await toggle(b).locator(".cmd-status").textContent()), 10000);
    if ((await gw.sim("thermal-1", "get fan")) !== `ok ${before}`) fail("bob's refused command reached the board");
    await ensureToggle(a, "fan.on", before !== "true");
    log("bob refused (423), alice's command confirmed");

    /* bob asks alice for control: her bar names him, nothing changes hands */
    await bar(b).getByRole("button", { name: "Request control" }).click();
    await until("alice's dashboard to show bob's request", async () =>
        (await bar(a).getAttribute("data-requester")) === "bob" &&
        /bob asks for control/.test(await bar(a).locator(".control-asked").textContent()), 10000, gw.watch());
    if ((await bar(b).getAttribute("data-holder")) !== "alice") fail("bob's request moved control");
    await until("bob's bar to say he asked alice", async () => /asked alice/.test(await bar(b).locator(".control-asked").textContent()), 10000);
    log("bob asked for control; alice's dashboard names him");

    /* alice releases: bob may command again */
    await bar(a).getByRole("button", { name: "Release control" }).click();
    await until("bob's dashboard to show the press line free", async () =>
        (await bar(b).getAttribute("data-holder")) === "", 10000);
    await ensureToggle(b, "fan.on", before === "true");
    await a.screenshot({ path: path.join(dir, "dashboard-control.png") });
    /* the browser logs the refused PUT itself; anything else is a fault */
    const other = errors.filter((e) => !/status of 423/.test(e));
    if (other.length) fail(`page errors: ${other.join("; ")}`);
}

/* ------------------------------------------------------------ quality */
/* Quality is honest in the clients (issue 13): while the thermal board
 * runs, its temperature shows with no badge on the dashboard and in the
 * hologram's panels; once the board is killed, both mark it "offline"
 * (the last value kept), while a value of a board still online stays
 * unmarked. */
async function quality() {
    const dir = tmpDir();
    log(`temp dir ${dir}`);
    const gw = await (await new Gateway(dir).start()).startFactory();
    const browser = await launchBrowser();
    const errors = [];
    const dash = await newPage(browser, errors);
    await dash.goto(`${gw.base}/#token=${gw.operator}`);
    await dash.evaluate(() => { location.hash = "#/twin/press-line"; });
    await dash.locator("main[data-ready='1']").waitFor({ timeout: 20000 })
        .catch(async () => fail(`twin page did not load: ${errors.join("; ")}`));
    const holo = await newPage(browser, errors);
    await holo.goto(`${gw.base}/holo/?twin=press-line#token=${encodeURIComponent(gw.operator)}`);
    await holo.waitForFunction(() => window.__holotwin && window.__holotwin.ready, null, { timeout: 60000 })
        .catch(() => fail(`the hologram did not start: ${errors.join("; ")}`));
    const temp = { dashboard: dash.locator('main .w-gauge[data-property="thermal.temperature"]'), hologram: holo.locator('#panels [data-property="thermal.temperature"]').first() };
    const gear = { dashboard: dash.locator('main .w-gauge[data-property="gear_a.speed"]'), hologram: holo.locator('#panels [data-property="gear_a.speed"]').first() };
    const look = async (w) => ({
        offline: await w.evaluate((e) => e.classList.contains("q-offline")),
        badge: await w.locator(".q-badge").evaluate((b) => (b.hidden ? "" : b.textContent)),
        value: (await w.locator(".value").first().textContent()).trim(),
    });
    for (const [where, w] of Object.entries(temp)) {
        await until(`the temperature known and unmarked in the ${where}`, async () => {
            const l = await look(w);
            return !l.offline && l.badge === "" && /\d/.test(l.value);
        }, 30000, gw.watch());
    }
    const thermal = gw.agents.find((c) => c.name === "thermal-1");
    if (!thermal) fail("no thermal-1 agent");
    process.kill(-thermal.pid, "SIGKILL");
    for (const [where, w] of Object.entries(temp)) {
        let l = null;
        await until(`the temperature marked offline in the ${where}`, async () => {
            l = await look(w);
            return l.offline && l.badge === "offline";
        }, 30000, [gw.proc]).catch(() => fail(`the ${where} shows the dead board's temperature as ${JSON.stringify(l)}`));
        if (!/\d/.test(l.value)) fail(`the ${where} dropped the last temperature: "${l.value}"`);
        const g = await look(gear[where]);
        if (g.offline || g.badge) fail(`the ${where} marks gear A's speed (its board is online): ${JSON.stringify(g)}`);
    }
    log("the killed board's temperature is offline in the dashboard and the hologram, its last value kept; gear A's speed unmarked");
    if (errors.length) fail(`page errors: ${errors.join("; ")}`);
}

/* ------------------------------------------------------------ plant_view */
/* A 3-node NATS cluster (Debian's nats-server, as test_fleet starts it),
 * two cells each with a panel board and a twin, and the plant view
 * (gatewayd --plant, read-only): its dashboard lists a twin of each cell
 * under its site and cell, opens one, shows a value change of the cell's
 * board live, with controls disabled, no replay and no alarm commands; a
 * second plant view with --plant-commands offers Acknowledge, and a click
 * acknowledges the alarm in the owning cell. */
const PANEL_TWIN = JSON.stringify({
    id: "panel-watch", title: "Panel watch",
    components: [
        { id: "start", kind: "button", properties: [{ name: "pressed", bind: "panel-1/start_button", type: "boolean" }] },
        { id: "lamp", kind: "lamp", properties: [{ name: "on", bind: "panel-1/run_lamp", type: "boolean", writable: true }] },
    ],
    rules: [{ id: "start-held", severity: "warning", message: "start is pressed", expr: "start.pressed" }],
});

async function natsCluster(dir) {
    const exe = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].find((p) => existsSync(p));
    if (!exe) fail("nats-server is not installed (scripts/setup-deps installs it)");
    const n = [];
    for (let i = 0; i < 3; i++) n.push({ client: await freePort(), route: await freePort(), http: await freePort() });
    const users = ["cell-a", "cell-b", "plant"].map((u) => ` {user: ${u}, password: ${u}-secret-1}`).join("\n");
    const procs = n.map((x, i) => {
        const conf = path.join(dir, `n${i + 1}.conf`);
        writeFileSync(conf, `server_name: n${i + 1}\nlisten: 127.0.0.1:${x.client}\nhttp: 127.0.0.1:${x.http}\n` +
            `jetstream { store_dir: "${path.join(dir, `js-n${i + 1}`)}", max_memory_store: 64MB, max_file_store: 256MB }\n` +
            `authorization { users: [\n${users}\n] }\n` +
            `cluster { name: holotwin, listen: 127.0.0.1:${x.route}, no_advertise: true, routes: [\n` +
            n.map((y) => `  nats-route://127.0.0.1:${y.route}`).join("\n") + "\n ] }\n");
        return start(`nats-n${i + 1}`, exe, ["-c", conf], dir);
    });
    for (const [i, x] of n.entries()) {
        await until(`nats node n${i + 1} healthy`, async () => (await fetch(`http://127.0.0.1:${x.http}/healthz`).catch(() => null))?.ok, 20000, procs);
    }
    return { procs, urls: n.map((x) => `nats://127.0.0.1:${x.client}`).join(",") };
}

async function plant_view() {
    const dir = tmpDir();
    log(`temp dir ${dir}`);
    const cl = await natsCluster(dir);
    const upstream = (user, more) => ({
        name: user, args: ["--upstream", cl.urls, ...more],
        env: { HOLOTWIN_UPSTREAM_USERNAME: user, HOLOTWIN_UPSTREAM_PASSWORD: `${user}-secret-1` },
    });
    const sub = (n) => { const d = path.join(dir, n); mkdirSync(d); return d; };
    const plant = await new Gateway(sub("plant"), upstream("plant", ["--plant", "--gateway-id", "plant-view"])).start();
    const cells = [];
    for (const c of ["cell-a", "cell-b"]) {
        const gw = await new Gateway(sub(c), upstream(c, ["--site", "plant-1", "--cell", c, "--gateway-id", c, "--upstream-commands"])).start();
        cells.push(await gw.startBoard("panel-1", PANEL_TWIN));
    }
    log("cluster, two cells and the plant view up");
    const watch = [...cl.procs, plant.proc, ...cells.flatMap((c) => c.watch())];
    const browser = await launchBrowser();
    const errors = [];
    const page = await newPage(browser, errors);
    await page.goto(`${plant.base}/#token=${plant.admin}`);
    const pids = ["plant-1~cell-a~panel-watch", "plant-1~cell-b~panel-watch"];
    for (const [k, id] of pids.entries()) {
        const item = page.locator(`.twin-item[data-twin="${id}"]`);
        await until(`the plant's dashboard to list ${id}`, async () => (await item.count()) === 1, 30000, watch);
        const where = await item.locator(".twin-cell").textContent();
        if (where !== `plant-1 / cell-${"ab"[k]}`) fail(`${id} is labelled "${where}", not with its site and cell`);
    }
    const heads = await page.locator(".cell-heading").evaluateAll((els) => els.map((e) => e.dataset.cell));
    if (!heads.includes("cell-a") || !heads.includes("cell-b")) fail(`cell headings: ${heads.join(", ")}`);
    if (!(await page.locator("section[aria-labelledby='devs-h']").isHidden())) fail("the plant view shows a device table");
    log("the overview lists a twin of each cell, grouped by site and cell");
    await page.screenshot({ path: path.join(dir, "dashboard-plant.png") });
    saveShot(dir, "dashboard-plant.png", "dashboard-plant.png");

    await page.locator(`.twin-item[data-twin="${pids[0]}"] a`).click();
    await page.locator("main[data-ready='1']").waitFor({ timeout: 20000 })
        .catch(async () => fail(`plant twin page did not load: ${await page.locator(".error").allTextContents()} ${errors.join("; ")}`));
    if ((await page.locator(".crumb-cell").textContent()) !== "plant-1 · cell-a") fail("the twin page does not name its site and cell");
    if (!(await page.locator(".read-only-note").isVisible())) fail("no read-only note on a read-only plant view");
    if (await page.locator(".replay-toggle").isVisible()) fail("replay is offered on the plant view");
    const toggle = page.locator('.w-toggle[data-property="lamp.on"] button.switch');
    await until("the lamp toggle rendered from the cell's descriptor", async () => (await toggle.count()) === 1, 10000);
    if (!(await toggle.isDisabled())) fail("the lamp toggle is enabled on a read-only plant view");
    /* a live value change: the cell's board is pressed */
    for (const want of [true, false]) {
        await cells[0].sim("panel-1", want ? "press start_button" : "release start_button");
        await until(`start.pressed ${want} on the plant's dashboard`, async () => (await val(page, "start.pressed")) === want, 15000, watch);
    }
    log("a press on cell-a's board shows live on the plant's dashboard");
    await page.screenshot({ path: path.join(dir, "dashboard-plant-twin.png") });

    /* the hologram opens a plant twin (its hmd descriptor from the cell) */
    const holo = await newPage(browser, errors);
    await fakeXR(holo);
    await holo.goto(`${plant.base}/holo/?twin=${encodeURIComponent(pids[1])}#token=${plant.admin}`);
    await holo.waitForFunction(() => window.__holotwin && window.__holotwin.ready && window.__holotwin.frames > 2, null, { timeout: 30000 })
        .catch(async () => fail(`the hologram did not open ${pids[1]}: status "${await holo.locator("#status").textContent()}" ${errors.join("; ")}`));
    if (!(await holo.evaluate(() => window.__holotwin.plant?.read_only))) fail("the hologram does not know it is on a read-only plant view");
    log("the hologram opens cell-b's twin on the plant view");

    /* alarm commands: none on the read-only view; with --plant-commands
     * Acknowledge is offered and routed to the owning cell */
    const aid = `${pids[0]}:start-held`;
    const arow = (p) => p.locator(`.alarm-list tr[data-alarm="${aid}"]`);
    await cells[0].sim("panel-1", "press start_button");
    await until("the raised alarm on the read-only plant's twin page", async () => (await arow(page).count()) === 1, 15000, watch)
        .catch(async (e) => fail(`${e.message}: rows ${JSON.stringify(await page.locator(".alarm-list tr").evaluateAll((r) => r.map((x) => x.outerHTML.slice(0, 300))))}, plant ${JSON.stringify(await plant.api("GET", "/api/v1/alarms?all=true"))}`));
    if (await arow(page).locator("button").count()) fail("the read-only plant view offers alarm commands");
    if (await page.locator(".alarm-banner .ack").isVisible()) fail("the read-only plant view's banner offers Acknowledge");
    const plantCmd = await new Gateway(sub("plant-cmd"), upstream("plant", ["--plant", "--plant-commands", "--gateway-id", "plant-cmd"])).start();
    watch.push(plantCmd.proc);
    await until("the plant view with commands to read cell-a's twin", () =>
        plantCmd.api("GET", `/api/v1/twins/${pids[0]}/state`).catch(() => null), 20000, watch);
    const pc = await newPage(browser, errors);
    /* an operator (the least role that acknowledges) */
    const op = (await plantCmd.api("POST", "/api/v1/tokens", { role: "operator", name: "e2e" })).token;
    await pc.goto(`${plantCmd.base}/#token=${op}`);
    const pitem = pc.locator(`.twin-item[data-twin="${pids[0]}"] a`);
    await until("the plant view with commands to list cell-a's twin", async () => (await pitem.count()) === 1, 20000, watch);
    await pitem.click();
    await pc.locator("main[data-ready='1']").waitFor({ timeout: 20000 })
        .catch(async () => fail(`the twin page of the plant view with commands did not load: ${await pc.locator(".error").allTextContents()} ${errors.join("; ")}`));
    if (await pc.locator(".read-only-note").isVisible()) fail("a read-only note on a plant view with commands");
    const ackBtn = () => arow(pc).getByRole("button", { name: "Acknowledge" });
    await until("Acknowledge offered on the plant view with commands", async () => (await ackBtn().count()) === 1, 20000, watch);
    if (!(await pc.locator(".alarm-banner .ack").isVisible())) fail("the banner hides Acknowledge on a plant view with commands");
    await ackBtn().click();
    await until("the alarm acknowledged in cell-a", async () => (await cells[0].api("GET", "/api/v1/alarms?all=true")).items
        .some((a) => a.id === "panel-watch:start-held" && a.state === "active_acknowledged"), 10000, watch);
    await until("the plant's list acknowledged", async () => (await arow(pc).getAttribute("data-state")) === "active_acknowledged", 10000, watch);
    const audit = (await cells[0].api("GET", "/api/v1/audit?action=alarm-ack")).items;
    if (!audit.length || !audit[0].actor.startsWith("plant:")) fail(`cell-a's audit lacks the plant's ack: ${JSON.stringify(audit)}`);
    await cells[0].sim("panel-1", "release start_button");
    log("Acknowledge on the plant view with commands acknowledged cell-a's alarm");
    await pc.screenshot({ path: path.join(dir, "dashboard-plant-ack.png") });
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
