/**
 * A host worker: a thread that owns the connections of some hosts and runs tasks and fact
 * gathering on them for the main thread (pool.ts). Using several threads lets the ssh work of
 * many hosts (key exchange, encryption, packet copies) use several cores.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Connection} from '../connection.js';
import { SudoPassword } from '../connection.js';
import { gatherFacts } from '../facts.js';
import { connectHost, type HostRef } from '../inventory.js';
import { withDeployLock } from '../lock.js';
import { loadDeployfile, type LoadedTask } from '../task.js';
import type { FromWorker, InitData, PortableError, ToWorker } from './protocol.js';

const port = parentPort!;
const init = workerData as InitData;
const send = (m: FromWorker): void => port.postMessage(m);

let nextAsk = 0;
const asks = new Map<number, { resolve: (v: string) => void; reject: (e: Error) => void }>();
function ask(kind: 'sudo' | 'passphrase', file?: string): Promise<string> {
  const id = ++nextAsk;
  return new Promise((resolve, reject) => {
    asks.set(id, { resolve, reject });
    send({ type: 'ask', id, kind, ...(file === undefined ? {} : { file }) });
  });
}

const sudoPassword = new SudoPassword(() => ask('sudo'));
const connections = new Map<string, Connection>();
let tasks: Promise<Map<string, LoadedTask>> | undefined;

function connection(ref: HostRef): Connection {
  let c = connections.get(ref.name);
  if (!c) {
    c = connectHost(ref, {
      ...init.ssh,
      sudoPassword,
      passphrase: (file) => ask('passphrase', file),
      onWarning: (message) => send({ type: 'warning', message }),
      onOutput: (line, stream) => send({ type: 'output', host: ref.name, line, stream }),
    });
    connections.set(ref.name, c);
  }
  return c;
}

function portable(e: unknown): PortableError {
  const err = e instanceof Error ? e : new Error(String(e));
  const x = err as Error & { code?: unknown; host?: unknown };
  return {
    name: err.name,
    message: err.message,
    ...(typeof x.code === 'string' ? { code: x.code } : {}),
    ...(typeof x.host === 'string' ? { host: x.host } : {}),
  };
}

function cloneable(v: unknown): unknown {
  try {
    structuredClone(v);
    return v;
  } catch {
    return undefined;
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'answer': {
      const a = asks.get(m.id);
      asks.delete(m.id);
      if (a) {
        if (m.error !== undefined) a.reject(new Error(m.error));
        else a.resolve(m.value ?? '');
      }
      return;
    }
    case 'task': {
      tasks ??= init.deployfile ? loadDeployfile(init.deployfile, { reserved: init.reserved }) : Promise.resolve(new Map());
      void (async () => {
        try {
          const t = (await tasks).get(m.task);
          if (!t) throw new Error(`no task named "${m.task}" in the worker's deployfile`);
          const c = connection(m.host);
          const call = async (): Promise<unknown> => await t.task.fn(c, ...m.args);
          const value = m.lock ? await withDeployLock(c, call, { onWarning: (message) => send({ type: 'warning', message }) }) : await call();
          send({ type: 'done', id: m.id, value: cloneable(value) });
        } catch (e) {
          send({ type: 'done', id: m.id, error: portable(e) });
        }
      })();
      return;
    }
    case 'facts': {
      void gatherFacts(connection(m.host), m.only ? { only: m.only } : {}).then(
        (value) => send({ type: 'done', id: m.id, value }),
        (e: unknown) => send({ type: 'done', id: m.id, error: portable(e) }),
      );
      return;
    }
    case 'close': {
      void Promise.all([...connections.values()].map((c) => c.close())).then(() => {
        send({ type: 'closed' });
        port.close();
      });
      return;
    }
  }
});
send({ type: 'ready' });
