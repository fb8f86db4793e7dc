// Talking to gatewayd: token handling, REST with problem+json errors, and
// Server-Sent Events with automatic resume. Shared by both clients.

const TOKEN_KEY = "holotwin.token";

/** Takes `token=...` out of the URL fragment (kiosk / tablet deep links,
 *  `/#token=...`), stores it for the session and cleans the address bar. */
export function adoptFragmentToken() {
    const h = location.hash.replace(/^#\/?/, "");
    if (!h) return;
    const params = new URLSearchParams(h.includes("?") ? h.slice(h.indexOf("?") + 1) : h);
    const t = params.get("token");
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
}

export function getToken() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(t) { sessionStorage.setItem(TOKEN_KEY, t); }
export function clearToken() { sessionStorage.removeItem(TOKEN_KEY); }

/** An error answer of the gateway (RFC 9457 problem+json), or a network error. */
export class ApiError extends Error {
    constructor(status, problem, fallback) {
        const p = problem && typeof problem === "object" ? problem : {};
        const err = p.error && typeof p.error === "object" ? p.error : {};
        const msg = p.detail || err.message || p.title || fallback || `HTTP ${status}`;
        super(msg);
        this.status = status;
        this.problem = p;
        /* The device's own error code travels in the problem (e.g. "code"
         * or "error": {"code": ...}); fall back to the HTTP status. */
        this.code = p.code || err.code || p.device_error || (status ? `HTTP ${status}` : "network");
    }
}

/** One REST call; resolves with the parsed JSON body (or null), rejects with
 *  ApiError. `body` is sent as JSON when it is not undefined. */
export async function api(method, path, body, opts = {}) {
    const headers = { "Accept": "application/json" };
    const token = opts.token ?? getToken();
    if (token) headers["Authorization"] = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
        res = await fetch(path, {
            method, headers, cache: "no-store",
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: opts.signal,
        });
    } catch (e) {
        throw new ApiError(0, null, "gateway unreachable: " + e.message);
    }
    /* binary assets (markers, models): the body as a Blob */
    if (opts.raw && res.ok) return res.blob();
    const text = await res.text();
    let data = null;
    if (text) {
        try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 200) }; }
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
}

export function encodeId(s) { return encodeURIComponent(s); }

let capsP = null;
/**
 * What the serving gateway allows, from GET /api/v1/twins: null on a cell,
 * or a plant view's {read_only, commands, history, control} (its twins are
 * every cell's, named "{site}~{cell}~{twin}"; docs/fleet.md). Asked once
 * per page (refresh: again); the list itself is in `.list`.
 */
export function viewCaps(refresh = false) {
    if (refresh || !capsP) {
        capsP = api("GET", "/api/v1/twins").then((d) => {
            const p = d && typeof d.plant === "object" ? { ...d.plant } : null;
            if (p) p.list = Array.isArray(d.items) ? d.items : [];
            return p;
        });
        capsP.catch(() => { capsP = null; });
    }
    return capsP;
}

/** Where a widget writes: its descriptor's form on a cell; on a plant
 *  view the view's own route for the plant twin (the cell's forms name
 *  the cell's ids). */
export function writeHref(w, twinId, caps) {
    if (!caps) return w.write?.href;
    return w.property ? `/api/v1/twins/${encodeId(twinId)}/properties/${encodeURIComponent(w.property)}` : null;
}

/**
 * The path (and query) of a descriptor href, for same-origin requests.
 * gatewayd writes absolute hrefs from its configured public host (by
 * default 127.0.0.1), which a tablet or headset on the LAN cannot reach and
 * which would be cross-origin anyway; the page's own origin always is the
 * gateway that served it.
 */
export function localHref(href) {
    if (typeof href !== "string" || !href) return href;
    try {
        const u = new URL(href, location.href);
        if (u.protocol !== "http:" && u.protocol !== "https:") return href;
        return u.pathname + u.search;
    } catch {
        return href;
    }
}

/**
 * A live event stream on /api/v1/events with automatic resume.
 * EventSource cannot send an Authorization header, so the token goes in the
 * `access_token` query parameter. The browser resumes a dropped stream by
 * itself (sending Last-Event-ID); when it gives up (stream closed with an
 * HTTP error) we open a new one after a back-off and pass the last seen id
 * as `last_event_id` so nothing is missed.
 *   onEvent(type, data, id) for every event (data parsed as JSON if it is)
 *   onStatus("connecting" | "live" | "reconnecting")
 */
export function openEvents(query, onEvent, onStatus = () => {}, extraEvents = []) {
    let es = null;
    let lastId = "";
    let closed = false;
    let backoff = 500;
    let timer = 0;
    const known = ["message", "state", "property", "properties", "alarm", "alarm-raised",
        "alarm-cleared", "alarm_raised", "alarm_cleared", "stable", "stable-changed",
        "stable_changed", "descriptor", "device", "device-status", "twin", "ack", "command",
        "rule", "hello", "ping", "control", ...extraEvents];

    function connect() {
        const p = new URLSearchParams(query || {});
        const token = getToken();
        if (token) p.set("access_token", token);
        if (lastId) p.set("last_event_id", lastId);
        onStatus("connecting");
        es = new EventSource("/api/v1/events?" + p.toString());
        es.onopen = () => { backoff = 500; onStatus("live"); };
        es.onerror = () => {
            if (closed) return;
            if (es.readyState === EventSource.CLOSED) {
                onStatus("reconnecting");
                clearTimeout(timer);
                timer = setTimeout(connect, backoff);
                backoff = Math.min(backoff * 2, 10000);
            } else {
                onStatus("reconnecting");
            }
        };
        const handler = (ev) => {
            if (ev.lastEventId) lastId = ev.lastEventId;
            let data = ev.data;
            try { data = JSON.parse(ev.data); } catch { /* plain text */ }
            onEvent(ev.type, data, ev.lastEventId);
        };
        for (const t of new Set(known)) es.addEventListener(t, handler);
    }
    connect();
    return {
        close() { closed = true; clearTimeout(timer); if (es) es.close(); },
        get lastId() { return lastId; },
    };
}
