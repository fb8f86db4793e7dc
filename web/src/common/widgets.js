// DOM renderers for the abstract widgets of a UI descriptor: display, gauge,
// toggle, slider, select, button, alert, chart. Each returns
// {el, update(entry)}; controls send commands through ctx.send(widget, value)
// and show pending -> confirmed | failed (with the device's error code).
// Used by the dashboard and by the hologram client's control panels.
import { formatValue, enumOptions } from "./twin.js";
import { PRIORITIES, priorityOf } from "./priority.js";

let uid = 0;
function h(tag, attrs = {}, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of kids) if (c) e.append(c);
    return e;
}
export { h };

const QUALITY_TEXT = { stale: "stale", offline: "offline", unknown: "no data" };

function qualityBadge() {
    return h("span", { class: "q-badge", "aria-live": "polite" });
}

function setQuality(card, badge, q) {
    card.classList.toggle("q-stale", q === "stale" || q === "unknown");
    card.classList.toggle("q-offline", q === "offline");
    badge.textContent = QUALITY_TEXT[q] || "";
    badge.hidden = !QUALITY_TEXT[q];
}

/** The pending -> confirmed / failed line of a control. */
function commandStatus() {
    const el = h("span", { class: "cmd-status", role: "status", "aria-live": "polite" });
    let timer = 0;
    return {
        el,
        pending(v, schema) {
            clearTimeout(timer);
            el.dataset.state = "pending";
            el.textContent = `sending ${formatValue(v, schema)}…`;
        },
        confirmed(v, schema) {
            el.dataset.state = "confirmed";
            el.textContent = `✓ confirmed ${formatValue(v, schema)}`;
            timer = setTimeout(() => { el.dataset.state = ""; el.textContent = ""; }, 6000);
        },
        failed(err) {
            clearTimeout(timer);
            el.dataset.state = "failed";
            el.textContent = `✗ failed: ${err.code || "error"}${err.message ? " — " + err.message : ""}`;
        },
    };
}

/** Whether writing v needs the user's confirmation (interaction.confirm,
 *  optionally only for one value, e.g. switching a heater on). */
export function needsConfirm(w, v) {
    return w.policy.confirm && (w.policy.confirmWhen === undefined || w.policy.confirmWhen === v);
}

/** Runs one command with feedback. Returns the confirmed value or throws. */
async function runCommand(ctx, w, value, status) {
    status.pending(value, w.schema);
    try {
        const res = await ctx.send(w, value);
        let v = value;
        if (res && typeof res === "object" && ("v" in res || "value" in res)) v = "v" in res ? res.v : res.value;
        status.confirmed(v, w.schema);
        return v;
    } catch (e) {
        status.failed(e);
        throw e;
    }
}

function card(w, ...kids) {
    const c = h("div", { class: `widget w-${w.kind}`, "data-widget": w.id, "data-property": w.property || "" }, ...kids);
    if (w.description) c.title = w.description;
    return c;
}

function readOnlyNote(w) {
    return w.writable ? null : h("span", { class: "ro-note", text: "read-only for your role" });
}

function makeDisplay(w) {
    const val = h("output", { class: "value", "aria-label": w.label });
    const unit = h("span", { class: "unit", text: w.schema.unit || "" });
    const badge = qualityBadge();
    const el = card(w, h("div", { class: "label", text: w.label }), h("div", { class: "readout" }, val, unit), badge);
    return {
        el,
        update(e) {
            val.textContent = formatValue(e?.value, w.schema);
            const ab = abnormality(w, e?.value);
            el.classList.toggle("abnormal", ab.out);
            setPriorityClass(el, ab.priority);
            setQuality(el, badge, e?.quality);
        },
    };
}

/* An arc of the gauge from fraction f0 to f1 of its range, radius r. */
function arcPath(f1, f0 = 0, r = 40) {
    const a0 = Math.PI * (1 - f0), a1 = Math.PI * (1 - f1);
    const cx = 50, cy = 50;
    const x0 = cx + r * Math.cos(a0), y0 = cy - r * Math.sin(a0);
    const x1 = cx + r * Math.cos(a1), y1 = cy - r * Math.sin(a1);
    return `M ${x0.toFixed(2)} ${y0.toFixed(2)} A ${r} ${r} 0 0 1 ${x1.toFixed(2)} ${y1.toFixed(2)}`;
}

