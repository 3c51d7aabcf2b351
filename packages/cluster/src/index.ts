/**
 * `@flotilla/cluster` — the declarative layer: Host/ReplicaSet/Service manifests, stores
 * (file, etcd, Raft KV) with one contract, and the controllers that keep replicas running.
 * `flo demo`'s sample app and tour are the `@flotilla/cluster/demo` sub-path.
 *
 * @packageDocumentation
 */
export {
  ClusterError,
  ManifestError,
  ConflictError,
  HostInUseError,
  isClusterError,
  isManifestError,
  isConflictError,
  StoreCorruptError,
  isStoreCorruptError,
  isHostInUseError,
  formatManifestIssue,
} from './errors.js';
export type { ClusterErrorCode, ManifestIssue, BoundInstance } from './errors.js';

export { API_VERSION } from './manifest/types.js';
export type {
  ManifestKind,
  Kind,
  LabelSelectorObject,
  SelectorInput,
  NodeSelectorInput,
  ObjectMeta,
  QuantityInput,
  Taint,
  Toleration,
  HostSpec,
  HostStatus,
  HostAgentStatus,
  Host,
  ArtifactInput,
  ArtifactRef,
  ImageInput,
  ImageRef,
  InstanceCondition,
  HttpHealthCheck,
  HealthCheck,
  RestartPolicy,
  Placement,
  AntiAffinityTerm,
  SpreadConstraint,
  InstanceTemplateSpec,
  InstanceTemplate,
  UpdateStrategy,
  ReplicaSetSpec,
  ReplicaSetStatus,
  ReplicaSet,
  ServiceSpec,
  ServicePort,
  Endpoint,
  ServiceStatus,
  Service,
  InstancePhase,
  InstanceSpec,
  InstanceStatus,
  Instance,
  ClusterEvent,
  NetworkSpec,
  NetworkStatus,
  Network,
  Manifest,
  ClusterObject,
} from './manifest/types.js';
export { quantityInSchedulerUnits, quantityProblem, toSchedulerUnits, memoryBytes, cpuCores } from './manifest/quantity.js';
export { validateManifest, formatPath, imageReferenceProblem, IMAGE_TRANSPORTS, DEFAULT_DOMAIN, DEFAULT_HOST_SUBNET_PREFIX } from './manifest/validate.js';
export { parseCidr, formatCidr, parseIpv4, formatIpv4, containsCidr, containsIp, overlaps, subnetCount, nthSubnet, nthAddress, sizeOf } from './network/cidr.js';
export type { Cidr } from './network/cidr.js';
export {
  assignHostSubnet,
  assignClusterIp,
  collectLeases,
  listLeases,
  subnetPool,
  clusterIpPool,
  subnetCapacity,
  SUBNET_LEASE_PREFIX,
  CLUSTER_IP_LEASE_PREFIX,
} from './network/leases.js';
export type { AddressLease, LeasePool, AssignOptions, CollectedLeases, CollectLeasesOptions } from './network/leases.js';
export { dnsRecordTable, dnsHostProgram, answerDnsQuery, respondDnsQuery, startDnsServer, readDnsRecords, watchDnsRecords, DNS_TTL_SECONDS } from './network/dns.js';
export type { DnsRecordTable, DnsAnswer, DnsHostProgram } from './network/dns.js';
export { planHostNetworks } from './network/plan.js';
export type { HostNetworkPlan, PlannedVip, PlanProblem } from './network/plan.js';
export { DeployNetworkDriver, assertHostCanNetwork, DNS_DIR } from './network/driver.js';
export type { HostNetworkDriver, DeployNetworkDriverOptions, ApplyNetworkOptions } from './network/driver.js';
export type { Path, PathIssue } from './manifest/validate.js';
export { parseManifests, loadManifests, manifestSource, issueAt } from './manifest/parse.js';
export type { ParseManifestsOptions, ParsedManifests, ManifestSource, ManifestText, LoadedManifest } from './manifest/parse.js';
export { manifestJsonSchema, manifestSchemaText, MANIFEST_SCHEMA_ID, QUANTITY_PATTERN } from './manifest/schema.js';
export type { JsonSchema } from './manifest/schema.js';
export { storeImage, openStoredImage, imageStoreDir, storedSignaturePath, isImageRef, imageText, imageDigestOf } from './images.js';
export type { StoredImage, StoreImageOptions, StoredImageHandle } from './images.js';
export { manifestOf } from './manifest/export.js';
export type { ManifestOfOptions } from './manifest/export.js';

