// A tour of @flotilla/labels: parse a selector, match label sets, and read a syntax error.
// Run from the repository root: npm run example
// In your project: import { ... } from '@flotilla/labels';
import { isSelectorSyntaxError, parseSelector, selectorFromLabelSelector } from '../src/index.js';

const print = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

const selector = parseSelector('env in (prod,staging), tier != db, !canary');
print(`selector:   ${selector.toString()}`);

const instances: Record<string, Record<string, string>> = {
  'web-1': { app: 'web', env: 'prod', tier: 'frontend' },
  'web-2': { app: 'web', env: 'staging', tier: 'frontend', canary: 'true' },
  'db-1': { app: 'db', env: 'prod', tier: 'db' },
  'batch-1': { app: 'batch', env: 'prod' },
  'dev-1': { app: 'web', env: 'dev' },
};
for (const [name, labels] of Object.entries(instances)) {
  const labelText = Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  print(`  ${selector.matches(labels) ? 'match   ' : 'no match'}  ${name.padEnd(8)} ${labelText}`);
}

print();
const fromApi = selectorFromLabelSelector({
  matchLabels: { app: 'web' },
  matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }],
});
print(`LabelSelector {matchLabels: {app: web}, matchExpressions: [env NotIn (dev)]} -> ${fromApi.toString()}`);

print();
const broken = 'app in (a,b))';
try {
  parseSelector(broken);
} catch (error) {
  if (!isSelectorSyntaxError(error)) throw error;
  print(`parseSelector(${JSON.stringify(broken)}) throws:`);
  print(`  ${error.name}: ${error.message}`);
  print(`  ${broken}`);
  print(`  ${' '.repeat(error.position)}^`);
}
