// `flo demo`'s story end to end on local-transport hosts with real processes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { DeployRuntime, runDemo } from '../../src/index.js';

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
