#!/usr/bin/env node
// validate-schema.mjs - validate JSON documents against a JSON Schema with
// ajv (an independent implementation from the C code under test).
//   node tests/tools/validate-schema.mjs SCHEMA.json DOC.json [DOC.json ...]
//   node tests/tools/validate-schema.mjs SCHEMA.json -     (one doc on stdin)
// Exit 0 when every document is valid; 1 with the errors on stderr; 2 on
// usage or I/O errors.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Ajv = require('ajv').default;
const addFormats = require('ajv-formats').default;

const [schemaPath, ...docs] = process.argv.slice(2);
if (!schemaPath || docs.length === 0) {
  console.error('usage: validate-schema.mjs SCHEMA DOC...');
  process.exit(2);
}

function load(path) {
  const text = path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  return JSON.parse(text);
}

let validate;
try {
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false,
                        allowUnionTypes: true });
  addFormats(ajv);
  validate = ajv.compile(load(schemaPath));
} catch (e) {
  console.error(`${schemaPath}: bad schema: ${e.message}`);
  process.exit(2);
}

let bad = 0;
for (const path of docs) {
  let doc;
  try {
    doc = load(path);
  } catch (e) {
    console.error(`${path}: ${e.message}`);
    process.exit(2);
  }
  if (validate(doc)) {
    console.log(`${path}: valid`);
  } else {
    bad++;
    for (const err of validate.errors)
      console.error(`${path}: ${err.instancePath || '/'} ${err.message} ${JSON.stringify(err.params)}`);
  }
}
process.exit(bad ? 1 : 0);
