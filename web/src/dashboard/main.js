// Holotwin SCADA dashboard: sign-in, overview of twins and devices, and a
// twin page rendered only from the twin's `web` UI descriptor, live via SSE.
import "./app.css";
import { adoptFragmentToken, getToken, setToken, clearToken, api, ApiError, encodeId, openEvents, viewCaps, writeHref } from "../common/api.js";
import { AlarmBook } from "../common/alarms.js";
import { alarmBanner, alarmList, alarmSession, overviewCounts } from "../common/alarmviews.js";
import { TwinModel } from "../common/twin.js";
import { webGroups, twinTitle, sseEventNames } from "../common/descriptor.js";
import { RENDERERS, h, entryOf } from "../common/widgets.js";
import { makeChart } from "./chart.js";
import { replayBar, freezeControls } from "../common/replay.js";
import { priorityOf, topPriority } from "../common/priority.js";
import { mountControl } from "../common/control.js";

const main = document.getElementById("main");
const connEl = document.getElementById("conn");
const signoutBtn = document.getElementById("signout");
const themeBtn = document.getElementById("theme");
let teardown = () => {};

/* ISA-101 grey by default; the dark theme is an option, remembered per
 * browser (or ?theme=dark|light in the URL for kiosks) */
function applyTheme(t) {
    const dark = t === "dark";
    document.documentElement.dataset.theme = dark ? "dark" : "light";
    themeBtn.setAttribute("aria-pressed", String(dark));
}
{
    const q = new URLSearchParams(location.search).get("theme");
    if (q === "dark" || q === "light") localStorage.setItem("holotwin.theme", q);
    applyTheme(localStorage.getItem("holotwin.theme") || "light");
    themeBtn.addEventListener("click", () => {
        const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
        localStorage.setItem("holotwin.theme", next);
        applyTheme(next);
    });
}

/* test and debugging hook: the live model of the open twin */
window.__holotwinDash = { twin: null };

function setConn(s) {
    connEl.dataset.state = s;
    connEl.textContent = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…", off: "" }[s] ?? s;
}

function listOf(doc, ...keys) {
    if (Array.isArray(doc)) return doc;
    for (const k of keys) if (doc && Array.isArray(doc[k])) return doc[k];
    return [];
}

/* Alarms on every page: one book, live while a token is set (the pages'
 * own streams come and go with the route), shown in a banner. */
const alarms = new AlarmBook();
const alarmLive = alarmSession(alarms);
main.before(alarmBanner(alarms));
window.__holotwinDash.alarms = alarms;

function route() {
    teardown();
    teardown = () => {};
    setConn("off");
    if (!getToken()) { alarmLive.stop(); return showSignin(); }
    signoutBtn.hidden = false;
    alarmLive.start();
    const m = location.hash.match(/^#\/twin\/([^/?]+)/);
    if (m) return showTwin(decodeURIComponent(m[1]));
    return showOverview();
}

function showSignin(msg) {
    alarmLive.stop();
    signoutBtn.hidden = true;
    document.title = "Holotwin — sign in";
    const input = h("input", { id: "token", type: "password", autocomplete: "current-password",
        required: true, placeholder: "access token", "aria-describedby": "signin-help" });
    const err = h("p", { class: "error", role: "alert", text: msg || "" });
    const form = h("form", { class: "signin", "aria-labelledby": "signin-title" },
        h("h1", { id: "signin-title", text: "Sign in" }),
        h("label", { for: "token", text: "Token" }), input,
        h("p", { id: "signin-help", class: "help", text: "Ask your administrator for a token (gwctl tokens create), or open a link with #token=…" }),
        h("button", { type: "submit", class: "primary", text: "Sign in" }), err);
    form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const t = input.value.trim();
        if (!t) return;
        try {
            await api("GET", "/api/v1/twins", undefined, { token: t });
            setToken(t);
            route();
        } catch (e) {
            err.textContent = e.status === 401 || e.status === 403 ? "This token was not accepted." : e.message;
        }
    });
    main.replaceChildren(form);
    input.focus();
}

