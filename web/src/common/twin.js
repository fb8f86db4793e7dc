// The client-side model of one twin: property values with their quality
// (ok / stale / offline), the stable flag, active rules, and listeners.
// Fed from GET /api/v1/twins/{id}/state and then from SSE events. The
// accessors are tolerant of small differences in field names so that both
// clients keep rendering while the gateway's shapes evolve.

/** Quality of a value: "ok" (gateway: "good"), "stale", "offline" or
 *  "unknown" (never received). */
export function qualityOf(entry) {
    if (!entry || typeof entry !== "object") return "ok";
    const q = entry.quality ?? entry.status ?? entry.q ?? entry.state;
    if (q === "offline" || entry.offline === true) return "offline";
    if (q === "stale" || entry.stale === true) return "stale";
    if (q === "unknown") return "unknown";
    return "ok";
}

function isEntry(x) {
    return x && typeof x === "object" && !Array.isArray(x) &&
        ("v" in x || "value" in x);
}

function valueOfEntry(x) { return "v" in x ? x.v : x.value; }

export class TwinModel {
    constructor(id) {
        this.id = id;
        this.values = new Map();   // "component.property" -> {value, ts, quality}
        this.stable = null;
        this.rules = new Map();    // rule id -> {id, severity, message, active}
        this.listeners = new Set();
        this.version = null;
        this.mirrors = new Map();  // target path -> [{path: "twin.x", invert}]
    }

    /**
     * Twin-level properties (`twin.<name>`) mirror their first target in
     * the state document. gatewayd's state events list only the component
     * properties that changed, so the client keeps the mirror itself from
     * the twin document's `properties[].targets`.
     */
    setTwinDoc(doc) {
        this.mirrors.clear();
        for (const tp of Array.isArray(doc?.properties) ? doc.properties : []) {
            const t = Array.isArray(tp.targets) ? tp.targets[0] : null;
            const ref = typeof t === "string" ? t : t?.ref;
            if (!tp.name || !ref) continue;
            if (!this.mirrors.has(ref)) this.mirrors.set(ref, []);
            this.mirrors.get(ref).push({ path: `twin.${tp.name}`, invert: !!(t && t.invert) });
        }
    }

    on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
    emit(what, detail) { for (const fn of this.listeners) fn(what, detail); }

    get(path) { return this.values.get(path); }

    setValue(path, value, ts, quality = "ok", silent = false) {
        const prev = this.values.get(path);
        const e = { value, ts: ts ?? Date.now(), quality };
        this.values.set(path, e);
        if (!silent) this.emit("value", { path, entry: e, prev });
        for (const m of this.mirrors.get(path) || []) {
            const mv = m.invert && typeof value === "boolean" ? !value : value;
            const cur = this.values.get(m.path);
            if (!cur || cur.value !== mv || cur.quality !== quality) this.setValue(m.path, mv, ts, quality, silent);
        }
    }

    /** Reads an RFC 6901 pointer of the descriptor (`/stable`, `/alarms`,
     *  `/rules/{id}/state`, `/properties/{ref}/value|quality`) against the
     *  model, as if it were the state document. */
    pointer(ptr) {
        if (typeof ptr !== "string" || ptr[0] !== "/") return undefined;
        const seg = ptr.slice(1).split("/").map((x) => x.replace(/~1/g, "/").replace(/~0/g, "~"));
        if (seg[0] === "stable") return this.stable ?? undefined;
        if (seg[0] === "alarms") return this.activeRules();
        if (seg[0] === "rules") {
            const r = this.rules.get(seg[1]);
            if (!r) return undefined;
            return seg[2] === "state" ? this.ruleState(r) : seg[2] === "severity" ? r.severity : r;
        }
        if (seg[0] === "properties") {
            const e = this.values.get(seg[1]);
            if (!e) return undefined;
            if (seg[2] === "quality") return e.quality === "ok" ? "good" : e.quality;
            return seg[2] === "value" ? e.value : e;
        }
        return undefined;
    }

