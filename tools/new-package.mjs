#!/usr/bin/env node
// Scaffolds a workspace package's configuration files (not its code):
//   node tools/new-package.mjs <dir> <npm-name> <description> [entry=path ...]
// e.g. node tools/new-package.mjs packages/labels @flotilla/labels "Label selectors" index=src/index.ts
import { copyFileSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';

const [dir, name, description, ...entryArgs] = process.argv.slice(2);
if (!dir || !name || !description) {
  console.error('usage: node tools/new-package.mjs <dir> <npm-name> <description> [entry=path ...]');
  process.exit(2);
}
const entries = Object.fromEntries(
  (entryArgs.length ? entryArgs : ['index=src/index.ts']).map((e) => e.split('=')),
);
const root = relative(dir, '.') || '.';
const exportsMap = {};
for (const [entry, src] of Object.entries(entries)) {
  const key = entry === 'index' ? '.' : `./${entry}`;
  exportsMap[key] = {
    '@flotilla/source': `./${src}`,
    types: `./dist/${entry}.d.ts`,
    import: `./dist/${entry}.js`,
    default: `./dist/${entry}.js`,
  };
}
exportsMap['./package.json'] = './package.json';
const short = name.split('/').pop();
const pkg = {
  name,
  version: '0.1.0',
  description,
  license: 'MIT',
  keywords: ['flotilla'],
  repository: { type: 'git', url: 'git+https://github.com/flotilla-dev/flotilla.git', directory: dir.replace(/\/+$/, '') },
  homepage: `https://github.com/flotilla-dev/flotilla/tree/main/${dir.replace(/\/+$/, '')}#readme`,
  bugs: { url: 'https://github.com/flotilla-dev/flotilla/issues' },
  type: 'module',
  sideEffects: false,
  engines: { node: '>=20.19' },
  exports: exportsMap,
  main: './dist/index.js',
  types: './dist/index.d.ts',
  files: ['dist'],
  scripts: {
    build: 'tsup',
    typecheck: 'tsc -p tsconfig.json --noEmit',
    lint: 'eslint .',
    test: 'vitest run',
    'pack-check': `node ${root}/tools/pack-check.mjs .`,
    prepack: `node ${root}/tools/prepack.mjs`,
  },
  nx: { tags: [`scope:${short}`] },
  dependencies: {},
};
mkdirSync(join(dir, 'src'), { recursive: true });
const write = (file, text) => {
  const path = join(dir, file);
  if (existsSync(path)) return;
  writeFileSync(path, text);
};
write('package.json', JSON.stringify(pkg, null, 2) + '\n');
// Every published tarball carries the licence (tools/pack-check.mjs checks it is this one).
if (!existsSync(join(dir, 'LICENSE'))) copyFileSync('LICENSE', join(dir, 'LICENSE'));
write(
  'tsconfig.json',
  JSON.stringify(
    {
      extends: `${root}/tsconfig.base.json`,
      compilerOptions: { noEmit: true },
      include: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    },
    null,
    2,
  ) + '\n',
);
write(
  'tsconfig.build.json',
  JSON.stringify(
    {
      extends: `${root}/tsconfig.base.json`,
      compilerOptions: { composite: false, customConditions: [], rootDir: 'src', outDir: 'dist' },
      include: ['src/**/*.ts'],
      exclude: ['src/**/*.test.ts'],
    },
    null,
    2,
  ) + '\n',
);
write(
  'tsup.config.ts',
  `import { packageBuild } from '${root}/tools/tsup.base.ts';\n\nexport default packageBuild({\n  entry: ${JSON.stringify(entries)},\n});\n`,
);
write(
  'vitest.config.ts',
  `import { packageTests } from '${root}/tools/vitest.base.ts';\n\nexport default packageTests();\n`,
);
console.log(`scaffolded ${name} in ${dir}`);
