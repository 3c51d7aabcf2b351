// Run by tools/pack-check.mjs in a fresh project where the packed @flotilla/cluster is
// installed as a user installs it: without etcd3, its optional peer dependency.
//   - etcd3 is really absent (npm did not pull it in);
//   - the file store works without it;
//   - an etcd:// store fails with ClusterError code 'dependency-missing' saying `npm i etcd3`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isClusterError, openStore } from '@flotilla/cluster';

const fail = (msg) => {
  console.error(`etcd3-missing: ${msg}`);
  process.exit(1);
};

let found = true;
try {
  import.meta.resolve('etcd3');
} catch {
  found = false;
}
if (found) fail('etcd3 is installed: this check needs an install without it');

const dir = mkdtempSync(join(tmpdir(), 'flo-lean-'));
try {
  const store = await openStore(pathToFileURL(dir).href);
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

let err;
try {
  const store = await openStore('etcd://127.0.0.1:1');
  await store.close();
} catch (e) {
  err = e;
}
if (!isClusterError(err)) fail(`expected a ClusterError, got ${err}`);
if (err.code !== 'dependency-missing') fail(`expected code dependency-missing, got ${err.code}: ${err.message}`);
if (!/npm i etcd3/.test(err.message)) fail(`the message does not say how to install etcd3: ${err.message}`);
console.log(`ok: ${err.message}`);
