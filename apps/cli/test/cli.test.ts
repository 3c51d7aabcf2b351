import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { firstPositional, parseArgs, UsageError, type OptionSpec } from '../src/cli/args.js';
import { persistDuration } from '../src/cli/deploy-context.js';
import { main } from '../src/cli.js';
import { stallingKv } from './stalling-kv.js';
import { isProcessAlive } from '@flotilla/sys';

const specs: OptionSpec[] = [
  { name: 'hosts', short: 'H', type: 'string', multiple: true, description: '' },
  { name: 'serial', type: 'boolean', description: '' },
  { name: 'output', short: 'o', type: 'string', description: '' },
];

describe('argument parser', () => {
  it.each([
    [['-H', 'a,b', 'x'], { hosts: ['a,b'] }, ['x']],
    [['-Ha', '--hosts=b', '--hosts', 'c'], { hosts: ['a', 'b', 'c'] }, []],
    [['x', '--serial', '-o', 'json', 'y'], { serial: true, output: 'json' }, ['x', 'y']],
    [['--', '-H', '--serial'], {}, ['-H', '--serial']],
    [['-1'], {}, ['-1']],
  ])('%j', (argv, options, positionals) => {
    expect(parseArgs(argv, specs)).toEqual({ options, positionals });
  });
  it.each([
    [['--nope'], /unknown option --nope/],
    [['-x'], /unknown option -x/],
    [['-H'], /needs a value/],
    [['--serial=yes'], /takes no value/],
  ])('%j is a usage error', (argv, msg) => {
    expect(() => parseArgs(argv, specs)).toThrow(UsageError);
    expect(() => parseArgs(argv, specs)).toThrow(msg);
  });
  it('finds the command name after options with values', () => {
    expect(firstPositional(['-H', 'run', '--serial', 'run', 'x'], specs)).toEqual({ value: 'run', index: 3 });
    expect(firstPositional(['--hosts=a', 'put'], specs)).toEqual({ value: 'put', index: 1 });
    expect(firstPositional(['-H', 'a'], specs)).toBeUndefined();
  });
});

