// Shared control of a twin (issue 16), for both clients: who holds the
// twin now (GET /api/v1/twins/{id}/control, then the "control" SSE
// events), the take / release / take-over buttons, a request to the
// holder, and the holder's view of who asks. A command from
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
    const ask = h("button", { type: "button", class: "control-ask", text: "Request control" });
    /* the holder's view of a request; the asker's "asked" note */
    const asked = h("span", { class: "control-asked" });
    const err = h("span", { class: "control-error", role: "alert" });
    const el = h("div", { class: "twin-control", role: "status", "aria-live": "polite" },
        text, asked, take, release, ask, force, err);
    let mine = sessionStorage.getItem(`holotwin.control.${twinId}`) || "";
    let state = null;

    let requester = "";  // who asked the holder (this client) for control
    let askedOf = "";    // whom this client asked

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
        ask.hidden = !holder || you;
        el.dataset.requester = you ? requester : "";
        asked.textContent = you && requester ? `${requester} asks for control` : !you && askedOf && holder?.name === askedOf ? `asked ${askedOf}` : "";
    }

    async function run(method, query) {
        err.textContent = "";
        try {
            const r = await api(method, path + (query || ""));
            if (query === "?request") askedOf = r?.holder?.name ?? "";
            else if (method === "POST" && r?.holder?.token) {
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
    ask.addEventListener("click", () => run("POST", "?request"));

    /* a take or release between this read and the stream going live would
     * be missed: the clients call refresh() whenever their stream is live */
    /* ...but a read answered after a newer event must not undo it (the
     * holder flickered back to "free" under load): events bump `seen`, and
     * a read that saw one pass keeps only what events do not carry */
    let seen = 0;
    function refresh() {
        const at = seen;
        api("GET", path).then((r) => {
            state = at === seen ? r : { ...state, required: r?.required };
            render();
        }).catch(() => {});
    }
    refresh();
    render();
    return {
        el,
        refresh,
        apply(d) {
            if (!d || typeof d !== "object" || (d.twin && d.twin !== twinId)) return;
            seen++;
            /* a request leaves the holder; any change of holder ends it */
            if (d.cause === "request") requester = d.requester?.name ?? "";
            else { requester = ""; askedOf = ""; }
            state = { ...state, holder: d.holder ?? null };
            render();
        },
    };
}