function stateText(d) {
    if (d.online === false || d.status === "offline" || d.state === "offline") return "offline";
    if (d.stale === true || d.status === "stale") return "stale";
    if (d.online === true || d.status === "online") return "online";
    return d.status || "unknown";
}

/* The devices a composed twin's components are bound to ("dev/prop"). */
function boundDevices(doc) {
    const s = new Set();
    for (const c of doc?.components || []) for (const p of c.properties || []) {
        const b = typeof p.bind === "string" ? p.bind : p.bind?.device;
        if (typeof b === "string" && b.includes("/")) s.add(b.split("/")[0]);
    }
    return [...s];
}

async function showOverview() {
    document.title = "Holotwin — overview";
    const twinsBox = h("ul", { class: "twin-list", "aria-label": "machines" });
    const boardsBox = h("ul", { class: "twin-list", "aria-label": "board twins" });
    const devBody = h("tbody");
    const err = h("p", { class: "error", role: "alert" });
    main.replaceChildren(
        h("section", { "aria-labelledby": "twins-h" }, h("h1", { id: "twins-h", text: "Machines" }), twinsBox),
        h("section", { "aria-labelledby": "boards-h" }, h("h2", { id: "boards-h", text: "Board twins" }), boardsBox),
        h("section", { "aria-labelledby": "devs-h" }, h("h2", { id: "devs-h", text: "Devices" }),
            h("div", { class: "table-wrap" }, h("table", { class: "devices" },
                h("thead", {}, h("tr", {}, ...["Device", "Title", "Approval", "Connection"].map((t) => h("th", { scope: "col", text: t })))),
                devBody))),
        err);
    const docs = new Map();   // twin id -> twin document (for its boards)
    async function load() {
        try {
            /* a plant view lists every cell's twins and has no devices of
             * its own (they are each cell's) */
            const tw = await api("GET", "/api/v1/twins");
            const plant = tw && typeof tw.plant === "object" ? tw.plant : null;
            main.dataset.view = document.documentElement.dataset.view = plant ? "plant" : "cell";
            markCommands(plant);
            const dv = plant ? { items: [] } : await api("GET", "/api/v1/devices");
            devBody.closest("section").hidden = !!plant;
            const twins = listOf(tw, "twins", "items");
            const devs = listOf(dv, "devices", "items");
            const online = new Map(devs.map((d) => [d.id, stateText(d)]));
            /* each machine's active alarms (with their severity) and boards */
            const states = await Promise.all(twins.map((t) => api("GET", `/api/v1/twins/${encodeId(t.id)}/state`).catch(() => null)));
            await Promise.all(twins.filter((t) => !t.auto && !docs.has(t.id)).map(async (t) => {
                docs.set(t.id, await api("GET", `/api/v1/twins/${encodeId(t.id)}`).catch(() => null));
            }));
            /* boards are each cell's: a plant view does not know them online */
            const cards = twins.map((t, i) => twinCard(t, states[i], plant ? [] : t.auto ? (t.device ? [t.device] : []) : boundDevices(docs.get(t.id)), online));
            twinsBox.replaceChildren(...byCell(cards.filter((c, i) => !twins[i].auto), twins.filter((t) => !t.auto)));
            boardsBox.replaceChildren(...byCell(cards.filter((c, i) => twins[i].auto), twins.filter((t) => t.auto)));
            if (!twinsBox.children.length) twinsBox.append(h("li", { class: "empty", text: "No machines yet." }));
            boardsBox.closest("section").hidden = !boardsBox.children.length;
            devBody.replaceChildren(...devs.map((d) => {
                const s = stateText(d);
                return h("tr", { "data-device": d.id },
                    h("th", { scope: "row", text: d.id }), h("td", { text: d.title || "" }),
                    h("td", { text: d.state || "" }), h("td", {}, h("span", { class: `pill conn-${s}`, text: s })));
            }));
            err.textContent = "";
        } catch (e) {
            if (e instanceof ApiError && e.status === 401) { clearToken(); return showSignin("Your token is no longer valid."); }
            err.textContent = e.message;
        }
    }
    const offCounts = overviewCounts(alarms, twinsBox);
    await load();
    /* reload on events that change the lists, at most once a second (the
     * stream also carries every value of every twin; those are ignored) */
    let t = 0, lastLoad = 0;
    const es = openEvents({}, (type) => {
        if (type === "state" || type === "property" || type === "descriptor" || t) return;
        t = setTimeout(() => { t = 0; lastLoad = Date.now(); load(); }, Math.max(0, 1000 - (Date.now() - lastLoad)));
    }, setConn);
    teardown = () => { es.close(); clearTimeout(t); offCounts(); };
}

