// Shared control of a twin (issue 16), for both clients: who holds the
// twin now (GET /api/v1/twins/{id}/control, then the "control" SSE
// events) and the take / release / take-over buttons. A command from
// someone who does not hold a held twin is refused by the gateway (423);
// this widget only shows it and offers the buttons.
import { api, ApiError, encodeId } from "./api.js";
import { h } from "./widgets.js";

/**
 * The control bar of one twin. `mine` remembers the token id this client
 * took control with (the gateway names holders by token name and id).
 * Returns {el, apply(data)}: feed it every "control" SSE event's data.
 */
export function mountControl(twinId) {
    const path = `/api/v1/twins/${encodeId(twinId)}/control`;
    const text = h("span", { class: "control-text" });
    const take = h("button", { type: "button", class: "control-take", text: "Take control" });
    const release = h("button", { type: "button", class: "control-release", text: "Release control" });
    const force = h("button", { type: "button", class: "control-force", text: "Take over" });
    const err = h("span", { class: "control-error", role: "alert" });
    const el = h("div", { class: "twin-control", role: "status", "aria-live": "polite" },
        text, take, release, force, err);
    let mine = sessionStorage.getItem(`holotwin.control.${twinId}`) || "";
    let state = null;

    function render() {
        const holder = state?.holder || null;
        const you = !!holder && !!mine && holder.token === mine;
        el.dataset.holder = holder ? holder.name : "";
        el.dataset.mine = you ? "1" : "";
        text.textContent = !holder
            ? (state?.required ? "Nobody controls this machine: take control to command it" : "Control: free")
            : you ? `You control this machine (${holder.name})` : `Controlled by ${holder.name}`;
        take.hidden = !!holder;
        release.hidden = !you;
        force.hidden = !holder || you;
    }

    async function run(method, query) {
        err.textContent = "";
        try {
            const r = await api(method, path + (query || ""));
            if (method === "POST" && r?.holder?.token) {
                mine = r.holder.token;
                sessionStorage.setItem(`holotwin.control.${twinId}`, mine);
            }
            state = r || { ...state, holder: null };
        } catch (e) {
            err.textContent = e instanceof ApiError ? `${e.code}: ${e.message}` : String(e);
            if (e instanceof ApiError && e.problem && "holder" in e.problem) state = { ...state, holder: e.problem.holder };
        }
        render();
    }
    take.addEventListener("click", () => run("POST"));
    release.addEventListener("click", () => run("DELETE"));
    force.addEventListener("click", () => run("POST", "?force"));

    /* a take or release between this read and the stream going live would
     * be missed: the clients call refresh() whenever their stream is live */
    function refresh() { api("GET", path).then((r) => { state = r; render(); }).catch(() => {}); }
    refresh();
    render();
    return {
        el,
        refresh,
        apply(d) {
            if (!d || typeof d !== "object" || (d.twin && d.twin !== twinId)) return;
            state = { ...state, holder: d.holder ?? null };
            render();
        },
    };
}
