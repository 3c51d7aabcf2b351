// A Host's spec.cniBinDir (DESIGN.md, Networking: "Host spec.cniBinDir names another place"):
// the validator's checks (file, line, field, how to fix); the network driver's tool check looks
// for the plugins there and names that directory when one is missing; and a container's pod
// network is deleted (CNI DEL on stop) with the plugins its ADD ran — from the directory the ADD
// saved — even after the Host's cniBinDir changed. The plugins here are fake (shell scripts that
// log how they were run and touch no network); the real ones run in test/e2e/pod-network-netns.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cniAdd } from '@flotilla/deploy/network';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, DeployNetworkDriver, DeployRuntime, parseManifests, validateManifest, type Host, type Instance } from '../../src/index.js';

const hostYaml = (spec: string): string => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: h1}\nspec:\n  address: 10.0.0.1\n${spec}`;

describe('Host spec.cniBinDir: validation', () => {
  it.each([
    ['an absolute path', '  cniBinDir: /opt/cni/bin\n', []],
    ['a path with spaces (any absolute path)', '  cniBinDir: "/opt/my cni"\n', []],
    ['left out (the default, /usr/lib/cni)', '', []],
    [
      'a relative path',
      '  cniBinDir: opt/cni/bin\n',
      [{ path: 'spec.cniBinDir', line: 6, file: 'hosts.yaml', message: '"opt/cni/bin" is not an absolute path: give the directory on the host that holds the CNI plugins (bridge, host-local, portmap, loopback), e.g. /usr/lib/cni, or leave cniBinDir out for that default' }],
    ],
    ['an empty string', '  cniBinDir: ""\n', [{ path: 'spec.cniBinDir', line: 6, message: expect.stringMatching(/^"" is not an absolute path: .*e\.g\. \/usr\/lib\/cni/) as unknown }]],
    ['a number', '  cniBinDir: 42\n', [{ path: 'spec.cniBinDir', line: 6, message: 'must be a string, not 42' }]],
    ['a list', '  cniBinDir: [/usr/lib/cni]\n', [{ path: 'spec.cniBinDir', line: 6, message: expect.stringMatching(/^must be a string/) as unknown }]],
  ])('%s', (_what, spec, issues) => {
    const r = parseManifests(hostYaml(spec), { file: 'hosts.yaml' });
    expect(r.issues).toEqual(issues.map((i) => expect.objectContaining(i) as unknown));
    if (issues.length === 0) expect(r.objects).toHaveLength(1);
    else expect(r.objects).toEqual([]);
  });

  it('is reported with every other problem of the document at once', () => {
    const issues = validateManifest({ apiVersion: API_VERSION, kind: 'Host', metadata: { name: 'h1' }, spec: { address: '10.0.0.1', cniBinDir: 'cni', containerRuntime: 'runc --debug', port: 0 } });
    expect(issues.map((i) => i.path.join('.')).sort()).toEqual(['spec.cniBinDir', 'spec.containerRuntime', 'spec.port']);
  });
});

/** A fake plugin: logs "<dir-tag> <name> <CNI_COMMAND> <container> <CNI_PATH>", answers ADD with an address. */
function fakePlugin(dir: string, name: string, log: string): void {
  writeFileSync(
    join(dir, name),
    `#!/bin/sh
