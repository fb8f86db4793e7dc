// Spatial panels: a canvas-textured plane anchored to a node, showing the
// panel's widgets with touch/controller hit regions (toggle, step -/+,
// button). Works the same with a mouse, a touch screen or an XR controller
// because every pick goes through a raycast and the plane's UV coordinates.
import * as THREE from "three";
import { formatValue, enumOptions } from "../common/twin.js";
import { entryOf } from "../common/widgets.js";

import { PRIORITY_COLORS, priorityOf } from "../common/priority.js";

/* Canvas pixels per metre of panel: about 30 px to a 0.6 deg em at 1 m,
 * finer than a HoloLens 2 shows it (~47 px per degree). */
const PX_PER_M = 3000;

/**
 * The canvas metrics of a panel. holotwin.ui/1 gives them in metres (the
 * descriptor's scene.typography and the panel's width, height and
 * labelWidth: text sizes are visual angles at the viewing distance, so
 * they are drawn at exactly that size); older descriptors get the former
 * fixed metrics.
 */
function metrics(panel, typo, rows) {
    if (typo && panel.height && panel.labelWidth) {
        const k = PX_PER_M;
        return {
            W: Math.round(panel.width * k), H: Math.round(panel.height * k), wM: panel.width, hM: panel.height,
            pad: typo.padding * k, head: typo.headerHeight * k, row: typo.rowHeight * k,
            body: typo.bodySize * k, title: typo.titleSize * k, label: panel.labelWidth * k,
        };
    }
    const wM = panel.width ?? 0.32, H = 56 + 64 * Math.max(1, rows);
    return { W: 512, H, wM, hM: (wM * H) / 512, pad: 18, head: 56, row: 64, body: 22, title: 28, label: 232 };
}

export class Panel3D {
    constructor(panel, widgets, ctx, typo) {
        this.panel = panel;
        this.widgets = widgets.filter((w) => w.kind !== "chart");
        this.ctx = ctx;
        this.m = metrics(panel, typo, this.widgets.length);
        this.canvas = document.createElement("canvas");
        this.canvas.width = this.m.W;
        this.canvas.height = this.m.H;
        this.texture = new THREE.CanvasTexture(this.canvas);
        this.texture.colorSpace = THREE.SRGBColorSpace;
        this.texture.anisotropy = 4;
        const wM = this.m.wM, hM = this.m.hM;
        this.size = [wM, hM];
        this.mesh = new THREE.Mesh(new THREE.PlaneGeometry(wM, hM),
            new THREE.MeshBasicMaterial({ map: this.texture, transparent: true, side: THREE.DoubleSide }));
        this.mesh.userData.panel = this;
        this.regions = [];
        this.status = new Map();
        this.draw();
    }

    /* Dark panels: on a see-through (additive) display black is clear,
     * so light text on dark reads against any background. Normal states
     * are light grey; colour only for alarms (by priority) and for values
     * outside their normal range. No text is drawn smaller than the body
     * size (labels that do not fit are shortened, never shrunk). */
    draw() {
        const g = this.canvas.getContext("2d");
        const { W, H, pad, head, row, body, title, label } = this.m;
        g.clearRect(0, 0, W, H);
        g.fillStyle = "rgba(18,22,27,0.9)";
        roundRect(g, 0, 0, W, H, pad); g.fill();
        g.strokeStyle = "#8a949e"; g.lineWidth = Math.max(2, body / 10); g.stroke();
        g.fillStyle = "#f2f4f6"; g.font = `bold ${title}px sans-serif`; g.textBaseline = "middle";
        g.fillText(fit(g, this.panel.title ?? this.panel.label ?? this.panel.id ?? "", W - 2 * pad), pad, pad + head / 2);
        this.regions = [];
        const valX = pad + label + body * 0.5;
        const bh = row - body * 0.6, bw = body * 2.6, tw = body * 5.6;
        this.widgets.forEach((w, i) => {
            const y = pad + head + i * row, mid = y + row / 2;
            const e = entryOf(this.ctx.twin, w);
            const q = e?.quality;
            g.font = `${body}px sans-serif`;
            g.fillStyle = q === "offline" ? "#7d8791" : "#b9c2ca";
            g.fillText(fit(g, w.label, label), pad, mid);
            if (w.kind === "alert") {
                /* a rule: grey while OK; its priority's colour when active */
                const st = typeof e?.value === "string" ? e.value : "unknown";
                const pr = priorityOf({ severity: w.severity, priority: w.raw?.priority });
                const text = enumOptions(w.schema)?.find((o) => o.value === st)?.title ?? st;
                g.font = `bold ${body}px sans-serif`;
                if (st === "active" || st === "pending") {
                    const tw2 = g.measureText(text).width + body;
                    g.fillStyle = PRIORITY_COLORS[pr].bg;
                    roundRect(g, valX - body * 0.3, y + (row - body * 1.5) / 2, tw2, body * 1.5, body * 0.3); g.fill();
                    g.fillStyle = PRIORITY_COLORS[pr].fg;
                } else g.fillStyle = "#b9c2ca";
                g.fillText(text, valX + (st === "active" || st === "pending" ? body * 0.2 : 0), mid);
                return;
            }
            const v = e?.value;
            const nr = w.normal;
            const abnormal = typeof v === "number" && nr && ((nr.min !== undefined && v < nr.min) || (nr.max !== undefined && v > nr.max));
            g.fillStyle = abnormal ? PRIORITY_COLORS[worstLimit(w, v)].text : "#f2f4f6";
            g.font = `bold ${body}px sans-serif`;
            const unit = w.schema.unit && typeof v === "number" ? " " + w.schema.unit : "";
            const st = this.status.get(w.id);
            const ctrl = !w.writable ? 0 : w.kind === "slider" ? 2 * bw + body * 0.4 : tw;
            const txt = (st ? st + " " : "") + formatValue(v, w.schema) + unit + (q && q !== "good" && q !== "ok" ? ` (${q})` : "");
            g.fillText(fit(g, txt, W - pad - ctrl - body * 0.4 - valX), valX, mid);
            if (!w.writable) return;
            const by = y + (row - bh) / 2;
            if (w.kind === "slider") {
                this.button(g, W - pad - 2 * bw - body * 0.4, by, bw, bh, "−", { w, op: "dec" });
                this.button(g, W - pad - bw, by, bw, bh, "+", { w, op: "inc" });
            } else if (w.kind === "toggle") {
                this.button(g, W - pad - tw, by, tw, bh, v ? "ON" : "OFF", { w, op: "toggle" }, v);
            } else if (w.kind === "button") {
                this.button(g, W - pad - tw, by, tw, bh, "PRESS", { w, op: "press" });
            }
        });
        this.texture.needsUpdate = true;
    }

