/**
 * The shape of every manifest field, declared once. Two things read it:
 *
 * - the validator (`validate.ts`), for the fields each object may have (anything else is an
 *   "unknown field") and the values of its enumerations; its code adds what a shape cannot
 *   say (quantities parsed exactly, selector syntax, a template's labels matching its
 *   selector, a health check naming a declared port, limits at least their requests);
 * - {@link manifestJsonSchema}, which turns it into the JSON Schema published as
 *   `@flotilla/cluster/schema.json`, so editors complete and check `app.yaml`.
 *
 * A field added to the validator is added here (otherwise the validator reports it as
 * unknown), and so reaches the schema; `test/schema.test.ts` checks that the published file
 * is this model's and that the schema and the validator fail in the same places.
 */
import { API_VERSION } from './types.js';

/** A node of the model: what one value may be. */
export type Shape =
  | { readonly type: 'string'; readonly pattern?: string; readonly minLength?: number; readonly maxLength?: number; readonly enum?: readonly string[]; readonly const?: string; readonly description?: string }
  | { readonly type: 'integer'; readonly minimum?: number; readonly maximum?: number; readonly description?: string }
  | { readonly type: 'boolean'; readonly description?: string }
  | { readonly type: 'quantity'; readonly description?: string }
  | { readonly type: 'list'; readonly items: Shape; readonly minItems?: number; readonly description?: string }
  | { readonly type: 'map'; readonly values: Shape; readonly keyPattern?: string; readonly description?: string }
  | { readonly type: 'object'; readonly fields: Readonly<Record<string, Shape>>; readonly rules?: readonly ObjectRule[]; readonly description?: string }
  | { readonly type: 'anyOf'; readonly of: readonly Shape[]; readonly description?: string }
  | { readonly type: 'any'; readonly description?: string }
  | { readonly type: 'ref'; readonly name: string; readonly description?: string };

/** A rule across an object's fields. */
export type ObjectRule =
  /** These fields must be present. */
  | { readonly rule: 'required'; readonly fields: readonly string[] }
  /** Exactly one of these fields must be present. */
  | { readonly rule: 'exactlyOne'; readonly fields: readonly string[] }
  /** At most one of these fields may be present. */
  | { readonly rule: 'atMostOne'; readonly fields: readonly string[] }
  /** When `absent` is missing, `then` is required. */
  | { readonly rule: 'requiredUnless'; readonly field: string; readonly absent: string };

const str = (more: Omit<Extract<Shape, { type: 'string' }>, 'type'> = {}): Shape => ({ type: 'string', ...more });
const int = (minimum?: number, maximum?: number, description?: string): Shape => ({
  type: 'integer',
  ...(minimum !== undefined ? { minimum } : {}),
  ...(maximum !== undefined ? { maximum } : {}),
  ...(description !== undefined ? { description } : {}),
});
const bool = (description?: string): Shape => ({ type: 'boolean', ...(description !== undefined ? { description } : {}) });
const list = (items: Shape, minItems?: number, description?: string): Shape => ({
  type: 'list',
  items,
  ...(minItems !== undefined ? { minItems } : {}),
  ...(description !== undefined ? { description } : {}),
});
const obj = (fields: Record<string, Shape>, rules: ObjectRule[] = [], description?: string): Shape => ({
  type: 'object',
  fields,
  ...(rules.length > 0 ? { rules } : {}),
  ...(description !== undefined ? { description } : {}),
});
const required = (...fields: string[]): ObjectRule => ({ rule: 'required', fields });
const ref = (name: string, description?: string): Shape => ({ type: 'ref', name, ...(description !== undefined ? { description } : {}) });
const anyOf = (of: Shape[], description?: string): Shape => ({ type: 'anyOf', of, ...(description !== undefined ? { description } : {}) });

/** Kubernetes' DNS-1123 subdomain (object names). */
export const DNS1123_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A port name: IANA service name (the validator also wants a letter and at most 15 characters). */
export const PORT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** An environment variable name. */
export const ENV_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';
/** 64 lowercase hex digits. */
export const SHA256_PATTERN = '^[0-9a-f]{64}$';
/** An OCI image digest. */
export const IMAGE_DIGEST_PATTERN = '^sha256:[0-9a-f]{64}$';
/** An http(s) URL. */
export const HTTP_URL_PATTERN = '^https?://[^/]+';

