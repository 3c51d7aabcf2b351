import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDestination, parseSshConfig, resolveSshConfig, resolveSshTarget } from '../src/index.js';
import { matchPatternList } from '../src/ssh-config.js';

const home = '/home/op';
const r = (text: string, host: string, user?: string) => resolveSshConfig(parseSshConfig(text, { home }), host, { home, localUser: 'op', ...(user ? { user } : {}) });

describe('ssh_config matching (OpenSSH rules)', () => {
  it.each([
    ['web1', ['web*'], true],
    ['web1', ['web?'], true],
    ['web10', ['web?'], false],
    ['db1', ['*', '!db*'], false],
    ['web1', ['*', '!db*'], true],
    ['web1', ['!db*'], false],
    ['x.example.com', ['*.example.com'], true],
  ])('%s against %j → %s', (host, patterns, expected) => {
    expect(matchPatternList(host, patterns)).toBe(expected);
  });

  it('the first value found wins; IdentityFile accumulates; keywords are case-insensitive; = works', () => {
    const cfg = `
      # comment
      Host web1
        HostName 10.0.0.1
        identityfile ~/.ssh/web
      Host web*
        HostName ignored
        User deploy
        Port=2222
        IdentityFile "/keys/with space"
      Host *
        User fallback
        Port 22
        ConnectTimeout 7
        UnknownKeyword whatever
    `;
    const w = r(cfg, 'web1');
    expect(w.hostName).toBe('10.0.0.1');
    expect(w.user).toBe('deploy');
    expect(w.port).toBe(2222);
    expect(w.identityFiles).toEqual(['/home/op/.ssh/web', '/keys/with space']);
    expect(w.connectTimeoutMs).toBe(7000);
    const o = r(cfg, 'other');
    expect(o.hostName).toBe('other');
    expect(o.user).toBe('fallback');
    expect(o.port).toBe(22);
  });

  it('options before any Host apply to every host and win over later blocks', () => {
    expect(r('User early\nHost a\n  User late\n', 'a').user).toBe('early');
  });

  it('negated patterns exclude a host from a block', () => {
    const cfg = 'Host * !bastion\n  ProxyJump bastion\nHost bastion\n  HostName 192.0.2.1\n';
    expect(r(cfg, 'app').proxyJump).toEqual(['bastion']);
    expect(r(cfg, 'bastion').proxyJump).toEqual([]);
  });

  it('ProxyJump lists, none, and the tokens %h %p %r %d %%', () => {
    const cfg = 'Host a\n  HostName a.internal\n  ProxyJump j1,u@j2:2200\n  UserKnownHostsFile %d/kh/%h_%p_%r %d/100%%\nHost b\n  ProxyJump none\n';
    const a = r(cfg, 'a', 'bob');
    expect(a.proxyJump).toEqual(['j1', 'u@j2:2200']);
    expect(a.userKnownHostsFiles).toEqual(['/home/op/kh/a.internal_22_bob', '/home/op/100%']);
    expect(r(cfg, 'b').proxyJump).toEqual([]);
  });

  it('StrictHostKeyChecking values', () => {
    for (const [v, want] of [['yes', 'yes'], ['no', 'no'], ['off', 'no'], ['accept-new', 'accept-new'], ['ask', 'ask']] as const)
      expect(r(`Host *\n  StrictHostKeyChecking ${v}\n`, 'x').strictHostKeyChecking).toBe(want);
  });

  it('Match host uses the HostName; Match originalhost the alias; Match exec never matches', () => {
    const cfg = 'Host alias\n  HostName real.example\nMatch host real.*\n  User m1\nMatch originalhost alias\n  Port 2022\nMatch exec "true"\n  IdentityFile /never\n';
    const a = r(cfg, 'alias');
    expect(a.user).toBe('m1');
    expect(a.port).toBe(2022);
    expect(a.identityFiles).toEqual([]);
  });

  it('Include reads files relative to ~/.ssh', () => {
    const h = mkdtempSync(join(tmpdir(), 'flo-sshcfg-'));
    mkdirSync(join(h, '.ssh', 'conf.d'), { recursive: true });
    writeFileSync(join(h, '.ssh', 'conf.d', 'a.conf'), 'Host inc\n  HostName 198.51.100.7\n');
    const cfg = parseSshConfig('Include conf.d/*.conf\nHost *\n  User x\n', { home: h });
    expect(resolveSshConfig(cfg, 'inc', { home: h }).hostName).toBe('198.51.100.7');
  });

  it('reports an unterminated quote with file and line', () => {
    expect(() => parseSshConfig('Host a\n  IdentityFile "oops\n', { file: 'cfg' })).toThrow(/cfg:2: unterminated quote/);
  });
});

describe('destinations', () => {
  it.each([
    ['host', { user: undefined, host: 'host', port: undefined }],
    ['u@host', { user: 'u', host: 'host', port: undefined }],
    ['u@host:2222', { user: 'u', host: 'host', port: 2222 }],
    ['[::1]:2222', { user: undefined, host: '::1', port: 2222 }],
    ['ssh://u@h:23', { user: 'u', host: 'h', port: 23 }],
  ])('%s', (text, want) => {
    expect(parseDestination(text)).toEqual(want);
  });
  it('rejects a bad port', () => {
    expect(() => parseDestination('h:99999')).toThrow(/bad port/);
  });
});

describe('resolveSshTarget', () => {
  it('command-line overrides beat ssh_config; jump hops resolve through ssh_config too', () => {
    const cfg = parseSshConfig('Host app\n  HostName 10.1.1.1\n  User cfguser\n  ProxyJump bastion\nHost bastion\n  HostName 10.0.0.1\n  User jump\n  Port 2201\n  ProxyJump edge\nHost edge\n  HostName 10.9.9.9\n', { home });
    const t = resolveSshTarget('app', { sshConfig: cfg, home, user: 'cli', port: 2022 });
    expect(t).toMatchObject({ hostName: '10.1.1.1', user: 'cli', port: 2022, strictHostKeyChecking: 'ask' });
    // The hop's own ProxyJump (edge) comes before it.
    expect(t.jumps.map((j) => `${j.hostName}:${j.port}`)).toEqual(['10.9.9.9:22', '10.0.0.1:2201']);
    expect(t.jumps[1]!.user).toBe('jump');
  });
  it('detects a ProxyJump loop', () => {
    const cfg = parseSshConfig('Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n', { home });
    expect(() => resolveSshTarget('a', { sshConfig: cfg, home })).toThrow(/too long/);
  });
});
