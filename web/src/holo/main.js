// Holotwin hologram client: a three.js scene built from the twin's `hmd`
// descriptor, live through SSE. WebXR immersive-ar when the browser offers
// it ("Enter AR"), orbit controls everywhere else.
import "./holo.css";
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { adoptFragmentToken, getToken, setToken, api, ApiError, encodeId, openEvents, viewCaps, writeHref } from "../common/api.js";
import { TwinModel } from "../common/twin.js";
import { replayBar, freezeControls } from "../common/replay.js";
import { mountAlarms } from "./alarms3d.js";
import { normWidget, isWidget, twinTitle, widgetsById, sseEventNames } from "../common/descriptor.js";
import { RENDERERS, h, entryOf } from "../common/widgets.js";
import { buildScene, hmdPanels } from "./scene.js";
import { Panel3D } from "./panel3d.js";
import { Placer, markerImage } from "./anchor.js";
import { priorityOf } from "../common/priority.js";
import { mountControl } from "../common/control.js";

const $ = (id) => document.getElementById(id);
const overlay = $("overlay");
const statusEl = $("status");
const panelsEl = $("panels");
const titleEl = $("title");
const arBtn = $("enter-ar");

/* test hook: read node rotation, rates and values from e2e tests */
const hook = {
    ready: false, frames: 0, nodes: [], twin: null,
    rotationOf(id) { const n = scene?.nodes.get(id); return n ? n.angle : null; },
    rateOf(id) { const n = scene?.nodes.get(id); return n ? n.rate : null; },
    valueOf(path) { return twin?.get(path)?.value; },
    colorOf(id) { const n = scene?.nodes.get(id); return n?.material ? "#" + n.material.color.getHexString() : null; },
    glowOf(id) { const n = scene?.nodes.get(id); return n ? !!n.glowing : null; },
    bindings() {
        return scene ? [...scene.nodes.values()].flatMap((n) => n.bindings.map((b) =>
            ({ node: n.id, kind: n.kind, type: b.type, property: b.property }))) : [];
    },
    /* page coordinates of a spatial panel's control (for clicking it as a
     * user would: the click goes through the same raycast) or null */
    pickPoint(panelId, widgetId) { return pickPointOf ? pickPointOf(panelId, widgetId) : null; },
    /* the panels' corners projected with the current camera, in page
     * pixels: [{id, x0, y0, x1, y1}] */
    panelRects() { return measure ? measure.rects() : []; },
    /* the 3D alarm panel's projected box in page pixels (while it shows
     * alarms), and the bottom of the header bar over the canvas */
    alarmPanelRect: null,
    barBottom() { return document.querySelector("#overlay .bar")?.getBoundingClientRect().bottom ?? 0; },
    /* one frame rendered with each panel in its own flat colour and the
     * models in black: what of each panel is visible, in canvas pixels */
    panelPixels() { return measure ? measure.pixels() : []; },
    /* what an AR session was asked for (features, tracked images) */
    xrRequest: null,
    angleOf(id) { const n = scene?.nodes.get(id); const b = n?.bindings.find((x) => x.type === "angle"); return b ? b._deg ?? null : null; },
    ringOf(id) { const n = scene?.nodes.get(id); const b = n?.bindings.find((x) => x.type === "emissive" && x.part === "ring"); return b ? !!b._on : null; },
    /* angle advanced by a node over about `ms`, in rad/s: divided by the
     * time between the frames that advanced it (not by the wall time of the
     * wait, which is off by up to a frame at each end on a slow machine) */
    frameTime: 0,
    async measureRate(id, ms = 2000) {
        const a0 = this.rotationOf(id), t0 = this.frameTime;
        await new Promise((r) => setTimeout(r, ms));
        return (this.rotationOf(id) - a0) / ((this.frameTime - t0) / 1000);
    },
};
window.__holotwin = hook;

let scene = null;
let twin = null;
let pickPointOf = null;
let measure = null;

function setStatus(s) { statusEl.textContent = s; statusEl.dataset.state = s; }

