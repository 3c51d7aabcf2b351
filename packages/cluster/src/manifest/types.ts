/**
 * The resource model (DESIGN.md, @flotilla/cluster, Manifests): `Host`, `ReplicaSet` and
 * `Service` as users write them, plus the `Instance` objects the controllers create.
 */
import type { HostAddress } from '@flotilla/deploy';

/** The one API version. */
export const API_VERSION = 'flotilla.dev/v1';

/** Kinds a manifest may declare. */
export type ManifestKind = 'Host' | 'ReplicaSet' | 'Service' | 'Network';
/** Every kind the store holds. */
export type Kind = ManifestKind | 'Instance' | 'Event';

/** Kubernetes' label selector object. */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}
/** A selector as written: an object, a selector string (`"env=prod,app=web"`). */
export type SelectorInput = LabelSelectorObject | string;

/** A node selector: a plain label map or a LabelSelector (whose expressions also take Gt/Lt). */
export type NodeSelectorInput =
  | Record<string, string>
  | {
      matchLabels?: Record<string, string>;
      matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt'; values?: string[] }[];
    };

/** Metadata common to every object. */
export interface ObjectMeta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Incremented by the store whenever `spec` changes. */
  generation?: number;
  /** The store revision this object was read at (set on read, ignored on write). */
  resourceVersion?: number;
  /** ISO time of creation. */
  creationTimestamp?: string;
  /** Set when the object is being deleted: the controllers stop it, then remove it. */
  deletionTimestamp?: string;
  /** Why it is being deleted (e.g. `scale-down`, `host NotReady`). */
  deletionReason?: string;
}

/** A quantity: a Kubernetes quantity string or a number (cpu in cores, memory in bytes). */
export type QuantityInput = string | number;

/** A taint on a host. */
export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'NoExecute' | 'PreferNoSchedule';
}

/** A toleration on an instance template. */
export interface Toleration {
  key?: string;
  operator?: 'Equal' | 'Exists';
  value?: string;
  effect?: 'NoSchedule' | 'NoExecute' | 'PreferNoSchedule';
}

/**
 * A Host's spec: where it is (deploy's {@link HostAddress}, the one model of that: an ssh
 * address or ssh_config alias with user, port, key and jump host, or a local directory), and
 * what the cluster schedules by (capacity, taints, cordon, agent), and how it runs containers
 * there (container runtime, CNI plugin directory).
 */
export interface HostSpec extends HostAddress {
  capacity?: Record<string, QuantityInput>;
  taints?: Taint[];
  /** Set by `flo cordon`: no new instances are placed here. */
  unschedulable?: boolean;
  /**
   * Set by `flo host join`: a `flo agent` on the host watches its instances and runs them; the
   * controllers never probe it over ssh, and it is NotReady when its agent's lease (in the
   * store, TTL `hostGracePeriodSeconds`, default 40) expires. @default false (agentless: probed over ssh)
   */
  agent?: boolean;
  /** The OCI runtime that runs this host's containers: a name on its PATH or a path (`runc`, `crun`, `/usr/sbin/runc`). @default runc, else crun, found on PATH */
  containerRuntime?: string;
  /**
   * Where the CNI plugins are on the host (`bridge`, `host-local`, `portmap`, `loopback`), for pod
   * networking while a Network exists: an absolute path. A pod's network is deleted (CNI DEL) with
   * the plugins its ADD ran, even when this changes meanwhile. @default '/usr/lib/cni' (Debian's containernetworking-plugins)
   */
  cniBinDir?: string;
}

/** Observed state of a host. */
export interface HostStatus {
  ready: boolean;
  /** ISO time of the last successful probe. */
  lastHeartbeat?: string;
  /** ISO time `ready` last changed. */
  lastTransition?: string;
  load1?: number;
  /** Requests of the instances placed here, in scheduler units. */
  allocated?: Record<string, number>;
  message?: string;
  /**
   * The pod subnet this host leases from the Network's `podCIDR` (e.g. `10.244.3.0/24`), set
   * by the network controller by compare-and-set on the lease key; absent without a Network.
   */
  podSubnet?: string;
  /** Agent hosts: what the agent reports (set by `flo agent`). */
  agent?: HostAgentStatus;
}

/** What a host's agent reports about itself and the machine (`status.agent`). */
export interface HostAgentStatus {
  /** The agent's identity (kept in its state directory across restarts). */
  identity: string;
  /** Its version (the `flotilla` package's). */
  version: string;
  /** The machine's hostname. */
  machine: string;
  /** The address instances of this host are reached at. */
  address: string;
  /** Process id of the agent on the host. */
  pid: number;
  /** Logical cores and memory of the machine. */
  cores?: number;
  memoryBytes?: number;
  /** `hollow` for simulated hosts (`flo agent --hollow`), `process` otherwise. */
  mode?: 'process' | 'hollow';
}

export interface Host {
  apiVersion: typeof API_VERSION;
  kind: 'Host';
  metadata: ObjectMeta;
  spec: HostSpec;
  status?: HostStatus;
}

