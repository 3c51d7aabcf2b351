#!/usr/bin/env node
// Checks that a package, as published, works for a user:
//   1. publint and attw (ESM profile) on the package;
//   2. `npm pack` of the package and of the workspace packages it depends on, installed
//      into an empty project;
//   3. every entry of its `exports` map type-checks from a strict nodenext consumer
//      (a missing or broken .d.ts fails) and imports at run time with named exports;
//   4. no private workspace package (e.g. @flotilla/sys, bundled by the packages that use it)
//      is a dependency or is still imported from the built JS or .d.ts;
//   5. metadata: MIT licence, `repository` (with this package's `directory`), `homepage`, `bugs`
//      and `keywords`; the tarball of every package installed carries the repository's LICENSE
//      (byte for byte) and README.md, and every picture that README shows by a relative path;
//   6. the build guard: the package's `prepack` (tools/prepack.mjs) makes `npm pack` of a copy
//      without dist/ fail, saying to build first;
//   7. optional peer dependencies (peerDependenciesMeta optional, e.g. cluster's etcd3) stay
//      optional: the packed install leaves them out (unless a package of the closure depends on
//      them), the built .d.ts never imports them, and every export loads without them;
//   8. the package's own checks of the installed package: each `test/pack/*.mjs` of the package
//      runs with the consumer project as its working directory (e.g. the error a user gets when
//      an optional peer is missing).
// A private package is not published, so it is skipped (its users' checks cover it).
// Usage: node tools/pack-check.mjs <package-dir>
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname, relative } from 'node:path';
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
// 5. Metadata, checked against the root package.json's repository.
const rootPkg = readPkg(root);
const repoUrl = rootPkg.repository?.url;
const repoWeb = repoUrl?.replace(/^git\+/, '').replace(/\.git$/, '');
const where = relative(root, pkgDir).split('\\').join('/');
const meta = [];
if (pkg.license !== 'MIT') meta.push(`"license" is ${JSON.stringify(pkg.license)}, expected "MIT"`);
if (pkg.repository?.type !== 'git' || pkg.repository?.url !== repoUrl || pkg.repository?.directory !== where)
  meta.push(`"repository" must be ${JSON.stringify({ type: 'git', url: repoUrl, directory: where })}`);
if (typeof pkg.homepage !== 'string' || !pkg.homepage.startsWith(`${repoWeb}/`)) meta.push(`"homepage" must be a page of ${repoWeb}`);
if (pkg.bugs?.url !== rootPkg.bugs?.url) meta.push(`"bugs" must be { "url": ${JSON.stringify(rootPkg.bugs?.url)} }`);
if (!Array.isArray(pkg.keywords) || pkg.keywords.length === 0 || !pkg.keywords.every((k) => typeof k === 'string' && k !== ''))
  meta.push('"keywords" must be a non-empty list of words');
if (!/tools\/prepack\.mjs/.test(pkg.scripts?.prepack ?? '')) meta.push('"scripts.prepack" must run tools/prepack.mjs (the build guard)');
if (!existsSync(join(pkgDir, 'LICENSE'))) meta.push('LICENSE is missing from the package directory (copy the root LICENSE)');
else if (!readFileSync(join(pkgDir, 'LICENSE')).equals(readFileSync(join(root, 'LICENSE'))))
  meta.push('LICENSE differs from the repository root LICENSE (copy it again)');
if (meta.length > 0) fail('package.json metadata is incomplete', meta.map((m) => `  ${m}`).join('\n'));

// 7. The types of a package must not need its optional peers.
const optionalPeers = Object.entries(pkg.peerDependenciesMeta ?? {})
  .filter(([, m]) => m?.optional)
  .map(([name]) => name);
for (const peer of optionalPeers) {
  if (pkg.dependencies?.[peer]) fail(`${peer} is an optional peer dependency and a dependency: it must be one or the other`);
  if (!pkg.peerDependencies?.[peer]) fail(`${peer} is in peerDependenciesMeta but not in peerDependencies`);
}
if (optionalPeers.length > 0 && existsSync(join(pkgDir, 'dist'))) {
  const quoted = new RegExp(`(from\\s*|import\\(\\s*)["'](${optionalPeers.map((n) => n.replace(/[/.]/g, '\\$&')).join('|')})(/[^"']*)?["']`);
  for (const f of readdirSync(join(pkgDir, 'dist'), { recursive: true })) {
    const file = String(f);
    if (!/\.d\.ts$/.test(file)) continue;
    const m = quoted.exec(readFileSync(join(pkgDir, 'dist', file), 'utf8'));
    if (m) fail(`dist/${file} imports the optional peer ${m[2]}: a consumer without it could not type-check; declare the types this package needs itself`);
  }
}

