#!/usr/bin/env node
// Measures what each published package costs its users, for docs/packages.md:
//   tarball   `npm pack --dry-run --json`: packed size, unpacked size, files;
//   install   a real `npm install` of the packed tarball (and of the workspace packages it
//             depends on) into an empty project: bytes on disk under node_modules (apparent
//             sizes), number of packages, and packages that declare install scripts.
// Run after `npx nx run-many -t build`: `node tools/package-sizes.mjs`. Prints a Markdown
// table (docs/packages.md); a package with optional peers gets a second row with them installed.
// Installs use --ignore-scripts, as pack-check does: the table names the packages that would
// run install scripts.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
const readPkg = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

const workspaces = new Map();
for (const parent of ['packages', 'apps'])
  for (const n of readdirSync(join(root, parent))) {
    const dir = join(root, parent, n);
    if (existsSync(join(dir, 'package.json'))) workspaces.set(readPkg(dir).name, dir);
  }

function closure(name, out = new Map()) {
  if (out.has(name)) return out;
  const dir = workspaces.get(name);
  out.set(name, dir);
  const p = readPkg(dir);
  for (const dep of Object.keys(p.dependencies ?? {})) if (workspaces.has(dep)) closure(dep, out);
  return out;
}

/** Apparent size of every file under `dir` (symlinks counted as links, not followed). */
function bytes(dir) {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += bytes(p);
    else total += lstatSync(p).size;
  }
  return total;
}

/** Installed packages (name → dir), found by walking node_modules trees. */
function installed(nm, out = new Map()) {
  if (!existsSync(nm)) return out;
  for (const e of readdirSync(nm, { withFileTypes: true })) {
    if (e.name.startsWith('.') || !e.isDirectory()) continue;
    const dirs = e.name.startsWith('@') ? readdirSync(join(nm, e.name)).map((s) => join(nm, e.name, s)) : [join(nm, e.name)];
    for (const d of dirs) {
      if (!existsSync(join(d, 'package.json'))) continue;
      out.set(d, readPkg(d));
      installed(join(d, 'node_modules'), out);
    }
  }
  return out;
}

const kb = (n) => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${(n / 1024).toFixed(0)} kB`);

const work = mkdtempSync(join(tmpdir(), 'flotilla-sizes-'));
const rows = [];
try {
  const tarballs = new Map();
  const packInfo = new Map();
  for (const [name, dir] of workspaces) {
    if (readPkg(dir).private) continue;
    const [info] = JSON.parse(run('npm', ['pack', '--dry-run', '--json'], { cwd: dir }));
    packInfo.set(name, info);
    const file = run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: dir }).trim().split('\n').pop();
    tarballs.set(name, join(work, file));
  }
  const measure = (label, name, extra = []) => {
    const app = join(work, `app-${rows.length}`);
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    const own = [...closure(name).keys()].map((n) => tarballs.get(n));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', ...own, ...extra], { cwd: app });
    const pkgs = installed(join(app, 'node_modules'));
    // npm runs preinstall/install/postinstall, and `node-gyp rebuild` where a binding.gyp exists.
    const scripts = [...pkgs]
      .filter(([dir, p]) => ['preinstall', 'install', 'postinstall'].some((s) => p.scripts?.[s]) || existsSync(join(dir, 'binding.gyp')))
      .map(([, p]) => p.name);
    const info = packInfo.get(name);
    rows.push({
      label,
      packed: info.size,
      unpacked: info.unpackedSize,
      files: info.entryCount,
      install: bytes(join(app, 'node_modules')),
      packages: pkgs.size,
      scripts: [...new Set(scripts)].sort(),
    });
  };
  for (const name of packInfo.keys()) {
    measure(`\`${name}\``, name);
    const peers = readPkg(workspaces.get(name)).peerDependenciesMeta ?? {};
    for (const [peer, meta] of Object.entries(peers))
      if (meta.optional) measure(`\`${name}\` + \`${peer}\``, name, [`${peer}@${readPkg(workspaces.get(name)).peerDependencies[peer]}`]);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

console.log(`Measured ${new Date().toISOString().slice(0, 10)} on ${cpus()[0]?.model ?? 'unknown cpu'} (${cpus().length} cores), Node ${process.version}, npm ${run('npm', ['-v']).trim()}.\n`);
console.log('| package | tarball (packed) | unpacked | files | installed (node_modules) | packages installed | with install scripts |');
console.log('|---|---:|---:|---:|---:|---:|---|');
for (const r of rows)
  console.log(`| ${r.label} | ${kb(r.packed)} | ${kb(r.unpacked)} | ${r.files} | ${kb(r.install)} | ${r.packages} | ${r.scripts.length ? r.scripts.join(', ') : '—'} |`);
