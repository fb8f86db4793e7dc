// validate-aas.mjs - check Asset Administration Shell V3 environments
// (JSON) with aas-core3.0-typescript, the reference SDK of the AAS
// metamodel: de-serialisation (every class, modelType, required member and
// enumeration literal) and verification (every constraint of the
// metamodel, recursively), then a round trip: the SDK's own
// serialisation must equal the input (nothing was dropped as unknown).
//
//   node tests/tools/validate-aas.mjs FILE... (or - for stdin)
//
// Prints "ok FILE: N shells, M submodels" or "FAIL FILE: reason" lines
// and exits 0 only when every file passed.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const aas = require('@aas-core-works/aas-core3.0-typescript');

const files = process.argv.slice(2);
if (files.length === 0) {
    console.error('usage: validate-aas.mjs FILE... (- for stdin)');
    process.exit(2);
}

// Key-order-insensitive comparison of two JSON values.
function canon(v) {
    if (Array.isArray(v)) return v.map(canon);
    if (v && typeof v === 'object')
        return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]));
    return v;
}

let failed = 0;
for (const f of files) {
    let json;
    try {
        json = JSON.parse(readFileSync(f === '-' ? 0 : f, 'utf8'));
    } catch (e) {
        console.log(`FAIL ${f}: not JSON: ${e.message}`);
        failed++;
        continue;
    }
    const env = aas.jsonization.environmentFromJsonable(json);
    if (env.error !== null) {
        console.log(`FAIL ${f}: de-serialisation: ${env.error.path}: ${env.error.message}`);
        failed++;
        continue;
    }
    const errors = [];
    for (const e of aas.verification.verify(env.value)) {
        errors.push(`${e.path}: ${e.message}`);
        if (errors.length >= 20) break;
    }
    if (errors.length) {
        console.log(`FAIL ${f}: verification:\n  ${errors.join('\n  ')}`);
        failed++;
        continue;
    }
    const back = aas.jsonization.toJsonable(env.value);
    if (JSON.stringify(canon(back)) !== JSON.stringify(canon(json))) {
        console.log(`FAIL ${f}: the SDK's serialisation differs from the input (unknown members?)`);
        failed++;
        continue;
    }
    const shells = (json.assetAdministrationShells || []).length;
    const submodels = (json.submodels || []).length;
    console.log(`ok ${f}: ${shells} shells, ${submodels} submodels`);
}
process.exit(failed ? 1 : 0);
