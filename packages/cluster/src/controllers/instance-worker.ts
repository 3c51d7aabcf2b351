/**
 * What happens to the instances of one host, shared by the controllers (agentless hosts,
 * through the ssh runtime) and `flo agent` (its own host, through the local runtime): start a
 * Pending instance, stop a deleted one and remove its record, and turn observations and
 * health checks into status. Status is written only when it changed.
 */
import type { Clock, Logger } from '@flotilla/reconcile';
import type { ClusterEvent, Host, Instance, InstanceStatus, Kind } from '../manifest/types.js';
import { ClusterError } from '../errors.js';
import { DEFAULT_DOMAIN } from '../manifest/validate.js';
import type { ContainerFacts, InstanceRuntime, ObservedInstance, PodNetworkContext } from '../runtime/types.js';
import type { ClusterStore } from '../store/resources.js';
import { stableJson } from './template.js';

/** Records an event (never throws). */
export type RecordEvent = (kind: Kind, name: string, type: ClusterEvent['type'], reason: string, message: string) => Promise<void>;

/** Options of {@link InstanceWorker}. */
export interface InstanceWorkerOptions {
  store: ClusterStore;
  runtime: InstanceRuntime;
  clock: Clock;
  /** Where events go. */
  events: RecordEvent;
  /** @default silent */
  logger?: Logger;
  /** Receives every instance this worker wrote (its status), as stored. */
  onStored?: (instance: Instance) => void;
  /** Receives the name of every instance record this worker removed. */
  onDeleted?: (name: string) => void;
}

interface HealthMemo {
  lastCheck: number;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class InstanceWorker {
  readonly #store: ClusterStore;
  readonly #runtime: InstanceRuntime;
  readonly #clock: Clock;
  readonly #events: RecordEvent;
  readonly #logger: Logger | undefined;
  readonly #onStored: ((instance: Instance) => void) | undefined;
  readonly #onDeleted: ((name: string) => void) | undefined;
  readonly #health = new Map<string, HealthMemo>();
  /** Instances whose pod network CHECK failed (one event each until it passes). */
  readonly #networkProblems = new Set<string>();

  constructor(options: InstanceWorkerOptions) {
    this.#store = options.store;
    this.#runtime = options.runtime;
    this.#clock = options.clock;
    this.#events = options.events;
    this.#logger = options.logger;
    this.#onStored = options.onStored;
    this.#onDeleted = options.onDeleted;
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  /**
   * Whether an event with this reason was recorded for the instance: a start that adopts a
   * container already running (a controller that stopped before it wrote the status) must not
   * say again what was said once per instance.
   */
  async #hasEvent(instance: string, reason: string): Promise<boolean> {
    const events = await this.#store.events.items().catch(() => []);
    return events.some((e) => e.involved.kind === 'Instance' && e.involved.name === instance && e.reason === reason);
  }

  /** Forgets an instance's health-check memory (it is gone). */
  forget(name: string): void {
    this.#health.delete(name);
    this.#networkProblems.delete(name);
  }

  /**
   * Stops a deleted instance on its host and removes its record. Throws when the host cannot
   * be reached (the caller retries; the record stays, Terminating).
   */
  async stop(host: Host, inst: Instance): Promise<void> {
    const name = inst.metadata.name;
    await this.#runtime.stop(host, inst, (inst.spec.template.terminationGracePeriodSeconds ?? 10) * 1000);
    await this.#store.instances.delete(name);
    this.#onDeleted?.(name);
    this.#health.delete(name);
    await this.#events('Instance', name, 'Normal', 'Stopped', `stopped on ${host.metadata.name} (${inst.metadata.deletionReason ?? 'deleted'})`);
  }

  /**
   * Starts a Pending instance (the runtime adopts one already running) and writes its status:
   * Running and ready without a health check, Starting otherwise. Throws when it cannot
   * start (a FailedStart event says why).
   */
  async start(host: Host, inst: Instance): Promise<void> {
    const name = inst.metadata.name;
    let started;
    try {
      const network = await this.#podNetwork(host, inst);
      started = await this.#runtime.start(host, inst, undefined, network ? { network } : {});
    } catch (e) {
      this.#logger?.debug?.('start failed', { instance: name, error: e });
      await this.#events('Instance', name, 'Warning', 'FailedStart', `could not start on ${host.metadata.name}: ${errorText(e)}`);
      throw e;
    }
    const hasCheck = inst.spec.template.healthCheck !== undefined;
    const facts = started.container;
    const stored = await this.#store.instances.mutate(name, (cur) => {
      if (cur.metadata.deletionTimestamp !== undefined) return undefined;
      cur.status = {
        phase: hasCheck ? 'Starting' : 'Running',
        ready: !hasCheck,
        ports: started.ports,
        ...(started.podIP !== undefined ? { podIP: started.podIP } : {}),
        ...(started.pid !== undefined ? { pid: started.pid } : {}),
        restarts: 0,
        startedAt: this.#now(),
        ...(facts ? containerStatus(facts) : {}),
      };
      return cur;
    });
    if (stored) this.#onStored?.(stored);
    this.#health.set(name, { lastCheck: this.#clock.now() });
    const what = facts ? `container of ${facts.imageDigest ?? 'its image'}${facts.signedBy !== undefined ? ` signed by ${facts.signedBy}` : ''}` : undefined;
    await this.#events('Instance', name, 'Normal', 'Started', `started on ${host.metadata.name}${what !== undefined ? `: ${what}` : ''}${started.podIP !== undefined ? ` at pod IP ${started.podIP}` : ''}${started.pid !== undefined ? ` (pid ${started.pid})` : ''}`);
    if (facts && !facts.limitsEnforced && limitsAsked(inst) && !(await this.#hasEvent(name, 'LimitsNotEnforced')))
      await this.#events('Instance', name, 'Warning', 'LimitsNotEnforced', limitsMessage(host.metadata.name, facts));
  }

  /**
   * The pod network a container starts in: while a Network exists, its host's subnet lease and
   * the Network's domain. A host without its lease yet cannot start containers (retried: the
   * network controller leases it), as a Kubernetes node without its podCIDR.
   */
  async #podNetwork(host: Host, inst: Instance): Promise<PodNetworkContext | undefined> {
    if (inst.spec.template.image === undefined) return undefined;
    const [network] = await this.#store.networks.items();
    if (!network) return undefined;
    const subnet = host.status?.podSubnet;
    if (subnet === undefined) throw new ClusterError('runtime-failed', `${host.metadata.name} has no pod subnet of Network ${network.metadata.name} yet (the network controller leases one); the start is retried`);
    return { subnet, domain: network.spec.domain ?? DEFAULT_DOMAIN };
  }

