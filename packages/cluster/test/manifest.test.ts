import { describe, expect, it } from 'vitest';
import type { ManifestError} from '../src/index.js';
import { formatManifestIssue, isManifestError, loadManifests, parseManifests } from '../src/index.js';

const valid = `apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: h01, labels: {zone: a, role: web}}
spec:
  address: 127.0.0.11
  user: deploy
  capacity: {cpu: 2, memory: 4Gi}
  taints: [{key: dedicated, value: db, effect: NoSchedule}]
  unschedulable: false
---
apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web-prod, labels: {app: web}}
spec:
  replicas: 5
  selector: {matchLabels: {env: prod, app: web}}
  placement: binpack
  updateStrategy: {maxUnavailable: 1, maxSurge: 1}
  template:
    metadata: {labels: {env: prod, app: web}}
    spec:
      artifact: ./dist/web.tar.gz
      command: ["node", "server.js"]
      env: {GREETING: hello}
      ports: [{name: http}]
      resources: {cpu: 250m, memory: 128Mi}
      healthCheck: {http: {path: /healthz, port: http}, periodSeconds: 2}
      restartPolicy: Always
      terminationGracePeriodSeconds: 10
      nodeSelector: {zone: a}
---
apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  port: http
  render: {hosts: "role=lb", path: upstreams/web.txt}
---
`;

/** A valid ReplicaSet with one line replaced, for the error table. */
function rs(patch: Record<string, string>): string {
  const lines: Record<string, string> = {
    replicas: '  replicas: 3',
    selector: '  selector: "app=web"',
    placement: '',
    strategy: '',
    labels: '    metadata: {labels: {app: web}}',
    command: '      command: [node, server.js]',
    artifact: '',
    env: '',
    ports: '      ports: [{name: http}]',
    resources: '      resources: {cpu: 250m, memory: 128Mi}',
    health: '',
    restart: '',
    grace: '',
    nodeSelector: '',
    extra: '',
    ...patch,
  };
  return [
    'apiVersion: flotilla.dev/v1',
    'kind: ReplicaSet',
    'metadata: {name: web}',
    'spec:',
    lines.replicas,
    lines.selector,
    lines.placement,
    lines.strategy,
    '  template:',
    lines.labels,
    '    spec:',
    lines.command,
    lines.artifact,
    lines.env,
    lines.ports,
    lines.resources,
    lines.health,
    lines.restart,
    lines.grace,
    lines.nodeSelector,
    lines.extra,
  ]
    .filter((l) => l !== '')
    .join('\n');
}

