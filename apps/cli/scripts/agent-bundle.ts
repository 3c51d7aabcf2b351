// Builds the release that `flo host join` installs on a host: dist/agent/bin/flo.mjs, the
// whole CLI in one file (every dependency bundled but etcd3, which loads .proto files at
// run time and so is looked up on the host), and dist/agent/package.json (its version).
// Run by `npm run build` after tsup. The host needs only Node >= 20.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
writeFileSync(join(out, 'package.json'), `${JSON.stringify({ name: 'flo-agent', version: pkg.version, private: true, type: 'module', engines: { node: '>=20' } }, null, 2)}\n`);
