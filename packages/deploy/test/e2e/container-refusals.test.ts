// Bad input on the real sshd fleet: a new image version whose blob was tampered with (in the
// local store, before it is sent) or truncated (on the host's disk, after it arrived) is refused
// with a message naming the image, the blob and the host — before anything of the running
// version is stopped: the container keeps running, same pid, same image. Rootless containers as
// fleet users, real runc (fleet block 127.0.150.x).
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../src/index.js';
import { FileContentStore, buildImage, containerStatuses, loadImage, pushImage, runContainer, stopContainer, type Image } from '../../src/image/index.js';
import { fleetAvailability, startFleet, type Fleet } from '../../src/testing/index.js';
import { requireTools } from '../image/helpers.js';

const avail = fleetAvailability();
const skip = (!avail.ok || !requireTools(['runc', 'busybox'])) && !process.env.CI;
if (skip) console.warn(`\n*** SKIPPING @flotilla/deploy container refusal end-to-end tests: ${avail.ok ? 'runc/busybox missing' : avail.reason} (they run under CI=true) ***\n`);

describe.skipIf(skip)('a tampered or truncated image is refused on a real sshd host; the running version stays', () => {
  let fleet: Fleet;
  let work: string;
  let c: Connection;
  let v1: Image;
  let pid: number;
  let n = 0;
  const name = 'keep';

  /** A new version (unique top layer) in a store of its own, so damaging it harms nothing else. */
  const version = async (): Promise<{ image: Image; store: FileContentStore }> => {
    const k = n++;
    mkdirSync(join(work, `app${k}/srv`), { recursive: true });
    writeFileSync(join(work, `app${k}/srv/version`), `v${k}-${'x'.repeat(8192)}`);
    const archive = join(work, `app${k}.oci.tar`);
    await buildImage({ dir: join(work, `app${k}`), out: archive, base: join(work, 'base.oci.tar'), tags: [`v${k}`] });
    const store = new FileContentStore(join(work, `store${k}`));
    return { image: await loadImage(archive, { store }), store };
  };

  const stillRunning = async (): Promise<void> => {
    const st = (await containerStatuses(c, [name])).get(name)!;
    expect(st).toMatchObject({ state: 'running', pid, imageDigest: v1.digest, restarts: 0 });
  };

  beforeAll(async () => {
    fleet = await startFleet({ size: 1, subnet: 150, userPrefix: 'fltrf', namePrefix: 'rf' });
    work = mkdtempSync(join(tmpdir(), 'flo-e2e-ctr-ref-'));
    mkdirSync(join(work, 'base/bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(work, 'base/bin/busybox'));
    symlinkSync('busybox', join(work, 'base/bin/sh'));
    await buildImage({ dir: join(work, 'base'), out: join(work, 'base.oci.tar'), entrypoint: ['/bin/sh', '-c'], cmd: ['exec sleep 100000'] });
    const first = await version();
    v1 = first.image;
    c = Connection.ssh(fleet.hosts[0]!.name, { sshConfigFiles: [fleet.sshConfigFile] });
    const st = await runContainer(c, { name, image: v1, store: first.store, gracePeriodSeconds: 0 });
    expect(st).toMatchObject({ state: 'running', rootless: true });
    pid = st.pid!;
  }, 180_000);
  afterAll(async () => {
    if (c) {
      await stopContainer(c, name, { gracePeriodSeconds: 0 }).catch(() => undefined);
      await c.close();
    }
    await fleet?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('a layer tampered with in the local store (same size): blob-digest naming image, blob and host; nothing stopped', async () => {
    const { image, store } = await version();
    const top = image.layers.at(-1)!.digest;
    const p = store.blobPath(top);
    const bytes = readFileSync(p);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    chmodSync(p, 0o644);
    writeFileSync(p, bytes);
    const host = fleet.hosts[0]!.name;
    const err = await runContainer(c, { name, image, store, gracePeriodSeconds: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'blob-digest', host, blob: top, image: image.reference.text });
    const message = (err as Error).message;
    for (const part of [image.reference.text, top, host]) expect(message).toContain(part);
    expect(message).toContain('nothing running was changed');
    await stillRunning();
  }, 180_000);

  it('a layer truncated on the host after it arrived: refused there, naming image, blob and host; nothing stopped', async () => {
    const { image, store } = await version();
    await pushImage(c, image, store);
    const top = image.layers.at(-1)!.digest;
    // The host's copy, cut short by someone on the host (its user owns the store).
    const f = `.flotilla/images/blobs/sha256/${top.slice(7)}`;
    await c.run(`chmod u+w ${f} && head -c 100 ${f} > ${f}.cut && mv -f ${f}.cut ${f}`, { hide: true });
    const host = fleet.hosts[0]!.name;
    const err = await runContainer(c, { name, image, store, gracePeriodSeconds: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'blob-digest', host, blob: top, image: image.reference.text });
    const message = (err as Error).message;
    for (const part of [image.reference.text, top, host]) expect(message).toContain(part);
    expect(message).toContain('nothing running was changed');
    await stillRunning();
    // And a sound version then replaces it, moving only what the host lacks.
    const good = await version();
    const up = await runContainer(c, { name, image: good.image, store: good.store, gracePeriodSeconds: 0 });
    expect(up).toMatchObject({ state: 'running', imageDigest: good.image.digest });
    expect(up.push.sent.map((b) => b.digest)).not.toContain(good.image.layers[0]!.digest);
    v1 = good.image;
    pid = up.pid!;
  }, 180_000);
});
