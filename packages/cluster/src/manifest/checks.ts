/**
 * The pieces manifest validation is made of: a path into a document, the issue list every
 * check adds to (all problems at once, each with its path: apimachinery's field.ErrorList),
 * and the checks of plain values, label maps and selectors that every kind's validator uses.
 */
import { parseSelector, selectorFromLabelSelector, validateLabelKey, validateLabelValue } from '@flotilla/labels';
import { DEFINITIONS, ENUMS, fieldsAt } from './model.js';

/** A path into a document: keys and array indices. */
export type Path = readonly (string | number)[];

/** A problem at a path (before positions are known). */
export interface PathIssue {
  path: Path;
  message: string;
}

/** Formats a path as `spec.template.spec.ports[0].name`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

export type Obj = Record<string, unknown>;

export class Issues {
  readonly list: PathIssue[] = [];
  add(path: Path, message: string): void {
    this.list.push({ path, message });
  }
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (isObj(v)) return 'a mapping';
  return typeof v === "number" || typeof v === "boolean" || typeof v === "bigint" ? String(v) : v === null ? "null" : typeof v;
}

export function unknownFields(out: Issues, path: Path, value: Obj, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) out.add([...path, key], `unknown field (expected one of: ${allowed.join(', ')})`);
  }
}

export function expectObj(out: Issues, path: Path, v: unknown, required = false): Obj | undefined {
  if (v === undefined || v === null) {
    if (required) out.add(path, 'is required');
    return undefined;
  }
  if (!isObj(v)) {
    out.add(path, `must be a mapping, not ${show(v)}`);
    return undefined;
  }
  return v;
}

export function expectString(out: Issues, path: Path, v: unknown, required = false): string | undefined {
  if (v === undefined || v === null) {
    if (required) out.add(path, 'is required');
    return undefined;
  }
  if (typeof v !== 'string') {
    out.add(path, `must be a string, not ${show(v)}`);
    return undefined;
  }
  if (required && v === '') out.add(path, 'must not be empty');
  return v;
}

export function expectInt(out: Issues, path: Path, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER, required = false): number | undefined {
  if (v === undefined || v === null) {
    if (required) out.add(path, 'is required');
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    out.add(path, `must be an integer, not ${show(v)}`);
    return undefined;
  }
  if (v < min || v > max) {
    out.add(path, max === Number.MAX_SAFE_INTEGER ? `must be at least ${min}, not ${v}` : `must be between ${min} and ${max}, not ${v}`);
    return undefined;
  }
  return v;
}

export function expectBool(out: Issues, path: Path, v: unknown): void {
  if (v !== undefined && v !== null && typeof v !== 'boolean') out.add(path, `must be true or false, not ${show(v)}`);
}

export function expectEnum(out: Issues, path: Path, v: unknown, values: readonly string[]): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'string' || !values.includes(v)) out.add(path, `${show(v)} is not one of: ${values.join(', ')}`);
}

export function expectStringList(out: Issues, path: Path, v: unknown, nonEmpty: boolean): string[] | undefined {
  if (v === undefined || v === null) {
    if (nonEmpty) out.add(path, 'is required');
    return undefined;
  }
  if (!Array.isArray(v)) {
    out.add(path, `must be a list of strings, not ${show(v)}`);
    return undefined;
  }
  if (nonEmpty && v.length === 0) out.add(path, 'must not be empty');
  v.forEach((item, i) => {
    if (typeof item !== 'string') out.add([...path, i], `must be a string, not ${show(item)}`);
  });
  return v as string[];
}

/** A port name (a DNS label, as Kubernetes' IANA_SVC_NAME without the length limit). */
export const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function labelMap(out: Issues, path: Path, v: unknown): Record<string, string> | undefined {
  const m = expectObj(out, path, v);
  if (!m) return undefined;
  let ok = true;
  for (const [k, val] of Object.entries(m)) {
    if (typeof val !== 'string') {
      out.add([...path, k], `label values must be strings, not ${show(val)} (quote it)`);
      ok = false;
    }
  }
  if (!ok) return undefined;
  const labels = m as Record<string, string>;
  for (const [k, val] of Object.entries(labels)) {
    for (const msg of validateLabelKey(k)) out.add([...path, k], `invalid label key ${JSON.stringify(k)}: ${msg}`);
    for (const msg of validateLabelValue(val)) out.add([...path, k], `invalid label value ${JSON.stringify(val)}: ${msg}`);
  }
  return labels;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A selector: a string in the selector syntax, or `{matchLabels, matchExpressions}`, or
 * (when `plainMapAllowed`) a plain label map as a Service's `selector: {app: web}`.
 * Returns a predicate over labels when valid.
 */
export function selectorField(
  out: Issues,
  path: Path,
  v: unknown,
  options: { plainMapAllowed: boolean; required: boolean },
): ((labels: Record<string, string>) => boolean) | undefined {
  if (v === undefined || v === null) {
    if (options.required) out.add(path, 'is required');
    return undefined;
  }
  if (typeof v === 'string') {
    try {
      const s = parseSelector(v);
      return (labels) => s.matches(labels);
    } catch (e) {
      out.add(path, `invalid selector ${JSON.stringify(v)}: ${errorText(e)}`);
      return undefined;
    }
  }
  const m = expectObj(out, path, v);
  if (!m) return undefined;
  const isLabelSelector = 'matchLabels' in m || 'matchExpressions' in m;
  if (!isLabelSelector) {
    if (!options.plainMapAllowed) {
      out.add(path, 'must have matchLabels or matchExpressions, or be a selector string');
      return undefined;
    }
    const labels = labelMap(out, path, m);
    if (!labels) return undefined;
    return (l) => Object.entries(labels).every(([k, val]) => l[k] === val);
  }
  unknownFields(out, path, m, fieldsAt(DEFINITIONS.labelSelector));
  const before = out.list.length;
  if (m.matchLabels !== undefined) labelMap(out, [...path, 'matchLabels'], m.matchLabels);
  if (m.matchExpressions !== undefined) {
    if (!Array.isArray(m.matchExpressions)) out.add([...path, 'matchExpressions'], 'must be a list');
    else
      m.matchExpressions.forEach((e: unknown, i) => {
        const p = [...path, 'matchExpressions', i];
        const ex = expectObj(out, p, e, true);
        if (!ex) return;
        unknownFields(out, p, ex, fieldsAt(DEFINITIONS.labelSelector, 'matchExpressions'));
        expectString(out, [...p, 'key'], ex.key, true);
        expectEnum(out, [...p, 'operator'], ex.operator, ENUMS.selectorOperator);
        if (ex.operator === undefined) out.add([...p, 'operator'], 'is required');
        expectStringList(out, [...p, 'values'], ex.values, false);
      });
  }
  if (out.list.length > before) return undefined;
  try {
    const s = selectorFromLabelSelector(m);
    return (labels) => s.matches(labels);
  } catch (e) {
    out.add(path, errorText(e));
    return undefined;
  }
}
