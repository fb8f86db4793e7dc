// Reading UI descriptors ("schema": "holotwin.ui/1"). Both clients render
// only what the descriptor says; this module turns a widget of the
// descriptor into one normalized shape so renderers stay small.
import { localHref } from "./api.js";

export const WIDGET_KINDS = ["display", "gauge", "toggle", "slider", "select", "button", "alert", "chart"];

function first(...xs) { for (const x of xs) if (x !== undefined && x !== null) return x; return undefined; }

function kindOf(w) {
    for (const k of [w.widget, w.type, w.kind, w.control]) {
        if (typeof k === "string" && WIDGET_KINDS.includes(k)) return k;
    }
    return null;
}

/** True when the object looks like a widget of the descriptor. */
export function isWidget(w) { return !!(w && typeof w === "object" && !Array.isArray(w) && kindOf(w)); }

/** Normalizes one widget: {id, kind, label, property, properties, schema,
 *  writable, policy, write, rules, raw}. */
export function normWidget(w, twinId) {
    const b = w.binding ?? w.bind ?? {};
    const binding = typeof b === "string" ? { property: b } : b;
    const property = first(binding.property, binding.twinProperty, binding.path, w.property, w.path);
    const s = first(w.schema, w.data, w.dataSchema, binding.schema, {}) || {};
    const schema = {
        type: s.type,
        min: first(s.minimum, s.min),
        max: first(s.maximum, s.max),
        step: first(s.step, s.multipleOf),
        unit: first(s.unitLabel, s.unitSymbol, typeof s.unit === "string" ? s.unit.replace(/^unit:/, "") : s.unit, w.unit),
        enum: s.enum, options: s.options, oneOf: s.oneOf,
        enumTitles: first(s.enumTitles, s.enum_titles, s.titles),
        readOnly: s.readOnly,
    };
    const p = first(w.policy, w.interaction, w.interactionPolicy, {}) || {};
    const policy = {
        debounceMs: first(p.debounce_ms, p.debounceMs, p.debounce, 0),
        rateLimitMs: first(p.rate_limit_ms, p.rateLimitMs, p.min_interval_ms, 0),
        confirm: !!first(p.confirm, p.confirm_before, w.confirm, false),
        confirmText: first(p.confirm?.message, p.confirm_text, p.confirmText, p.message),
        confirmWhen: p.confirm && typeof p.confirm === "object" ? p.confirm.when : undefined,
        ackTimeoutMs: p.feedback?.ackTimeoutMs,
        feedback: first(p.feedback, true),
    };
    const forms = Array.isArray(binding.forms) ? binding.forms : [];
    const httpWrite = forms.find((f) => f.op === "writeproperty" && (f.protocol ?? "http") === "http");
    const wr = first(httpWrite, binding.write, binding.rest?.write, w.write);
    let write = null;
    if (wr && typeof wr === "object") write = { method: first(wr.method, wr["htv:methodName"], "PUT"), href: localHref(first(wr.href, wr.url)) };
    else if (typeof wr === "string") write = { method: "PUT", href: localHref(wr) };
    if (!write || !write.href) {
        write = property ? { method: "PUT", href: `/api/v1/twins/${encodeURIComponent(twinId)}/properties/${encodeURIComponent(property)}` } : null;
    }
    const kind = kindOf(w);
    let writable = first(w.writable, binding.writable, s.writable);
    if (writable === undefined) writable = s.readOnly === undefined ? false : !s.readOnly;
    if (kind === "display" || kind === "gauge" || kind === "chart" || kind === "alert") writable = false;
    const props = first(w.properties, binding.properties, w.series,
        property ? [property] : []);
    return {
        id: first(w.id, property, Math.random().toString(36).slice(2)),
        kind,
        label: first(w.label, w.title, w.name, property, kind),
        description: first(w.description, w.help),
        property,
        properties: Array.isArray(props) ? props.map((x) => (typeof x === "string" ? x : first(x.property, x.path))).filter(Boolean) : [],
        schema,
        writable: !!writable,
        value: first(w.value, binding.value),  // a button's fixed command value
        policy,
        write,
        rules: first(w.rules, binding.rules, binding.rule ? [binding.rule] : undefined),
        /* RFC 6901 pointers into the state document (holotwin.ui/1) */
        pointer: binding.pointer,
        qualityPointer: binding.qualityPointer,
        severity: w.severity,
        message: w.message,
        /* limits the rules state, and the normal range between them */
        limits: Array.isArray(w.limits) ? w.limits : [],
        normal: w.normal && typeof w.normal === "object" ? w.normal : null,
        group: w.group,
        sseEvents: forms.filter((f) => f.protocol === "sse" && f.event).map((f) => f.event),
        history: localHref(forms.find((f) => f.op === "readhistory" && (f.protocol ?? "http") === "http")?.href),
        raw: w,
    };
}

