// A vitest reporter that records the tests which failed first and passed on a retry (CI retries
// a failed test once: this shared 2-core machine is noisy). They are not hidden: `npm test`
// prints every one of them by name after the timings, with the first failure's message.
import { writeFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';

export default class FlakyReporter {
  /** @param {{ outputFile?: string }} options */
  constructor(options = {}) {
    this.outputFile = options.outputFile ?? '.vitest-flaky.json';
    /** @type {{ file: string, name: string, retries: number, error?: string }[]} */
    this.flaky = [];
  }

  onInit(vitest) {
    this.root = vitest.config.root;
    rmSync(resolve(this.root, this.outputFile), { force: true });
  }

  onTestCaseResult(testCase) {
    const d = testCase.diagnostic();
    if (!d?.flaky) return;
    // A retried test that passed keeps the errors of its failed attempts: the first says why.
    const first = testCase.result().errors?.[0];
    const error = first ? [first.message, first.stack?.split('\n').find((l) => /\.test\.[cm]?[jt]s:\d+/.test(l))?.trim()].filter(Boolean).join(' ') : undefined;
    this.flaky.push({ file: testCase.module.moduleId, name: testCase.fullName, retries: d.retryCount, ...(error ? { error } : {}) });
  }

  onTestRunEnd() {
    if (this.flaky.length === 0) return;
    writeFileSync(resolve(this.root ?? process.cwd(), this.outputFile), JSON.stringify(this.flaky, null, 2) + '\n');
  }
}