  /**
   * Turns what the host reports (`observed`, from one `runtime.observe`) into each instance's
   * status: phase, pid, restarts, ports, container facts; runs due health checks and restarts
   * an instance that fails `failureThreshold` of them (unless `restartPolicy: Never`). Writes
   * an instance's status only when it changed. Pending and terminating instances are left alone.
   */
  async observe(host: Host, onHost: readonly Instance[], observed: Map<string, ObservedInstance>): Promise<void> {
    const now = this.#clock.now();
    await Promise.all(
      onHost.map(async (inst) => {
        const name = inst.metadata.name;
        if (inst.metadata.deletionTimestamp !== undefined || (inst.status?.phase ?? 'Pending') === 'Pending') return;
        const obs = observed.get(name);
        if (!obs) return;
        const prev: InstanceStatus = inst.status ?? { phase: 'Pending', ready: false, ports: {}, restarts: 0 };
        const next: InstanceStatus = { ...prev };
        const check = inst.spec.template.healthCheck;
        if (obs.state === 'absent') {
          next.phase = 'Failed';
          next.ready = false;
          next.message = 'not running on its host';
          delete next.pid;
        } else if (obs.state === 'exited') {
          next.phase = 'Failed';
          next.ready = false;
          next.message = `exited with code ${obs.exitCode ?? '?'}`;
          delete next.pid;
          if (obs.reason !== undefined) next.reason = obs.reason;
          if (obs.reason === 'OOMKilled' && prev.reason !== 'OOMKilled') await this.#oomEvent(inst, host, obs);
        } else {
          if (obs.container) Object.assign(next, containerStatus(obs.container));
          if (obs.reason !== undefined) next.reason = obs.reason;
          if (obs.reason === 'OOMKilled' && (prev.reason !== 'OOMKilled' || obs.restarts > prev.restarts)) await this.#oomEvent(inst, host, obs);
          if (obs.pid !== undefined) next.pid = obs.pid;
          if (obs.podIP !== undefined) next.podIP = obs.podIP;
          next.restarts = obs.restarts;
          if (obs.ports) next.ports = obs.ports;
          if (obs.restarts > prev.restarts) {
            await this.#events('Instance', name, 'Warning', 'Restarted', `the command exited and was restarted (restart ${obs.restarts}${obs.pid !== undefined ? `, pid ${obs.pid}` : ''})`);
            if (check) {
              next.ready = false;
              next.phase = 'Starting';
            }
          }
          if (!check) {
            next.phase = 'Running';
            next.ready = true;
          } else {
            const memo = this.#health.get(name) ?? { lastCheck: -Infinity };
            const periodMs = (check.periodSeconds ?? 10) * 1000;
            const startedAt = Date.parse(prev.startedAt ?? '') || now;
            const initialDelay = (check.initialDelaySeconds ?? 0) * 1000;
            const due = now - memo.lastCheck >= periodMs || (!prev.ready && now - memo.lastCheck >= Math.min(periodMs, 1000));
            if (due && now - startedAt >= initialDelay) {
              memo.lastCheck = now;
              this.#health.set(name, memo);
              let ok = false;
              try {
                ok = await this.#runtime.healthCheck(host, inst, check);
              } catch {
                ok = false;
              }
              const threshold = check.failureThreshold ?? 3;
              if (ok) {
                next.healthFailures = 0;
                next.ready = true;
                next.phase = 'Running';
              } else {
                next.healthFailures = (prev.healthFailures ?? 0) + 1;
                if (next.healthFailures >= threshold) {
                  if (prev.ready || next.healthFailures === threshold)
                    await this.#events('Instance', name, 'Warning', 'Unhealthy', `health check failed ${next.healthFailures} time(s)`);
                  next.ready = false;
                  if ((inst.spec.template.restartPolicy ?? 'Always') !== 'Never' && next.healthFailures % threshold === 0) {
                    try {
                      await this.#runtime.restart(host, inst);
                    } catch {
                      // observed again next round
                    }
                  }
                }
              }
            }
          }
        }
        // a pod whose network CNI CHECK finds broken is no endpoint until a check passes again
        if (obs.state === 'running' && obs.networkProblem !== undefined) {
          if (prev.ready || !this.#networkProblems.has(name)) await this.#events('Instance', name, 'Warning', 'NetworkCheckFailed', `on ${host.metadata.name}: ${obs.networkProblem}`);
          this.#networkProblems.add(name);
          next.ready = false;
        } else this.#networkProblems.delete(name);
        delete (next as Partial<InstanceStatus>).message;
        if (obs.state === 'running' && obs.networkProblem !== undefined) next.message = obs.networkProblem;
        if (next.phase === 'Failed') next.message = obs.state === 'absent' ? 'not running on its host' : `exited with code ${obs.exitCode ?? '?'}`;
        if (stableJson(next) !== stableJson(prev)) {
          const stored = await this.#store.instances.mutate(name, (cur) => {
            if (cur.metadata.deletionTimestamp !== undefined) return undefined;
            cur.status = next;
            return cur;
          });
          if (stored) this.#onStored?.(stored);
          if (next.phase === 'Failed' && prev.phase !== 'Failed')
            await this.#events('Instance', name, 'Warning', 'Failed', `instance ${next.message ?? 'failed'}`);
        }
      }),
    );
  }

  async #oomEvent(inst: Instance, host: Host, obs: ObservedInstance): Promise<void> {
    const limit = inst.spec.template.limits?.memory ?? inst.spec.template.resources?.memory;
    await this.#events(
      'Instance',
      inst.metadata.name,
      'Warning',
      'OOMKilled',
      `the container on ${host.metadata.name} was killed by the kernel's OOM killer${limit !== undefined ? ` (memory limit ${String(limit)})` : ''}${obs.state === 'running' ? `; restarted (restart ${obs.restarts})` : ''}`,
    );
  }

}

