// The dashboard in Debian's headless Chromium (driven by playwright-core, no browser
// download), on a running demo cluster: `flo demo --ui` (local hosts, real `node server.js`
// instances, the controllers in the demo's process) serves it; a second `flo ui --token-file`
// on the same store checks the token rules from the page (scale, cordon/uncordon, rollout undo)
// and writes its log as JSON. The page is used by keyboard and its controls are checked for
// names, and phase and host state for a signal besides colour. Screenshots go to the test's
// temp directory (printed), as the run's artifacts.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { writeSampleArtifact } from '@flotilla/cluster/demo';
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

interface HostJson {
  name: string;
  ready: boolean;
  unschedulable: boolean;
}
const hostsNow = async (): Promise<HostJson[]> => (JSON.parse(await flo(['get', 'hosts', '--store', storeUrl, '-o', 'json'])) as { items: HostJson[] }).items;
interface RsObject {
  spec: { template: { spec: { env: Record<string, string> } } };
  status?: { currentTemplateHash?: string };
}
const describeRs = async (rs: string): Promise<RsObject> => (JSON.parse(await flo(['describe', `replicaset/${rs}`, '--store', storeUrl, '-o', 'json'])) as { object: RsObject }).object;
const greeting = async (rs: string): Promise<string> => (await describeRs(rs)).spec.template.spec.env.GREETING!;

