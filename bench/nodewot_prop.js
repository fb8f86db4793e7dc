/* nodewot_prop.js - the Eclipse Thingweb node-wot reference of `make bench`:
 * one Thing serving one readable property over HTTP (binding-http), on
 * loopback. Usage: node bench/nodewot_prop.js PORT
 * Prints "ready URL" on stdout once the property can be read. Uses the
 * node-wot packages installed for the tests (tests/node_modules). */
"use strict";
const path = require("path");
const nm = path.join(__dirname, "..", "tests", "node_modules");
const { Servient } = require(path.join(nm, "@node-wot", "core"));
const { HttpServer } = require(path.join(nm, "@node-wot", "binding-http"));

const port = parseInt(process.argv[2] || "18090", 10);
const servient = new Servient();
servient.addServer(new HttpServer({ port, address: "127.0.0.1" }));
servient.start().then(async (WoT) => {
    const thing = await WoT.produce({
        title: "bench",
        properties: { p: { type: "number", observable: true, readOnly: true } },
    });
    let v = 42;
    thing.setPropertyReadHandler("p", async () => v);
    await thing.expose();
    console.log(`ready http://127.0.0.1:${port}/bench/properties/p`);
});
process.on("SIGTERM", () => process.exit(0));