cat >/dev/null
printf '%s %s %s %s\\n' ${name} "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_PATH" >> ${log}
[ "$CNI_COMMAND" = ADD ] && printf '{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.7/24","gateway":"10.9.0.1"}]}'
exit 0
`,
  );
  chmodSync(join(dir, name), 0o755);
}

const local = (dir: string, spec: Partial<Host['spec']> = {}): Host => ({ apiVersion: API_VERSION, kind: 'Host', metadata: { name: 'cnihost' }, spec: { local: { dir }, ...spec } });

describe("Host spec.cniBinDir: the network driver's tool check", () => {
  let dir: string;
  const runtime = new DeployRuntime();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flo-cnibindir-check-'));
    mkdirSync(join(dir, 'home'));
    for (const d of ['full', 'partial']) mkdirSync(join(dir, d));
    for (const p of ['bridge', 'host-local', 'portmap', 'loopback']) fakePlugin(join(dir, 'full'), p, join(dir, 'log'));
    for (const p of ['bridge', 'loopback']) fakePlugin(join(dir, 'partial'), p, join(dir, 'log'));
  });
  afterAll(async () => {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cniProblems = async (driver: DeployNetworkDriver, host: Host): Promise<string[]> => (await driver.check(host)).filter((m) => m.startsWith('CNI plugins'));

  it("looks for the plugins in the Host's cniBinDir, over the driver's default", async () => {
    const driver = new DeployNetworkDriver({ connection: (h) => runtime.connection(h), cniBinDir: join(dir, 'partial') });
    expect(await cniProblems(driver, local(join(dir, 'home'), { cniBinDir: join(dir, 'full') }))).toEqual([]);
    // (a Host that says nothing gets the driver's directory)
    expect(await cniProblems(driver, local(join(dir, 'home')))).toEqual([
      `CNI plugins host-local, portmap in ${join(dir, 'partial')}: apt-get install -y containernetworking-plugins, or set the Host's spec.cniBinDir to where they are`,
    ]);
  });

  it('names the missing plugins and the directory it looked in, and how to fix it', async () => {
    const driver = new DeployNetworkDriver({ connection: (h) => runtime.connection(h) });
    expect(await cniProblems(driver, local(join(dir, 'home'), { cniBinDir: join(dir, 'partial') }))).toEqual([
      `CNI plugins host-local, portmap in ${join(dir, 'partial')}: apt-get install -y containernetworking-plugins, or set the Host's spec.cniBinDir to where they are`,
    ]);
    expect(await cniProblems(driver, local(join(dir, 'home'), { cniBinDir: join(dir, 'nowhere') }))).toEqual([
      `CNI plugins bridge, host-local, portmap, loopback in ${join(dir, 'nowhere')}: apt-get install -y containernetworking-plugins, or set the Host's spec.cniBinDir to where they are`,
    ]);
  });
});

// CNI runs as root (as the real plugins must); the fake plugins touch nothing but their log.
const root = process.getuid?.() === 0;
if (!root && process.env.CI === 'true') throw new Error('CI=true: the CNI DEL tests of a Host cniBinDir need root');
if (!root) console.warn("SKIPPING the CNI DEL tests of a Host's cniBinDir: they run (fake) CNI plugins as root");

describe.runIf(root)("Host spec.cniBinDir: a container's pod network is deleted with the plugins its ADD ran", () => {
  let dir: string;
  let log: string;
  const runtime = new DeployRuntime({ imagesKept: false });
  const lines = (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
  const instance = (name: string): Instance => ({
    apiVersion: API_VERSION,
    kind: 'Instance',
    metadata: { name },
    spec: { replicaSet: 'web', host: 'cnihost', templateHash: 'h', template: { image: 'oci-archive:web.tar' } },
    status: { phase: 'Running', ready: true, ports: {}, restarts: 0 },
  });
  /** What ADD leaves on the host for pod `name` (as attachPodNetwork's CNI ADD would, without a namespace). */
  const added = (name: string, binDir: string) => cniAdd(runtime.connection(local(join(dir, 'home'))), { cniVersion: '1.0.0', name: 'flotilla', plugins: [{ type: 'bridge' }, { type: 'portmap' }] }, { containerId: name, netns: `/run/netns/flo-${name}`, binDir });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flo-cnibindir-del-'));
    log = join(dir, 'log');
    mkdirSync(join(dir, 'home'));
    for (const d of ['old', 'new']) {
      mkdirSync(join(dir, d));
      for (const p of ['bridge', 'portmap']) fakePlugin(join(dir, d), p, log);
    }
  });
  afterAll(async () => {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stop runs DEL from the directory ADD used, though the Host's cniBinDir now names another", async () => {
    await added('web-a1', join(dir, 'old'));
    expect(lines()).toEqual([`bridge ADD web-a1 ${join(dir, 'old')}`, `portmap ADD web-a1 ${join(dir, 'old')}`]);
    rmSync(log);
    await runtime.stop(local(join(dir, 'home'), { cniBinDir: join(dir, 'new') }), instance('web-a1'), 0);
    expect(lines()).toEqual([`portmap DEL web-a1 ${join(dir, 'old')}`, `bridge DEL web-a1 ${join(dir, 'old')}`]);
    expect(existsSync(join(dir, 'home/.flotilla/cni/flotilla/web-a1-eth0'))).toBe(false);
  });

  it("a pod whose ADD state names no directory (made before it was recorded) is deleted with the Host's cniBinDir", async () => {
    await added('web-a2', join(dir, 'old'));
    rmSync(join(dir, 'home/.flotilla/cni/flotilla/web-a2-eth0/bindir'));
    rmSync(log);
    await runtime.stop(local(join(dir, 'home'), { cniBinDir: join(dir, 'new') }), instance('web-a2'), 0);
    expect(lines()).toEqual([`portmap DEL web-a2 ${join(dir, 'new')}`, `bridge DEL web-a2 ${join(dir, 'new')}`]);
  });
});
