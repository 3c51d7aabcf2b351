/**
 * Manifest validation: every problem at once, each with its path (apimachinery's
 * field.ErrorList idea). Works on plain values; `parse.ts` adds files and line numbers.
 */
import { parseSelector, selectorFromLabelSelector, validateLabelKey, validateLabelValue } from '@flotilla/labels';
import { cpuCores, memoryBytes, quantityProblem } from './quantity.js';
import { DEFINITIONS, DOCUMENT, ENUMS, HOST_SPEC, NETWORK_SPEC, REPLICASET_SPEC, SERVICE_SPEC, TEMPLATE_SPEC, fieldsAt } from './model.js';
import { containsCidr, formatCidr, overlaps, parseCidr, type Cidr } from '../network/cidr.js';

/** A Network's `hostSubnetPrefix` when it gives none. */
export const DEFAULT_HOST_SUBNET_PREFIX = 24;
/** A Network's `domain` when it gives none. */
export const DEFAULT_DOMAIN = 'flotilla.local';
import { API_VERSION } from './types.js';

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

type Obj = Record<string, unknown>;

class Issues {
  readonly list: PathIssue[] = [];
  add(path: Path, message: string): void {
    this.list.push({ path, message });
  }
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (isObj(v)) return 'a mapping';
  return typeof v === "number" || typeof v === "boolean" || typeof v === "bigint" ? String(v) : v === null ? "null" : typeof v;
}

function unknownFields(out: Issues, path: Path, value: Obj, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) out.add([...path, key], `unknown field (expected one of: ${allowed.join(', ')})`);
  }
}

