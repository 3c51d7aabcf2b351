/**
 * Manifest validation: every problem at once, each with its path (apimachinery's
 * field.ErrorList idea). Works on plain values; `parse.ts` adds files and line numbers.
 * Host and ReplicaSet here; Service and Network in validate-network.ts; the value checks
 * all of them use in checks.ts.
 */
import { parseHostAddress } from '@flotilla/deploy';
import { validateLabelKey, validateLabelValue } from '@flotilla/labels';
import { cpuCores, memoryBytes, quantityProblem } from './quantity.js';
import { DEFINITIONS, DOCUMENT, ENUMS, HOST_SPEC, REPLICASET_SPEC, TEMPLATE_SPEC, fieldsAt } from './model.js';
import { API_VERSION } from './types.js';
import {
  Issues,
  PORT_NAME,
  formatPath,
  expectBool,
  expectEnum,
  expectInt,
  expectObj,
  expectString,
  expectStringList,
  isObj,
  labelMap,
  selectorField,
  show,
  unknownFields,
  type Obj,
  type Path,
  type PathIssue,
} from './checks.js';
import { validateNetworkSpec, validateServiceSpec } from './validate-network.js';

export { formatPath, type Path, type PathIssue } from './checks.js';
export { DEFAULT_DOMAIN, DEFAULT_HOST_SUBNET_PREFIX } from './validate-network.js';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
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

/**
 * A Host's spec: where the host is (address, user, port, identityFile, proxyJump, local) by the
 * Host model's one parser, deploy's `parseHostAddress`, with the manifest's rules (`strict`);
 * then what only the cluster reads: capacity, taints, cordon, agent, container runtime.
 */
function validateHostSpec(out: Issues, v: unknown): void {
  for (const issue of parseHostAddress(v, { strict: true }).issues) out.add(issue.path, issue.message);
  if (!isObj(v)) return;
  const s = v;
  unknownFields(out, ['spec'], s, fieldsAt(HOST_SPEC));
  if (s.capacity !== undefined) quantities(out, ['spec', 'capacity'], s.capacity);
  taints(out, ['spec', 'taints'], s.taints);
  expectBool(out, ['spec', 'unschedulable'], s.unschedulable);
  expectBool(out, ['spec', 'agent'], s.agent);
  const rt = expectString(out, ['spec', 'containerRuntime'], s.containerRuntime);
  if (rt !== undefined && (rt === '' || /\s/.test(rt))) out.add(['spec', 'containerRuntime'], `${JSON.stringify(rt)} is not a program: name one on the host's PATH (runc, crun) or give its path`);
  const cni = expectString(out, ['spec', 'cniBinDir'], s.cniBinDir);
  if (cni !== undefined && !cni.startsWith('/'))
    out.add(['spec', 'cniBinDir'], `${JSON.stringify(cni)} is not an absolute path: give the directory on the host that holds the CNI plugins (bridge, host-local, portmap, loopback), e.g. /usr/lib/cni, or leave cniBinDir out for that default`);
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
