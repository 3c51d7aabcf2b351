import { packageBuild } from '../../tools/tsup.base.ts';

export default packageBuild({
  entry: {"main":"src/main.ts"},
});
