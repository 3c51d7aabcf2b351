import { describe, expect, it } from 'vitest';
import * as errorsEntry from '../src/errors-entry.js';
import {
  CommandFailedError,
  DeployError,
  DeployErrorCodes,
  HostKeyError,
  deployErrorCode,
  hasDeployErrorCode,
  isCommandFailedError,
  isDeployError,
  isHostKeyError,
  isInvocationError,
  type DeployErrorCode,
  type LegacyDeployErrorCode,
} from '../src/index.js';
import { fromWireError, toWireError } from '../src/mux/frames.js';

const legacyNames = Object.keys(DeployErrorCodes) as LegacyDeployErrorCode[];

describe('deploy error codes', () => {
  it('are kebab-case, one per former UPPER_CASE name, and distinct', () => {
    expect(legacyNames).toHaveLength(33);
    const codes = Object.values(DeployErrorCodes);
    expect(new Set(codes).size).toBe(codes.length);
    for (const name of legacyNames) {
      expect(name).toMatch(/^[A-Z]+(_[A-Z]+)*$/);
      expect(DeployErrorCodes[name]).toBe(name.toLowerCase().replaceAll('_', '-'));
      expect(DeployErrorCodes[name]).toMatch(/^[a-z]+(-[a-z]+)*$/);
    }
    expect(Object.isFrozen(DeployErrorCodes)).toBe(true);
  });

  it('deployErrorCode: kebab-case as it is, a former name as its code, anything else undefined', () => {
    expect(deployErrorCode('command-failed')).toBe('command-failed');
    expect(deployErrorCode('COMMAND_FAILED')).toBe('command-failed');
    expect(deployErrorCode('HOST_KEY_REVOKED')).toBe('host-key-revoked');
    expect(deployErrorCode('command_failed')).toBeUndefined();
    expect(deployErrorCode('toString')).toBeUndefined();
    expect(deployErrorCode('conflict')).toBeUndefined();
  });

  it('errors carry the kebab-case code; the constructor takes the former spelling too', () => {
    const result = { command: 'false', stdout: '', stderr: 'no', exitCode: 1, signal: null, host: 'h1' };
    const failed = new CommandFailedError(result);
    expect(failed.code).toBe('command-failed');
    expect(isCommandFailedError(failed)).toBe(true);
    const old = new DeployError('ABORTED', 'stopped', { host: 'h1' });
    expect(old.code).toBe('aborted');
    expect(old.host).toBe('h1');
    const key = new HostKeyError('host-key-changed', 'changed', { host: 'h1', fingerprint: 'SHA256:x', keyType: 'ssh-ed25519' });
    expect(isHostKeyError(key)).toBe(true);
  });

  it('hasDeployErrorCode compares in either spelling and only deploy errors', () => {
    const e = new DeployError('group-failed', 'x');
    expect(hasDeployErrorCode(e, 'group-failed')).toBe(true);
    expect(hasDeployErrorCode(e, 'GROUP_FAILED')).toBe(true);
    expect(hasDeployErrorCode(e, DeployErrorCodes.GROUP_FAILED)).toBe(true);
    expect(hasDeployErrorCode(e, 'timeout')).toBe(false);
    expect(hasDeployErrorCode(e, 'TIMEOUT')).toBe(false);
    // an error of another kind with the same code is not a deploy error
    expect(hasDeployErrorCode(Object.assign(new Error('x'), { code: 'group-failed' }), 'group-failed')).toBe(false);
  });

  it('isInvocationError: no-hosts, unknown-host and task-arguments, nothing else', () => {
    const all = Object.values(DeployErrorCodes) as DeployErrorCode[];
    const invocation = all.filter((code) => isInvocationError(new DeployError(code, 'x')));
    expect(invocation.sort()).toEqual(['no-hosts', 'task-arguments', 'unknown-host']);
    expect(isInvocationError(Object.assign(new Error('x'), { code: 'no-hosts' }))).toBe(false);
    expect(isInvocationError(Object.assign(new Error('x'), { code: 'NO_HOSTS' }))).toBe(false);
  });

  it("a connection daemon's wire error in the former spelling comes back kebab-case, with its kind", () => {
    const back = fromWireError({ name: 'HostKeyError', message: 'revoked', code: 'HOST_KEY_REVOKED', host: 'h1', fingerprint: 'SHA256:x', keyType: 'ssh-ed25519' });
    expect(isHostKeyError(back) && back.code).toBe('host-key-revoked');
    const lost = fromWireError({ name: 'DeployError', message: 'gone', code: 'CONNECTION_LOST', host: 'h1' });
    expect(isDeployError(lost) && [lost.code, lost.host]).toEqual(['connection-lost', 'h1']);
    const round = fromWireError(toWireError(new DeployError('transfer-failed', 'sftp', { host: 'h2' })));
    expect(isDeployError(round) && round.code).toBe('transfer-failed');
  });

  it('@flotilla/deploy/errors exports the same classes and guards as the root', async () => {
    const root = await import('../src/index.js');
    for (const [name, value] of Object.entries(errorsEntry)) expect(root[name as keyof typeof root], name).toBe(value);
  });
});
