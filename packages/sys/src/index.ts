/**
 * @flotilla/sys — internal, never published: the one place where Flotilla's packages ask the
 * operating system whether a lock holder runs, write lock files that survive a crash, keep
 * private data private on disk and read secret files — and the seeded random generators the
 * pure cores take (random.ts: one copy, not one per package). Bundled into each package that uses it
 * (tsup `noExternal`), so the published packages keep no workspace dependency, and none of its
 * types appear in their public declarations.
 */
export { SysError, isSysError, type SysErrorCode } from './errors.js';
export {
  bootId,
  isProcessAlive,
  parseProcStat,
  processStartTime,
  readProcStat,
  systemProbe,
  type ProcessProbe,
  type ProcStat,
} from './process.js';
export {
  DEFAULT_UNREADABLE_LOCK_STALE_MS,
  createLockFileSync,
  currentHolder,
  formatHolder,
  holderFields,
  holderState,
  judgeLock,
  parseHolder,
  readLock,
  removeLockIf,
  type HolderState,
  type JudgeLockOptions,
  type LockHere,
  type LockHolder,
  type LockVerdict,
} from './lock.js';
export {
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  ensurePrivateDir,
  formatMode,
  modeOf,
  openPrivateFile,
  openPrivateFileSync,
  tightenPath,
  tightenPrivateTree,
  type WarningSink,
} from './private-files.js';
export { readSecretFileSync, type ReadSecretOptions } from './secret-file.js';
export { mulberry32, sfc32, type RandomSource } from './random.js';
