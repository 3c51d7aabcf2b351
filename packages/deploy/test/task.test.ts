import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findDeployfile, isTask, loadDeployfile, parseTaskInvocation, task, taskArguments } from '../src/index.js';
import { kebabCase } from '../src/task.js';

describe('task invocation syntax (Fabric 1)', () => {
  it.each([
    ['deploy', { name: 'deploy', args: [], kwargs: undefined }],
    ['deploy:app', { name: 'deploy', args: ['app'], kwargs: undefined }],
    ['deploy:app,canary=true', { name: 'deploy', args: ['app'], kwargs: { canary: 'true' } }],
    ['t:a,b,k=v,c', { name: 't', args: ['a', 'b', 'c'], kwargs: { k: 'v' } }],
    ['t:a\\,b', { name: 't', args: ['a,b'], kwargs: undefined }],
    ['t:host\\:8080', { name: 't', args: ['host:8080'], kwargs: undefined }],
    ['t:url=http://x:1/a', { name: 't', args: [], kwargs: { url: 'http://x:1/a' } }],
    ['t:k=a=b', { name: 't', args: [], kwargs: { k: 'a=b' } }],
    ['t:a\\=b', { name: 't', args: ['a=b'], kwargs: undefined }],
    ['t:back\\\\slash', { name: 't', args: ['back\\slash'], kwargs: undefined }],
    ['t:', { name: 't', args: [''], kwargs: undefined }],
  ])('%s', (text, want) => {
    expect(parseTaskInvocation(text)).toEqual(want);
  });
  it('rejects an empty name or key', () => {
    expect(() => parseTaskInvocation(':x')).toThrow(/no task name/);
    expect(() => parseTaskInvocation('t:=v')).toThrow(/empty key/);
  });
  it('passes key=value arguments as one trailing record', () => {
    expect(taskArguments(parseTaskInvocation('deploy:app,canary=true'))).toEqual(['app', { canary: 'true' }]);
    expect(taskArguments(parseTaskInvocation('deploy:app'))).toEqual(['app']);
  });
});

describe('task names', () => {
  it.each([
    ['deployApp', 'deploy-app'],
    ['HTTPServer', 'http-server'],
    ['build_all', 'build-all'],
    ['lowest', 'lowest'],
    ['v2Deploy', 'v2-deploy'],
  ])('%s → %s', (a, b) => {
    expect(kebabCase(a)).toBe(b);
  });
});

describe('deployfiles', { timeout: 90_000 }, () => {
  it('finds flotilla.config.* here or above, preferring .ts', () => {
    const root = mkdtempSync(join(tmpdir(), 'flo-df-'));
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    expect(findDeployfile(join(root, 'a', 'b'))).toBeUndefined();
    writeFileSync(join(root, 'flotilla.config.mjs'), '');
    writeFileSync(join(root, 'flotilla.config.ts'), '');
    expect(findDeployfile(join(root, 'a', 'b'))).toBe(join(root, 'flotilla.config.ts'));
  });

  it('loads TypeScript tasks with kebab-case names and rejects built-in names', async () => {
    const root = mkdtempSync(join(tmpdir(), 'flo-df-'));
    const file = join(root, 'flotilla.config.ts');
    writeFileSync(
      file,
      `import { task } from '@flotilla/deploy';
       const n: number = 1;
       export const deployApp = task(async (c, app: string) => app + n, { help: 'deploy an app' });
       export const build = task(async () => undefined, { once: true });
       export const notATask = 42;`,
    );
    const tasks = await loadDeployfile(file, { reserved: ['run', 'put'] });
    // Module namespaces list exports alphabetically.
    expect([...tasks.keys()]).toEqual(['build', 'deploy-app']);
    expect(tasks.get('deploy-app')!.task.help).toBe('deploy an app');
    expect(tasks.get('build')!.task.once).toBe(true);
    expect(isTask(tasks.get('build')!.task)).toBe(true);

    writeFileSync(file, `import { task } from '@flotilla/deploy';\nexport const run = task(async () => 1);\n`);
    await expect(loadDeployfile(file, { reserved: ['run'] })).rejects.toThrow(/built-in command/);
  });

  it('reports a deployfile that does not load', async () => {
    const root = mkdtempSync(join(tmpdir(), 'flo-df-'));
    writeFileSync(join(root, 'flotilla.config.mjs'), 'throw new Error("boom")');
    await expect(loadDeployfile(join(root, 'flotilla.config.mjs'))).rejects.toThrow(/cannot load deployfile.*boom/);
  });

  it('task() validates its arguments', () => {
    expect(() => task(42 as never)).toThrow(TypeError);
    expect(isTask(task(() => undefined))).toBe(true);
    expect(isTask({})).toBe(false);
  });
});
