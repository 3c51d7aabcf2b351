// etcd3 1.1's watch manager throws, from its gRPC stream's data handler (uncaught: the process
// dies), when a response arrives for a watcher it already detached. openEtcdStore's client
// drops such responses, as etcd's Go client does. Checked on the installed etcd3 itself: no
// server is needed, the manager's handler is called as its stream would call it.
import { EventEmitter } from 'node:events';
import { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { tolerateDetachedWatchResponses } from '../src/store/etcd-client.js';

interface Manager {
  watchers: { id: string | null }[];
  handleResponse(res: object): void;
}
const managerOf = (client: Etcd3): Manager => (client as unknown as { watchManager: Manager }).watchManager;

describe('etcd client: a late response for a detached watcher', () => {
  it('throws in etcd3 as installed (what the patch is for)', () => {
    const client = new Etcd3({ hosts: 'http://127.0.0.1:9' });
    try {
      expect(() => managerOf(client).handleResponse({ watch_id: '41', events: [], canceled: false })).toThrow(/Failed to find watcher/);
    } finally {
      client.close();
    }
  });

  it('is dropped once patched, and a held watcher still gets its responses', () => {
    const client = new Etcd3({ hosts: 'http://127.0.0.1:9' });
    try {
      tolerateDetachedWatchResponses(client);
      const manager = managerOf(client);
      expect(() => manager.handleResponse({ watch_id: '41', events: [], canceled: false })).not.toThrow();
      const held = Object.assign(new EventEmitter(), { id: '7' });
      const seen: object[] = [];
      held.on('data', (res: object) => seen.push(res));
      manager.watchers.push(held);
      const res = { watch_id: '7', events: [], canceled: false };
      manager.handleResponse(res);
      expect(seen).toEqual([res]);
    } finally {
      client.close();
    }
  });

  it('leaves an object without a watch manager alone', () => {
    const other = { watchManager: undefined };
    expect(() => tolerateDetachedWatchResponses(other)).not.toThrow();
    expect(other.watchManager).toBeUndefined();
  });
});
