import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { parseWords } from '../src/commands/image-build.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flo-cli-image-'));
  mkdirSync(join(dir, 'ctx/etc'), { recursive: true });
  writeFileSync(join(dir, 'ctx/etc/greeting'), 'hello\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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

const build = ['image', 'build', 'ctx', '--out', 'web.oci.tar', '--entrypoint', '/bin/sh -c', '--cmd', '["cat /etc/greeting"]', '--env', 'GREETING=hi', '--workdir', '/etc', '--tag', 'web:1'];

describe('flo image', { timeout: 60_000 }, () => {
  it('build prints the digest; the same input gives the same digest', async () => {
    const a = await flo(...build);
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    expect(a.err).toContain('web.oci.tar');
    const b = await flo(...build, '-o', 'json');
    expect(b.code).toBe(0);
    const j = JSON.parse(b.out) as { digest: string; tags: string[]; layers: unknown[] };
    expect(j.digest).toBe(a.out.trim());
    expect(j.tags).toEqual(['web:1']);
    expect(j.layers).toHaveLength(1);
  });

  it('inspect -o json has the contract shape', async () => {
    await flo(...build);
    const r = await flo('image', 'inspect', 'oci-archive:web.oci.tar', '-o', 'json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(['digest', 'tags', 'layers', 'config']);
    expect(j.tags).toEqual(['web:1']);
    expect(j.config).toEqual({
      entrypoint: ['/bin/sh', '-c'],
      cmd: ['cat /etc/greeting'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hi'],
      workingDir: '/etc',
      user: null,
    });
    expect((j.layers as { digest: string; size: number }[])[0]).toMatchObject({ digest: expect.stringMatching(/^sha256:/) as unknown, size: expect.any(Number) as unknown });
    const text = await flo('image', 'inspect', 'web.oci.tar');
    expect(text.out).toMatch(/^digest +sha256:/m);
    expect(text.out).toMatch(/^signedBy +-$/m);
  });

  it.runIf(existsSync('/usr/bin/ssh-keygen') || process.env.CI === 'true')('sign on an image signs its digest; inspect shows signedBy', async () => {
    await flo(...build);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(dir, 'alice')]);
    const pub = readFileSync(join(dir, 'alice.pub'), 'utf8').split(' ');
    writeFileSync(join(dir, 'signers'), `alice@example.com ${pub[0]} ${pub[1]}\n`);
    const s = await flo('sign', '--key', 'alice', 'web.oci.tar');
    expect(s.code).toBe(0);
    expect(s.out.trim()).toBe(join(dir, 'web.oci.tar.sig'));
    expect(s.err).toMatch(/signed image sha256:[a-f0-9]{64} \(namespace flotilla-image\)/);
    const r = await flo('image', 'inspect', 'web.oci.tar', '--allowed-signers', 'signers', '-o', 'json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { signedBy?: string }).signedBy).toBe('alice@example.com');
    // ~/.flotilla/allowed_signers is the default.
    mkdirSync(join(dir, '.flotilla'), { recursive: true });
    writeFileSync(join(dir, '.flotilla/allowed_signers'), readFileSync(join(dir, 'signers')));
    expect((await flo('image', 'inspect', 'web.oci.tar')).out).toMatch(/^signedBy +alice@example.com$/m);
    // A rebuilt image with other content: the old signature no longer matches.
    writeFileSync(join(dir, 'ctx/etc/greeting'), 'changed\n');
    await flo(...build);
    writeFileSync(join(dir, 'ctx/etc/greeting'), 'hello\n');
    const bad = await flo('image', 'inspect', 'web.oci.tar', '--allowed-signers', 'signers');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/bad signature on image web.oci.tar/);
    const warned = await flo('image', 'inspect', 'web.oci.tar');
    expect(warned.code).toBe(0);
    expect(warned.err).toMatch(/warning: bad signature/);
    rmSync(join(dir, '.flotilla'), { recursive: true });
    // An artifact is still signed as a file in the artifact namespace.
    execFileSync('tar', ['-czf', join(dir, 'app.tar.gz'), '-C', join(dir, 'ctx'), '.']);
    const a = await flo('sign', '--key', 'alice', 'app.tar.gz');
    expect(a.code).toBe(0);
    execFileSync('sh', ['-c', `ssh-keygen -Y verify -f signers -I alice@example.com -n flotilla-artifact -s app.tar.gz.sig < app.tar.gz`], { cwd: dir, stdio: 'pipe' });
  });

  it('a tampered image fails with exit 1 naming the blob', async () => {
    await flo(...build);
    const bytes = readFileSync(join(dir, 'web.oci.tar'));
    const i = bytes.indexOf(Buffer.from('GREETING=hi'));
    bytes.write('GREETING=ho', i);
    writeFileSync(join(dir, 'bad.oci.tar'), bytes);
    const r = await flo('image', 'inspect', 'bad.oci.tar');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/blob sha256:[a-f0-9]{64} \(archive entry blobs\/sha256\/[a-f0-9]{64}\) of bad.oci.tar hashes to sha256:/);
  });

  it.each([
    [['image'], /expected a subcommand: build or inspect/],
    [['image', 'push'], /unknown subcommand "push"/],
    [['image', 'build', 'ctx'], /--out FILE is required/],
    [['image', 'build', 'ctx', '--out', 'x.tar', '--workdir', 'rel'], /--workdir rel: expected an absolute path/],
    [['image', 'build', 'ctx', '--out', 'x.tar', '--env', 'NOPE'], /--env NOPE: expected K=V/],
    [['image', 'inspect'], /expected one IMAGE/],
    [['image', 'inspect', 'x', '-o', 'xml'], /-o xml: unknown output format; expected one of text, json, yaml/],
  ])('%j is a usage error (exit 2)', async (argv, msg) => {
    const r = await flo(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
  });

  it('--help describes both subcommands', async () => {
    const r = await flo('image', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('flo image inspect IMAGE');
    expect(r.out).toContain('--allowed-signers FILE');
  });
});

describe('images in the cluster: apply, get -o wide, describe', { timeout: 60_000 }, () => {
  const manifest = (image: string): string => `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 1
  selector: "app=web"
  template:
    metadata: {labels: {app: web}}
    spec:
      image: ${image}
      resources: {memory: 64Mi}
`;

  it('apply stores the image and records its digest; get -o wide shows IMAGE; describe shows image, digest and signer', async () => {
    const built = await flo(...build);
    const digest = built.out.trim();
    writeFileSync(join(dir, 'web.yaml'), manifest('oci-archive:./web.oci.tar'));
    const a = await flo('apply', '-f', 'web.yaml');
    expect(a.code, a.err).toBe(0);
    expect(a.out).toBe('replicaset/web created\n');
    expect(existsSync(join(dir, '.flotilla', 'artifacts', 'images', 'blobs', 'sha256', digest.slice(7)))).toBe(true);
    // an instance as the controllers would write it (no hosts here): what get and describe show
    const cluster = await import('@flotilla/cluster');
    const store = await cluster.openStore(undefined, { cwd: dir });
    try {
      const rs = (await store.replicaSets.get('web'))!;
      await store.instances.create({
        apiVersion: 'flotilla.dev/v1',
        kind: 'Instance',
        metadata: { name: 'web-abcde', labels: { app: 'web' } },
        spec: { replicaSet: 'web', host: 'h1', templateHash: cluster.templateHash(rs.spec.template), template: rs.spec.template.spec },
        status: { phase: 'Running', ready: true, ports: {}, pid: 4242, restarts: 0, imageDigest: digest, signedBy: 'alice@example.com', conditions: [{ type: 'LimitsEnforced', status: 'False', reason: 'Rootless', message: 'rootless' }] },
      });
    } finally {
      await store.close();
    }
    const wide = await flo('get', 'instances', '-o', 'wide');
    expect(wide.code, wide.err).toBe(0);
    expect(wide.out.split('\n')[0]).toMatch(/ADDRESS +REPLICASET +IMAGE$/);
    expect(wide.out).toContain(digest.slice(7, 19));
    const json = await flo('get', 'instances', '-o', 'json');
    const [item] = (JSON.parse(json.out) as { items: Record<string, unknown>[] }).items;
    expect(item).toMatchObject({ runtime: 'oci', image: `oci-archive:${join(dir, 'web.oci.tar')}`, imageDigest: digest, signedBy: 'alice@example.com', conditions: [{ type: 'LimitsEnforced', status: 'False', reason: 'Rootless' }] });
    const d = await flo('describe', 'instance/web-abcde');
    expect(d.code, d.err).toBe(0);
    expect(d.out).toMatch(new RegExp(`^Container:\\n  Image: +oci-archive:${join(dir, 'web.oci.tar')}\\n  Digest: +${digest}\\n  Signed By: +alice@example.com\\n  Limits: +not enforced \\(Rootless\\)$`, 'm'));
  });

  it('a bad image is refused by apply with file, line and path; nothing is written', async () => {
    writeFileSync(join(dir, 'bad.yaml'), manifest('oci-archive:./nothing-here.tar'));
    const r = await flo('apply', '-f', 'bad.yaml', '--store', `file://${join(dir, 'other-store')}`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.yaml:10:\d+: spec\.template\.spec\.image: image oci-archive:\.\/nothing-here\.tar: .*nothing-here\.tar does not exist/);
    expect(r.out).toBe('');
    const t = await flo('apply', '-f', 'bad.yaml', '--dry-run', '--store', `file://${join(dir, 'other-store')}`);
    expect(t.code).toBe(1);
  });
});

describe('parseWords (--entrypoint, --cmd)', () => {
  it.each([
    ['/bin/sh -c', ['/bin/sh', '-c']],
    [`sh -c 'echo "a b"'`, ['sh', '-c', 'echo "a b"']],
    ['a\\ b "c d" e""', ['a b', 'c d', 'e']],
    ['["/bin/httpd","-f"]', ['/bin/httpd', '-f']],
    ['', []],
  ])('%j', (text, words) => {
    expect(parseWords(text, 'cmd')).toEqual(words);
  });
  it('refuses an unterminated quote', () => {
    expect(() => parseWords("'a", 'cmd')).toThrow(/unterminated/);
  });
});
