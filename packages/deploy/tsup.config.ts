import { packageBuild } from '../../tools/tsup.base.ts';

export default [
  packageBuild({
    entry: {"index":"src/index.ts","testing":"src/testing/index.ts","image":"src/image/index.ts","network":"src/network/index.ts","errors":"src/errors-entry.ts","mux":"src/mux/index.ts","workers":"src/workers/index.ts","host-worker":"src/workers/host-worker.ts","mux-daemon":"src/mux/daemon-main.ts"},
    // yaml (CommonJS, ~30 files), p-queue and its eventemitter3/p-timeout are bundled (and are
    // devDependencies): they are on the start-up path of every deploy command, and one module
    // loads faster than thirty (~15 ms).
    // @flotilla/sys is internal (never published): bundled, so deploy keeps labels as its only
    // workspace dependency.
    // yaml's require("process") needs a real require in an ES module: the banner provides one.
    // dist/host/ is the other build's (below): not cleaned by this one.
    overrides: { clean: ['!host/**'], noExternal: ["yaml", "p-queue", "eventemitter3", "@flotilla/sys"], banner: { js: "import { createRequire as __floCreateRequire } from \"node:module\"; const require = __floCreateRequire(import.meta.url);" } },
  }),
  // The container runtime's host program (src/image/host-main.ts): one self-contained file that
  // runContainer uploads to a host and runs with the host's node, so everything is bundled.
  packageBuild({
    entry: { "image-host": "src/image/host-main.ts" },
    overrides: {
      outDir: 'dist/host',
      dts: false,
      sourcemap: false,
      splitting: false,
      noExternal: [/.*/],
      outExtension: () => ({ js: '.mjs' }),
      banner: { js: "import { createRequire as __floCreateRequire } from \"node:module\"; const require = __floCreateRequire(import.meta.url);" },
    },
  }),
];
