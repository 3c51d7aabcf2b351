// apps/cli/README.md is the npm page of `flotilla`: its command reference must say what the
// command registry says (every command, its usage, description and options).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commands } from '../src/commands/index.js';
import { commandReference, END, START, withReference } from '../src/cli/reference.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README command reference', () => {
  it('is what the registry generates (if not: npm run readme -w flotilla)', async () => {
    const expected = withReference(readme, await commandReference());
    expect(readme, 'apps/cli/README.md is stale: run `npm run readme -w flotilla` and commit the result').toBe(expected);
  });
  it('documents every registered command', () => {
    const section = readme.slice(readme.indexOf(START), readme.indexOf(END));
    for (const c of commands) expect(section).toContain(`### \`flo ${c.name}\` — `);
  });
});
