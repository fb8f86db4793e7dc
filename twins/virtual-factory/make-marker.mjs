#!/usr/bin/env node
// Writes press-line-marker.png: the press line's anchor marker (printed
// 20 cm wide, see press-line.json "anchor"). A white quiet zone, a thick
// black frame and a 10 x 10 grid of black and white cells from a fixed
// seed: high contrast, many corners (what image trackers such as ARCore's
// and Vuforia's look for) and no symmetry, so the pose is unambiguous. The
// top-left cell is always black, to mark the orientation. Deterministic:
// running it again gives the same bytes. No dependencies (node:zlib).
import { deflateSync } from "node:zlib";
import { writeFileSync } from "node:fs";
import path from "node:path";

const SIZE = 600, QUIET = 30, FRAME = 50, CELLS = 10;
const inner = SIZE - 2 * (QUIET + FRAME), cell = inner / CELLS;
let seed = 0x5eed1234;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 1;
const grid = Array.from({ length: CELLS }, () => Array.from({ length: CELLS }, rnd));
grid[0][0] = 1;
grid[0][CELLS - 1] = 0;
grid[CELLS - 1][0] = 0;
grid[CELLS - 1][CELLS - 1] = 0;

function black(x, y) {
    if (x < QUIET || y < QUIET || x >= SIZE - QUIET || y >= SIZE - QUIET) return false;
    const fx = x - QUIET, fy = y - QUIET;
    if (fx < FRAME || fy < FRAME || fx >= SIZE - 2 * QUIET - FRAME || fy >= SIZE - 2 * QUIET - FRAME) return true;
    return grid[Math.floor((fy - FRAME) / cell)][Math.floor((fx - FRAME) / cell)] === 1;
}

/* greyscale, 8 bits, one filter byte per row */
const raw = Buffer.alloc((SIZE + 1) * SIZE);
for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) raw[y * (SIZE + 1) + 1 + x] = black(x, y) ? 0 : 255;

const CRC = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
function crc32(buf) { let c = 0xffffffff; for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; }
function chunk(type, data) {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
}
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(SIZE, 0); ihdr.writeUInt32BE(SIZE, 4);
ihdr[8] = 8; ihdr[9] = 0; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 9 })), chunk("IEND", Buffer.alloc(0))]);
const out = path.join(path.dirname(new URL(import.meta.url).pathname), "press-line-marker.png");
writeFileSync(out, png);
console.log(`${out}: ${png.length} bytes`);
