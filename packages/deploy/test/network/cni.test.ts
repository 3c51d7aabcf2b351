// The CNI invocation against fake plugins (shell scripts that log their environment and stdin and
// answer as the spec says), run through the local transport. Fake plugins touch no network.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../src/index.js';
import { cniAdd, cniCheck, cniDel, isCniError, pluginInputs, podNetworkConfig, podResolvConf, type CniNetworkConfig } from '../../src/network/index.js';

const root = typeof process.getuid === 'function' && process.getuid() === 0;
if (!root) console.warn('\n*** SKIPPING CNI invocation tests: they run the (fake) plugins as root, as the real ones must; run as root or in CI ***\n');

/** A fake plugin: logs "<name> <command> <env…>" and its stdin, answers with a result naming itself (or the error it is told to). */
function fakePlugin(dir: string, name: string): void {
  writeFileSync(
    join(dir, name),
    `#!/bin/sh
in=$(cat)
printf '%s %s %s %s %s %s\\n' ${name} "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_PATH" >> "$LOG"
printf '%s\\n' "$in" >> "$LOG.stdin"
case "$in" in *'"fail":"'$CNI_COMMAND'"'*) printf '{"cniVersion":"1.0.0","code":7,"msg":"told to fail","details":"by the test"}'; exit 1;; esac
[ "$CNI_COMMAND" = ADD ] && printf '{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.%s/24","gateway":"10.9.0.1"}],"by":"${name}"}' "$(printf %s "$in" | grep -c prevResult)"
exit 0
`,
  );
  chmodSync(join(dir, name), 0o755);
}