function expectObj(out: Issues, path: Path, v: unknown, required = false): Obj | undefined {
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

function expectString(out: Issues, path: Path, v: unknown, required = false): string | undefined {
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

function expectInt(out: Issues, path: Path, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER, required = false): number | undefined {
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

function expectBool(out: Issues, path: Path, v: unknown): void {
  if (v !== undefined && v !== null && typeof v !== 'boolean') out.add(path, `must be true or false, not ${show(v)}`);
}

function expectEnum(out: Issues, path: Path, v: unknown, values: readonly string[]): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'string' || !values.includes(v)) out.add(path, `${show(v)} is not one of: ${values.join(', ')}`);
}

function expectStringList(out: Issues, path: Path, v: unknown, nonEmpty: boolean): string[] | undefined {
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

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SHA256 = /^[0-9a-f]{64}$/;
const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;
/** The image transports a template may name (as skopeo spells them). */
export const IMAGE_TRANSPORTS = ['oci', 'oci-archive', 'docker-archive'] as const;

/**
 * What is wrong with an image reference's form, or `undefined` (whether it can be read is
 * checked by `apply`, which reads every blob). A bare path is fine; a path whose first part
 * contains `:` is written `./a:b`.
 */
export function imageReferenceProblem(text: string): string | undefined {
  if (text.trim() === '') return 'must not be empty';
  const m = /^([a-z][a-z0-9-]*):(.*)$/s.exec(text);
  if (!m) return undefined;
  const [, transport = '', rest = ''] = m;
  if (!(IMAGE_TRANSPORTS as readonly string[]).includes(transport)) {
    const why = transport === 'docker' || transport === 'docker-daemon' || transport === 'http' || transport === 'https'
      ? `transport ${transport}: is not supported: flotilla reaches no registry (use {url, digest} for an oci-archive on a web server)`
      : `unknown transport ${transport}:`;
    return `${why}; expected oci:DIR[:tag], oci-archive:FILE, docker-archive:FILE[:name:tag] or a path (write ./${text} for a file whose name contains ':')`;
  }
  if (rest === '' || rest.startsWith(':')) return `${transport}: needs a path (e.g. ${transport === 'oci' ? 'oci:./web-layout' : `${transport}:./web.tar`})`;
  return undefined;
}

function labelMap(out: Issues, path: Path, v: unknown): Record<string, string> | undefined {
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

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A selector: a string in the selector syntax, or `{matchLabels, matchExpressions}`, or
 * (when `plainMapAllowed`) a plain label map as a Service's `selector: {app: web}`.
 * Returns a predicate over labels when valid.
 */
function selectorField(
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

/** A node selector (plain map, or LabelSelector whose expressions also take Gt/Lt). */
function nodeSelectorField(out: Issues, path: Path, v: unknown): void {
  const m = expectObj(out, path, v);
  if (!m) return;
  if (!('matchLabels' in m || 'matchExpressions' in m)) {
    labelMap(out, path, m);
    return;
  }
  unknownFields(out, path, m, fieldsAt(DEFINITIONS.nodeSelector));
  if (m.matchLabels !== undefined) labelMap(out, [...path, 'matchLabels'], m.matchLabels);
  if (m.matchExpressions === undefined) return;
  if (!Array.isArray(m.matchExpressions)) {
    out.add([...path, 'matchExpressions'], 'must be a list');
    return;
  }
  m.matchExpressions.forEach((e: unknown, i) => {
    const p = [...path, 'matchExpressions', i];
    const ex = expectObj(out, p, e, true);
    if (!ex) return;
    unknownFields(out, p, ex, fieldsAt(DEFINITIONS.nodeSelector, 'matchExpressions'));
    const key = expectString(out, [...p, 'key'], ex.key, true);
    if (key) for (const msg of validateLabelKey(key)) out.add([...p, 'key'], `invalid label key ${JSON.stringify(key)}: ${msg}`);
    if (ex.operator === undefined) out.add([...p, 'operator'], 'is required');
    expectEnum(out, [...p, 'operator'], ex.operator, ENUMS.nodeSelectorOperator);
    const values = expectStringList(out, [...p, 'values'], ex.values, false) ?? [];
    switch (ex.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) out.add([...p, 'values'], `must be non-empty for ${ex.operator}`);
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) out.add([...p, 'values'], `must be empty for ${ex.operator}`);
        break;
      case 'Gt':
      case 'Lt':
        if (values.length !== 1 || !/^-?\d+$/.test(values[0] ?? ''))
          out.add([...p, 'values'], `must be a single integer for ${ex.operator}`);
        break;
      default:
        break;
    }
  });
}

function quantities(out: Issues, path: Path, v: unknown): void {
  const m = expectObj(out, path, v);
  if (!m) return;
  for (const [name, raw] of Object.entries(m)) {
    const p = [...path, name];
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      out.add(p, `${show(raw)} is not a quantity`);
      continue;
    }
    const problem = quantityProblem(name, raw);
    if (problem !== undefined) out.add(p, problem);
  }
}

function metadata(out: Issues, v: unknown): Obj | undefined {
  const m = expectObj(out, ['metadata'], v, true);
  if (!m) return undefined;
  unknownFields(out, ['metadata'], m, fieldsAt(DEFINITIONS.metadata));
  const name = expectString(out, ['metadata', 'name'], m.name, true);
  if (name !== undefined && name !== '' && (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)))
    out.add(
      ['metadata', 'name'],
      `${JSON.stringify(name)} is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters`,
    );
  if (m.labels !== undefined) labelMap(out, ['metadata', 'labels'], m.labels);
  if (m.annotations !== undefined) {
    const a = expectObj(out, ['metadata', 'annotations'], m.annotations);
    if (a) for (const [k, val] of Object.entries(a)) if (typeof val !== 'string') out.add(['metadata', 'annotations', k], 'must be a string');
  }
  return m;
}

function taints(out: Issues, path: Path, v: unknown): void {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) {
    out.add(path, 'must be a list');
    return;
  }
  v.forEach((t: unknown, i) => {
    const p = [...path, i];
    const m = expectObj(out, p, t, true);
    if (!m) return;
    unknownFields(out, p, m, fieldsAt(HOST_SPEC, 'taints'));
    const key = expectString(out, [...p, 'key'], m.key, true);
    if (key) for (const msg of validateLabelKey(key)) out.add([...p, 'key'], `invalid taint key ${JSON.stringify(key)}: ${msg}`);
    const value = expectString(out, [...p, 'value'], m.value);
    if (value !== undefined) for (const msg of validateLabelValue(value)) out.add([...p, 'value'], `invalid taint value: ${msg}`);
    if (m.effect === undefined) out.add([...p, 'effect'], 'is required');
    expectEnum(out, [...p, 'effect'], m.effect, ENUMS.taintEffect);
  });
}