/**
 * Whether a value is outside its normal range (the limits the rules
 * state), and the priority of the worst limit it crossed: {out, priority}.
 */
export function abnormality(w, v) {
    if (typeof v !== "number" || !w.normal) return { out: false, priority: null };
    const nr = w.normal;
    if (!((nr.min !== undefined && v < nr.min) || (nr.max !== undefined && v > nr.max))) return { out: false, priority: null };
    let best = null;
    for (const l of w.limits || []) {
        if (!(l.type === "high" ? v > l.value : v < l.value)) continue;
        const p = priorityOf(l);
        if (best === null || PRIORITIES.indexOf(p) < PRIORITIES.indexOf(best)) best = p;
    }
    return { out: true, priority: best };
}

function setPriorityClass(el, p) {
    for (const q of PRIORITIES) el.classList.toggle(`p-${q}`, p === q);
}

function makeGauge(w) {
    const min = w.schema.min ?? 0, max = w.schema.max ?? 100;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 100 60");
    svg.setAttribute("class", "gauge");
    svg.setAttribute("aria-hidden", "true");
    const bg = document.createElementNS(ns, "path");
    bg.setAttribute("d", arcPath(1)); bg.setAttribute("class", "g-bg");
    const fg = document.createElementNS(ns, "path");
    fg.setAttribute("class", "g-fg");
    svg.append(bg);
    const frac = (v) => Math.max(0, Math.min(1, (v - min) / (max - min || 1)));
    /* the normal range, inside the arc, and a tick at each limit */
    if (w.normal) {
        const band = document.createElementNS(ns, "path");
        band.setAttribute("class", "g-band");
        band.setAttribute("d", arcPath(frac(w.normal.max ?? max), frac(w.normal.min ?? min), 31));
        svg.append(band);
    }
    svg.append(fg);
    for (const l of w.limits || []) {
        const a = Math.PI * (1 - frac(l.value));
        const t = document.createElementNS(ns, "line");
        t.setAttribute("x1", (50 + 33 * Math.cos(a)).toFixed(2)); t.setAttribute("y1", (50 - 33 * Math.sin(a)).toFixed(2));
        t.setAttribute("x2", (50 + 47 * Math.cos(a)).toFixed(2)); t.setAttribute("y2", (50 - 47 * Math.sin(a)).toFixed(2));
        t.setAttribute("class", `g-lim p-${priorityOf(l)}`);
        svg.append(t);
    }
    const val = h("output", { class: "value" });
    const meter = h("div", { class: "gauge-wrap", role: "meter", "aria-label": w.label,
        "aria-valuemin": min, "aria-valuemax": max }, svg,
    h("div", { class: "readout" }, val, h("span", { class: "unit", text: w.schema.unit || "" })));
    const badge = qualityBadge();
    const nr = w.normal;
    const rangeText = nr ? `normal ${nr.min ?? min} – ${nr.max ?? max}${w.schema.unit ? " " + w.schema.unit : ""} (of ${min} – ${max})` : `${min} – ${max}`;
    const el = card(w, h("div", { class: "label", text: w.label }), meter,
        h("div", { class: "range", text: rangeText }), badge);
    return {
        el,
        update(e) {
            const v = e?.value;
            val.textContent = formatValue(v, w.schema);
            if (typeof v === "number") {
                const f = Math.max(0, Math.min(1, (v - min) / (max - min || 1)));
                fg.setAttribute("d", arcPath(Math.max(f, 0.001)));
                meter.setAttribute("aria-valuenow", v);
                const ab = abnormality(w, v);
                const out = ab.out || v < min || v > max;
                fg.classList.toggle("out", out);
                setPriorityClass(fg, ab.priority);
                el.classList.toggle("abnormal", out);
                setPriorityClass(el, ab.priority);
                meter.setAttribute("aria-valuetext", `${formatValue(v, w.schema)}${w.schema.unit ? " " + w.schema.unit : ""}${out ? ", outside the normal range" : ""}`);
            }
            setQuality(el, badge, e?.quality);
        },
    };
}