function io(cwd: string, env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(c.toString()));
  stderr.on('data', (c: Buffer) => err.push(c.toString()));
  return { io: { stdout, stderr, stdin: new PassThrough(), env, cwd }, out: () => out.join(''), err: () => err.join('') };
}

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A project whose "hosts" are directories on this machine (the local transport). */
function project() {
  const dir = mkdtempSync(join(tmpdir(), 'flo-cli-'));
  made.push(dir);
  writeFileSync(
    join(dir, 'hosts.yaml'),
    ['a', 'b', 'c']
      .map((n, i) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${n}, labels: {role: ${i < 2 ? 'web' : 'db'}}}\nspec: {local: {dir: ./hosts/${n}}}\n`)
      .join('---\n'),
  );
  writeFileSync(
    join(dir, 'flotilla.config.ts'),
    `import { task, shellQuote } from '@flotilla/deploy';
export const greet = task(async (c, who: string, opts?: Record<string, string>) => {
  await c.run('printf "%s %s\\\\n" ' + shellQuote(who) + ' ' + shellQuote(opts?.punct ?? '.'));
}, { help: 'print a greeting' });
export const failOnB = task(async (c) => { await c.run('[ "$(basename "$HOME")" != b ]'); });
export const build = task(async (c) => { await c.run('echo built > built.txt'); }, { once: true, help: 'build here' });
export const webOnly = task(async (c) => { await c.run('echo web'); }, { hosts: 'role=web' });
`,
  );
  return dir;
}

// Each case loads a TypeScript deployfile and spawns shells: generous limits for a loaded machine.
describe('--persist durations', () => {
  it.each([
    ['30', 30_000],
    ['30s', 30_000],
    ['1.5s', 1500],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['250ms', 250],
    ['0', undefined],
    ['off', undefined],
    ['no', undefined],
    ['', undefined],
  ])('%j -> %j ms', (text, ms) => {
    expect(persistDuration(text, '--persist')).toBe(ms);
  });
  it.each(['10x', '-5s', 'ten', '1e3'])('rejects %j with a usage error naming the option', (text) => {
    expect(() => persistDuration(text, '--persist')).toThrow(UsageError);
    expect(() => persistDuration(text, '--persist')).toThrow(/--persist .*expected a duration such as 30s/);
  });
});

describe('flo', { timeout: 90_000 }, () => {
  it('--version prints the package version', async () => {
    const t = io(tmpdir());
    expect(await main(['--version'], t.io)).toBe(0);
    expect(t.out()).toBe(`${(JSON.parse(readFileSync(join(import.meta.dirname, '../package.json'), 'utf8')) as { version: string }).version}\n`);
  });

  it('--help on the tool and on every command', async () => {
    for (const cmd of [[], ['run'], ['put'], ['download'], ['lowest-loadaverage'], ['sign'], ['disconnect'], ['store']]) {
      const t = io(tmpdir());
      expect(await main([...cmd, '--help'], t.io)).toBe(0);
      expect(t.out()).toMatch(/Usage/);
    }
  });

  it('--help says what --timeout and --connect-timeout bound', async () => {
    const t = io(tmpdir());
    expect(await main(['run', '--help'], t.io)).toBe(0);
    expect(t.out()).toMatch(/--timeout SECONDS\s+bound on each remote operation of a host \(a command, an upload, a download; waiting for the connection included\)/);
    expect(t.out()).toMatch(/--connect-timeout SECONDS\s+give up connecting \(TCP, ssh handshake, authentication\)/);
  });

  it('usage errors exit 2 with a hint', async () => {
    const dir = project();
    for (const argv of [['run', 'echo'], ['run', '--bogus'], ['put', '-H', 'a', 'only-one'], ['nosuchtask'], ['greet'], ['-o', 'xml', 'run', '-H', 'a', 'x'], ['sign', 'f'], ['--persist', '5 minutes', 'run', '-H', 'a', 'x'], ['disconnect', 'extra'], ['disconnect', '-o', 'wide'], ['--timeout', '0', 'run', '-H', 'a', 'x'], ['--connect-timeout', 'soon', 'run', '-H', 'a', 'x']]) {
      const t = io(dir);
      expect(await main(argv, t.io), argv.join(' ')).toBe(2);
      expect(t.err()).toMatch(/^flo: /);
    }
    const none = io(tmpdir());
    expect(await main(['deploy:app'], none.io)).toBe(2);
    expect(none.err()).toMatch(/no deployfile/);
  });

  it("host join checks the agent's settings it passes on before it touches the store or the host (exit 2)", async () => {
    const cases: [string[], RegExp][] = [
      [['host', 'join', 'h1', '--sync-interval', '0'], /--sync-interval: expected more than 0 seconds/],
      [['host', 'join', 'h1', '--sync-interval', 'often'], /--sync-interval often: expected seconds/],
      [['host', 'join', 'h1', '--renew-interval', '50'], /--renew-interval: expected more than 0 and less than the lease \(40 s\)/],
      [['host', 'join', 'h1', '--lease-duration', '1'], /--lease-duration 1: expected whole seconds, at least 2/],
      [['host', 'join', 'h1', '--log-level', 'loud'], /--log-level loud: expected one of debug, info, warn, error/],
      [['host', 'join', 'h1', '--log-format', 'xml'], /--log-format xml: expected text or json/],
      [['host', 'join', 'h1', '--metrics-listen', 'nowhere'], /--metrics-listen nowhere: expected HOST:PORT/],
      [['host', 'leave', 'h1', '--sync-interval', '1'], /host leave: --sync-interval is an option of join/],
    ];
    for (const [argv, message] of cases) {
      const dir = mkdtempSync(join(tmpdir(), 'flo-join-'));
      made.push(dir);
      const t = io(dir);
      expect(await main([...argv, '--store', 'flotilla://127.0.0.1:1'], t.io), argv.join(' ')).toBe(2);
      expect(t.err()).toMatch(message);
      expect(existsSync(join(dir, '.flotilla'))).toBe(false);
    }
    const t = io(tmpdir());
    expect(await main(['host', '--help'], t.io)).toBe(0);
    expect(t.out()).toMatch(/--sync-interval SECONDS\s+join: how often the agent observes its instances/);
  });

  it('disconnect with no daemon running says so and exits 0', async () => {
    const t = io(tmpdir());
    const ctl = mkdtempSync(join(tmpdir(), 'flo-ctl-'));
    t.io.env = { ...t.io.env, FLO_CONTROL_DIR: join(ctl, 'ctl') };
    expect(await main(['disconnect'], t.io)).toBe(0);
    expect(t.err()).toMatch(/no connection daemon is running/);
    const l = io(tmpdir());
    l.io.env = { ...l.io.env, FLO_CONTROL_DIR: join(ctl, 'ctl') };
    expect(await main(['disconnect', '--list', '-o', 'json'], l.io)).toBe(0);
    expect(JSON.parse(l.out())).toEqual([]);
    rmSync(ctl, { recursive: true, force: true });
  });

  it('flo --list shows tasks with their help', async () => {
    const t = io(project());
    expect(await main(['--list'], t.io)).toBe(0);
    expect(t.out()).toMatch(/^build\s+build here \(once, local\)$/m);
    expect(t.out()).toMatch(/^greet\s+print a greeting$/m);
    const j = io(project());
    expect(await main(['--list', '-o', 'json'], j.io)).toBe(0);
    expect(JSON.parse(j.out())).toContainEqual({ name: 'web-only', help: '', once: false, hosts: 'role=web' });
  });

  it('runs tasks with Fabric-style arguments on selected hosts, results on stdout', async () => {
    const dir = project();
    const t = io(dir);
    expect(await main(['-R', 'web', 'greet:hello\\, world,punct=!', 'build'], t.io)).toBe(0);
    expect(t.out().split('\n').sort()).toEqual(['', 'a: hello, world !', 'b: hello, world !']);
    expect(readFileSync(join(dir, 'built.txt'), 'utf8')).toBe('built\n');
    expect(t.err()).toMatch(/2\/2 hosts ok|3\/3 hosts ok/);
  });

  it('a task without a selection uses its hosts option', async () => {
    const t = io(project());
    expect(await main(['web-only'], t.io)).toBe(0);
    expect(t.out().split('\n').sort()).toEqual(['', 'a: web', 'b: web']);
  });

  it('-o json prints the per-host summary; a failed host exits 1 and, with max-fail 0, skips the rest', async () => {
    const t = io(project());
    expect(await main(['-H', 'a,b,c', '--serial', '-o', 'json', 'fail-on-b'], t.io)).toBe(1);
    const s = JSON.parse(t.out()) as { hosts: { host: string; status: string; durationMs: number; error?: string }[] };
    expect(s.hosts.map((h) => [h.host, h.status])).toEqual([
      ['a', 'ok'],
      ['b', 'failed'],
      ['c', 'skipped'],
    ]);
    expect(s.hosts[1]!.error).toMatch(/command failed on b/);
    expect(s.hosts[0]).not.toHaveProperty('error');
  });

  it('rolling batches are announced as plain lines when stderr is not a terminal', async () => {
    const t = io(project());
    expect(await main(['-H', 'a,b,c', '--batch', '1', '--max-fail', '1', 'fail-on-b'], t.io)).toBe(1);
    expect(t.err()).toMatch(/^batch 1: a$/m);
    expect(t.err()).toMatch(/^batch 3: c$/m);
    expect(t.err()).toMatch(/^b\s+failed/m);
  });

  it('flo run and lowest-loadaverage on local hosts', async () => {
    const dir = project();
    const t = io(dir);
    expect(await main(['run', '-l', 'role=db', 'echo $((6*7))'], t.io)).toBe(0);
    expect(t.out()).toBe('c: 42\n');
    const l = io(dir);
    expect(await main(['lowest-loadaverage', '-o', 'json'], l.io)).toBe(0);
    const ranked = JSON.parse(l.out()) as { host: string; load1: number; cores: number; loadPerCore: number }[];
    expect(ranked.map((r) => r.host).sort()).toEqual(['a', 'b', 'c']);
    for (const r of ranked) expect(Object.keys(r)).toEqual(['host', 'load1', 'cores', 'loadPerCore']);
  });

  it('never colours output that is not a terminal, and honours NO_COLOR', async () => {
    const t = io(project(), { NO_COLOR: '1' });
    await main(['run', '-H', 'a', 'echo x'], t.io);
    expect(t.out() + t.err()).not.toMatch(new RegExp(String.fromCharCode(27)));
  });
  it('FORCE_COLOR colours output that is not a terminal; FORCE_COLOR=0 does not; NO_COLOR wins over FORCE_COLOR', async () => {
    const esc = new RegExp(String.fromCharCode(27));
    const forced = io(project(), { FORCE_COLOR: '1' });
    expect(await main(['run', '-H', 'a,b', 'exit 3'], forced.io)).toBe(1);
    expect(forced.out() + forced.err()).toMatch(esc);
    for (const env of [{ FORCE_COLOR: '0' }, { FORCE_COLOR: '1', NO_COLOR: '1' }]) {
      const t = io(project(), env);
      expect(await main(['run', '-H', 'a,b', 'exit 3'], t.io)).toBe(1);
      expect(t.out() + t.err(), JSON.stringify(env)).not.toMatch(esc);
    }
  });
});

async function poll(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('which hosts a selection matches, connecting to none (flo hosts; --list-hosts as Ansible\'s)', { timeout: 60_000 }, () => {
  /** a, b (role web) and c (role db) are local; far is an ssh host nobody answers for: listing must not try it. */
  function fleet() {
    const dir = project();
    writeFileSync(join(dir, 'hosts.yaml'), `${readFileSync(join(dir, 'hosts.yaml'), 'utf8')}---\napiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: far, labels: {role: db, zone: b}}\nspec: {address: 127.0.0.1, port: 1, user: nobody}\n`);
    return dir;
  }
  it('flo hosts -l SEL: a table of name, address and labels; -o json; no selection = the inventory; no match says so', async () => {
    const dir = fleet();
    const t = io(dir);
    expect(await main(['hosts', '-l', 'role=db'], t.io)).toBe(0);
    expect(t.out()).toMatch(/^NAME\s+ADDRESS\s+LABELS\nc\s+local:\S*hosts\/c\s+role=db\nfar\s+nobody@127\.0\.0\.1:1\s+role=db,zone=b\n$/);
    const j = io(dir);
    expect(await main(['hosts', '-l', 'zone notin (b)', '-o', 'json'], j.io)).toBe(0);
    expect((JSON.parse(j.out()) as { items: { name: string }[] }).items.map((i) => i.name)).toEqual(['a', 'b', 'c']);
    const all = io(dir);
    expect(await main(['hosts', '-R', 'web', '-H', 'c,elsewhere.example'], all.io)).toBe(0);
    expect(all.out()).toMatch(/\nelsewhere\.example\s+elsewhere\.example\s+\(not in the inventory\)\n/);
    const none = io(dir);
    expect(await main(['hosts', '-l', 'role=cache'], none.io)).toBe(0);
    expect(none.err()).toBe('No hosts matched.\n');
    const bad = io(dir);
    expect(await main(['hosts', '-l', 'role in (a'], bad.io)).toBe(2);
  });
  it('--list-hosts on run, put, download and lowest-loadaverage prints the matched hosts and connects to none', async () => {
    const dir = fleet();
    for (const argv of [['run', '-l', 'role=db', 'echo x'], ['put', '-R', 'db', 'hosts.yaml', '/tmp/x'], ['download', '-l', 'role=db', '/etc/hostname', 'out'], ['lowest-loadaverage', '-R', 'db']]) {
      const t = io(dir);
      expect(await main([...argv, '--list-hosts'], t.io), t.err()).toBe(0);
      expect(t.out()).toBe('  hosts (2):\n    c\n    far\n');
    }
  });
  it('--list-hosts on deployfile tasks: per task, from the command line or the task\'s own hosts; a once task runs here', async () => {
    const dir = fleet();
    const t = io(dir);
    expect(await main(['web-only', 'build', '--list-hosts'], t.io), t.err()).toBe(0);
    expect(t.out()).toBe('  task web-only:\n    hosts (2):\n      a\n      b\n  task build:\n    hosts (1):\n      local\n');
    const sel = io(dir);
    expect(await main(['-l', 'role=db', 'greet:you', '--list-hosts'], sel.io), sel.err()).toBe(0);
    expect(sel.out()).toBe('  task greet:\n    hosts (2):\n      c\n      far\n');
  });
});

describe('flo apply reports each object as it is written (issue 12 §6: it used to print only at the end)', { timeout: 60_000 }, () => {
  it('table: the first object is on stdout while the second write is still in flight', async () => {
    const kv = await stallingKv(1);
    try {
      const t = io(project());
      const running = main(['apply', '-f', 'hosts.yaml', '--store', kv.url], t.io);
      await poll('the second write to reach the store', () => kv.held() === 1);
      await poll('host/a on stdout', () => t.out().includes('host/a created'));
      expect(t.out()).toBe('host/a created\n'); // written and reported; b not yet written
      expect(kv.keys()).toEqual(['/flotilla/v1/hosts/a']);
      kv.release();
      expect(await running).toBe(0);
      expect(t.out()).toBe('host/a created\nhost/b created\nhost/c created\n');
    } finally {
      kv.release();
      await kv.close();
    }
  });

  it('-o json: progress lines on stderr as objects are written, one valid JSON document on stdout at the end', async () => {
    const kv = await stallingKv(2);
    try {
      const t = io(project());
      const running = main(['apply', '-f', 'hosts.yaml', '--store', kv.url, '-o', 'json'], t.io);
      await poll('the third write to reach the store', () => kv.held() === 1);
      await poll('progress on stderr', () => t.err().includes('host/b created'));
      expect(t.err()).toBe('host/a created\nhost/b created\n');
      expect(t.out()).toBe('');
      kv.release();
      expect(await running).toBe(0);
      expect(JSON.parse(t.out())).toEqual({
        items: ['a', 'b', 'c'].map((name) => ({ kind: 'Host', name, action: 'created' })),
      });
    } finally {
      kv.release();
      await kv.close();
    }
  });
});

/** Is a process alive (and not a zombie)? @flotilla/sys's one liveness check. */
const alive = (pid: number): boolean => isProcessAlive(pid);

/** The supervisor's and the command's pids of every instance on local hosts under `dir` (from their services directories). */
function instanceProcesses(dir: string, instances: { name: string; host: string }[]): { what: string; pid: number }[] {
  return instances.flatMap((i) =>
    ['supervisor.pid', 'pid'].map((f) => ({
      what: `${i.name} ${f}`,
      pid: Number(readFileSync(join(dir, 'hosts', i.host, '.flotilla/services', i.name, f), 'utf8').trim()),
    })),
  );
}

describe('flo delete -f on a file with the Hosts and the ReplicaSet (issue 12 §6: it used to leave the instances running)', { timeout: 240_000 }, () => {
  it('stops every supervisor and command on the hosts before the hosts are deleted; nothing is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flo-delete-'));
    made.push(dir);
    const { writeSampleArtifact } = await import('@flotilla/cluster/demo');
    await writeSampleArtifact(dir);
    const hosts = ['d1', 'd2']
      .map((n) => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: ${n}}\nspec: {local: {dir: ./hosts/${n}}, capacity: {cpu: 2, memory: 2Gi}}\n---\n`)
      .join('');
    writeFileSync(
      join(dir, 'app.yaml'),
      `${hosts}apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 2
  selector: "app=web"
  template:
    metadata: {labels: {app: web}}
    spec:
      artifact: ./sample-app.tar.gz
      command: [node, server.js]
      ports: [{name: http}]
      resources: {cpu: 250m, memory: 64Mi}
      terminationGracePeriodSeconds: 2
`,
    );
    const apply = io(dir);
    expect(await main(['apply', '-f', 'app.yaml', '--wait', '--timeout', '120'], apply.io), apply.err()).toBe(0);
    const get = io(dir);
    expect(await main(['get', 'instances', '-o', 'json'], get.io)).toBe(0);
    const instances = (JSON.parse(get.out()) as { items: { name: string; host: string }[] }).items;
    expect(instances).toHaveLength(2);
    const procs = instanceProcesses(dir, instances);
    expect(procs.filter((p) => !alive(p.pid))).toEqual([]);
    try {
      const del = io(dir);
      expect(await main(['delete', '-f', 'app.yaml', '--timeout', '120'], del.io), del.err()).toBe(0);
      // the replica set first, the hosts only after its instances are stopped
      expect(del.out()).toBe('replicaset/web deleted\nhost/d1 deleted\nhost/d2 deleted\n');
      expect(procs.filter((p) => alive(p.pid))).toEqual([]);
      for (const i of instances) expect(existsSync(join(dir, 'hosts', i.host, '.flotilla/services', i.name, 'supervisor.pid'))).toBe(false);
      for (const kind of ['hosts', 'instances', 'replicasets']) {
        const g = io(dir);
        expect(await main(['get', kind, '-o', 'json'], g.io)).toBe(0);
        expect(JSON.parse(g.out())).toEqual({ items: [] });
      }
    } finally {
      for (const p of procs) if (alive(p.pid)) process.kill(p.pid, 'SIGKILL'); // what the defect left behind
    }
  });
});