try {
  run(bin('publint'), ['--strict'], { cwd: pkgDir });
} catch (e) {
  fail('publint found problems', `${e.stdout ?? ''}${e.stderr ?? ''}`);
}
try {
  // Data files in the exports map (e.g. @flotilla/cluster/schema.json) have no types to check.
  const dataEntries = Object.keys(pkg.exports ?? {}).filter((k) => k !== './package.json' && k.endsWith('.json'));
  run(bin('attw'), ['--pack', '.', '--profile', 'esm-only', '--format', 'ascii', ...(dataEntries.length ? ['--exclude-entrypoints', ...dataEntries] : [])], { cwd: pkgDir });
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
  // 7. Optional peers are left out of the install unless something in the closure needs them.
  for (const peer of optionalPeers) {
    const wantedBy = [...closure].filter(([, dir]) => readPkg(dir).dependencies?.[peer]).map(([n]) => n);
    const present = existsSync(join(app, 'node_modules', ...peer.split('/'), 'package.json'));
    if (wantedBy.length === 0 && present) fail(`the optional peer ${peer} was installed although nothing asked for it`);
    if (wantedBy.length > 0 && !present) fail(`${peer} is a dependency of ${wantedBy.join(', ')} but was not installed`);
  }

  // Every tarball installed carries the licence and a README.
  for (const [name] of closure) {
    const installed = join(app, 'node_modules', ...name.split('/'));
    if (!existsSync(join(installed, 'LICENSE')) || !readFileSync(join(installed, 'LICENSE')).equals(readFileSync(join(root, 'LICENSE'))))
      fail(`the tarball of ${name} does not carry the repository's LICENSE`);
    if (!existsSync(join(installed, 'README.md'))) fail(`the tarball of ${name} has no README.md`);
    // Every picture the README shows by a relative path is in the tarball: a reader of the
    // installed README (an editor, a registry mirror) sees it, not a broken image.
    const readme = readFileSync(join(installed, 'README.md'), 'utf8');
    const images = [...readme.matchAll(/!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|<img\s[^>]*src="([^"]+)"/g)].map((m) => m[1] ?? m[2]);
    for (const src of images) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(src) || src.startsWith('#')) continue; // https:, data: …
      const file = resolve(installed, decodeURI(src.split(/[?#]/)[0]));
      if (!file.startsWith(installed + '/') || !existsSync(file))
        fail(`the README of ${name} shows ${src}, which its tarball does not carry: add it to "files" in package.json (or link an absolute URL)`);
    }
  }

  // 6. The build guard: a copy of this package without dist/ must not pack.
  const guard = join(work, 'guard');
  mkdirSync(guard);
  writeFileSync(
    join(guard, 'package.json'),
    JSON.stringify({ ...pkg, scripts: { prepack: `node ${JSON.stringify(join(root, 'tools', 'prepack.mjs'))}` } }),
  );
  writeFileSync(join(guard, 'LICENSE'), readFileSync(join(root, 'LICENSE')));
  let packed = true;
  try {
    run('npm', ['pack', '--dry-run'], { cwd: guard });
  } catch (e) {
    packed = false;
    if (!/not built/.test(`${e.stderr ?? ''}${e.stdout ?? ''}`))
      fail('npm pack without dist/ failed, but not with the build guard\'s message', `${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  if (packed) fail('npm pack of a copy without dist/ succeeded: the prepack build guard does not work');

  // A real consumer has @types/node; link ours rather than download it again.
  mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
  // (a dependency may have brought its own already, e.g. etcd3 → @grpc/grpc-js → @types/node)
  if (!existsSync(join(app, 'node_modules', '@types', 'node')))
    symlinkSync(join(root, 'node_modules', '@types', 'node'), join(app, 'node_modules', '@types', 'node'));

  const entries = Object.keys(pkg.exports ?? { '.': {} })
    .filter((k) => k !== './package.json' && !k.endsWith('.json')) // data files: the package's test/pack checks them
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
  // 8. The package's own checks of what was installed.
  const packTests = join(pkgDir, 'test', 'pack');
  const own = existsSync(packTests) ? readdirSync(packTests).filter((f) => f.endsWith('.mjs')).sort() : [];
  for (const f of own) {
    try {
      // Copied into the consumer, so its imports resolve to the installed packages.
      writeFileSync(join(app, `pack-${f}`), readFileSync(join(packTests, f)));
      run(process.execPath, [`pack-${f}`], { cwd: app });
    } catch (e) {
      fail(`test/pack/${f} failed against the packed install`, `${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }
  const extra = [optionalPeers.length ? `optional peers (${optionalPeers.join(', ')})` : '', ...own.map((f) => `test/pack/${f}`)].filter(Boolean);
  console.log(`pack-check ${pkg.name}: ${extra.length ? `${extra.join(', ')}, ` : ''}metadata, LICENSE, build guard, publint, attw, packed install, types and import of ${entries.join(', ')} ok`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
