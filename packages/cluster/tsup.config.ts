import { packageBuild } from '../../tools/tsup.base.ts';

export default packageBuild({
  entry: {"index":"src/index.ts","testing":"src/testing/index.ts","demo":"src/demo/index.ts"},
  // @flotilla/sys is internal (never published): bundled, so it is no dependency of ours.
  overrides: { noExternal: ["@flotilla/sys"] },
});
