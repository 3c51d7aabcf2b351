import { packageE2eTests } from '../../tools/vitest.base.ts';

export default packageE2eTests();
