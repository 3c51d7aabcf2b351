// --log-format text|json and --log-level of the long-running commands.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/log.js';

function sink(): { out: PassThrough; text: () => string } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  return { out, text: () => text };
}

const at = () => new Date('2026-12-02T21:00:00.000Z');

describe('createLogger', () => {
  it('json: one object a line — time, level, msg, then bound and given fields; errors as {type, message, code}', () => {
    const s = sink();
    const log = createLogger(s.out, 'json', 'info', 'flo controller c1', { identity: 'c1' }, at);
    log.info('leading');
    const err = Object.assign(new Error('no route to "h2"'), { code: 'EHOSTUNREACH' });
    log.warn('probe failed', { host: 'h2', error: err, msg: 'not overriding', n: 3 });
    const lines = s.text().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      { time: '2026-12-02T21:00:00.000Z', level: 'info', msg: 'leading', identity: 'c1' },
      { time: '2026-12-02T21:00:00.000Z', level: 'warn', msg: 'probe failed', identity: 'c1', host: 'h2', error: { type: 'Error', message: 'no route to "h2"', code: 'EHOSTUNREACH' }, n: 3 },
    ]);
  });

  it('drops levels below --log-level', () => {
    const s = sink();
    const log = createLogger(s.out, 'json', 'warn', 'flo server', {}, at);
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(s.text().trimEnd().split('\n').map((l) => (JSON.parse(l) as { level: string }).level)).toEqual(['warn', 'error']);
  });

  it('text: the lines flo always printed, with the level named when it is not info, and fields as key=value', () => {
    const s = sink();
    const log = createLogger(s.out, 'text', 'debug', 'flo controller c1', { identity: 'c1' }, at);
    log.info('leading');
    log.warn('probe failed', { host: 'h2', error: new Error('timed out'), reason: 'two words' });
    log.debug('tick', { n: 1 });
    expect(s.text()).toBe('flo controller c1: leading\nflo controller c1: warning: probe failed host=h2 error="timed out" reason="two words"\nflo controller c1: debug: tick n=1\n');
  });
});