describe('flo store (in process; the damage cases run on the built flo in e2e/store-repair.test.ts)', () => {
  it('usage: a subcommand is needed; repair applies to file stores only; --keep-intact belongs to repair (exit 2)', async () => {
    const dir = project();
    for (const argv of [['store'], ['store', 'frob'], ['store', 'check', 'extra'], ['store', 'check', '--keep-intact'], ['store', 'check', '-o', 'xml'], ['store', 'repair', '--keep-intact', '--store', 'etcd://127.0.0.1:1']]) {
      const t = io(dir);
      expect(await main(argv, t.io), argv.join(' ')).toBe(2);
      expect(t.err()).toMatch(/^flo: /);
    }
  });

  it('check on a healthy store exits 0 with its report; on a missing store exits 1 without creating it', async () => {
    const dir = project();
    expect(await main(['apply', '-f', 'hosts.yaml'], io(dir).io)).toBe(0);
    const t = io(dir);
    expect(await main(['store', 'check', '-o', 'json'], t.io)).toBe(0);
    expect(JSON.parse(t.out())).toMatchObject({ type: 'file', status: 'ok', state: { revision: 3, keys: 3, kinds: { hosts: 3 } }, damage: [] });
    const empty = mkdtempSync(join(tmpdir(), 'flo-cli-empty-'));
    made.push(empty);
    const m = io(empty);
    expect(await main(['store', 'check'], m.io)).toBe(1);
    expect(m.out()).toContain('missing: no store here');
    expect(existsSync(join(empty, '.flotilla'))).toBe(false);
  });
});


