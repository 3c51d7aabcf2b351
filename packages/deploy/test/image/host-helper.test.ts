// The resident host helper (`image-host.mjs serve`): an update prepared without starting Node,
// the same refusals on that path, and its lifecycle — a killed helper is replaced, a removed
// socket ends it, an idle one exits, its directory is the user's own (closed to others), another user's is refused.
// Local transport, real runc, as root (as container.test.ts).
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../src/index.js';
import { FileContentStore, buildImage, containerStatuses, loadImage, runContainer, stopContainer, type Image } from '../../src/image/index.js';
import { hostProgram } from '../../src/image/container.js';
import { escapingImage } from './helpers.js';

const canRun = process.getuid?.() === 0 && existsSync('/usr/sbin/runc') && existsSync('/bin/busybox');
if (!canRun && process.env.CI === 'true') throw new Error('CI=true: the container tests need root, runc and busybox-static (.ci/run installs them)');

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is not alive.
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** One request to a helper's socket (the protocol of host-main.ts): its greeting, then its answer. */
function ask(socket: string, command: string, request: unknown = {}): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const s = connect(socket);
    let buf = '';
    let greeted = false;
    s.on('error', () => resolve(undefined));
    s.on('data', (c: Buffer) => {
      buf += c.toString();
      if (!greeted && buf.includes('\n')) {
        greeted = true;
        buf = buf.slice(buf.indexOf('\n') + 1);
        s.write(`${JSON.stringify({ command, request })}\n`);
      }
      if (greeted && buf.includes('\n')) {
        resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))) as Record<string, unknown>);
        s.destroy();
      }
    });
    s.on('close', () => resolve(undefined));
  });
}