function validateHostSpec(out: Issues, v: unknown): void {
  const s = expectObj(out, ['spec'], v, true);
  if (!s) return;
  unknownFields(out, ['spec'], s, fieldsAt(HOST_SPEC));
  const hasAddress = s.address !== undefined && s.address !== null;
  const hasLocal = s.local !== undefined && s.local !== null;
  if (hasAddress === hasLocal) out.add(['spec'], hasAddress ? 'set either address or local, not both' : 'needs address (ssh) or local: {dir} (a directory on this machine)');
  expectString(out, ['spec', 'address'], s.address);
  expectString(out, ['spec', 'user'], s.user);
  expectInt(out, ['spec', 'port'], s.port, 1, 65535);
  expectString(out, ['spec', 'identityFile'], s.identityFile);
  expectString(out, ['spec', 'proxyJump'], s.proxyJump);
  if (hasLocal) {
    const l = expectObj(out, ['spec', 'local'], s.local);
    if (l) {
      unknownFields(out, ['spec', 'local'], l, fieldsAt(HOST_SPEC, 'local'));
      expectString(out, ['spec', 'local', 'dir'], l.dir, true);
    }
  }
  if (s.capacity !== undefined) quantities(out, ['spec', 'capacity'], s.capacity);
  taints(out, ['spec', 'taints'], s.taints);
  expectBool(out, ['spec', 'unschedulable'], s.unschedulable);
  expectBool(out, ['spec', 'agent'], s.agent);
  const rt = expectString(out, ['spec', 'containerRuntime'], s.containerRuntime);
  if (rt !== undefined && (rt === '' || /\s/.test(rt))) out.add(['spec', 'containerRuntime'], `${JSON.stringify(rt)} is not a program: name one on the host's PATH (runc, crun) or give its path`);
}

function intOrPercent(out: Issues, path: Path, v: unknown): number | string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d+%$/.test(v)) return v;
  out.add(path, `${show(v)} must be a non-negative integer or a percentage like "25%"`);
  return undefined;
}

function terms(out: Issues, path: Path, v: unknown, kind: 'antiAffinity' | 'spread'): void {
  if (v === undefined || v === null) return;
  const list = Array.isArray(v) ? (v as unknown[]) : [v];
  list.forEach((t, i) => {
    const p = Array.isArray(v) ? [...path, i] : path;
    const m = expectObj(out, p, t, true);
    if (!m) return;
    if (kind === 'antiAffinity') {
      unknownFields(out, p, m, fieldsAt(TEMPLATE_SPEC, 'antiAffinity'));
      if (m.labelSelector === undefined) out.add([...p, 'labelSelector'], 'is required');
      else nodeSelectorField(out, [...p, 'labelSelector'], m.labelSelector);
    } else {
      unknownFields(out, p, m, fieldsAt(TEMPLATE_SPEC, 'spread'));
      expectInt(out, [...p, 'maxSkew'], m.maxSkew, 1, Number.MAX_SAFE_INTEGER, true);
      if (m.labelSelector !== undefined) nodeSelectorField(out, [...p, 'labelSelector'], m.labelSelector);
    }
    const key = expectString(out, [...p, 'topologyKey'], m.topologyKey, true);
    if (key) for (const msg of validateLabelKey(key)) out.add([...p, 'topologyKey'], `invalid topology key: ${msg}`);
  });
}

/** `limits: {cpu, memory}`: quantities, each at least its request (Kubernetes refuses a limit below the request). */
function limits(out: Issues, path: Path, v: unknown, requests: unknown, hasImage: boolean): void {
  const lp = [...path, 'limits'];
  const l = expectObj(out, lp, v);
  if (!l) return;
  if (!hasImage) out.add(lp, 'applies to containers only (set image:); a process is not limited');
  unknownFields(out, lp, l, fieldsAt(TEMPLATE_SPEC, 'limits'));
  const before = out.list.length;
  quantities(out, lp, Object.fromEntries(Object.entries(l).filter(([k]) => k === 'cpu' || k === 'memory')));
  if (out.list.length > before || !isObj(requests)) return;
  for (const resource of ['cpu', 'memory'] as const) {
    const limit = l[resource];
    const request = requests[resource];
    if ((typeof limit !== 'string' && typeof limit !== 'number') || (typeof request !== 'string' && typeof request !== 'number')) continue;
    if (quantityProblem(resource, request) !== undefined) continue;
    const exact = resource === 'cpu' ? cpuCores : memoryBytes;
    if (exact(limit) < exact(request))
      out.add([...lp, resource], `${JSON.stringify(limit)} is below the request ${formatPath([...path, 'resources', resource])} (${JSON.stringify(request)}): a limit must be at least its request`);
  }
}

