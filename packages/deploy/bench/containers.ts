/**
 * Benchmark: containers on the test fleet against the plain-OpenSSH floor, measured in the same run.
 *
 *   node --conditions=@flotilla/source --import tsx packages/deploy/bench/containers.ts [--rounds 3] [--hosts 10] [--starts 5]
 *
 * (from the repository root, as root: it starts a fleet of sshd hosts, 127.0.151.x (--subnet; not 150,
 * the block CI's end-to-end container tests use: a clash gives a HOST KEY CHANGED failure), users fltcb*).
 * The image: ~20 MB in 3 layers (busybox + 10 MB, 8 MB, top 1 MB; random bytes, so gzip
 * cannot shrink them), built by buildImage; v2 changes only the top 1 MB layer. Rootless
 * containers (the fleet users), runc.
 *
 * - first run: Flotilla = loadImage of the archive into a fresh local store + runContainer on
 *   every host in parallel (push, host prepare, start, wait until running); floor = one sh
 *   script: for every host in parallel, `scp` the archive, then over `ssh`: `tar -x` it,
 *   `umoci unpack --rootless`, `runc run -d`. Hosts start empty (stores, snapshots, bundles removed).
 * - update: Flotilla runs v2 where v1 runs (only the top layer moves), against the same floor.
 * - start with the image present: runContainer of a new name on one host whose store and
 *   snapshots hold the image, against a bare `runc run -d` of the same config.json (for plain
 *   rootless runc) with a full copy of the image's rootfs, both over the same open ssh connection.
 * Wall times are medians over rounds (starts: over rounds × starts).
 *
 * The host helper (runContainer's `hostHelper`): the first run starts it on every host after its
 * launch, so the update finds it resident (as an update within its idle time does). `--cold-helper`
 * removes it before the update (an update after its idle exit); `--no-helper` turns it off.
 * Hosts are cleaned (and their helpers ended) before every first run and floor.
 *
 * `--trace`: the update's steps, per host, with their times on stderr (`flo-trace <ms> <host>
 * <step> +<ms since that host's previous step>`; FLO_TRACE=1 for the update only, see
 * src/image/trace.ts): loadImage, the one-round-trip attempt, each blob's local check and
 * upload, the helper's prepare, the launch.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Connection } from '../src/index.js';
import { FileContentStore, buildImage, chainIds, loadImage, runContainer, stopContainer } from '../src/image/index.js';
import { stepTracer } from '../src/image/trace.js';
import { startFleet, type Fleet } from '../src/testing/index.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const rounds = Number(arg('rounds', '3'));
const size = Number(arg('hosts', '10'));
const starts = Number(arg('starts', '5'));
const subnet = Number(arg('subnet', '151'));
/** `--no-helper`: runContainer with hostHelper: false (every update starts the host program, as before the helper). */
const noHelper = process.argv.includes('--no-helper');
/** `--cold-helper`: the helper the first run started is stopped before the update (an update after its idle exit). */
const coldHelper = process.argv.includes('--cold-helper');
/** `--trace`: the update's steps with their times on stderr (FLO_TRACE=1 for the update only; see src/image/trace.ts). */
const trace = process.argv.includes('--trace');

/** Deterministic incompressible bytes. */
function noise(bytes: number, seed: string): Buffer {
  const out = Buffer.alloc(bytes);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < bytes; i += 32) {
    block.copy(out, i);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, v];
}