/** Every control of the page without a name a screen reader could say (empty list: all named). */
function unnamedControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const named = (el: Element): boolean => {
      const aria = el.getAttribute('aria-label')?.trim();
      if (aria) return true;
      const by = el.getAttribute('aria-labelledby');
      if (by?.split(/\s+/).some((id) => (document.getElementById(id)?.textContent ?? '').trim() !== '')) return true;
      if ('labels' in el && (el as HTMLInputElement).labels && [...(el as HTMLInputElement).labels!].some((l) => (l.textContent ?? '').trim() !== '')) return true;
      if (el.tagName === 'BUTTON' || el.tagName === 'A' || el.getAttribute('role') === 'tab') return (el.textContent ?? '').trim() !== '';
      return false;
    };
    return [...document.querySelectorAll('button, a[href], input, select, textarea, [role="tab"], [role="meter"], [tabindex="0"]')].filter((el) => !named(el)).map((el) => el.outerHTML.slice(0, 120));
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
  ui = spawn(process.execPath, [...floArgv(), 'ui', '--listen', '127.0.0.1:0', '--token-file', 'token', '--log-format', 'json', '--store', storeUrl], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
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
    // offline: every request the page makes goes to flo ui itself (no CDN, no font service)
    const elsewhere: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(`${dashboard}/`) && !r.url().startsWith('data:')) elsewhere.push(r.url());
    });
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
    expect(elsewhere).toEqual([]);
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
    const eventsOf = (name: string): Promise<string[]> =>
      page.$$eval('section[aria-labelledby="side-events"] li', (lis, n) => lis.filter((li) => li.querySelector('a')?.textContent === `instance/${n}`).map((li) => li.textContent ?? ''), name);
    const seen = new Set(await eventsOf(victim.name));
    const t0 = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    await page.waitForFunction(
      (v) => {
        const e = document.querySelector<HTMLElement>(`[data-instance="${v.name}"]`);
        // gone (replaced), another pid (restarted), or no longer running and ready
        return e?.dataset.pid !== String(v.pid) || e.dataset.phase !== 'Running' || e.dataset.ready !== 'true';
      },
      victim,
      { timeout: 30_000, polling: 20 },
    );
    const ms = Date.now() - t0;
    // 2 s (the figure) on a machine with a core to spare; the path runs through the
    // demo's controllers noticing the death, the store, flo ui and Chromium, all competing for
    // the cores: the allowance grows with the run queue per core (load 16 on 2 cores: 8×), so
    // a loaded CI box does not fail for the box's sake. 750–825 ms here when quiet.
    const perCore = loadavg()[0]! / cpus().length;
    const allowance = Math.max(1, perCore);
    console.log(`kill → page changed in ${ms} ms (load ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores: allowed ${Math.round(2000 * allowance)} ms)`);
    expect(await page.evaluate(() => (window as unknown as { noReload?: boolean }).noReload)).toBe(true);
    // the live event stream: the cluster's event about the death (Failed, Restarted, …) arrives too
    await page.waitForFunction(
      (a) => [...document.querySelectorAll('section[aria-labelledby="side-events"] li')].some((li) => li.querySelector('a')?.textContent === `instance/${a.name}` && !a.seen.includes(li.textContent ?? '')),
      { name: victim.name, seen: [...seen] },
      { timeout: 30_000 },
    );
    console.log(`events of ${victim.name} after the kill: ${(await eventsOf(victim.name)).filter((e) => !seen.has(e)).join(' | ')}`);
    await shot(page, 'after-kill');
    expect(ms).toBeLessThanOrEqual(2000 * allowance);
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
  it('cordon and uncordon from the page: refused without the token, done with it, shown as text', async () => {
    expect((await hostsNow()).find((h) => h.name === 'h5')).toMatchObject({ ready: true, unschedulable: false });
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(`${tokenUi}/#/placement`);
    await page.waitForSelector('[data-host="h5"]');
    // without the token: refused, the host stays schedulable
    await page.getByRole('button', { name: 'Cordon host h5' }).click();
    await page.waitForSelector('[data-action-status="error"]');
    expect(await page.textContent('[data-action-status]')).toMatch(/refused: actions need the token/);
    expect((await hostsNow()).find((h) => h.name === 'h5')?.unschedulable).toBe(false);
    await page.getByLabel('Token', { exact: true }).fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForSelector('[data-action-status="ok"]');
    // with it: cordoned in the store, and the page says so in words (badge and the row's label)
    await page.getByRole('button', { name: 'Cordon host h5' }).click();
    await page.waitForFunction(() => (document.querySelector('[data-action-status]')?.textContent ?? '') === 'cordon h5: done');
    await until('the store to say h5 is cordoned', async () => (await hostsNow()).find((h) => h.name === 'h5')?.unschedulable === true, { timeoutMs: 10_000, intervalMs: 200 });
    const row = page.locator('[data-host="h5"]');
    await row.locator('.badge', { hasText: 'Ready, cordoned' }).waitFor();
    expect(await row.getAttribute('aria-label')).toMatch(/^host h5, Ready, cordoned, \d+ instances$/);
    await shot(page, 'cordoned');
    await page.getByRole('button', { name: 'Uncordon host h5' }).click();
    await page.waitForFunction(() => (document.querySelector('[data-action-status]')?.textContent ?? '') === 'uncordon h5: done');
    await until('the store to say h5 is schedulable', async () => (await hostsNow()).find((h) => h.name === 'h5')?.unschedulable === false, { timeoutMs: 10_000, intervalMs: 200 });
    await page.getByRole('button', { name: 'Cordon host h5' }).waitFor();
    expect(await row.getAttribute('aria-label')).toMatch(/^host h5, Ready, \d+ instances$/);
    await ctx.close();
  });

  it('rollout undo from the page: refused without the token; with it the previous template is back in the store', async () => {
    // a second replica set whose template the demo's controllers saw change once (v1 → v2), so
    // it has a history; no replicas: what is checked is the action, not the rollout's instances
    const artifact = await writeSampleArtifact(path.join(dir, 'api-build'));
    const api = (greeting: string): string => `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: api, labels: {app: api}}
spec:
  replicas: 0
  selector: "app=api"
  template:
    metadata: {labels: {app: api}}
    spec:
      artifact: ${JSON.stringify(artifact)}
      command: [node, server.js]
      env: {GREETING: ${greeting}}
      ports: [{name: http}]
      resources: {cpu: 100m, memory: 32Mi}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 1}
      terminationGracePeriodSeconds: 2
`;
    writeFileSync(path.join(dir, 'api-v1.yaml'), api('v1'));
    writeFileSync(path.join(dir, 'api-v2.yaml'), api('v2'));
    try {
      await flo(['apply', '-f', 'api-v1.yaml', '--store', storeUrl]);
      await until('the controllers to see template v1', async () => (await describeRs('api')).status?.currentTemplateHash !== undefined, { timeoutMs: 60_000, intervalMs: 250 });
      await flo(['apply', '-f', 'api-v2.yaml', '--store', storeUrl]);
      expect(await greeting('api')).toBe('v2');
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await ctx.newPage();
      await page.goto(`${tokenUi}/#/replicasets`);
      const undo = page.locator('[data-replicaset="api"]').getByRole('button', { name: 'Rollout undo' });
      await undo.and(page.locator(':not([disabled])')).waitFor({ timeout: 30_000 }); // the v1 template in the history
      const current = (await page.locator('[data-replicaset="api"] td').nth(2).textContent())!.trim();
      await undo.click();
      await page.waitForSelector('[data-action-status="error"]');
      expect(await page.textContent('[data-action-status]')).toMatch(/refused: actions need the token/);
      expect(await greeting('api')).toBe('v2');
      await page.getByLabel('Token', { exact: true }).fill(TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForSelector('[data-action-status="ok"]');
      await undo.click();
      await page.waitForFunction((from) => new RegExp(`^rollout undo replicaset/api: template ${from} → [0-9a-f]+$`).test(document.querySelector('[data-action-status]')?.textContent ?? ''), current);
      const to = /→ ([0-9a-f]+)$/.exec((await page.textContent('[data-action-status]'))!)![1]!;
      expect(to).not.toBe(current);
      expect(await greeting('api')).toBe('v1');
      // the store's change comes back to the page: the row's template is the one rolled back to
      await page.waitForFunction((h) => (document.querySelectorAll('[data-replicaset="api"] td')[2]?.textContent ?? '').trim() === h, to);
      await shot(page, 'rollout-undone');
      await ctx.close();
    } finally {
      // the demo's cleanup stops web's instances; api's are this test's to remove
      await flo(['delete', 'replicaset/api', '--store', storeUrl]);
      await until(
        'the api instances to stop',
        async () => (JSON.parse(await flo(['get', 'instances', '--store', storeUrl, '-o', 'json'])) as { items: { name: string }[] }).items.every((i) => !i.name.startsWith('api-')),
        { timeoutMs: 60_000, intervalMs: 500 },
      );
    }
  });

  it('keyboard only: tab to a replica set\'s scale control and scale with Enter; every control has a name; phase and state are text, not only colour', async () => {
    const want = (await replicas()) - 1;
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${dashboard}/`);
    await page.waitForSelector('[data-connection="live"]');
    await page.waitForSelector('[data-instance]');
    expect(await unnamedControls(page)).toEqual([]);
    // Tab from the top: the skip link first, then the selected tab
    const focused = (): Promise<{ tag: string; id: string; role: string | null; name: string }> =>
      page.evaluate(() => {
        const a = document.activeElement as HTMLElement;
        return { tag: a.tagName, id: a.id, role: a.getAttribute('role'), name: (a.getAttribute('aria-label') ?? a.textContent ?? '').trim() };
      });
    await page.keyboard.press('Tab');
    expect(await focused()).toMatchObject({ tag: 'A', name: 'Skip to content' });
    let tabs = 0;
    while ((await focused()).role !== 'tab') {
      await page.keyboard.press('Tab');
      expect(++tabs).toBeLessThan(10);
    }
    expect(await focused()).toMatchObject({ id: 'tab-placement' });
    // arrows move between the tabs (and select them)
    await page.keyboard.press('ArrowRight');
    expect(await focused()).toMatchObject({ id: 'tab-replicasets' });
    await page.waitForSelector('[data-replicaset="web"]');
    expect(new URL(page.url()).hash).toBe('#/replicasets');
    expect(await unnamedControls(page)).toEqual([]);
    tabs = 0;
    while ((await focused()).id !== 'scale-web') {
      await page.keyboard.press('Tab');
      expect(++tabs).toBeLessThan(20);
    }
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).labels?.[0]?.textContent?.trim())).toBe('Replicas for web');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(String(want));
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (document.querySelector('[data-action-status]')?.textContent ?? '') === 'scale replicaset/web: done');
    await until('the store to say the replicas the keyboard asked for', async () => (await replicas()) === want, { timeoutMs: 10_000, intervalMs: 200 });
    // back to the tabs with Shift+Tab
    tabs = 0;
    while ((await focused()).role !== 'tab') {
      await page.keyboard.press('Shift+Tab');
      expect(++tabs).toBeLessThan(20);
    }
    expect(await focused()).toMatchObject({ id: 'tab-replicasets' });
    for (const tab of ['tab-services', 'tab-events']) {
      await page.keyboard.press('ArrowRight');
      expect(await focused()).toMatchObject({ id: tab });
      expect(await unnamedControls(page)).toEqual([]);
    }
    await page.keyboard.press('Home');
    expect(await focused()).toMatchObject({ id: 'tab-placement' });
    await page.waitForSelector('[data-instance]');
    // a focused control shows a focus ring
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe('none');
    // phase in words on every block (its name for screen readers and its tooltip), counted as text
    const blocks = await page.$$eval('[data-instance]', (els) => els.map((e) => ({ phase: (e as HTMLElement).dataset.phase!, label: e.getAttribute('aria-label')!, title: e.getAttribute('title')! })));
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) {
      expect(b.label).toContain(`: ${b.phase}`);
      expect(b.title).toBe(b.label);
    }
    expect(await page.textContent('[aria-label="instances by phase"]')).toMatch(/Running: \d+/);
    // without colour: the legend's phases, all drawn in one hue, still differ in mark or pattern
    const looks = await page.$$eval('.legend .legend-item', (items) =>
      items
        .filter((i) => i.querySelector('.block'))
        .map((i) => {
          const b = i.querySelector('.block')!;
          const cs = getComputedStyle(b);
          return { phase: (i.textContent ?? '').replace(b.textContent ?? '', '').trim(), look: [b.textContent, cs.backgroundImage, cs.borderStyle, cs.borderTopWidth, cs.boxShadow, cs.backgroundColor === 'rgba(0, 0, 0, 0)'].join('|') };
        }),
    );
    expect(looks.map((l) => l.phase)).toEqual(['Running', 'Starting', 'Pending', 'Failed', 'Terminating', 'Unknown', 'Running, not ready (ringed)']);
    // Starting and Pending share a look (both "on the way", same mark); every other phase has its own
    const distinct = new Set(looks.filter((l) => l.phase !== 'Pending').map((l) => l.look));
    expect(distinct.size).toBe(looks.length - 1);
    await shot(page, 'keyboard');
    await page.close();
  });
  it('flo ui --log-format json: one object a line, actions and refusals logged with what was asked', () => {
    const lines = uiErr.trimEnd().split('\n').map((l) => JSON.parse(l) as { time: string; level: string; msg: string; action?: string; reason?: string });
    for (const l of lines) {
      expect(Number.isNaN(Date.parse(l.time))).toBe(false);
      expect(['debug', 'info', 'warn', 'error']).toContain(l.level);
    }
    expect(lines[0]).toMatchObject({ level: 'info', msg: expect.stringMatching(/^dashboard on http:\/\/127\.0\.0\.1:\d+\/ \(actions need the token\)$/) as unknown });
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'action refused', action: 'cordon h5', reason: 'token-required' }));
    expect(lines).toContainEqual(expect.objectContaining({ level: 'info', msg: 'action', action: 'uncordon h5' }));
    expect(lines).toContainEqual(expect.objectContaining({ level: 'info', msg: 'action', action: 'rollout undo replicaset/api' }));
    expect(lines.filter((l) => l.msg === 'wrong token given to /api/session')).toHaveLength(1);
    expect(uiErr).not.toContain(TOKEN);
    expect(uiErr).not.toContain('not-the-token-0000000');
  });
});
