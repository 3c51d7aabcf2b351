import { describe, expect, it } from 'vitest';
import { checkKey, checkTtl, putCommand, txnCommand, MAX_VALUE_BYTES } from '../src/kv/validate.js';
import { isKvError } from '../src/kv/errors.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return isKvError(e) ? e.code : 'not-kv-error';
  }
}

describe('input validation', () => {
  it.each<[string, () => unknown, string | undefined]>([
    ['empty key', () => checkKey(''), 'bad-request'],
    ['1024-byte key', () => checkKey('k'.repeat(1024)), undefined],
    ['1025-byte key', () => checkKey('k'.repeat(1025)), 'too-large'],
    ['multi-byte key over the limit', () => checkKey('é'.repeat(513)), 'too-large'],
    ['multi-byte key at the limit', () => checkKey('é'.repeat(512)), undefined],
    ['value not a string', () => putCommand('k', { value: 5 }), 'bad-request'],
    ['body not an object', () => putCommand('k', 'x'), 'bad-request'],
    ['1 MiB value', () => putCommand('k', { value: 'v'.repeat(MAX_VALUE_BYTES) }), undefined],
    ['value over 1 MiB', () => putCommand('k', { value: 'v'.repeat(MAX_VALUE_BYTES + 1) }), 'too-large'],
    ['negative prevRevision', () => putCommand('k', { value: 'v', prevRevision: -1 }), 'bad-request'],
    ['fractional prevRevision', () => putCommand('k', { value: 'v', prevRevision: 1.5 }), 'bad-request'],
    ['bad lease id', () => putCommand('k', { value: 'v', lease: 'abc' }), 'bad-request'],
    ['txn with two ops in one object', () => txnCommand({ success: [{ put: { key: 'a', value: '' }, get: { key: 'a' } }] }), 'bad-request'],
    ['txn writing a key twice', () => txnCommand({ success: [{ put: { key: 'a', value: '' } }, { delete: { key: 'a' } }] }), 'bad-request'],
    ['txn unknown op', () => txnCommand({ success: [{ range: { key: 'a' } }] }), 'bad-request'],
    ['txn compare without modRevision', () => txnCommand({ compare: [{ key: 'a' }] }), 'bad-request'],
    ['ttl zero', () => checkTtl(0), 'bad-request'],
    ['ttl ok', () => checkTtl(10), undefined],
  ])('%s', (_name, fn, code) => {
    expect(codeOf(fn)).toBe(code);
  });

  it('builds commands from valid bodies', () => {
    expect(putCommand('a/b', { value: 'v', prevRevision: 0, lease: '12' })).toEqual({ op: 'put', key: 'a/b', value: 'v', prevRevision: 0, lease: '12' });
    expect(txnCommand({ compare: [{ key: 'a', modRevision: 3 }], success: [{ get: { key: 'a' } }] })).toEqual({
      op: 'txn',
      compare: [{ key: 'a', modRevision: 3 }],
      success: [{ get: { key: 'a' } }],
      failure: [],
    });
  });
});