function validateTemplateSpec(out: Issues, path: Path, v: unknown): void {
  const s = expectObj(out, path, v, true);
  if (!s) return;
  unknownFields(out, path, s, fieldsAt(TEMPLATE_SPEC));
  // artifact
  if (s.artifact !== undefined && s.artifact !== null) {
    if (typeof s.artifact === 'string') {
      if (s.artifact === '') out.add([...path, 'artifact'], 'must not be empty');
    } else {
      const a = expectObj(out, [...path, 'artifact'], s.artifact);
      if (a) {
        unknownFields(out, [...path, 'artifact'], a, fieldsAt(TEMPLATE_SPEC, 'artifact'));
        const url = expectString(out, [...path, 'artifact', 'url'], a.url, true);
        if (url && !/^https?:\/\/[^/]+/.test(url)) out.add([...path, 'artifact', 'url'], `${JSON.stringify(url)} must be an http(s) URL`);
        const sha = expectString(out, [...path, 'artifact', 'sha256'], a.sha256, true);
        if (sha && !SHA256.test(sha)) out.add([...path, 'artifact', 'sha256'], 'must be 64 lowercase hex digits');
      }
    }
  }
  const hasImage = s.image !== undefined && s.image !== null;
  if (hasImage) {
    if (s.artifact !== undefined && s.artifact !== null)
      out.add([...path, 'image'], 'set either artifact (a process) or image (a container), not both');
    if (typeof s.image === 'string') {
      const problem = imageReferenceProblem(s.image);
      if (problem !== undefined) out.add([...path, 'image'], problem);
    } else {
      const i = expectObj(out, [...path, 'image'], s.image);
      if (i) {
        unknownFields(out, [...path, 'image'], i, fieldsAt(TEMPLATE_SPEC, 'image'));
        const url = expectString(out, [...path, 'image', 'url'], i.url, true);
        if (url && !/^https?:\/\/[^/]+/.test(url)) out.add([...path, 'image', 'url'], `${JSON.stringify(url)} must be an http(s) URL`);
        const digest = expectString(out, [...path, 'image', 'digest'], i.digest, true);
        if (digest && !IMAGE_DIGEST.test(digest))
          out.add([...path, 'image', 'digest'], `${JSON.stringify(digest)} is not an image digest: expected sha256: and 64 lowercase hex digits (flo image inspect shows it)`);
      }
    }
    expectStringList(out, [...path, 'command'], s.command, false);
    if (Array.isArray(s.command) && s.command.length === 0) out.add([...path, 'command'], "must not be empty (leave it out to run the image's Entrypoint and Cmd)");
  } else {
    if (s.command === undefined || s.command === null) out.add([...path, 'command'], 'is required (or set image: to run a container with its own entrypoint)');
    else expectStringList(out, [...path, 'command'], s.command, true);
  }
  expectStringList(out, [...path, 'args'], s.args, false);
  // env
  if (s.env !== undefined && s.env !== null) {
    const env = expectObj(out, [...path, 'env'], s.env);
    if (env)
      for (const [k, val] of Object.entries(env)) {
        const p = [...path, 'env', k];
        if (!ENV_NAME.test(k)) out.add(p, `${JSON.stringify(k)} is not a valid environment variable name`);
        else if (k === 'HOST' || k === 'PORT' || k.startsWith('PORT_')) out.add(p, `${k} is set by flotilla for each instance`);
        if (typeof val !== 'string') out.add(p, `must be a string, not ${show(val)} (quote it)`);
      }
  }
  // ports
  const portNames = new Set<string>();
  if (s.ports !== undefined && s.ports !== null) {
    if (!Array.isArray(s.ports)) out.add([...path, 'ports'], 'must be a list of {name}');
    else
      s.ports.forEach((pt: unknown, i) => {
        const p = [...path, 'ports', i];
        const m = expectObj(out, p, pt, true);
        if (!m) return;
        unknownFields(out, p, m, fieldsAt(TEMPLATE_SPEC, 'ports'));
        const name = expectString(out, [...p, 'name'], m.name, true);
        if (name === undefined || name === '') return;
        if (name.length > 15 || !PORT_NAME.test(name) || !/[a-z]/.test(name))
          out.add([...p, 'name'], `${JSON.stringify(name)} is not a valid port name: at most 15 lowercase letters, digits and '-', with a letter`);
        else if (portNames.has(name)) out.add([...p, 'name'], `duplicate port name ${JSON.stringify(name)}`);
        portNames.add(name);
      });
  }
  if (s.resources !== undefined) quantities(out, [...path, 'resources'], s.resources);
  if (s.limits !== undefined && s.limits !== null) limits(out, path, s.limits, s.resources, hasImage);
  expectBool(out, [...path, 'readOnlyRootFilesystem'], s.readOnlyRootFilesystem);
  if (s.readOnlyRootFilesystem === true && !hasImage) out.add([...path, 'readOnlyRootFilesystem'], 'applies to containers only (set image:)');
  // health check
  if (s.healthCheck !== undefined && s.healthCheck !== null) {
    const hp = [...path, 'healthCheck'];
    const h = expectObj(out, hp, s.healthCheck);
    if (h) {
      unknownFields(out, hp, h, fieldsAt(TEMPLATE_SPEC, 'healthCheck'));
      const hasHttp = h.http !== undefined && h.http !== null;
      const hasExec = h.exec !== undefined && h.exec !== null;
      if (hasHttp === hasExec) out.add(hp, hasHttp ? 'set either http or exec, not both' : 'needs http: {path, port} or exec: [command...]');
      if (hasHttp) {
        const http = expectObj(out, [...hp, 'http'], h.http);
        if (http) {
          unknownFields(out, [...hp, 'http'], http, fieldsAt(TEMPLATE_SPEC, 'healthCheck', 'http'));
          const hpath = expectString(out, [...hp, 'http', 'path'], http.path, true);
          if (hpath && !hpath.startsWith('/')) out.add([...hp, 'http', 'path'], 'must start with /');
          if (http.port === undefined) out.add([...hp, 'http', 'port'], 'is required');
          else if (typeof http.port === 'string') {
            if (!portNames.has(http.port)) out.add([...hp, 'http', 'port'], `${JSON.stringify(http.port)} is not one of the template's ports`);
          } else expectInt(out, [...hp, 'http', 'port'], http.port, 1, 65535);
        }
      }
      if (hasExec) expectStringList(out, [...hp, 'exec'], h.exec, true);
      expectInt(out, [...hp, 'periodSeconds'], h.periodSeconds, 1);
      expectInt(out, [...hp, 'timeoutSeconds'], h.timeoutSeconds, 1);
      expectInt(out, [...hp, 'failureThreshold'], h.failureThreshold, 1);
      expectInt(out, [...hp, 'initialDelaySeconds'], h.initialDelaySeconds, 0);
    }
  }
  expectEnum(out, [...path, 'restartPolicy'], s.restartPolicy, ENUMS.restartPolicy);
  expectInt(out, [...path, 'terminationGracePeriodSeconds'], s.terminationGracePeriodSeconds, 0);
  if (s.nodeSelector !== undefined && s.nodeSelector !== null) nodeSelectorField(out, [...path, 'nodeSelector'], s.nodeSelector);
  if (s.tolerations !== undefined && s.tolerations !== null) {
    if (!Array.isArray(s.tolerations)) out.add([...path, 'tolerations'], 'must be a list');
    else
      s.tolerations.forEach((t: unknown, i) => {
        const p = [...path, 'tolerations', i];
        const m = expectObj(out, p, t, true);
        if (!m) return;
        unknownFields(out, p, m, fieldsAt(TEMPLATE_SPEC, 'tolerations'));
        expectString(out, [...p, 'key'], m.key);
        expectEnum(out, [...p, 'operator'], m.operator, ENUMS.tolerationOperator);
        expectString(out, [...p, 'value'], m.value);
        expectEnum(out, [...p, 'effect'], m.effect, ENUMS.taintEffect);
        if (m.operator === 'Exists' && m.value !== undefined) out.add([...p, 'value'], 'must be empty when operator is Exists');
      });
  }
  terms(out, [...path, 'antiAffinity'], s.antiAffinity, 'antiAffinity');
  terms(out, [...path, 'spread'], s.spread, 'spread');
}

