/**
 * The runtime of a hollow host (kubemark's hollow nodes): runs nothing, and reports every
 * instance it was asked to start as running at once, with a made-up pid and ports, until it
 * is stopped. Health checks pass. For scale tests and benchmarks of the control plane
 * (`flo agent --hollow N`): an agent with this runtime does everything a real one does with
 * the store — lease, watch, status writes — and nothing on the machine.
 */
import type { HealthCheck, Host, Instance } from '../manifest/types.js';
import type { HostProbe, InstanceRuntime, ObservedInstance, StartedInstance } from '../runtime/types.js';

export class HollowRuntime implements InstanceRuntime {
  /** Running instances by host, then name. */
  readonly #running = new Map<string, Map<string, StartedInstance>>();
  #nextPid = 100_000;
  #nextPort = 20_000;

  #on(host: Host): Map<string, StartedInstance> {
    let m = this.#running.get(host.metadata.name);
    if (!m) this.#running.set(host.metadata.name, (m = new Map<string, StartedInstance>()));
    return m;
  }

  /** How many instances run on hollow hosts of this runtime. */
  get size(): number {
    let n = 0;
    for (const m of this.#running.values()) n += m.size;
    return n;
  }

  probeHost(): Promise<HostProbe> {
    return Promise.resolve({ load1: 0 });
  }

  start(host: Host, instance: Instance): Promise<StartedInstance> {
    const m = this.#on(host);
    let s = m.get(instance.metadata.name);
    if (!s) {
      const ports: Record<string, number> = {};
      for (const p of instance.spec.template.ports ?? []) {
        ports[p.name] = this.#nextPort;
        this.#nextPort = this.#nextPort >= 65_000 ? 20_000 : this.#nextPort + 1;
      }
      s = { pid: this.#nextPid++, ports };
      m.set(instance.metadata.name, s);
    }
    return Promise.resolve(s);
  }

  stop(host: Host, instance: Instance): Promise<void> {
    this.#on(host).delete(instance.metadata.name);
    return Promise.resolve();
  }

  observe(host: Host, instances: readonly Instance[]): Promise<Map<string, ObservedInstance>> {
    const m = this.#on(host);
    const out = new Map<string, ObservedInstance>();
    for (const i of instances) {
      const s = m.get(i.metadata.name);
      // an instance this process never started (the hollow agent restarted) is adopted as running
      out.set(i.metadata.name, s ? { state: 'running', ...(s.pid !== undefined ? { pid: s.pid } : {}), restarts: 0, ports: s.ports } : { state: 'running', ...(i.status?.pid !== undefined ? { pid: i.status.pid } : {}), restarts: i.status?.restarts ?? 0, ports: i.status?.ports ?? {} });
    }
    return Promise.resolve(out);
  }

  healthCheck(_host: Host, _instance: Instance, _check: HealthCheck): Promise<boolean> {
    return Promise.resolve(true);
  }

  restart(): Promise<void> {
    return Promise.resolve();
  }

  writeFile(): Promise<void> {
    return Promise.resolve();
  }

  // eslint-disable-next-line require-yield -- a hollow instance writes no output
  async *logs(): AsyncIterable<string> {
    await Promise.resolve();
  }

  addressOf(host: Host): string {
    return host.spec.address ?? '127.0.0.1';
  }
}
