/**
 * `@flotilla/deploy/errors`: the error classes, codes and guards alone — a few kilobytes with no
 * ssh behind them, for code that only needs to recognise a deploy error (the `flo` command line
 * on its error path). The same names are exported by `@flotilla/deploy`.
 *
 * @packageDocumentation
 */
export {
  DeployError,
  CommandFailedError,
  HostKeyError,
  GroupError,
  TimeoutError,
  DeployErrorCodes,
  deployErrorCode,
  hasDeployErrorCode,
  isDeployError,
  isCommandFailedError,
  isHostKeyError,
  isGroupError,
  isTimeoutError,
  isInvocationError,
} from './errors.js';
export type { DeployErrorCode, LegacyDeployErrorCode, CommandResult, TimeoutPhase } from './errors.js';
