// The machine's alarms in space: a canvas-textured panel above the twin,
// one row per alarm that is not normal (priority chip, rule, state), and an
// ACK region on each unacknowledged row. Selecting it (mouse, touch or an
// XR controller: every pick is a raycast onto the plane's UV coordinates,
// as for the widget panels) acknowledges the alarm through the gateway.
import * as THREE from "three";
import { AlarmBook } from "../common/alarms.js";
import { alarmList, alarmSession } from "../common/alarmviews.js";

/* The HMI palette's priority colours (dashboard/app.css --alarm-*). */
const PRIORITY = {
    critical: { bg: "#d7261e", fg: "#ffffff" },
    high: { bg: "#f28c00", fg: "#1a1000" },
    medium: { bg: "#f2d200", fg: "#1a1600" },
    low: { bg: "#8a63d2", fg: "#ffffff" },
};

const STATE_SHORT = {
    active_unacknowledged: "UNACK",
    active_acknowledged: "ACKED",
    returned_unacknowledged: "RETURNED",
    shelved: "SHELVED",
    suppressed: "SUPPRESSED",
    out_of_service: "OUT OF SERVICE",
};

const W = 512, ROW = 60, HEAD = 52, MAX_ROWS = 8;

export class AlarmPanel3D {
    constructor(book, twinId) {
        this.book = book;
        this.twinId = twinId;
        this.canvas = document.createElement("canvas");
        this.canvas.width = W;
        this.canvas.height = HEAD + ROW * MAX_ROWS;
        this.texture = new THREE.CanvasTexture(this.canvas);
        this.texture.colorSpace = THREE.SRGBColorSpace;
        const wM = 0.34;
        this.size = [wM, (wM * this.canvas.height) / W];
        this.mesh = new THREE.Mesh(new THREE.PlaneGeometry(...this.size),
            new THREE.MeshBasicMaterial({ map: this.texture, transparent: true, side: THREE.DoubleSide }));
        this.mesh.userData.panel = this;
        this.regions = [];
        this.status = "";
        book.on(() => this.draw());
        this.draw();
    }

    draw() {
        const g = this.canvas.getContext("2d");
        const list = this.book.list(this.twinId).slice(0, MAX_ROWS);
        this.mesh.visible = list.length > 0;
        this.regions = [];
        g.clearRect(0, 0, W, this.canvas.height);
        if (!list.length) { this.texture.needsUpdate = true; return; }
        const hgt = HEAD + ROW * list.length;
        g.fillStyle = "rgba(16,26,34,0.9)";
        round(g, 0, 0, W, hgt, 16); g.fill();
        g.strokeStyle = PRIORITY[list[0].priority]?.bg ?? "#93a4b3"; g.lineWidth = 4; g.stroke();
        g.textBaseline = "middle";
        g.fillStyle = "#e4ecf2"; g.font = "bold 26px sans-serif";
        g.fillText(this.status || `Alarms (${this.book.unacked(this.twinId)} unacknowledged)`, 16, HEAD / 2 + 2);
        list.forEach((a, i) => {
            const y = HEAD + i * ROW;
            const c = PRIORITY[a.priority] ?? PRIORITY.low;
            g.fillStyle = c.bg; round(g, 12, y + 12, 86, ROW - 24, 6); g.fill();
            g.fillStyle = c.fg; g.font = "bold 18px sans-serif";
            /* each text kept to its column (fillText's maxWidth narrows
             * it): "CRITICAL" ran into the rule's name */
            g.fillText(a.priority.toUpperCase(), 18, y + ROW / 2 + 1, 74);
            g.fillStyle = "#e4ecf2"; g.font = `${a.unacknowledged ? "bold " : ""}22px sans-serif`;
            g.fillText(a.rule + (a.first_out ? " ①" : ""), 108, y + ROW / 2, 184);
            g.fillStyle = "#93a4b3"; g.font = "18px sans-serif";
            g.fillText(STATE_SHORT[a.state] ?? a.state, 300, y + ROW / 2, a.unacknowledged ? W - 96 - 8 - 300 : W - 12 - 300);
            if (a.unacknowledged) {
                const x = W - 96, bw = 84, bh = ROW - 20;
                g.fillStyle = "#2c3d4d"; round(g, x, y + 10, bw, bh, 10); g.fill();
                g.fillStyle = "#fff"; g.font = "bold 22px sans-serif";
                g.fillText("ACK", x + 20, y + ROW / 2 + 1);
                this.regions.push({ x, y: y + 10, w: bw, h: bh, alarm: a });
            }
        });
        this.texture.needsUpdate = true;
    }

    /** Texture coordinates of an alarm's ACK region (for tests), or null. */
    uvOf(id) {
        const r = this.regions.find((q) => q.alarm.id === id);
        return r ? { u: (r.x + r.w / 2) / W, v: 1 - (r.y + r.h / 2) / this.canvas.height } : null;
    }