/** Enumerations, shared by the validator's messages and the schema. */
export const ENUMS = {
  taintEffect: ['NoSchedule', 'NoExecute', 'PreferNoSchedule'],
  selectorOperator: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
  nodeSelectorOperator: ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'],
  tolerationOperator: ['Equal', 'Exists'],
  placement: ['binpack', 'spread', 'lowest-load'],
  restartPolicy: ['Always', 'OnFailure', 'Never'],
  kind: ['Host', 'ReplicaSet', 'Service', 'Network'],
  networkBackend: ['host-gw'],
} as const satisfies Record<string, readonly string[]>;

const labels = (description = 'Labels: keys as Kubernetes label keys ([prefix/]name), values strings of at most 63 characters.'): Shape => ({
  type: 'map',
  values: str({ maxLength: 63 }),
  description,
});
const quantities = (description: string): Shape => ({ type: 'map', values: { type: 'quantity' }, description });

/** Named shapes, referenced with `ref` and emitted once as schema definitions. */
export const DEFINITIONS = {
  labelSelector: obj(
    {
      matchLabels: labels(),
      matchExpressions: list(
        obj({ key: str(), operator: str({ enum: ENUMS.selectorOperator }), values: list(str()) }, [required('key', 'operator')]),
      ),
    },
    [],
    "Kubernetes' LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist).",
  ),
  nodeSelector: anyOf(
    [
      obj(
        {
          matchLabels: labels(),
          matchExpressions: list(
            obj({ key: str(), operator: str({ enum: ENUMS.nodeSelectorOperator }), values: list(str()) }, [required('key', 'operator')]),
          ),
        },
      ),
      labels(),
    ],
    'A plain label map, or a LabelSelector whose expressions also take Gt and Lt (one integer value).',
  ),
  selector: anyOf(
    [str({ description: 'A selector string, e.g. "env=prod,app=web" or "tier in (web,api)".' }), ref('labelSelector')],
    'A selector string ("env=prod,app=web") or {matchLabels, matchExpressions}.',
  ),
  quantityMap: quantities('Kubernetes quantities: cpu in cores ("250m", 2), memory in bytes ("128Mi", "1Gi"), others as counts.'),
  antiAffinityTerm: obj({ labelSelector: ref('nodeSelector'), topologyKey: str() }, [required('labelSelector', 'topologyKey')]),
  spreadConstraint: obj({ labelSelector: ref('nodeSelector'), topologyKey: str(), maxSkew: int(1) }, [required('topologyKey', 'maxSkew')]),
  metadata: obj(
    {
      name: str({ pattern: DNS1123_SUBDOMAIN_PATTERN, maxLength: 253, minLength: 1, description: "The object's name: lowercase letters, digits, '-' and '.'." }),
      labels: labels(),
      annotations: { type: 'map', values: str(), description: 'Free-form string annotations.' },
    },
    [required('name')],
  ),
} as const satisfies Record<string, Shape>;

/** `spec` of a Host. */
export const HOST_SPEC = obj(
  {
    address: str({ description: 'An ssh address, or an ssh_config Host alias.' }),
    user: str(),
    port: int(1, 65535),
    identityFile: str(),
    proxyJump: str(),
    local: obj({ dir: str({ minLength: 1 }) }, [required('dir')], 'A host that is a directory on this machine (instead of address).'),
    capacity: ref('quantityMap', 'What the host offers: cpu in cores, memory in bytes (Kubernetes quantities).'),
    taints: list(obj({ key: str(), value: str({ maxLength: 63 }), effect: str({ enum: ENUMS.taintEffect }) }, [required('key', 'effect')])),
    unschedulable: bool('Set by `flo cordon`: no new instances are placed here.'),
    agent: bool('Set by `flo host join`: a `flo agent` on the host runs its instances; the controllers never probe it over ssh, and it is NotReady when its lease expires.'),
    containerRuntime: str({ pattern: '^\\S+$', description: 'The OCI runtime for containers: a program on the PATH (runc, crun) or a path.' }),
    cniBinDir: str({ pattern: '^/', description: 'Where the CNI plugins are on the host (an absolute path). Default /usr/lib/cni.' }),
  },
  [{ rule: 'exactlyOne', fields: ['address', 'local'] }],
);

