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
// be refused. The MQTT forms (mqtts://, form-level "mqtt_sc": basic) use
// the broker account in ACCOUNT.json (`gwctl accounts add -o`: user name,
// password, the gateway's CA); a consumer without it must be refused by
// the broker.
//
//   node tests/tools/wot-consume-all.mjs BASE_URL TOKEN ACCOUNT.json [BOARDS]
//
// BOARDS: the demo's directory of board control sockets (ID.sock): a
// board input nothing can write (a button, a knob) is pressed or turned
// there, as a person would, so that its MQTT observation gets a value
// (boards publish on change).
//
// node-wot 0.9 applies the TD's security only to the client it caches
// for a scheme, while an operation with a formIndex takes a new client
// from the factory each time: each such operation therefore runs on a
// freshly consumed thing (one per operation, or per subscription).
//
// Prints one line per operation ("ok <op> <thing> <affordance> #<form>")
// and a "not-exercised <scheme> <thing> <affordance> #<form> <op>" line for
// each operation of a form that was not used: a failure (never silent).
// Exits 0 only when every operation of every form succeeded: reads
// validate against the TD's data schema (node-wot checks), writes are read
// back, each written value arrives on each of the property's observations
// (SSE and MQTT), and every event of a twin whose state the writes changed
// was delivered.
//
// node-wot 0.9.2 with @node-wot/binding-mqtt 0.8.16 (the newest on npm),
// two limits worked around here, each asserted so that a fixed node-wot
// shows up (docs/api.md "MQTT forms"):
// - for a form-level security scheme, ConsumedThing.ensureClientSecurity
//   passes servient.retrieveCredentials(id), an array, and MqttClient's
//   setSecurity reads credentials.username from it (undefined): the
//   consumer would connect without a user name. The client is given the
//   first credentials of the array.
// - the factories make a new MqttClient, hence a new connection, per
//   operation with a formIndex, while the broker makes the account name
//   the client id (a second connection replaces the first): this
//   consumer shares one client per scheme (one connection).
import { existsSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Servient, ContentSerdes } = require('@node-wot/core');
const { HttpClientFactory } = require('@node-wot/binding-http');
const { MqttClientFactory, MqttsClientFactory } = require('@node-wot/binding-mqtt');

const [base, token, accountFile, boards] = process.argv.slice(2);
if (!accountFile) {
    console.error('usage: wot-consume-all.mjs BASE TOKEN ACCOUNT.json');
    process.exit(2);
}
const account = JSON.parse(readFileSync(accountFile, 'utf8')).mqtt;
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
const isHttp = (f) => /^https?$/.test(scheme(f));
const isMqtt = (f) => /^mqtts?$/.test(scheme(f));
// Every (form, op) that was used successfully, for the final check.
const done = new Set();
const key = (tid, kind, name, i, op) => `${tid} ${kind} ${name} #${i} ${op}`;
const did = (tid, kind, name, i, op) => done.add(key(tid, kind, name, i, op));
const same = (a, b) =>
    typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) < 1e-6 : JSON.stringify(a) === JSON.stringify(b);

// One line to a board's control socket; its one-line answer.
function boardSay(dev, line) {
    return new Promise((resolve, reject) => {
        const c = createConnection(`${boards}/${dev}.sock`);
        let got = '';
        c.on('data', (d) => {
            got += d;
            if (got.includes('\n')) {
                c.end();
                resolve(got.trim());
            }
        });
        c.on('error', reject);
        c.write(`${line}\n`);
    });
}

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

// Codecs of the MQTT forms' content types, as a consumer that knows them
// has: a sample {"v","ts","seq"} and a command {"v"} carry the value in
// v; a twin's state holds the value of the form's property (media type
// parameter "property") in properties[NAME].value.
class EnvelopeCodec {
    constructor(type, get) {
        this.type = type;
        this.get = get;
    }
    getMediaType() {
        return this.type;
    }
    bytesToValue(bytes, schema, par) {
        return this.get(JSON.parse(Buffer.from(bytes).toString('utf8')), par || {});
    }
    valueToBytes(value) {
        return Buffer.from(JSON.stringify({ v: value }));
    }
}
const serdes = ContentSerdes.get();
serdes.addCodec(new EnvelopeCodec('application/vnd.holotwin.sample+json', (d) => d.v));
serdes.addCodec(new EnvelopeCodec('application/vnd.holotwin.command+json', (d) => d.v));
serdes.addCodec(
    new EnvelopeCodec('application/vnd.holotwin.twin-state+json', (d, par) => d.properties?.[par.property]?.value)
);

