// Trend chart widget (uPlot): history from REST first, then live values.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h } from "../common/widgets.js";
import { api, encodeId } from "../common/api.js";
import { priorityOf } from "../common/priority.js";

const WINDOW_S = 600;          // visible span by default
const MAX_POINTS = 2000;
/* Selectable spans: [label, seconds, step ms]. Steps of whole minutes or
 * hours let the gateway answer from its rollups (docs/api.md, "Time
 * travel"): a month of trend costs a few hundred buckets. */
const SPANS = [["10 min", 600, 0], ["1 h", 3600, 10000], ["24 h", 86400, 300000],
    ["7 days", 7 * 86400, 3600000], ["30 days", 30 * 86400, 4 * 3600000]];

/* Colours from the page's theme (app.css): series in greys, limits in
 * their alarm priority's colour. */
function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#777"; }

/**
 * A uPlot plugin that draws the normal range as a band behind the trend
 * and each limit of the rules as a dashed line in its priority's colour,
 * labelled with the rule.
 */
function limitsPlugin(w) {
    return {
        hooks: {
            drawAxes: [(u) => {
                if (!w.normal) return;
                const lo = w.normal.min ?? u.scales.y.min, hi = w.normal.max ?? u.scales.y.max;
                const y0 = u.valToPos(hi, "y", true), y1 = u.valToPos(lo, "y", true);
                const c = u.ctx;
                c.save();
                c.fillStyle = css("--band");
                c.globalAlpha = 0.25;
                c.fillRect(u.bbox.left, Math.max(u.bbox.top, y0), u.bbox.width, Math.min(u.bbox.top + u.bbox.height, y1) - Math.max(u.bbox.top, y0));
                c.restore();
            }],
            draw: [(u) => {
                const c = u.ctx;
                for (const l of w.limits || []) {
                    const y = u.valToPos(l.value, "y", true);
                    if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
                    c.save();
                    c.strokeStyle = css(`--alarm-${priorityOf(l)}`);
                    c.lineWidth = 2 * devicePixelRatio;
                    c.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
                    c.beginPath(); c.moveTo(u.bbox.left, y); c.lineTo(u.bbox.left + u.bbox.width, y); c.stroke();
                    c.fillStyle = css("--fg");
                    c.font = `${11 * devicePixelRatio}px sans-serif`;
                    /* the label inside the plot, at its right end */
                    c.textAlign = "right";
                    c.fillText(`${l.rule} ${l.type === "high" ? ">" : "<"} ${l.value}`, u.bbox.left + u.bbox.width - 4 * devicePixelRatio,
                        l.type === "high" ? y - 4 * devicePixelRatio : y + 13 * devicePixelRatio);
                    c.restore();
                }
            }],
        },
    };
}

/** Points of a history answer as [[t_seconds, v], ...] (tolerant shapes). */
export function historyPoints(doc) {
    let arr = doc;
    if (doc && !Array.isArray(doc)) arr = doc.points ?? doc.samples ?? doc.history ?? doc.values ?? doc.items ?? [];
    if (!Array.isArray(arr)) return [];
    const out = [];
    for (const p of arr) {
        let t, v;
        if (Array.isArray(p)) [t, v] = p;
        else if (p && typeof p === "object") { t = p.ts ?? p.t ?? p.time; v = p.v ?? p.value; }
        if (typeof v === "boolean") v = v ? 1 : 0;
        if (typeof t === "number" && typeof v === "number") out.push([t > 1e11 ? t / 1000 : t, v]);
    }
    out.sort((a, b) => a[0] - b[0]);
    return out;
}

