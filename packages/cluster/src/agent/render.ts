/**
 * A Service's `render:` file (`spec.render: {hosts, path}`): its endpoints, one `address:port`
 * a line, and the digest recorded in `status.rendered[host]`. The controllers write it over
 * ssh to agentless hosts; an agent host's agent writes it locally (the controllers never ssh
 * to an agent host). Both use this function, so the file is the same either way.
 */
import { createHash } from 'node:crypto';
import type { Endpoint } from '../manifest/types.js';

/** The file's content and its digest (16 hex digits of SHA-256). */
export function renderEndpointsFile(endpoints: readonly Pick<Endpoint, 'address' | 'port'>[]): { content: string; digest: string } {
  const content = endpoints.map((e) => `${e.address}:${e.port}\n`).join('');
  return { content, digest: createHash('sha256').update(content).digest('hex').slice(0, 16) };
}
