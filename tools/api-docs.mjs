#!/usr/bin/env node
// The API reference: TypeDoc over the TSDoc of every published package's entry points (each
// `exports` sub-path, read from source through the `@flotilla/source` condition), so a new
// sub-path is documented without editing this file.
//   npm run docs              writes the HTML reference to docs/api/ (not committed: CI builds it)
//   npm run docs -- --check   CI (static phase): builds nothing, fails on any TypeDoc warning
//                             (a broken {@link}, an exported type that is not exported, bad TSDoc)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');

const entryPoints = [];
for (const dir of readdirSync(join(root, 'packages')).sort()) {
  const file = join(root, 'packages', dir, 'package.json');
  if (!existsSync(file)) continue;
  const pkg = JSON.parse(readFileSync(file, 'utf8'));
  if (pkg.private) continue; // internal (bundled into the others)
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    const source = typeof target === 'object' && target !== null ? target['@flotilla/source'] : undefined;
    if (source) entryPoints.push(relative(root, join(root, 'packages', dir, source)));
  }
}

const args = [
  ...entryPoints.flatMap((e) => ['--entryPoints', e]),
  '--tsconfig', 'tsconfig.typedoc.json',
  '--name', 'Flotilla',
  '--readme', 'none', // the repository README links directories, which TypeDoc cannot copy
  '--out', 'docs/api',
  '--excludePrivate', '--excludeInternal',
  '--sort', 'source-order',
  '--treatWarningsAsErrors',
  '--logLevel', 'Warn',
  ...(check ? ['--emit', 'none'] : []),
];
const r = spawnSync(join(root, 'node_modules', '.bin', 'typedoc'), args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`api-docs: TypeDoc ${check ? 'check' : 'build'} failed (${entryPoints.length} entry points)`);
  process.exit(r.status ?? 1);
}
console.log(`api-docs: ${entryPoints.length} entry points ${check ? 'checked, no warnings' : 'written to docs/api/'}`);
