// The world of the data-driven interaction scripts (testdata/*.txt): RawNodes on MemoryStorage
// whose messages wait in inboxes until a command delivers them, so a script decides every step
// — and prints every Ready and every message, which the script then pins as golden output.
//
// Commands (ids are member ids; `*` marks a persisted-before-send message in the output):
//   add-nodes N [voters=(1,2,3)] [learners=(4)] [fresh=true] [prevote=false] [checkquorum=false] [lease=true]
//       N new members with the next ids; bootstrapped with that membership (default: the
//       new ids as voters), or with an empty log when fresh=true (they join by snapshot).
//   campaign ID · propose ID DATA · propose-conf-change ID add-voter|add-learner|remove-node NODE
//   read-index ID CTX · transfer-leadership ID TO · tick ID [N] · tick-heartbeat ID
//   process-ready [ID...]   handle each member's Ready (all with a Ready when no ids)
//   deliver-msgs [ID...]    step the messages waiting for these members (all when no ids)
//   stabilize [ID...]       process-ready and deliver-msgs until nothing is left
//   isolate ID · heal       drop every message to and from ID (printed as dropped) / stop dropping
//   compact ID INDEX        snapshot the state at INDEX (≤ applied) and compact the log to it
//   status [ID...] · log ID · applied ID
import { RawNode, type Ready } from '../src/core/raw-node.js';
import { seededRandomSource } from '../src/core/random.js';
import type { ConfChange, Entry, Message, NodeId, Snapshot } from '../src/core/types.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';
import { decodeConfChange } from '../src/core/conf-change.js';
import type { Command } from './datadriven.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Member {
  readonly id: NodeId;
  node: RawNode;
  readonly storage: MemoryStorage;
  readonly inbox: Message[];
  /** The applied normal entries' data with their index, in order (the "state machine"). */
  applied: { index: number; data: string }[];
  appliedIndex: number;
}

function list(v: string | undefined): NodeId[] {
  if (v === undefined) return [];
  return v
    .replace(/^\(|\)$/g, '')
    .split(',')
    .filter((s) => s !== '')
    .map(Number);
}

function entry(e: Entry): string {
  if (e.type === 'conf-change') {
    const cc = decodeConfChange(e.data);
    return `${e.index}/${e.term} ${cc.type} ${cc.nodeId}`;
  }
  return `${e.index}/${e.term}${e.data.length > 0 ? ` ${dec.decode(e.data)}` : ' (empty)'}`;
}

function snapshot(s: Snapshot): string {
  return `index=${s.index} term=${s.term} voters=(${s.confState.voters.join(',')}) learners=(${s.confState.learners.join(',')})`;
}

export function message(m: Message): string {
  const parts = [`${m.from}->${m.to} ${m.type} term=${m.term}`];
  switch (m.type) {
    case 'append':
    case 'vote':
    case 'pre-vote':
      parts.push(`index=${m.index} logTerm=${m.logTerm}`);
      break;
    case 'append-response':
      parts.push(m.reject ? `reject index=${m.index} hint=${m.rejectHint}/${m.logTerm}` : `index=${m.index}`);
      break;
    case 'vote-response':
    case 'pre-vote-response':
      if (m.reject) parts.push('rejected');
      break;
    case 'read-index-response':
      parts.push(`index=${m.index}`);
      break;
    default:
      break;
  }
  if (m.entries.length > 0) parts.push(`entries=[${m.entries.map(entry).join(', ')}]`);
  if (m.type === 'append' || m.type === 'heartbeat') parts.push(`commit=${m.commit}`);
  if (m.snapshot) parts.push(`snapshot=(${snapshot(m.snapshot)})`);
  if (m.context && m.context.length > 0) parts.push(`context=${dec.decode(m.context)}`);
  return parts.join(' ');
}

export class InteractionEnv {
  readonly #members = new Map<NodeId, Member>();
  readonly #isolated = new Set<NodeId>();

