// The dashboard in Debian's headless Chromium (driven by playwright-core, no browser
// download), on a running demo cluster: `flo demo --ui` (local hosts, real `node server.js`
// instances, the controllers in the demo's process) serves it; a second `flo ui --token-file`
// on the same store checks the token rules from the page. Screenshots go to the test's temp
// directory (printed), as the run's artifacts.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { floArgv, processOf } from '../cluster-harness.js';
import { until } from '../wait.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TOKEN = 'e2e-token-0123456789abcdef';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`ui e2e: ${CHROMIUM} is missing (apt-get install chromium): the dashboard suite is skipped`);

let dir: string;
let demo: ChildProcess | undefined;
let ui: ChildProcess | undefined;
let demoOut = '';
let uiErr = '';
let dashboard = '';
let storeUrl = '';
let tokenUi = '';
let browser: Browser;

function shot(page: Page, name: string): Promise<Buffer> {
  const file = path.join(dir, `${name}.png`);
  console.log(`screenshot: ${file}`);
  return page.screenshot({ path: file });
}

async function flo(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...floArgv(), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`flo ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

const replicas = async (): Promise<number> => (JSON.parse(await flo(['get', 'replicasets', '--store', storeUrl, '-o', 'json'])) as { items: { name: string; replicas: number }[] }).items.find((r) => r.name === 'web')!.replicas;

beforeAll(async () => {
  if (!haveChromium) return;
  dir = mkdtempSync(path.join(tmpdir(), 'flotilla-ui-e2e-'));
  console.log(`ui e2e directory (screenshots): ${dir}`);
  writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  demo = spawn(process.execPath, [...floArgv(), 'demo', '--ui', '--listen', '127.0.0.1:0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stdout!.on('data', (c: Buffer) => (demoOut += c.toString()));
  demo.stderr!.on('data', (c: Buffer) => (demoOut += c.toString()));
  const m = await until(
    'flo demo --ui to print the dashboard',
    () => {
      if (demo?.exitCode !== null) throw new Error(`flo demo --ui exited ${demo?.exitCode}:\n${demoOut}`);
      return /Dashboard: (http:\/\/127\.0\.0\.1:\d+)\/ {2}\(the live demo cluster; store (file:\/\/\S+)\)/.exec(demoOut) ?? undefined;
    },
    { timeoutMs: 240_000, intervalMs: 250 },
  );
  dashboard = m[1]!;
  storeUrl = m[2]!;
  ui = spawn(process.execPath, [...floArgv(), 'ui', '--listen', '127.0.0.1:0', '--token-file', 'token', '--store', storeUrl], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ui.stderr!.on('data', (c: Buffer) => (uiErr += c.toString()));
  tokenUi = (await until('flo ui to listen', () => /dashboard on (http:\/\/127\.0\.0\.1:\d+)\//.exec(uiErr)?.[1], { timeoutMs: 60_000, intervalMs: 100 }))!;
  const { chromium } = await import('playwright-core');
  // root in a container: Chromium's sandbox needs user namespaces it may not have
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  for (const p of [ui, demo]) {
    if (p?.pid === undefined || p.exitCode !== null) continue;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid, 'SIGINT'); // the demo cleans up (stops every instance) on SIGINT
    await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
  }
}, 120_000);

describe.skipIf(!haveChromium)('flo ui in headless Chromium on the demo cluster', () => {
  it('shows every host and every instance of the running cluster', async () => {
    const items = (JSON.parse(await flo(['get', 'instances', '--store', storeUrl, '-o', 'json'])) as { items: { name: string; host: string; phase: string }[] }).items;
    expect(items.length).toBe(8); // the demo scaled to 8
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${dashboard}/`);
    await page.waitForSelector('[data-connection="live"]');
    await page.waitForFunction((n) => document.querySelectorAll('[data-instance]').length >= n, items.length);
    const hosts = await page.$$eval('[data-host]', (els) => els.map((e) => (e as HTMLElement).dataset.host));
    expect(hosts).toEqual(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
    for (const i of items) {
      const block = page.locator(`[data-host="${i.host}"] [data-instance="${i.name}"]`);
      await expect(block.getAttribute('aria-label')).resolves.toContain(`${i.name}: Running, replica set web`);
    }
    // capacity vs allocated, as text (8 × 250m over 6 hosts of 2 cores)
    const meters = await page.$$eval('[data-host] [role="meter"]', (els) => els.map((e) => e.getAttribute('aria-valuetext')));
    expect(meters.length).toBe(12);
    expect(meters.filter((t) => t?.endsWith('of 2'))).toHaveLength(6);
    await shot(page, 'placement');
    // keyboard: Tab reaches an instance block; Enter opens its detail with its log
    await page.locator('[data-instance]').first().focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('[role="dialog"] h2:focus');
    await page.waitForFunction(() => (document.querySelector('.logs')?.textContent ?? '').includes('listening on'), undefined, { timeout: 15_000 });
    await shot(page, 'instance-detail');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[role="dialog"]', { state: 'detached' });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a killed instance shows its change within 2 s, without a reload', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${dashboard}/`);
    await page.waitForSelector('[data-connection="live"] ');
    await page.waitForSelector('[data-instance][data-ready="true"][data-pid]');
    const victim = await page.$eval('[data-instance][data-ready="true"][data-pid]', (e) => ({ name: (e as HTMLElement).dataset.instance!, pid: Number((e as HTMLElement).dataset.pid) }));
    expect(processOf(victim.pid)?.args).toBe('node server.js');
    await page.evaluate(() => ((window as unknown as { noReload: boolean }).noReload = true));
    const t0 = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    await page.waitForFunction(
      (v) => {
        const e = document.querySelector<HTMLElement>(`[data-instance="${v.name}"]`);
        // gone (replaced), another pid (restarted), or no longer running and ready
        return e?.dataset.pid !== String(v.pid) || e.dataset.phase !== 'Running' || e.dataset.ready !== 'true';
      },
      victim,
      { timeout: 10_000, polling: 20 },
    );
    const ms = Date.now() - t0;
    console.log(`kill → page changed in ${ms} ms`);
    expect(await page.evaluate(() => (window as unknown as { noReload?: boolean }).noReload)).toBe(true);
    await shot(page, 'after-kill');
    expect(ms).toBeLessThanOrEqual(2000);
    await page.close();
  });

  it('scale from the page works with the token and is refused without it', async () => {
    const before = await replicas();
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(`${tokenUi}/#/replicasets`);
    await page.waitForSelector('[data-replicaset="web"]');
    // without the token: refused, and the store is unchanged
    await page.getByLabel('Replicas for web').fill(String(before + 1));
    await page.getByRole('button', { name: 'Scale' }).click();
    await page.waitForSelector('[data-action-status="error"]');
    expect(await page.textContent('[data-action-status]')).toMatch(/refused: actions need the token/);
    await shot(page, 'scale-refused');
    expect(await replicas()).toBe(before);
    // with the token (the form the refusal opened)
    await page.getByLabel('Token', { exact: true }).fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForSelector('[data-action-status="ok"]');
    await page.getByLabel('Replicas for web').fill(String(before + 1));
    await page.getByRole('button', { name: 'Scale' }).click();
    await page.waitForFunction(() => (document.querySelector('[data-action-status]')?.textContent ?? '').includes('scale replicaset/web: done'));
    await until('the store to say replicas + 1', async () => (await replicas()) === before + 1, { timeoutMs: 10_000, intervalMs: 200 });
    // the change comes back to the page through the store's watch
    await page.waitForSelector(`[data-replicaset="web"] [data-ready$="/${before + 1}"]`);
    await shot(page, 'scaled');
    await ctx.close();
    // a wrong token is refused too
    const other = await browser.newPage();
    await other.goto(`${tokenUi}/#/replicasets`);
    await other.waitForSelector('[data-replicaset="web"]');
    await other.getByLabel('Replicas for web').fill('1');
    await other.getByRole('button', { name: 'Scale' }).click();
    await other.getByLabel('Token', { exact: true }).fill('not-the-token-0000000');
    await other.getByRole('button', { name: 'Sign in' }).click();
    await other.waitForFunction(() => (document.querySelector('[role="alert"]')?.textContent ?? '').includes('not the token'));
    expect(await replicas()).toBe(before + 1);
    await other.close();
  });
});
