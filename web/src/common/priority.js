// Alarm priorities (ISA-18.2: critical, high, medium, low) and their
// colours, defined once. The dashboard's CSS custom properties
// (--alarm-critical ... in dashboard/app.css) carry the same values for
// HTML; this module is for canvases (the hologram's panels) and for
// mapping a rule to a priority. High-performance HMI practice (ISA-101):
// colour means "abnormal", so nothing in a normal state uses these.

export const PRIORITIES = ["critical", "high", "medium", "low"];

/* bg: the fill of a chip or band; fg: text on it; text: the colour for a
 * value drawn on a dark background. Keep in sync with app.css. */
export const PRIORITY_COLORS = {
    critical: { bg: "#d7261e", fg: "#ffffff", text: "#ff5a4f" },
    high: { bg: "#f28c00", fg: "#1a1000", text: "#ffa53a" },
    medium: { bg: "#f2d200", fg: "#1a1600", text: "#ffe033" },
    low: { bg: "#8a63d2", fg: "#ffffff", text: "#b79cff" },
};

/* The twin model's rule severities until rules carry a priority
 * (issue 15): critical stays critical, a warning is high, info is low. */
const FROM_SEVERITY = { critical: "critical", alarm: "critical", error: "critical", warning: "high", info: "low" };

/** The priority of a rule, alarm or limit: its own `priority` when it has
 *  one, else from its severity. */
export function priorityOf(r) {
    const p = r?.priority;
    if (PRIORITIES.includes(p)) return p;
    return FROM_SEVERITY[r?.severity] ?? "high";
}

/** The most urgent priority among rules/alarms, or null for none. */
export function topPriority(list) {
    let best = null;
    for (const r of list || []) {
        const p = priorityOf(r);
        if (best === null || PRIORITIES.indexOf(p) < PRIORITIES.indexOf(best)) best = p;
    }
    return best;
}