function signin(msg) {
    const input = h("input", { id: "token", type: "password", placeholder: "access token", "aria-label": "token", required: true });
    const form = h("form", { class: "signin" }, h("label", { for: "token", text: "Token" }), input,
        h("button", { type: "submit", text: "Sign in" }), h("p", { class: "error", role: "alert", text: msg || "" }));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); if (input.value.trim()) { setToken(input.value.trim()); location.reload(); } });
    panelsEl.replaceChildren(form);
    input.focus();
}

async function pickTwin() {
    const q = new URLSearchParams(location.search).get("twin") ||
        new URLSearchParams(location.hash.replace(/^#\/?/, "")).get("twin");
    if (q) return q;
    const list = await api("GET", "/api/v1/twins");
    const arr = Array.isArray(list) ? list : list.twins ?? list.items ?? [];
    /* a composed machine (more than one component) before automatic device twins */
    const machine = arr.find((t) => (t.components?.length ?? t.component_count ?? 0) > 1) || arr.find((t) => t.id === "press-line") || arr[0];
    if (!machine) throw new Error("no twins on this gateway");
    return machine.id;
}

async function start() {
    adoptFragmentToken();
    if (!getToken()) return signin();
    let id;
    try { id = await pickTwin(); } catch (e) {
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return signin("This token was not accepted.");
        return setStatus("error: " + e.message);
    }
    twin = new TwinModel(id);
    hook.twin = twin;
    const doc = api("GET", `/api/v1/twins/${encodeId(id)}`).catch(() => null);
    const desc = await api("GET", `/api/v1/twins/${encodeId(id)}/ui?target=hmd`);
    twin.setTwinDoc(await doc);
    titleEl.textContent = twinTitle(desc, id);
    document.title = `Holotwin hologram — ${titleEl.textContent}`;

    /* renderer, camera, lights */
    const canvas = $("view");
    const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, alpha: true, preserveDrawingBuffer: true });
    renderer.setPixelRatio(Math.min(devicePixelRatio, 2));
    renderer.xr.enabled = true;
    const world = new THREE.Scene();
    const bg = new THREE.Color(0x0c141b);
    world.background = bg;
    const camera = new THREE.PerspectiveCamera(50, 1, 0.01, 50);
    camera.position.set(0.6, 0.55, 1.1);
    world.add(new THREE.HemisphereLight(0xdfefff, 0x202830, 1.4));
    const sun = new THREE.DirectionalLight(0xffffff, 2.2);
    sun.position.set(1, 2, 1.5);
    world.add(sun);
    const grid = new THREE.GridHelper(2, 20, 0x2aa1c0, 0x1d2a35);
    world.add(grid);

    /* the twin, placed by its anchor (in AR: 1 m in front of the viewer) */
    scene = buildScene(desc);
    world.add(scene.root);
    hook.nodes = [...scene.nodes.keys()];
    const box = new THREE.Box3().setFromObject(scene.root);
    const center = box.isEmpty() ? new THREE.Vector3() : box.getCenter(new THREE.Vector3());
    const controls = new OrbitControls(camera, canvas);
    controls.target.copy(center);
    controls.enableDamping = true;
    controls.listenToKeyEvents(window);
    const radius = box.isEmpty() ? 0.5 : box.getSize(new THREE.Vector3()).length();
    camera.position.copy(center).add(new THREE.Vector3(0.3, 0.45, 1).multiplyScalar(Math.max(radius, 0.3) * 1.05));
    controls.update();

    /* panels: 3D (canvas) anchored to nodes + the same controls as DOM */
    /* the past cannot be written to: replay refuses every command */
    /* a plant view: no replay, no control holder; writes only when it
     * routes commands (to the owning cell), through its own route */
    const plant = await viewCaps().catch(() => null);
    const readOnly = !!plant && !plant.commands;
    hook.plant = plant;
    const send = (w, value) => (replay?.active ? Promise.reject(new Error("replay: controls are disabled"))
        : readOnly ? Promise.reject(new Error("read-only plant view"))
            : api(w.write.method || "PUT", writeHref(w, id, plant), value));
    let replay = null;
    const ctx = { twin, twinId: id, send };
    const panels3d = [];
    const domWidgets = new Map();
    const domPointer = [];   // [renderer, widget] shown from a state pointer
    const sections = [];
    const allWidgets = widgetsById(desc, id);
    /* the machine panel (anchored to the twin, node "") first in the side panel */
    const machineFirst = (p) => (p.node === "" || p.node === undefined ? 0 : 1);
    const typo = desc.scene?.typography;
    const leaders = [];
    for (const p of [...hmdPanels(desc)].sort((a, b) => machineFirst(a) - machineFirst(b))) {
        /* widgets are ids into the descriptor's "widgets" (or inline) */
        const ws = (p.widgets ?? p.controls ?? p.children ?? [])
            .map((w) => (typeof w === "string" ? allWidgets.get(w) : isWidget(w) ? normWidget(w, id) : null)).filter(Boolean);
        if (!ws.length) continue;
        const pn = new Panel3D(p, ws, ctx, typo);
        const anchorId = p.node ?? p.anchor?.node ?? p.anchor ?? p.attach_to;
        const anchor = scene.nodes.get(typeof anchorId === "string" ? anchorId : "");
        const off = p.offset ?? p.position ?? [0, 0.18, 0];
        /* the node's position + offset in the anchor frame, unrotated: a
         * panel must not turn with its node (gears lie on their side) */
        const pos = new THREE.Vector3();
        if (anchor) scene.root.worldToLocal(anchor.object.getWorldPosition(pos));
        if (Array.isArray(p.position)) {
            /* holotwin.ui/1 layout: the generator placed the panel (its
             * centre, in the anchor frame) clear of the others and of the
             * models, seen from the descriptor's viewpoint */
            pn.mesh.position.set(...p.position);
        } else {
            pn.mesh.position.copy(pos).add(new THREE.Vector3(...(Array.isArray(off) ? off : [off.x ?? 0, off.y ?? 0, off.z ?? 0])));
            /* the offset names the panel's bottom edge: it stands above its node */
            pn.mesh.position.y += pn.size[1] / 2;
        }
        scene.root.add(pn.mesh);
        pn.billboard = p.billboard !== false;
        panels3d.push(pn);
        /* a leader line from the panel's nearest edge to its node */
        if (anchor) {
            const a = pn.mesh.position, n = pos;
            const ex = Math.max(-pn.size[0] / 2, Math.min(pn.size[0] / 2, n.x - a.x));
            const ey = Math.max(-pn.size[1] / 2, Math.min(pn.size[1] / 2, n.y - a.y));
            const from = new THREE.Vector3(a.x + ex, a.y + ey, a.z - 0.001);
            const line = new THREE.Line(new THREE.BufferGeometry().setFromPoints([from, n.clone()]),
                new THREE.LineBasicMaterial({ color: 0x8a949e, transparent: true, opacity: 0.8 }));
            scene.root.add(line);
            leaders.push(line);
        }
        const body = h("div", { class: "panel-body" });
        for (const w of ws) {
            if (!RENDERERS[w.kind] || w.kind === "alert") continue;
            const r = RENDERERS[w.kind](w, ctx);
            body.append(r.el);
            r.update(entryOf(twin, w));
            if (!w.property) { if (w.pointer) domPointer.push([r, w]); continue; }
            if (!domWidgets.has(w.property)) domWidgets.set(w.property, []);
            domWidgets.get(w.property).push(r);
        }
        sections.push(h("details", { class: "panel", open: sections.length < 2, "data-panel": p.id ?? "" },
            h("summary", { text: p.title ?? p.label ?? p.id ?? "controls" }), body));
    }
    const vp = desc.scene?.viewpoint;
    let fitView = null;
    /* more points to keep in view (the alarm panel, once it is placed) */
    let extraPts = () => [];
    /* the header bar lies over the canvas: nothing is framed under it */
    const barBottom = () => Math.max(0, document.querySelector("#overlay .bar")?.getBoundingClientRect().bottom ?? 0);
    if (vp && Array.isArray(vp.position) && Array.isArray(vp.target)) {
        /* the descriptor's default viewpoint; further back along the same
         * axis when the view is narrower than the layout was framed for
         * (the layout's guarantees hold from anywhere on that axis) */
        camera.fov = vp.fovDeg ?? camera.fov;
        const P = new THREE.Vector3(...vp.position), T = new THREE.Vector3(...vp.target);
        const minDist = desc.scene?.typography?.viewingDistance ?? P.distanceTo(T);
        const dir = P.clone().sub(T).normalize();
        /* what must be in view: every panel and every node's sphere */
        const pts = [];
        for (const p of hmdPanels(desc)) {
            if (!Array.isArray(p.position) || !p.width || !p.height) continue;
            for (const sx of [-1, 1]) for (const sy of [-1, 1]) pts.push([p.position[0] + sx * p.width / 2, p.position[1] + sy * p.height / 2, p.position[2]]);
        }
        for (const n of desc.scene?.nodes ?? []) {
            const c = n.transform?.position, sz = n.shape?.size;
            if (!Array.isArray(c) || !Array.isArray(sz)) continue;
            const r = Math.hypot(...sz) / 2;
            for (const sx of [-1, 1]) for (const sy of [-1, 1]) pts.push([c[0] + sx * r, c[1] + sy * r, c[2] + r]);
        }
        /* Frame them in the part of the canvas the side panel leaves free:
         * the eye stays on the descriptor's axis (looking along it, at least
         * the viewing distance away, where the layout's guarantees hold)
         * and the view window is shifted (an off-axis frustum keeps the
         * image plane, so the panels stay apart and unhidden). */
        fitView = (w, hgt, left, top = 0) => {
            const tv = Math.tan(THREE.MathUtils.degToRad(camera.fov / 2)), aspect = w / Math.max(hgt, 1);
            const freeW = Math.max(w - left, w * 0.3);
            const freeH = Math.max(hgt - top, hgt * 0.5);
            const all = [...pts, ...extraPts()];
            let d = P.distanceTo(T), box = null;
            for (let it = 0; it < 6; it++) {
                const eye = T.clone().addScaledVector(dir, d);
                box = [Infinity, Infinity, -Infinity, -Infinity];
                for (const [x, y, z] of all) {
                    const depth = eye.z - z;
                    if (depth <= 0) continue;
                    const tx = (x - eye.x) / depth, ty = (y - eye.y) / depth;
                    box = [Math.min(box[0], tx), Math.min(box[1], ty), Math.max(box[2], tx), Math.max(box[3], ty)];
                }
                if (!Number.isFinite(box[0])) break;
                const need = Math.max((box[2] - box[0]) / 2 / (tv * aspect * (freeW / w) * 0.92), (box[3] - box[1]) / 2 / (tv * (freeH / hgt) * 0.9));
                const nd = Math.max(minDist, d * need);
                if (Math.abs(nd - d) < 1e-4) break;
                d = nd;
            }
            camera.position.copy(T).addScaledVector(dir, d);
            controls.target.copy(T);
            controls.update();
            if (box && Number.isFinite(box[0])) {
                const nx = (box[0] + box[2]) / 2 / (tv * aspect), ny = (box[1] + box[3]) / 2 / tv;
                camera.setViewOffset(w, hgt, (nx + 1) / 2 * w - (left + freeW / 2), (1 - ny) / 2 * hgt - (top + freeH / 2), w, hgt);
            } else camera.clearViewOffset();
            camera.updateProjectionMatrix();
        };
    } else unclutter(panels3d);
    /* the machine's alarms above everything, before the view is framed */
    const alarmUi = mountAlarms({ hook, twinId: id, root: scene.root, camera, renderer, canvas });
    if (fitView) {
        /* the alarm panel is framed too: it faces the viewer, above the
         * machine (its corners as if it faced the descriptor's axis) */
        const ap = alarmUi.panel;
        extraPts = () => {
            const c = ap.mesh.position, [aw, ah] = ap.size;
            return [[-1, -1], [1, -1], [1, 1], [-1, 1]].map(([sx, sy]) => [c.x + sx * aw / 2, c.y + sy * ah / 2, c.z]);
        };
        fitView(canvas.clientWidth || 1, canvas.clientHeight || 1, 0, barBottom());
    }
    /* frame the machine with its panels, from the front and a little above */
    const all = new THREE.Box3().setFromObject(scene.root);
    if (!fitView && !all.isEmpty()) {
        all.getCenter(center);
        const size = all.getSize(new THREE.Vector3());
        const fit = Math.max(size.x, size.y / 0.75) / (2 * Math.tan(THREE.MathUtils.degToRad(camera.fov / 2)));
        controls.target.copy(center);
        camera.position.copy(center).add(new THREE.Vector3(0.15, 0.3, 1).normalize().multiplyScalar(fit * 0.95 + size.z));
        controls.update();
    }
    const rulesEl = h("div", { class: "rules", role: "status", "aria-live": "polite" });
    const control = plant ? { el: h("div"), apply() {}, refresh() {} } : mountControl(id);
    panelsEl.replaceChildren(rulesEl, control.el, alarmUi.listEl, ...sections);
    /* replay: the same scrubber as the dashboard's; the 3D machine and its
     * panels show the past, live events wait, picking writes nothing */
    replay = replayBar(id, twin, {
        /* the alarm list is the live one: hidden while the past shows */
        onEnter: () => { for (const sec of sections) freezeControls(sec, true); alarmUi.listEl.hidden = true; },
        onLeave: () => { for (const sec of sections) freezeControls(sec, false); alarmUi.listEl.hidden = false; refetch(); },
    });
    panelsEl.prepend(replay.el);
    replay.el.hidden = !!plant;
    if (readOnly) for (const sec of sections) freezeControls(sec, true);
    overlay.insertBefore(replay.banner, panelsEl);
    hook.replay = replay;
    hook.activeRules = () => twin.activeRules().map((r) => r.id);

    function renderRules() {
        const act = twin.activeRules();
        const st = twin.stable === true ? "stable" : twin.stable === false ? "unstable" : "unknown";
        rulesEl.dataset.stable = st;
        rulesEl.replaceChildren(h("strong", { class: `pill ${st}`, text: st }),
            ...act.map((r) => {
                const p = priorityOf(r);
                return h("div", { class: `rule p-${p}`, "data-rule": r.id, "data-priority": p },
                    h("span", { class: `prio p-${p}`, text: p }), `${r.id}${r.message ? ": " + r.message : ""}`);
            }));
        world.background = renderer.xr.isPresenting ? null : bg;
        scene.applyRules(new Map(act.map((r) => [r.id, priorityOf(r)])));
        for (const [r, w] of domPointer) r.update(entryOf(twin, w));
        for (const p of panels3d) if (p.widgets.some((w) => !w.property)) p.dirty = true;
    }
    let refetching = false, again = false;
    /* one state read at a time; a request during one runs once after it */
    function refetch() {
        if (refetching) { again = true; return; }
        refetching = true;
        api("GET", `/api/v1/twins/${encodeId(id)}/state`).then((x) => twin.applyState(x)).catch(() => {})
            .finally(() => { refetching = false; if (again) { again = false; refetch(); } });
    }
    twin.on((what, d) => {
        if (what === "value") {
            scene.apply(d.path, d.entry);
            for (const r of domWidgets.get(d.path) || []) r.update(d.entry);
            for (const p of panels3d) if (p.widgets.some((w) => w.property === d.path)) p.dirty = true;
        } else if (what === "descriptor") {
            location.reload();
        } else if (what === "refetch") {
            if (!replay?.active) refetch();
        } else renderRules();
    });
    twin.applyState(await api("GET", `/api/v1/twins/${encodeId(id)}/state`));
    renderRules();
    /* re-read the snapshot whenever the stream (re)starts: events between
     * the first snapshot and the subscription would be lost otherwise */
    openEvents({ twin: id }, (type, data) => {
        if (type === "control") control.apply(data);
        else if (!replay?.active) twin.applyEvent(type, data);
    }, (st) => {
        setStatus(st);
        if (st === "live") { twin.emit("refetch", []); control.refresh(); }
    }, sseEventNames(desc));

    pickPointOf = (panelId, widgetId) => {
        const p = panels3d.find((x) => x.panel.id === panelId);
        const r = p?.regions.find((q) => q.action.w.id === widgetId);
        if (!r) return null;
        const [wM, hM] = p.size;
        const u = (r.x + r.w / 2) / p.canvas.width, v = 1 - (r.y + r.h / 2) / p.canvas.height;
        const world = p.mesh.localToWorld(new THREE.Vector3((u - 0.5) * wM, (v - 0.5) * hM, 0));
        const ndc = world.project(camera);
        const rect = canvas.getBoundingClientRect();
        return { x: rect.left + (ndc.x + 1) / 2 * rect.width, y: rect.top + (1 - ndc.y) / 2 * rect.height };
    };

    measure = panelMeasure(renderer, world, camera, panels3d, scene, [grid, ...leaders], canvas);

    /* picking: mouse, touch and XR controllers all raycast */
    const ray = new THREE.Raycaster();
    const pickables = () => panels3d.map((p) => p.mesh);
    canvas.addEventListener("pointerup", (ev) => {
        if (ev.button !== 0 || replay?.active) return;
        const r = canvas.getBoundingClientRect();
        const ndc = new THREE.Vector2(((ev.clientX - r.left) / r.width) * 2 - 1, -((ev.clientY - r.top) / r.height) * 2 + 1);
        ray.setFromCamera(ndc, camera);
        const hit = ray.intersectObjects(pickables(), false)[0];
        if (hit) hit.object.userData.panel.pick(hit.uv);
    });
    let placer = null;
    for (let i = 0; i < 2; i++) {
        const c = renderer.xr.getController(i);
        c.addEventListener("select", () => {
            /* while placing, a select puts the machine on the surface */
            if (placer && placer.select()) return;
            if (replay?.active) return;
            const m = new THREE.Matrix4().extractRotation(c.matrixWorld);
            ray.ray.origin.setFromMatrixPosition(c.matrixWorld);
            ray.ray.direction.set(0, 0, -1).applyMatrix4(m);
            const hit = ray.intersectObjects(pickables(), false)[0];
            if (hit) hit.object.userData.panel.pick(hit.uv);
        });
        world.add(c);
    }

    /* WebXR immersive-ar when offered. Anchoring, best first: the
     * machine's marker (image tracking), a real surface the user taps
     * (hit test, kept by an anchor), else 1 m in front of the viewer. */
    const placeBtn = $("place");
    if (navigator.xr && navigator.xr.isSessionSupported) {
        navigator.xr.isSessionSupported("immersive-ar").then((ok) => {
            if (!ok) return;
            arBtn.hidden = false;
            const enter = async () => {
                const marker = await markerImage(desc.scene?.anchor, api);
                const features = ["local-floor", "dom-overlay", "hand-tracking", "hit-test", "anchors"];
                const opts = { optionalFeatures: features, domOverlay: { root: overlay } };
                if (marker) {
                    features.push("image-tracking");
                    opts.trackedImages = [{ image: marker.bitmap, widthInMeters: marker.width }];
                }
                hook.xrRequest = { mode: "immersive-ar", features: [...features], trackedImages: (opts.trackedImages || []).map((t) => ({ width: t.image.width, height: t.image.height, widthInMeters: t.widthInMeters })) };
                let session;
                try {
                    session = await navigator.xr.requestSession("immersive-ar", opts);
                } catch (e) {
                    setStatus(`AR unavailable: ${e.message}`);
                    return;
                }
                world.background = null;
                grid.visible = false;
                for (const l of leaders) l.visible = true;
                renderer.xr.setReferenceSpaceType("local-floor");
                await renderer.xr.setSession(session);
                placer = new Placer(session, renderer, scene.root, world, (msg) => setStatus(msg));
                await placer.start(!!marker);
                placeBtn.hidden = false;
                placeBtn.onclick = () => placer.replace();
                arBtn.textContent = "Exit AR";
                arBtn.onclick = () => session.end();
                session.addEventListener("end", () => {
                    placer.stop(); placer = null;
                    world.background = bg; grid.visible = true; scene.root.position.set(0, 0, 0); scene.root.quaternion.identity();
                    arBtn.textContent = "Enter AR";
                    arBtn.onclick = enter;
                    placeBtn.hidden = true;
                });
            };
            arBtn.onclick = enter;
        }).catch(() => {});
    }

    function resize() {
        const w = canvas.clientWidth, hgt = canvas.clientHeight;
        if (canvas.width !== Math.floor(w * renderer.getPixelRatio()) || canvas.height !== Math.floor(hgt * renderer.getPixelRatio())) {
            renderer.setSize(w, hgt, false);
            camera.aspect = w / Math.max(hgt, 1);
            /* centre the machine in the part of the view the side panel
             * leaves free (wide screens; on phones the panel is below) */
            const aside = panelsEl.getBoundingClientRect();
            const shift = aside.width && aside.width < w * 0.5 && aside.left < w * 0.25 ? aside.right / 2 : 0;
            if (fitView && !userMoved) {
                /* until the user moves the view: the default viewpoint,
                 * fitted to the part of the canvas the side panel leaves */
                fitView(w, hgt, 2 * shift, barBottom());
            } else {
                if (shift) camera.setViewOffset(w, hgt, -shift, 0, w, hgt); else camera.clearViewOffset();
                camera.updateProjectionMatrix();
            }
        }
    }
    let userMoved = false;
    controls.addEventListener("start", () => { userMoved = true; });
    let last = performance.now();
    renderer.setAnimationLoop((now, frame) => {
        const dt = Math.min((now - last) / 1000, 1);
        last = now;
        if (frame && placer) placer.frame(frame);
        resize();
        scene.tick(dt);
        for (const p of panels3d) {
            if (p.dirty) { p.dirty = false; p.draw(); }
            if (p.billboard) {
                /* face the viewer in world space whatever the anchor's pose */
                const cam = renderer.xr.isPresenting ? renderer.xr.getCamera() : camera;
                const parentQ = p.mesh.parent.getWorldQuaternion(new THREE.Quaternion());
                p.mesh.quaternion.copy(parentQ.invert().multiply(cam.getWorldQuaternion(new THREE.Quaternion())));
            }
        }
        controls.update();
        renderer.render(world, camera);
        hook.frameTime = now;
        hook.frames++;
        hook.ready = true;
    });
}

