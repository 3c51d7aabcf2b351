/**
 * The sample app as a container image (`flo demo --containers`, tests): busybox-static's
 * `httpd` serving `/healthz` and a CGI page that says which container answered, built with
 * `@flotilla/deploy/image`'s `buildImage` (no Docker, reproducible) in two layers — the
 * busybox root filesystem, then the app — so that a new app version moves one small layer.
 */
import { copyFile, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterError } from '../errors.js';
import { loadImageModule } from '../images.js';

/** The busybox applets the sample image links. */
const APPLETS = ['sh', 'httpd', 'hostname', 'cat', 'sleep', 'echo', 'ls', 'ps', 'wget', 'nc', 'nslookup', 'true'];

/** The CGI page: greeting, the container's hostname (its instance name), its pid inside, HOST:PORT. */
const INDEX_CGI = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "\${GREETING:-hello} from $(hostname) (pid $$ in its own pid namespace, version $(cat /www/version)) on $HOST:$PORT"
`;

/** Options of {@link buildSampleImage}. */
export interface SampleImageOptions {
  /** Written into the app layer and shown by the page; a new version changes only that layer. @default '1' */
  version?: string;
  /** A statically linked busybox. @default '/bin/busybox' (Debian's busybox-static) */
  busybox?: string;
}

/**
 * Builds `sample-app-v<version>.oci.tar` in `dir` (and its base, `busybox.oci.tar`): returns
 * the archive's path and manifest digest. Its Entrypoint runs `httpd -f -p $HOST:$PORT`.
 */
export async function buildSampleImage(dir: string, options: SampleImageOptions = {}): Promise<{ path: string; digest: string }> {
  const busybox = options.busybox ?? '/bin/busybox';
  const version = options.version ?? '1';
  if (!(await stat(busybox).catch(() => undefined))?.isFile())
    throw new ClusterError('dependency-missing', `the sample image needs a static busybox at ${busybox} (Debian: apt-get install busybox-static)`);
  const m = await loadImageModule();
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'flotilla-sample-image-'));
  try {
    const base = join(dir, 'busybox.oci.tar');
    const root = join(work, 'base');
    await mkdir(join(root, 'bin'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    await copyFile(busybox, join(root, 'bin', 'busybox'));
    for (const a of APPLETS) await symlink('busybox', join(root, 'bin', a));
    await m.buildImage({ dir: root, out: base, env: ['PATH=/bin'], tags: ['busybox:static'] });
    const app = join(work, 'app');
    await mkdir(join(app, 'www', 'cgi-bin'), { recursive: true });
    await writeFile(join(app, 'www', 'healthz'), 'ok\n');
    await writeFile(join(app, 'www', 'version'), version); // in the app layer: a new version is a new top layer
    await writeFile(join(app, 'www', 'cgi-bin', 'index.cgi'), INDEX_CGI, { mode: 0o755 });
    const out = join(dir, `sample-app-v${version}.oci.tar`);
    const built = await m.buildImage({
      dir: app,
      out,
      base,
      entrypoint: ['/bin/sh', '-c'],
      cmd: ['exec httpd -f -p "${HOST:-0.0.0.0}:${PORT:-8080}" -h /www'],
      tags: [`sample-app:${version}`],
    });
    return { path: out, digest: built.digest };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