describe('store selection (issue 17): --store, else $FLO_STORE, else ./.flotilla created only by a command that writes', () => {
  const empty = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'flo-cli-sel-'));
    made.push(d);
    return d;
  };

  it.each([[['get', 'hosts']], [['describe', 'host/a']], [['logs', 'instance/x']], [['apply', '-f', 'hosts.yaml', '--dry-run']]])(
    'flo %j on a missing store exits 1 with one line naming it, and creates nothing',
    async (argv) => {
      const dir = project();
      const t = io(dir);
      expect(await main(argv, t.io)).toBe(1);
      expect(t.err()).toBe(`flo: ClusterError: no store at ${join(dir, '.flotilla')}: a store is created by the first write (flo apply -f FILE); to read another, pass --store URL or set FLO_STORE\n`);
      expect(t.out()).toBe('');
      expect(existsSync(join(dir, '.flotilla'))).toBe(false);
    },
  );

  it('apply creates ./.flotilla; then get, describe and apply --dry-run read it', async () => {
    const dir = project();
    expect(await main(['apply', '-f', 'hosts.yaml'], io(dir).io)).toBe(0);
    expect(existsSync(join(dir, '.flotilla', 'store'))).toBe(true);
    const g = io(dir);
    expect(await main(['get', 'hosts', '-o', 'json'], g.io)).toBe(0);
    expect((JSON.parse(g.out()) as { items: { name: string }[] }).items.map((h) => h.name)).toEqual(['a', 'b', 'c']);
    expect(await main(['describe', 'host/a'], io(dir).io)).toBe(0);
    const d = io(dir);
    expect(await main(['apply', '-f', 'hosts.yaml', '--dry-run'], d.io)).toBe(0);
    expect(d.out()).toContain('(dry run)');
  });

  it('$FLO_STORE is used when --store is absent, by writers, readers and store check', async () => {
    const dir = project();
    const store = join(empty(), 'st');
    const env = { FLO_STORE: `file://${store}` };
    expect(await main(['apply', '-f', 'hosts.yaml'], io(dir, env).io)).toBe(0);
    expect(existsSync(join(store, 'store'))).toBe(true);
    expect(existsSync(join(dir, '.flotilla'))).toBe(false);
    const g = io(dir, env);
    expect(await main(['get', 'hosts', '-o', 'json'], g.io)).toBe(0);
    expect((JSON.parse(g.out()) as { items: unknown[] }).items).toHaveLength(3);
    const c = io(dir, env);
    expect(await main(['store', 'check', '-o', 'json'], c.io)).toBe(0);
    expect(JSON.parse(c.out())).toMatchObject({ type: 'file', dir: store, status: 'ok' });
    // a missing $FLO_STORE is named, and not created, by a reader
    const gone = join(empty(), 'nothing');
    const m = io(dir, { FLO_STORE: `file://${gone}` });
    expect(await main(['get', 'hosts'], m.io)).toBe(1);
    expect(m.err()).toContain(`no store at ${gone}:`);
    expect(existsSync(gone)).toBe(false);
    expect(existsSync(join(dir, '.flotilla'))).toBe(false);
  });

  it('--store wins over $FLO_STORE', async () => {
    const dir = project();
    const [a, b] = [join(empty(), 'a'), join(empty(), 'b')];
    writeFileSync(join(dir, 'one.yaml'), 'apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: solo}\nspec: {local: {dir: ./hosts/solo}}\n');
    expect(await main(['apply', '-f', 'one.yaml'], io(dir, { FLO_STORE: `file://${b}` }).io)).toBe(0);
    expect(await main(['apply', '-f', 'hosts.yaml', '--store', `file://${a}`], io(dir, { FLO_STORE: `file://${b}` }).io)).toBe(0);
    expect(existsSync(join(a, 'store'))).toBe(true);
    const onlyEnv = io(dir, { FLO_STORE: `file://${b}` });
    expect(await main(['get', 'hosts', '-o', 'json'], onlyEnv.io)).toBe(0);
    expect((JSON.parse(onlyEnv.out()) as { items: { name: string }[] }).items.map((h) => h.name)).toEqual(['solo']);
    const g = io(dir, { FLO_STORE: `file://${b}` });
    expect(await main(['get', 'hosts', '-o', 'json', '--store', `file://${a}`], g.io)).toBe(0);
    expect((JSON.parse(g.out()) as { items: unknown[] }).items).toHaveLength(3);
    const c = io(dir, { FLO_STORE: `file://${b}` });
    expect(await main(['store', 'check', '-o', 'json', '--store', `file://${a}`], c.io)).toBe(0);
    expect(JSON.parse(c.out())).toMatchObject({ dir: a, state: { keys: 3 } });
    expect(existsSync(join(dir, '.flotilla'))).toBe(false);
  });
});

