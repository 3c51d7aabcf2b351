// A container start is woken, not polled: config.json's poststart hook (STARTED_HOOK_SCRIPT),
// run by the runtime with the container's state on stdin, writes the container's pid into the
// container directory's `started` fifo, where ctr_launch waits. Here the hook alone, with real
// sh and real fifos: what it writes, that it never blocks (nobody may be reading: a restart by
// the supervisor) and that it always exits 0 (a failing poststart hook makes runc kill the container).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STARTED_HOOK_SCRIPT } from '../../src/image/container-sh.js';

const haveMkfifo = spawnSync('sh', ['-c', 'command -v mkfifo'], { encoding: 'utf8' }).status === 0;

/** Runs the hook as the runtime does (`sh -c SCRIPT FIFO`, the state on stdin); resolves with its exit code. */
function hook(fifo: string, state: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const p = spawn('/bin/sh', ['-c', STARTED_HOOK_SCRIPT, fifo], { stdio: ['pipe', 'ignore', 'pipe'] });
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error('the hook blocked'));
    }, 20_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve(code);
    });
    p.stdin.end(state);
  });
}

/**
 * A reader of the fifo as ctr_launch is (`read -r ip < fifo`), with a holder of its write end as
 * the supervisor is (fd 8, never written). Resolves once both are open (the hook may write then;
 * before, a line would go with the pipe), with the line the reader got.
 */
async function reader(fifo: string): Promise<{ line: Promise<string> }> {
  const p = spawn('/bin/sh', ['-c', '{ echo ready >&2; exec sleep 60; } 8>"$0" & h=$!; read -r ip < "$0" || :; kill $h 2>/dev/null; printf "%s" "$ip"', fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const line = new Promise<string>((resolve, reject) => p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`reader exited ${code}`)))));
  await new Promise<void>((resolve, reject) => {
    p.stderr.on('data', (c: Buffer) => (c.toString().includes('ready') ? resolve() : undefined));
    p.on('close', () => reject(new Error('the reader ended before the fifo was open')));
  });
  return { line };
}

describe.runIf(haveMkfifo)('the started hook (poststart: the container runs)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flo-started-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const mkfifo = (name: string): string => {
    const f = join(dir, name);
    expect(spawnSync('mkfifo', ['-m', '600', f]).status).toBe(0);
    return f;
  };

  it("writes the pid from the runtime's state (runc's one-line JSON, no newline) to a waiting reader", async () => {
    const f = mkfifo('a');
    const { line } = await reader(f);
    const state = JSON.stringify({ ociVersion: '1.0.2-dev', id: 'web-0', status: 'created', pid: 48213, bundle: '/home/u/.flotilla/containers/web-0/bundle' });
    expect(await hook(f, state)).toBe(0);
    expect(await line).toBe('48213');
  });

  it('reads a pid written with spaces (another runtime\'s JSON) and nothing else', async () => {
    const f = mkfifo('b');
    const { line } = await reader(f);
    expect(await hook(f, '{\n  "ociVersion": "1.0.0",\n  "pid": 7,\n  "id": "x"\n}\n')).toBe(0);
    // `read` takes the first line only: here `{`; the pid is on a later line, so the reader gets an empty word, not garbage.
    expect(await line).toBe('');
    const g = mkfifo('c');
    const { line: line2 } = await reader(g);
    expect(await hook(g, '{"ociVersion": "1.0.0", "pid": 7, "id": "x"}')).toBe(0);
    expect(await line2).toBe('7');
  });

  it('never blocks when nobody reads (a restart by the supervisor), and the next reader gets only its own line', async () => {
    const f = mkfifo('d');
    expect(await hook(f, '{"pid":111}')).toBe(0);
    expect(statSync(f).isFIFO()).toBe(true);
    const { line } = await reader(f);
    expect(await hook(f, '{"pid":222}')).toBe(0);
    expect(await line).toBe('222');
  });

  it('exits 0 when it cannot write (the directory is gone) or the state is not what it expects', async () => {
    expect(await hook(join(dir, 'gone/started'), '{"pid":5}')).toBe(0);
    expect(await hook(join(dir, 'gone/started'), '')).toBe(0);
    // Without a fifo (a bundle from elsewhere), it writes a plain file and still exits 0.
    const plain = join(dir, 'plain');
    writeFileSync(plain, '');
    expect(await hook(plain, 'not json')).toBe(0);
    expect(readFileSync(plain, 'utf8')).toBe('\n');
  });
});