/** Cards grouped under a "site / cell" heading when the twins name their
 *  cell (a plant view); a cell's own list stays flat. */
function byCell(cards, twins) {
    if (!twins.some((t) => t.cell)) return cards;
    const out = [];
    let last = null;
    cards.forEach((c, i) => {
        const key = `${twins[i].site ?? ""} / ${twins[i].cell ?? ""}`;
        if (key !== last) {
            out.push(h("li", { class: "cell-heading", role: "presentation", "data-site": twins[i].site ?? "", "data-cell": twins[i].cell ?? "" },
                h("h3", { text: `${twins[i].site} · ${twins[i].cell}` })));
            last = key;
        }
        out.push(c);
    });
    return out;
}

/**
 * One machine at a glance: its state (grey when stable), its active alarms
 * by priority (colour only then), its boards online, and two empty slots
 * that others fill: [data-slot=alarms] (the alarm list, issue 15) and
 * [data-slot=control] (who holds control, issue 16).
 */
function twinCard(t, state, boards, online) {
    /* the state's active rules, each with its own priority (an alarm rule
     * names it in state.rules; its severity alone would say "high" for
     * every warning) */
    const alarms = (Array.isArray(state?.alarms) ? state.alarms : [])
        .map((a) => ({ ...a, priority: a.priority ?? state?.rules?.[a.rule]?.priority }));
    const nAl = alarms.length || (typeof t.alarms === "number" ? t.alarms : Array.isArray(t.alarms) ? t.alarms.length : 0);
    const stable = state?.stable ?? t.stable;
    const st = stable === true ? "stable" : stable === false ? "unstable" : "unknown";
    const top = topPriority(alarms);
    const up = boards.filter((b) => online.get(b) === "online").length;
    const boardText = boards.length ? `${up}/${boards.length} board${boards.length > 1 ? "s" : ""} online` : "";
    const chips = [];
    if (nAl) {
        chips.push(h("span", { class: `pill alarm ${top ? "p-" + top : ""}`, text: `${nAl} alarm${nAl > 1 ? "s" : ""}${top ? " · " + top : ""}` }));
        for (const a of alarms.slice(0, 3)) {
            const p = priorityOf(a);
            chips.push(h("span", { class: "twin-alarm", "data-rule": a.rule ?? a.id ?? "" }, h("span", { class: `prio p-${p}`, text: p }), a.rule ?? a.id ?? ""));
        }
    }
    const label = `${t.title || t.id}: ${st === "unknown" ? "state unknown" : st}${nAl ? `, ${nAl} active alarm${nAl > 1 ? "s" : ""}` : ""}${boardText ? ", " + boardText : ""}`;
    const where = t.cell ? `${t.site} / ${t.cell}` : "";
    return h("li", { class: `twin-item ${st} ${top ? "p-" + top : ""} ${t.auto ? "auto" : ""}`, "data-twin": t.id, "data-stable": st, "data-cell": t.cell ?? "" },
        h("a", { href: `#/twin/${encodeId(t.id)}`, "aria-label": where ? `${where}: ${label}` : label },
            h("span", { class: "twin-title", text: t.title || t.id }),
            where ? h("span", { class: "twin-cell", text: where }) : "",
            h("span", { class: "twin-state", text: st === "unknown" ? "state unknown" : st }),
            h("span", { class: "twin-id", text: t.id }),
            h("span", { class: `twin-meta${boards.length && up < boards.length ? " boards-down" : ""}`, text: boardText }),
            h("span", { class: "twin-alarms" }, ...chips),
            h("div", { class: "slot", "data-slot": "alarms" }),
            h("div", { class: "slot", "data-slot": "control", "data-holder": t.holder?.name ?? "" },
                t.holder ? h("span", { class: "pill holder", text: `controlled by ${t.holder.name}` }) : "")));
}

