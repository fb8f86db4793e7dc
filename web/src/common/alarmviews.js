// The alarm views of the web clients (ISA-18.2): a banner with the most urgent
// unacknowledged alarm on every page, and a machine's alarm list with
// acknowledge and shelve. Both render from one AlarmBook, so a command on
// one client shows on every other as soon as its "alarm" event arrives.
import "./alarms.css";
import { h } from "./widgets.js";
import { openEvents } from "./api.js";

const STATE_TEXT = {
    active_unacknowledged: "Unacknowledged",
    active_acknowledged: "Acknowledged",
    returned_unacknowledged: "Returned, unacknowledged",
    shelved: "Shelved",
    suppressed: "Suppressed",
    out_of_service: "Out of service",
};

const SHELVE_MS = 30 * 60 * 1000;

function when(ms) {
    return ms ? new Date(ms).toLocaleTimeString([], { hour12: false }) : "";
}

/* Run a command; a refusal (role, state) is shown next to the buttons. */
async function run(book, a, verb, body, errEl) {
    errEl.textContent = "";
    try {
        await book.command(a.id, verb, body);
    } catch (e) {
        errEl.textContent = e.status === 403 ? "Your role may not do this." : e.message;
    }
}

/** The banner: most urgent unacknowledged alarm of any machine. */
export function alarmBanner(book) {
    const el = h("div", { class: "alarm-banner", role: "alert", hidden: true });
    const err = h("span", { class: "error" });
    function render() {
        const a = book.top();
        el.hidden = !a;
        if (!a) { el.replaceChildren(); delete el.dataset.alarm; return; }
        const more = book.unacked() - 1;
        el.className = `alarm-banner p-${a.priority}`;
        el.dataset.alarm = a.id;
        el.dataset.priority = a.priority;
        const ack = h("button", { type: "button", class: "ack", text: "Acknowledge" });
        ack.addEventListener("click", () => run(book, a, "ack", {}, err));
        el.replaceChildren(
            h("span", { class: `prio p-${a.priority}`, text: a.priority.toUpperCase() }),
            h("a", { href: `#/twin/${encodeURIComponent(a.twin)}`, class: "where", text: a.twin }),
            h("span", { class: "msg", text: a.message || a.rule }),
            a.first_out ? h("span", { class: "first-out", text: "first out" }) : null,
            more > 0 ? h("span", { class: "more", text: `+${more} more` }) : null,
            ack, err);
    }
    book.on(render);
    render();
    return el;
}

/** One machine's alarms with their commands. */
export function alarmList(book, twin, { readOnly = false } = {}) {
    const body = h("tbody");
    const err = h("p", { class: "error", role: "alert" });
    const el = h("section", { class: "alarm-list", "aria-labelledby": "alarms-h" },
        h("h2", { id: "alarms-h", text: "Alarms" }),
        h("div", { class: "table-wrap" }, h("table", { class: "alarms" },
            h("thead", {}, h("tr", {}, ...["Priority", "Alarm", "State", "Since", "Message", ""].map((t) =>
                h("th", { scope: "col", text: t })))),
            body)),
        err);
    function button(a, verb, text, bodyArgs) {
        const b = h("button", { type: "button", class: verb, text });
        b.addEventListener("click", () => run(book, a, verb, bodyArgs, err));
        return b;
    }
    function render() {
        const list = book.list(twin);
        body.replaceChildren(...list.map((a) => h("tr", { "data-alarm": a.id, "data-state": a.state,
            class: `p-${a.priority}${a.unacknowledged ? " unack" : ""}` },
        h("td", {}, h("span", { class: `prio p-${a.priority}`, text: a.priority })),
        h("th", { scope: "row" }, a.rule, a.first_out ? h("span", { class: "first-out", text: "first out" }) : null),
        h("td", { class: "state", text: STATE_TEXT[a.state] || a.state }),
        h("td", { text: when(a.since) }),
        h("td", { text: a.message || "" }),
        h("td", { class: "actions" },
            /* a read-only plant view shows the cells' alarms without commands */
            readOnly ? null :
            a.unacknowledged ? button(a, "ack", "Acknowledge", {}) : null,
            readOnly ? null : a.state === "shelved" ? button(a, "unshelve", "Unshelve", {})
                : a.state !== "suppressed" && a.state !== "out_of_service"
                    ? button(a, "shelve", "Shelve 30 min", { duration_ms: SHELVE_MS }) : null))));
        if (!list.length) body.append(h("tr", { class: "none" }, h("td", { colspan: "6", text: "No alarms." })));
    }
    const off = book.on(render);
    render();
    return { el, close: off };
}

/** Keeps book live while the client is signed in: start() loads it and
 *  follows its own event stream (reloading after each (re)connection, as a
 *  gap may have lost transitions), stop() ends that and empties it. */
export function alarmSession(book) {
    let stream = null;
    return {
        start() {
            if (stream) return;
            book.load().catch(() => {});
            stream = openEvents({}, (type, d) => book.apply(type, d), (s) => {
                if (s === "live") book.load().catch(() => {});
            });
        },
        stop() {
            if (stream) stream.close();
            stream = null;
            book.items.clear();
            book.emit();
        },
    };
}

/** Each machine's unacknowledged alarms on the overview: a count in the
 *  colour of the most urgent, in the card's alarm slot (else its link),
 *  kept up to date as the book and the list of cards change. Returns a
 *  function that stops it. */
export function overviewCounts(book, listEl) {
    function counts() {
        for (const li of listEl.querySelectorAll(".twin-item[data-twin]")) {
            let pill = li.querySelector(".alarm-count");
            if (!pill) {
                pill = h("span", { class: "pill alarm-count" });
                (li.querySelector('[data-slot="alarms"]') || li.querySelector("a") || li).append(pill);
            }
            const list = book.list(li.dataset.twin).filter((a) => a.unacknowledged);
            pill.hidden = !list.length;
            pill.dataset.unacked = String(list.length);
            pill.className = `pill alarm-count${list.length ? " p-" + list[0].priority : ""}`;
            pill.textContent = `${list.length} unacknowledged`;
        }
    }
    const mo = new MutationObserver(counts);
    mo.observe(listEl, { childList: true });
    const off = book.on(counts);
    counts();
    return () => { mo.disconnect(); off(); };
}
