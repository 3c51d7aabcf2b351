// `flo demo --network` end to end (issue 14's demo): the real command, as root, on its own fleet
// of network-namespace hosts (10.254.99.x, users flodemonet*). Its output is the test: the
// talk's two services resolve to their virtual IPs from inside a container, example.com answers
// from both env=prod instances and beta.example.com from the test and prod ones, then web-prod
// flipped to version=2 answers only as version 2 behind example.com while beta.example.com
// still answers from the version-1 test instance; everything is stopped; the root namespace's
// routes, rules, links and namespaces are as before. Skips loudly without root, runc,
// busybox-static, nft and the CNI plugins; required with CI=true.
// And run by a user who is not root (nobody, through setpriv), it refuses before it starts
// anything: it says root is missing and how to run it, exits 1, and makes no namespace, user,
// sshd or demo directory.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetAvailability } from '@flotilla/deploy/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { floArgv } from './cluster-harness.js';

const avail = fleetAvailability({ netns: true });
const has = (t: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${t} || [ -x /usr/sbin/${t} ]`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const why = !avail.ok
  ? avail.reason
  : !has('runc') || !has('nft')
    ? 'runc or nft missing'
    : !existsSync('/bin/busybox')
      ? 'busybox-static missing'
      : !['bridge', 'host-local', 'portmap'].every((p) => existsSync(`/usr/lib/cni/${p}`))
        ? 'CNI plugins missing'
        : undefined;
if (why !== undefined && process.env.CI === 'true') throw new Error(`CI=true but flo demo --network cannot run: ${why}`);
if (why !== undefined) process.stderr.write(`\n*** SKIPPING flo demo --network e2e: ${why} ***\n\n`);

function rootNetworkState(): string {
  return execFileSync('sh', ['-c', 'PATH=$PATH:/usr/sbin:/sbin; ip -4 route show table all; nft list ruleset; ip -o link | cut -d: -f2 | sort; ls /run/netns 2>/dev/null; true'], { encoding: 'utf8' });
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-demo-net-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(why === undefined)('flo demo --network', () => {
  it('refuses to combine with --ssh (exit 2, says why)', () => {
    let code = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, [...floArgv(), 'demo', '--network', '--ssh'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      code = (e as { status: number }).status;
      stderr = (e as { stderr: string }).stderr;
    }
    expect(code).toBe(2);
    expect(stderr).toContain('--network tells a story of its own');
  });

  it("the talk's services by name from inside a container; version=1 flipped to version=2 behind example.com; cleaned up", async () => {
    const before = rootNetworkState();
    const child = spawn(process.execPath, [...floArgv(), 'demo', '--network'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code, `${out}\n${err}`).toBe(0);
    const vip = (name: string): string => new RegExp(`^${name}\\s+(10\\.96\\.\\d+\\.\\d+):80 `, 'm').exec(out)?.[1] ?? 'none';
    expect(out).toContain(`nslookup example.com → ${vip('web')}`);
    expect(out).toContain(`nslookup beta.example.com → ${vip('beta')}`);
    const rounds = [...out.matchAll(/^ {3}GET http:\/\/(example\.com|beta\.example\.com)\/ ×12: (.*)$/gm)].map((m) => ({ name: m[1]!, answers: [...m[2]!.matchAll(/(web-\w+-\w+) \(version (\d)\) ×(\d+)/g)].map((a) => ({ instance: a[1]!, version: a[2]!, n: Number(a[3]) })) }));
    expect(rounds.map((r) => r.name)).toEqual(['example.com', 'beta.example.com', 'example.com', 'beta.example.com']);
    for (const r of rounds) expect(r.answers.reduce((s, a) => s + a.n, 0), JSON.stringify(r)).toBe(12); // none failed
    const [prod1, beta1, prod2, beta2] = rounds as [(typeof rounds)[0], (typeof rounds)[0], (typeof rounds)[0], (typeof rounds)[0]];
    // before the flip: example.com → the two env=prod instances (version 1); beta.example.com → those and the env=test one
    expect(prod1.answers.map((a) => a.instance).every((i) => i.startsWith('web-prod-'))).toBe(true);
    expect(prod1.answers).toHaveLength(2);
    expect(new Set(prod1.answers.map((a) => a.version))).toEqual(new Set(['1']));
    expect(beta1.answers).toHaveLength(3);
    expect(beta1.answers.filter((a) => a.instance.startsWith('web-test-'))).toHaveLength(1);
    // after: example.com only version 2 (new instances); beta.example.com the version-1 test instance and the version-2 prod ones
    expect(prod2.answers).toHaveLength(2);
    expect(new Set(prod2.answers.map((a) => a.version))).toEqual(new Set(['2']));
    expect(prod2.answers.some((a) => prod1.answers.some((b) => b.instance === a.instance))).toBe(false);
    expect(beta2.answers.map((a) => `${a.instance.replace(/-\w+$/, '')} v${a.version}`).sort()).toEqual(['web-prod v2', 'web-prod v2', 'web-test v1']);
    expect(out).toContain('   done.');
    expect(rootNetworkState()).toBe(before);
  }, 900_000);
});

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
/** Why the refusal cannot be shown here: it needs root (to become nobody), setpriv, and the CLI readable by nobody. */
function whyNotAsNobody(): string | undefined {
  if (!asRoot) return 'not root: cannot run flo as another user';
  if (!has('setpriv')) return 'setpriv missing (util-linux)';
  const entry = floArgv().at(-1)!;
  const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', 'require("fs").accessSync(process.argv[1], require("fs").constants.R_OK)', entry], { stdio: 'ignore' });
  return r.status === 0 ? undefined : `nobody cannot read ${entry} (a parent directory is private): run the repository from a world-readable place`;
}
const whyNot = whyNotAsNobody();
if (whyNot !== undefined) process.stderr.write(`\n*** SKIPPING flo demo --network's refusal as nobody: ${whyNot} ***\n\n`);

describe.runIf(whyNot === undefined)('flo demo --network run by a user who is not root', () => {
  /** What the demo would leave if it started: namespaces and the root namespace's links, routes and rules; fleet users; files nobody made in the temp directory. */
  const traces = (): { network: string; users: string[]; files: string[] } => ({
    network: rootNetworkState(),
    users: execFileSync('getent', ['passwd'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('flodemonet')),
    files: readdirSync(tmpdir()).filter((f) => f.startsWith('flotilla-') && statSync(join(tmpdir(), f), { throwIfNoEntry: false })?.uid === NOBODY),
  });

  it('refuses before starting anything: root is what is missing, and how to run it; exit 1; nothing made', () => {
    const home = mkdtempSync(join(tmpdir(), 'flotilla-demo-net-nobody-'));
    chmodSync(home, 0o755);
    chownSync(home, NOBODY, NOBODY);
    try {
      const before = traces();
      const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, ...floArgv(), 'demo', '--network'], {
        cwd: home,
        env: { ...process.env, HOME: home, USER: 'nobody', LOGNAME: 'nobody' },
        encoding: 'utf8',
        timeout: 300_000,
      });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines[0]).toBe('flo demo --network cannot run here:');
      expect(lines).toContain('  - root: it makes network namespaces, users and sshd servers (run it as root, e.g. sudo flo demo --network)');
      expect(lines.at(-1)).toBe('(or run `flo demo` without --network)');
      // refused before the fleet: it never said it was starting one
      expect(r.stderr).not.toContain('starting 2 network-namespace hosts');
      expect(traces()).toEqual(before);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 300_000);
});
