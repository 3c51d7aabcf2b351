import { packageTests } from '../../tools/vitest.base.ts';

// The seeded simulation is CPU-bound and deterministic; on a shared 2-core machine a chunk of
// seeds can take far longer than usual. The timeout only guards against a hang.
export default packageTests({ testTimeout: 300_000 });