/** A container's name and hostname is its instance's, `<replica set>-xxxxx`: at most 63 characters (a DNS label). */
function containerNameLength(out: Issues, doc: Obj): void {
  const name = isObj(doc.metadata) ? doc.metadata.name : undefined;
  const template = isObj(doc.spec) && isObj(doc.spec.template) && isObj(doc.spec.template.spec) ? doc.spec.template.spec : undefined;
  if (typeof name !== 'string' || template?.image === undefined || template.image === null) return;
  if (name.length > 57)
    out.add(['metadata', 'name'], `is ${name.length} characters; a replica set that runs containers may have at most 57, as its instances (<name>-xxxxx) name containers and set their hostname (at most 63)`);
}

function validateReplicaSetSpec(out: Issues, v: unknown): void {
  const s = expectObj(out, ['spec'], v, true);
  if (!s) return;
  unknownFields(out, ['spec'], s, fieldsAt(REPLICASET_SPEC));
  expectInt(out, ['spec', 'replicas'], s.replicas, 0, Number.MAX_SAFE_INTEGER, true);
  const matches = selectorField(out, ['spec', 'selector'], s.selector, { plainMapAllowed: false, required: true });
  expectEnum(out, ['spec', 'placement'], s.placement, ENUMS.placement);
  if (s.updateStrategy !== undefined && s.updateStrategy !== null) {
    const u = expectObj(out, ['spec', 'updateStrategy'], s.updateStrategy);
    if (u) {
      unknownFields(out, ['spec', 'updateStrategy'], u, fieldsAt(REPLICASET_SPEC, 'updateStrategy'));
      const mu = intOrPercent(out, ['spec', 'updateStrategy', 'maxUnavailable'], u.maxUnavailable);
      const ms = intOrPercent(out, ['spec', 'updateStrategy', 'maxSurge'], u.maxSurge);
      const zero = (x: number | string | undefined): boolean => x === 0 || x === '0%';
      if (zero(mu) && zero(ms)) out.add(['spec', 'updateStrategy'], 'maxUnavailable and maxSurge may not both be 0');
    }
  }
  const t = expectObj(out, ['spec', 'template'], s.template, true);
  if (!t) return;
  unknownFields(out, ['spec', 'template'], t, fieldsAt(REPLICASET_SPEC, 'template'));
  const tm = expectObj(out, ['spec', 'template', 'metadata'], t.metadata, true);
  let labels: Record<string, string> | undefined;
  if (tm) {
    unknownFields(out, ['spec', 'template', 'metadata'], tm, fieldsAt(REPLICASET_SPEC, 'template', 'metadata'));
    if (tm.labels === undefined) out.add(['spec', 'template', 'metadata', 'labels'], 'is required');
    else labels = labelMap(out, ['spec', 'template', 'metadata', 'labels'], tm.labels);
  }
  if (matches && labels && !matches(labels))
    out.add(['spec', 'template', 'metadata', 'labels'], 'do not match spec.selector: the replica set would never find its instances');
  validateTemplateSpec(out, ['spec', 'template', 'spec'], t.spec);
}

