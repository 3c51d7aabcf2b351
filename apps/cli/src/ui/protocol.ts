// What `flo ui` sends the page: compact rows of the store's objects (only what the dashboard
// draws), a snapshot when the page connects and deltas after each store change. Shared by the
// server (src/ui/) and the page (web/), which imports these types only.

/** A host: capacity in scheduler units (cpu in millicores, memory in MiB). */
export interface UiHost {
  name: string;
  labels: Record<string, string>;
  address: string;
  ready: boolean;
  unschedulable: boolean;
  capacity: { cpu?: number; memory?: number };
  load1?: number;
  message?: string;
}

/** An instance: its requests in scheduler units; `phase` is `Terminating` once it is being deleted. */
export interface UiInstance {
  name: string;
  replicaSet: string;
  host: string;
  phase: string;
  ready: boolean;
  restarts: number;
  pid?: number;
  /** Requests: millicores and MiB (what counts as allocated on its host). */
  cpu: number;
  memory: number;
  templateHash: string;
  ports: Record<string, number>;
  startedAt?: string;
  message?: string;
}

export interface UiReplicaSet {
  name: string;
  labels: Record<string, string>;
  selector: string;
  replicas: number;
  readyReplicas: number;
  generation: number;
  observedGeneration: number;
  /** Hash of the template the replica set rolls towards (or runs). */
  templateHash?: string;
  rollout?: { from: string; to: string; state: string; message?: string };
  /** Templates it ran before, newest last (what `rollout undo` goes back to). */
  history: string[];
}

export interface UiService {
  name: string;
  /** The selector(s) in the selector syntax; several (OR) joined by ` OR `. */
  selector: string;
  /** The instances' port (name or number), or the virtual IP's ports as `port→target`. */
  port: string;
  endpoints: { instance: string; address: string; port: number }[];
  /** The virtual IP (`status.clusterIP`), when a Network gave the service one. */
  vip?: string;
  /** Extra DNS names of the virtual IP. */
  hostnames: string[];
}

export interface UiEvent {
  name: string;
  kind: string;
  object: string;
  type: string;
  reason: string;
  message: string;
  time: string;
}

/** The kinds the page follows, by the plural it uses. */
export interface UiState {
  hosts: UiHost[];
  instances: UiInstance[];
  replicaSets: UiReplicaSet[];
  services: UiService[];
  /** The newest events, oldest first (at most {@link EVENT_LIMIT}). */
  events: UiEvent[];
}

export type UiKind = keyof UiState;
export const UI_KINDS: readonly UiKind[] = ['hosts', 'instances', 'replicaSets', 'services', 'events'];

/** How many events the page keeps. */
export const EVENT_LIMIT = 200;

/** `event: snapshot` on connect (and on reconnect). */
export type UiSnapshot = UiState & { seq: number };

/** `event: delta`: what changed since the previous message. */
export interface UiDelta {
  seq: number;
  upsert: Partial<UiState>;
  remove: Partial<Record<UiKind, string[]>>;
}

/** `GET /api/info`: what the page must ask of the user. */
export interface UiInfo {
  version: string;
  store: string;
  /** Reads need a token (a listen address other than loopback). */
  viewNeedsToken: boolean;
  /** Actions need a token (`--token-file` given). */
  actionsNeedToken: boolean;
  /** This request carried a valid token (header or session cookie). */
  authenticated: boolean;
}

/** An error answer of the API. */
export interface UiError {
  error: { code: string; message: string };
}
