// The file store's cost of checksums (issue 12 §2): sequential fsynced puts, opening a store
// whose log holds 1999 records of 1 KiB, and `checkFileStore` on it. Run from the package:
//   node --conditions=@flotilla/source --import tsx bench/file-store.ts
// FILE_STORE_MODULE=<path to a file.ts> measures another implementation (e.g. the one before
// checksums) with the same workload. Figures go to docs/benchmarks.md, never into tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Store {
  put(key: string, value: string): Promise<number>;
  range(prefix: string): Promise<{ items: unknown[]; revision: number }>;
  close(): Promise<void>;
}
const mod = (await import(process.env.FILE_STORE_MODULE ? pathToFileURL(process.env.FILE_STORE_MODULE).href : '../src/index.js')) as {
  openFileStore(dir: string, o?: object): Promise<Store>;
};
const check = process.env.FILE_STORE_MODULE ? undefined : (await import('../src/index.js')).checkFileStore;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const value = 'x'.repeat(1024);
const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-file-'));
try {
  const s = await mod.openFileStore(dir, { compactEvery: 100_000, onWarning: () => undefined });
  const n = 1999;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await s.put(`/flotilla/v1/instances/i-${i}`, value);
  const putMs = performance.now() - t0;
  await s.close();
  const opens: number[] = [];
  const checks: number[] = [];
  for (let k = 0; k < 7; k++) {
    const t = performance.now();
    const o = await mod.openFileStore(dir, { onWarning: () => undefined });
    if ((await o.range('/')).items.length !== n) throw new Error('wrong state');
    opens.push(performance.now() - t);
    await o.close();
    if (check) {
      const c = performance.now();
      await check(dir);
      checks.push(performance.now() - c);
    }
  }
  console.log(
    JSON.stringify({
      implementation: process.env.FILE_STORE_MODULE ?? 'current',
      putsPerSecond: Math.round((n / putMs) * 1000),
      openMs: Number(median(opens).toFixed(1)),
      ...(check ? { checkMs: Number(median(checks).toFixed(1)) } : {}),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
