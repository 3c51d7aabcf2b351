// One `kind: Host` parser (issue 18 §3): where a host is — address, user, port, identityFile,
// proxyJump, local — is read by @flotilla/deploy's parseHostAddress for both the inventory
// (`flo -i hosts.yaml`) and the manifest validator (`flo apply`). The same documents go through
// both; on the shared fields they must accept the same and reject the same, at the same path,
// with the same message. The manifest's extra strictness is listed on its own, case by case.
import { HOST_ADDRESS_FIELDS, InventoryError, parseInventory } from '@flotilla/deploy';
import { describe, expect, it } from 'vitest';
import { HOST_SPEC, fieldsAt } from '../src/manifest/model.js';
import { formatManifestIssue, parseManifests } from '../src/index.js';

/** A Host document with this spec (a YAML flow mapping), as both files would hold it. */
const hostDoc = (spec: string): string => `apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: h1, labels: {zone: a}}\nspec: ${spec}\n`;

/** What the inventory says: the host's address fields, or its issues as `path: message` (document and line cut off). */
function inventory(text: string): { ok: Record<string, unknown> } | { issues: string[] } {
  try {
    const [h] = parseInventory(text, 'hosts.yaml');
    const { name: _n, labels: _l, spec: _s, ...address } = h!;
    return { ok: address };
  } catch (e) {
    if (!(e instanceof InventoryError)) throw e;
    return { issues: e.issues.map((i) => i.replace(/^document \d+ \(line \d+\): /, '')) };
  }
}

/** What the manifest validator says: the host's address fields, or its issues as `path: message`. */
function manifest(text: string): { ok: Record<string, unknown> } | { issues: string[] } {
  const r = parseManifests(text, { file: 'app.yaml' });
  if (r.issues.length > 0) return { issues: r.issues.map((i) => `${i.path}: ${i.message}`) };
  const spec = r.objects[0]!.spec as Record<string, unknown>;
  return { ok: Object.fromEntries(HOST_ADDRESS_FIELDS.filter((k) => spec[k] !== undefined && spec[k] !== null).map((k) => [k, spec[k]])) };
}

describe('one Host parser: the inventory and the manifest validator agree on where a host is', () => {
  it.each([
    // accepted by both, read the same
    ['an address', '{address: 10.0.0.1}'],
    ['an ssh_config alias with user, port, key and jump host', '{address: web1, user: deploy, port: 2222, identityFile: ~/.ssh/id_ed25519, proxyJump: bastion}'],
    ['a local directory', '{local: {dir: ./hosts/h1}}'],
    ['empty (null) optional fields', '{address: a, user: , port: , identityFile: , proxyJump: }'],
    ['the lowest and highest port', '{address: a, port: 1}'],
    ['the highest port', '{address: a, port: 65535}'],
    // rejected by both, at the same path with the same message
    ['no spec', ''],
    ['a spec that is a list', '[a]'],
    ['neither address nor local', '{user: deploy}'],
    ['port 0', '{address: a, port: 0}'],
    ['port 65536', '{address: a, port: 65536}'],
    ['a port in quotes', '{address: a, port: "22"}'],
    ['a fractional port', '{address: a, port: 22.5}'],
    ['an address that is a number', '{address: 10}'],
    ['a user that is a list', '{address: a, user: [x]}'],
    ['an identityFile that is a mapping', '{address: a, identityFile: {k: v}}'],
    ['a proxyJump that is true', '{address: a, proxyJump: true}'],
    ['local as a string', '{local: ./h1}'],
    ['local without dir', '{local: {}}'],
    ['a dir that is a number', '{local: {dir: 5}}'],
    ['several problems at once', '{port: 0, user: 7}'],
  ])('%s', (_what, spec) => {
    const text = hostDoc(spec);
    // (the manifest lists issues in source order, the inventory in the parser's: compare as sets)
    const sorted = (r: ReturnType<typeof inventory>): ReturnType<typeof inventory> => ('issues' in r ? { issues: [...r.issues].sort() } : r);
    expect(sorted(inventory(text))).toEqual(sorted(manifest(text)));
  });

  it('a rejected document names file, line, field and what to do, through both callers', () => {
    const text = hostDoc('{user: deploy, port: 70000}');
    expect(() => parseInventory(text, 'hosts.yaml')).toThrow(
      /^hosts\.yaml: 2 problems:\n {2}document 1 \(line 1\): spec: needs address: \(an ssh address or ssh_config alias\) or local: \{dir\} \(a directory on this machine\)\n {2}document 1 \(line 1\): spec\.port: must be between 1 and 65535, not 70000$/,
    );
    const issues = parseManifests(text, { file: 'app.yaml' }).issues.map(formatManifestIssue);
    expect(issues).toEqual([
      expect.stringMatching(/^app\.yaml:4:\d+: spec: needs address: \(an ssh address or ssh_config alias\) or local: \{dir\} \(a directory on this machine\)$/),
      expect.stringMatching(/^app\.yaml:4:\d+: spec\.port: must be between 1 and 65535, not 70000$/),
    ]);
  });

  it.each([
    ['both address and local (the inventory connects to local)', '{address: a, local: {dir: ./d}}', 'spec: set either address or local, not both'],
    ['a key of local other than dir', '{local: {dir: ./d, mode: x}}', 'spec.local.mode: unknown field (expected one of: dir)'],
    ['an empty dir', '{local: {dir: ""}}', 'spec.local.dir: must not be empty'],
    ['a spec field the cluster does not know', '{address: a, zone: b}', 'spec.zone: unknown field'],
    ["a cluster field's value (the inventory leaves capacity to the cluster)", '{address: a, capacity: {cpu: lots}}', 'spec.capacity.cpu: "lots" is not a quantity'],
  ])('only the manifest refuses %s', (_what, spec, message) => {
    const text = hostDoc(spec);
    expect(inventory(text)).toHaveProperty('ok');
    const man = manifest(text);
    expect(man).toHaveProperty('issues');
    expect((man as { issues: string[] }).issues).toEqual([expect.stringContaining(message)]);
  });

  it("the manifest model (and so the JSON Schema) declares every field of deploy's HostAddress", () => {
    expect(fieldsAt(HOST_SPEC)).toEqual(expect.arrayContaining([...HOST_ADDRESS_FIELDS]));
    expect(fieldsAt(HOST_SPEC, 'local')).toEqual(['dir']);
  });
});