const artifact = anyOf(
  [str({ minLength: 1 }), obj({ url: str({ pattern: HTTP_URL_PATTERN }), sha256: str({ pattern: SHA256_PATTERN }) }, [required('url', 'sha256')])],
  'A process: a release archive, relative to the manifest file, or {url, sha256} fetched and checked by the host.',
);
const image = anyOf(
  [
    str({ minLength: 1, description: 'oci-archive:FILE, oci:DIR[:tag], docker-archive:FILE, or a bare path.' }),
    obj({ url: str({ pattern: HTTP_URL_PATTERN }), digest: str({ pattern: IMAGE_DIGEST_PATTERN }) }, [required('url', 'digest')]),
  ],
  'A container: the OCI image it runs (exclusive with artifact).',
);

/** `spec.template.spec` of a ReplicaSet. */
export const TEMPLATE_SPEC = obj(
  {
    artifact,
    image,
    command: list(str(), 1, 'The command (required for a process; with an image it replaces Entrypoint and Cmd).'),
    args: list(str(), undefined, 'Arguments after the command.'),
    env: { type: 'map', values: str(), keyPattern: ENV_NAME_PATTERN, description: 'Environment variables (HOST, PORT and PORT_<name> are set by flotilla).' },
    ports: list(obj({ name: str({ pattern: PORT_NAME_PATTERN, maxLength: 15 }) }, [required('name')]), undefined, 'Named ports; each instance gets a free port for each.'),
    resources: ref('quantityMap', 'Requests for placement: cpu, memory, other resources.'),
    limits: obj({ cpu: { type: 'quantity' }, memory: { type: 'quantity' } }, [], 'Container limits, each at least its request.'),
    readOnlyRootFilesystem: bool("A container's root filesystem is read-only."),
    healthCheck: obj(
      {
        http: obj({ path: str({ pattern: '^/' }), port: anyOf([str(), int(1, 65535)]) }, [required('path', 'port')]),
        exec: list(str(), 1),
        periodSeconds: int(1),
        timeoutSeconds: int(1),
        failureThreshold: int(1),
        initialDelaySeconds: int(0),
      },
      [{ rule: 'exactlyOne', fields: ['http', 'exec'] }],
    ),
    restartPolicy: str({ enum: ENUMS.restartPolicy }),
    terminationGracePeriodSeconds: int(0),
    nodeSelector: ref('nodeSelector'),
    tolerations: list(
      obj({ key: str(), operator: str({ enum: ENUMS.tolerationOperator }), value: str(), effect: str({ enum: ENUMS.taintEffect }) }),
    ),
    antiAffinity: anyOf([ref('antiAffinityTerm'), list(ref('antiAffinityTerm'))]),
    spread: anyOf([ref('spreadConstraint'), list(ref('spreadConstraint'))]),
  },
  [
    { rule: 'atMostOne', fields: ['artifact', 'image'] },
    { rule: 'requiredUnless', field: 'command', absent: 'image' },
  ],
);

const intOrPercent = anyOf([int(0), str({ pattern: '^\\d+%$' })]);

/** `spec` of a ReplicaSet. */
export const REPLICASET_SPEC = obj(
  {
    replicas: int(0),
    selector: ref('selector'),
    placement: str({ enum: ENUMS.placement, description: 'binpack | spread | lowest-load (default spread).' }),
    updateStrategy: obj({ maxUnavailable: intOrPercent, maxSurge: intOrPercent }, [], 'Rolling update: an integer or a percentage each.'),
    template: obj(
      {
        metadata: obj({ labels: labels('The instances\' labels; they must match spec.selector.') }, [required('labels')]),
        spec: TEMPLATE_SPEC,
      },
      [required('metadata', 'spec')],
    ),
  },
  [required('replicas', 'selector', 'template')],
);

/** A DNS name (lowercase labels of letters, digits and '-', at most 253 characters). */
export const DNS_NAME_PATTERN = '^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$';
/** An IPv4 CIDR block (the validator also checks the numbers and that host bits are zero). */
export const CIDR_PATTERN = '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$';

const oneSelector = anyOf([ref('selector'), labels()], 'A selector string, {matchLabels, matchExpressions}, or a plain label map.');

