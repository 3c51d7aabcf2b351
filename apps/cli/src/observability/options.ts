// The option of the long-running commands that serve metrics (flo controller, flo agent):
// declared once here, light to import (the server itself, and prom-client, load in http.ts only
// when the command runs).
import type { OptionSpec } from '../cli/args.js';

/** `--metrics-listen HOST:PORT`: serve /metrics (Prometheus), /healthz and /readyz there. */
export const metricsListenOption: OptionSpec = {
  name: 'metrics-listen',
  type: 'string',
  value: 'HOST:PORT',
  description: 'serve /metrics (Prometheus), /healthz and /readyz here',
};