/** A DNS name as `hostnames` and `domain` take it: lowercase labels of letters, digits and '-'. */
const DNS_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

function dnsName(out: Issues, path: Path, v: unknown, what: string): string | undefined {
  const name = expectString(out, path, v, true);
  if (name === undefined || name === '') return undefined;
  if (name.length > 253 || !DNS_NAME.test(name)) {
    out.add(path, `${JSON.stringify(name)} is not a valid ${what}: lowercase letters, digits and '-' in dot-separated labels of at most 63 characters (e.g. beta.example.com)`);
    return undefined;
  }
  return name;
}

function validateServiceSpec(out: Issues, v: unknown): void {
  const s = expectObj(out, ['spec'], v, true);
  if (!s) return;
  unknownFields(out, ['spec'], s, fieldsAt(SERVICE_SPEC));
  if (Array.isArray(s.selector)) {
    if (s.selector.length === 0) out.add(['spec', 'selector'], 'must not be empty: give at least one selector');
    s.selector.forEach((item: unknown, i) => selectorField(out, ['spec', 'selector', i], item, { plainMapAllowed: true, required: true }));
  } else selectorField(out, ['spec', 'selector'], s.selector, { plainMapAllowed: true, required: true });
  const hasPort = s.port !== undefined && s.port !== null;
  const hasPorts = s.ports !== undefined && s.ports !== null;
  if (hasPort && hasPorts) out.add(['spec', 'ports'], 'set either port (the endpoints-only form) or ports (the virtual IP form), not both');
  else if (!hasPort && !hasPorts) out.add(['spec', 'port'], 'is required (or ports: [{name, port, targetPort}] for a virtual IP)');
  if (typeof s.port === 'string') {
    if (!PORT_NAME.test(s.port)) out.add(['spec', 'port'], `${JSON.stringify(s.port)} is not a valid port name`);
  } else if (hasPort) expectInt(out, ['spec', 'port'], s.port, 1, 65535);
  if (hasPorts) {
    if (!Array.isArray(s.ports)) out.add(['spec', 'ports'], 'must be a list of {name, port, targetPort}');
    else {
      if (s.ports.length === 0) out.add(['spec', 'ports'], 'must not be empty');
      const names = new Set<string>();
      const numbers = new Set<number>();
      s.ports.forEach((pt: unknown, i) => {
        const p = ['spec', 'ports', i];
        const m = expectObj(out, p, pt, true);
        if (!m) return;
        unknownFields(out, p, m, fieldsAt(SERVICE_SPEC, 'ports'));
        const name = expectString(out, [...p, 'name'], m.name);
        if (name !== undefined) {
          if (name.length > 15 || !PORT_NAME.test(name) || !/[a-z]/.test(name))
            out.add([...p, 'name'], `${JSON.stringify(name)} is not a valid port name: at most 15 lowercase letters, digits and '-', with a letter`);
          else if (names.has(name)) out.add([...p, 'name'], `duplicate port name ${JSON.stringify(name)}`);
          names.add(name);
        } else if ((s.ports as unknown[]).length > 1) out.add([...p, 'name'], 'is required when a service has more than one port');
        const port = expectInt(out, [...p, 'port'], m.port, 1, 65535, true);
        if (port !== undefined) {
          if (numbers.has(port)) out.add([...p, 'port'], `port ${port} is listed twice`);
          numbers.add(port);
        }
        if (typeof m.targetPort === 'string') {
          if (!PORT_NAME.test(m.targetPort)) out.add([...p, 'targetPort'], `${JSON.stringify(m.targetPort)} is not a valid port name (a name from the instances' template ports, or a number)`);
        } else if (m.targetPort !== undefined && m.targetPort !== null) expectInt(out, [...p, 'targetPort'], m.targetPort, 1, 65535);
      });
    }
  }
  if (s.hostnames !== undefined && s.hostnames !== null) {
    if (!Array.isArray(s.hostnames)) out.add(['spec', 'hostnames'], 'must be a list of DNS names');
    else {
      const seen = new Set<string>();
      s.hostnames.forEach((h: unknown, i) => {
        const name = dnsName(out, ['spec', 'hostnames', i], h, 'hostname');
        if (name === undefined) return;
        if (seen.has(name)) out.add(['spec', 'hostnames', i], `${JSON.stringify(name)} is listed twice`);
        seen.add(name);
      });
    }
  }
  if (s.render !== undefined && s.render !== null) {
    const r = expectObj(out, ['spec', 'render'], s.render);
    if (r) {
      unknownFields(out, ['spec', 'render'], r, fieldsAt(SERVICE_SPEC, 'render'));
      const hosts = expectString(out, ['spec', 'render', 'hosts'], r.hosts, true);
      if (hosts !== undefined)
        try {
          parseSelector(hosts);
        } catch (e) {
          out.add(['spec', 'render', 'hosts'], `invalid selector ${JSON.stringify(hosts)}: ${errorText(e)}`);
        }
      const p = expectString(out, ['spec', 'render', 'path'], r.path, true);
      if (p?.split('/').includes('..')) out.add(['spec', 'render', 'path'], 'must not contain ..');
    }
  }
}

