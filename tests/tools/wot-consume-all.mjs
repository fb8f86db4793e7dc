// wot-consume-all.mjs - Eclipse Thingweb node-wot (0.9) as a third-party
// WoT consumer of every TD in the gateway's directory: each form of each
// affordance is used through node-wot with its formIndex, for the
// operations the form declares:
//   properties: readproperty, writeproperty, observeproperty,
//               unobserveproperty, and readAllProperties per thing;
//   actions:    invokeaction;
//   events:     subscribeevent, unsubscribeevent.
// Authentication is on: the consumer holds a bearer token (credentials by
// TD id); SSE forms work with the ticket in their href, as node-wot's
// EventSource sends no header. A first consumer without credentials must
// be refused.
//
//   node tests/tools/wot-consume-all.mjs BASE_URL TOKEN
//
// node-wot 0.9 applies the TD's security only to the client it caches
// for a scheme, while an operation with a formIndex takes a new client
// from the factory each time: each such operation therefore runs on a
// freshly consumed thing (one per operation, or per subscription).
//
// Prints one line per operation ("ok <op> <thing> <affordance> #<form>")
// and, for forms of a protocol node-wot is not given a binding for here,
// "not-exercised <scheme> ..." lines (counted in the summary: never
// silent). Exits 0 only when every exercised operation succeeded: reads
// validate against the TD's data schema (node-wot checks), writes are read
// back, each written value arrives on the property's observation, and
// every event of a twin whose state the writes changed was delivered.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Servient } = require('@node-wot/core');
const { HttpClientFactory } = require('@node-wot/binding-http');

const [base, token] = process.argv.slice(2);
if (!token) {
    console.error('usage: wot-consume-all.mjs BASE TOKEN');
    process.exit(2);
}
const auth = { Authorization: `Bearer ${token}` };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const failures = [];
const counts = {};
const skipped = {};
const why = (e) => (e && e.message ? e.message : typeof e === 'object' ? JSON.stringify(e) : String(e));
const fail = (what, e) => {
    failures.push(`${what}: ${why(e)}`);
    console.log(`FAIL ${what}: ${why(e)}`);
};
const ok = (op, what) => {
    counts[op] = (counts[op] || 0) + 1;
    console.log(`ok ${op} ${what}`);
};
const ops = (f) => (Array.isArray(f.op) ? f.op : [f.op]);
const scheme = (f) => new URL(f.href.replace(/\{[^}]*\}/g, 'x')).protocol.replace(':', '');
const same = (a, b) =>
    typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) < 1e-6 : JSON.stringify(a) === JSON.stringify(b);

async function until(what, cond, ms) {
    for (let t = 0; t < ms; t += 50) {
        if (await cond()) return true;
        await sleep(50);
    }
    fail(what, `not within ${ms} ms`);
    return false;
}

// A value other than cur that the property's schema accepts.
function another(p, cur) {
    if (p.type === 'boolean') return !cur;
    if (p.enum) return p.enum.find((v) => v !== cur) ?? p.enum[0];
    if (p.type === 'integer' || p.type === 'number') {
        const lo = p.minimum ?? 0, hi = p.maximum ?? lo + 100;
        let v = Math.round((lo + hi) / 2);
        if (same(v, cur)) v = Math.round(lo + (hi - lo) / 4);
        if (p.multipleOf) v = Math.round(v / p.multipleOf) * p.multipleOf;
        return v;
    }
    return `${cur}x`;
}

const res = await fetch(`${base}/things?limit=1000`, { headers: auth });
if (!res.ok) {
    console.error(`GET /things: ${res.status}`);
    process.exit(1);
}
const tds = await res.json();
console.log(`directory: ${tds.length} TDs`);

const servient = new Servient();
servient.addClientFactory(new HttpClientFactory(null));
for (const td of tds) servient.addCredentials({ [td.id]: { token } });
const WoT = await servient.start();