/**
 * Billboard panels of neighbouring nodes overlap when the nodes are closer
 * than a panel is wide (the operator panel's buttons and lamps). Seen from
 * the front, move such panels apart: a small overlap sideways, else up
 * above the panel in the way. Positions are in the anchor frame.
 */
function unclutter(panels) {
    const gap = 0.01;
    const placed = [];
    const rect = (p) => ({ x0: p.mesh.position.x - p.size[0] / 2, x1: p.mesh.position.x + p.size[0] / 2,
        y0: p.mesh.position.y - p.size[1] / 2, y1: p.mesh.position.y + p.size[1] / 2 });
    const sorted = [...panels].sort((a, b) => rect(a).y0 - rect(b).y0 || rect(a).x0 - rect(b).x0);
    for (const p of sorted) {
        for (let guard = 0; guard < 50; guard++) {
            const r = rect(p);
            const hit = placed.find((q) => { const o = rect(q); return r.x0 < o.x1 + gap && r.x1 > o.x0 - gap && r.y0 < o.y1 + gap && r.y1 > o.y0 - gap; });
            if (!hit) break;
            const o = rect(hit);
            const dx = r.x0 < o.x0 ? o.x0 - r.x1 - gap : o.x1 - r.x0 + gap;
            if (Math.abs(dx) < p.size[0] * 0.2) p.mesh.position.x += dx / 2, hit.mesh.position.x -= dx / 2;
            else p.mesh.position.y += o.y1 + gap - r.y0;
        }
        placed.push(p);
    }
}

