// Builds a three.js scene from an `hmd` UI descriptor: one primitive per
// node kind, transforms in metres, and live bindings (rotation rate from a
// speed, colour from a value through a colour map, emissive from a state).
import * as THREE from "three";
import { PRIORITIES, PRIORITY_COLORS } from "../common/priority.js";

function first(...xs) { for (const x of xs) if (x !== undefined && x !== null) return x; return undefined; }

function vec3(v, d = [0, 0, 0]) {
    if (Array.isArray(v)) return [v[0] ?? d[0], v[1] ?? d[1], v[2] ?? d[2]];
    if (v && typeof v === "object") return [v.x ?? d[0], v.y ?? d[1], v.z ?? d[2]];
    if (typeof v === "number") return [v, v, v];
    return d;
}

/** All scene nodes of an hmd descriptor, flattened (children keep their parent id). */
export function hmdNodes(desc) {
    const scene = desc.scene ?? desc;
    const out = [];
    function walk(list, parent) {
        if (!Array.isArray(list)) return;
        for (const n of list) {
            if (!n || typeof n !== "object") continue;
            out.push({ ...n, _parent: parent });
            walk(n.children ?? n.nodes, n.id);
        }
    }
    walk(scene.nodes ?? scene.children ?? desc.nodes, null);
    return out;
}

export function hmdPanels(desc) {
    const scene = desc.scene ?? {};
    const list = first(desc.panels, scene.panels, []);
    return Array.isArray(list) ? list : [];
}

/** Bindings of a node as [{type, property, ...}]. */
export function nodeBindings(n) {
    let b = first(n.bindings, n.binding, n.animations, []);
    if (!Array.isArray(b)) {
        /* object form: {rotation: {...}, color: {...}} */
        b = Object.entries(b).map(([type, v]) => (typeof v === "string" ? { type, property: v } : { type, ...v }));
    }
    return b.map((x) => {
        const t = String(first(x.effect, x.type, x.kind, x.channel, x.target, "")).toLowerCase().replace(/[-\s]/g, "_");
        let type = t;
        if (/rot|spin/.test(t)) type = "rotation";
        else if (/emiss|glow|light/.test(t)) type = "emissive";
        else if (/colou?r/.test(t)) type = "color";
        else if (/visib/.test(t)) type = "visible";
        else if (/alarm/.test(t)) type = "alarm";
        else if (/angle|dial|needle/.test(t)) type = "angle";
        else if (/label|text/.test(t)) type = "label";
        return { ...x, type, property: first(x.property, x.path, x.source, x.from) };
    });
}

const COLORS = {
    gear: 0x9aa7b4, motor: 0x4a6d8c, heater: 0xb04a30, fan: 0x6ab0d0, lamp: 0xf0d040,
    button: 0x40a060, conveyor: 0x505a64, tank: 0x7090a0, sensor: 0xc0c0c0,
};

function gearGeometry(radius, depth, teeth = 14) {
    const shape = new THREE.Shape();
    const rOut = radius, rIn = radius * 0.82;
    const n = teeth * 4;
    for (let i = 0; i <= n; i++) {
        const a = (i / n) * Math.PI * 2;
        const r = (i % 4 === 1 || i % 4 === 2) ? rOut : rIn;
        const x = Math.cos(a) * r, y = Math.sin(a) * r;
        if (i === 0) shape.moveTo(x, y); else shape.lineTo(x, y);
    }
    const hole = new THREE.Path();
    hole.absarc(0, 0, radius * 0.18, 0, Math.PI * 2, true);
    shape.holes.push(hole);
    const g = new THREE.ExtrudeGeometry(shape, { depth, bevelEnabled: false, curveSegments: 8 });
    g.translate(0, 0, -depth / 2);
    return g;
}

/** The axis ("x" | "y" | "z") of the smallest extent of a size. */
export function thinAxis(size) {
    const [x, y, z] = size;
    if (z <= x && z <= y) return "z";
    return y <= x ? "y" : "x";
}

