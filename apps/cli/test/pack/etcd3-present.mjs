// Run by tools/pack-check.mjs in a fresh project where the packed flotilla CLI is installed:
// the CLI depends on etcd3 itself so that `flo --store etcd://…` works out of the box, and
// @flotilla/cluster (which has etcd3 as an optional peer) must find that copy.
import { createRequire } from 'node:module';
import { join } from 'node:path';

const fromCluster = createRequire(join(process.cwd(), 'node_modules', '@flotilla', 'cluster', 'package.json'));
let where;
try {
  where = fromCluster.resolve('etcd3');
} catch (e) {
  console.error(`etcd3-present: @flotilla/cluster cannot resolve etcd3 in a flotilla install: ${e.message}`);
  process.exit(1);
}
const { Etcd3 } = await import(where);
if (typeof Etcd3 !== 'function') {
  console.error('etcd3-present: etcd3 loaded without its Etcd3 client class');
  process.exit(1);
}
console.log(`ok: etcd3 at ${where}`);
