/**
 * Structured logging seam, message first: `info('controller stopping', { controller })`.
 * Every method must be implemented; {@link silentLogger} drops everything.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** One level of a pino-style logger: fields first, then the message (`log.info({ key }, 'msg')`), or the message alone. */
export interface PinoLogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

/**
 * The part of pino's `Logger` this library uses: pass a pino logger (or a child of one)
 * wherever a `logger` option is taken. Recognised by its `child` and `bindings` methods;
 * fields named `error` are handed to pino as `err`, so its error serializer (message,
 * type, stack) applies.
 */
export interface PinoLogger {
  debug: PinoLogFn;
  info: PinoLogFn;
  warn: PinoLogFn;
  error: PinoLogFn;
  child(bindings: Record<string, unknown>): unknown;
  bindings(): Record<string, unknown>;
}

/** What a `logger` option accepts: a {@link Logger} or a pino logger. */
export type LoggerLike = Logger | PinoLogger;

const noop = (): void => undefined;

/** A logger that drops everything (the default: libraries do not print). */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/** True for a pino (or pino-compatible) logger: it has pino's `child` and `bindings` methods. */
export function isPinoLogger(logger: unknown): logger is PinoLogger {
  const l = logger as Partial<PinoLogger> | null;
  return typeof l === 'object' && l !== null && typeof l.child === 'function' && typeof l.bindings === 'function';
}

/**
 * Any accepted logger as a message-first {@link Logger}: a {@link Logger} as it is, a pino
 * logger wrapped (fields first; `error` passed as `err`), `undefined` as {@link silentLogger}.
 */
export function toLogger(logger: LoggerLike | undefined): Logger {
  if (logger === undefined) return silentLogger;
  if (!isPinoLogger(logger)) return logger;
  const p = logger;
  const level = (fn: PinoLogFn) => {
    const log = fn.bind(p) as (first: object | string, message?: string) => void;
    return (message: string, fields?: Record<string, unknown>): void => {
      if (fields === undefined) return log(message);
      if ('error' in fields && !('err' in fields)) {
        const { error, ...rest } = fields;
        return log({ ...rest, err: error }, message);
      }
      log(fields, message);
    };
  };
  return { debug: level(p.debug), info: level(p.info), warn: level(p.warn), error: level(p.error) };
}