function makeToggle(w, ctx) {
    const status = commandStatus();
    const id = "t" + ++uid;
    const btn = h("button", { id, class: "switch", role: "switch", "aria-checked": "false",
        "aria-label": w.label, disabled: !w.writable });
    const badge = qualityBadge();
    let cur = false;
    btn.addEventListener("click", async () => {
        const next = !cur;
        if (needsConfirm(w, next) && !confirm(w.policy.confirmText || `${w.label}: switch ${next ? "on" : "off"}?`)) return;
        btn.setAttribute("aria-busy", "true");
        try { cur = await runCommand(ctx, w, next, status) === true; render(); } catch { /* shown */ }
        btn.removeAttribute("aria-busy");
    });
    function render() {
        btn.setAttribute("aria-checked", String(!!cur));
        btn.dataset.on = cur ? "1" : "0";
    }
    const el = card(w, h("label", { class: "label", for: id, text: w.label }),
        h("div", { class: "control-row" }, btn, h("span", { class: "switch-text" })), status.el, readOnlyNote(w), badge);
    const txt = el.querySelector(".switch-text");
    return {
        el,
        update(e) {
            if (e && e.value !== undefined) cur = !!e.value;
            render();
            txt.textContent = formatValue(cur, w.schema);
            setQuality(el, badge, e?.quality);
        },
    };
}

function makeSlider(w, ctx) {
    const status = commandStatus();
    const id = "s" + ++uid;
    const min = w.schema.min ?? 0, max = w.schema.max ?? 100;
    const step = w.schema.step ?? (w.schema.type === "integer" ? 1 : "any");
    const input = h("input", { id, type: "range", min, max, step, "aria-label": w.label,
        disabled: !w.writable, class: "slider" });
    const out = h("output", { class: "value", for: id });
    const measured = h("span", { class: "measured" });
    const badge = qualityBadge();
    let dragging = false, debounce = 0, lastSent = 0, inflight = null, queued = null;
    const delay = Math.max(w.policy.debounceMs || 250, 0);

    async function send(v) {
        /* rate limit: at most one command in flight and one per interval;
         * the newest value wins */
        if (inflight) { queued = v; return; }
        const wait = Math.max(0, (w.policy.rateLimitMs || 0) - (Date.now() - lastSent));
        if (wait) { queued = v; setTimeout(flush, wait); return; }
        lastSent = Date.now();
        inflight = runCommand(ctx, w, v, status).catch(() => {});
        await inflight;
        inflight = null;
        flush();
    }
    function flush() { if (queued !== null && !inflight) { const q = queued; queued = null; send(q); } }
    const valueOf = () => (w.schema.type === "integer" ? parseInt(input.value, 10) : parseFloat(input.value));
    input.addEventListener("input", () => {
        dragging = true;
        out.textContent = formatValue(valueOf(), w.schema) + (w.schema.unit ? " " + w.schema.unit : "");
        clearTimeout(debounce);
        debounce = setTimeout(() => send(valueOf()), delay);
    });
    input.addEventListener("change", () => {
        clearTimeout(debounce);
        dragging = false;
        send(valueOf());
    });
    input.addEventListener("blur", () => { dragging = false; });
    const el = card(w, h("label", { class: "label", for: id, text: w.label }),
        h("div", { class: "control-row" }, input, out), measured, status.el, readOnlyNote(w), badge);
    return {
        el,
        update(e) {
            if (e && typeof e.value === "number" && !dragging && !inflight && document.activeElement !== input) {
                input.value = e.value;
            }
            if (e && typeof e.value === "number" && !dragging) {
                out.textContent = formatValue(e.value, w.schema) + (w.schema.unit ? " " + w.schema.unit : "");
            }
            setQuality(el, badge, e?.quality);
        },
    };
}

function makeSelect(w, ctx) {
    const status = commandStatus();
    const id = "sel" + ++uid;
    const opts = enumOptions(w.schema) || [];
    const sel = h("select", { id, disabled: !w.writable, "aria-label": w.label });
    for (const o of opts) sel.append(h("option", { value: JSON.stringify(o.value), text: o.title }));
    const badge = qualityBadge();
    let cur;
    sel.addEventListener("change", async () => {
        const v = JSON.parse(sel.value);
        if (needsConfirm(w, v) && !confirm(w.policy.confirmText || `${w.label}: set ${formatValue(v, w.schema)}?`)) {
            sel.value = JSON.stringify(cur); return;
        }
        try { cur = await runCommand(ctx, w, v, status); } catch { sel.value = JSON.stringify(cur); }
    });
    const el = card(w, h("label", { class: "label", for: id, text: w.label }), sel, status.el, readOnlyNote(w), badge);
    return {
        el,
        update(e) {
            if (e && e.value !== undefined) { cur = e.value; if (document.activeElement !== sel) sel.value = JSON.stringify(cur); }
            setQuality(el, badge, e?.quality);
        },
    };
}