describe('parseManifests', () => {
  it('parses the DESIGN.md example: three documents, empty trailing document skipped', () => {
    const r = parseManifests(valid, { file: 'app.yaml' });
    expect(r.issues).toEqual([]);
    expect(r.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Host/h01', 'ReplicaSet/web-prod', 'Service/web']);
    const set = r.objects[1]!;
    expect(set.kind === 'ReplicaSet' && set.spec.template.spec.resources).toEqual({ cpu: '250m', memory: '128Mi' });
  });

  it('accepts a selector string, matchExpressions, local hosts, exec checks and URL artifacts', () => {
    const text = `apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: local-1}
spec: {local: {dir: ./hosts/h1}, capacity: {cpu: "1500m", memory: 2G}}
---
apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: api}
spec:
  replicas: 0
  selector: {matchExpressions: [{key: app, operator: In, values: [api]}, {key: canary, operator: DoesNotExist}]}
  placement: lowest-load
  updateStrategy: {maxUnavailable: "25%", maxSurge: 0}
  template:
    metadata: {labels: {app: api}}
    spec:
      artifact: {url: "https://example.com/api.tgz", sha256: "${'a'.repeat(64)}"}
      command: [./api]
      healthCheck: {exec: [./check]}
      nodeSelector: {matchExpressions: [{key: cores, operator: Gt, values: ["2"]}]}
      antiAffinity: {labelSelector: {app: api}, topologyKey: kubernetes.io/hostname}
      spread: [{topologyKey: zone, maxSkew: 1}]
      tolerations: [{key: dedicated, operator: Exists}]
`;
    const r = parseManifests(text);
    expect(r.issues).toEqual([]);
    expect(r.objects).toHaveLength(2);
  });

  // Each row: the change, the path reported, a fragment of the message, the line.
  const table: [string, Record<string, string>, string, string, number][] = [
    ['cpu not a quantity', { resources: '      resources: {cpu: lots, memory: 128Mi}' }, 'spec.template.spec.resources.cpu', '"lots" is not a quantity', 12],
    ['cpu too large', { resources: '      resources: {cpu: "9999999999999", memory: 128Mi}' }, 'spec.template.spec.resources.cpu', 'is too large (at most 2^53 millicores)', 12],
    ['negative memory', { resources: '      resources: {cpu: 1, memory: -1Mi}' }, 'spec.template.spec.resources.memory', 'must not be negative', 12],
    ['replicas negative', { replicas: '  replicas: -1' }, 'spec.replicas', 'must be at least 0', 5],
    ['replicas string', { replicas: '  replicas: five' }, 'spec.replicas', 'must be an integer', 5],
    ['bad selector string', { selector: '  selector: "app in (a,b"' }, 'spec.selector', 'invalid selector', 6],
    ['selector misses template', { selector: '  selector: "app=api"' }, 'spec.template.metadata.labels', 'do not match spec.selector', 8],
    ['bad label value', { labels: '    metadata: {labels: {app: "web!"}}', selector: '  selector: "app"' }, 'spec.template.metadata.labels.app', 'invalid label value', 8],
    ['placement', { placement: '  placement: random' }, 'spec.placement', '"random" is not one of: binpack, spread, lowest-load', 7],
    ['both zero', { strategy: '  updateStrategy: {maxUnavailable: 0, maxSurge: 0}' }, 'spec.updateStrategy', 'may not both be 0', 7],
    ['bad percent', { strategy: '  updateStrategy: {maxSurge: "x%"}' }, 'spec.updateStrategy.maxSurge', 'percentage', 7],
    ['empty command', { command: '      command: []' }, 'spec.template.spec.command', 'must not be empty', 10],
    ['missing command', { command: '' }, 'spec.template.spec.command', 'is required', 9],
    ['command item', { command: '      command: [node, 3]' }, 'spec.template.spec.command[1]', 'must be a string', 10],
    ['reserved env', { env: '      env: {PORT: "1"}' }, 'spec.template.spec.env.PORT', 'is set by flotilla', 11],
    ['env number', { env: '      env: {N: 1}' }, 'spec.template.spec.env.N', 'must be a string', 11],
    ['port name', { ports: '      ports: [{name: HTTP}]' }, 'spec.template.spec.ports[0].name', 'not a valid port name', 11],
    ['duplicate port', { ports: '      ports: [{name: http}, {name: http}]' }, 'spec.template.spec.ports[1].name', 'duplicate port name', 11],
    ['health port unknown', { health: '      healthCheck: {http: {path: /h, port: admin}}' }, 'spec.template.spec.healthCheck.http.port', 'not one of the template', 13],
    ['health path', { health: '      healthCheck: {http: {path: h, port: http}}' }, 'spec.template.spec.healthCheck.http.path', 'must start with /', 13],
    ['health both', { health: '      healthCheck: {http: {path: /h, port: http}, exec: [x]}' }, 'spec.template.spec.healthCheck', 'not both', 13],
    ['restart policy', { restart: '      restartPolicy: Sometimes' }, 'spec.template.spec.restartPolicy', 'not one of', 13],
    ['grace', { grace: '      terminationGracePeriodSeconds: -5' }, 'spec.template.spec.terminationGracePeriodSeconds', 'at least 0', 13],
    ['artifact sha', { artifact: '      artifact: {url: "http://x/a", sha256: abc}' }, 'spec.template.spec.artifact.sha256', '64 lowercase hex', 11],
    ['artifact url', { artifact: `      artifact: {url: "ftp://x/a", sha256: "${'0'.repeat(64)}"}` }, 'spec.template.spec.artifact.url', 'http(s) URL', 11],
    ['node selector Gt', { nodeSelector: '      nodeSelector: {matchExpressions: [{key: cores, operator: Gt, values: [a]}]}' }, 'spec.template.spec.nodeSelector.matchExpressions[0].values', 'single integer', 13],
    ['unknown field', { extra: '      replicas: 3' }, 'spec.template.spec.replicas', 'unknown field', 13],
  ];

  it.each(table)('%s', (_name, patch, path, fragment, line) => {
    const r = parseManifests(rs(patch), { file: 'rs.yaml' });
    expect(r.objects).toEqual([]);
    const issue = r.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(r.issues)).toBeDefined();
    expect(issue!.message).toContain(fragment);
    expect(issue!.file).toBe('rs.yaml');
    expect(issue!.line).toBe(line);
  });

  it('reports every problem at once, with lines, in one ManifestError', () => {
    const text = `apiVersion: flotilla.dev/v2
kind: ReplicaSet
metadata: {name: Web_Prod}
spec:
  replicas: -2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      command: [node]
      resources: {cpu: lots, memory: 1Gb}
---
kind: Gadget
metadata: {name: g}
`;
    let error: unknown;
    try {
      loadManifests([{ file: 'bad.yaml', text }]);
    } catch (e) {
      error = e;
    }
    expect(isManifestError(error)).toBe(true);
    const issues = (error as ManifestError).issues;
    expect(issues.map((i) => `${i.line} ${i.path}`)).toEqual([
      '1 apiVersion',
      '3 metadata.name',
      '5 spec.replicas',
      '11 spec.template.spec.resources.cpu',
      '11 spec.template.spec.resources.memory',
      '13 apiVersion',
      '13 kind',
    ]);
    expect(formatManifestIssue(issues[3]!)).toMatch(/^bad\.yaml:11:\d+: spec\.template\.spec\.resources\.cpu: "lots" is not a quantity/);
    expect((error as Error).message).toContain('7 problems');
  });

  it('reports YAML syntax errors with their line', () => {
    const r = parseManifests('apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: [\n', { file: 'x.yaml' });
    expect(r.objects).toEqual([]);
    expect(r.issues[0]!.message).toMatch(/^YAML: /);
    expect(r.issues[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it('rejects duplicate keys, a host with neither address nor local, and duplicate names', () => {
    const dupKey = parseManifests('apiVersion: flotilla.dev/v1\nkind: Host\nkind: Host\n');
    expect(dupKey.issues[0]!.message).toMatch(/YAML/);
    const noAddress = parseManifests('apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: h}\nspec: {user: x}\n');
    expect(noAddress.issues).toMatchObject([{ path: 'spec', message: expect.stringContaining('needs address'), line: 4 }]);
    const host = 'apiVersion: flotilla.dev/v1\nkind: Host\nmetadata: {name: h}\nspec: {address: a}\n';
    expect(parseManifests(`${host}---\n${host}`).issues[0]!.message).toContain('Host/h is declared 2 times');
    expect(() => loadManifests([{ text: host }, { text: host }])).toThrow(/declared more than once/);
  });

  it('validates host fields: port range, taint effect and key, capacity', () => {
    const r = parseManifests(`apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: h}
spec:
  address: 10.0.0.1
  port: 70000
  taints: [{key: "bad key", effect: Sometimes}]
  capacity: {cpu: many}
  unschedulable: "no"
`);
    expect(r.issues.map((i) => `${i.line} ${i.path}`)).toEqual([
      '6 spec.port',
      '7 spec.taints[0].key',
      '7 spec.taints[0].effect',
      '8 spec.capacity.cpu',
      '9 spec.unschedulable',
    ]);
  });

  it('validates services: selector map, port, render selector', () => {
    const r = parseManifests(`apiVersion: flotilla.dev/v1
kind: Service
metadata: {name: s}
spec:
  selector: {app: "a b"}
  port: 0
  render: {hosts: "role in (", path: ../x}
`);
    expect(r.issues.map((i) => i.path)).toEqual(['spec.selector.app', 'spec.port', 'spec.render.hosts', 'spec.render.path']);
  });
});

describe('YAML anchors and aliases (issue 12 §6: they used to escape as a bare ReferenceError)', () => {
  const host = (name: string, labels: string): string => `apiVersion: flotilla.dev/v1
kind: Host
metadata:
  name: ${name}
  labels: ${labels}
spec: {address: 127.0.0.1}
`;
  // "billion laughs": nine levels of nine aliases, 9^9 strings if expanded
  const laughs = (): string => {
    const lines = ['apiVersion: flotilla.dev/v1', 'kind: Host', 'metadata: {name: lol}', 'spec:', '  address: 127.0.0.1', '  bomb:', '    l0: &l0 "lol"'];
    for (let i = 1; i <= 9; i++) lines.push(`    l${i}: &l${i} [${Array.from({ length: 9 }, () => `*l${i - 1}`).join(', ')}]`);
    return `${lines.join('\n')}\n`;
  };

  it('an alias bomb is one issue with file, line and path, naming the alias that explodes; no ReferenceError', () => {
    const text = laughs();
    const r = parseManifests(text, { file: 'bomb.yaml' });
    expect(r.objects).toEqual([]);
    expect(r.issues).toHaveLength(1);
    const issue = r.issues[0]!;
    expect(issue).toMatchObject({ file: 'bomb.yaml', document: 0, message: expect.stringMatching(/^YAML: too many aliases \(.*\): 81 aliases; the largest, \*l\d here, expands to [\d,]+ nodes$/) });
    // the line and column are those of an alias in the document
    const line = text.split('\n')[issue.line! - 1]!;
    expect(line.slice(issue.column! - 1)).toMatch(/^\*l\d/);
    expect(issue.path).toMatch(/^spec\.bomb\.l\d\[\d\]$/);
    expect(formatManifestIssue(issue)).toMatch(/^bomb\.yaml:\d+:\d+: spec\.bomb\.l\d\[\d\]: YAML: too many aliases/);
    // the same through loadManifests: a ManifestError, never the library's ReferenceError
    let error: unknown;
    try {
      loadManifests([{ file: 'bomb.yaml', text }]);
    } catch (e) {
      error = e;
    }
    expect(isManifestError(error)).toBe(true);
    expect(error).not.toBeInstanceOf(ReferenceError);
  });

  it('an unresolved alias, and an alias before its anchor, are issues at the alias', () => {
    const r = parseManifests(host('h1', '{zone: *nowhere}'), { file: 'a.yaml' });
    expect(r.objects).toEqual([]);
    expect(r.issues).toEqual([
      {
        file: 'a.yaml',
        document: 0,
        line: 5,
        column: 18,
        path: 'metadata.labels.zone',
        message: 'YAML: alias *nowhere has no anchor &nowhere before it (define the anchor first, in the same document)',
      },
    ]);
    const later = parseManifests(`${host('h1', '{zone: *z}')}extra: &z a\n`, { file: 'b.yaml' });
    expect(later.issues[0]).toMatchObject({ line: 5, path: 'metadata.labels.zone', message: expect.stringContaining('alias *z has no anchor &z before it') });
    // anchors do not cross documents
    const across = parseManifests(`${host('h1', '{zone: &z a}')}---\n${host('h2', '{zone: *z}')}`, { file: 'c.yaml' });
    expect(across.issues).toMatchObject([{ document: 1, line: 12, path: 'metadata.labels.zone', message: expect.stringContaining('*z has no anchor') }]);
  });

  it('an alias inside the node it names (a cycle) is an issue, not a circular object', () => {
    const r = parseManifests(host('h1', '&loop {zone: a, more: *loop}'), { file: 'd.yaml' });
    expect(r.issues).toMatchObject([{ file: 'd.yaml', line: 5, path: 'metadata.labels.more', message: 'YAML: alias *loop is inside the node &loop names (a cycle)' }]);
  });

  it('other documents of the stream are still checked, and ordinary anchors keep working', () => {
    const shared = `apiVersion: flotilla.dev/v1
kind: ReplicaSet
metadata: {name: web, labels: &labels {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: *labels}
  template:
    metadata: {labels: *labels}
    spec:
      command: [node, server.js]
      resources: &small {cpu: 100m, memory: 64Mi}
      env: {A: &value x, B: *value}
`;
    const ok = parseManifests(shared);
    expect(ok.issues).toEqual([]);
    const rs = ok.objects[0] as { spec: { selector: unknown; template: { metadata: { labels: unknown }; spec: { env: unknown } } } };
    expect(rs.spec.selector).toEqual({ matchLabels: { app: 'web' } });
    expect(rs.spec.template.metadata.labels).toEqual({ app: 'web' });
    expect(rs.spec.template.spec.env).toEqual({ A: 'x', B: 'x' });
    const within = parseManifests(`apiVersion: flotilla.dev/v1
kind: Host
metadata: {name: h1, labels: &l {zone: a}}
spec: {address: 127.0.0.11, capacity: &c {cpu: 2, memory: 4Gi}}
`);
    expect(within.issues).toEqual([]);
    const mixed = parseManifests(`${laughs()}---\n${host('h2', '{zone: a}')}---\n${host('bad_name', '{zone: a}')}`, { file: 'm.yaml' });
    expect(mixed.issues.map((i) => i.document)).toEqual([0, 2]);
    expect(mixed.issues[0]!.message).toMatch(/^YAML: too many aliases/);
    expect(mixed.issues[1]!.path).toBe('metadata.name');
  });
});
