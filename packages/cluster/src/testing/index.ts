/**
 * `@flotilla/cluster/testing` — fakes and test kits: the store contract suite (run it
 * against your own backend), an in-memory store, a fake instance runtime.
 *
 * @packageDocumentation
 */
export { MemoryKvStore } from '../store/memory.js';
export { FakeRuntime } from "./fake-runtime.js";
export type { FakeProcess, FakeRuntimeOptions } from "./fake-runtime.js";
export type { MemoryKvStoreOptions } from '../store/memory.js';
export { FakeNetworkDriver } from './fake-network.js';