/** A loopback port nobody listens on: bound by the OS, then released (not listened on again). */
async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('no silent hangs on an unreachable store (issue 17): progress on stderr, exit 1 by --request-timeout naming the endpoint', { timeout: 30_000 }, () => {
  it('flo kv get with nothing listening', async () => {
    const port = await closedPort();
    const ep = `http://127.0.0.1:${port}`;
    const t = io(project());
    const started = Date.now();
    const code = await main(['kv', 'get', 'foo', '--endpoints', ep, '--request-timeout', '2'], t.io);
    const elapsed = Date.now() - started;
    expect(code).toBe(1);
    // A correctness bound (the window is 2 s; it used to be a fixed 15 s), not a speed figure.
    expect(elapsed).toBeLessThan(8_000);
    expect(t.err()).toContain(`flo: trying ${ep} (connection refused); retrying until 2 s\n`);
    expect(t.err().split('\n').filter((l) => l.startsWith('flo: trying'))).toHaveLength(1); // once per endpoint, not per retry
    expect(t.err()).toMatch(new RegExp(`no member answered within 2 s; tried ${ep.replace(/\./g, '\\.')} \\(connection refused\\)`));
    expect(t.out()).toBe('');
  });

  it('-v/--verbose (or FLOTILLA_DEBUG, its older spelling) says every retry and the error\'s stack', async () => {
    const ep = `http://127.0.0.1:${await closedPort()}`;
    for (const [argv, env] of [[['-v'], {}], [['--verbose'], {}], [[], { FLOTILLA_DEBUG: '1' }]] as const) {
      const t = io(project(), env);
      expect(await main(['kv', 'get', 'foo', '--endpoints', ep, '--request-timeout', '2', ...argv], t.io)).toBe(1);
      expect(t.err().split('\n').filter((l) => l.startsWith(`flo: trying ${ep}`)).length, t.err()).toBeGreaterThan(1);
      expect(t.err()).toMatch(/\(retry 2\)/);
      expect(t.err()).toMatch(/^\s+at .*kv-client/m);
    }
  });

  it('flo get --store flotilla://… with nothing listening, every endpoint named', async () => {
    const [p1, p2] = [await closedPort(), await closedPort()];
    const t = io(project());
    const started = Date.now();
    const code = await main(['get', 'replicasets', '--store', `flotilla://127.0.0.1:${p1},127.0.0.1:${p2}`, '--request-timeout', '2'], t.io);
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(8_000);
    for (const p of [p1, p2]) {
      expect(t.err()).toContain(`flo: trying http://127.0.0.1:${p} (connection refused); retrying until 2 s\n`);
      expect(t.err()).toMatch(new RegExp(`tried .*http://127\\.0\\.0\\.1:${p} \\(connection refused\\)`));
    }
    expect(t.out()).toBe('');
  });

  it('a reachable store answers as before, with nothing extra on stderr', async () => {
    const kv = await stallingKv(100);
    try {
      const ep = kv.url.replace('flotilla://', 'http://');
      const put = io(project());
      expect(await main(['kv', 'put', 'foo', 'bar', '--endpoints', ep, '--request-timeout', '2'], put.io)).toBe(0);
      const get = io(project());
      expect(await main(['kv', 'get', 'foo', '--endpoints', ep, '--request-timeout', '2'], get.io)).toBe(0);
      expect(get.out()).toBe('bar\n');
      expect(put.err() + get.err()).toBe('');
    } finally {
      kv.release();
      await kv.close();
    }
  });

  it('--request-timeout must be a positive number of seconds', async () => {
    const t = io(project());
    expect(await main(['kv', 'get', 'foo', '--request-timeout', 'soon'], t.io)).toBe(2);
    expect(t.err()).toContain('--request-timeout soon: expected seconds');
  });
});