/** The page says whether a plant view routes commands (the alarm
 *  banner's Acknowledge shows only then; a cell always offers it). */
function markCommands(plant) {
    document.documentElement.dataset.commands = !plant || plant.commands ? "1" : "0";
}

async function showTwin(id) {
    /* on a plant view: no history, no replay, no control holder (they stay
     * in each cell), and controls only when it routes commands */
    let plant = null;
    try { plant = await viewCaps(true); } catch { /* a cell, or next load says */ }
    const twin = new TwinModel(id);
    window.__holotwinDash.twin = twin;
    const status = h("div", { class: "twin-status", role: "status", "aria-live": "polite" });
    const grid = h("div", { class: "grid" });
    const err = h("p", { class: "error", role: "alert" });
    const heading = h("h1", { text: id });
    /* alarm commands too are routed to the owning cell when the plant
     * view allows commands ("plant".commands), hidden otherwise */
    const alarmView = alarmList(alarms, id, { readOnly: !!plant && !plant.commands });
    /* replay: the whole machine as it was at a scrubbed instant; live
     * events wait and every control is disabled until "Back to live" */
    const replay = replayBar(id, twin, {
        onEnter: () => {
            main.classList.add("replaying");
            freezeControls(grid, true);
            alarmView.el.hidden = true; /* the live list is not the past's */
        },
        onLeave: () => {
            main.classList.remove("replaying");
            freezeControls(grid, false);
            alarmView.el.hidden = false;
            refetch();
        },
    });
    window.__holotwinDash.replay = replay;
    const control = plant ? { el: h("div", { class: "slot" }), apply() {}, refresh() {} } : mountControl(id);
    const info = plant?.list.find((t) => t.id === id);
    const readOnly = !!plant && !plant.commands;
    const roNote = readOnly ? h("p", { class: "read-only-note", role: "note",
        text: "Plant view: read-only. Controls are disabled; operate this machine from its cell's gateway." }) : "";
    replay.el.hidden = !!plant;
    main.dataset.view = document.documentElement.dataset.view = plant ? "plant" : "cell";
    markCommands(plant);
    main.replaceChildren(h("nav", { class: "crumbs", "aria-label": "breadcrumb" },
        h("a", { href: "#/", text: "Machines" }), " / ",
        info ? h("span", { class: "crumb-cell", text: `${info.site} · ${info.cell}` }) : "", info ? " / " : "",
        h("span", { text: info?.twin ?? id })),
    replay.banner, heading, status, roNote, control.el, replay.el, alarmView.el, err, grid);

    const bound = new Map();   // property -> [widget renderers]
    let sseEvents = [];
    let alerts = [];
    let charts = [];
    let pointerWidgets = [];   // [renderer, widget] shown from a state pointer

    function renderStatus() {
        const act = twin.activeRules();
        const st = twin.stable === true ? "stable" : twin.stable === false ? "unstable" : "unknown";
        /* colour only when something is wrong: the most urgent priority */
        const top = topPriority(act.filter((r) => r.severity !== "info"));
        status.className = `twin-status ${st}${top && st !== "stable" ? " p-" + top : ""}`;
        status.dataset.stable = st;
        status.replaceChildren(
            h("span", { class: `pill ${st}${top && st !== "stable" ? " p-" + top : ""}`, text: st === "unknown" ? "state unknown" : st }),
            act.length ? h("ul", { class: "rules", "aria-label": "active rules" }, ...act.map((r) => {
                const p = priorityOf(r);
                return h("li", { class: `p-${p}`, "data-rule": r.id, "data-severity": r.severity || "", "data-priority": p },
                    h("span", { class: `prio p-${p}`, text: p }), h("strong", { text: r.id }), r.message ? ": " + r.message : "");
            })) :
                h("span", { class: "no-rules", text: "no active rules" }));
        for (const a of alerts) a.update();
        for (const [r, w] of pointerWidgets) r.update(entryOf(twin, w));
    }

    async function send(w, value) {
        if (replay.active) throw new Error("replay: controls are disabled");
        if (readOnly) throw new Error("read-only plant view");
        return api(w.write.method || "PUT", writeHref(w, id, plant), value);
    }

    async function loadDescriptor() {
        const desc = await api("GET", `/api/v1/twins/${encodeId(id)}/ui?target=web`);
        const title = twinTitle(desc, id);
        heading.textContent = title;
        document.title = `Holotwin — ${title}`;
        bound.clear(); alerts = []; charts = []; pointerWidgets = [];
        const ctx = { twin, twinId: id, send, noHistory: !!plant && !plant.history };
        const cols = Number.isInteger(desc.layout?.columns) ? desc.layout.columns : 0;
        grid.classList.toggle("layout-grid", !!cols);
        if (cols) grid.style.setProperty("--cols", String(cols));
        sseEvents = sseEventNames(desc);
        const sections = webGroups(desc, id).map((g) => {
            const body = h("div", { class: "group-body" });
            for (const w of g.widgets) {
                if (w.kind === "alert" && Array.isArray(w.rules)) {
                    /* the descriptor carries each rule's message and severity */
                    for (const r of w.rules) {
                        const o = typeof r === "string" ? { id: r, severity: w.severity, message: w.message } : r;
                        if (!o || !o.id) continue;
                        const prev = twin.rules.get(o.id) || {};
                        twin.setRule({ ...o, ...prev, message: prev.message || o.message, severity: prev.severity || o.severity, active: prev.active ?? false }, true);
                    }
                }
                const r = w.kind === "chart" ? makeChart(w, ctx) : RENDERERS[w.kind](w, ctx);
                body.append(r.el);
                if (r.isAlert) alerts.push(r);
                else if (!w.property && w.pointer) pointerWidgets.push([r, w]);
                if (w.kind === "chart") charts.push(r);
                for (const p of (r.props || w.properties)) {
                    if (!bound.has(p)) bound.set(p, []);
                    bound.get(p).push(r);
                }
                if (w.kind !== "chart") r.update(entryOf(twin, w));
            }
            const sec = h("section", { class: "group", "data-group": g.id, "aria-label": g.title },
                h("h2", { text: g.title }), body);
            /* the descriptor's grid: columns/x/w drive placement on wide screens */
            if (Number.isInteger(g.x) && Number.isInteger(g.w) && cols) {
                sec.style.setProperty("--gx", String(g.x + 1));
                sec.style.setProperty("--gw", String(Math.min(g.w, cols)));
            }
            return sec;
        });
        /* a trend of any property of the twin, with the limits the
         * descriptor's charts draw for it (from the rules) */
        const limits = new Map();
        const every = new Set();
        for (const g of webGroups(desc, id)) for (const w of g.widgets) {
            for (const p of w.properties?.length ? w.properties : [w.property]) {
                if (typeof p === "string" && p.includes(".") && !p.startsWith("twin.")) every.add(p);
                if (w.kind === "chart" && w.limits) limits.set(p, { limits: w.limits, normal: w.normal });
            }
        }
        const trendBox = h("div", { class: "group-body" });
        const pick = h("select", { class: "trend-property", "aria-label": "property to trend" },
            h("option", { value: "", text: "choose a property…" }),
            ...[...every].sort().map((p) => h("option", { value: p, text: p })));
        pick.addEventListener("change", () => {
            const p = pick.value;
            if (!p) return trendBox.replaceChildren();
            const c = makeChart({ id: "trend-any", kind: "chart", label: p, properties: [p], ...(limits.get(p) || {}) }, ctx);
            trendBox.replaceChildren(c.el);
            c.mounted();
            charts = charts.filter((x) => x.el.dataset.widget !== "trend-any").concat(c);
            for (const r of bound.values()) for (let i = r.length - 1; i >= 0; i--) if (r[i].el?.dataset.widget === "trend-any") r.splice(i, 1);
            if (!bound.has(p)) bound.set(p, []);
            bound.get(p).push(c);
        });
        sections.push(h("section", { class: "group trend-any", "data-group": "trend", "aria-label": "Trend" },
            h("h2", { text: "Trend" }), pick, trendBox));
        grid.replaceChildren(...sections);
        for (const c of charts) c.mounted();
        if (replay.active || readOnly) freezeControls(grid, true);
        grid.dataset.readonly = readOnly ? "1" : "";
        renderStatus();
    }

    twin.on((what, d) => {
        if (what === "value") {
            for (const r of bound.get(d.path) || []) r.update(d.entry, d.path);
        } else if (what === "rules" || what === "stable" || what === "state") {
            renderStatus();
        } else if (what === "descriptor") {
            loadDescriptor().catch((e) => { err.textContent = e.message; });
        } else if (what === "refetch") {
            if (!replay.active) refetch();
        }
    });

    let es = null;
    let refetching = false, again = false;
    async function refetch() {
        /* a state event that names changed properties without values */
        if (refetching) { again = true; return; }
        refetching = true;
        try { twin.applyState(await api("GET", `/api/v1/twins/${encodeId(id)}/state`)); } catch { /* next event retries */ }
        refetching = false;
        if (again) { again = false; refetch(); }
    }
    try {
        /* the twin document tells which component property each twin-level
         * property mirrors (not fatal: GET .../state mirrors them too) */
        const doc = api("GET", `/api/v1/twins/${encodeId(id)}`).catch(() => null);
        await loadDescriptor();
        twin.setTwinDoc(await doc);
        const st = await api("GET", `/api/v1/twins/${encodeId(id)}/state`);
        twin.applyState(st);
        for (const [p, rs] of bound) { const e = twin.get(p); if (e) for (const r of rs) if (!r.props) r.update(e, p); }
        renderStatus();
        es = openEvents({ twin: id }, (type, data) => {
            if (type === "control") control.apply(data);
            else if (!replay.active) twin.applyEvent(type, data);
        }, (s) => {
            setConn(s);
            /* after a gap the stream resumes from Last-Event-ID; a fresh
             * snapshot also covers a gateway restart that lost the ids */
            if (s === "live") control.refresh();
            if (s === "live" && twin.version !== null && !replay.active) {
                api("GET", `/api/v1/twins/${encodeId(id)}/state`).then((x) => twin.applyState(x)).catch(() => {});
            }
        }, sseEvents);
        main.dataset.ready = "1";
    } catch (e) {
        if (e instanceof ApiError && e.status === 401) { clearToken(); return showSignin("Your token is no longer valid."); }
        err.textContent = `Cannot load ${id}: ${e.message}`;
    }
    teardown = () => { if (es) es.close(); alarmView.close(); replay.leave(); main.dataset.ready = ""; window.__holotwinDash.twin = null; };
}

signoutBtn.addEventListener("click", () => { clearToken(); location.hash = "#/"; route(); });
window.addEventListener("hashchange", () => { adoptFragmentToken(); route(); });
adoptFragmentToken();
route();