function fanGroup(g, sx, sz, mat) {
    const hub = new THREE.Mesh(new THREE.CylinderGeometry(sx * 0.12, sx * 0.12, sz, 16), mat);
    hub.rotation.x = Math.PI / 2;
    g.add(hub);
    for (let i = 0; i < 4; i++) {
        const blade = new THREE.Mesh(new THREE.BoxGeometry(sx * 0.45, sx * 0.14, sz * 0.3), mat);
        blade.position.set(Math.cos(i * Math.PI / 2) * sx * 0.25, Math.sin(i * Math.PI / 2) * sx * 0.25, 0);
        blade.rotation.z = i * Math.PI / 2;
        g.add(blade);
    }
    const outer = new THREE.Group();
    outer.add(g);
    outer.userData.material = mat;
    return outer;
}

/** A mesh (or group) for one node; size is [x, y, z] in metres. */
function primitive(kind, size, n) {
    const [sx, sy, sz] = size;
    const sh = n.shape && typeof n.shape === "object" ? n.shape : {};
    const col = first(sh.color, n.color);
    const colorHex = col ? new THREE.Color(col) : new THREE.Color(COLORS[kind] ?? 0x8899aa);
    const mat = new THREE.MeshStandardMaterial({ color: colorHex, metalness: 0.3, roughness: 0.55 });
    let geo;
    /* holotwin.ui/1: shape {primitive, style}; style gear/fan/tank/belt wins */
    const style = sh.style && sh.style !== "plain" ? sh.style : null;
    const shape = String(first(style === "belt" ? "box" : style, sh.primitive, typeof n.shape === "string" ? n.shape : undefined, n.primitive, kind)).toLowerCase();
    switch (shape) {
    case "gear": {
        /* the wheel's axis is its thinnest dimension */
        const ax = thinAxis(size);
        const dims = { x: [sy, sz, sx], y: [sx, sz, sy], z: [sx, sy, sz] }[ax];
        geo = gearGeometry(Math.max(dims[0], dims[1]) / 2, dims[2], sh.teeth ?? n.teeth ?? 14);
        if (ax === "y") geo.rotateX(Math.PI / 2);
        else if (ax === "x") geo.rotateY(Math.PI / 2);
        break;
    }
    case "motor": case "cylinder": case "tank":
        geo = new THREE.CylinderGeometry(sx / 2, sx / 2, sy, 32);
        break;
    case "fan": {
        const g = new THREE.Group();
        const ax = thinAxis(size);
        if (ax === "y") g.rotation.x = Math.PI / 2;
        else if (ax === "x") g.rotation.y = Math.PI / 2;
        const d = ax === "z" ? [sx, sz] : ax === "y" ? [Math.max(sx, sz), sy] : [Math.max(sy, sz), sx];
        return fanGroup(g, d[0], d[1], mat);
    }
    case "capsule":
        geo = new THREE.CapsuleGeometry(sx / 2, Math.max(sy - sx, 0.001), 8, 16);
        break;
    case "lamp": case "sphere":
        geo = new THREE.SphereGeometry(Math.max(sx, sy, sz) / 2, 24, 16);
        mat.emissive = new THREE.Color(colorHex);
        mat.emissiveIntensity = 0.05;
        break;
    case "button":
        geo = new THREE.CylinderGeometry(sx / 2, sx / 2, sy, 24);
        break;
    case "heater": case "box": case "conveyor": default:
        geo = new THREE.BoxGeometry(sx, sy, sz);
        break;
    }
    const m = new THREE.Mesh(geo, mat);
    m.userData.material = mat;
    return m;
}

