// gw-wot-client.mjs - Eclipse Thingweb node-wot as a third-party WoT
// consumer of the gateway: fetch a device's TD from the gateway's directory,
// consume it with the HTTP binding (bearer token), read a property, write
// it, and read it back.
//
//   node tests/tools/gw-wot-client.mjs BASE_URL TOKEN DEVICE_ID PROPERTY VALUE_JSON
//
// Prints "read <v>", "wrote <v>", "read-back <v>" and exits 0 only when the
// read-back equals the written value.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Servient } = require('@node-wot/core');
const { HttpClientFactory } = require('@node-wot/binding-http');

const [base, token, id, prop, valueJson] = process.argv.slice(2);
if (!valueJson) {
    console.error('usage: gw-wot-client.mjs BASE TOKEN ID PROPERTY VALUE_JSON');
    process.exit(2);
}
const value = JSON.parse(valueJson);

const res = await fetch(`${base}/things/${id}`, {
    headers: { Authorization: `Bearer ${token}` },
});
if (!res.ok) {
    console.error(`GET /things/${id}: ${res.status}`);
    process.exit(1);
}
const td = await res.json();

const servient = new Servient();
servient.addClientFactory(new HttpClientFactory(null));
servient.addCredentials({ [td.id]: { token } });
const WoT = await servient.start();
let rc = 1;
try {
    const thing = await WoT.consume(td);
    const before = await (await thing.readProperty(prop)).value();
    console.log(`read ${JSON.stringify(before)}`);
    await thing.writeProperty(prop, value);
    console.log(`wrote ${JSON.stringify(value)}`);
    const after = await (await thing.readProperty(prop)).value();
    console.log(`read-back ${JSON.stringify(after)}`);
    rc = JSON.stringify(after) === JSON.stringify(value) ? 0 : 1;
} catch (e) {
    console.error(`node-wot: ${e && e.stack ? e.stack : e}`);
} finally {
    await servient.shutdown();
}
process.exit(rc);
