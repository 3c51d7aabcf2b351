// The JSON Schema of manifests (issue 17): the published file is the one generated from the
// validator's model; every example manifest in the repository passes both the schema (ajv,
// a maintained validator, as editors use) and the validator; and documents broken on
// purpose fail in the same places under both.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { formatPath, manifestJsonSchema, manifestSchemaText, validateManifest } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(here, '..');
const repo = join(pkgDir, '..', '..');

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const check = ajv.compile(manifestJsonSchema());

type Doc = Record<string, unknown>;
type Path = (string | number)[];

/**
 * Where ajv reports each error, in the validator's path format (`spec.ports[0].name`). An
 * error inside one alternative of an anyOf/oneOf counts at the alternatives' place (ajv
 * reports each branch's failure and then the anyOf itself).
 */
function schemaPaths(errors: readonly ErrorObject[] | null | undefined): string[] {
  const all = errors ?? [];
  const alternatives = all.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => `${e.schemaPath}/`);
  // (an `if` error only says that its `then` failed, which is reported too)
  return all.filter((e) => e.keyword !== 'if' && !alternatives.some((a) => e.schemaPath.startsWith(a))).map((e) => {
    const path: Path = e.instancePath
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const params = e.params as { additionalProperty?: string; missingProperty?: string };
    if (e.keyword === 'additionalProperties' && params.additionalProperty !== undefined) path.push(params.additionalProperty);
    if (e.keyword === 'required' && params.missingProperty !== undefined) path.push(params.missingProperty);
    return formatPath(path);
  });
}

const validatorPaths = (doc: unknown): string[] => validateManifest(doc).map((i) => formatPath(i.path));

/** Every manifest document in the repository: ```yaml blocks of its Markdown, and its .yaml files. */
function exampleDocuments(): { where: string; doc: Doc }[] {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md', '*.yaml', '*.yml'], { cwd: repo, encoding: 'utf8' }).split('\n').filter(Boolean);
  const out: { where: string; doc: Doc }[] = [];
  for (const file of files) {
    const text = readFileSync(join(repo, file), 'utf8');
    const blocks = file.endsWith('.md') ? [...text.matchAll(/^```ya?ml\n([\s\S]*?)^```/gm)].map((m) => m[1]!) : [text];
    blocks.forEach((block, b) => {
      if (!block.includes('apiVersion: flotilla.dev/v1')) return;
      parseAllDocuments(block).forEach((d, i) => {
        const doc = d.toJS() as unknown;
        if (typeof doc === 'object' && doc !== null && 'apiVersion' in doc) out.push({ where: `${file} block ${b + 1} document ${i + 1}`, doc: doc });
      });
    });
  }
  return out;
}

const examples = exampleDocuments();

/** Every path in a document to an object, and to a leaf. */
function walk(value: unknown, path: Path, objects: Path[], leaves: Path[]): void {
  if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i], objects, leaves));
  else if (typeof value === 'object' && value !== null) {
    objects.push(path);
    for (const [k, v] of Object.entries(value)) walk(v, [...path, k], objects, leaves);
  } else leaves.push(path);
}

function edit(doc: Doc, path: Path, change: (parent: Record<string | number, unknown>, key: string | number) => void): Doc {
  const copy = structuredClone(doc);
  let parent = copy as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  change(parent, path.at(-1)!);
  return copy;
}

/** A place the schema reports is the validator's place, or the object or alternative that holds it. */
const samePlace = (schema: string[], validator: string): boolean =>
  schema.some((s) => s === validator || validator.startsWith(`${s}.`) || validator.startsWith(`${s}[`));

