/**
 * The sample app of `flo demo` (and the end-to-end tests): a tiny HTTP server that says
 * which instance answered, with a `/healthz` endpoint, packed as a `.tar.gz` artifact.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** `server.js` of the sample app: listens on `$HOST:$PORT`; `/healthz` answers 200 (or 500 when `FAIL_HEALTH=1`). */
export const SAMPLE_SERVER_JS = `const http = require('node:http');
const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 8080);
const name = process.env.FLOTILLA_INSTANCE || 'sample';
const greeting = process.env.GREETING || 'hello';
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(process.env.FAIL_HEALTH === '1' ? 500 : 200, { 'content-type': 'text/plain' });
    res.end(process.env.FAIL_HEALTH === '1' ? 'unhealthy\\n' : 'ok\\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(greeting + ' from ' + name + ' (pid ' + process.pid + ') on ' + host + ':' + port + '\\n');
});
server.listen(port, host, () => console.log(name + ' listening on ' + host + ':' + port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/** Writes the sample app's artifact (`sample-app.tar.gz`) into `dir` and returns its path. Needs `tar`. */
export async function writeSampleArtifact(dir: string): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'flotilla-sample-'));
  try {
    await writeFile(join(work, 'server.js'), SAMPLE_SERVER_JS);
    await writeFile(join(work, 'package.json'), JSON.stringify({ name: 'flotilla-sample', private: true, type: 'commonjs' }, null, 2));
    await mkdir(dir, { recursive: true });
    const out = join(dir, 'sample-app.tar.gz');
    await promisify(execFile)('tar', ['-C', work, '-czf', out, 'server.js', 'package.json']);
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