/** A content-addressed artifact: a local file copied by `apply`, or a URL checked on the host. */
export type ArtifactInput = string | { url: string; sha256: string };
/** The artifact as recorded in the store after `apply`. */
export type ArtifactRef = { path: string; sha256: string } | { url: string; sha256: string };

/**
 * An OCI image as written in a template: a reference (`oci-archive:FILE`, `oci:DIR[:tag]`,
 * `docker-archive:FILE[:name:tag]`, or a bare path to any of these), relative to the manifest
 * file; or `{url, digest}`: an `oci-archive` fetched from the URL and checked against the
 * manifest digest.
 */
export type ImageInput = string | { url: string; digest: string };
/**
 * The image as recorded in the store after `apply`: the reference as written (resolved to an
 * absolute path), its manifest digest, and the content store holding its blobs (apply read and
 * hashed every blob into it; a `{url, digest}` image is fetched by apply). The digest is part
 * of the template, so a new image version changes the template hash and rolls out.
 */
export type ImageRef = { ref: string; digest: string; store: string } | { url: string; digest: string; store: string };

export interface HttpHealthCheck {
  path: string;
  /** A port name from `ports`, or a number. */
  port: string | number;
}

export interface HealthCheck {
  http?: HttpHealthCheck;
  exec?: string[];
  /** @default 10 */
  periodSeconds?: number;
  /** @default 1 */
  timeoutSeconds?: number;
  /** @default 3 */
  failureThreshold?: number;
  /** @default 0 */
  initialDelaySeconds?: number;
}

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';
export type Placement = 'binpack' | 'spread' | 'lowest-load';

export interface AntiAffinityTerm {
  labelSelector: NodeSelectorInput;
  topologyKey: string;
}
export interface SpreadConstraint {
  topologyKey: string;
  maxSkew: number;
  labelSelector?: NodeSelectorInput;
}

/** What an instance runs. */
export interface InstanceTemplateSpec {
  /** A process: the artifact unpacked as the working directory. Exclusive with `image`. */
  artifact?: ArtifactInput | ArtifactRef;
  /** A container: the OCI image it runs (run by runc/crun on the host). Exclusive with `artifact`. */
  image?: ImageInput | ImageRef;
  /** The command (required for a process; with an image it replaces the image's Entrypoint+Cmd). */
  command?: string[];
  /** Arguments after the command (with an image and no `command`, they replace the image's Cmd). */
  args?: string[];
  env?: Record<string, string>;
  ports?: { name: string }[];
  /** Requests, for placement; for a container on a rootful host also its cgroup limits unless `limits` says more. */
  resources?: Record<string, QuantityInput>;
  /** A container's cgroup limits (`cpu`, `memory`) where they are above the requests. */
  limits?: { cpu?: QuantityInput; memory?: QuantityInput };
  /** A container whose root filesystem is read-only. @default false */
  readOnlyRootFilesystem?: boolean;
  healthCheck?: HealthCheck;
  /** @default 'Always' */
  restartPolicy?: RestartPolicy;
  /** @default 10 */
  terminationGracePeriodSeconds?: number;
  nodeSelector?: NodeSelectorInput;
  tolerations?: Toleration[];
  antiAffinity?: AntiAffinityTerm | AntiAffinityTerm[];
  spread?: SpreadConstraint | SpreadConstraint[];
}

export interface InstanceTemplate {
  metadata: { labels: Record<string, string> };
  spec: InstanceTemplateSpec;
}

export interface UpdateStrategy {
  /** A count or a percentage of replicas (rounded down). @default 1 */
  maxUnavailable?: number | string;
  /** A count or a percentage of replicas (rounded up). @default 1 */
  maxSurge?: number | string;
}

export interface ReplicaSetSpec {
  replicas: number;
  selector: SelectorInput;
  /** @default 'spread' */
  placement?: Placement;
  updateStrategy?: UpdateStrategy;
  template: InstanceTemplate;
}

export interface ReplicaSetStatus {
  replicas: number;
  readyReplicas: number;
  observedGeneration: number;
  /** Hash of the template the replica set is rolling towards (or runs). */
  currentTemplateHash?: string;
  /** Templates this replica set ran before, newest last (for `rollout undo`). */
  history?: { hash: string; template: InstanceTemplate }[];
  /** Set while a rolling update is in progress. */
  rollout?: { from: string; to: string; state: 'Progressing' | 'RolledBack' | 'Complete'; message?: string };
}

export interface ReplicaSet {
  apiVersion: typeof API_VERSION;
  kind: 'ReplicaSet';
  metadata: ObjectMeta;
  spec: ReplicaSetSpec;
  status?: ReplicaSetStatus;
}

/** One port of a service's virtual IP: `port` on the VIP goes to `targetPort` of each endpoint. */
export interface ServicePort {
  /** The port's name (required when the service has more than one). */
  name?: string;
  /** The port on the virtual IP. */
  port: number;
  /** The instances' port: a name from their template's `ports`, or a number. @default the same number as `port` */
  targetPort?: string | number;
}

