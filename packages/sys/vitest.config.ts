import { packageTests } from '../../tools/vitest.base.ts';

export default packageTests();