function makeButton(w, ctx) {
    const status = commandStatus();
    const btn = h("button", { class: "action", disabled: !w.writable, text: w.label });
    const v = w.value !== undefined ? w.value : true;
    btn.addEventListener("click", async () => {
        if (needsConfirm(w, v) && !confirm(w.policy.confirmText || `${w.label}?`)) return;
        btn.setAttribute("aria-busy", "true");
        try { await runCommand(ctx, w, v, status); } catch { /* shown */ }
        btn.removeAttribute("aria-busy");
    });
    const badge = qualityBadge();
    const el = card(w, btn, status.el, readOnlyNote(w), badge);
    return { el, update(e) { setQuality(el, badge, e?.quality); } };
}

/** The entry {value, quality} a widget shows: its bound property, or
 *  (status and rule widgets) the value at its state-document pointer. */
export function entryOf(twin, w) {
    if (w.property) return twin.get(w.property);
    if (w.kind === "alert" && Array.isArray(w.rules) && w.rules.length === 1) {
        const id = typeof w.rules[0] === "string" ? w.rules[0] : w.rules[0].id;
        return { value: twin.ruleState(twin.rules.get(id)), quality: "ok" };
    }
    if (w.pointer) {
        const v = twin.pointer(w.pointer);
        return { value: v, quality: v === undefined ? "unknown" : "ok" };
    }
    return undefined;
}

const RULE_STATE_TITLE = { unknown: "Unknown", inactive: "OK", pending: "Pending", active: "Alarm" };

function makeAlert(w, ctx) {
    const filter = Array.isArray(w.rules) ? w.rules.map((r) => (typeof r === "string" ? r : r.id)) : null;
    if (filter && filter.length === 1) {
        /* holotwin.ui/1: one alert widget per rule, bound to /rules/{id}/state */
        const id = filter[0];
        const chip = h("span", { class: "rule-state" });
        const msg = h("span", { class: "rule-msg" });
        const el = card(w, h("div", { class: "rule-row" }, chip,
            h("span", { class: "rule-title", text: w.label }), msg));
        el.dataset.rule = id;
        return {
            el,
            isAlert: true,
            update() {
                const r = ctx.twin.rules.get(id);
                const st = ctx.twin.ruleState(r);
                const sev = r?.severity || w.severity || "warning";
                const opts = enumOptions(w.schema);
                const pr = priorityOf({ severity: sev, priority: r?.priority ?? w.raw?.priority });
                const title = opts?.find((o) => o.value === st)?.title || RULE_STATE_TITLE[st] || st;
                /* colour is not the only cue: active alarms name their priority */
                chip.textContent = st === "active" ? `${title} · ${pr}` : title;
                el.dataset.state = st;
                el.dataset.severity = sev;
                el.dataset.priority = pr;
                el.classList.toggle("active", st === "active");
                msg.textContent = st === "active" || st === "pending" ? (r?.message || w.message || "") : "";
                el.setAttribute("role", st === "active" ? "alert" : "group");
            },
        };
    }
    const list = h("ul", { class: "alerts" });
    const el = card(w, h("div", { class: "label", text: w.label }), list);
    el.setAttribute("role", "alert");
    const fset = filter ? new Set(filter) : null;
    return {
        el,
        isAlert: true,
        update() {
            const act = ctx.twin.activeRules().filter((r) => !fset || fset.has(r.id));
            list.replaceChildren(...act.map((r) => {
                const p = priorityOf({ severity: r.severity || w.severity || "warning", priority: r.priority });
                return h("li", { class: `p-${p}`, "data-rule": r.id, "data-priority": p },
                    h("span", { class: `prio p-${p}`, text: p }), r.message || w.message || r.id);
            }));
            el.classList.toggle("active", act.length > 0);
            el.dataset.active = act.length ? "1" : "0";
            if (!act.length) list.append(h("li", { class: "none", text: "no active alarms" }));
        },
    };
}

export const RENDERERS = {
    display: makeDisplay, gauge: makeGauge, toggle: makeToggle, slider: makeSlider,
    select: makeSelect, button: makeButton, alert: makeAlert,
};
