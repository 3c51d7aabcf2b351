// Interaction scripts (testdata/*.txt), in the style of etcd-io/raft's datadriven interaction
// tests: each script drives RawNodes step by step and pins every Ready and message as golden
// output. A change in behaviour shows as a diff of the script; REWRITE=1 rewrites them.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runScript } from './datadriven.js';
import { InteractionEnv } from './interaction-env.js';

const dir = fileURLToPath(new URL('../testdata/', import.meta.url));
const scripts = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

describe('interaction scripts (testdata/)', () => {
  it('there are scripts', () => {
    expect(scripts.length).toBeGreaterThan(0);
  });
  for (const file of scripts) {
    it(file, () => {
      const env = new InteractionEnv();
      const results = runScript(`${dir}${file}`, (c) => env.run(c));
      for (const r of results) expect(`${r.where}: ${r.command}\n${r.actual}`).toBe(`${r.where}: ${r.command}\n${r.expected}`);
    });
  }
});