function sh(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`floor script failed (${code}): ${err}`))));
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'flo-bench-ctr-'));
  let fleet: Fleet | undefined;
  try {
    fleet = await startFleet({ size, subnet, userPrefix: 'fltcb', namePrefix: 'cb' });
    const f = fleet;
    // The image: base (busybox + 10 MB), middle (8 MB), top (1 MB); v2 differs in the top only.
    mkdirSync(join(work, 'l1/bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(work, 'l1/bin/busybox'));
    symlinkSync('busybox', join(work, 'l1/bin/sh'));
    writeFileSync(join(work, 'l1/base.bin'), noise(10 << 20, 'base'));
    mkdirSync(join(work, 'l2'));
    writeFileSync(join(work, 'l2/middle.bin'), noise(8 << 20, 'middle'));
    await buildImage({ dir: join(work, 'l1'), out: join(work, 'l1.oci.tar'), entrypoint: ['/bin/sh', '-c'], cmd: ['exec sleep 100000'] });
    await buildImage({ dir: join(work, 'l2'), out: join(work, 'l2.oci.tar'), base: join(work, 'l1.oci.tar') });
    for (const v of ['1', '2']) {
      mkdirSync(join(work, `top${v}`));
      writeFileSync(join(work, `top${v}/app.bin`), noise(1 << 20, `top${v}`));
      await buildImage({ dir: join(work, `top${v}`), out: join(work, `v${v}.oci.tar`), base: join(work, 'l2.oci.tar'), tags: [`v${v}`] });
    }
    const probe = await loadImage(join(work, 'v1.oci.tar'));
    const imageBytes = probe.layers.reduce((n, l) => n + l.size, 0);
    const cfg = f.sshConfigFile;
    const names = f.hosts.map((h) => h.name);

    const floorScript = (archive: string, tag: string): string =>
      names
        .map(
          (h) =>
            `( scp -q -F ${cfg} ${archive} ${h}:floor.tar && ssh -F ${cfg} ${h} 'set -e; PATH="$PATH:/usr/sbin:/sbin"; rm -rf floor; mkdir -p floor/oci; tar -xf floor.tar -C floor/oci; ` +
            `umoci unpack --rootless --image floor/oci:${tag} floor/bundle >/dev/null; sed -i "s/\\"terminal\\": *true/\\"terminal\\":false/" floor/bundle/config.json; ` +
            `runc --root "$HOME/.floor-runc" run -d --bundle floor/bundle floor </dev/null >/dev/null 2>&1' ) &`,
        )
        .join('\n') + '\nwait\n';
    const clean = async (): Promise<void> => {
      await Promise.all(
        names.map(async (h) => {
          const c = Connection.ssh(h, { sshConfigFiles: [cfg] });
          try {
            for (const n of ['bench', ...Array.from({ length: starts }, (_, i) => `bench-start-${i}`)]) await stopContainer(c, n, { gracePeriodSeconds: 0 });
            await c.run('runc --root "$HOME/.floor-runc" delete -f floor >/dev/null 2>&1; runc --root "$HOME/.floor-runc" delete -f bare >/dev/null 2>&1; chmod -R u+w floor bare 2>/dev/null; rm -rf floor floor.tar bare .flotilla/images .flotilla/snapshots .flotilla/containers .flotilla/run', { hide: true, warn: true, env: { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' } });
          } finally {
            await c.close();
          }
        }),
      );
      // A host helper whose socket was removed exits within a second: a first run starts without one.
      await new Promise((r) => setTimeout(r, 1500));
    };

    const rows: Record<string, number[]> = { floor: [], first: [], update: [], start: [], bare: [] };
    let updateBytes = 0;
    const preparedBy: Record<string, number> = {};
    let firstBytes = 0;
    for (let r = 0; r < rounds; r++) {
      await clean();
      rows.floor!.push((await timed(() => sh(floorScript(join(work, 'v1.oci.tar'), 'v1'))))[0]);
      await clean();
      const store = new FileContentStore(join(work, `store-${r}`));
      const conns = names.map((h) => Connection.ssh(h, { sshConfigFiles: [cfg] }));
      const [first, res] = await timed(async () => {
        const image = await loadImage(join(work, 'v1.oci.tar'), { store });
        return Promise.all(conns.map((c) => runContainer(c, { name: 'bench', image, store, gracePeriodSeconds: 0, hostHelper: !noHelper })));
      });
      if (res.some((s) => s.state !== 'running')) throw new Error(`not all running: ${JSON.stringify(res.map((s) => s.state))}`);
      rows.first!.push(first);
      firstBytes = res.reduce((n, s) => n + s.push.bytesSent, 0);
      if (coldHelper) {
        await Promise.all(conns.map((c) => c.run('rm -f .flotilla/run/h-*.sock', { hide: true })));
        await new Promise((r) => setTimeout(r, 1500));
      }
      if (trace) process.env.FLO_TRACE = '1';
      const [update, up] = await timed(async () => {
        const step = stepTracer('client');
        step('update');
        const image = await loadImage(join(work, 'v2.oci.tar'), { store });
        step('loadImage');
        return Promise.all(conns.map((c) => runContainer(c, { name: 'bench', image, store, gracePeriodSeconds: 0, hostHelper: !noHelper })));
      });
      delete process.env.FLO_TRACE;
      if (up.some((s) => s.state !== 'running')) throw new Error('update: not all running');
      rows.update!.push(update);
      updateBytes = up.reduce((n, s) => n + s.push.bytesSent, 0);
      for (const s of up) preparedBy[s.preparedBy ?? 'same'] = (preparedBy[s.preparedBy ?? 'same'] ?? 0) + 1;
      // Starts with the image present, on the first host, alternating with bare runc.
      const c = conns[0]!;
      const image = await loadImage(join(work, 'v2.oci.tar'), { store });
      // The peer's bundle: the container's config.json, made for plain rootless runc (the host
      // user mapped to root), and a rootfs that is a full copy of the image's top snapshot.
      const top = chainIds(image.config.rootfs.diff_ids).at(-1)!.replace('sha256:', '');
      await c.run(
        `rm -rf bare && mkdir bare && cp -a .flotilla/snapshots/${top} bare/rootfs && ` +
          `sed -E 's/"hostID": *0,/"hostID": '"$(id -u)"',/' .flotilla/containers/bench/bundle/config.json > bare/config.json && ` +
          `sed -i -E '/gidMappings/,/]/ s/"hostID": *[0-9]+,/"hostID": '"$(id -g)"',/' bare/config.json`,
        { hide: true },
      );
      for (let i = 0; i < starts; i++) {
        const [tb, rb] = await timed(() => c.run('PATH="$PATH:/usr/sbin:/sbin"; runc --root "$HOME/.floor-runc" run -d --bundle bare bare </dev/null >/dev/null 2>bare.err', { hide: true, warn: true }));
        if (rb.exitCode !== 0) throw new Error(`bare runc run -d failed: ${(await c.run('cat bare.err', { hide: true })).stdout}`);
        rows.bare!.push(tb);
        await c.run('PATH="$PATH:/usr/sbin:/sbin"; runc --root "$HOME/.floor-runc" delete -f bare', { hide: true });
        const [t, st] = await timed(() => runContainer(c, { name: `bench-start-${i}`, image, store, gracePeriodSeconds: 0, hostHelper: !noHelper }));
        if (st.state !== 'running') throw new Error('start: not running');
        rows.start!.push(t);
      }
      await Promise.all(conns.map((x) => x.close()));
      process.stderr.write(`round ${r + 1}/${rounds}: floor ${rows.floor!.at(-1)!.toFixed(0)} ms, first ${first.toFixed(0)} ms, update ${update.toFixed(0)} ms\n`);
    }
    await clean();
    const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)]));
    const mb = (b: number): string => `${(b / (1 << 20)).toFixed(1)} MiB`;
    const out = [
      `date ${new Date().toISOString()}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${mb(totalmem())} RAM, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`,
      `image: ${mb(imageBytes)} compressed in ${probe.layers.length} layers; ${size} hosts; ${rounds} rounds; ${starts} starts per round`,
      `| what | Flotilla (median) | peer (median) | ratio | target |`,
      `|---|---|---|---|---|`,
      `| first run, ${size} containers (one per host) | ${m.first!.toFixed(0)} ms (${mb(firstBytes)} sent) | OpenSSH floor ${m.floor!.toFixed(0)} ms | ${(m.first! / m.floor!).toFixed(2)}x | <= 1.2x |`,
      `| update of the top 1 MiB layer | ${m.update!.toFixed(0)} ms (${mb(updateBytes)} sent) | OpenSSH floor ${m.floor!.toFixed(0)} ms | ${(m.update! / m.floor!).toFixed(2)}x | <= 0.3x |`,
      `| start, image present (one host) | ${m.start!.toFixed(0)} ms | bare runc run -d ${m.bare!.toFixed(0)} ms | ${(m.start! / m.bare!).toFixed(2)}x | <= 1.5x |`,
      `update bundles prepared by (all rounds): ${JSON.stringify(preparedBy)}${noHelper ? ' (--no-helper)' : ''}`,
      `raw (ms): ${JSON.stringify(Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, v.map((x) => Math.round(x))])))}`,
    ].join('\n');
    process.stdout.write(`${out}\n`);
  } finally {
    await fleet?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