/** Linear interpolation through a colour map [{value|at, color}]. */
export function colorFromMap(map, v) {
    let stops = map;
    if (map && !Array.isArray(map)) stops = map.stops ?? Object.entries(map).map(([k, c]) => ({ value: Number(k), color: c }));
    if (!Array.isArray(stops) || !stops.length) return null;
    const s = stops.map((x) => (Array.isArray(x) ? { value: x[0], color: x[1] } : { value: first(x.value, x.at, x.v), color: first(x.color, x.colour) }))
        .filter((x) => typeof x.value === "number" && x.color).sort((a, b) => a.value - b.value);
    if (!s.length) return null;
    if (v <= s[0].value) return new THREE.Color(s[0].color);
    for (let i = 1; i < s.length; i++) {
        if (v <= s[i].value) {
            const f = (v - s[i - 1].value) / (s[i].value - s[i - 1].value || 1);
            return new THREE.Color(s[i - 1].color).lerp(new THREE.Color(s[i].color), f);
        }
    }
    return new THREE.Color(s[s.length - 1].color);
}

/** rad/s for one unit of the bound value (rpm by default). */
function rateFactor(b) {
    /* holotwin.ui/1: factor = degrees per second per unit of the value */
    if (typeof b.factor === "number") return b.factor * Math.PI / 180;
    const f = first(b.scale, b.rad_per_unit);
    if (typeof f === "number") return f;
    const unit = String(first(b.unit, b.units, "rpm")).toLowerCase();
    if (unit === "rad/s") return 1;
    if (unit === "deg/s") return Math.PI / 180;
    if (unit === "hz" || unit === "rps") return Math.PI * 2;
    return (Math.PI * 2) / 60;   // rpm
}

const AXES = { x: new THREE.Vector3(1, 0, 0), y: new THREE.Vector3(0, 1, 0), z: new THREE.Vector3(0, 0, 1) };

/**
 * Builds the scene graph. Returns {root, nodes: Map(id -> entry), tick(dt),
 * apply(path, entry)} where entry = {id, kind, object, spinner, bindings,
 * angle, rate}.
 */
