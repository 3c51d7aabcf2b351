/**
 * `@flotilla/scheduler/testing` — test kits: a reference model of the filters, an
 * independent checker of schedule results, and seeded workload generators.
 *
 * @packageDocumentation
 */
export { ReferenceCluster, requestsOf, amountsOf, domainOf, spreadSelectorOf, spreadOf, antiAffinityOf } from './reference.js';
export type { FilterFailure } from './reference.js';
export { verifyPlacement } from './verify.js';
export type { Violation } from './verify.js';
export { generateWorkload, seededRandom } from './generate.js';
export type { WorkloadKind, WorkloadOptions } from './generate.js';