describe.skipIf(!root)('CNI invocation (fake plugins)', () => {
  let dir: string;
  let c: Connection;
  const log = (): string[] => readFileSync(join(dir, 'log'), 'utf8').trim().split('\n');
  const stdin = (): string[] => readFileSync(join(dir, 'log.stdin'), 'utf8').trim().split('\n');
  const net = (extra: Record<string, unknown> = {}): CniNetworkConfig => ({ cniVersion: '1.0.0', name: 'testnet', plugins: [{ type: 'one', ...extra }, { type: 'two', capabilities: { portMappings: true } }] });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flo-cni-'));
    mkdirSync(join(dir, 'bin'));
    fakePlugin(join(dir, 'bin'), 'one');
    fakePlugin(join(dir, 'bin'), 'two');
    c = Connection.localDir(join(dir, 'home'));
    mkdirSync(join(dir, 'home'));
    process.env.LOG = join(dir, 'log');
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    delete process.env.LOG;
  });

  it('ADD runs the chain in order, each with the env of the spec and the previous result; DEL in reverse from saved state; then absent', async () => {
    const pm = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
    const ns = join(dir, 'ns-ctr1'); // stands for the namespace's file: it exists while the pod does
    writeFileSync(ns, '');
    const r = await cniAdd(c, net(), { containerId: 'ctr1', netns: ns, binDir: join(dir, 'bin'), capabilityArgs: { portMappings: pm } });
    // The last plugin's result; it saw one prevResult (the first plugin's).
    expect(r).toMatchObject({ by: 'two', ips: [{ address: '10.9.0.1/24' }] });
    expect(log()).toEqual([`one ADD ctr1 ${ns} eth0 ${join(dir, 'bin')}`, `two ADD ctr1 ${ns} eth0 ${join(dir, 'bin')}`]);
    const [first, second] = stdin().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toEqual({ type: 'one', cniVersion: '1.0.0', name: 'testnet' });
    expect(second).toMatchObject({ type: 'two', cniVersion: '1.0.0', name: 'testnet', runtimeConfig: { portMappings: pm }, prevResult: { by: 'one' } });
    expect(await cniCheck(c, 'testnet', { containerId: 'ctr1', binDir: join(dir, 'bin') })).toBe('ok');
    rmSync(join(dir, 'log'));
    rmSync(join(dir, 'log.stdin'));
    // DEL from what ADD saved: the caller gives neither the config nor the namespace.
    expect(await cniDel(c, 'testnet', { containerId: 'ctr1', binDir: join(dir, 'bin') })).toBe('deleted');
    expect(log()).toEqual([`two DEL ctr1 ${ns} eth0 ${join(dir, 'bin')}`, `one DEL ctr1 ${ns} eth0 ${join(dir, 'bin')}`]);
    expect(stdin().map((l) => (JSON.parse(l) as { prevResult?: { by?: string } }).prevResult?.by)).toEqual(['two', 'two']);
    expect(await cniDel(c, 'testnet', { containerId: 'ctr1', binDir: join(dir, 'bin') })).toBe('absent');
    expect(existsSync(join(dir, 'home/.flotilla/cni/testnet/ctr1-eth0'))).toBe(false);
  });

  it("a plugin's error JSON becomes a CniError naming plugin, operation and code; a failed ADD is deleted again", async () => {
    const e = await cniAdd(c, net({ fail: 'ADD' }), { containerId: 'ctr2', netns: '/run/netns/y', binDir: join(dir, 'bin') }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(isCniError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'cni', plugin: 'one', operation: 'ADD', cniCode: 7, details: 'by the test' });
    expect(String(e)).toMatch(/CNI ADD failed in plugin one: told to fail \(by the test\)/);
    // (Its namespace does not exist: DEL runs with an empty CNI_NETNS, as the spec allows, to release what is held outside it.)
    expect(log().slice(-2)).toEqual([`two DEL ctr2  eth0 ${join(dir, 'bin')}`, `one DEL ctr2  eth0 ${join(dir, 'bin')}`]);
  });

  it('a failing DEL keeps the state, so a later DEL tries again', async () => {
    await cniAdd(c, net({ fail: 'DEL' }), { containerId: 'ctr3', netns: '/run/netns/z', binDir: join(dir, 'bin') });
    await expect(cniDel(c, 'testnet', { containerId: 'ctr3', binDir: join(dir, 'bin') })).rejects.toThrow(/CNI DEL failed in plugin #0: told to fail/);
    expect(existsSync(join(dir, 'home/.flotilla/cni/testnet/ctr3-eth0/result'))).toBe(true);
  });

  it("ADD saves its plugin directory: CHECK and DEL run the plugins from there whatever directory the caller names then (a Host's spec.cniBinDir changed meanwhile)", async () => {
    const other = join(dir, 'other-bin');
    mkdirSync(other);
    fakePlugin(other, 'one');
    fakePlugin(other, 'two');
    const ns = join(dir, 'ns-ctr4');
    writeFileSync(ns, '');
    await cniAdd(c, net(), { containerId: 'ctr4', netns: ns, binDir: join(dir, 'bin') });
    expect(readFileSync(join(dir, 'home/.flotilla/cni/testnet/ctr4-eth0/bindir'), 'utf8')).toBe(join(dir, 'bin'));
    rmSync(join(dir, 'log'));
    expect(await cniCheck(c, 'testnet', { containerId: 'ctr4', binDir: other })).toBe('ok');
    expect(await cniDel(c, 'testnet', { containerId: 'ctr4', binDir: other })).toBe('deleted');
    expect(log()).toEqual([
      `one CHECK ctr4 ${ns} eth0 ${join(dir, 'bin')}`,
      `two CHECK ctr4 ${ns} eth0 ${join(dir, 'bin')}`,
      `two DEL ctr4 ${ns} eth0 ${join(dir, 'bin')}`,
      `one DEL ctr4 ${ns} eth0 ${join(dir, 'bin')}`,
    ]);
  });

  it("when the directory ADD ran the plugins from is gone, DEL runs them from the caller's", async () => {
    const gone = join(dir, 'gone-bin');
    mkdirSync(gone);
    fakePlugin(gone, 'one');
    fakePlugin(gone, 'two');
    await cniAdd(c, net(), { containerId: 'ctr5', netns: '/run/netns/flo-test-absent', binDir: gone });
    rmSync(gone, { recursive: true });
    rmSync(join(dir, 'log'));
    expect(await cniDel(c, 'testnet', { containerId: 'ctr5', binDir: join(dir, 'bin') })).toBe('deleted');
    expect(log()).toEqual([`two DEL ctr5  eth0 ${join(dir, 'bin')}`, `one DEL ctr5  eth0 ${join(dir, 'bin')}`]);
  });

  it('refuses bad names before running anything', async () => {
    await expect(cniAdd(c, net(), { containerId: '../x', netns: '/run/netns/x' })).rejects.toThrow(/containerId/);
    await expect(cniAdd(c, { ...net(), plugins: [{ type: '../../bin/sh' }] }, { containerId: 'a', netns: '/run/netns/x' })).rejects.toThrow(/plugins\[0\]\.type/);
  });
});

describe('pod network configuration (pure)', () => {
  it("is DESIGN.md's: bridge flo0, gateway the subnet's first address, hairpin, no masquerade, host-local under the home, portmap", () => {
    const n = podNetworkConfig({ subnet: '10.244.3.0/24' });
    expect(n).toEqual({
      cniVersion: '1.0.0',
      name: 'flotilla',
      plugins: [
        { type: 'bridge', bridge: 'flo0', isGateway: true, ipMasq: false, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.3.0/24', gateway: '10.244.3.1' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: '@@FLOTILLA_HOME@@/.flotilla/cni/ipam' } },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    });
    expect(() => podNetworkConfig({ subnet: '10.244.3.1/24' })).toThrow(/subnet/);
    expect(pluginInputs(n)[1]).toBe('{"type":"portmap","capabilities":{"portMappings":true},"snat":true,"cniVersion":"1.0.0","name":"flotilla"');
  });

  it('resolv.conf points at the bridge address with the search domain', () => {
    expect(podResolvConf({ nameserver: '10.244.3.1', search: ['flotilla.local'] })).toBe('nameserver 10.244.3.1\nsearch flotilla.local\noptions ndots:2\n');
    expect(() => podResolvConf({ nameserver: 'dns' })).toThrow(/nameserver/);
  });
});