export interface ServiceSpec {
  /** One selector, or a list of them: an instance is selected when any of them matches (OR). */
  selector: SelectorInput | SelectorInput[];
  /** A port name of the selected instances, or a number (the form without a virtual IP). Exclusive with `ports`. */
  port?: string | number;
  /** The virtual IP's ports (with a Network). Exclusive with `port`. */
  ports?: ServicePort[];
  /** Extra DNS names answered with the service's virtual IP (e.g. `beta.example.com`). */
  hostnames?: string[];
  render?: { hosts: string; path: string };
}

export interface Endpoint {
  instance: string;
  /** Where the endpoint is reached: its pod IP (a container with a Network), else its host's address. */
  address: string;
  /** `port` resolved for this instance (with `ports`: the first port's target). */
  port: number;
  /** The host the instance runs on. */
  host?: string;
  /** With `ports`: each service port's name (or number, as text) and the instance's port it goes to. */
  ports?: Record<string, number>;
  /** The selector (in the selector syntax) that selected the instance: the first of the list that matches. */
  selector?: string;
}

export interface ServiceStatus {
  endpoints: Endpoint[];
  /** Hosts and the endpoint list hash last rendered there. */
  rendered?: Record<string, string>;
  /** The virtual IP leased from the Network's `serviceCIDR` (absent without a Network). */
  clusterIP?: string;
}

export interface Service {
  apiVersion: typeof API_VERSION;
  kind: 'Service';
  metadata: ObjectMeta;
  spec: ServiceSpec;
  status?: ServiceStatus;
}

export type InstancePhase = 'Pending' | 'Starting' | 'Running' | 'Failed' | 'Terminating' | 'Unknown';

export interface InstanceSpec {
  replicaSet: string;
  /** The host's name. */
  host: string;
  templateHash: string;
  template: InstanceTemplateSpec;
}

/** A condition of an instance (Kubernetes' pod conditions). */
export interface InstanceCondition {
  /** `LimitsEnforced`: whether `resources`/`limits` are cgroup limits on its host (False on rootless hosts). */
  type: 'LimitsEnforced';
  status: 'True' | 'False';
  reason?: string;
  message?: string;
}

export interface InstanceStatus {
  phase: InstancePhase;
  ready: boolean;
  ports: Record<string, number>;
  /** A container's address in its host's pod subnet (with a Network). */
  podIP?: string;
  pid?: number;
  restarts: number;
  startedAt?: string;
  message?: string;
  /** Consecutive failed health checks. */
  healthFailures?: number;
  /** Why the last run of the container ended: `OOMKilled` (the kernel's OOM killer), `Error`, `Completed`. */
  reason?: 'OOMKilled' | 'Error' | 'Completed';
  /** Containers: the image's manifest digest running. */
  imageDigest?: string;
  /** Containers: the principal whose signature the host checked (hosts with allowed_signers). */
  signedBy?: string;
  /** Containers: facts about how it runs on its host (`LimitsEnforced`). */
  conditions?: InstanceCondition[];
}

/** One running copy of a replica set's template on a host (created by the controllers). */
export interface Instance {
  apiVersion: typeof API_VERSION;
  kind: 'Instance';
  metadata: ObjectMeta;
  spec: InstanceSpec;
  status?: InstanceStatus;
}

/** An event recorded for `flo describe`. */
export interface ClusterEvent {
  apiVersion: typeof API_VERSION;
  kind: 'Event';
  metadata: ObjectMeta;
  involved: { kind: Kind; name: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** When it last occurred (the same as `lastTimestamp` where that is set). */
  time: string;
  /** How many times it occurred (identical or, for a "(combined from similar events)" record, similar events folded into this record). Absent: once. */
  count?: number;
  /** When it first occurred. Absent: at `time`. */
  firstTimestamp?: string;
  /** When it last occurred. Absent: at `time`. */
  lastTimestamp?: string;
}

/** The cluster's network (at most one): pod subnets per host, service virtual IPs, DNS. */
export interface NetworkSpec {
  /** The block every host leases a pod subnet of, e.g. `10.244.0.0/16`. */
  podCIDR: string;
  /** The prefix length of each host's subnet. @default 24 */
  hostSubnetPrefix?: number;
  /** The block services' virtual IPs come from, e.g. `10.96.0.0/16` (must not overlap `podCIDR`). */
  serviceCIDR: string;
  /** The DNS domain: `<service>.<domain>`. @default 'flotilla.local' */
  domain?: string;
  /** How pod subnets reach each other: `host-gw`, a route per host subnet via the host's address. @default 'host-gw' */
  backend?: 'host-gw';
}

/** Observed state of the Network. */
export interface NetworkStatus {
  /** Hosts holding a subnet lease. */
  leases?: number;
  /** Subnets the podCIDR holds. */
  capacity?: number;
  /** Hosts that cannot join the Network, and why (missing nft/iptables, CNI plugins, root, node). */
  refused?: Record<string, string>;
}

export interface Network {
  apiVersion: typeof API_VERSION;
  kind: 'Network';
  metadata: ObjectMeta;
  spec: NetworkSpec;
  status?: NetworkStatus;
}

/** Any object a manifest may contain. */
export type Manifest = Host | ReplicaSet | Service | Network;
/** Any object the store holds. */
export type ClusterObject = Manifest | Instance | ClusterEvent;
