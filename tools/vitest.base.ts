// Shared vitest configuration: tests read workspace packages from source through the
// `@flotilla/source` export condition, so they need no build first.
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

/** Records tests that passed only on a retry; `npm test` names them after the timings. */
const flakyReporter = fileURLToPath(new URL('./flaky-reporter.mjs', import.meta.url));
/**
 * Under CI (a shared, noisy 2-core machine) a failed test runs once more before it fails the
 * run. A test that needed the retry is still reported, by name, at the end of `npm test`.
 */
const retry = process.env.CI ? 1 : 0;

const conditions = ['@flotilla/source', 'module', 'node', 'import', 'default'];

/** Unit tests: `src/**\/*.test.ts` and `test/**\/*.test.ts`, except `test/e2e/`. */
export function packageTests(overrides: NonNullable<ViteUserConfig['test']> = {}): ViteUserConfig {
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['@flotilla/source'] } },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      exclude: ['test/e2e/**', 'node_modules/**', 'dist/**'],
      environment: 'node',
      pool: 'forks',
      testTimeout: 20_000,
      // Some unit suites build an image or start a local runtime in beforeAll; 10 s (vitest's
      // default) is too short on a loaded 2-core machine. Waiting is polling, never timed.
      hookTimeout: 60_000,
      retry,
      reporters: ['default', 'json', [flakyReporter, { outputFile: '.vitest-flaky.json' }]],
      outputFile: { json: '.vitest-results.json' },
      ...overrides,
    },
  });
}

/**
 * End-to-end tests (`test/e2e/**\/*.test.ts`): real processes, run after the build, one
 * file at a time, with generous timeouts (waiting is polling, never a timed assertion).
 */
export function packageE2eTests(overrides: NonNullable<ViteUserConfig['test']> = {}): ViteUserConfig {
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['@flotilla/source'] } },
    test: {
      include: ['test/e2e/**/*.test.ts'],
      environment: 'node',
      pool: 'forks',
      fileParallelism: false,
      testTimeout: 180_000,
      hookTimeout: 180_000,
      retry,
      reporters: ['default', 'json', [flakyReporter, { outputFile: '.vitest-e2e-flaky.json' }]],
      outputFile: { json: '.vitest-e2e-results.json' },
      ...overrides,
    },
  });
}
