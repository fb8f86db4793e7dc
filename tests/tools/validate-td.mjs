// validate-td.mjs - validate W3C WoT Thing Descriptions with the W3C TD
// playground's validator (@thing-description-playground/core), offline:
// JSON-LD expansion (which fetches the TD context) and TM-conformance
// checks (which fetch linked models) are off.
//
//   node tests/tools/validate-td.mjs FILE... (or - for stdin)
//
// Prints one line per TD ("ok FILE" or "FAIL FILE: reason") and exits 0
// only when every TD passed the JSON, JSON Schema and additional
// assertions. Warnings (defaults not spelled out) are printed, not fatal.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const { tdValidator } = require('@thing-description-playground/core');

const files = process.argv.slice(2);
if (files.length === 0) {
    console.error('usage: validate-td.mjs FILE... (- for stdin)');
    process.exit(2);
}

let failed = 0;
for (const f of files) {
    let text;
    try {
        text = readFileSync(f === '-' ? 0 : f, 'utf8');
    } catch (e) {
        console.log(`FAIL ${f}: cannot read: ${e.message}`);
        failed++;
        continue;
    }
    const log = [];
    const { report, details } = await tdValidator(text, (m) => log.push(String(m)),
        { checkDefaults: true, checkJsonLd: false, checkTmConformance: false });
    const bad = [];
    for (const k of ['json', 'schema', 'additional'])
        if (report[k] !== 'passed' && report[k] !== 'warning')
            bad.push(`${k}=${report[k]}`);
    if (report.additional === 'warning' || report.additional === 'failed')
        for (const [k, v] of Object.entries(details))
            if (v === 'failed' || v === 'warning') bad.push(`${k}=${v}`);
    const failedDetails = Object.entries(details).filter(([, v]) => v === 'failed');
    if (bad.length && (report.json !== 'passed' || report.schema !== 'passed' ||
                       failedDetails.length)) {
        console.log(`FAIL ${f}: ${bad.join(', ')}\n  ${log.join('\n  ')}`);
        failed++;
    } else {
        const warn = report.defaults === 'warning' ? ' (defaults: warning)' : '';
        console.log(`ok ${f}${warn}${bad.length ? ' ' + bad.join(', ') : ''}`);
    }
}
process.exit(failed ? 1 : 0);
