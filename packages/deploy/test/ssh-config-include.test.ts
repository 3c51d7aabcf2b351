// ssh_config `Include` as OpenSSH resolves it: glob(3) on every path component, `~`,
// relative paths, several files per Include in glob(3)'s order, and Include inside Host/Match.
// Each case is checked against expected values and, where `ssh` is installed, against what
// the real `ssh -G` resolves from the same files.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isDeployError, loadSshConfig, parseSshConfig, resolveSshConfig } from '../src/index.js';
import { expandTilde, globMatchName, globPaths, tokenizeGlob } from '../src/ssh-glob.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A temp tree: `home/` is $HOME; `${root}` in file contents is the tree's path. */
function tree(files: Record<string, string>): { root: string; home: string } {
  const root = mkdtempSync(join(tmpdir(), 'flo-include-'));
  roots.push(root);
  const home = join(root, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  for (const [rel, body] of Object.entries(files)) {
    const p = join(root, rel);
    if (rel.endsWith('/')) {
      mkdirSync(p, { recursive: true });
      continue;
    }
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, body.replaceAll('${root}', root));
    chmodSync(p, 0o644); // ssh refuses included files writable by others, whatever the umask
  }
  return { root, home };
}

const localUser = userInfo().username;

interface Resolved {
  hostname: string;
  user: string;
  port: number;
  identityfile: string[];
}

function ours(root: string, home: string, host: string): Resolved {
  const r = resolveSshConfig(loadSshConfig([join(root, 'config')], { home }), host, { home, localUser });
  return { hostname: r.hostName, user: r.user ?? localUser, port: r.port ?? 22, identityfile: r.identityFiles };
}

const sshVersion = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
const haveSsh = sshVersion.status === 0;
if (!haveSsh) {
  const why = 'ssh (openssh-client) is not installed: the comparisons with `ssh -G` are SKIPPED';
  if (process.env.CI === 'true') throw new Error(`${why}; CI=true requires them`);
  console.warn(`\n*** ${why} ***\n`);
}

function sshG(root: string, home: string, host: string): Resolved {
  const out = spawnSync('ssh', ['-G', '-F', join(root, 'config'), host], { encoding: 'utf8', env: { ...process.env, HOME: home } });
  if (out.status !== 0) throw new Error(`ssh -G ${host} failed: ${out.stderr}`);
  const r: Resolved = { hostname: '', user: '', port: 0, identityfile: [] };
  for (const line of out.stdout.split('\n')) {
    const [k, ...rest] = line.split(' ');
    const v = rest.join(' ');
    if (k === 'hostname') r.hostname = v;
    else if (k === 'user') r.user = v;
    else if (k === 'port') r.port = Number(v);
    else if (k === 'identityfile') r.identityfile.push(v);
  }
  // With no IdentityFile configured ssh lists its defaults (~/.ssh/id_*); we list none.
  if (r.identityfile.every((f) => f.startsWith('~/.ssh/id_'))) r.identityfile = [];
  return r;
}

interface Case {
  name: string;
  files: Record<string, string>;
  /** Per host: the fields we expect (absent = ssh's default: the alias, the local user, 22, none). */
  want: Record<string, Partial<Resolved>>;
}