// A client factory that hands out one MQTT client (one connection), given
// the first of the credentials node-wot passes (see above); stock: the
// factory as node-wot has it, for the limit checks.
function mqttFactory(Factory, stock) {
    const opts = { ca: account.ca, reconnectPeriod: stock ? 0 : 1000 };
    const f = new Factory(opts);
    if (stock) return f;
    let client;
    return {
        scheme: f.scheme,
        getClient() {
            if (client) return client;
            client = f.getClient();
            const set = client.setSecurity.bind(client);
            client.setSecurity = (m, c) => set(m, Array.isArray(c) ? c[0] : c);
            return client;
        },
        init: () => f.init(),
        destroy: () => f.destroy(),
    };
}
function addFactories(s, stock) {
    s.addClientFactory(new HttpClientFactory(null));
    s.addClientFactory(mqttFactory(MqttClientFactory, stock));
    s.addClientFactory(mqttFactory(MqttsClientFactory, stock));
}

const res = await fetch(`${base}/things?limit=1000`, { headers: auth });
if (!res.ok) {
    console.error(`GET /things: ${res.status}`);
    process.exit(1);
}
const tds = await res.json();
console.log(`directory: ${tds.length} TDs`);

const servient = new Servient();
addFactories(servient, false);
const creds = { token, username: account.username, password: account.password };
for (const td of tds) servient.addCredentials({ [td.id]: creds });
const WoT = await servient.start();

