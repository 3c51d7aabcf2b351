// @flotilla/reconcile/testing: fakes that ship with the library (as controller-runtime
// ships pkg/client/fake): a fake clock and an in-memory watchable store.
export { FakeClock, settle } from './fake-clock.js';
export { MemoryStore } from './memory-store.js';
export type { MemoryStoreOptions, WriteOptions } from './memory-store.js';
export { checkStoreContract } from './store-contract.js';
export type { StoreContractSubject, StoreContractOptions } from './store-contract.js';