export function buildScene(desc) {
    const root = new THREE.Group();
    root.name = "twin-root";
    const nodes = new Map();
    const byProp = new Map();
    for (const n of hmdNodes(desc)) {
        const kind = String(first(n.kind, n.type, n.shape, "box")).toLowerCase();
        const t = n.transform ?? n;
        const size = vec3(first(n.shape?.size, n.size, n.dimensions, t.size), [0.1, 0.1, 0.1]);
        const holder = new THREE.Group();
        holder.name = n.id;
        holder.position.set(...vec3(first(t.position, t.translation, t.pos)));
        const rot = first(t.rotation, t.rotation_deg, t.euler);
        if (rot) {
            const r = vec3(rot);
            /* holotwin.ui/1 frame: rotations in degrees, XYZ */
            const deg = t.rotation_deg !== undefined || desc.scene?.frame === "y-up-right-handed" ||
                Math.max(...r.map(Math.abs)) > 2 * Math.PI;
            holder.rotation.set(...r.map((x) => (deg ? THREE.MathUtils.degToRad(x) : x)));
        }
        if (t.scale !== undefined) holder.scale.set(...vec3(t.scale, [1, 1, 1]));
        const mesh = primitive(kind, size, n);
        /* the spinner carries the bound rotation so the node's own pose stays */
        const spinner = new THREE.Group();
        spinner.add(mesh);
        holder.add(spinner);
        holder.userData.nodeId = n.id;
        mesh.traverse((o) => { o.userData.nodeId = n.id; });
        const parent = n._parent && nodes.get(n._parent);
        (parent ? parent.object : root).add(holder);
        const entry = {
            id: n.id, kind, object: holder, spinner, mesh, label: n.label ?? n.title ?? n.id,
            material: mesh.userData.material, bindings: nodeBindings(n), angle: 0, rate: 0,
            baseColor: mesh.userData.material?.color?.clone(),
            defaultAxis: ["gear", "fan"].includes(kind) ? thinAxis(size) : ["motor", "cylinder", "tank", "button"].includes(kind) ? "y" : "z",
        };
        nodes.set(n.id, entry);
        for (const b of entry.bindings) b._part = makePart(entry, b, size, desc);
        for (const b of entry.bindings) {
            if (!b.property) continue;
            if (!byProp.has(b.property)) byProp.set(b.property, []);
            byProp.get(b.property).push([entry, b]);
        }
    }

    function apply(path, e) {
        for (const [n, b] of byProp.get(path) || []) {
            const v = e?.value;
            const offline = e?.quality === "offline";
            switch (b.type) {
            case "angle": {
                /* a dial: min..max maps linearly onto fromDeg..toDeg */
                const num = Number(v);
                if (!Number.isFinite(num)) break;
                const lo = b.min ?? 0, hi = b.max ?? 100;
                const f = Math.max(0, Math.min(1, (num - lo) / (hi - lo || 1)));
                const deg = (b.fromDeg ?? 135) + f * ((b.toDeg ?? -135) - (b.fromDeg ?? 135));
                const axis = Array.isArray(b.axis) ? new THREE.Vector3(...b.axis).normalize() : AXES.y;
                const target = b._part ?? n.spinner;
                target.setRotationFromAxisAngle(axis, THREE.MathUtils.degToRad(deg));
                b._deg = deg;
                break;
            }
            case "label":
                b._part?.userData.draw(formatLabel(v, b));
                break;
            case "rotation": {
                const num = typeof v === "boolean" ? (v ? 1 : 0) : Number(v) || 0;
                n.rate = offline ? 0 : num * rateFactor(b);
                if (Array.isArray(b.axis)) n.axis = new THREE.Vector3(...b.axis).normalize();
                else n.axis = AXES[String(first(b.axis, n.defaultAxis)).toLowerCase()] ?? AXES.z;
                break;
            }
            case "color": {
                const c = typeof v === "number" ? colorFromMap(first(b.colorMap, b.map, b.colormap, b.color_map, b.stops), v) : null;
                if (c && n.material) n.material.color.copy(c);
                break;
            }
            case "emissive": {
                const on = typeof v === "boolean" ? v : Number(v) > 0;
                const mats = [];
                (b._part ?? n.mesh).traverse((o) => { if (o.material) mats.push(o.material); });
                for (const m of mats) {
                    if (!m.emissive) continue;
                    /* on/off colours (holotwin.ui/1) or one colour dimmed */
                    const c = on ? first(b.on, b.color, b.colour) : first(b.off, b.color, b.colour);
                    m.emissive.set(c ?? (n.baseColor ? "#" + n.baseColor.getHexString() : "#ffdd55"));
                    /* only the emission: the base colour may carry another
                     * binding (the heater's temperature colour map) */
                    m.emissiveIntensity = on && !offline ? first(b.intensity, 1.0) : b.off ? 0.25 : 0.03;
                }
                if (!b._part) n.glowing = on && !offline;
                b._on = on && !offline;
                break;
            }
            case "visible":
                n.object.visible = !!v;
                break;
            default:
                break;
            }
            /* an offline value greys the node out */
            n.mesh.traverse((o) => { if (o.material) { o.material.transparent = offline; o.material.opacity = offline ? 0.35 : 1; } });
        }
    }

    /* alarm effect: tint the node while one of its rules is active, in the
     * colour of the most urgent one's priority (the dashboard's colours);
     * active maps rule id -> priority (a Set of ids: the descriptor's colour) */
    function applyRules(active) {
        for (const n of nodes.values()) {
            const ab = n.bindings.find((b) => b.type === "alarm" && Array.isArray(b.rules));
            if (!ab) continue;
            const mine = ab.rules.filter((r) => active.has(r));
            const on = mine.length > 0;
            let top = null;
            if (active instanceof Map) {
                for (const r of mine) {
                    const p = active.get(r);
                    if (top === null || PRIORITIES.indexOf(p) < PRIORITIES.indexOf(top)) top = p;
                }
            }
            n.alarm = on ? top ?? true : false;
            const color = (top && PRIORITY_COLORS[top]?.bg) || ab.color || "#ff2020";
            n.mesh.traverse((o) => {
                if (!o.material || !o.material.emissive) return;
                if (on) { o.material.emissive.set(color); o.material.emissiveIntensity = 0.6; }
                else if (!n.glowing) o.material.emissiveIntensity = 0;
            });
        }
    }

    function tick(dt) {
        for (const n of nodes.values()) {
            if (!n.rate) continue;
            n.angle += n.rate * dt;
            n.spinner.setRotationFromAxisAngle(n.axis || AXES.z, n.angle % (Math.PI * 2));
        }
    }
    return { root, nodes, apply, applyRules, tick, properties: [...byProp.keys()] };
}