    /** A pick at texture coordinates uv: acknowledges the alarm under it. */
    async pick(uv) {
        const px = uv.x * W, py = (1 - uv.y) * this.canvas.height;
        const r = this.regions.find((q) => px >= q.x && px <= q.x + q.w && py >= q.y && py <= q.y + q.h);
        if (!r) return false;
        try {
            await this.book.command(r.alarm.id, "ack");
        } catch (e) {
            this.status = e.status === 403 ? "Your role may not acknowledge" : `✗ ${e.code || "error"}`;
            this.draw();
            setTimeout(() => { this.status = ""; this.draw(); }, 3000);
        }
        return true;
    }
}

/**
 * The hologram's alarms for twin twinId: a live book of its own, the 3D
 * panel above everything under root (facing the viewer at each render),
 * and picks by mouse, touch or XR controller on the canvas. Returns the
 * list for the side panel ({listEl}). Test hooks on hook: alarms,
 * alarmState(id), alarmPickPoint(id) (page coordinates of an alarm's ACK,
 * or null).
 */
export function mountAlarms({ hook, twinId, root, camera, renderer, canvas }) {
    const book = new AlarmBook();
    alarmSession(book).start();
    const panel = new AlarmPanel3D(book, twinId);
    const box = new THREE.Box3().setFromObject(root);
    const c = box.isEmpty() ? new THREE.Vector3() : box.getCenter(new THREE.Vector3());
    panel.mesh.position.set(c.x, (box.isEmpty() ? 0.3 : box.max.y) + panel.size[1] / 2 + 0.02, c.z);
    root.add(panel.mesh);
    const q = new THREE.Quaternion();
    panel.mesh.onBeforeRender = (r, s, cam) => {
        const parentQ = panel.mesh.parent.getWorldQuaternion(new THREE.Quaternion());
        panel.mesh.quaternion.copy(parentQ.invert().multiply(cam.getWorldQuaternion(q)));
    };
    const view = alarmList(book, twinId);

    const ray = new THREE.Raycaster();
    const pickRay = () => {
        const hit = panel.mesh.visible ? ray.intersectObject(panel.mesh, false)[0] : null;
        if (hit) panel.pick(hit.uv);
    };
    canvas.addEventListener("pointerup", (ev) => {
        if (ev.button !== 0) return;
        const r = canvas.getBoundingClientRect();
        ray.setFromCamera(new THREE.Vector2(((ev.clientX - r.left) / r.width) * 2 - 1,
            -((ev.clientY - r.top) / r.height) * 2 + 1), camera);
        pickRay();
    });
    for (let i = 0; i < 2; i++) {
        const ctl = renderer.xr.getController(i);
        ctl.addEventListener("select", () => {
            ray.ray.origin.setFromMatrixPosition(ctl.matrixWorld);
            ray.ray.direction.set(0, 0, -1).applyMatrix4(new THREE.Matrix4().extractRotation(ctl.matrixWorld));
            pickRay();
        });
    }
    hook.alarms = book;
    hook.alarmState = (id) => book.items.get(id)?.state ?? "normal";
    hook.alarmPickPoint = (id) => {
        const uv = panel.uvOf(id);
        if (!uv || !panel.mesh.visible) return null;
        const [wM, hM] = panel.size;
        const pt = panel.mesh.localToWorld(new THREE.Vector3((uv.u - 0.5) * wM, (uv.v - 0.5) * hM, 0)).project(camera);
        const rect = canvas.getBoundingClientRect();
        return { x: rect.left + (pt.x + 1) / 2 * rect.width, y: rect.top + (1 - pt.y) / 2 * rect.height };
    };
    hook.alarmPanelRect = () => {
        if (!panel.mesh.visible) return null;
        panel.mesh.updateMatrixWorld();
        const rect = canvas.getBoundingClientRect();
        const cs = [[-1, -1], [1, -1], [1, 1], [-1, 1]].map(([sx, sy]) =>
            panel.mesh.localToWorld(new THREE.Vector3(sx * panel.size[0] / 2, sy * panel.size[1] / 2, 0)).project(camera));
        const xs = cs.map((c) => rect.left + (c.x + 1) / 2 * rect.width), ys = cs.map((c) => rect.top + (1 - c.y) / 2 * rect.height);
        return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
    };
    return { panel, listEl: view.el };
}

function round(g, x, y, w, h, r) {
    g.beginPath();
    g.moveTo(x + r, y); g.arcTo(x + w, y, x + w, y + h, r); g.arcTo(x + w, y + h, x, y + h, r);
    g.arcTo(x, y + h, x, y, r); g.arcTo(x, y, x + w, y, r); g.closePath();
}