/** `spec` of a Service. */
export const SERVICE_SPEC = obj(
  {
    selector: anyOf(
      [oneSelector, list(oneSelector, 1)],
      'One selector (a selector string, {matchLabels, matchExpressions}, or a plain label map), or a list of them: an instance is selected when any matches (OR).',
    ),
    port: anyOf([str({ pattern: PORT_NAME_PATTERN }), int(1, 65535)], "A template port's name, or a number (without a virtual IP; exclusive with ports)."),
    ports: list(
      obj(
        {
          name: str({ pattern: PORT_NAME_PATTERN, maxLength: 15 }),
          port: int(1, 65535, 'The port on the virtual IP.'),
          targetPort: anyOf([str({ pattern: PORT_NAME_PATTERN }), int(1, 65535)], "The instances' port: a template port's name, or a number (default: port)."),
        },
        [required('port')],
      ),
      1,
      "The virtual IP's ports (with a Network): port on the VIP to targetPort of each ready endpoint.",
    ),
    hostnames: list(str({ pattern: DNS_NAME_PATTERN }), undefined, "Extra DNS names answered with the service's virtual IP."),
    render: obj({ hosts: str(), path: str() }, [required('hosts', 'path')], 'Endpoints written to a file on the hosts a selector picks.'),
  },
  [required('selector'), { rule: 'exactlyOne', fields: ['port', 'ports'] }],
);

/** `spec` of the Network (at most one per cluster). */
export const NETWORK_SPEC = obj(
  {
    podCIDR: str({ pattern: CIDR_PATTERN, description: 'The block hosts lease their pod subnets of, e.g. 10.244.0.0/16.' }),
    hostSubnetPrefix: int(8, 30, "The prefix length of each host's subnet (default 24)."),
    serviceCIDR: str({ pattern: CIDR_PATTERN, description: "Services' virtual IPs, e.g. 10.96.0.0/16; must not overlap podCIDR." }),
    domain: str({ pattern: DNS_NAME_PATTERN, description: 'The DNS domain of <service>.<domain> (default flotilla.local).' }),
    backend: str({ enum: ENUMS.networkBackend, description: "host-gw: a route per host subnet via the host's address (hosts on one L2 segment)." }),
  },
  [required('podCIDR', 'serviceCIDR')],
);

/** The fields of a manifest document. */
export const DOCUMENT = obj(
  {
    apiVersion: str({ const: API_VERSION }),
    kind: str({ enum: ENUMS.kind }),
    metadata: ref('metadata'),
    spec: { type: 'any' },
    status: { type: 'any', description: 'Observed state, written by the controllers.' },
  },
  [required('apiVersion', 'kind', 'metadata', 'spec')],
);

/** The spec model of each manifest kind. */
export const SPEC_OF_KIND = { Host: HOST_SPEC, ReplicaSet: REPLICASET_SPEC, Service: SERVICE_SPEC, Network: NETWORK_SPEC } as const satisfies Record<(typeof ENUMS.kind)[number], Shape>;

function resolve(shape: Shape): Shape {
  return shape.type === 'ref' ? resolve(DEFINITIONS[shape.name as keyof typeof DEFINITIONS]) : shape;
}

/** The object shapes a value of `shape` may be (through references, list items and alternatives). */
function objectsOf(shape: Shape): Extract<Shape, { type: 'object' }>[] {
  const s = resolve(shape);
  if (s.type === 'object') return [s];
  if (s.type === 'list') return objectsOf(s.items);
  if (s.type === 'anyOf') return s.of.flatMap(objectsOf);
  return [];
}

/**
 * The field names the object at `path` below `shape` allows — what the validator reports as
 * an unknown field otherwise. Steps go through references, list items and alternatives
 * (`fieldsAt(TEMPLATE_SPEC, 'ports')` is a port's fields; `fieldsAt(TEMPLATE_SPEC, 'image')`
 * those of the `{url, digest}` form).
 */
export function fieldsAt(shape: Shape, ...path: string[]): string[] {
  let candidates = objectsOf(shape);
  for (const name of path) {
    const next = candidates.find((c) => name in c.fields);
    if (!next) throw new TypeError(`the manifest model has no field ${path.join('.')}`);
    candidates = objectsOf(next.fields[name]!);
  }
  const [object] = candidates;
  if (!object) throw new TypeError(`the manifest model has no object at ${path.join('.')}`);
  return Object.keys(object.fields);
}