function formatLabel(v, b) {
    if (v === undefined || v === null) return "–";
    const t = typeof v === "number" ? String(Math.round(v * 100) / 100) : String(v);
    return b.unitLabel ? `${t} ${b.unitLabel}` : t;
}

/**
 * The extra object a binding acts on ("part" of holotwin.ui/1), added to
 * the node's holder so that it keeps the node's pose but not its spin: a
 * needle across both faces (a setpoint on a dial), a ring around the node
 * (an enable state), a label above it, a notch on a knob. Returns the
 * object the binding moves or lights, or null for the node itself.
 */
function makePart(entry, b, size, desc) {
    const [sx, sy, sz] = size;
    const r = Math.max(sx, sz) / 2;
    if (b.type === "angle" && b.part === "needle") {
        const g = new THREE.Group();
        const mat = new THREE.MeshStandardMaterial({ color: 0xf2f4f6, emissive: 0x303840, metalness: 0.1, roughness: 0.4 });
        for (const face of [1, -1]) {
            const m = new THREE.Mesh(new THREE.BoxGeometry(r * 0.85, Math.max(sy * 0.15, 0.002), Math.max(r * 0.08, 0.004)), mat);
            /* from the centre outwards along +X, just off each face */
            m.position.set(r * 0.425, face * (sy / 2 + 0.003), 0);
            g.add(m);
        }
        entry.object.add(g);
        return g;
    }
    if (b.type === "angle") {
        /* the node itself turns; a notch shows by how much */
        const notch = new THREE.Mesh(new THREE.BoxGeometry(r * 0.9, Math.max(sy * 0.25, 0.003), Math.max(r * 0.18, 0.004)),
            new THREE.MeshStandardMaterial({ color: 0xf2f4f6 }));
        notch.position.set(r * 0.45, sy / 2 + 0.002, 0);
        entry.spinner.add(notch);
        return null;
    }
    if (b.type === "emissive" && b.part === "ring") {
        const ring = new THREE.Mesh(new THREE.TorusGeometry(r * 1.12, Math.max(r * 0.05, 0.003), 8, 48),
            new THREE.MeshStandardMaterial({ color: 0x3a4148, emissive: 0x000000, metalness: 0.2, roughness: 0.6 }));
        ring.rotation.x = Math.PI / 2;   // the torus' axis onto the node's +Y
        entry.object.add(ring);
        return ring;
    }
    if (b.type === "label") {
        const ty = desc.scene?.typography;
        const canvas = document.createElement("canvas");
        canvas.width = 256; canvas.height = 64;
        const tex = new THREE.CanvasTexture(canvas);
        const sprite = new THREE.Sprite(new THREE.SpriteMaterial({ map: tex, transparent: true }));
        /* one line of body text: the body size is the em height */
        const em = ty?.bodySize ?? 0.012;
        sprite.scale.set(em * 1.6 * 4, em * 1.6, 1);
        sprite.position.set(0, Math.max(sx, sy, sz) / 2 + em, 0);
        sprite.userData.draw = (txt) => {
            const g = canvas.getContext("2d");
            g.clearRect(0, 0, 256, 64);
            g.fillStyle = "rgba(16,22,28,0.85)"; g.fillRect(0, 0, 256, 64);
            g.fillStyle = "#e8edf1"; g.font = "bold 40px sans-serif"; g.textBaseline = "middle";
            g.fillText(txt, 8, 33, 240);
            tex.needsUpdate = true;
        };
        sprite.userData.draw("–");
        entry.object.add(sprite);
        return sprite;
    }
    return null;
}