export type { KeyValue, KvWatchEvent, WriteOptions, KvWatchOptions, WatchOptions, KvStore, KvLeases, KvRangeOptions, KvCompare, KvTxnOp, KvTxnResult } from './store/types.js';
export { hasLeases, keepAliveLeases } from './store/types.js';
export { MemoryKvStore } from './store/memory.js';
export type { MemoryKvStoreOptions } from './store/memory.js';
export { FileKvStore, openFileStore, fileStorePaths } from './store/file.js';
export type { FileKvStoreOptions } from './store/file.js';
export { EtcdKvStore, openEtcdStore } from './store/etcd.js';
export type { EtcdStoreOptions, EtcdClientOptions, Etcd3Client } from './store/etcd.js';
export { ResourceStore, JsonCasStore, ClusterStore, KEY_PREFIX, ROOT_PREFIX, HOST_INDEX_PREFIX, BATCH_OBJECTS, keyOf, defineKind, builtInKind } from './store/resources.js';
export type { StoreEntry, ResourceWatchEvent, PreconditionOptions, Resource, ResourceIssue, ResourceKind, ResourceKindDefinition, ResourceIndex, ListOptions, ListPage } from './store/resources.js';
export { parseStoreUrl, redactStoreUrl } from './store/url.js';
export type { StoreLocation } from './store/url.js';
export { openStore, openKvStore, checkStore } from './store/open.js';
export type { OpenStoreOptions, StoreCheck } from './store/open.js';
export { checkFileStore, repairFileStore } from './store/file-repair.js';
export type { FileStoreReport, FileStoreDamage, FileStoreRepairPlan, FileStoreRepairResult, RepairFileStoreOptions } from './store/file-repair.js';

export type { InstanceRuntime, ObservedInstance, ContainerFacts, HostProbe, StartedInstance, StartOptions, PodNetworkContext } from './runtime/types.js';
export { schedulerPlacer, incrementalPlacer, PlacementCache, listPlacement, hostToNode, templateToPod, allocatedByHost } from './controllers/placement.js';
export type { Placer, PlacementRequest, PlacementResult, PlacementView } from './controllers/placement.js';
export { templateHash, stableJson, REPLICASET_LABEL, TEMPLATE_HASH_LABEL } from './controllers/template.js';
export { ClusterControllers, serviceEndpoints } from './controllers/manager.js';
export { planReplicaSet, planPlacement, countedStatus, deletionOrder } from './controllers/replicaset-plan.js';
export type { ReplicaSetPlan, ReplicaSetPlanInput, ReplicaSetStep, PlannedEvent, PlacementInput, PlacementCommon, PlacementPlan } from './controllers/replicaset-plan.js';
export type { ClusterControllersOptions } from './controllers/manager.js';
export { ClusterCaches, StoreReads, kvPrefixStore, BY_HOST, BY_REPLICA_SET } from './controllers/caches.js';
export type { ClusterReads, ClusterCachesOptions, CachedKind } from './controllers/caches.js';
export { InstanceWorker } from './controllers/instance-worker.js';
export type { InstanceWorkerOptions, RecordEvent } from './controllers/instance-worker.js';
export { HostAgent, hostInstanceSource } from './agent/host-agent.js';
export type { HostAgentOptions, HostAgentState, HostFactsReport, InstanceSource } from './agent/host-agent.js';
export { HollowRuntime } from './agent/hollow-runtime.js';
export { HollowFleet } from './agent/hollow-fleet.js';
export type { HollowFleetOptions, HollowFleetState } from './agent/hollow-fleet.js';
export { renderEndpointsFile } from './agent/render.js';
export { hostLeaseKey, HOST_LEASE_PREFIX, readHostLease, claimHostLease, releaseHostLease, leaseStore } from './agent/lease.js';
export type { HostLeaseRecord, HeldLease } from './agent/lease.js';
export { converge, convergence, convergenceOf } from './controllers/converge.js';
export type { ConvergeOptions, ConvergenceOptions, Convergence } from './controllers/converge.js';
export { deleteResources } from './controllers/delete.js';
export type { DeleteTarget, DeleteResult, DeleteResourcesOptions } from './controllers/delete.js';
export {
  applyManifests,
  planApply,
  storeArtifact,
  deleteObject,
  instancesOnHost,
  scaleReplicaSet,
  setUnschedulable,
  drainHost,
  rolloutUndo,
  baseDirOf,
} from './operations.js';
export type { AppliedChange, PlannedChange, ApplyOptions, DeleteObjectOptions } from './operations.js';
export {
  viewInstances,
  viewHosts,
  viewReplicaSets,
  viewServices,
  viewNetworks,
  serviceSelectors,
  instanceView,
  hostView,
  hostSummary,
  replicaSetView,
  serviceView,
  networkView,
  selectorInputText,
  eventsFor,
} from './views.js';
export type { InstanceView, HostView, ReplicaSetView, ServiceView, NetworkView } from './views.js';
export { watchObjects, listEvents, watchEvents } from './watch.js';
export type { ObjectChange, WatchObjectsOptions, EventQuery } from './watch.js';
export { DeployRuntime, portEnvName } from './runtime/deploy.js';
export type { DeployRuntimeOptions } from './runtime/deploy.js';
export { RaftKvStore, openRaftStore } from './store/raft.js';
export type { RaftStoreOptions } from './store/raft.js';
