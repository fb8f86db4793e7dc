// Spatial panels: a canvas-textured plane anchored to a node, showing the
// panel's widgets with touch/controller hit regions (toggle, step -/+,
// button). Works the same with a mouse, a touch screen or an XR controller
// because every pick goes through a raycast and the plane's UV coordinates.
import * as THREE from "three";
import { formatValue, enumOptions } from "../common/twin.js";
import { entryOf } from "../common/widgets.js";

const RULE_COLORS = { active: "#ff6a5c", pending: "#e0a030", inactive: "#47b26b", unknown: "#93a4b3" };

const W = 512, ROW = 64, HEAD = 56;

export class Panel3D {
    constructor(panel, widgets, ctx) {
        this.panel = panel;
        this.widgets = widgets.filter((w) => w.kind !== "chart");
        this.ctx = ctx;
        this.canvas = document.createElement("canvas");
        this.canvas.width = W;
        this.canvas.height = HEAD + ROW * Math.max(1, this.widgets.length);
        this.texture = new THREE.CanvasTexture(this.canvas);
        this.texture.colorSpace = THREE.SRGBColorSpace;
        const wM = panel.width ?? 0.32;
        const hM = (wM * this.canvas.height) / W;
        this.size = [wM, hM];
        this.mesh = new THREE.Mesh(new THREE.PlaneGeometry(wM, hM),
            new THREE.MeshBasicMaterial({ map: this.texture, transparent: true, side: THREE.DoubleSide }));
        this.mesh.userData.panel = this;
        this.regions = [];
        this.status = new Map();
        this.draw();
    }

    draw() {
        const g = this.canvas.getContext("2d");
        g.clearRect(0, 0, W, this.canvas.height);
        g.fillStyle = "rgba(16,26,34,0.86)";
        roundRect(g, 0, 0, W, this.canvas.height, 18); g.fill();
        g.strokeStyle = "#2aa1c0"; g.lineWidth = 3; g.stroke();
        g.fillStyle = "#e4ecf2"; g.font = "bold 28px sans-serif"; g.textBaseline = "middle";
        g.fillText(this.panel.title ?? this.panel.label ?? this.panel.id ?? "", 18, HEAD / 2 + 2);
        this.regions = [];
        this.widgets.forEach((w, i) => {
            const y = HEAD + i * ROW;
            const e = entryOf(this.ctx.twin, w);
            const q = e?.quality;
            if (w.kind === "alert") {
                /* a rule: its title and state, coloured by state */
                const st = typeof e?.value === "string" ? e.value : "unknown";
                g.fillStyle = "#93a4b3"; g.font = "22px sans-serif";
                g.fillText(w.label, 18, y + ROW / 2);
                g.fillStyle = st === "active" && w.severity === "info" ? "#2aa1c0" : RULE_COLORS[st] || "#93a4b3";
                g.font = "bold 24px sans-serif";
                g.fillText(enumOptions(w.schema)?.find((o) => o.value === st)?.title ?? st, 250, y + ROW / 2);
                return;
            }
            g.fillStyle = q === "offline" ? "#6b7785" : q === "stale" ? "#e0a030" : "#93a4b3";
            g.font = "22px sans-serif";
            g.fillText(w.label, 18, y + ROW / 2);
            g.fillStyle = "#e4ecf2"; g.font = "bold 24px sans-serif";
            const unit = w.schema.unit && typeof e?.value === "number" ? " " + w.schema.unit : "";
            const st = this.status.get(w.id);
            const txt = (st ? st + " " : "") + formatValue(e?.value, w.schema) + unit + (q && q !== "ok" ? ` (${q})` : "");
            g.fillText(txt, 250, y + ROW / 2);
            if (!w.writable) return;
            if (w.kind === "slider") {
                this.button(g, W - 122, y + 10, 50, ROW - 20, "−", { w, op: "dec" });
                this.button(g, W - 64, y + 10, 50, ROW - 20, "+", { w, op: "inc" });
            } else if (w.kind === "toggle") {
                this.button(g, W - 122, y + 10, 108, ROW - 20, e?.value ? "ON" : "OFF", { w, op: "toggle" }, e?.value);
            } else if (w.kind === "button") {
                this.button(g, W - 122, y + 10, 108, ROW - 20, "PRESS", { w, op: "press" });
            }
        });
        this.texture.needsUpdate = true;
    }

    button(g, x, y, w, h, label, action, on) {
        g.fillStyle = on ? "#47b26b" : "#2c3d4d";
        roundRect(g, x, y, w, h, 10); g.fill();
        g.fillStyle = "#fff"; g.font = "bold 24px sans-serif";
        const m = g.measureText(label);
        g.fillText(label, x + (w - m.width) / 2, y + h / 2 + 1);
        this.regions.push({ x, y, w, h, action });
    }

    /** A pick at texture coordinates uv: runs the control under it. */
    async pick(uv) {
        const px = uv.x * W, py = (1 - uv.y) * this.canvas.height;
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

function roundRect(g, x, y, w, h, r) {
    g.beginPath();
    g.moveTo(x + r, y); g.arcTo(x + w, y, x + w, y + h, r); g.arcTo(x + w, y + h, x, y + h, r);
    g.arcTo(x, y + h, x, y, r); g.arcTo(x, y, x + w, y, r); g.closePath();
}
