/**
 * What every `flo kv` subcommand gets (commands/kv-*.ts): the client on `--endpoints` with the
 * store credentials, the output format, and small argument helpers.
 */
import type { KvClient } from '@flotilla/raft/client';
import { UsageError } from './args.js';
import { stringOption } from './cluster-context.js';
import type { CommandContext } from './registry.js';

/** One `flo kv …` invocation. */
export interface KvCall {
  ctx: CommandContext;
  client: KvClient;
  /** The endpoints the client was given (URLs). */
  endpoints: readonly string[];
  /** A client for exactly one endpoint, with the same credentials and timeouts (`endpoint health`). */
  clientFor: (endpoint: string) => KvClient;
  /** `-o json`. */
  json: boolean;
  /** The request timeout in milliseconds (`--request-timeout`). */
  requestTimeoutMs: number;
  out: (s: string) => void;
}

/** A non-negative integer option, or `undefined` when absent. */
export function intOption(ctx: CommandContext, name: string): number | undefined {
  const v = stringOption(ctx, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} ${v}: expected a non-negative integer`);
  return Number(v);
}

/** The arguments after the subcommand word(s): exactly `n` of them, else a usage error quoting `usage`. */
export function kvArgs(ctx: CommandContext, n: number, usage: string, skip = 1): string[] {
  const rest = ctx.args.positionals.slice(skip);
  if (rest.length !== n) throw new UsageError(`usage: flo kv ${usage}`);
  return rest;
}