// The MQTT forms need the broker account: a consumer with only the bearer
// token is refused by the broker, and so is, today, node-wot's own MQTT
// client given the account (the credentials array above).
{
    const twinTd = tds.find((td) => td.id.startsWith('urn:holotwin:twin:'));
    const name = Object.keys(twinTd.properties)[0];
    const fi = twinTd.properties[name].forms.findIndex((f) => isMqtt(f) && ops(f).includes('readproperty'));
    for (const [what, c, stock] of [
        ['refused-no-mqtt-account', { token }, false],
        ['limit-mqtt-form-credentials', creds, true],
    ]) {
        const s = new Servient();
        addFactories(s, stock);
        s.addCredentials({ [twinTd.id]: c });
        const W = await s.start();
        try {
            const t = await W.consume(twinTd);
            await (await t.readProperty(name, { formIndex: fi })).value();
            fail(`${what} ${twinTd.id} ${name} #${fi}`, 'the broker did not refuse');
        } catch (e) {
            if (/[Nn]ot authorized|[Bb]ad user name or password/.test(why(e))) ok(what, `${twinTd.id} ${name} #${fi}: ${why(e)}`);
            else fail(`${what} ${twinTd.id} ${name} #${fi}`, e);
        }
        await s.shutdown();
    }
}

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
        for (const [i, f] of e.forms.entries()) {
            if (!isHttp(f) || !ops(f).includes('subscribeevent')) continue;
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
                did(tid, 'event', name, i, 'subscribeevent');
                ok('subscribeevent', `${tid} ${name} #${i}`);
            } catch (err) {
                fail(`subscribeevent ${tid} ${name} #${i}`, err);
            }
        }
    }

    for (const [name, p] of Object.entries(td.properties)) {
        const forms = p.forms;
        let current;
        // HTTP forms and the MQTT ones on a retained topic (a twin's state).
        for (const [i, f] of forms.entries()) {
            if (!(isHttp(f) || isMqtt(f)) || !ops(f).includes('readproperty')) continue;
            try {
                const v = await (await (await fresh()).readProperty(name, { formIndex: i })).value();
                if (current === undefined || isHttp(f)) current = v;
                did(tid, 'property', name, i, 'readproperty');
                ok('readproperty', `${tid} ${name} #${i} = ${JSON.stringify(v)}`);
            } catch (err) {
                fail(`readproperty ${tid} ${name} #${i}`, err);
            }
        }
        // Observe on every observe form (SSE and MQTT), then write through
        // every write form: each written value must arrive on each
        // observation.
        const observed = [];
        for (const [i, f] of forms.entries()) {
            if (!(isHttp(f) || isMqtt(f)) || !ops(f).includes('observeproperty')) continue;
            const seen = [];
            try {
                const sub = await (await fresh()).observeProperty(
                    name,
                    async (out) => seen.push(await out.value()),
                    (err) => fail(`observe ${tid} ${name} #${i}`, err),
                    { formIndex: i }
                );
                observed.push({ sub, seen, i, f });
                did(tid, 'property', name, i, 'observeproperty');
                ok('observeproperty', `${tid} ${name} #${i}`);
            } catch (err) {
                fail(`observeproperty ${tid} ${name} #${i}`, err);
            }
        }
        for (const [i, f] of forms.entries()) {
            if (!isHttp(f) || !ops(f).includes('writeproperty')) continue;
            const v = another(p, current);
            for (const o of observed) o.mark = o.seen.length;
            try {
                await (await fresh()).writeProperty(name, v, { formIndex: i });
                did(tid, 'property', name, i, 'writeproperty');
                ok('writeproperty', `${tid} ${name} #${i} := ${JSON.stringify(v)}`);
                if (isTwin) changedTwins.add(tid);
            } catch (err) {
                fail(`writeproperty ${tid} ${name} #${i} := ${JSON.stringify(v)}`, err);
                continue;
            }
            // A twin's MQTT state is a snapshot (coalesced): a value its
            // rules drive back at once (the alarm lamp) may never show
            // there, so that observation may also end on what HTTP reads.
            const httpRead = forms.findIndex((g) => isHttp(g) && ops(g).includes('readproperty'));
            for (const o of observed)
                await until(`observed ${tid} ${name} #${o.i} = ${JSON.stringify(v)}`, async () => {
                    if (o.seen.slice(o.mark).some((x) => same(x, v))) return true;
                    if (!(isTwin && isMqtt(o.f)) || !o.seen.length) return false;
                    const r = await (await (await fresh()).readProperty(name, { formIndex: httpRead })).value();
                    return same(r, o.seen[o.seen.length - 1]);
                }, 10000);
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
        // A property nothing wrote here (a sensor) still delivers values on
        // its MQTT observation (a twin's retained state at once); a board
        // input publishes on change: press or turn it.
        for (const o of observed) {
            if (!isMqtt(o.f)) continue;
            const dev = tid.split(':').pop();
            const types = [].concat(p['@type'] || []);
            const button = types.includes('ht:Button'), knob = types.includes('ht:Position');
            if (!isTwin && (button || knob) && boards && existsSync(`${boards}/${dev}.sock`)) {
                await sleep(200);
                if (!o.seen.length) {
                    const say = button ? ['press', 'release'] : ['turn', 'turn'];
                    const arg = button ? ['', ''] : [' 1', ' -1'];
                    for (let k = 0; k < 2; k++) {
                        const a = await boardSay(dev, `${say[k]} ${name}${arg[k]}`);
                        if (!a.startsWith('ok')) fail(`${say[k]} ${dev} ${name}`, a);
                        await until(`a value on ${tid} ${name} #${o.i} after ${say[k]}`, () => o.seen.length > k, 10000);
                    }
                }
            }
            await until(`a value on ${tid} ${name} #${o.i}`, () => o.seen.length > 0, 10000);
        }
        for (const o of observed) {
            try {
                await o.sub.stop({ formIndex: o.i });
                did(tid, 'property', name, o.i, 'unobserveproperty');
                ok('unobserveproperty', `${tid} ${name} #${o.i} (${o.seen.length} values)`);
            } catch (err) {
                fail(`unobserveproperty ${tid} ${name} #${o.i}`, err);
            }
        }
    }

    for (const [name, a] of Object.entries(td.actions || {})) {
        for (const [i, f] of a.forms.entries()) {
            if (!isHttp(f)) continue;
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
                did(tid, 'action', name, i, 'invokeaction');
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
            did(tid, 'event', name, i, 'unsubscribeevent');
            ok('unsubscribeevent', `${tid} ${name} #${i}`);
        } catch (err) {
            fail(`unsubscribeevent ${tid} ${name} #${i}`, err);
        }
    }
}

await servient.shutdown();

// Every operation of every form was used: anything left is a failure.
for (const td of tds)
    for (const [kind, set] of [
        ['property', td.properties],
        ['action', td.actions],
        ['event', td.events],
    ])
        for (const [name, a] of Object.entries(set || {}))
            for (const [i, f] of a.forms.entries())
                for (const op of ops(f)) {
                    if (done.has(key(td.id, kind, name, i, op))) continue;
                    skipped[scheme(f)] = (skipped[scheme(f)] || 0) + 1;
                    console.log(`not-exercised ${scheme(f)} ${td.id} ${kind} ${name} #${i} ${op}`);
                    failures.push(`not exercised: ${scheme(f)} ${td.id} ${kind} ${name} #${i} ${op}`);
                }
console.log(
    `summary: ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ')}; ` +
        `not-exercised: ${Object.entries(skipped).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}; ` +
        `failures=${failures.length}`
);
process.exit(failures.length ? 1 : 0);