    /** "unknown" | "inactive" | "pending" | "active" of a rule entry. */
    ruleState(r) {
        if (!r) return "unknown";
        if (r.active) return "active";
        return r.state && r.state !== "active" ? r.state : r.known ? "inactive" : "unknown";
    }

    setQuality(path, quality) {
        const e = this.values.get(path);
        if (!e || e.quality === quality) return;
        e.quality = quality;
        this.emit("value", { path, entry: e });
    }

    /** Accepts the REST state document or a `state` event. */
    applyState(doc) {
        if (!doc || typeof doc !== "object") return;
        if (doc.version !== undefined) this.version = doc.version;
        const props = doc.properties ?? doc.values ?? doc.props;
        if (props && typeof props === "object") {
            if (Array.isArray(props)) {
                for (const p of props) {
                    const path = p.path ?? p.property ?? p.name ?? p.id;
                    if (path && isEntry(p)) this.setValue(path, valueOfEntry(p), p.ts, qualityOf(p));
                }
            } else {
                for (const [k, v] of Object.entries(props)) {
                    if (isEntry(v)) this.setValue(k, valueOfEntry(v), v.ts, qualityOf(v));
                    else if (v && typeof v === "object" && !Array.isArray(v)) {
                        /* nested: {component: {property: entry|value}} */
                        for (const [pk, pv] of Object.entries(v)) {
                            if (isEntry(pv)) this.setValue(`${k}.${pk}`, valueOfEntry(pv), pv.ts, qualityOf(pv));
                            else this.setValue(`${k}.${pk}`, pv, doc.ts, "ok");
                        }
                    } else this.setValue(k, v, doc.ts, "ok");
                }
            }
        }
        const comps = doc.components;
        if (comps && typeof comps === "object" && !Array.isArray(comps)) {
            for (const [cid, c] of Object.entries(comps)) {
                const cq = qualityOf(c);
                const cp = c && (c.properties ?? c.values);
                if (cp && typeof cp === "object") {
                    for (const [pk, pv] of Object.entries(cp)) {
                        if (isEntry(pv)) this.setValue(`${cid}.${pk}`, valueOfEntry(pv), pv.ts,
                            qualityOf(pv) !== "ok" ? qualityOf(pv) : cq);
                        else this.setValue(`${cid}.${pk}`, pv, doc.ts, cq);
                    }
                }
            }
        }
        /* rules: {"id": {"state", "severity", "priority"?}} (all rules with
         * their state; an alarm rule's own priority, which its severity
         * does not say) alarms: [{"rule", "severity", "message", "since"}]
         * (active ones) */
        const rules = doc.rules;
        if (rules && typeof rules === "object" && !Array.isArray(rules)) {
            for (const [id, r] of Object.entries(rules)) {
                const st = typeof r === "string" ? r : r?.state;
                this.setRule({ id, severity: r?.severity ?? this.rules.get(id)?.severity, state: st, known: true,
                    priority: r?.priority ?? this.rules.get(id)?.priority,
                    message: r?.message ?? this.rules.get(id)?.message, active: st === "active" || r?.active === true }, true);
            }
        } else if (Array.isArray(rules)) {
            for (const r of rules) {
                const id = typeof r === "string" ? r : r.id ?? r.rule;
                if (id) this.setRule(typeof r === "string" ? { id, active: true } : { ...r, id, active: r.active ?? r.state === "active" }, true);
            }
        }
        const alarms = doc.alarms ?? doc.active_rules;
        if (Array.isArray(alarms)) {
            const act = new Set();
            for (const a of alarms) {
                const id = typeof a === "string" ? a : a.rule ?? a.id;
                if (!id) continue;
                act.add(id);
                this.setRule(typeof a === "string" ? { id, active: true } : { ...a, id, active: true }, true);
            }
            for (const [id, r] of this.rules) if (!act.has(id)) r.active = false;
        }
        if (typeof doc.stable === "boolean") this.stable = doc.stable;
        this.emit("state", doc);
    }

    setRule(r, silent = false) {
        const prev = this.rules.get(r.id) || {};
        this.rules.set(r.id, { ...prev, ...r });
        if (!silent) this.emit("rules", r);
    }

    activeRules() { return [...this.rules.values()].filter((r) => r.active); }