/**
 * Groups of widgets of a `web` descriptor: [{id, title, widgets: [norm]}].
 * Accepts groups/cards/sections/pages nesting; widgets outside any group end
 * up in a group named after the twin.
 */
export function webGroups(desc, twinId) {
    /* holotwin.ui/1: flat "widgets" + layout.groups naming widget ids */
    if (Array.isArray(desc?.widgets) && desc.widgets.every((w) => w && w.id)) {
        const byId = new Map(desc.widgets.filter(isWidget).map((w) => [w.id, normWidget(w, twinId)]));
        const lg = desc.layout?.groups;
        if (Array.isArray(lg)) {
            const used = new Set();
            const gs = [...lg].sort((a, b) => (a.y ?? 0) - (b.y ?? 0) || (a.x ?? 0) - (b.x ?? 0)).map((g) => ({
                id: g.id, title: g.title ?? g.id, kind: g.kind, x: g.x, y: g.y, w: g.w, h: g.h,
                widgets: (g.widgets || []).map((id) => { used.add(id); return byId.get(id); }).filter(Boolean),
            }));
            const rest = [...byId.values()].filter((w) => !used.has(w.id));
            if (rest.length) gs.push({ id: "_other", title: "Other", widgets: rest });
            return gs.filter((g) => g.widgets.length);
        }
        const m = new Map();
        for (const w of byId.values()) {
            const g = w.group || "_main";
            if (!m.has(g)) m.set(g, { id: g, title: g === "_main" ? twinTitle(desc, twinId) : g, widgets: [] });
            m.get(g).widgets.push(w);
        }
        return [...m.values()];
    }
    const groups = [];
    const loose = [];
    const seen = new Set();
    function walk(node, group, depth) {
        if (!node || typeof node !== "object" || depth > 8) return;
        if (Array.isArray(node)) { for (const x of node) walk(x, group, depth + 1); return; }
        if (isWidget(node)) {
            if (seen.has(node)) return;
            seen.add(node);
            const nw = normWidget(node, twinId);
            (group ? group.widgets : loose).push(nw);
            return;
        }
        const kids = first(node.widgets, node.children, node.items, node.controls);
        const isGroup = Array.isArray(kids) && (node.title || node.label || node.id);
        if (isGroup && depth > 0) {
            const g = { id: node.id ?? node.title, title: first(node.title, node.label, node.id), widgets: [], layout: node.layout ?? node.grid };
            groups.push(g);
            walk(kids, g, depth + 1);
            return;
        }
        for (const [k, v] of Object.entries(node)) {
            if (k === "schema" || k === "binding" || k === "twin") continue;
            if (v && typeof v === "object") walk(v, group, depth + 1);
        }
    }
    walk(desc, null, 0);
    if (loose.length) groups.unshift({ id: "_main", title: twinTitle(desc, twinId), widgets: loose });
    return groups.filter((g) => g.widgets.length);
}

export function twinTitle(desc, twinId) {
    if (!desc) return twinId;
    const t = desc.twin;
    return first(t && typeof t === "object" ? t.title : undefined, desc.title, twinId);
}

/** Every property a descriptor binds (for live updates and history). */
export function widgetsById(desc, twinId) {
    const m = new Map();
    if (Array.isArray(desc?.widgets)) for (const w of desc.widgets) if (isWidget(w) && w.id) m.set(w.id, normWidget(w, twinId));
    return m;
}

/** SSE event names the descriptor's observe forms use. */
export function sseEventNames(desc) {
    const s = new Set();
    const walk = (x, d) => {
        if (!x || typeof x !== "object" || d > 10) return;
        if (Array.isArray(x)) { for (const y of x) walk(y, d + 1); return; }
        if (x.protocol === "sse" && typeof x.event === "string") s.add(x.event);
        for (const v of Object.values(x)) if (v && typeof v === "object") walk(v, d + 1);
    };
    walk(desc, 0);
    return [...s];
}

export function boundProperties(widgets) {
    const s = new Set();
    for (const w of widgets) for (const p of w.properties) s.add(p);
    return [...s];
}
