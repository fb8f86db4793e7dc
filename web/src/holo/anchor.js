// Placing the hologram on the real machine in an immersive-ar session.
// Everything is feature-detected: a browser may grant any subset of the
// optional features the session asked for.
//   1. image tracking (Chrome's "image-tracking"): the machine's marker
//      (the hmd descriptor's anchor, printed `size` metres wide) is the
//      scene's origin whenever it is tracked;
//   2. hit test + anchors: a reticle follows the real surface under the
//      gaze; a select (tap, pinch, trigger) puts the machine there and an
//      anchor keeps it there as the device refines its map;
//   3. otherwise 1 m in front of the viewer, 1.2 m above the floor (as
//      before), facing them.
import * as THREE from "three";
import { localHref } from "../common/api.js";

/**
 * The anchor marker of an hmd descriptor as an ImageBitmap for
 * trackedImages: {bitmap, width} or null (no marker anchor, no
 * createImageBitmap, or the asset cannot be fetched). apiFn(method, href,
 * body, {raw}) is the client's authenticated fetch.
 */
export async function markerImage(anchor, apiFn) {
    if (!anchor || anchor.type !== "marker" || !anchor.href || typeof createImageBitmap !== "function") return null;
    try {
        const blob = await apiFn("GET", localHref(anchor.href), undefined, { raw: true });
        const bitmap = await createImageBitmap(blob);
        return { bitmap, width: anchor.size > 0 ? anchor.size : 0.2 };
    } catch {
        return null;
    }
}

function enabled(session, f) {
    /* enabledFeatures is recent; without it, trying is the only test */
    return !Array.isArray(session.enabledFeatures) || session.enabledFeatures.includes(f);
}

export class Placer {
    constructor(session, renderer, root, world, say) {
        this.session = session;
        this.renderer = renderer;
        this.root = root;
        this.say = say;
        this.mode = "fallback";
        this.hitSource = null;
        this.lastHit = null;
        this.anchor = null;
        this.reticle = new THREE.Mesh(new THREE.RingGeometry(0.06, 0.08, 32).rotateX(-Math.PI / 2),
            new THREE.MeshBasicMaterial({ color: 0xe8edf1 }));
        this.reticle.matrixAutoUpdate = false;
        this.reticle.visible = false;
        world.add(this.reticle);
        this.world = world;
    }

    /* Fallback pose at once, then ask for hit testing. */
    async start(withMarker) {
        this.placeInFront();
        this.tracking = withMarker && enabled(this.session, "image-tracking");
        if (enabled(this.session, "hit-test") && this.session.requestHitTestSource) {
            try {
                const viewer = await this.session.requestReferenceSpace("viewer");
                this.hitSource = await this.session.requestHitTestSource({ space: viewer });
                this.mode = "placing";
                this.say(this.tracking ? "look at the machine's marker, or tap a surface" : "tap a surface to place the machine");
            } catch { this.hitSource = null; }
        }
        if (!this.hitSource) this.say(this.tracking ? "look at the machine's marker" : "placed 1 m in front of you");
    }

    placeInFront() {
        const cam = this.renderer.xr.getCamera();
        const p = cam.getWorldPosition(new THREE.Vector3());
        const dir = cam.getWorldDirection(new THREE.Vector3()).setY(0);
        if (dir.lengthSq() < 1e-6) dir.set(0, 0, -1);
        dir.normalize();
        this.setPose(new THREE.Vector3(p.x + dir.x, 1.2, p.z + dir.z));
    }

    /* The machine's origin at pos, turned about +Y to face the viewer. */
    setPose(pos, yaw) {
        this.root.position.copy(pos);
        if (yaw === undefined) {
            const cam = this.renderer.xr.getCamera().getWorldPosition(new THREE.Vector3());
            yaw = Math.atan2(cam.x - pos.x, cam.z - pos.z);
        }
        this.root.quaternion.setFromAxisAngle(new THREE.Vector3(0, 1, 0), yaw);
    }

    /* A select while placing: put the machine on the last hit. */
    select() {
        if (this.mode !== "placing" || !this.lastHit) return false;
        const hit = this.lastHit;
        const m = new THREE.Matrix4().fromArray(hit.pose.transform.matrix);
        this.setPose(new THREE.Vector3().setFromMatrixPosition(m));
        this.mode = "placed";
        this.reticle.visible = false;
        if (enabled(this.session, "anchors") && hit.result.createAnchor) {
            hit.result.createAnchor().then((a) => { if (this.anchor) this.anchor.delete?.(); this.anchor = a; }).catch(() => {});
        }
        this.say("placed");
        return true;
    }

    replace() {
        if (!this.hitSource) { this.placeInFront(); return; }
        if (this.anchor) { this.anchor.delete?.(); this.anchor = null; }
        this.mode = "placing";
        this.say("tap a surface to place the machine");
    }

    /* Every XR frame: the marker wins when tracked, then the anchor, then
     * the reticle while placing. */
    frame(frame) {
        const ref = this.renderer.xr.getReferenceSpace();
        if (!ref) return;
        if (this.tracking && frame.getImageTrackingResults) {
            for (const r of frame.getImageTrackingResults()) {
                if (r.index !== 0 || r.trackingState !== "tracked") continue;
                const pose = frame.getPose(r.imageSpace, ref);
                if (!pose) continue;
                const m = new THREE.Matrix4().fromArray(pose.transform.matrix);
                const q = new THREE.Quaternion().setFromRotationMatrix(m);
                /* keep the machine upright: only the marker's heading */
                const fwd = new THREE.Vector3(0, 0, 1).applyQuaternion(q).setY(0);
                this.setPose(new THREE.Vector3().setFromMatrixPosition(m),
                    fwd.lengthSq() > 1e-6 ? Math.atan2(fwd.x, fwd.z) : undefined);
                if (this.mode !== "marker") this.say("on the marker");
                this.mode = "marker";
                this.reticle.visible = false;
                return;
            }
        }
        if (this.anchor && frame.trackedAnchors?.has(this.anchor)) {
            const pose = frame.getPose(this.anchor.anchorSpace, ref);
            if (pose) this.root.position.setFromMatrixPosition(new THREE.Matrix4().fromArray(pose.transform.matrix));
            return;
        }
        if (this.mode === "placing" && this.hitSource) {
            const results = frame.getHitTestResults(this.hitSource);
            const pose = results.length ? results[0].getPose(ref) : null;
            this.lastHit = pose ? { result: results[0], pose } : null;
            this.reticle.visible = !!pose;
            if (pose) this.reticle.matrix.fromArray(pose.transform.matrix);
        }
    }

    stop() {
        this.hitSource?.cancel?.();
        if (this.anchor) this.anchor.delete?.();
        this.world.remove(this.reticle);
    }
}
