// Applies layer tars to a directory, rootless, in a process of its own: the unpack test runs it
// as an unprivileged user (root would not notice permissions).
import { createReadStream } from 'node:fs';
import { applyLayer } from '../../src/image/unpack.js';

const [root, ...layers] = process.argv.slice(2);
for (const l of layers) await applyLayer(createReadStream(l), root!, { rootless: true });
process.stdout.write('ok\n');
