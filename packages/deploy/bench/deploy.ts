/**
 * Benchmark: `flo` against Fabric 2, Ansible and the plain-OpenSSH floor on the test fleet.
 *
 *   node --conditions=@flotilla/source --import tsx packages/deploy/bench/deploy.ts [--rounds 3] [--sizes 1,10,30]
 *     [--workloads deploy,load] [--tools persist,threads,Ansible]   (flo, Fabric 2 and the floor always run)
 *     [--subnet 70] [--user-prefix fltb]   (the fleet's addresses 127.0.<subnet>.x and unix users: take your own block)
 *
 * (run from the repository root, as root, after `npx nx run flotilla:build`). Installs
 * Debian's `fabric` and `ansible` with apt when missing. Two workloads on 1, 10 and 30 hosts:
 *   deploy  put a 5 MB artifact, unpack it, run a short script
 *   load    the 1-minute load average of every host, pick the lowest
 * Tools: flo; flo --persist with its connections held from the previous run, and on its first
 * run (no daemon yet); flo --threads 2; Fabric 2; Ansible; the plain-OpenSSH floor.
 * Each command is a separate process; the tools alternate within each round. Wall time is
 * the median over rounds; memory is the peak summed RSS of the command's process tree
 * (sampled every 20 ms), the largest over rounds.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFleet, type Fleet } from '../src/testing/index.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * A private copy of the built CLI and the workspace packages it runs, so that other builds in
 * the shared checkout (tsup cleans dist/) cannot pull the files away mid-benchmark. Third-party
 * packages are symlinked.
 */
function snapshotFlo(into: string): string {
  const nm = join(into, 'node_modules');
  mkdirSync(join(nm, '@flotilla'), { recursive: true });
  for (const name of readdirSync(join(repo, 'node_modules'))) {
    if (name === '@flotilla' || name === '.bin') continue;
    symlinkSync(join(repo, 'node_modules', name), join(nm, name));
  }
  for (const [pkg, dir] of [['deploy', 'packages/deploy'], ['labels', 'packages/labels']] as const) {
    cpSync(join(repo, dir, 'package.json'), join(nm, '@flotilla', pkg, 'package.json'));
    cpSync(join(repo, dir, 'dist'), join(nm, '@flotilla', pkg, 'dist'), { recursive: true });
  }
  for (const f of ['package.json', 'bin', 'dist']) cpSync(join(repo, 'apps/cli', f), join(into, 'cli', f), { recursive: true });
  return join(into, 'cli', 'bin', 'flo.js');
}
let flo = '';
const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const rounds = Number(arg('rounds', '3'));
const sizes = arg('sizes', '1,10,30').split(',').map(Number);
const workloads = arg('workloads', 'deploy,load').split(',') as ('deploy' | 'load')[];
const toolFilter = arg('tools', '');
const subnet = Number(arg('subnet', '70'));
const userPrefix = arg('user-prefix', 'fltb');

