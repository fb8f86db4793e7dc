// Replay (time travel, issue 17): a scrubber over a twin's past for both
// clients. It reads the instants where anything changed
// (GET /twins/{id}/timeline) and shows the whole machine as it was at the
// scrubbed instant (GET /twins/{id}/state?at=) through the client's own
// TwinModel. While it is on, the client must ignore live events and
// refuse writes: the page says so (a banner) and `active` tells it.
import { api, encodeId } from "./api.js";
import { h } from "./widgets.js";

const RANGES = [["15 min", 900e3], ["1 h", 3600e3], ["24 h", 86400e3], ["7 days", 7 * 86400e3]];

function clock(ts) {
    const d = new Date(ts);
    const p = (n, w = 2) => String(n).padStart(w, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/**
 * The replay bar of twin `twinId`, applying past states to `twin` (a
 * TwinModel). onEnter() is called when replay starts (stop applying live
 * events, disable controls), onLeave() when the user goes back to live
 * (re-read the live state). Returns {el, banner, active, enter, leave,
 * scrubTo(ts), markers()}.
 */
export function replayBar(twinId, twin, { onEnter = () => {}, onLeave = () => {} } = {}) {
    const toggle = h("button", { type: "button", class: "replay-toggle", "aria-pressed": "false", text: "Replay" });
    const range = h("select", { class: "replay-range", "aria-label": "replay range" },
        ...RANGES.map(([t, ms], i) => h("option", { value: String(ms), text: t, ...(i === 1 ? { selected: true } : {}) })));
    const slider = h("input", { type: "range", class: "replay-slider", "aria-label": "instant to show", step: "1" });
    const when = h("output", { class: "replay-time" });
    const marks = h("ul", { class: "replay-marks", "aria-label": "alarms that began in the range" });
    const live = h("button", { type: "button", class: "replay-live", text: "Back to live" });
    const err = h("span", { class: "error", role: "alert" });
    const controls = h("div", { class: "replay-controls", hidden: true }, range, slider, when, live, marks, err);
    const el = h("section", { class: "replay-bar", "aria-label": "replay" }, toggle, controls);
    const banner = h("div", { class: "replay-banner", role: "status", hidden: true });
    const st = { active: false, at: 0, seq: 0, timer: 0, markers: [] };

    function show(ts, state) {
        st.at = ts;
        when.value = clock(ts);
        when.textContent = clock(ts);
        banner.textContent = `REPLAY — the machine as it was at ${clock(ts)}. Controls are disabled.`;
        banner.dataset.at = String(ts);
        el.dataset.at = String(ts);
        twin.applyState(state);
    }

    async function load(ts) {
        const seq = ++st.seq;
        try {
            const s = await api("GET", `/api/v1/twins/${encodeId(twinId)}/state?at=${Math.round(ts)}`);
            if (seq !== st.seq || !st.active) return; /* a newer instant won */
            show(ts, s);
            el.dataset.shown = String(Math.round(ts));
            err.textContent = "";
        } catch (e) {
            if (seq === st.seq) err.textContent = e.message;
        }
    }

    async function timeline() {
        const to = Date.now();
        const from = to - Number(range.value);
        slider.min = String(from);
        slider.max = String(to);
        st.markers = [];
        try {
            /* the alarm transitions are what a worker scrubs to */
            const tl = await api("GET", `/api/v1/twins/${encodeId(twinId)}/timeline?from=${from}&to=${to}&limit=100000`);
            st.markers = (tl.items || []).filter((x) => x.kind === "alarm" && x.to === "active_unacknowledged");
        } catch (e) {
            err.textContent = e.message;
        }
        marks.replaceChildren(...st.markers.map((m) => {
            const b = h("button", { type: "button", class: "replay-mark", "data-rule": m.rule, "data-ts": String(m.ts),
                text: `${m.rule} began ${clock(m.ts)}` });
            b.addEventListener("click", () => scrubTo(m.ts));
            return h("li", {}, b);
        }));
    }

    function scrubTo(ts) {
        slider.value = String(ts);
        return load(ts);
    }

    async function enter() {
        if (st.active) return;
        st.active = true;
        toggle.setAttribute("aria-pressed", "true");
        controls.hidden = false;
        banner.hidden = false;
        document.documentElement.dataset.replay = "1";
        onEnter();
        await timeline();
        await scrubTo(Number(slider.max));
    }

    function leave() {
        if (!st.active) return;
        st.active = false;
        st.seq++;
        toggle.setAttribute("aria-pressed", "false");
        controls.hidden = true;
        banner.hidden = true;
        delete document.documentElement.dataset.replay;
        delete el.dataset.shown;
        onLeave();
    }

    toggle.addEventListener("click", () => (st.active ? leave() : enter()));
    live.addEventListener("click", leave);
    range.addEventListener("change", async () => { await timeline(); scrubTo(Number(slider.max)); });
    /* scrubbing sends at most one request per 80 ms; the last one wins */
    slider.addEventListener("input", () => {
        clearTimeout(st.timer);
        st.timer = setTimeout(() => load(Number(slider.value)), 80);
    });
    return {
        el, banner, enter, leave, scrubTo,
        get active() { return st.active; },
        get at() { return st.at; },
        markers: () => st.markers.slice(),
    };
}

/** Disable (or re-enable) every control inside root: in replay nothing
 *  may be written. Remembers what was disabled before. */
export function freezeControls(root, frozen) {
    root.inert = frozen;
    root.classList.toggle("replay-frozen", frozen);
    for (const c of root.querySelectorAll("button, input, select, textarea")) {
        if (frozen) {
            if (!c.disabled) { c.dataset.replayDisabled = "1"; c.disabled = true; }
        } else if (c.dataset.replayDisabled) {
            delete c.dataset.replayDisabled;
            c.disabled = false;
        }
    }
}
