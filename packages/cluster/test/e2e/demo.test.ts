// `flo demo`'s story end to end on local-transport hosts with real processes.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { DeployRuntime } from '../../src/index.js';
import { runDemo } from '../../src/demo/index.js';

it('runs the demo: apply 5, heal a killed instance, scale to 8, serve, clean up', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-demo-'));
  const runtime = new DeployRuntime();
  const lines: string[] = [];
  try {
    await runDemo({ dir, runtime, log: (l) => lines.push(l) });
  } finally {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const text = lines.join('\n');
  expect(text).toContain('5 instances ready');
  expect(text).toMatch(/the controller noticed and replaced it in [\d.]+ s/);
  expect(text).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/ → hello from web-\w+ \(pid \d+\) on 127\.0\.0\.1:\d+/);
  expect(text).toContain('(8 endpoints');
  expect(text).toContain('done: every instance stopped.');
}, 180_000);

const canRunContainers = process.getuid?.() === 0 && existsSync('/usr/sbin/runc') && existsSync('/bin/busybox');
if (!canRunContainers && process.env.CI === 'true') throw new Error('CI=true: flo demo --containers needs root, runc and busybox-static (.ci/run installs them)');
if (!canRunContainers) console.warn('SKIPPING the containers demo: it needs root, /usr/sbin/runc and /bin/busybox');

it.runIf(canRunContainers)('runs the demo with containers (flo demo --containers): the image built on the spot, isolated containers healed after SIGKILL of their init, served, stopped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-demo-ctr-'));
  const runtime = new DeployRuntime();
  const lines: string[] = [];
  try {
    await runDemo({ dir, runtime, log: (l) => lines.push(l), containers: true });
  } finally {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const text = lines.join('\n');
  expect(text).toMatch(/flo image build: .*sample-app-v1\.oci\.tar \(busybox httpd \+ the app, two layers\), sha256:[0-9a-f]{64}/);
  expect(text).toContain('5 instances ready');
  expect(text).toMatch(/^web-\w+ +h\d +127\.0\.0\.1:\d+ +true +\d+ +0 +[0-9a-f]{12} +enforced$/m);
  expect(text).toMatch(/its supervisor restarted it and the controller saw it healthy again in [\d.]+ s/);
  expect(text).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/ → hello from web-\w+ \(pid \d+ in its own pid namespace, version 1\) on 127\.0\.0\.1:\d+/);
  expect(text).toContain('(8 endpoints');
  expect(text).toContain('done: every instance stopped.');
}, 300_000);
