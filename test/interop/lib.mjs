// Shared helpers of the interop peers: the JSON-lines protocol the Go tests
// read, and deterministic payloads both sides can rebuild.

import { createHash } from 'node:crypto';

// emit writes one result for the Go test as a JSON line on stdout, with
// the milliseconds since the script started (ms) for diagnosis.
export function emit(obj) {
  process.stdout.write(JSON.stringify({ ...obj, ms: Math.round(performance.now()) }) + '\n');
}

// sha256 returns the hex SHA-256 of a buffer.
export function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

const MIXED = Buffer.from('tether ünïcødé ✓ 👋 — ', 'utf8');

// payload builds size bytes of a pattern:
//   repeat  compressible ASCII text;
//   mixed   valid UTF-8 with 2-, 3- and 4-byte characters (cut at a character
//           boundary, padded with "x");
//   random  pseudo-random bytes from seed (xorshift32), incompressible;
//   ascii   pseudo-random printable ASCII from seed.
export function payload(pattern, size, seed = 1) {
  const out = Buffer.alloc(size);
  switch (pattern) {
    case 'repeat': {
      const unit = Buffer.from('tether interop, again and again. ');
      for (let i = 0; i < size; i++) out[i] = unit[i % unit.length];
      return out;
    }
    case 'mixed': {
      for (let i = 0; i < size; i++) out[i] = MIXED[i % MIXED.length];
      // Do not end inside a character: find the last lead byte.
      let j = size - 1;
      while (j >= 0 && (out[j] & 0xc0) === 0x80) j--;
      if (j >= 0) {
        const lead = out[j];
        const need = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
        if (j + need > size) out.fill(0x78, j);
      }
      return out;
    }
    case 'random':
    case 'ascii': {
      let x = (seed * 2654435761) >>> 0 || 1;
      for (let i = 0; i < size; i++) {
        x ^= x << 13; x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5; x >>>= 0;
        out[i] = pattern === 'random' ? x & 0xff : 0x20 + (x % 95);
      }
      return out;
    }
  }
  throw new Error(`unknown payload pattern ${pattern}`);
}

// withTimeout rejects when p has not settled within ms.
export function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}