const cases: Case[] = [
  {
    name: 'a glob in a directory component (/dir/*/config); hidden directories are not matched; sorted over the whole path',
    files: {
      config: 'Include ${root}/d/*/config\n',
      'd/a/config': 'Host x\n  HostName from-a\nHost y\n  HostName y-from-a\n',
      // "a-b/" sorts before "a/" in strcmp order of the whole path, so it is read first.
      'd/a-b/config': 'Host x\n  HostName from-ab\n  Port 2201\n',
      'd/b/config': 'Host y\n  HostName y-from-b\n  User b\n',
      'd/.hidden/config': 'Host *\n  User hidden\n',
      'd/c/other': 'Host *\n  User other\n',
    },
    want: { x: { hostname: 'from-ab', port: 2201 }, y: { hostname: 'y-from-a', user: 'b' } },
  },
  {
    name: '? and [...] in several components, several patterns on one Include line',
    files: {
      config: 'Include ${root}/g/?/config ${root}/e/[0-9][0-9]-*.conf\nHost *\n  User fallback\n',
      'g/1/config': 'Host one\n  HostName g1\n',
      'g/12/config': 'Host one\n  HostName g12\n',
      'e/10-web.conf': 'Host web\n  Port 1010\n',
      'e/02-web.conf': 'Host web\n  Port 202\n  IdentityFile ${root}/keys/02\n',
      'e/x1-web.conf': 'Host web\n  Port 9999\n',
    },
    want: { one: { hostname: 'g1', user: 'fallback' }, web: { port: 202, user: 'fallback', identityfile: ['${root}/keys/02'] } },
  },
  {
    name: 'relative paths are under ~/.ssh; ~ expands; each file of a glob is read in turn',
    files: {
      config: 'Include conf.d/*.conf ~/.ssh/extra/*\n',
      'home/.ssh/conf.d/b.conf': 'Host *\n  IdentityFile ${root}/keys/b\n',
      'home/.ssh/conf.d/a.conf': 'Host rel\n  HostName rel.example\n  IdentityFile ${root}/keys/a\n',
      'home/.ssh/extra/z': 'Host rel\n  User z\n',
    },
    want: { rel: { hostname: 'rel.example', user: 'z', identityfile: ['${root}/keys/a', '${root}/keys/b'] }, other: { identityfile: ['${root}/keys/b'] } },
  },
  {
    name: 'an Include inside a Host block applies only to its hosts, and the block resumes after it',
    files: {
      config: 'Host web*\n  Include conf.d/w.conf\n  Port 2201\nHost *\n  Port 3000\n  User last\n',
      'home/.ssh/conf.d/w.conf': 'User inweb\nHost other\n  Port 2000\n',
    },
    want: { web1: { user: 'inweb', port: 2201 }, db1: { user: 'last', port: 3000 }, other: { user: 'last', port: 3000 } },
  },
  {
    name: 'an Include inside a Match block; the included Host lines narrow it further',
    files: {
      config: 'Match originalhost app*\n  Include ${root}/m.conf\n  User afterinclude\nHost *\n  User fallback\n',
      'm.conf': 'Port 2022\nHost app2\n  HostName second\n',
    },
    want: { app1: { port: 2022, user: 'afterinclude' }, app2: { port: 2022, hostname: 'second', user: 'afterinclude' }, other: { user: 'fallback' } },
  },
  {
    name: 'an Include in a block that does not match never applies, even its Host *',
    files: {
      config: 'Host nomatch\n  Include ${root}/star.conf\nHost *\n  User fallback\n',
      'star.conf': 'Host *\n  User stolen\n  HostName stolen\n',
    },
    want: { h: { user: 'fallback' }, nomatch: { user: 'stolen', hostname: 'stolen' } },
  },
  {
    name: 'a file ending inside its own Host block does not capture what follows (the next file, the including file)',
    files: {
      config: 'Include ${root}/i/*.conf\nUser top\nPort 2345\n',
      'i/1.conf': 'Host zzz\n  Port 1111\n',
      'i/2.conf': 'IdentityFile ${root}/keys/two\n',
    },
    want: { h: { user: 'top', port: 2345, identityfile: ['${root}/keys/two'] }, zzz: { user: 'top', port: 1111, identityfile: ['${root}/keys/two'] } },
  },
  {
    name: 'missing files and empty globs are ignored; directories matched by a glob read as empty',
    files: {
      config: 'Include ${root}/nope/*.conf ${root}/missing.conf ${root}/dirs/*\nHost *\n  User after\n',
      'dirs/sub/': '',
    },
    want: { h: { user: 'after' } },
  },
  {
    name: 'bracket negation, ranges, classes, a literal [ and a leading ] in a set',
    files: {
      config: 'Include ${root}/n/[!a]*.conf ${root}/n/[[:digit:]]x.conf ${root}/n/lit[.conf ${root}/n/[]q]set.conf\n',
      'n/a1.conf': 'Host neg\n  User a1\n',
      'n/b1.conf': 'Host neg\n  Port 2111\n',
      'n/7x.conf': 'Host cls\n  User seven\n',
      'n/lit[.conf': 'Host lit\n  User bracket\n',
      'n/]set.conf': 'Host set\n  User closing\n',
    },
    want: { neg: { port: 2111 }, cls: { user: 'seven' }, lit: { user: 'bracket' }, set: { user: 'closing' } },
  },
  {
    name: 'nested Includes (relative again to ~/.ssh) keep their enclosing Host',
    files: {
      config: 'Host deep\n  Include one.conf\nHost *\n  Port 4000\n',
      'home/.ssh/one.conf': 'Include two/*.conf\nUser one\n',
      'home/.ssh/two/t.conf': 'HostName deep.example\n',
    },
    want: { deep: { hostname: 'deep.example', user: 'one', port: 4000 }, shallow: { port: 4000 } },
  },
];

