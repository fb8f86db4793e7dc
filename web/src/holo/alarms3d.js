// The machine's alarms in space: a canvas-textured panel above the twin,
// one row per alarm that is not normal (priority chip, rule, state), and an
// ACK region on each unacknowledged row. Selecting it (mouse, touch or an
// XR controller: every pick is a raycast onto the plane's UV coordinates,
// as for the widget panels) acknowledges the alarm through the gateway.
import * as THREE from "three";

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
            g.fillText(a.priority.toUpperCase(), 18, y + ROW / 2 + 1);
            g.fillStyle = "#e4ecf2"; g.font = `${a.unacknowledged ? "bold " : ""}22px sans-serif`;
            g.fillText(a.rule + (a.first_out ? " ①" : ""), 108, y + ROW / 2);
            g.fillStyle = "#93a4b3"; g.font = "18px sans-serif";
            g.fillText(STATE_SHORT[a.state] ?? a.state, 300, y + ROW / 2);
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

function round(g, x, y, w, h, r) {
    g.beginPath();
    g.moveTo(x + r, y); g.arcTo(x + w, y, x + w, y + h, r); g.arcTo(x + w, y + h, x, y + h, r);
    g.arcTo(x, y + h, x, y, r); g.arcTo(x, y, x + w, y, r); g.closePath();
}
