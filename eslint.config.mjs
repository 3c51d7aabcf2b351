// Lint for the whole monorepo: typescript-eslint's type-checked rules, module boundaries
// between packages (DESIGN.md, Layout), and purity of the deterministic cores.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import nx from '@nx/eslint-plugin';

const pureCoreBans = [
  { object: 'Date', property: 'now', message: 'Pure cores take time from an injected Clock.' },
  { object: 'Math', property: 'random', message: 'Pure cores take randomness from an injected seeded source.' },
];
const timerBans = ['setTimeout', 'setInterval', 'setImmediate'].map((name) => ({
  name,
  message: 'Pure cores take timers from an injected Clock.',
}));

// scope:sys (@flotilla/sys) is an internal leaf with no dependencies, bundled into each package
// that uses it and never published: using it adds no workspace dependency for users, so every
// layer may (DESIGN.md's "labels and raft use no workspace package" holds for what ships).
const boundaries = {
  allow: [],
  depConstraints: [
    { sourceTag: 'scope:sys', onlyDependOnLibsWithTags: [] },
    { sourceTag: 'scope:labels', onlyDependOnLibsWithTags: [] },
    { sourceTag: 'scope:raft', onlyDependOnLibsWithTags: ['scope:sys'] },
    { sourceTag: 'scope:scheduler', onlyDependOnLibsWithTags: ['scope:labels', 'scope:sys'] },
    { sourceTag: 'scope:reconcile', onlyDependOnLibsWithTags: ['scope:labels', 'scope:sys'] },
    { sourceTag: 'scope:deploy', onlyDependOnLibsWithTags: ['scope:labels', 'scope:sys'] },
    {
      sourceTag: 'scope:cluster',
      onlyDependOnLibsWithTags: ['scope:labels', 'scope:scheduler', 'scope:reconcile', 'scope:raft', 'scope:deploy', 'scope:sys'],
    },
    {
      sourceTag: 'scope:cli',
      onlyDependOnLibsWithTags: ['scope:labels', 'scope:scheduler', 'scope:reconcile', 'scope:raft', 'scope:deploy', 'scope:cluster', 'scope:sys'],
    },
  ],
};

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '**/.nx/**',
      '**/tsup.config.ts',
      '**/vitest.config.ts',
      '**/vitest.e2e.config.ts',
      '**/vite.config.ts',
      'tools/**',
      // plain scripts that tools/pack-check.mjs copies into a packed install and runs there
      '**/test/pack/**',
      'bench/**/*.mjs',
      'apps/cli/bin/**',
      '**/coverage/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-definitions': 'off',
      '@typescript-eslint/prefer-nullish-coalescing': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@flotilla/*/src', '@flotilla/*/src/*', '../../packages/*', '../../../packages/*'],
              message: "Import another package through its front door ('@flotilla/x' or a public sub-path), never its src.",
            },
          ],
        },
      ],
      '@nx/enforce-module-boundaries': ['error', boundaries],
    },
  },
  {
    files: ['packages/**/*.ts'],
    ignores: ['packages/**/*.test.ts', 'packages/**/test/**', 'packages/**/bench/**'],
    rules: { 'no-console': 'error' },
  },
  {
    // Deterministic cores: no wall clock, no ambient randomness, no timers outside the
    // clock and driver files.
    files: [
      'packages/labels/src/**/*.ts',
      'packages/scheduler/src/**/*.ts',
      'packages/reconcile/src/**/*.ts',
      'packages/raft/src/core/**/*.ts',
    ],
    ignores: ['**/*.test.ts', '**/clock.ts', '**/clock/**', '**/driver.ts', '**/driver/**', '**/testing/**'],
    rules: {
      'no-restricted-properties': ['error', ...pureCoreBans],
      'no-restricted-globals': ['error', ...timerBans],
    },
  },
  {
    // Plain JavaScript programs a package ships to hosts as they are (cluster's DNS resolver):
    // linted as JavaScript, without type information.
    files: ['packages/*/host/**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      parserOptions: { projectService: false },
      globals: { process: 'readonly', Buffer: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly' },
    },
  },
  {
    // Tests, benchmarks and examples use a package through its own front door, as users do.
    files: ['**/*.test.ts', '**/test/**/*.ts', '**/bench/**/*.ts', '**/examples/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': ['error', { ...boundaries, allowCircularSelfDependency: true }],
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
