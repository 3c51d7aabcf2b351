import { packageBuild } from '../../tools/tsup.base.ts';

export default packageBuild({
  entry: {"index":"src/index.ts","testing":"src/testing/index.ts","host-worker":"src/workers/host-worker.ts","mux-daemon":"src/mux/daemon-main.ts"},
  // yaml (CommonJS, ~30 files) is bundled: reading an inventory is on the path of every
  // deploy command, and one module loads ~12 ms faster than thirty.
  // Its require("process") needs a real require in an ES module: the banner provides one.
  overrides: { noExternal: ["yaml"], banner: { js: "import { createRequire as __floCreateRequire } from \"node:module\"; const require = __floCreateRequire(import.meta.url);" } },
});
