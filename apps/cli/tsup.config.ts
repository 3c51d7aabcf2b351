import { packageBuild } from '../../tools/tsup.base.ts';

export default packageBuild({
  entry: {"main":"src/main.ts"},
  // @flotilla/sys is internal (never published): bundled, so it is no dependency of ours.
  overrides: { noExternal: ["@flotilla/sys"] },
});
