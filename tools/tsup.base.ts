// One shared tsup configuration for every package, so a later move to another bundler
// (tsup is no longer actively maintained) touches one file.
import { defineConfig, type Options } from 'tsup';

export interface PackageBuildOptions {
  /** Entry points, e.g. `{ index: 'src/index.ts', testing: 'src/testing/index.ts' }`. */
  entry: Record<string, string>;
  /** Extra options merged over the defaults. */
  overrides?: Partial<Options>;
}

export function packageBuild({ entry, overrides }: PackageBuildOptions) {
  return defineConfig({
    entry,
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: { compilerOptions: { customConditions: [] } },
    tsconfig: 'tsconfig.build.json',
    sourcemap: true,
    clean: true,
    splitting: true,
    treeshake: true,
    outDir: 'dist',
    ...overrides,
  });
}
