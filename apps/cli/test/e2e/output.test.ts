/**
 * Issue 17 (Output, Input, diff, completion) through the built `flo`: -o json|yaml|name on
 * the commands that print objects, get -o yaml that apply takes back unchanged, --no-headers,
 * run -o json with each host's output, apply/delete/diff from stdin and directories, usage
 * errors exiting 2, flo diff's exit codes, and the completion scripts driven by real bash,
 * zsh and fish. A file store and local hosts only: no sshd, no servers.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { floArgv } from './cluster-harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'flo-output-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built flo in `dir` with this store (`--store` unless `store: false`). */
function flo(args: string[], options: { input?: string; env?: Record<string, string>; cwd?: string } = {}): Run {
  const r = spawnSync(process.execPath, [...floArgv(), ...args], {
    cwd: options.cwd ?? dir,
    input: options.input ?? '',
    encoding: 'utf8',
    env: { ...process.env, FLO_STORE: `file://${dir}/store`, NO_COLOR: '1', ...options.env },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const hosts = `apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: a, labels: {zone: a}}
spec: {local: {dir: ./hosts/a}, capacity: {cpu: 2, memory: 4Gi}, taints: [{key: dedicated, value: db, effect: NoSchedule}]}
---
apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: b, labels: {zone: b}}
spec: {local: {dir: ./hosts/b}, capacity: {cpu: "1500m", memory: 2Gi}}
`;
const app = `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web, labels: {app: web}, annotations: {team: a}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {artifact: ./app.tgz, command: [node, server.js], resources: {cpu: 250m, memory: 64Mi}}
---
apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, port: http}
`;

beforeAll(() => {
  mkdirSync(path.join(dir, 'manifests/apps'), { recursive: true });
  writeFileSync(path.join(dir, 'manifests/10-hosts.yaml'), hosts);
  writeFileSync(path.join(dir, 'manifests/apps/app.yml'), app);
  writeFileSync(path.join(dir, 'manifests/apps/app.tgz'), 'artifact');
  writeFileSync(path.join(dir, 'manifests/notes.txt'), 'not a manifest');
  writeFileSync(path.join(dir, 'hosts.yaml'), hosts);
});

describe('input: -f DIR, -R, -f -, missing files', () => {
  it('a missing file is one line and exit 2, before any store is created', () => {
    const r = flo(['apply', '-f', 'nope.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^flo: -f nope.yaml: no such file or directory\n/);
    expect(r.stderr).not.toContain('ENOENT');
    expect(flo(['delete', '-f', 'nope.yaml']).code).toBe(2);
    expect(flo(['diff', '-f', 'nope.yaml']).code).toBe(2);
  });

  it('-f DIR takes its manifests in name order (not other files); -R its subdirectories too', () => {
    const top = flo(['apply', '-f', 'manifests', '-o', 'name']);
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout).toBe('host/a\nhost/b\n');
    const dry = flo(['diff', '-f', 'manifests', '-R']);
    expect(dry.code, dry.stderr).toBe(1);
    expect(dry.stdout).toContain('--- LIVE/replicaset/web\n+++ MERGED/replicaset/web\n@@ -0,0 +1,');
    expect(dry.stdout).not.toContain('host/a');
    const r = flo(['apply', '-f', 'manifests', '-R', '-o', 'name']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('host/a\nhost/b\nreplicaset/web\nservice/web\n');
  });

  it('-f - reads stdin (relative paths from the working directory); several -f', () => {
    const r = flo(['apply', '-f', '-', '-f', 'manifests/apps/app.yml', '-o', 'json'], { input: hosts });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { items: { kind: string; name: string; action: string }[] }).items).toEqual([
      // local: {dir: ./hosts/a} is now relative to the working directory, not to manifests/
      { kind: 'Host', name: 'a', action: 'configured' },
      { kind: 'Host', name: 'b', action: 'configured' },
      { kind: 'ReplicaSet', name: 'web', action: 'unchanged' },
      { kind: 'Service', name: 'web', action: 'unchanged' },
    ]);
  });

  it('usage errors exit 2 with a clear message: bad selector, bad store URL, unknown -o', () => {
    const sel = flo(['get', 'hosts', '-l', 'zone in (a']);
    expect(sel.code).toBe(2);
    expect(sel.stderr).toContain("-l: found end of string, expected ',' or ')'");
    const store = flo(['get', 'hosts', '--store', 'ftp://x']);
    expect(store.code, store.stderr).toBe(2);
    const xml = flo(['describe', 'host/a', '-o', 'xml']);
    expect(xml.code).toBe(2);
    expect(xml.stderr).toContain('-o xml: unknown output format; expected one of text, json, yaml, name');
    const wide = flo(['cordon', 'a', '-o', 'wide']);
    expect(wide.code).toBe(2);
    expect(wide.stderr).toContain('-o wide: not printed by this command; expected one of text, json, yaml, name');
  });
});

describe('output', () => {
  it('get -o yaml prints manifests that apply takes back unchanged; -o json keeps the flat DESIGN shape', () => {
    for (const kind of ['hosts', 'replicasets', 'services']) {
      const y = flo(['get', kind, '-o', 'yaml']);
      expect(y.code, y.stderr).toBe(0);
      const docs = parseAllDocuments(y.stdout).map((d) => d.toJS() as { apiVersion: string; kind: string; metadata: Record<string, unknown> });
      expect(docs.length).toBeGreaterThan(0);
      for (const d of docs) {
        expect(d.apiVersion).toBe('flotilla.dev/v1');
        expect(Object.keys(d.metadata).sort()).not.toContain('resourceVersion');
      }
      writeFileSync(path.join(dir, `${kind}.out.yaml`), y.stdout);
      const back = flo(['apply', '-f', `${kind}.out.yaml`]);
      expect(back.code, back.stderr).toBe(0);
      expect(back.stdout.trim().split('\n').every((l) => l.endsWith(' unchanged')), back.stdout).toBe(true);
      expect(flo(['diff', '-f', `${kind}.out.yaml`]).code).toBe(0);
    }
    const yaml = readFileSync(path.join(dir, 'hosts.out.yaml'), 'utf8');
    expect(yaml).toContain('memory: 4Gi'); // as written, not converted to MiB
    const json = JSON.parse(flo(['get', 'hosts', '-o', 'json']).stdout) as { items: { name: string; capacity: { cpu: number; memory: number } }[] };
    expect(json.items.map((h) => [h.name, h.capacity])).toEqual([
      ['a', { cpu: 2000, memory: 4096 }],
      ['b', { cpu: 1500, memory: 2048 }],
    ]);
    expect(JSON.parse(flo(['get', 'hosts', 'b', '-o', 'json']).stdout)).toMatchObject({ name: 'b' });
  });

  it('get -o name, named gets (a missing name: exit 1, the rest printed), --no-headers', () => {
    expect(flo(['get', 'hosts', '-o', 'name']).stdout).toBe('host/a\nhost/b\n');
    const some = flo(['get', 'host/b', 'host/zz', '-o', 'name']);
    expect(some.code).toBe(1);
    expect(some.stdout).toBe('host/b\n');
    expect(some.stderr).toContain('host/zz not found');
    const table = flo(['get', 'hosts']).stdout.split('\n');
    expect(table[0]).toMatch(/^NAME\s+STATUS/);
    const bare = flo(['get', 'hosts', '--no-headers']).stdout.split('\n');
    expect(bare[0]).toMatch(/^a\s+NotReady/);
    expect(bare.length).toBe(table.length - 1);
    // the inventory's hosts (flo hosts) too
    expect(flo(['hosts']).stdout.split('\n')[0]).toMatch(/^NAME\s+ADDRESS/);
    expect(flo(['hosts', '--no-headers']).stdout.split('\n')[0]).toMatch(/^a\s/);
  });

  it('describe -o json|yaml is one document with the object and its events; -o name', () => {
    const j = flo(['describe', 'replicaset/web', '-o', 'json']);
    expect(j.code, j.stderr).toBe(0);
    const doc = JSON.parse(j.stdout) as { object: { kind: string; metadata: { name: string } }; events: unknown[] };
    expect(doc.object).toMatchObject({ kind: 'ReplicaSet', metadata: { name: 'web' } });
    expect(Array.isArray(doc.events)).toBe(true);
    const y = flo(['describe', 'replicaset/web', '-o', 'yaml']);
    expect(parseAllDocuments(y.stdout).map((d) => d.toJS() as unknown)).toEqual([JSON.parse(j.stdout)]);
    expect(flo(['describe', 'replicaset/web', '-o', 'name']).stdout).toBe('replicaset/web\n');
  });

  it('cordon, uncordon, scale print changes as json, yaml and name', () => {
    const c = flo(['cordon', 'a', '-o', 'json']);
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toEqual({ items: [{ kind: 'Host', name: 'a', action: 'cordoned' }] });
    expect(flo(['uncordon', 'host/a', '-o', 'name']).stdout).toBe('host/a\n');
    const s = flo(['scale', 'replicaset/web', '--replicas', '3', '-o', 'yaml']);
    expect(s.code, s.stderr).toBe(0);
    expect(parseAllDocuments(s.stdout)[0]!.toJS()).toEqual({ items: [{ kind: 'ReplicaSet', name: 'web', action: 'scaled', replicas: 3 }] });
  });

  it('store check -o yaml is the -o json report as YAML; a command that prints no objects refuses -o (exit 2)', () => {
    const y = flo(['store', 'check', '-o', 'yaml']);
    expect(y.code, y.stderr).toBe(0);
    const j = flo(['store', 'check', '-o', 'json']);
    expect(parseAllDocuments(y.stdout)[0]!.toJS()).toEqual(JSON.parse(j.stdout));
    const logs = flo(['logs', 'instance/x', '-o', 'json']);
    expect(logs.code).toBe(2);
    expect(logs.stderr).toContain('-o json: not printed by this command; expected one of text');
  });

  it('run -o json includes each host\'s stdout and stderr', () => {
    const r = flo(['run', '-H', 'a,b', '-o', 'json', 'echo out; echo err >&2']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { hosts: { host: string; status: string; stdout: string; stderr: string }[] };
    expect(summary.hosts.map((h) => [h.host, h.status, h.stdout, h.stderr])).toEqual([
      ['a', 'ok', 'out\n', 'err\n'],
      ['b', 'ok', 'out\n', 'err\n'],
    ]);
  });
});

describe('flo diff and apply --dry-run', () => {
  it('exit 0 without differences, 1 with a field-level unified diff, 2 on an error; apply --dry-run prints the same diff', () => {
    writeFileSync(path.join(dir, 'changed.yaml'), hosts.replace('memory: 4Gi', 'memory: 8Gi').replace('{zone: b}', '{zone: b, disk: ssd}'));
    const d = flo(['diff', '-f', 'changed.yaml']);
    expect(d.code, d.stderr).toBe(1);
    expect(d.stdout).toContain('--- LIVE/host/a\n+++ MERGED/host/a\n');
    expect(d.stdout).toMatch(/^- {4}memory: 4Gi$/m);
    expect(d.stdout).toMatch(/^\+ {4}memory: 8Gi$/m);
    expect(d.stdout).toMatch(/^\+ {4}disk: ssd$/m);
    expect(d.stdout).not.toContain('resourceVersion');
    const dry = flo(['apply', '-f', 'changed.yaml', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe(`host/a configured (dry run)\nhost/b configured (dry run)\n${d.stdout}`);
    // nothing changed
    expect(flo(['diff', '-f', 'hosts.yaml']).code).toBe(0);
    writeFileSync(path.join(dir, 'bad.yaml'), 'apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: x}\nspec: {port: many}\n');
    const bad = flo(['diff', '-f', 'bad.yaml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bad.yaml');
  });
});

describe('completion', () => {
  const bin = path.join(dir, 'bin');
  beforeAll(() => {
    mkdirSync(bin, { recursive: true });
    const argv = [process.execPath, ...floArgv()].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    writeFileSync(path.join(bin, 'flo'), `#!/bin/sh\nexec ${argv} "$@"\n`);
    chmodSync(path.join(bin, 'flo'), 0o755);
    for (const shell of ['bash', 'zsh', 'fish']) writeFileSync(path.join(dir, `completion.${shell}`), flo(['completion', shell]).stdout);
  });
  const env = (): Record<string, string> => ({ PATH: `${bin}:${process.env.PATH ?? ''}` });
  /** Is the shell installed? Under CI=true it must be (.ci/run installs zsh and fish). */
  const has = (shell: string): boolean => {
    const ok = spawnSync(shell, ['-c', 'true']).status === 0;
    if (!ok && process.env.CI === 'true') throw new Error(`${shell} is not installed (apt-get install ${shell}): needed to check flo completion ${shell} under CI`);
    if (!ok) console.warn(`SKIPPED: ${shell} is not installed, so flo completion ${shell} is not checked (apt-get install ${shell})`);
    return ok;
  };

  /** Runs `bash` with the script loaded and COMP_WORDS set to `words`; COMPREPLY, one per line. */
  function bashComplete(words: string[]): string[] {
    const script = `source ${dir}/completion.bash
complete -p flo
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_flo_complete
printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env(), FLO_STORE: `file://${dir}/store` } });
    expect(r.status, r.stderr).toBe(0);
    const [registered, ...reply] = r.stdout.split('\n').filter((l) => l !== '');
    expect(registered).toBe('complete -F _flo_complete flo');
    return reply;
  }

  it('bash: commands, flags, -o formats, kinds, and names from the store', () => {
    expect(bashComplete(['flo', 'ge'])).toEqual(['get']);
    expect(bashComplete(['flo', 'd'])).toEqual(['download', 'disconnect', 'diff', 'describe', 'drain', 'delete', 'demo']);
    expect(bashComplete(['flo', 'get', ''])).toEqual(['hosts', 'replicasets', 'instances', 'services', 'networks']);
    expect(bashComplete(['flo', 'get', 'hosts', ''])).toEqual(['a', 'b']);
    expect(bashComplete(['flo', 'cordon', ''])).toEqual(['a', 'b']);
    expect(bashComplete(['flo', 'describe', 'rep'])).toEqual(['replicaset/']);
    expect(bashComplete(['flo', 'describe', 'host/'])).toEqual(['host/a', 'host/b']);
    expect(bashComplete(['flo', 'scale', 'replicaset/w'])).toEqual(['replicaset/web']);
    expect(bashComplete(['flo', 'describe', 'host/a', '-o', 'y'])).toEqual(['yaml']);
    expect(bashComplete(['flo', 'get', '--no-h'])).toEqual(['--no-headers']);
    expect(bashComplete(['flo', 'completion', ''])).toEqual(['bash', 'zsh', 'fish']);
    expect(bashComplete(['flo', 'apply', '-f', 'manif'])).toEqual(['manifests']);
  });

  it('an unreachable store gives no names and nothing on the terminal, without waiting for the request timeout', () => {
    // the line asks for a 600 s request timeout: completion does not hang on it (spawnSync would time out at 120 s)
    const r = flo(['__complete', 'cordon', '--store', 'flotilla://127.0.0.1:1', '--request-timeout', '600', ''], { env: { FLO_COMPLETE_TIMEOUT: '1' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
  });

  it('zsh: the script parses (zsh -n) and its function, with compadd recorded, completes names', (ctx) => {
    if (!has('zsh')) return ctx.skip();
    expect(spawnSync('zsh', ['-n', `${dir}/completion.zsh`]).status).toBe(0);
    const script = `compdef() { :; }
compadd() { local a; for a in "$@"; do [[ $a == -* || $a == "''" ]] || print -r -- "$a"; done }
_files() { print FILES; }
source ${dir}/completion.zsh
words=(flo cordon ''); CURRENT=3; _flo
words=(flo describe ''); CURRENT=3; _flo
words=(flo apply -f ''); CURRENT=4; _flo`;
    const r = spawnSync('zsh', ['-f', '-c', script], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env(), FLO_STORE: `file://${dir}/store` } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['a', 'b', 'host/', 'replicaset/', 'service/', 'instance/', 'network/', 'FILES']);
  });

  it('fish: the script parses (fish -n) and complete -C completes commands and names', (ctx) => {
    if (!has('fish')) return ctx.skip();
    expect(spawnSync('fish', ['-n', `${dir}/completion.fish`]).status).toBe(0);
    const script = `source ${dir}/completion.fish; complete -C 'flo cor'; complete -C 'flo get hosts '; complete -C 'flo describe host/'`;
    const r = spawnSync('fish', ['--no-config', '-c', script], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env(), FLO_STORE: `file://${dir}/store` } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['cordon', 'a', 'b', 'host/a', 'host/b']);
  });
});