/** Blocks a pod or service CIDR may not touch: routing them to pods would break the hosts. */
const RESERVED_BLOCKS: readonly { cidr: string; what: string }[] = [
  { cidr: '0.0.0.0/8', what: '"this network" (0.0.0.0/8)' },
  { cidr: '127.0.0.0/8', what: 'loopback (127.0.0.0/8)' },
  { cidr: '169.254.0.0/16', what: 'link-local (169.254.0.0/16)' },
  { cidr: '224.0.0.0/3', what: 'multicast and reserved (224.0.0.0/3)' },
];

function networkCidr(out: Issues, path: Path, v: unknown, example: string): Cidr | undefined {
  if (v === undefined || v === null) {
    out.add(path, `is required (e.g. ${example})`);
    return undefined;
  }
  if (typeof v !== 'string') {
    out.add(path, `must be a CIDR string like ${example}, not ${show(v)}`);
    return undefined;
  }
  const c = parseCidr(v);
  if (typeof c === 'string') {
    out.add(path, c);
    return undefined;
  }
  if (c.prefix < 8 || c.prefix > 30) {
    out.add(path, `${v} is a /${c.prefix}: give a block between /8 and /30 (e.g. ${example})`);
    return undefined;
  }
  for (const r of RESERVED_BLOCKS) {
    if (overlaps(c, parseCidr(r.cidr) as Cidr)) {
      out.add(path, `${v} overlaps ${r.what}: choose a private block (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), e.g. ${example}`);
      return undefined;
    }
  }
  return c;
}