export function makeChart(w, ctx) {
    const props = w.properties.length ? w.properties : [w.property];
    const box = h("div", { class: "chart-box", role: "img", "aria-label": `trend of ${props.join(", ")}` });
    const note = h("div", { class: "chart-note" });
    const span = h("select", { class: "chart-span", "aria-label": `time range of the trend of ${props.join(", ")}` },
        ...SPANS.map(([t, sec]) => h("option", { value: String(sec), text: t })));
    const el = h("div", { class: "widget w-chart", "data-widget": w.id, "data-property": props[0] || "" },
        h("div", { class: "chart-head" }, h("div", { class: "label", text: w.label }), span), box, note);
    let series = props.map(() => []);   // [[t, v], ...] per property
    let plot = null;
    let windowS = WINDOW_S;

    function data() {
        const ts = new Set();
        for (const s of series) for (const [t] of s) ts.add(t);
        const xs = [...ts].sort((a, b) => a - b);
        const cols = [xs];
        for (const s of series) {
            const m = new Map(s);
            cols.push(xs.map((x) => (m.has(x) ? m.get(x) : null)));
        }
        return cols;
    }
    function size() { return { width: Math.max(box.clientWidth || 300, 200), height: 160 }; }
    function draw() {
        if (!plot) {
            if (!box.isConnected) return;
            /* the y scale always includes the limits and the normal range */
            const marks = [...(w.limits || []).map((l) => l.value), w.normal?.min, w.normal?.max].filter((x) => typeof x === "number");
            plot = new uPlot({
                ...size(),
                series: [{}, ...props.map((p, i) => ({ label: p, stroke: css(i ? "--muted" : "--fill"), width: 2, spanGaps: true }))],
                axes: [{ stroke: css("--muted"), grid: { stroke: css("--line") } }, { stroke: css("--muted"), grid: { stroke: css("--line") } }],
                scales: {
                    x: { time: true },
                    y: { range: (u, lo, hi) => {
                        const a = Math.min(lo ?? 0, ...marks), b = Math.max(hi ?? 1, ...marks);
                        const pad = (b - a || 1) * 0.08;
                        return [a - pad, b + pad];
                    } },
                },
                legend: { show: props.length > 1 },
                plugins: [limitsPlugin(w)],
            }, data(), box);
            new ResizeObserver(() => plot && plot.setSize(size())).observe(box);
        } else {
            plot.setData(data());
        }
    }
    /* history from REST, then live */
    let gen = 0;
    async function load() {
        const my = ++gen;
        const now = Date.now();
        const step = SPANS.find((x) => x[1] === windowS)?.[2] || 0;
        const got = props.map(() => []);
        note.textContent = "";
        /* a plant view keeps no history (each cell does): live only */
        if (ctx.noHistory) note.textContent = "live only: history is in the cell's gateway";
        else await Promise.all(props.map(async (p, i) => {
            try {
                const q = new URLSearchParams({ property: p, from: String(now - windowS * 1000), to: String(now), limit: "1000" });
                if (step) q.set("step", String(step));
                /* the widget's readhistory form, else the REST contract path */
                let base = w.history || `/api/v1/twins/${encodeId(ctx.twinId)}/history`;
                const u = new URL(base, location.href);
                for (const [k, v] of q) if (!(k === "property" && u.searchParams.has("property"))) u.searchParams.set(k, v);
                const doc = await api("GET", u.pathname + u.search);
                got[i] = historyPoints(doc);
                if (doc?.level) el.dataset.level = doc.level;
            } catch (e) { note.textContent = `history unavailable: ${e.message}`; }
        }));
        if (my !== gen) return;
        /* live values that came meanwhile stay after the history */
        series = got.map((g, i) => g.concat(series[i].filter(([t]) => !g.length || t > g[g.length - 1][0])));
        el.dataset.points = String(series.reduce((n, s) => n + s.length, 0));
        el.dataset.span = String(windowS);
        requestAnimationFrame(draw);
    }
    load();
    span.addEventListener("change", () => {
        windowS = Number(span.value);
        series = props.map(() => []);
        load();
    });
    let pending = false;
    return {
        el,
        props,
        update(e, path) {
            const i = props.indexOf(path ?? props[0]);
            if (i < 0 || !e || (typeof e.value !== "number" && typeof e.value !== "boolean")) return;
            const v = typeof e.value === "boolean" ? (e.value ? 1 : 0) : e.value;
            const t = (e.ts > 1e11 ? e.ts / 1000 : e.ts) || Date.now() / 1000;
            const s = series[i];
            if (s.length && s[s.length - 1][0] >= t) return;
            s.push([t, v]);
            const cut = t - windowS;
            while (s.length > MAX_POINTS || (s.length && s[0][0] < cut)) s.shift();
            if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); }
        },
        mounted() { draw(); },
    };
}
