// The Host model's one parser (issue 18 §3): parseHostAddress reads where a host is for the
// inventory (default rules) and for @flotilla/cluster's manifests (strict). The cluster's
// test/host-parser.test.ts checks that both callers agree on the shared fields.
import { describe, expect, it } from 'vitest';
import { HOST_ADDRESS_FIELDS, InventoryError, parseHostAddress, parseInventory } from '../src/index.js';

describe('parseHostAddress', () => {
  it('reads every field of HostAddress', () => {
    const spec = { address: 'web1.example', user: 'deploy', port: 2222, identityFile: '~/.ssh/k', proxyJump: 'bastion' };
    expect(parseHostAddress(spec)).toEqual({ address: spec, issues: [] });
    expect(parseHostAddress({ local: { dir: './h1' } })).toEqual({ address: { local: { dir: './h1' } }, issues: [] });
    expect(HOST_ADDRESS_FIELDS).toEqual(['address', 'user', 'port', 'identityFile', 'proxyJump', 'local']);
  });

  it('ignores the fields that are not its own, and takes null as absent', () => {
    expect(parseHostAddress({ address: 'a', capacity: { cpu: 2 }, port: null, user: null })).toEqual({ address: { address: 'a' }, issues: [] });
  });

  it('reports every problem at once, each with its path from the document', () => {
    expect(parseHostAddress({ port: 0, user: 7, identityFile: ['k'], proxyJump: {} }).issues).toEqual([
      { path: ['spec'], message: 'needs address: (an ssh address or ssh_config alias) or local: {dir} (a directory on this machine)' },
      { path: ['spec', 'user'], message: 'must be a string, not 7' },
      { path: ['spec', 'identityFile'], message: 'must be a string, not a list' },
      { path: ['spec', 'proxyJump'], message: 'must be a string, not a mapping' },
      { path: ['spec', 'port'], message: 'must be between 1 and 65535, not 0' },
    ]);
    expect(parseHostAddress({ address: 'a', port: '22' }).issues).toEqual([{ path: ['spec', 'port'], message: 'must be an integer, not "22"' }]);
    expect(parseHostAddress({ address: 'a', port: 22.5 }).issues).toEqual([{ path: ['spec', 'port'], message: 'must be an integer, not 22.5' }]);
    expect(parseHostAddress({ local: 'dir' }).issues).toEqual([{ path: ['spec', 'local'], message: 'must be a mapping {dir: <path>}, not "dir"' }]);
    expect(parseHostAddress({ local: {} }).issues).toEqual([{ path: ['spec', 'local', 'dir'], message: 'is required' }]);
    expect(parseHostAddress(undefined).issues).toEqual([{ path: ['spec'], message: expect.stringMatching(/^is required: address: .* or local: \{dir\}/) as string }]);
    expect(parseHostAddress(['a']).issues).toEqual([{ path: ['spec'], message: 'must be a mapping, not a list' }]);
  });

  it('strict (the manifest): exactly one of address and local; local holds a non-empty dir alone', () => {
    const both = { address: 'a', local: { dir: 'd' } };
    expect(parseHostAddress(both)).toEqual({ address: both, issues: [] });
    expect(parseHostAddress(both, { strict: true }).issues).toEqual([{ path: ['spec'], message: 'set either address or local, not both' }]);
    const extra = { local: { dir: 'd', mode: 'x' } };
    expect(parseHostAddress(extra)).toEqual({ address: { local: { dir: 'd' } }, issues: [] });
    expect(parseHostAddress(extra, { strict: true }).issues).toEqual([{ path: ['spec', 'local', 'mode'], message: 'unknown field (expected one of: dir)' }]);
    expect(parseHostAddress({ local: { dir: '' } }).issues).toEqual([]);
    expect(parseHostAddress({ local: { dir: '' } }, { strict: true }).issues).toEqual([{ path: ['spec', 'local', 'dir'], message: 'must not be empty' }]);
  });
});

describe('the inventory reads hosts with parseHostAddress', () => {
  const doc = (spec: string, name = 'h1'): string => `kind: Host\nmetadata: {name: ${name}, labels: {rack: 3, ssd: true}}\nspec: ${spec}\n`;

  it('keeps what loaded before: both address and local (local wins when connecting), numbers and booleans as label values, extra spec fields', () => {
    const [h] = parseInventory(doc('{address: a, local: {dir: ./d, note: x}, capacity: {cpu: 2}}'));
    expect(h).toEqual({
      name: 'h1',
      labels: { rack: '3', ssd: 'true' },
      address: 'a',
      local: { dir: './d' },
      spec: { address: 'a', local: { dir: './d', note: 'x' }, capacity: { cpu: 2 } },
    });
  });

  it("an empty field (YAML's null) is absent, as in a manifest", () => {
    expect(parseInventory(doc('{address: a, port: , user: }'))[0]).toMatchObject({ address: 'a' });
    expect(parseInventory(doc('{address: a, port: , user: }'))[0]).not.toHaveProperty('port');
  });

  it("names each problem's document, line and field path, with the parser's message", () => {
    let error: unknown;
    try {
      parseInventory(`${doc('{address: a, port: 0}')}---\n${doc('[a]', 'h2')}`, 'inv.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InventoryError);
    expect((error as InventoryError).issues).toEqual([
      'document 1 (line 1): spec.port: must be between 1 and 65535, not 0',
      'document 2 (line 5): spec: must be a mapping, not a list',
    ]);
    expect((error as Error).message).toMatch(/^inv\.yaml: 2 problems/);
  });
});