describe('manifest JSON Schema', () => {
  it('the published schema.json is the one generated from the model (else: npm run schema -w @flotilla/cluster)', () => {
    expect(readFileSync(join(pkgDir, 'schema.json'), 'utf8')).toBe(manifestSchemaText());
  });

  it('is a valid draft-07 schema that ajv compiles in strict mode, with the fields the validator knows', () => {
    const schema = manifestJsonSchema() as { definitions: Record<string, { properties?: Record<string, unknown> }> };
    expect(Object.keys(schema.definitions.templateSpec!.properties!)).toEqual(expect.arrayContaining(['artifact', 'image', 'command', 'args', 'limits', 'readOnlyRootFilesystem']));
    expect(Object.keys(schema.definitions.hostSpec!.properties!)).toContain('containerRuntime');
  });

  it('finds the example manifests of the repository', () => {
    expect(examples.length).toBeGreaterThanOrEqual(6);
    expect(new Set(examples.map((e) => e.doc.kind))).toEqual(new Set(['Host', 'ReplicaSet', 'Service', 'Network']));
  });

  it.each(examples.map((e) => [e.where, e.doc] as const))('%s passes the schema and the validator', (_where, doc) => {
    expect(validatorPaths(doc)).toEqual([]);
    check(doc);
    expect(schemaPaths(check.errors)).toEqual([]);
  });

  it('an unknown field anywhere fails both, at that field', () => {
    let n = 0;
    for (const { doc } of examples) {
      const objects: Path[] = [];
      walk(doc, [], objects, []);
      for (const path of objects) {
        // maps of user keys (labels, env, capacity…) take any key; status is free-form
        const mutant = edit(doc, [...path, 'zzUnknown'], (parent, key) => (parent[key] = '1'));
        const where = formatPath([...path, 'zzUnknown']);
        const unknown = validateManifest(mutant).some((i) => formatPath(i.path) === where && i.message.startsWith('unknown field'));
        check(mutant);
        const s = schemaPaths(check.errors);
        // (inside alternatives — a selector that may be a map or {matchLabels…} — the schema says it at the alternatives' place)
        expect(unknown ? samePlace(s, where) : s.length === 0, `${where}: validator says unknown: ${unknown}, schema ${JSON.stringify(s)}`).toBe(true);
        if (unknown) n++;
      }
    }
    expect(n).toBeGreaterThan(20);
  });

  it('a value of the wrong type anywhere fails both, in the same place', () => {
    let n = 0;
    for (const { doc } of examples) {
      const leaves: Path[] = [];
      walk(doc, [], [], leaves);
      for (const path of leaves) {
        const mutant = edit(doc, path, (parent, key) => (parent[key] = [[1]]));
        const where = formatPath(path);
        const v = validatorPaths(mutant);
        check(mutant);
        const s = schemaPaths(check.errors);
        expect(v.length > 0, `${where}: validator ${JSON.stringify(v)}`).toBe(true);
        expect(s.length > 0, `${where}: schema accepted what the validator refused at ${JSON.stringify(v)}`).toBe(true);
        // the validator says it at the value (or the alternatives holding it); consequences elsewhere
        // (a health check naming a port whose name broke) are the validator's alone
        expect(v.some((p) => samePlace([p], where) || samePlace([where], p)), `${where}: validator at ${JSON.stringify(v)}`).toBe(true);
        expect(samePlace(s, where), `${where}: validator at ${JSON.stringify(v)}, schema at ${JSON.stringify(s)}`).toBe(true);
        n++;
      }
    }
    expect(n).toBeGreaterThan(50);
  });

  it('a field left out fails the schema only where the validator fails (required fields, and one of address/local)', () => {
    let required = 0;
    for (const { doc } of examples) {
      const objects: Path[] = [];
      walk(doc, [], objects, []);
      for (const path of objects) {
        const parent = path.reduce<unknown>((o, p) => (o as Record<string | number, unknown>)[p], doc);
        if (Array.isArray(parent) || typeof parent !== 'object' || parent === null) continue;
        for (const key of Object.keys(parent)) {
          const mutant = edit(doc, [...path, key], (o, k) => delete o[k]);
          const where = formatPath([...path, key]);
          check(mutant);
          const s = schemaPaths(check.errors);
          const v = validatorPaths(mutant);
          // the schema may accept what only the validator's cross-field rules refuse
          // (labels that no longer match the selector, a health check's port no longer declared)
          for (const p of s) expect(v.some((q) => samePlace([p], q) || samePlace([q], p)), `${where}: schema at ${p}, validator ${JSON.stringify(v)}`).toBe(true);
          const missing = validateManifest(mutant).filter((i) => /^is required|^needs /.test(i.message));
          for (const i of missing) {
            required++;
            expect(samePlace(s, formatPath(i.path)), `${where}: validator "${i.message}" at ${formatPath(i.path)}, schema ${JSON.stringify(s)}`).toBe(true);
          }
        }
      }
    }
    expect(required).toBeGreaterThan(10);
  });
});
