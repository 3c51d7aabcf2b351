import { describe, expect, it } from 'vitest';
import { checkHostKey, fingerprint, formatKnownHostsLine, knownHostsName, parseKnownHosts } from '../src/index.js';
import { hostFieldMatches } from '../src/known-hosts.js';

const KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAINlTvmrqrcF6F0b9WgGi1fQS+bIQj+S+AxNlPTAHiDtF';
const OTHER = 'AAAAC3NzaC1lZDI1NTE5AAAAIHbKkdBg0RQXq7wUzCw5N1O2J5jY6q1mYc0c3Xk8sCkQ';
const blob = Buffer.from(KEY, 'base64');
const other = Buffer.from(OTHER, 'base64');

// Written by `ssh-keygen -H` from "example.com,10.0.0.1 …" and "[alt.example]:2222 …".
const hashed = `|1|iDJIVQ6MaTP1QYSTrUUTSFNBQzE=|mk3HuM5iFOSHHwl/PmsIeC/MVzs= ssh-ed25519 ${KEY}
|1|bUvhtj6mTq49BY0gX9K4f8lwbzg=|4G9b3ZHn0mEb+IOLu+U+u//KYWM= ssh-ed25519 ${KEY}
|1|dNJvhNcZVN6Gk3me7U6IG8MoI40=|KcI0S69p2jEnhXAeYvvHofeCJrM= ssh-ed25519 ${KEY}
`;

describe('known_hosts', () => {
  it('matches hashed entries written by ssh-keygen -H, including [host]:port', () => {
    const e = parseKnownHosts(hashed);
    expect(checkHostKey(e, 'example.com', blob)).toBe('ok');
    expect(checkHostKey(e, '10.0.0.1', blob)).toBe('ok');
    expect(checkHostKey(e, knownHostsName('alt.example', 2222), blob)).toBe('ok');
    expect(checkHostKey(e, 'alt.example', blob)).toBe('unknown');
    expect(checkHostKey(e, 'example.com', other)).toBe('changed');
  });

  it('plain entries: patterns, negation, ports, markers, comments and junk lines', () => {
    const text = [
      '# comment',
      `web*.example.com,!web9.example.com ssh-ed25519 ${KEY} a comment`,
      `[db.example]:2200 ssh-ed25519 ${KEY}`,
      'garbage line',
      `@revoked * ssh-ed25519 ${OTHER}`,
      `@cert-authority *.example.com ssh-ed25519 ${OTHER}`,
    ].join('\n');
    const e = parseKnownHosts(text);
    expect(e).toHaveLength(4);
    expect(checkHostKey(e, 'web1.example.com', blob)).toBe('ok');
    expect(checkHostKey(e, 'web9.example.com', blob)).toBe('unknown');
    expect(checkHostKey(e, '[db.example]:2200', blob)).toBe('ok');
    expect(checkHostKey(e, 'db.example', blob)).toBe('unknown');
    expect(checkHostKey(e, 'web1.example.com', other)).toBe('revoked');
  });

  it('a key of another type for a known host is unknown, not changed', () => {
    const rsaLike = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.from([0, 0, 0, 1, 1])]);
    expect(checkHostKey(parseKnownHosts(`h ssh-ed25519 ${KEY}`), 'h', rsaLike)).toBe('unknown');
  });

  it('formats lines that it can read back, hashed or not', () => {
    for (const hash of [false, true]) {
      const line = formatKnownHostsLine('[h.example]:2022', blob, { hash });
      expect(checkHostKey(parseKnownHosts(line), '[h.example]:2022', blob)).toBe('ok');
      expect(hostFieldMatches(line.split(' ')[0]!, 'h.example')).toBe(false);
    }
  });

  it('fingerprints like ssh-keygen -l', () => {
    expect(fingerprint(blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
