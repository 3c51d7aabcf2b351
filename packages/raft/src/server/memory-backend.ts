/**
 * MemoryKvBackend: a single-process KvBackend with no replication, for tests of the HTTP API and
 * the client.
 */
import { KvStateMachine } from '../kv/state-machine.js';
import { KvError } from '../kv/errors.js';
import type { KvCommand, KvResult } from '../kv/types.js';
import type { AddMemberRequest, KvBackend, MemberInfo, NodeStatus } from './backend.js';

/**
 * A single-process {@link KvBackend} with no replication: commands apply at once. For tests
 * of HTTP clients and for embedding a throwaway store; it is not durable.
 */
export class MemoryKvBackend implements KvBackend {
  readonly kv = new KvStateMachine();
  readonly id: number;
  #applied = 0;
  #members: MemberInfo[];
  /** When false, the backend behaves as a follower whose leader is {@link leaderUrl}. */
  leader = true;
  /** The client URL reported as the leader's when {@link leader} is false. */
  leaderUrl: string | undefined;

  constructor(options: { id?: number; clientUrl?: string; peerUrl?: string } = {}) {
    this.id = options.id ?? 1;
    this.#members = [{ id: this.id, peerUrl: options.peerUrl ?? '127.0.0.1:0', clientUrl: options.clientUrl ?? '', learner: false }];
  }

  /** Sets this member's client URL (once its HTTP server is listening). */
  setClientUrl(url: string): void {
    this.#members = this.#members.map((m) => (m.id === this.id ? { ...m, clientUrl: url } : m));
  }

  propose(command: KvCommand): Promise<KvResult> {
    if (!this.leader) return Promise.reject(new KvError('not-leader', 'not the leader'));
    this.#applied++;
    return Promise.resolve(this.kv.apply(command));
  }

  readIndex(): Promise<void> {
    return Promise.resolve();
  }

  status(): NodeStatus {
    return {
      id: this.id,
      leader: this.leader ? this.id : 0,
      term: 1,
      commitIndex: this.#applied,
      appliedIndex: this.#applied,
      revision: this.kv.revision,
      members: this.members(),
    };
  }

  members(): MemberInfo[] {
    return [...this.#members];
  }

  isLeader(): boolean {
    return this.leader;
  }

  leaderClientUrl(): string | undefined {
    return this.leader ? undefined : this.leaderUrl;
  }

  addMember(request: AddMemberRequest): Promise<MemberInfo[]> {
    if (this.#members.some((m) => m.id === request.id)) {
      return Promise.reject(new KvError('member-exists', `member ${request.id} already exists`));
    }
    this.#members.push({ id: request.id, peerUrl: request.peerUrl, clientUrl: '', learner: request.learner ?? false });
    return Promise.resolve(this.members());
  }

  promoteMember(id: number): Promise<MemberInfo[]> {
    const m = this.#members.find((x) => x.id === id);
    if (!m) return Promise.reject(new KvError('member-not-found', `member ${id} not found`));
    this.#members = this.#members.map((x) => (x.id === id ? { ...x, learner: false } : x));
    return Promise.resolve(this.members());
  }

  removeMember(id: number): Promise<MemberInfo[]> {
    if (!this.#members.some((x) => x.id === id)) return Promise.reject(new KvError('member-not-found', `member ${id} not found`));
    this.#members = this.#members.filter((x) => x.id !== id);
    return Promise.resolve(this.members());
  }

  backup(): Promise<Uint8Array> {
    return Promise.resolve(this.kv.snapshot());
  }
}
