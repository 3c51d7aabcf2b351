import { packageBuild } from '../../tools/tsup.base.ts';

export default packageBuild({
  entry: {"index":"src/index.ts","testing":"src/testing/index.ts","kv":"src/kv/index.ts","client":"src/client/index.ts","server":"src/server/index.ts","prometheus":"src/prometheus/index.ts"},
  // @flotilla/sys is internal (never published): bundled, so raft keeps no workspace dependency.
  overrides: { noExternal: ["@flotilla/sys"] },
});