function ensureTools(): void {
  const has = (cmd: string): boolean => {
    try {
      execFileSync('sh', ['-c', cmd], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  const need: string[] = [];
  if (!has("/usr/bin/python3 -c 'import fabric'")) need.push('fabric');
  if (!has('command -v ansible-playbook')) need.push('ansible');
  if (!has('command -v sshd || test -x /usr/sbin/sshd')) need.push('openssh-server');
  if (need.length) {
    console.error(`installing ${need.join(' ')} with apt-get`);
    execFileSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${need.join(' ')} >/dev/null`], { stdio: 'inherit' });
  }
}

/** Sum of VmRSS (KiB) over `root` and its descendants. */
function treeRss(root: number): number {
  const parent = new Map<number, number>();
  const rss = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const pp = /^PPid:\s+(\d+)/m.exec(status);
      const vm = /^VmRSS:\s+(\d+)/m.exec(status);
      parent.set(Number(d), pp ? Number(pp[1]) : 0);
      rss.set(Number(d), vm ? Number(vm[1]) : 0);
    } catch {
      /* gone */
    }
  }
  let sum = 0;
  for (const [pid, r] of rss) {
    let p = pid;
    for (let hops = 0; p > 1 && hops < 64; hops++) {
      if (p === root) {
        sum += r;
        break;
      }
      p = parent.get(p) ?? 0;
    }
  }
  return sum;
}

interface Sample {
  wallMs: number;
  peakKb: number;
  ok: boolean;
  out: string;
}

function measure(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Sample> {
  return new Promise((res) => {
    const start = performance.now();
    const child = spawn(cmd, args, { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    let peak = 0;
    const timer = setInterval(() => {
      if (child.pid) peak = Math.max(peak, treeRss(child.pid));
    }, 20);
    child.on('close', (code) => {
      clearInterval(timer);
      res({ wallMs: performance.now() - start, peakKb: peak, ok: code === 0, out });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Tool {
  name: string;
  deploy: (n: number, dir: string) => [string, string[], NodeJS.ProcessEnv?];
  load: (n: number) => [string, string[], NodeJS.ProcessEnv?];
  /** Untimed, before each timed run (e.g. hold or drop persisted connections). */
  before?: (n: number) => Promise<void>;
  /** Resident memory (KiB) outside the command's process tree that the tool uses (the connection daemon). */
  extraKb?: () => number;
}

/** Sum of VmRSS (KiB) of processes whose command line contains `needle`. */
function rssOf(needle: string): number {
  let sum = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) continue;
      const vm = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${d}/status`, 'utf8'));
      sum += vm ? Number(vm[1]) : 0;
    } catch {
      /* gone */
    }
  }
  return sum;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (it starts the sshd test fleet)');
  ensureTools();
  const maxHosts = Math.max(...sizes);
  const fleet: Fleet = await startFleet({ size: maxHosts, subnet, userPrefix, labels: (i) => ({ idx: String(i + 1) }) });
  const work = mkdtempSync(join(tmpdir(), 'flo-bench-'));
  try {
    flo = snapshotFlo(join(work, 'snap'));
    // The 5 MB artifact: incompressible bytes plus a short script.
    const src = join(work, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'payload.bin'), randomBytes(5 << 20));
    writeFileSync(join(src, 'run.sh'), '#!/bin/sh\necho "ran on $(hostname) as $(id -un)"\n', { mode: 0o755 });
    const artifact = join(work, 'app.tar.gz');
    execFileSync('tar', ['-C', src, '-czf', artifact, '.']);

    writeFileSync(
      join(work, 'flotilla.config.ts'),
      `import { task, shellQuote } from '@flotilla/deploy';
export const benchDeploy = task(async (c, dir: string) => {
  await c.run('mkdir -p ' + shellQuote(dir));
  await c.put(${JSON.stringify(artifact)}, dir + '/app.tar.gz');
  await c.run('cd ' + shellQuote(dir) + ' && tar -xzf app.tar.gz && sh ./run.sh');
});
`,
    );
    const hostsFor = (n: number) => fleet.hosts.slice(0, n);
    const selector = (n: number) => `idx in (${hostsFor(n).map((_, i) => i + 1).join(',')})`;

    // Fabric 2: ThreadingGroup put + run.
    writeFileSync(
      join(work, 'fab_bench.py'),
      `import sys
from fabric import Connection, ThreadingGroup
mode, n, key, d = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
hosts = [l.split() for l in open(sys.argv[5]).read().split('\\n') if l.strip()][:n]
g = ThreadingGroup.from_connections([Connection(host=a, user=u, connect_kwargs={'key_filename': key, 'look_for_keys': False, 'allow_agent': False}) for a, u in hosts])
if mode == 'deploy':
    g.run('mkdir -p ' + d, hide=True)
    g.put(${JSON.stringify(artifact)}, remote=d + '/app.tar.gz')
    g.run('cd ' + d + ' && tar -xzf app.tar.gz && sh ./run.sh', hide=True)
else:
    r = g.run('cat /proc/loadavg; getconf _NPROCESSORS_ONLN', hide=True)
    best = min(r.items(), key=lambda kv: (float(kv[1].stdout.split()[0]) / int(kv[1].stdout.split()[5]), kv[0].host))
    print(best[0].host)
`,
    );
    const hostList = join(work, 'hosts.txt');
    writeFileSync(hostList, fleet.hosts.map((h) => `${h.address} ${h.user}`).join('\n'));
    // Paramiko reads ~/.ssh/known_hosts; give it the fleet's keys through a HOME of its own.
    const pyHome = join(work, 'pyhome');
    mkdirSync(join(pyHome, '.ssh'), { recursive: true });
    writeFileSync(join(pyHome, '.ssh', 'known_hosts'), readFileSync(fleet.knownHostsFile));

    // Ansible: copy + shell, forks = hosts.
    const ansibleInv = (n: number): string => {
      const f = join(work, `inv-${n}.ini`);
      writeFileSync(
        f,
        `[all]\n${hostsFor(n)
          .map((h) => `${h.name} ansible_host=${h.address} ansible_user=${h.user}`)
          .join('\n')}\n[all:vars]\nansible_ssh_private_key_file=${fleet.identityFile}\nansible_ssh_common_args='-o UserKnownHostsFile=${fleet.knownHostsFile} -o StrictHostKeyChecking=yes'\nansible_python_interpreter=/usr/bin/python3\n`,
      );
      return f;
    };
    writeFileSync(
      join(work, 'deploy.yml'),
      `- hosts: all
  gather_facts: false
  tasks:
    - file: {path: "{{ d }}", state: directory}
    - copy: {src: ${JSON.stringify(artifact)}, dest: "{{ d }}/app.tar.gz"}
    - shell: cd {{ d }} && tar -xzf app.tar.gz && sh ./run.sh
`,
    );
    const ansibleEnv = { ANSIBLE_HOST_KEY_CHECKING: 'True', ANSIBLE_STDOUT_CALLBACK: 'default', ANSIBLE_LOCAL_TEMP: join(work, 'ansible-tmp'), ANSIBLE_NOCOLOR: '1' };

    // The floor: one ssh per host in parallel, the artifact streamed on stdin.
    writeFileSync(
      join(work, 'floor.sh'),
      `#!/bin/sh
# floor.sh deploy|load N DIR
mode=$1; n=$2; d=$3; i=0
for h in $(head -n "$n" ${hostList} | awk '{print $1}'); do
  if [ "$mode" = deploy ]; then
    ssh -F ${fleet.sshConfigFile} -o KexAlgorithms=curve25519-sha256 -o BatchMode=yes "$h" "mkdir -p $d && cat > $d/app.tar.gz && cd $d && tar -xzf app.tar.gz && sh ./run.sh" < ${artifact} > /dev/null &
  else
    ssh -F ${fleet.sshConfigFile} -o KexAlgorithms=curve25519-sha256 -o BatchMode=yes "$h" 'echo "$(cat /proc/loadavg) $(getconf _NPROCESSORS_ONLN) $(hostname -I 2>/dev/null | cut -d" " -f1)"' > ${work}/load.$i &
  fi
  i=$((i + 1))
done
wait
if [ "$mode" = load ]; then cat ${work}/load.* | awk '{print $1/$6, $0}' | sort -n | head -n 1 > /dev/null; rm -f ${work}/load.*; fi
`,
      { mode: 0o755 },
    );

    const ctlHeld = join(work, 'ctl-held');
    const ctlFirst = join(work, 'ctl-first');
    const floBase = ['-f', join(work, 'flotilla.config.ts'), '-i', fleet.inventoryFile, '--ssh-config', fleet.sshConfigFile];
    const tools: Tool[] = [
      {
        name: 'flo',
        deploy: (n, d) => [process.execPath, [flo, ...floBase, '-l', selector(n), `bench-deploy:${d}`]],
        load: (n) => [process.execPath, [flo, ...floBase, 'lowest-loadaverage', '-l', selector(n)]],
      },
      // --persist: connections held by the per-user daemon between runs (each timed run follows
      // an untimed one that makes sure every host's connection is held) ...
      {
        name: 'flo --persist (held)',
        deploy: (n, d) => [process.execPath, [flo, ...floBase, '--persist', '10m', '-l', selector(n), `bench-deploy:${d}`], { FLO_CONTROL_DIR: ctlHeld }],
        load: (n) => [process.execPath, [flo, ...floBase, '--persist', '10m', 'lowest-loadaverage', '-l', selector(n)], { FLO_CONTROL_DIR: ctlHeld }],
        before: async (n) => {
          const s = await measure(process.execPath, [flo, ...floBase, '--persist', '10m', 'lowest-loadaverage', '-l', selector(n)], work, { FLO_CONTROL_DIR: ctlHeld });
          if (!s.ok) throw new Error(`warming the persisted connections failed:\n${s.out}`);
        },
        extraKb: () => rssOf(ctlHeld),
      },
      // ... and its first run, with no daemon yet (each timed run follows an untimed `flo disconnect`).
      {
        name: 'flo --persist (first run)',
        deploy: (n, d) => [process.execPath, [flo, ...floBase, '--persist', '10m', '-l', selector(n), `bench-deploy:${d}`], { FLO_CONTROL_DIR: ctlFirst }],
        load: (n) => [process.execPath, [flo, ...floBase, '--persist', '10m', 'lowest-loadaverage', '-l', selector(n)], { FLO_CONTROL_DIR: ctlFirst }],
        before: async () => {
          await measure(process.execPath, [flo, 'disconnect'], work, { FLO_CONTROL_DIR: ctlFirst });
        },
        extraKb: () => rssOf(ctlFirst),
      },
      {
        name: 'flo --threads 2',
        deploy: (n, d) => [process.execPath, [flo, ...floBase, '--threads', '2', '-l', selector(n), `bench-deploy:${d}`]],
        load: (n) => [process.execPath, [flo, ...floBase, '--threads', '2', 'lowest-loadaverage', '-l', selector(n)]],
      },
      {
        name: 'Fabric 2',
        deploy: (n, d) => ['/usr/bin/python3', [join(work, 'fab_bench.py'), 'deploy', String(n), fleet.identityFile, d, hostList], { HOME: pyHome }],
        load: (n) => ['/usr/bin/python3', [join(work, 'fab_bench.py'), 'load', String(n), fleet.identityFile, '-', hostList], { HOME: pyHome }],
      },
      {
        name: 'Ansible',
        deploy: (n, d) => ['ansible-playbook', ['-i', ansibleInv(n), '-f', String(n), '-e', `d=${d}`, join(work, 'deploy.yml')], ansibleEnv],
        load: (n) => [
          'sh',
          ['-c', `ansible all -i ${ansibleInv(n)} -f ${n} -o -m shell -a 'cat /proc/loadavg; getconf _NPROCESSORS_ONLN' | sort -t' ' -k8 -n | head -n 1`],
          ansibleEnv,
        ],
      },
      {
        name: 'OpenSSH floor',
        deploy: (n, d) => ['sh', [join(work, 'floor.sh'), 'deploy', String(n), d]],
        load: (n) => ['sh', [join(work, 'floor.sh'), 'load', String(n), '-']],
      },
    ];

    const results: { size: number; workload: string; tool: string; wallMs: number; peakKb: number }[] = [];
    let run = 0;
    for (const n of sizes) {
      for (const workload of workloads) {
        const walls = new Map<string, number[]>();
        const peaks = new Map<string, number>();
        for (let r = 0; r < rounds; r++) {
          // Alternate: rotate the order every round.
          const active = tools.filter((t) => (n > 1 || !t.name.includes('--threads')) && (!toolFilter || t.name === 'flo' || t.name === 'Fabric 2' || t.name === 'OpenSSH floor' || toolFilter.split(',').some((f) => t.name.includes(f))));
          const order = active.map((_, i) => active[(i + r) % active.length]!);
          for (const t of order) {
            const dir = `bench/${t.name.replace(/\W+/g, '')}-${run++}`;
            const [cmd, args, env] = workload === 'deploy' ? t.deploy(n, dir) : t.load(n);
            await t.before?.(n);
            const s = await measure(cmd, args, work, env);
            if (!s.ok) throw new Error(`${t.name} ${workload} on ${n} hosts failed:\n${s.out.slice(-3000)}`);
            walls.set(t.name, [...(walls.get(t.name) ?? []), s.wallMs]);
            peaks.set(t.name, Math.max(peaks.get(t.name) ?? 0, s.peakKb + (t.extraKb?.() ?? 0)));
          }
        }
        for (const t of tools.filter((x) => walls.has(x.name))) {
          const row = { size: n, workload, tool: t.name, wallMs: median(walls.get(t.name)!), peakKb: peaks.get(t.name)! };
          results.push(row);
          console.error(`${workload} ${n} hosts  ${t.name.padEnd(16)} ${(row.wallMs / 1000).toFixed(2)} s  ${(row.peakKb / 1024).toFixed(0)} MiB  (${walls.get(t.name)!.map((w) => (w / 1000).toFixed(2)).join(', ')})`);
        }
      }
    }

    // Markdown table with ratios against the floor and Fabric from the same run.
    const lines: string[] = [];
    lines.push(`Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, shared; ${rounds} rounds, tools alternating; wall = median, memory = peak RSS of the whole process tree.`);
    lines.push('');
    lines.push('| workload | hosts | tool | wall (s) | peak RSS (MiB) | ÷ OpenSSH floor | ÷ Fabric 2 |');
    lines.push('|---|---:|---|---:|---:|---:|---:|');
    for (const r of results) {
      const peer = (tool: string): string => {
        const p = results.find((x) => x.size === r.size && x.workload === r.workload && x.tool === tool);
        return p ? (r.wallMs / p.wallMs).toFixed(2) : '—';
      };
      lines.push(`| ${r.workload} | ${r.size} | ${r.tool} | ${(r.wallMs / 1000).toFixed(2)} | ${(r.peakKb / 1024).toFixed(0)} | ${peer('OpenSSH floor')} | ${peer('Fabric 2')} |`);
    }
    lines.push('');
    lines.push('Peak RSS of the --persist rows includes the connection daemon (a separate process).');
    console.log(lines.join('\n'));
  } finally {
    for (const ctl of ['ctl-held', 'ctl-first']) if (flo) await measure(process.execPath, [flo, 'disconnect'], work, { FLO_CONTROL_DIR: join(work, ctl) });
    await fleet.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
