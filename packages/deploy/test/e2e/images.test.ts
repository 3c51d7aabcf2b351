// Image distribution over real OpenSSH (the test fleet: one sshd per loopback address, one
// unix user per host): only missing blobs move, each checked on arrival; hosts that trust
// signers check signatures themselves. Needs root and sshd; without them it says so and
// skips, except under CI=true, where it must run.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../src/index.js';
import { FileContentStore, buildImage, loadImage, pushImage, signImage, type Image } from '../../src/image/index.js';
import { fleetAvailability, startFleet, type Fleet } from '../../src/testing/index.js';

const avail = fleetAvailability();
const skip = !avail.ok && !process.env.CI;
if (skip) console.warn(`\n*** SKIPPING @flotilla/deploy image distribution end-to-end tests: ${avail.reason} (they run under CI=true) ***\n`);

describe.skipIf(skip)('images over real OpenSSH', () => {
  let fleet: Fleet;
  let work: string;
  let store: FileContentStore;
  let v1: Image;
  let v2: Image;
  const open: Connection[] = [];
  const connect = (name: string): Connection => {
    const c = Connection.ssh(name, { sshConfigFiles: [fleet.sshConfigFile] });
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    fleet = await startFleet({ size: 3, subnet: 67, userPrefix: 'fltim' });
    work = mkdtempSync(join(tmpdir(), 'flo-e2e-images-'));
    store = new FileContentStore(join(work, 'store'));
    // A busybox-static base (Debian's busybox-static) and two versions of an app on it.
    mkdirSync(join(work, 'base/bin'), { recursive: true });
    if (existsSync('/bin/busybox')) copyFileSync('/bin/busybox', join(work, 'base/bin/busybox'));
    else writeFileSync(join(work, 'base/bin/busybox'), 'x'.repeat(1 << 20));
    symlinkSync('busybox', join(work, 'base/bin/sh'));
    await buildImage({ dir: join(work, 'base'), out: join(work, 'base.oci.tar') });
    const version = async (v: string): Promise<Image> => {
      mkdirSync(join(work, `app${v}/srv`), { recursive: true });
      writeFileSync(join(work, `app${v}/srv/index.html`), `<h1>version ${v}</h1>`);
      await buildImage({ dir: join(work, `app${v}`), out: join(work, `app${v}.oci.tar`), base: join(work, 'base.oci.tar'), entrypoint: ['/bin/busybox', 'httpd', '-f'] });
      return loadImage(join(work, `app${v}.oci.tar`), { store });
    };
    v1 = await version('1');
    v2 = await version('2');
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
    await fleet?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const hostBlobs = (i: number) => readdirSync(join(fleet.hosts[i]!.home, '.flotilla/images/blobs/sha256')).sort();

  it('sends every blob once to each host, checked on arrival; a new version moves only its changed layer', async () => {
    const hosts = [0, 1];
    const first = await Promise.all(hosts.map((i) => pushImage(connect(fleet.hosts[i]!.name), v1, store)));
    for (const [k, r] of first.entries()) {
      expect(r.sent).toHaveLength(4);
      expect(hostBlobs(hosts[k]!)).toEqual(r.sent.map((b) => b.digest.slice(7)).sort());
    }
    // What arrived is the image: the host's store reads back verified.
    const hostStore = new FileContentStore(join(fleet.hosts[0]!.home, '.flotilla/images'));
    expect((await hostStore.read(v1.digest)).equals(v1.manifestBytes)).toBe(true);
    for (const l of v1.layers) expect((await hostStore.info(l.digest))?.size).toBe(l.size);

    const second = await pushImage(connect(fleet.hosts[0]!.name), v2, store);
    expect(second.present.map((b) => b.digest)).toEqual([v2.layers[0]!.digest]);
    expect(second.sent.map((b) => b.digest)).toContain(v2.layers[1]!.digest);
    expect(second.bytesSent).toBeLessThan(v2.layers[0]!.size);
    expect(second.bytesSent).toBeLessThan(first[0]!.bytesSent / 2);
  });

  it('a host with allowed_signers refuses an unsigned image before any blob moves, and takes a signed one', async () => {
    const h = fleet.hosts[2]!;
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(work, 'alice')]);
    const pub = readFileSync(join(work, 'alice.pub'), 'utf8').split(' ');
    mkdirSync(join(h.home, '.flotilla'), { recursive: true });
    writeFileSync(join(h.home, '.flotilla/allowed_signers'), `alice@example.com ${pub[0]} ${pub[1]}\n`);
    execFileSync('chown', ['-R', h.user, join(h.home, '.flotilla')]);
    const c = connect(h.name);
    await expect(pushImage(c, v1, store)).rejects.toMatchObject({ code: 'signature', host: h.name, message: expect.stringMatching(/has no signature/) as unknown });
    expect(existsSync(join(h.home, '.flotilla/images/blobs/sha256')) ? readdirSync(join(h.home, '.flotilla/images/blobs/sha256')) : []).toEqual([]);
    await signImage(join(work, 'app1.oci.tar'), { key: join(work, 'alice') });
    const r = await pushImage(c, v1, store);
    expect(r.signedBy).toBe('alice@example.com');
    expect(r.sent).toHaveLength(4);
  });
});