// Auth is on: a consumer with a wrong token is refused, on a plain form
// and on an SSE form whose ticket was altered.
{
    const anon = new Servient();
    anon.addClientFactory(new HttpClientFactory(null));
    for (const td of tds) anon.addCredentials({ [td.id]: { token: 'ht_not_a_token' } });
    const W = await anon.start();
    const td = tds[0];
    const name = Object.keys(td.properties)[0];
    try {
        const t = await W.consume(td);
        await (await t.readProperty(name)).value();
        fail(`readproperty with a wrong token ${td.id} ${name}`, 'was not refused');
    } catch (e) {
        if (/Client error: Unauthorized/.test(String(e))) ok('refused-wrong-token', `${td.id} ${name}`);
        else fail(`readproperty with a wrong token ${td.id}`, e);
    }
    const bad = structuredClone(td);
    const f = bad.properties[name].forms.find((x) => x.subprotocol === 'sse');
    f.href = f.href.replace(/access_token=t1\.(\d+)\.(.)/, (m, e, c) => `access_token=t1.${e}.${c === '0' ? '1' : '0'}`);
    try {
        const t = await W.consume(bad);
        const sub = await t.observeProperty(name, () => {}, () => {}, {
            formIndex: bad.properties[name].forms.indexOf(f),
        });
        await sub.stop();
        fail(`observeproperty with an altered ticket ${td.id} ${name}`, 'was not refused');
    } catch (e) {
        ok('refused-altered-ticket', `${td.id} ${name}`);
    }
    await anon.shutdown();
}

// Twins whose events must show up: those whose properties we write.
const eventsSeen = {};
const changedTwins = new Set();

// The gateway learns that an event stream was closed at its next
// keep-alive (every 15 s) and counts it against
// http.max_connections_per_ip (32) until then: before each thing, wait
// until the streams of the previous ones leave room for this one's
// (events + one observation at a time + those closed meanwhile).
async function sseClients() {
    const r = await fetch(`${base}/metrics`, { headers: auth });
    const m = /^holotwin_sse_clients (\d+)/m.exec(await r.text());
    return m ? Number(m[1]) : Infinity;
}

