/**
 * The JSON Schema of manifests, generated from the model the validator uses
 * (`model.ts`). Published as `@flotilla/cluster/schema.json`; with
 * `# yaml-language-server: $schema=./node_modules/@flotilla/cluster/schema.json` at the top
 * of `app.yaml`, editors complete and check Host, ReplicaSet, Service and Network documents.
 *
 * The schema checks shapes (fields, types, enumerations, ranges, patterns, which fields go
 * together); the validator (`flo apply --dry-run`, `parseManifests`) checks those and also
 * what a schema cannot say: quantities parsed exactly, selector syntax, label keys, a
 * template's labels matching its selector, a health check naming a declared port, limits at
 * least their requests.
 */
import { DEFINITIONS, DOCUMENT, ENUMS, HOST_SPEC, NETWORK_SPEC, REPLICASET_SPEC, SERVICE_SPEC, TEMPLATE_SPEC, type ObjectRule, type Shape } from './model.js';

/** A JSON Schema (draft-07) as plain data. */
export type JsonSchema = Record<string, unknown>;

/** The schema's `$id`, also where the repository keeps the file. */
export const MANIFEST_SCHEMA_ID = 'https://github.com/flotilla-dev/flotilla/raw/main/packages/cluster/schema.json';

/** Kubernetes' quantity grammar (a sign, a decimal, then a suffix or an exponent). */
export const QUANTITY_PATTERN = '^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+)?$';

const SPEC_DEFINITIONS: Record<string, Shape> = { hostSpec: HOST_SPEC, replicaSetSpec: REPLICASET_SPEC, serviceSpec: SERVICE_SPEC, networkSpec: NETWORK_SPEC, templateSpec: TEMPLATE_SPEC };

function rule(r: ObjectRule): JsonSchema {
  switch (r.rule) {
    case 'required':
      return { required: [...r.fields] };
    case 'exactlyOne':
      return { oneOf: r.fields.map((f) => ({ required: [f] })) };
    case 'atMostOne':
      return { not: { required: [...r.fields] } };
    case 'requiredUnless':
      return { anyOf: [{ required: [r.absent] }, { required: [r.field] }] };
  }
}

function toSchema(shape: Shape, inline: ReadonlyMap<Shape, string>): JsonSchema {
  const named = inline.get(shape);
  if (named !== undefined) return { $ref: `#/definitions/${named}`, ...(shape.description ? { description: shape.description } : {}) };
  const d = shape.description !== undefined ? { description: shape.description } : {};
  switch (shape.type) {
    case 'string': {
      const { type: _t, description: _d, ...rest } = shape;
      return { type: 'string', ...d, ...rest, ...(rest.enum ? { enum: [...rest.enum] } : {}) };
    }
    case 'integer': {
      const { type: _t, description: _d, ...rest } = shape;
      return { type: 'integer', ...d, ...rest };
    }
    case 'boolean':
      return { type: 'boolean', ...d };
    case 'quantity':
      return { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: QUANTITY_PATTERN }], ...d };
    case 'list':
      return { type: 'array', ...d, items: toSchema(shape.items, inline), ...(shape.minItems !== undefined ? { minItems: shape.minItems } : {}) };
    case 'map':
      return {
        type: 'object',
        ...d,
        additionalProperties: toSchema(shape.values, inline),
        ...(shape.keyPattern !== undefined ? { propertyNames: { pattern: shape.keyPattern } } : {}),
      };
    case 'object': {
      const rules = (shape.rules ?? []).map(rule);
      const required = rules.flatMap((r) => (Array.isArray(r.required) && Object.keys(r).length === 1 ? (r.required as string[]) : []));
      const others = rules.filter((r) => !(Array.isArray(r.required) && Object.keys(r).length === 1));
      return {
        type: 'object',
        ...d,
        properties: Object.fromEntries(Object.entries(shape.fields).map(([name, field]) => [name, toSchema(field, inline)])),
        additionalProperties: false,
        ...(required.length > 0 ? { required } : {}),
        ...(others.length === 1 ? others[0] : others.length > 1 ? { allOf: others } : {}),
      };
    }
    case 'anyOf':
      return { anyOf: shape.of.map((s) => toSchema(s, inline)), ...d };
    case 'any':
      return { ...d };
    case 'ref':
      return { $ref: `#/definitions/${shape.name}`, ...d };
  }
}

/**
 * The JSON Schema (draft-07) of one manifest document — what `@flotilla/cluster/schema.json`
 * holds. Generated from the validator's model, so a field the validator accepts is in it.
 */
export function manifestJsonSchema(): JsonSchema {
  const inline = new Map<Shape, string>(Object.entries(SPEC_DEFINITIONS).map(([name, shape]) => [shape, name]));
  const definitions: Record<string, JsonSchema> = {};
  for (const [name, shape] of Object.entries(DEFINITIONS)) definitions[name] = toSchema(shape, inline);
  for (const [name, shape] of Object.entries(SPEC_DEFINITIONS)) definitions[name] = toSchema(shape, new Map([...inline].filter(([s]) => s !== shape)));
  const document = toSchema(DOCUMENT, inline);
  const specOf: Record<(typeof ENUMS.kind)[number], string> = { Host: 'hostSpec', ReplicaSet: 'replicaSetSpec', Service: 'serviceSpec', Network: 'networkSpec' };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: MANIFEST_SCHEMA_ID,
    title: 'Flotilla manifest (Host, ReplicaSet, Service, Network)',
    description:
      'One document of a Flotilla manifest file (apiVersion flotilla.dev/v1). Generated from @flotilla/cluster\'s validator model; `flo apply --dry-run` checks everything this schema does and more (quantities, selectors, label keys, cross-field rules).',
    ...document,
    allOf: ENUMS.kind.map((kind) => ({
      if: { properties: { kind: { const: kind } }, required: ['kind'] },
      then: { properties: { spec: { $ref: `#/definitions/${specOf[kind]}` } } },
    })),
    definitions,
  };
}

/** The schema as the published file's text (two-space JSON and a final newline). */
export function manifestSchemaText(): string {
  return `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`;
}