  run(c: Command): string {
    const out: string[] = [];
    const id = (i = 0): NodeId => {
      const v = Number(c.args[i]);
      if (!this.#members.has(v)) throw new Error(`${c.where}: no member ${c.args[i]}`);
      return v;
    };
    const ids = (): NodeId[] => (c.args.length > 0 ? c.args.map((_, i) => id(i)) : [...this.#members.keys()]);
    switch (c.name) {
      case 'add-nodes':
        this.#addNodes(c);
        break;
      case 'campaign':
        this.#member(id()).node.campaign();
        break;
      case 'propose':
        this.#member(id()).node.propose(enc.encode(c.args[1] ?? ''));
        break;
      case 'propose-conf-change':
        this.#member(id()).node.proposeConfChange({ type: c.args[1] as ConfChange['type'], nodeId: Number(c.args[2]) });
        break;
      case 'read-index':
        this.#member(id()).node.readIndex(enc.encode(c.args[1] ?? ''));
        break;
      case 'transfer-leadership':
        this.#member(id()).node.transferLeadership(Number(c.args[1]));
        break;
      case 'tick': {
        const n = Number(c.args[1] ?? 1);
        for (let i = 0; i < n; i++) this.#member(id()).node.tick();
        break;
      }
      case 'tick-heartbeat':
        this.#member(id()).node.tick();
        break;
      case 'process-ready':
        for (const m of ids()) if (this.#member(m).node.hasReady()) this.#processReady(this.#member(m), out);
        break;
      case 'deliver-msgs':
        for (const m of ids()) this.#deliver(this.#member(m), out);
        break;
      case 'stabilize':
        this.#stabilize(ids(), out);
        break;
      case 'isolate':
        this.#isolated.add(id());
        break;
      case 'heal':
        this.#isolated.clear();
        break;
      case 'compact': {
        const m = this.#member(id());
        const index = Number(c.args[1]);
        const conf = m.node.status().config;
        if (index > m.appliedIndex) throw new Error(`${c.where}: member ${m.id} has applied only up to ${m.appliedIndex}`);
        m.storage.createSnapshot(index, conf, enc.encode(JSON.stringify(m.applied.filter((a) => a.index <= index))));
        m.storage.compact(index);
        out.push(`${m.id}: snapshot at ${index}, log compacted to ${index}`);
        break;
      }
      case 'status':
        for (const m of ids()) out.push(this.#status(this.#member(m)));
        break;
      case 'log': {
        const m = this.#member(id());
        const s = m.storage;
        out.push(`${m.id}: snapshot ${snapshot(s.snapshot())}`);
        if (s.lastIndex() >= s.firstIndex()) for (const e of s.entries(s.firstIndex(), s.lastIndex() + 1)) out.push(`  ${entry(e)}`);
        break;
      }
      case 'applied': {
        const m = this.#member(id());
        out.push(`${m.id}: applied to ${m.appliedIndex}: [${m.applied.map((a) => a.data).join(' ')}]`);
        break;
      }
      default:
        throw new Error(`${c.where}: unknown command ${c.name}`);
    }
    return out.join('\n');
  }

  #member(id: NodeId): Member {
    const m = this.#members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  #addNodes(c: Command): void {
    const n = Number(c.args[0] ?? 1);
    const first = Math.max(0, ...this.#members.keys()) + 1;
    const newIds = Array.from({ length: n }, (_, i) => first + i);
    const voters = c.options.has('voters') ? list(c.options.get('voters')) : newIds;
    const learners = list(c.options.get('learners'));
    for (const id of newIds) {
      const storage = c.options.get('fresh') === 'true' ? new MemoryStorage() : MemoryStorage.bootstrap({ voters, learners });
      const node = new RawNode({
        id,
        storage,
        random: seededRandomSource(id),
        electionTicks: 10,
        heartbeatTicks: 1,
        preVote: c.options.get('prevote') !== 'false',
        checkQuorum: c.options.get('checkquorum') !== 'false',
        ...(c.options.get('lease') === 'true' ? { readOnly: 'lease-based' as const } : {}),
      });
      const snap = storage.snapshot();
      this.#members.set(id, { id, node, storage, inbox: [], applied: [], appliedIndex: snap.index });
    }
  }

  #status(m: Member): string {
    const s = m.node.status();
    const progress = [...s.progress].map(([id, p]) => `${id}:${p.state}${p.learner ? '(learner)' : ''} match=${p.match} next=${p.next}`);
    return `${m.id}: ${s.state} term=${s.term} leader=${s.leader} commit=${s.commit} applied=${m.appliedIndex} last=${s.lastIndex} voters=(${s.config.voters.join(',')}) learners=(${s.config.learners.join(',')})${progress.length ? ` progress: ${progress.join(' ')}` : ''}`;
  }

  #stabilize(ids: readonly NodeId[], out: string[]): void {
    for (let round = 0; round < 1000; round++) {
      let busy = false;
      for (const id of ids) {
        const m = this.#member(id);
        if (m.node.hasReady()) {
          busy = true;
          this.#processReady(m, out);
        }
      }
      for (const id of ids) {
        const m = this.#member(id);
        if (m.inbox.length > 0) {
          busy = true;
          this.#deliver(m, out);
        }
      }
      if (!busy) return;
    }
    throw new Error('did not stabilize in 1000 rounds');
  }

  /** The simplest correct host: send, persist, send persisted, apply (a snapshot first), advance. */
  #processReady(m: Member, out: string[]): void {
    const rd: Ready = m.node.ready();
    out.push(`> ${m.id} handling Ready`);
    if (rd.softState) out.push(`  soft state: ${rd.softState.state}, leader ${rd.softState.leader}`);
    if (rd.hardState) out.push(`  hard state: term=${rd.hardState.term} vote=${rd.hardState.vote} commit=${rd.hardState.commit}${rd.mustSync ? '' : ' (no sync)'}`);
    if (rd.snapshot) out.push(`  snapshot: ${snapshot(rd.snapshot)}`);
    if (rd.entries.length > 0) out.push(`  entries: ${rd.entries.map(entry).join(', ')}`);
    if (rd.committedEntries.length > 0) out.push(`  committed: ${rd.committedEntries.map(entry).join(', ')}`);
    for (const r of rd.readStates) out.push(`  read state: index=${r.index} context=${dec.decode(r.context)}`);
    m.storage.save(rd);
    if (rd.snapshot) {
      const data = dec.decode(rd.snapshot.data);
      m.applied = data === '' ? [] : (JSON.parse(data) as { index: number; data: string }[]);
      m.appliedIndex = rd.snapshot.index;
    }
    for (const e of rd.committedEntries) {
      if (e.type === 'normal' && e.data.length > 0) m.applied.push({ index: e.index, data: dec.decode(e.data) });
      m.appliedIndex = e.index;
    }
    for (const msg of rd.messages) this.#send(msg, out, '');
    for (const msg of rd.persistedMessages) this.#send(msg, out, '*');
    m.node.advance();
  }

  #send(msg: Message, out: string[], mark: string): void {
    const dropped = this.#isolated.has(msg.from) || this.#isolated.has(msg.to) || !this.#members.has(msg.to);
    out.push(`  ${mark}${message(msg)}${dropped ? ' (dropped)' : ''}`);
    if (!dropped) this.#members.get(msg.to)!.inbox.push(msg);
  }

  #deliver(m: Member, out: string[]): void {
    if (m.inbox.length === 0) return;
    out.push(`> ${m.id} receiving messages`);
    for (const msg of m.inbox.splice(0)) {
      out.push(`  ${message(msg)}`);
      m.node.step(msg);
    }
  }
}
