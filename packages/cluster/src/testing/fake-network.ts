/**
 * A {@link HostNetworkDriver} in memory: records the last plan applied to each host (and
 * every apply), reports configured tools as missing, and fails hosts on demand — for tests
 * of the network controller without root, namespaces or nftables.
 */
import type { Host } from '../manifest/types.js';
import type { ApplyNetworkOptions, HostNetworkDriver } from '../network/driver.js';
import type { HostNetworkPlan } from '../network/plan.js';

export class FakeNetworkDriver implements HostNetworkDriver {
  /** The plan last applied to each host. */
  readonly applied = new Map<string, HostNetworkPlan>();
  /** Every apply, in order: host, plan, and whether it was given the previous plan (only changes sent) or not (everything). */
  readonly history: { host: string; plan: HostNetworkPlan; full: boolean }[] = [];
  /** Hosts whose `apply` hangs (an sshd that stopped answering) until {@link FakeNetworkDriver.release}. */
  readonly hanging = new Set<string>();
  readonly #held: (() => void)[] = [];
  /** What each host lacks (as `check` reports it). */
  readonly missing = new Map<string, string[]>();
  /** Hosts whose `apply` throws (unreachable). */
  readonly failing = new Set<string>();
  /** How many times each host was checked. */
  readonly checks = new Map<string, number>();

  check(host: Host): Promise<string[]> {
    const name = host.metadata.name;
    this.checks.set(name, (this.checks.get(name) ?? 0) + 1);
    if (this.failing.has(name)) return Promise.reject(new Error(`${name}: unreachable`));
    return Promise.resolve([...(this.missing.get(name) ?? [])]);
  }

  apply(host: Host, plan: HostNetworkPlan, _signal?: AbortSignal, options: ApplyNetworkOptions = {}): Promise<void> {
    const name = host.metadata.name;
    if (this.hanging.has(name)) return new Promise((_resolve, reject) => this.#held.push(() => reject(new Error(`${name}: timed out`))));
    if (this.failing.has(name)) return Promise.reject(new Error(`${name}: unreachable`));
    this.applied.set(name, structuredClone(plan));
    this.history.push({ host: name, plan: structuredClone(plan), full: options.previous === undefined });
    return Promise.resolve();
  }

  /** Ends every hanging apply with a timeout error (and stops hanging). */
  release(): void {
    this.hanging.clear();
    for (const f of this.#held.splice(0)) f();
  }

  /** The state a host has now: its last plan, or undefined. */
  stateOf(host: string): HostNetworkPlan | undefined {
    return this.applied.get(host);
  }
}