/**
 * Measures what a viewer sees of the panels: their projected rectangles,
 * and a frame rendered off-screen with each panel in a flat colour of its
 * own and every model in black (depth-tested as usual), counted per colour.
 * A panel hidden behind a model or overlapped by another panel shows fewer
 * pixels than its projected area.
 */
function panelMeasure(renderer, world, camera, panels, scene, hide, canvas) {
    const corner = (p, sx, sy) => p.mesh.localToWorld(new THREE.Vector3(sx * p.size[0] / 2, sy * p.size[1] / 2, 0)).project(camera);
    function rects() {
        const r = canvas.getBoundingClientRect();
        camera.updateMatrixWorld();
        return panels.map((p) => {
            p.mesh.updateMatrixWorld();
            const cs = [[-1, -1], [1, -1], [1, 1], [-1, 1]].map(([a, b]) => corner(p, a, b));
            const xs = cs.map((c) => r.left + (c.x + 1) / 2 * r.width), ys = cs.map((c) => r.top + (1 - c.y) / 2 * r.height);
            return { id: p.panel.id, x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
        });
    }
    function pixels() {
        const w = canvas.width, h = canvas.height;
        const target = new THREE.WebGLRenderTarget(w, h);
        const swaps = [];
        const swap = (o, m) => { swaps.push([o, o.material]); o.material = m; };
        const black = new THREE.MeshBasicMaterial({ color: 0x000000 });
        const sprites = [];
        scene.root.traverse((o) => {
            if (o.isMesh && !o.userData.panel) swap(o, black);
            else if (o.isSprite && o.visible) sprites.push(o);
        });
        hide = [...hide, ...sprites];
        panels.forEach((p, i) => swap(p.mesh, new THREE.MeshBasicMaterial({ color: new THREE.Color((i + 1) * 16 / 255, 0, 1), side: THREE.DoubleSide })));
        const vis = hide.map((o) => [o, o.visible]);
        for (const o of hide) o.visible = false;
        const bgc = world.background;
        world.background = new THREE.Color(0, 0, 0);
        renderer.setRenderTarget(target);
        renderer.render(world, camera);
        const buf = new Uint8Array(w * h * 4);
        renderer.readRenderTargetPixels(target, 0, 0, w, h, buf);
        renderer.setRenderTarget(null);
        world.background = bgc;
        for (const [o, v] of vis) o.visible = v;
        for (const [o, m] of swaps) o.material = m;
        target.dispose();
        const out = panels.map((p) => ({ id: p.panel.id, pixels: 0, x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity }));
        for (let y = 0; y < h; y++) {
            for (let x = 0; x < w; x++) {
                const i = (y * w + x) * 4;
                if (buf[i + 2] < 200 || buf[i] === 0) continue;
                const k = Math.round(buf[i] / 16) - 1;
                const o = out[k];
                if (!o) continue;
                o.pixels++;
                /* render targets are bottom-up */
                const yy = h - 1 - y;
                if (x < o.x0) o.x0 = x; if (x > o.x1) o.x1 = x;
                if (yy < o.y0) o.y0 = yy; if (yy > o.y1) o.y1 = yy;
            }
        }
        /* the area each panel would cover if nothing were in front of it */
        panels.forEach((p, i) => {
            const cs = [[-1, -1], [1, -1], [1, 1], [-1, 1]].map(([a, b]) => corner(p, a, b)).map((c) => [(c.x + 1) / 2 * w, (1 - c.y) / 2 * h]);
            let a = 0;
            for (let j = 0; j < 4; j++) { const [x0, y0] = cs[j], [x1, y1] = cs[(j + 1) % 4]; a += x0 * y1 - x1 * y0; }
            out[i].area = Math.abs(a) / 2;
            out[i].width = w; out[i].height = h;
        });
        return out;
    }
    return { rects, pixels };
}

start().catch((e) => { console.error(e); setStatus("error: " + e.message); });