/** The status fields of a container's facts: image digest, signer, and the LimitsEnforced condition. */
export function containerStatus(facts: ContainerFacts): Pick<InstanceStatus, 'imageDigest' | 'signedBy' | 'conditions'> {
  return {
    ...(facts.imageDigest !== undefined ? { imageDigest: facts.imageDigest } : {}),
    ...(facts.signedBy !== undefined ? { signedBy: facts.signedBy } : {}),
    conditions: [
      facts.limitsEnforced
        ? { type: 'LimitsEnforced', status: 'True' }
        : { type: 'LimitsEnforced', status: 'False', reason: facts.rootless ? 'Rootless' : 'NotSupported', message: facts.rootless ? 'the host runs containers rootless: cpu and memory are not limited (run as root or allow sudo for the runtime to enforce them)' : 'the host cannot apply cgroup limits' },
    ],
  };
}

function limitsAsked(inst: Instance): boolean {
  const t = inst.spec.template;
  return t.limits !== undefined || t.resources?.cpu !== undefined || t.resources?.memory !== undefined;
}

function limitsMessage(host: string, facts: ContainerFacts): string {
  return facts.rootless
    ? `${host} runs containers rootless: resources and limits are not enforced (give its user passwordless sudo for the runtime, or run as root, to enforce them)`
    : `${host} cannot enforce resources and limits`;
}