function validateNetworkSpec(out: Issues, v: unknown): void {
  const s = expectObj(out, ['spec'], v, true);
  if (!s) return;
  unknownFields(out, ['spec'], s, fieldsAt(NETWORK_SPEC));
  const pod = networkCidr(out, ['spec', 'podCIDR'], s.podCIDR, '10.244.0.0/16');
  const svc = networkCidr(out, ['spec', 'serviceCIDR'], s.serviceCIDR, '10.96.0.0/16');
  const hostPrefix = expectInt(out, ['spec', 'hostSubnetPrefix'], s.hostSubnetPrefix, 8, 30);
  if (pod) {
    const prefix = hostPrefix ?? (s.hostSubnetPrefix === undefined || s.hostSubnetPrefix === null ? DEFAULT_HOST_SUBNET_PREFIX : undefined);
    if (prefix !== undefined && prefix < pod.prefix)
      out.add(
        ['spec', 'hostSubnetPrefix'],
        `a host subnet /${prefix} is larger than podCIDR ${formatCidr(pod)}: give a hostSubnetPrefix of at least ${pod.prefix} (${pod.prefix + 8 <= 30 ? `/${pod.prefix + 8} gives ${2 ** 8} hosts` : `/${pod.prefix} gives one host`})`,
      );
  }
  if (pod && svc) {
    if (containsCidr(pod, svc))
      out.add(['spec', 'serviceCIDR'], `${formatCidr(svc)} is inside podCIDR ${formatCidr(pod)}: virtual IPs must not be pod addresses — choose a block outside it (e.g. 10.96.0.0/16 with 10.244.0.0/16)`);
    else if (overlaps(pod, svc))
      out.add(['spec', 'serviceCIDR'], `${formatCidr(svc)} overlaps podCIDR ${formatCidr(pod)} (the pod block is inside it): choose two blocks that do not overlap (e.g. 10.244.0.0/16 and 10.96.0.0/16)`);
  }
  if (s.domain !== undefined && s.domain !== null) dnsName(out, ['spec', 'domain'], s.domain, 'domain');
  expectEnum(out, ['spec', 'backend'], s.backend, ENUMS.networkBackend);
}

/**
 * Validates one document (a plain value). Returns every problem found, with paths;
 * an empty list means the value is a valid {@link Manifest}.
 */
export function validateManifest(value: unknown): PathIssue[] {
  const out = new Issues();
  const doc = expectObj(out, [], value, true);
  if (!doc) return out.list;
  unknownFields(out, [], doc, fieldsAt(DOCUMENT));
  if (doc.apiVersion === undefined) out.add(['apiVersion'], `is required (${API_VERSION})`);
  else if (doc.apiVersion !== API_VERSION) out.add(['apiVersion'], `${show(doc.apiVersion)} is not supported (expected ${API_VERSION})`);
  metadata(out, doc.metadata);
  switch (doc.kind) {
    case 'Host':
      validateHostSpec(out, doc.spec);
      break;
    case 'ReplicaSet':
      validateReplicaSetSpec(out, doc.spec);
      containerNameLength(out, doc);
      break;
    case 'Service':
      validateServiceSpec(out, doc.spec);
      break;
    case 'Network':
      validateNetworkSpec(out, doc.spec);
      break;
    case undefined:
      out.add(['kind'], 'is required (Host, ReplicaSet, Service or Network)');
      break;
    default:
      out.add(['kind'], `${show(doc.kind)} is not one of: Host, ReplicaSet, Service, Network`);
  }
  return out.list;
}
