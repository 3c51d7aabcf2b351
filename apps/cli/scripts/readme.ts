// Rewrites the command reference of apps/cli/README.md from the command registry
// (src/cli/reference.ts). Run: npm run readme -w flotilla
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { commandReference, withReference } from '../src/cli/reference.js';

const file = fileURLToPath(new URL('../README.md', import.meta.url));
const before = readFileSync(file, 'utf8');
const after = withReference(before, await commandReference());
if (after === before) console.log('README.md: the command reference is up to date');
else {
  writeFileSync(file, after);
  console.log('README.md: command reference rewritten');
}