describe('flo get instances --chunk-size and --host (issue 15)', () => {
  it('pages through the store, keeps name order, filters by host, and refuses bad use with exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flo-get-pages-'));
    made.push(dir);
    const { openStore } = await import('@flotilla/cluster');
    const store = await openStore(undefined, { cwd: dir });
    try {
      for (let i = 0; i < 5; i++)
        await store.instances.create({
          apiVersion: 'flotilla.dev/v1',
          kind: 'Instance',
          metadata: { name: `web-${i}`, labels: { app: 'web' } },
          spec: { replicaSet: 'web', host: i % 2 === 0 ? 'h1' : 'h2', templateHash: 'x', template: { command: ['true'] } },
          status: { phase: 'Running', ready: true, ports: {}, restarts: 0 },
        });
    } finally {
      await store.close();
    }
    const names = async (...args: string[]): Promise<string[]> => {
      const g = io(dir);
      expect(await main(['get', 'instances', ...args, '-o', 'json'], g.io), g.err()).toBe(0);
      return (JSON.parse(g.out()) as { items: { name: string; host: string }[] }).items.map((i) => `${i.name}@${i.host}`);
    };
    const all = ['web-0@h1', 'web-1@h2', 'web-2@h1', 'web-3@h2', 'web-4@h1'];
    expect(await names('--chunk-size', '2')).toEqual(all);
    expect(await names('--chunk-size', '0')).toEqual(all);
    expect(await names()).toEqual(all);
    expect(await names('--host', 'h2', '--chunk-size', '1')).toEqual(['web-1@h2', 'web-3@h2']);
    expect(await names('--host', 'nowhere')).toEqual([]);
    for (const bad of [['instances', '--chunk-size', 'many'], ['hosts', '--host', 'h1'], ['instances', '--host', 'a/b'], ['instances', '--host', 'h1', '-w']]) {
      const g = io(dir);
      expect(await main(['get', ...bad], g.io), bad.join(' ')).toBe(2);
      expect(g.err()).toMatch(/--chunk-size|--host/);
    }
  });
});