describe('ssh_config Include (OpenSSH semantics)', () => {
  describe.each(cases)('$name', (c) => {
    const { root, home } = tree(c.files);
    for (const [host, want] of Object.entries(c.want)) {
      const expected: Resolved = {
        hostname: host,
        user: localUser,
        port: 22,
        identityfile: [],
        ...want,
      };
      expected.identityfile = expected.identityfile.map((f) => f.replaceAll('${root}', root));
      it(`${host}: as expected`, () => {
        expect(ours(root, home, host)).toEqual(expected);
      });
      it.skipIf(!haveSsh)(`${host}: the same as ssh -G`, () => {
        expect(ours(root, home, host)).toEqual(sshG(root, home, host));
      });
    }
  });

  it('an included file others can write is refused, as ssh refuses it', () => {
    const { root, home } = tree({ config: 'Include ${root}/open.conf\n', 'open.conf': 'User x\n' });
    chmodSync(join(root, 'open.conf'), 0o666);
    let err: unknown;
    try {
      loadSshConfig([join(root, 'config')], { home });
    } catch (e) {
      err = e;
    }
    expect(isDeployError(err) && err.code).toBe('ssh-config');
    expect((err as Error).message).toMatch(/config:1: bad owner or permissions on included file .*open\.conf.*chmod go-w/);
    if (haveSsh) {
      const out = spawnSync('ssh', ['-G', '-F', join(root, 'config'), 'h'], { encoding: 'utf8', env: { ...process.env, HOME: home } });
      expect(out.status).not.toBe(0);
      expect(out.stderr).toMatch(/Bad owner or permissions/);
    }
  });

  it('a system config resolves relative Includes under its directory and refuses ~', () => {
    const { root, home } = tree({ 'etc/ssh/ssh_config.d/10.conf': 'Host s\n  User sys\n', 'home/.ssh/ssh_config.d/10.conf': 'Host s\n  User wrong\n' });
    const sys = parseSshConfig('Include ssh_config.d/*.conf\n', { home, system: true, systemDir: join(root, 'etc/ssh') });
    expect(resolveSshConfig(sys, 's', { home }).user).toBe('sys');
    const user = parseSshConfig('Include ssh_config.d/*.conf\n', { home });
    expect(resolveSshConfig(user, 's', { home }).user).toBe('wrong');
    expect(() => parseSshConfig('Include ~/x.conf\n', { home, system: true, file: '/etc/ssh/ssh_config' })).toThrow(
      /\/etc\/ssh\/ssh_config:1: bad include path ~\/x\.conf/,
    );
    // loadSshConfig treats /etc/ssh/ssh_config (or systemFiles) as the system config.
    writeFileSync(join(root, 'sys_config'), 'Include ssh_config.d/*.conf\n');
    const loaded = loadSshConfig([join(root, 'sys_config')], { home, systemFiles: [join(root, 'sys_config')], systemDir: join(root, 'etc/ssh') });
    expect(resolveSshConfig(loaded, 's', { home }).user).toBe('sys');
  });

  it('an Include loop stops with an error naming the file', () => {
    const { root, home } = tree({ config: 'Include ${root}/loop.conf\n', 'loop.conf': 'Include ${root}/loop.conf\n' });
    expect(() => loadSshConfig([join(root, 'config')], { home })).toThrow(/loop\.conf: Include nested too deeply/);
  });
});

describe('glob(3) matching of one path component', () => {
  it.each([
    ['config', '*', true],
    ['.hidden', '*', false],
    ['.hidden', '.*', true],
    ['.hidden', '?hidden', false],
    ['.hidden', '[.]hidden', false],
    ['.hidden', '\\.hidden', false],
    ['a', '?', true],
    ['ab', '?', false],
    ['a1', 'a[0-9]', true],
    ['ax', 'a[0-9]', false],
    ['ax', 'a[!0-9]', true],
    ['a^', 'a[^x]', true], // ^ is not a negation in OpenSSH's glob
    ['ab', 'a[z-a]', false], // a reversed range matches nothing
    ['a]', 'a[]]', true],
    ['a-', 'a[x-]', true],
    ['7x', '[[:digit:]]x', true],
    ['ax', '[[:digit:]]x', false],
    ['a*b', 'a\\*b', true],
    ['axb', 'a\\*b', false],
    ['lit[', 'lit[', true],
    ['abcabd', '*ab?', true],
    ['', '*', true],
    ['10-web.conf', '[0-9][0-9]-*.conf', true],
  ])('%j against %j → %s', (name, pattern, want) => {
    expect(globMatchName(name, tokenizeGlob(pattern))).toBe(want);
  });

  it('~ and ~user expand at the start only; an unknown user stays as written', () => {
    const userHome = (u: string) => (u === 'alice' ? '/home/alice' : undefined);
    expect(expandTilde('~/x', { home: '/h', userHome })).toBe('/h/x');
    expect(expandTilde('~', { home: '/h', userHome })).toBe('/h');
    expect(expandTilde('~alice/.ssh/c', { home: '/h', userHome })).toBe('/home/alice/.ssh/c');
    expect(expandTilde('~bob/c', { home: '/h', userHome })).toBe('~bob/c');
    expect(expandTilde('/a/~/b', { home: '/h', userHome })).toBe('/a/~/b');
  });

  it('globPaths sorts by byte order over the whole path and returns only existing paths', () => {
    const { root } = tree({ 'p/a/c': '', 'p/a-b/c': '', 'p/B/c': '', 'p/a/d': '' });
    expect(globPaths(join(root, 'p/*/c'), { home: root })).toEqual([join(root, 'p/B/c'), join(root, 'p/a-b/c'), join(root, 'p/a/c')]);
    expect(globPaths(join(root, 'p/a/c'), { home: root })).toEqual([join(root, 'p/a/c')]);
    expect(globPaths(join(root, 'p/a/none'), { home: root })).toEqual([]);
    expect(globPaths(join(root, 'p/*/none'), { home: root })).toEqual([]);
  });
});