    /* A touch button; "on" is shown by a light fill, not by a colour. */
    button(g, x, y, w, h, label, action, on) {
        const body = this.m.body;
        g.fillStyle = on ? "#d5dade" : "#39414a";
        roundRect(g, x, y, w, h, body * 0.35); g.fill();
        g.strokeStyle = "#9aa4ad"; g.lineWidth = Math.max(2, body / 12); g.stroke();
        g.fillStyle = on ? "#15191d" : "#f2f4f6"; g.font = `bold ${body}px sans-serif`;
        const m = g.measureText(label);
        g.fillText(label, x + (w - m.width) / 2, y + h / 2 + 1);
        this.regions.push({ x, y, w, h, action });
    }

    /** A pick at texture coordinates uv: runs the control under it. */
    async pick(uv) {
        const px = uv.x * this.m.W, py = (1 - uv.y) * this.m.H;
        const r = this.regions.find((q) => px >= q.x && px <= q.x + q.w && py >= q.y && py <= q.y + q.h);
        if (!r) return false;
        const { w, op } = r.action;
        /* confirm-before policy (unsafe actions): a second pick within 4 s */
        const next = op === "toggle" ? !this.ctx.twin.get(w.property)?.value : w.value;
        if (w.policy.confirm && op !== "dec" && op !== "inc" &&
            (w.policy.confirmWhen === undefined || w.policy.confirmWhen === next)) {
            if (this.armed !== w.id) {
                this.armed = w.id;
                this.status.set(w.id, "again to confirm");
                this.draw();
                clearTimeout(this.armTimer);
                this.armTimer = setTimeout(() => { this.armed = null; this.status.delete(w.id); this.draw(); }, 4000);
                return true;
            }
            this.armed = null;
            clearTimeout(this.armTimer);
        }
        const cur = this.ctx.twin.get(w.property)?.value;
        let v;
        if (op === "toggle") v = !cur;
        else if (op === "press") v = w.value !== undefined ? w.value : true;
        else {
            const step = w.schema.step || Math.max(1, ((w.schema.max ?? 100) - (w.schema.min ?? 0)) / 20);
            const big = Math.max(step, ((w.schema.max ?? 100) - (w.schema.min ?? 0)) / 20);
            v = (typeof cur === "number" ? cur : (w.schema.min ?? 0)) + (op === "inc" ? big : -big);
            v = Math.min(w.schema.max ?? Infinity, Math.max(w.schema.min ?? -Infinity, v));
            if (w.schema.type === "integer" || Number.isInteger(step)) v = Math.round(v);
        }
        this.status.set(w.id, "…");
        this.draw();
        try { await this.ctx.send(w, v); this.status.set(w.id, "✓"); } catch (e) { this.status.set(w.id, "✗ " + (e.code || "error")); }
        this.draw();
        setTimeout(() => { this.status.delete(w.id); this.draw(); }, 3000);
        return true;
    }
}

/* The priority of the limit a value has crossed (the worst one). */
function worstLimit(w, v) {
    let best = "low";
    const order = ["critical", "high", "medium", "low"];
    for (const l of w.limits || []) {
        const crossed = l.type === "high" ? v > l.value : v < l.value;
        const p = priorityOf(l);
        if (crossed && order.indexOf(p) < order.indexOf(best)) best = p;
    }
    return best;
}

/* Text shortened with an ellipsis to fit maxW pixels (never a smaller font). */
function fit(g, text, maxW) {
    text = String(text ?? "");
    if (g.measureText(text).width <= maxW) return text;
    while (text.length > 1 && g.measureText(text + "…").width > maxW) text = text.slice(0, -1);
    return text + "…";
}

function roundRect(g, x, y, w, h, r) {
    g.beginPath();
    g.moveTo(x + r, y); g.arcTo(x + w, y, x + w, y + h, r); g.arcTo(x + w, y + h, x, y + h, r);
    g.arcTo(x, y + h, x, y, r); g.arcTo(x, y, x + w, y, r); g.closePath();
}