describe.runIf(canRun)('the resident host helper (local transport, real runc)', { timeout: 180_000 }, () => {
  let work: string;
  let host: string;
  let store: FileContentStore;
  let base: string;
  let c: Connection;
  let socket: string;
  let prog: string;
  const name = `flo-hh-${process.pid}`;
  let n = 0;

  /** A new version (its own top layer) of the base image. */
  const version = async (): Promise<Image & { archive: string }> => {
    const k = n++;
    mkdirSync(join(work, `ctx${k}/srv`), { recursive: true });
    writeFileSync(join(work, `ctx${k}/srv/version`), `v${k}`);
    const archive = join(work, `v${k}.oci.tar`);
    await buildImage({ dir: join(work, `ctx${k}`), out: archive, base });
    return Object.assign(await loadImage(archive, { store }), { archive });
  };
  const helperPid = (): number | undefined => {
    try {
      const pid = Number(readFileSync(`${socket}.pid`, 'utf8'));
      return pid > 0 && alive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  /** The helper answering on its socket (after the background start of a run that needed the program). */
  const helperUp = (notPid?: number): Promise<{ pid: number; served: number }> =>
    until('the host helper to answer on its socket', async () => {
      const r = await ask(socket, 'version');
      return r && typeof r.pid === 'number' && r.pid !== notPid ? { pid: r.pid, served: Number(r.served) } : undefined;
    });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'flo-hh-'));
    host = join(work, 'host');
    mkdirSync(host);
    store = new FileContentStore(join(work, 'store'));
    mkdirSync(join(work, 'base/bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(work, 'base/bin/busybox'));
    symlinkSync('busybox', join(work, 'base/bin/sh'));
    base = join(work, 'base.oci.tar');
    await buildImage({ dir: join(work, 'base'), out: base, entrypoint: ['/bin/sh', '-c'], cmd: ['exec sleep 100000'] });
    c = Connection.localDir(host, { name: 'hostH' });
    const p = await hostProgram();
    prog = `image-host-${p.hash}.mjs`;
    socket = join(host, `.flotilla/run/h-${p.hash}.sock`);
  });
  afterAll(async () => {
    if (c) {
      await stopContainer(c, name, { gracePeriodSeconds: 0 }).catch(() => undefined);
      await c.close();
    }
    const pid = work ? helperPid() : undefined;
    if (pid) process.kill(pid, 'SIGKILL');
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('a first start starts the helper (prepared by it, or by the program if it is slow to come up); an update is prepared by the helper (no Node started), only the new layer sent', async () => {
    const v1 = await version();
    const st1 = await runContainer(c, { name, image: v1, store, gracePeriodSeconds: 0 });
    expect(st1).toMatchObject({ state: 'running', imageDigest: v1.digest });
    expect(['helper', 'program']).toContain(st1.preparedBy);
    const h = await helperUp();
    expect(readdirSync(join(host, '.flotilla/run')).filter((f) => f.startsWith('.h-'))).toEqual([]);
    expect(readFileSync(`${socket}.pid`, 'utf8').trim()).toBe(String(h.pid));
    const v2 = await version();
    const st2 = await runContainer(c, { name, image: v2, store, gracePeriodSeconds: 0 });
    expect(st2).toMatchObject({ state: 'running', imageDigest: v2.digest, preparedBy: 'helper' });
    expect(st2.pid).not.toBe(st1.pid);
    expect(st2.push.sent.map((b) => b.digest)).toContain(v2.layers.at(-1)!.digest);
    expect(st2.push.sent.map((b) => b.digest)).not.toContain(v2.layers[0]!.digest);
    const after = await helperUp();
    expect(after).toEqual({ pid: h.pid, served: h.served + 2 }); // the prepare, and this version request
  });

  it('on the helper path a blob that arrives damaged is refused (named, removed) and a layer escaping its root is refused with its entry; the running version stays', async () => {
    const running = (await containerStatuses(c, [name])).get(name)!;
    expect(running.state).toBe('running');
    const before = await helperUp();
    // Damaged on its way: the upload succeeds, the bytes on the host differ.
    const v = await version();
    const top = v.layers.at(-1)!.digest;
    const damaging = Connection.localDir(host, { name: 'hostH' });
    const put = damaging.put.bind(damaging);
    damaging.put = async (local, remote, o) => {
      const r = await put(local, remote, o);
      if (remote.includes(top.slice(7))) {
        const p = join(host, remote);
        const bytes = readFileSync(p);
        bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
        chmodSync(p, 0o644);
        writeFileSync(p, bytes);
      }
      return r;
    };
    try {
      await expect(runContainer(damaging, { name, image: v, store, gracePeriodSeconds: 0 })).rejects.toMatchObject({
        code: 'blob-digest',
        host: 'hostH',
        blob: top,
        message: expect.stringMatching(/as it arrived.*on hostH; nothing running was changed/) as unknown,
      });
    } finally {
      await damaging.close();
    }
    expect(existsSync(join(host, '.flotilla/images/blobs/sha256', top.slice(7)))).toBe(false);
    expect(readdirSync(join(host, '.flotilla/images/ingest')).filter((e) => e.startsWith(top.slice(7)))).toEqual([]);
    // A layer escaping its root.
    const { image, store: s, refusal } = await escapingImage(work);
    await expect(runContainer(c, { name, image, store: s })).rejects.toMatchObject(refusal('hostH'));
    expect(existsSync(join(host, '.flotilla/escaped'))).toBe(false);
    // Both went through the helper (it took both requests), and nothing of the running version stopped.
    expect(await helperUp()).toEqual({ pid: before.pid, served: before.served + 3 });
    expect(readdirSync(join(host, '.flotilla/containers')).filter((e) => e.startsWith('.new-'))).toEqual([]);
    expect((await containerStatuses(c, [name])).get(name)).toMatchObject({ state: 'running', pid: running.pid, imageDigest: running.imageDigest });
  });

  it('a killed helper (its socket left behind) is replaced: the next update falls back to the host program and starts a new helper, which the one after uses', async () => {
    const old = await helperUp();
    process.kill(old.pid, 'SIGKILL');
    await until('the killed helper to be gone', () => (alive(old.pid) ? undefined : true));
    expect(existsSync(socket)).toBe(true);
    const v3 = await version();
    expect(await runContainer(c, { name, image: v3, store, gracePeriodSeconds: 0 })).toMatchObject({ state: 'running', imageDigest: v3.digest, preparedBy: 'program' });
    const fresh = await helperUp(old.pid);
    const v4 = await version();
    expect(await runContainer(c, { name, image: v4, store, gracePeriodSeconds: 0 })).toMatchObject({ state: 'running', imageDigest: v4.digest, preparedBy: 'helper' });
    expect((await helperUp()).pid).toBe(fresh.pid);
  });

  it('hostHelper: false neither uses nor starts one', async () => {
    const h = await helperUp();
    const v5 = await version();
    expect(await runContainer(c, { name, image: v5, store, gracePeriodSeconds: 0, hostHelper: false })).toMatchObject({ state: 'running', imageDigest: v5.digest, preparedBy: 'program' });
    expect(await helperUp()).toEqual({ pid: h.pid, served: h.served + 1 }); // only this version request
  });

  it('a helper whose socket is removed exits; the next update starts one in its probe and is prepared by it (Node started once)', async () => {
    const h = await helperUp();
    rmSync(socket);
    await until('the helper whose socket was removed to exit', () => (alive(h.pid) ? undefined : true));
    const v6 = await version();
    expect(await runContainer(c, { name, image: v6, store, gracePeriodSeconds: 0 })).toMatchObject({ state: 'running', imageDigest: v6.digest, preparedBy: 'helper' });
    const now = await helperUp(h.pid);
    expect(now.served).toBe(2); // the prepare, and this version request: the probe's helper, nobody else's
  });

  it("an idle helper exits and removes its socket; the user's directory open to others is closed first; another user's directory is refused", async () => {
    // Started by hand with a 1-second idle time: it answers, then exits on its own.
    const dir = join(work, 'own');
    mkdirSync(dir, { mode: 0o700 });
    const sock = join(dir, 'h.sock');
    const programFile = join(host, '.flotilla/bin', prog);
    const child = spawn(process.execPath, [programFile, 'serve', sock, '1'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const r = await until('the hand-started helper to answer', () => ask(sock, 'version'));
    expect(r.pid).toBe(child.pid);
    expect(await exited).toBe(0);
    expect(existsSync(sock)).toBe(false);
    expect(existsSync(`${sock}.pid`)).toBe(false);
    // The user's own directory open to others (0755): closed to 0700 first, then served.
    const open = join(work, 'open');
    mkdirSync(open);
    chmodSync(open, 0o755);
    const closed = spawn(process.execPath, [programFile, 'serve', join(open, 'h.sock'), '1'], { stdio: 'ignore' });
    const closedExit = new Promise<number | null>((resolve) => closed.on('exit', (code) => resolve(code)));
    expect((await until('the helper in the closed directory to answer', () => ask(join(open, 'h.sock'), 'version'))).pid).toBe(closed.pid);
    expect(statSync(open).mode & 0o777).toBe(0o700);
    expect(await closedExit).toBe(0);
    // A directory of another user's: it does not listen there.
    const theirs = join(work, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    const refused = spawn(process.execPath, [programFile, 'serve', join(theirs, 'h.sock'), '1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    refused.stdout.on('data', (b: Buffer) => (out += b.toString()));
    expect(await new Promise<number | null>((resolve) => refused.on('exit', (code) => resolve(code)))).toBe(3);
    expect(out).toMatch(/must be a directory of this user's \(it is owned by uid 65534\)/);
    expect(readdirSync(theirs)).toEqual([]);
  });
});
