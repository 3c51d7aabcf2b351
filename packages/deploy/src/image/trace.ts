/**
 * Step times of the image path, for profiling (bench/containers.ts `--trace`): with the
 * environment variable FLO_TRACE=1 (read at each call), each step a `runContainer` passes is
 * one stderr line `flo-trace <ms since the process started> <host> <step> +<ms since the
 * previous step of that call>`. Off (and free) otherwise.
 */
import { performance } from 'node:perf_hooks';

const off = (): void => undefined;

/** A function that records the steps of one call on `host` (a no-op unless FLO_TRACE=1). */
export function stepTracer(host: string): (step: string) => void {
  if (process.env.FLO_TRACE !== '1') return off;
  let last = performance.now();
  return (step) => {
    const now = performance.now();
    process.stderr.write(`flo-trace ${now.toFixed(1)} ${host} ${step} +${(now - last).toFixed(1)}\n`);
    last = now;
  };
}