for (const td of tds) {
    const thing = await WoT.consume(td);
    const fresh = () => WoT.consume(td);
    const tid = td.id;
    const isTwin = tid.startsWith('urn:holotwin:twin:');
    await until(`the event streams of the things before ${tid} to close`, async () => (await sseClients()) <= 8, 20000);

    try {
        const all = await thing.readAllProperties();
        for (const [n, out] of all) await out.value();
        ok('readallproperties', `${tid} (${all.size} properties)`);
    } catch (err) {
        fail(`readallproperties ${tid}`, err);
    }

    // Events first, so that the writes below are seen.
    const eventSubs = [];
    for (const [name, e] of Object.entries(td.events || {})) {
        e.forms.forEach((f, i) => {
            if (scheme(f) !== 'http' && scheme(f) !== 'https') {
                skipped[scheme(f)] = (skipped[scheme(f)] || 0) + ops(f).length;
                console.log(`not-exercised ${scheme(f)} ${tid} event ${name} #${i}`);
            }
        });
        for (const [i, f] of e.forms.entries()) {
            if (!/^https?$/.test(scheme(f)) || !ops(f).includes('subscribeevent')) continue;
            try {
                const sub = await (await fresh()).subscribeEvent(
                    name,
                    async (out) => {
                        const v = await out.value();
                        (eventsSeen[tid] ||= []).push(name);
                        console.log(`event ${tid} ${name} ${JSON.stringify(v)}`);
                    },
                    (err) => fail(`event ${tid} ${name}`, err),
                    { formIndex: i }
                );
                eventSubs.push([sub, name, i]);
                ok('subscribeevent', `${tid} ${name} #${i}`);
            } catch (err) {
                fail(`subscribeevent ${tid} ${name} #${i}`, err);
            }
        }
    }

    for (const [name, p] of Object.entries(td.properties)) {
        const forms = p.forms;
        let current;
        for (const [i, f] of forms.entries()) {
            if (!/^https?$/.test(scheme(f))) {
                skipped[scheme(f)] = (skipped[scheme(f)] || 0) + ops(f).length;
                console.log(`not-exercised ${scheme(f)} ${tid} ${name} #${i} ${ops(f).join(',')}`);
                continue;
            }
            if (!ops(f).includes('readproperty')) continue;
            try {
                current = await (await (await fresh()).readProperty(name, { formIndex: i })).value();
                ok('readproperty', `${tid} ${name} #${i} = ${JSON.stringify(current)}`);
            } catch (err) {
                fail(`readproperty ${tid} ${name} #${i}`, err);
            }
        }
        // Observe on every observe form, then write through every write
        // form: each written value must arrive on each observation.
        const observed = [];
        for (const [i, f] of forms.entries()) {
            if (!/^https?$/.test(scheme(f)) || !ops(f).includes('observeproperty')) continue;
            const seen = [];
            try {
                const sub = await (await fresh()).observeProperty(
                    name,
                    async (out) => seen.push(await out.value()),
                    (err) => fail(`observe ${tid} ${name} #${i}`, err),
                    { formIndex: i }
                );
                observed.push({ sub, seen, i, f });
                ok('observeproperty', `${tid} ${name} #${i}`);
            } catch (err) {
                fail(`observeproperty ${tid} ${name} #${i}`, err);
            }
        }
        for (const [i, f] of forms.entries()) {
            if (!/^https?$/.test(scheme(f)) || !ops(f).includes('writeproperty')) continue;
            const v = another(p, current);
            try {
                await (await fresh()).writeProperty(name, v, { formIndex: i });
                ok('writeproperty', `${tid} ${name} #${i} := ${JSON.stringify(v)}`);
                if (isTwin) changedTwins.add(tid);
            } catch (err) {
                fail(`writeproperty ${tid} ${name} #${i} := ${JSON.stringify(v)}`, err);
                continue;
            }
            for (const o of observed)
                await until(`observed ${tid} ${name} #${o.i} = ${JSON.stringify(v)}`, () =>
                    o.seen.some((x) => same(x, v)), 10000);
            // Read back: the written value, or what the observation saw
            // last (a twin's rules may drive the output again, e.g. the
            // alarm lamp).
            const rf = forms.findIndex((g) => /^https?$/.test(scheme(g)) && ops(g).includes('readproperty'));
            await until(`read-back ${tid} ${name} = ${JSON.stringify(v)}`, async () => {
                const r = await (await (await fresh()).readProperty(name, { formIndex: rf })).value();
                return same(r, v) || observed.some((o) => o.seen.length && same(r, o.seen[o.seen.length - 1]));
            }, 10000);
            current = v;
        }
        for (const o of observed) {
            try {
                await o.sub.stop({ formIndex: o.i });
                ok('unobserveproperty', `${tid} ${name} #${o.i} (${o.seen.length} values)`);
            } catch (err) {
                fail(`unobserveproperty ${tid} ${name} #${o.i}`, err);
            }
        }
    }

    for (const [name, a] of Object.entries(td.actions || {})) {
        for (const [i, f] of a.forms.entries()) {
            if (!/^https?$/.test(scheme(f))) {
                skipped[scheme(f)] = (skipped[scheme(f)] || 0) + 1;
                console.log(`not-exercised ${scheme(f)} ${tid} action ${name} #${i}`);
                continue;
            }
            // The rule variable: an alarm of this twin that the action
            // applies to now (read from the REST API, as an operator would).
            const twin = tid.split(':').pop();
            const r = await fetch(`${base}/api/v1/alarms?twin=${twin}`, { headers: auth });
            const items = (await r.json()).items;
            const pick =
                name === 'acknowledge_alarm'
                    ? items.find((x) => x.unacknowledged)
                    : items.find((x) => x.state !== 'shelved' && x.state !== 'out_of_service');
            if (!pick) {
                fail(`invokeaction ${tid} ${name}`, 'no alarm to apply it to');
                continue;
            }
            const input = name === 'shelve_alarm' ? { duration_ms: 60000, note: 'node-wot' } : { note: 'node-wot' };
            try {
                const out = await (await fresh()).invokeAction(name, input, {
                    formIndex: i,
                    uriVariables: { rule: pick.rule },
                });
                const v = await out.value();
                ok('invokeaction', `${tid} ${name} #${i} rule=${pick.rule} -> ${JSON.stringify(v).slice(0, 80)}`);
            } catch (err) {
                fail(`invokeaction ${tid} ${name} #${i} rule=${pick.rule}`, err);
            }
        }
    }

    if (isTwin && changedTwins.has(tid) && Object.keys(td.events || {}).length && td.actions) {
        // The press line's writes above change its alarms and stability.
        await until(`an event of ${tid}`, () => (eventsSeen[tid] || []).length > 0, 15000);
    }
    for (const [sub, name, i] of eventSubs) {
        try {
            await sub.stop({ formIndex: i });
            ok('unsubscribeevent', `${tid} ${name} #${i}`);
        } catch (err) {
            fail(`unsubscribeevent ${tid} ${name} #${i}`, err);
        }
    }
}

await servient.shutdown();
console.log(
    `summary: ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ')}; ` +
        `not-exercised: ${Object.entries(skipped).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}; ` +
        `failures=${failures.length}`
);
process.exit(failures.length ? 1 : 0);
