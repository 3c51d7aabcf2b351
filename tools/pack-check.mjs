#!/usr/bin/env node
// Checks that a package, as published, works for a user:
//   1. publint and attw (ESM profile) on the package;
//   2. `npm pack` of the package and of the workspace packages it depends on, installed
//      into an empty project;
//   3. every entry of its `exports` map type-checks from a strict nodenext consumer
//      (a missing or broken .d.ts fails) and imports at run time with named exports;
//   4. no private workspace package (e.g. @flotilla/sys, bundled by the packages that use it)
//      is a dependency or is still imported from the built JS or .d.ts.
// A private package is not published, so it is skipped (its users' checks cover it).
// Usage: node tools/pack-check.mjs <package-dir>
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkgDir = resolve(process.argv[2] ?? '.');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });

function readPkg(dir) {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
}

// Workspace packages by name.
const workspaces = new Map();
for (const parent of ['packages', 'apps']) {
  let names = [];
  try {
    names = run('ls', [join(root, parent)]).split('\n').filter(Boolean);
  } catch {
    continue;
  }
  for (const n of names) {
    try {
      const dir = join(root, parent, n);
      workspaces.set(readPkg(dir).name, dir);
    } catch {
      /* not a package */
    }
  }
}

const pkg = readPkg(pkgDir);
if (pkg.private) {
  console.log(`pack-check ${pkg.name}: skipped (private: never published; bundled into the packages that use it)`);
  process.exit(0);
}
const privateNames = [...workspaces].filter(([, dir]) => readPkg(dir).private).map(([name]) => name);
const closure = new Map();
(function collect(name, dir) {
  if (closure.has(name)) return;
  closure.set(name, dir);
  const p = readPkg(dir);
  for (const dep of Object.keys({ ...p.dependencies, ...p.peerDependencies })) {
    if (workspaces.has(dep)) collect(dep, workspaces.get(dep));
  }
})(pkg.name, pkgDir);

const fail = (msg, detail) => {
  console.error(`pack-check ${pkg.name}: ${msg}`);
  if (detail) console.error(detail);
  process.exit(1);
};

for (const name of privateNames) {
  if (Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies }).includes(name))
    fail(`${name} is private (never published) but is a runtime dependency; bundle it (tsup noExternal) and list it in devDependencies`);
}
if (privateNames.length > 0 && existsSync(join(pkgDir, 'dist'))) {
  const quoted = new RegExp(`["'](${privateNames.map((n) => n.replace(/[/.]/g, '\\$&')).join('|')})(/[^"']*)?["']`);
  for (const f of readdirSync(join(pkgDir, 'dist'), { recursive: true })) {
    const file = String(f);
    if (!/\.(m?js|d\.ts)$/.test(file)) continue;
    const m = quoted.exec(readFileSync(join(pkgDir, 'dist', file), 'utf8'));
    if (m) fail(`dist/${file} still refers to the private package ${m[1]}: bundle it (noExternal) and keep its types out of the public API`);
  }
}
try {
  run(bin('publint'), ['--strict'], { cwd: pkgDir });
} catch (e) {
  fail('publint found problems', `${e.stdout ?? ''}${e.stderr ?? ''}`);
}
try {
  run(bin('attw'), ['--pack', '.', '--profile', 'esm-only', '--format', 'ascii'], { cwd: pkgDir });
} catch (e) {
  fail('attw found problems with the types', `${e.stdout ?? ''}${e.stderr ?? ''}`);
}

const work = mkdtempSync(join(tmpdir(), 'flotilla-pack-'));
try {
  const tarballs = [];
  for (const dir of closure.values()) {
    const out = run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: dir }).trim().split('\n').pop();
    tarballs.push(join(work, out));
  }
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', ...tarballs], { cwd: app });
  // A real consumer has @types/node; link ours rather than download it again.
  mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
  // (a dependency may have brought its own already, e.g. etcd3 → @grpc/grpc-js → @types/node)
  if (!existsSync(join(app, 'node_modules', '@types', 'node')))
    symlinkSync(join(root, 'node_modules', '@types', 'node'), join(app, 'node_modules', '@types', 'node'));

  const entries = Object.keys(pkg.exports ?? { '.': {} })
    .filter((k) => k !== './package.json')
    .map((k) => (k === '.' ? pkg.name : `${pkg.name}/${k.slice(2)}`));
  const ts = entries
    .map((spec, i) => `import * as m${i} from '${spec}';\nexport const keys${i}: string[] = Object.keys(m${i});`)
    .join('\n');
  writeFileSync(join(app, 'check.ts'), ts + '\n');
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
      },
      files: ['check.ts'],
    }),
  );
  try {
    run(bin('tsc'), ['-p', 'tsconfig.json'], { cwd: app });
  } catch (e) {
    fail('a consumer could not type-check its imports', `${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  const js = `${entries
    .map((spec, i) => `const m${i} = await import('${spec}'); if (Object.keys(m${i}).length === 0) throw new Error('${spec} exports nothing');`)
    .join('\n')}\nconsole.log('ok');`;
  writeFileSync(join(app, 'check.mjs'), js);
  try {
    run(process.execPath, ['check.mjs'], { cwd: app });
  } catch (e) {
    fail('a consumer could not import the package at run time', `${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  console.log(`pack-check ${pkg.name}: publint, attw, packed install, types and import of ${entries.join(', ')} ok`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
