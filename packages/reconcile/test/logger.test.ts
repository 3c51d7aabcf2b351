// The logger seam with a real pino: pass it as it is, get pino's JSON lines (fields, msg,
// and errors through pino's err serializer); message-first loggers keep working.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Controller, isPinoLogger, toLogger, type Logger } from '../src/index.js';
import { FakeClock, settle } from '../src/testing/index.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('a pino logger passed directly', () => {
  it('is recognised, and a controller logs through it: fields, msg, level, and the error as err', async () => {
    const out = capture();
    const log = pino({ level: 'debug' }, out.stream);
    expect(isPinoLogger(log)).toBe(true);
    expect(isPinoLogger(log.child({ component: 'x' }))).toBe(true);
    const clock = new FakeClock();
    const c = new Controller(
      'web',
      (key) => {
        throw new Error(`cannot reach ${key}`);
      },
      { clock, logger: log.child({ component: 'controllers' }) },
    );
    const ac = new AbortController();
    const running = c.run(ac.signal);
    c.queue.add('h1');
    await settle();
    ac.abort();
    await running;
    const lines = out.lines();
    const failed = lines.find((l) => l.msg === 'reconcile failed; requeued with backoff');
    expect(failed).toMatchObject({ level: 40, component: 'controllers', controller: 'web', key: 'h1', requeues: 1 });
    expect(failed!.err).toMatchObject({ type: 'Error', message: 'cannot reach h1' });
    expect((failed!.err as { stack: string }).stack).toContain('cannot reach h1');
    expect(typeof failed!.time).toBe('number');
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['controller stopping', 'controller stopped']));
  });

  it('honours pino levels (debug dropped at info) and a message without fields', () => {
    const out = capture();
    const log = toLogger(pino({ level: 'info' }, out.stream));
    log.debug('hidden', { a: 1 });
    log.info('plain');
    log.error('with fields', { a: 1, err: 'kept as given' });
    expect(out.lines().map(({ level, msg, a, err }) => ({ level, msg, a, err }))).toEqual([
      { level: 30, msg: 'plain', a: undefined, err: undefined },
      { level: 50, msg: 'with fields', a: 1, err: 'kept as given' },
    ]);
  });
});

describe('message-first loggers', () => {
  it('are used as they are', () => {
    const seen: [string, string, Record<string, unknown> | undefined][] = [];
    const mine: Logger = {
      debug: (m, f) => seen.push(['debug', m, f]),
      info: (m, f) => seen.push(['info', m, f]),
      warn: (m, f) => seen.push(['warn', m, f]),
      error: (m, f) => seen.push(['error', m, f]),
    };
    expect(isPinoLogger(mine)).toBe(false);
    expect(toLogger(mine)).toBe(mine);
    toLogger(mine).warn('w', { k: 1 });
    expect(seen).toEqual([['warn', 'w', { k: 1 }]]);
  });
});