    /** One SSE event for this twin. Returns true when it was understood. */
    applyEvent(type, d) {
        if (!d || typeof d !== "object") return false;
        if (d.twin && d.twin !== this.id) return false;
        const kind = (d.type || d.event || type || "").replace(/_/g, "-");
        switch (kind) {
        case "state":
        case "twin-state": {
            const st = d.state && typeof d.state === "object" ? d.state : d;
            if (st.properties || st.alarms || st.rules || typeof st.stable === "boolean") this.applyState(st);
            else if (Array.isArray(d.changed)) this.emit("refetch", d.changed);
            /* stable means no warning or critical rule is active: if the
             * model still has one, an alarm event was missed (e.g. between
             * the snapshot and the stream's start), so re-read the state */
            if (st.stable === true && this.activeRules().some((r) => r.severity !== "info")) this.emit("refetch", []);
            return true;
        }
        case "property":
        case "properties":
        case "value": {
            const path = d.path ?? d.property ?? d.name;
            if (path && isEntry(d)) { this.setValue(path, valueOfEntry(d), d.ts, qualityOf(d)); return true; }
            if (d.properties) { this.applyState(d); return true; }
            return false;
        }
        case "alarm":
        case "alarm-raised":
        case "alarm-cleared": {
            const id = d.rule ?? d.id;
            if (!id) return false;
            const active = kind === "alarm-raised" ? true : kind === "alarm-cleared" ? false
                : (d.active ?? d.state === "raised");
            this.setRule({ id, severity: d.severity, message: d.message, active, known: true,
                state: active ? "active" : "inactive" });
            if (typeof d.stable === "boolean") this.setStable(d.stable);
            return true;
        }
        case "stable":
        case "stable-changed":
            this.setStable(d.stable ?? d.value);
            return true;
        case "descriptor":
            this.emit("descriptor", d);
            return true;
        default:
            return false;
        }
    }

    setStable(s) {
        if (typeof s !== "boolean" || s === this.stable) return;
        this.stable = s;
        this.emit("stable", s);
    }
}

/** Formats a value for display with the schema's unit and step. */
export function formatValue(v, schema = {}) {
    if (v === undefined || v === null) return "—";
    if (typeof v === "boolean") return enumTitleOf(schema, v) || (v ? "on" : "off");
    if (typeof v === "number") {
        const step = schema.step ?? schema.multipleOf;
        let digits = 1;
        if (schema.type === "integer" || (step && Number.isInteger(step))) digits = 0;
        else if (step && step < 1) digits = Math.min(3, Math.ceil(-Math.log10(step)));
        const enumTitle = enumTitleOf(schema, v);
        if (enumTitle) return enumTitle;
        return v.toFixed(digits);
    }
    const t = enumTitleOf(schema, v);
    return t || String(v);
}

function enumTitleOf(schema, v) {
    const opts = enumOptions(schema);
    const o = opts && opts.find((x) => x.value === v);
    return o ? o.title : null;
}

/** Enum choices as [{value, title}] from the several ways a schema may say it. */
export function enumOptions(schema = {}) {
    if (Array.isArray(schema.options)) {
        return schema.options.map((o) => (typeof o === "object" ? { value: o.value ?? o.const, title: o.title ?? String(o.value ?? o.const) } : { value: o, title: String(o) }));
    }
    if (Array.isArray(schema.oneOf) && schema.oneOf.every((o) => "const" in o)) {
        return schema.oneOf.map((o) => ({ value: o.const, title: o.title ?? String(o.const) }));
    }
    if (Array.isArray(schema.enum) && schema.enum.every((o) => o && typeof o === "object" && "value" in o)) {
        return schema.enum.map((o) => ({ value: o.value, title: o.title ?? String(o.value) }));
    }
    if (Array.isArray(schema.enum)) {
        const titles = schema.enumTitles ?? schema.enum_titles ?? schema.titles;
        return schema.enum.map((v, i) => ({
            value: v,
            title: (Array.isArray(titles) ? titles[i] : titles && typeof titles === "object" ? titles[v] : null) ?? String(v),
        }));
    }
    return null;
}
