// A Fabric-style deployfile that runs containers: `c.runContainer({ image: './web.oci.tar', … })`
// on the task's connection, run by flo against hosts that are directories (the local
// transport), with real runc (as root; skipped elsewhere, required under CI=true).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '@flotilla/deploy';
import { buildImage, containerStatuses, stopContainer } from '@flotilla/deploy/image';
import { main } from '../src/cli.js';

const canRun = process.getuid?.() === 0 && existsSync('/usr/sbin/runc') && existsSync('/bin/busybox');
if (!canRun && process.env.CI === 'true') throw new Error('CI=true: the deployfile container test needs root, runc and busybox-static');

describe.runIf(canRun)('a deployfile runs containers (flo, local hosts, real runc)', { timeout: 180_000 }, () => {
  let dir: string;
  const name = `flo-df-${process.pid}`;

  async function flo(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdout.on('data', (c: Buffer) => out.push(c.toString()));
    stderr.on('data', (c: Buffer) => err.push(c.toString()));
    const code = await main(argv, { stdout, stderr, stdin: new PassThrough(), env: { HOME: dir }, cwd: dir });
    return { code, out: out.join(''), err: err.join('') };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flo-cli-ctr-'));
    mkdirSync(join(dir, 'ctx/bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(dir, 'ctx/bin/busybox'));
    symlinkSync('busybox', join(dir, 'ctx/bin/sh'));
    await buildImage({ dir: join(dir, 'ctx'), out: join(dir, 'web.oci.tar'), entrypoint: ['/bin/sh', '-c'], cmd: ['echo "up as $(hostname) on $PORT"; exec sleep 100000'] });
    writeFileSync(
      join(dir, 'hosts.yaml'),
      ['a', 'b'].map((n) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${n}}\nspec: {local: {dir: ${join(dir, 'hosts', n)}}}\n`).join('---\n'),
    );
    writeFileSync(
      join(dir, 'flotilla.config.ts'),
      `import { task, shellQuote } from '@flotilla/deploy';
const image = ${JSON.stringify(join(dir, 'web.oci.tar'))};
const store = ${JSON.stringify(join(dir, 'images'))};
export const up = task(async (c, name: string) => {
  const st = await c.runContainer({ image, store, name, ports: { http: 31990 }, resources: { memory: 32 * 1024 * 1024 } });
  await c.run('echo ' + shellQuote(\`\${st.state} sent=\${st.push.sent.length} limits=\${st.limitsEnforced}\`));
});
export const check = task(async (c, name: string) => {
  const r = await c.execInContainer(name, ['sh', '-c', 'echo inside $(hostname) $PORT']);
  await c.run('echo ' + shellQuote(r.stdout.trim()));
});
export const down = task(async (c, name: string) => {
  await c.stopContainer(name, { gracePeriodSeconds: 0 });
  await c.run('echo ' + shellQuote((await c.containerStatus(name)).state));
});
`,
    );
  });
  afterAll(async () => {
    for (const h of ['a', 'b']) {
      const c = Connection.localDir(join(dir, 'hosts', h));
      await stopContainer(c, name, { gracePeriodSeconds: 0 }).catch(() => undefined);
      await c.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('flo up:NAME starts one container per host, idempotently; check runs inside it; down removes it', async () => {
    const up = await flo('-H', 'a,b', `up:${name}`);
    expect(up.code, up.err).toBe(0);
    expect(up.out).toMatch(/running sent=3 limits=true/);
    for (const h of ['a', 'b']) {
      const c = Connection.localDir(join(dir, 'hosts', h));
      expect((await containerStatuses(c, [name])).get(name)).toMatchObject({ state: 'running', ports: { http: 31990 } });
      await c.close();
    }
    const again = await flo('-H', 'a', `up:${name}`);
    expect(again.out).toMatch(/running sent=0/);
    const check = await flo('-H', 'a', `check:${name}`);
    expect(check.code, check.err).toBe(0);
    expect(check.out).toContain(`inside ${name} 31990`);
    const down = await flo('-H', 'a,b', `down:${name}`);
    expect(down.code, down.err).toBe(0);
    expect(down.out.match(/absent/g)).toHaveLength(2);
  });
});
