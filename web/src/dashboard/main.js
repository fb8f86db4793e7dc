// Holotwin SCADA dashboard: sign-in, overview of twins and devices, and a
// twin page rendered only from the twin's `web` UI descriptor, live via SSE.
import "./app.css";
import { adoptFragmentToken, getToken, setToken, clearToken, api, ApiError, encodeId, openEvents } from "../common/api.js";
import { AlarmBook } from "../common/alarms.js";
import { alarmBanner, alarmList, alarmSession, overviewCounts } from "../common/alarmviews.js";
import { TwinModel } from "../common/twin.js";
import { webGroups, twinTitle, sseEventNames } from "../common/descriptor.js";
import { RENDERERS, h, entryOf } from "../common/widgets.js";
import { makeChart } from "./chart.js";

const main = document.getElementById("main");
const connEl = document.getElementById("conn");
const signoutBtn = document.getElementById("signout");
let teardown = () => {};

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

async function showOverview() {
    document.title = "Holotwin — overview";
    const twinsBox = h("ul", { class: "twin-list", "aria-label": "twins" });
    const devBody = h("tbody");
    const err = h("p", { class: "error", role: "alert" });
    main.replaceChildren(
        h("section", { "aria-labelledby": "twins-h" }, h("h1", { id: "twins-h", text: "Machines" }), twinsBox),
        h("section", { "aria-labelledby": "devs-h" }, h("h2", { id: "devs-h", text: "Devices" }),
            h("div", { class: "table-wrap" }, h("table", { class: "devices" },
                h("thead", {}, h("tr", {}, ...["Device", "Title", "Approval", "Connection"].map((t) => h("th", { scope: "col", text: t })))),
                devBody))),
        err);
    async function load() {
        try {
            const [tw, dv] = await Promise.all([api("GET", "/api/v1/twins"), api("GET", "/api/v1/devices")]);
            twinsBox.replaceChildren(...listOf(tw, "twins", "items").map((t) => {
                const alarms = t.alarms ?? t.active_rules ?? [];
                const nAl = Array.isArray(alarms) ? alarms.length : Number(alarms) || 0;
                const st = t.stable === true ? "stable" : t.stable === false ? "unstable" : "";
                return h("li", { class: `twin-item ${st}`, "data-twin": t.id },
                    h("a", { href: `#/twin/${encodeId(t.id)}` },
                        h("span", { class: "twin-title", text: t.title || t.id }),
                        h("span", { class: "twin-id", text: t.id }),
                        st ? h("span", { class: `pill ${st}`, text: st }) : null,
                        nAl ? h("span", { class: "pill alarm", text: `${nAl} alarm${nAl > 1 ? "s" : ""}` }) : null));
            }));
            if (!twinsBox.children.length) twinsBox.append(h("li", { class: "empty", text: "No twins yet." }));
            devBody.replaceChildren(...listOf(dv, "devices", "items").map((d) => {
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

async function showTwin(id) {
    const twin = new TwinModel(id);
    window.__holotwinDash.twin = twin;
    const status = h("div", { class: "twin-status", role: "status", "aria-live": "polite" });
    const grid = h("div", { class: "grid" });
    const err = h("p", { class: "error", role: "alert" });
    const heading = h("h1", { text: id });
    const alarmView = alarmList(alarms, id);
    main.replaceChildren(h("nav", { class: "crumbs", "aria-label": "breadcrumb" },
        h("a", { href: "#/", text: "Machines" }), " / ", h("span", { text: id })),
    heading, status, alarmView.el, err, grid);

    const bound = new Map();   // property -> [widget renderers]
    let sseEvents = [];
    let alerts = [];
    let charts = [];
    let pointerWidgets = [];   // [renderer, widget] shown from a state pointer

    function renderStatus() {
        const act = twin.activeRules();
        const st = twin.stable === true ? "stable" : twin.stable === false ? "unstable" : "unknown";
        status.className = `twin-status ${st}`;
        status.dataset.stable = st;
        status.replaceChildren(
            h("span", { class: `pill ${st}`, text: st === "unknown" ? "state unknown" : st }),
            act.length ? h("ul", { class: "rules", "aria-label": "active rules" }, ...act.map((r) =>
                h("li", { class: `sev-${r.severity || "warning"}`, "data-rule": r.id, "data-severity": r.severity || "" },
                    h("strong", { text: r.id }), r.message ? ": " + r.message : ""))) :
                h("span", { class: "no-rules", text: "no active rules" }));
        for (const a of alerts) a.update();
        for (const [r, w] of pointerWidgets) r.update(entryOf(twin, w));
    }

    async function send(w, value) {
        return api(w.write.method || "PUT", w.write.href, value);
    }

    async function loadDescriptor() {
        const desc = await api("GET", `/api/v1/twins/${encodeId(id)}/ui?target=web`);
        const title = twinTitle(desc, id);
        heading.textContent = title;
        document.title = `Holotwin — ${title}`;
        bound.clear(); alerts = []; charts = []; pointerWidgets = [];
        const ctx = { twin, twinId: id, send };
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
        grid.replaceChildren(...sections);
        for (const c of charts) c.mounted();
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
            refetch();
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
            twin.applyEvent(type, data);
        }, (s) => {
            setConn(s);
            /* after a gap the stream resumes from Last-Event-ID; a fresh
             * snapshot also covers a gateway restart that lost the ids */
            if (s === "live" && twin.version !== null) {
                api("GET", `/api/v1/twins/${encodeId(id)}/state`).then((x) => twin.applyState(x)).catch(() => {});
            }
        }, sseEvents);
        main.dataset.ready = "1";
    } catch (e) {
        if (e instanceof ApiError && e.status === 401) { clearToken(); return showSignin("Your token is no longer valid."); }
        err.textContent = `Cannot load ${id}: ${e.message}`;
    }
    teardown = () => { if (es) es.close(); alarmView.close(); main.dataset.ready = ""; window.__holotwinDash.twin = null; };
}

signoutBtn.addEventListener("click", () => { clearToken(); location.hash = "#/"; route(); });
window.addEventListener("hashchange", () => { adoptFragmentToken(); route(); });
adoptFragmentToken();
route();
