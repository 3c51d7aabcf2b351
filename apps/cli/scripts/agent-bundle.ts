// Builds the release that `flo host join` installs on a host: dist/agent/bin/flo.mjs, the
// whole CLI in one file; dist/agent/node_modules/etcd3, the etcd client (an optional peer of
// @flotilla/cluster, so kept out of the main file) bundled with its gRPC dependencies into one
// CommonJS file with the .proto files it reads at run time beside it, so that an agent whose
// --store is etcd:// needs nothing on the host; and dist/agent/package.json (its version).
// Run by `npm run build` after tsup. The host needs only Node >= 20.
import { build } from 'esbuild';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(cli, 'dist', 'agent');
const pkg = JSON.parse(readFileSync(join(cli, 'package.json'), 'utf8')) as { version: string };
mkdirSync(join(out, 'bin'), { recursive: true });
await build({
  entryPoints: [join(cli, 'src', 'main.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: join(out, 'bin', 'flo.mjs'),
  conditions: ['@flotilla/source'],
  // etcd3 reads its .proto files at run time; ssh2's native helpers are optional
  external: ['etcd3', 'cpu-features', '*.node'],
  banner: { js: "import { createRequire as __floRequire } from 'node:module'; const require = __floRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
});
// etcd3 as a package of the release: `import('etcd3')` from bin/flo.mjs finds it in
// ../node_modules. Its connection pool reads `${__dirname}/../proto/rpc.proto`.
const etcd3Dir = dirname(createRequire(join(cli, 'package.json')).resolve('etcd3/package.json'));
const etcd3Out = join(out, 'node_modules', 'etcd3');
rmSync(etcd3Out, { recursive: true, force: true });
await build({
  entryPoints: [join(etcd3Dir, 'lib', 'index.js')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: join(etcd3Out, 'lib', 'index.js'),
  legalComments: 'none',
  logLevel: 'warning',
});
cpSync(join(etcd3Dir, 'proto'), join(etcd3Out, 'proto'), { recursive: true });
cpSync(join(etcd3Dir, 'LICENSE'), join(etcd3Out, 'LICENSE'));
const etcd3Version = (JSON.parse(readFileSync(join(etcd3Dir, 'package.json'), 'utf8')) as { version: string }).version;
writeFileSync(join(etcd3Out, 'package.json'), `${JSON.stringify({ name: 'etcd3', version: etcd3Version, license: 'MIT', main: 'lib/index.js', description: 'etcd3 and its gRPC dependencies bundled into one file for the flo agent release' }, null, 2)}\n`);
writeFileSync(join(out, 'package.json'), `${JSON.stringify({ name: 'flo-agent', version: pkg.version, private: true, type: 'module', engines: { node: '>=20' } }, null, 2)}\n`);
