#!/usr/bin/env node
// The build guard of every published package: its `prepack` script, so `npm pack` and
// `npm publish` refuse to produce a tarball without the built code. Checks that every file
// package.json points at (exports, main, types, bin; the @flotilla/source condition aside,
// which only this repository uses) exists, and that the LICENSE is there. Prints nothing when
// all is well (npm pack --json output stays JSON).
// Usage (from a package directory): node ../../tools/prepack.mjs [package-dir]
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dir = resolve(process.argv[2] ?? '.');
const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

/** Every path an exports map (any nesting of conditions) can resolve to. */
function targets(value, out = []) {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) targets(v, out);
  else if (value && typeof value === 'object')
    for (const [condition, v] of Object.entries(value)) if (condition !== '@flotilla/source') targets(v, out);
  return out;
}

const wanted = new Set([
  ...targets(pkg.exports ?? {}),
  ...(pkg.main ? [pkg.main] : []),
  ...(pkg.types ? [pkg.types] : []),
  ...(typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {})),
]);
const missing = [...wanted].filter((p) => !p.includes('*') && !existsSync(join(dir, p)));
const problems = [];
if (missing.length > 0)
  problems.push(
    `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing: the package is not built. ` +
      `Build it first (npx nx run ${pkg.name}:build, or npm run build at the root), then pack again.`,
  );
if (!existsSync(join(dir, 'LICENSE'))) problems.push('LICENSE is missing: copy the repository root LICENSE into the package directory.');
if (problems.length > 0) {
  console.error(`prepack ${pkg.name}: refusing to pack.\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
