/**
 * `flo ui`: the web dashboard, served by flo itself from the package's own files (no CDN).
 * The server and the page load only here, so `flo --version` never pays for them.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../cli/args.js';
import { clusterOptions, openCluster, stringOption, storeUrl } from '../cli/cluster-context.js';
import type { CommandContext, CommandModule } from '../cli/registry.js';
import { loggerFor, logOptions, type CliLogger } from '../observability/log.js';

/**
 * Where the built page is: `dist/ui` beside the built CLI's chunks, or `apps/cli/dist/ui` when
 * flo runs from source. `FLO_UI_ASSETS` overrides (tests).
 */
export function uiAssetsDir(env: NodeJS.ProcessEnv): string {
  if (env.FLO_UI_ASSETS !== undefined && env.FLO_UI_ASSETS !== '') return env.FLO_UI_ASSETS;
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'ui'), path.resolve(here, '../../dist/ui')];
  return candidates.find((c) => existsSync(path.join(c, 'index.html'))) ?? candidates[0]!;
}

export function version(): string {
  for (const p of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL(p, import.meta.url)), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'flotilla' && pkg.version !== undefined) return pkg.version;
    } catch {
      /* the other location */
    }
  }
  return '0.0.0';
}

export const command: CommandModule = {
  usage: 'ui [--listen HOST:PORT] [--token-file FILE] [--log-format text|json] [--log-level LEVEL] [--store URL] [--ssh-config FILE]',
  formats: ['text'], // prints no objects: -o is refused (exit 2)
  description:
    'Serves the web dashboard: hosts with capacity vs allocated and their instances drawn as blocks (the placement picture), replica sets (ready/desired, rollout, history), services (endpoints, VIP), instance details with logs, and a live event stream — kept live from the store\'s watch by server-sent events. Actions (scale, cordon, uncordon, rollout undo) use the same operations as the commands. On 127.0.0.1 the view needs no token; with --token-file, actions need the token; any other listen address needs --token-file (for viewing too). Also serves /metrics (Prometheus), /healthz and /readyz. Stops on SIGINT/SIGTERM.',
  deployOptions: false,
  options: [
    { name: 'listen', type: 'string', value: 'HOST:PORT', description: 'where to serve the dashboard (default 127.0.0.1:8080; a port of 0 picks a free one)' },
    { name: 'token-file', type: 'string', value: 'FILE', description: 'a file holding the token (16+ characters) that actions need; required to listen beyond loopback' },
    ...logOptions,
    ...clusterOptions,
  ],
  async run(ctx) {
    const listen = stringOption(ctx, 'listen') ?? '127.0.0.1:8080';
    const tokenFile = stringOption(ctx, 'token-file');
    const log = loggerFor(ctx, 'flo ui');
    const [{ checkListen, checkToken }, assetsDir] = [await import('../ui/access.js'), uiAssetsDir(ctx.env)];
    let token: string | undefined;
    try {
      if (tokenFile !== undefined) {
        const file = path.resolve(ctx.cwd, tokenFile);
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (e) {
          throw new TypeError(`--token-file ${tokenFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        }
        token = checkToken(text, tokenFile);
      }
      checkListen(listen, token !== undefined);
    } catch (e) {
      if (e instanceof TypeError) throw new UsageError(e.message);
      throw e;
    }
    if (!existsSync(path.join(assetsDir, 'index.html'))) {
      ctx.stderr.write(`flo ui: the dashboard's files are missing (${assetsDir}/index.html): build them with \`npx nx run flotilla:build\` (or reinstall the package)\n`);
      return 1;
    }
    return serve(ctx, { listen, token, assetsDir, log });
  },
};

async function serve(ctx: CommandContext, o: { listen: string; token: string | undefined; assetsDir: string; log: CliLogger }): Promise<number> {
  const s = await openCluster(ctx, { readOnly: true });
  const { startDashboard } = await import('../ui/dashboard.js');
  const abort = new AbortController();
  const stopped = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let dashboard: Awaited<ReturnType<typeof startDashboard>> | undefined;
  try {
    dashboard = await startDashboard({
      cluster: s.cluster,
      store: s.store,
      runtime: () => s.runtime(),
      listen: o.listen,
      ...(o.token !== undefined ? { token: o.token } : {}),
      assetsDir: o.assetsDir,
      log: o.log,
      storeLabel: s.cluster.redactStoreUrl(storeUrl(ctx) ?? `file://${path.join(ctx.cwd, '.flotilla')}`),
      version: version(),
    });
    o.log.info(`dashboard on ${dashboard.url}/ (${o.token !== undefined ? 'actions need the token' : 'no token: read-only view and actions open on loopback'})`);
    await stopped;
    return 0;
  } catch (e) {
    if (e instanceof TypeError) throw new UsageError(e.message);
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      ctx.stderr.write(`flo ui: --listen ${o.listen}: the address is in use (another flo ui?); pick another port, e.g. --listen 127.0.0.1:0\n`);
      return 1;
    }
    throw e;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await dashboard?.close();
    await s.close();
  }
}
