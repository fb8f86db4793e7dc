// Alarms (ISA-18.2) as gatewayd serves them (docs/api.md "Alarms"): the
// list (GET /api/v1/alarms), every life-cycle transition (SSE "alarm"
// events, each with the alarm's full state) and the operator's commands.
// Shared by the dashboard and the hologram, so both show the same book.
import { api } from "./api.js";

export const PRIORITY_ORDER = ["critical", "high", "medium", "low"];

/* Most urgent first: priority, unacknowledged before acknowledged, newest
 * (the gateway's own order, kept while events arrive). */
function compare(a, b) {
    const pa = PRIORITY_ORDER.indexOf(a.priority), pb = PRIORITY_ORDER.indexOf(b.priority);
    if (pa !== pb) return pa - pb;
    if (!!a.unacknowledged !== !!b.unacknowledged) return a.unacknowledged ? -1 : 1;
    if (a.since !== b.since) return (b.since || 0) - (a.since || 0);
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The alarms that are not normal, kept live. */
export class AlarmBook {
    constructor() {
        this.items = new Map(); // "TWIN:RULE" -> alarm state
        this.listeners = new Set();
    }

    on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

    emit() { for (const fn of this.listeners) fn(this); }

    /** Replaces the book with the gateway's list. */
    async load() {
        const d = await api("GET", "/api/v1/alarms");
        this.items.clear();
        for (const a of d?.items || []) if (a.id) this.items.set(a.id, a);
        this.emit();
    }

    /** One SSE event; true when it was an alarm transition. */
    apply(type, d) {
        if (type !== "alarm" || !d || typeof d.alarm !== "object" || !d.alarm.id) return false;
        const a = d.alarm;
        if (a.state === "normal") this.items.delete(a.id);
        else this.items.set(a.id, a);
        this.emit();
        return true;
    }

    list(twin) {
        return [...this.items.values()].filter((a) => !twin || a.twin === twin).sort(compare);
    }

    /** The most urgent unacknowledged alarm, or null. */
    top() { return this.list().find((a) => a.unacknowledged) || null; }

    unacked(twin) { return this.list(twin).filter((a) => a.unacknowledged).length; }

    /** ack, shelve ({duration_ms}), unshelve, out-of-service, in-service;
     *  resolves with the alarm's new state (also applied at once). */
    async command(id, verb, body = {}) {
        const a = await api("POST", `/api/v1/alarms/${id}/${verb}`, body);
        if (a && a.id) {
            if (a.state === "normal") this.items.delete(a.id);
            else this.items.set(a.id, a);
            this.emit();
        }
        return a;
    }
}
