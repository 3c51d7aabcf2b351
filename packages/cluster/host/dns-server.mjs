// Flotilla's DNS resolver for one host: answers A queries for the names the controller writes
// to a records file (service VIPs, hostnames, instances), authoritatively, and NXDOMAIN for
// anything else — no forwarding, no recursion. Plain JavaScript on purpose: this one file is
// both what @flotilla/cluster tests in-process and what the controller ships to every host
// (beside the dns-packet library it imports) and runs there as a supervised process:
//
//   node dns-server.mjs --listen 10.244.1.1:53 --records /path/records.json
//
// The records file is JSON {domain, ttl, records: {"<name>": ["<ipv4>", ...]}}; the
// controller replaces it atomically (write + rename) and this process reloads it within half
// a second, keeping the previous table if the new one does not parse.
import dgram from 'node:dgram';
import { readFileSync, statSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import dnsPacket from 'dns-packet';

const { AUTHORITATIVE_ANSWER, RECURSION_DESIRED, TRUNCATED_RESPONSE } = dnsPacket;
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

/**
 * @typedef {{ domain: string, ttl?: number, records: Record<string, string[]> }} RecordTable
 * @typedef {{ rcode: 'NOERROR' | 'NXDOMAIN' | 'REFUSED', addresses: string[] }} Answer
 */

/** A name as the table keys it: lowercase, without the final dot. */
export function canonicalName(name) {
  return String(name).toLowerCase().replace(/\.$/, '');
}

/**
 * The answer to one question (pure): A records of a name the table holds; NOERROR with no
 * answer for another type of such a name, or for a name that only has names below it (an
 * empty non-terminal, e.g. the domain itself); NXDOMAIN for everything else; REFUSED for a
 * class other than IN.
 * @param {RecordTable} table
 * @param {{ name: string, type: string, class?: string }} question
 * @returns {Answer}
 */
export function answer(table, question) {
  if (question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY') return { rcode: 'REFUSED', addresses: [] };
  const name = canonicalName(question.name);
  const found = Object.hasOwn(table.records, name) ? table.records[name] : undefined;
  if (found !== undefined) return { rcode: 'NOERROR', addresses: question.type === 'A' || question.type === 'ANY' ? [...found] : [] };
  const suffix = `.${name}`;
  if (name !== '' && Object.keys(table.records).some((n) => n.endsWith(suffix))) return { rcode: 'NOERROR', addresses: [] };
  return { rcode: 'NXDOMAIN', addresses: [] };
}

/** Answers memoised per table (a reloaded table is a new object, so its memo starts empty). */
const memos = new WeakMap();
/** Most names a table's memo keeps (queries for random names must not grow it without bound). */
const MEMO_LIMIT = 10_000;

/** The answer to an IN question of type `qtype` for `name` (lowercase, no final dot), memoised per table. */
function memoAnswer(table, name, qtype) {
  let memo = memos.get(table);
  if (memo === undefined) {
    memo = new Map();
    memos.set(table, memo);
  }
  const key = `${qtype} ${name}`;
  let a = memo.get(key);
  if (a === undefined) {
    a = answer(table, { name, type: qtype === 1 ? 'A' : qtype === 255 ? 'ANY' : 'OTHER', class: 'IN' });
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(key, a);
  }
  return a;
}

/**
 * The common query answered without decoding or encoding through dns-packet: a standard query
 * (QR 0, opcode 0), one question of class IN with no compression in it, no answer or authority
 * records and at most one additional (EDNS's OPT). The response is written directly: the header,
 * the question copied as the client sent it (its case kept, as 0x20-randomising clients check),
 * and each A record pointing back at it (name compression to offset 12). Anything else
 * (undefined here) takes the general path through dns-packet, whose responses these equal.
 * @param {RecordTable} table
 * @param {Buffer} message
 * @returns {Buffer | undefined}
 */
function respondFast(table, message) {
  const flags = message.readUInt16BE(2);
  if ((flags & 0xf800) !== 0) return undefined; // QR set, or an opcode other than QUERY
  if (message.readUInt16BE(4) !== 1 || message.readUInt16BE(6) !== 0 || message.readUInt16BE(8) !== 0 || message.readUInt16BE(10) > 1) return undefined;
  let at = 12;
  let name = '';
  for (;;) {
    if (at >= message.length) return undefined;
    const len = message[at];
    if (len === 0) break;
    if (len > 63 || at + 1 + len > message.length) return undefined; // a pointer, or malformed
    const label = message.toString('latin1', at + 1, at + 1 + len);
    if (!/^[A-Za-z0-9_-]+$/.test(label)) return undefined; // dns-packet's escaping of other bytes: the general path
    name += (name === '' ? '' : '.') + label.toLowerCase();
    at += 1 + len;
  }
  const end = at + 5; // the root label, QTYPE, QCLASS
  if (end > message.length) return undefined;
  const qtype = message.readUInt16BE(at + 1);
  if (message.readUInt16BE(at + 3) !== 1) return undefined; // not IN
  if (message.readUInt16BE(10) === 1) {
    // the one additional must be an OPT at the root (EDNS): its payload size is the limit
    if (end + 11 > message.length || message[end] !== 0 || message.readUInt16BE(end + 1) !== 41) return undefined;
  }
  const limit = message.readUInt16BE(10) === 1 ? Math.max(512, message.readUInt16BE(end + 3)) : 512;
  const a = memoAnswer(table, name, qtype);
  const ttl = Number.isInteger(table.ttl) ? table.ttl : 5;
  const qlen = end - 12;
  const size = 12 + qlen + 16 * a.addresses.length;
  if (size > limit) return undefined; // truncation: the general path
  const out = Buffer.allocUnsafe(size);
  message.copy(out, 0, 0, 2); // id
  out.writeUInt16BE(0x8000 | AUTHORITATIVE_ANSWER | (flags & RECURSION_DESIRED) | RCODE[a.rcode], 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(a.addresses.length, 6);
  out.writeUInt32BE(0, 8);
  message.copy(out, 12, 12, end);
  let w = 12 + qlen;
  for (const ip of a.addresses) {
    out.writeUInt16BE(0xc00c, w);
    out.writeUInt16BE(1, w + 2); // A
    out.writeUInt16BE(1, w + 4); // IN
    out.writeUInt32BE(ttl, w + 6);
    out.writeUInt16BE(4, w + 10);
    const [b0, b1, b2, b3] = ip.split('.');
    out[w + 12] = Number(b0);
    out[w + 13] = Number(b1);
    out[w + 14] = Number(b2);
    out[w + 15] = Number(b3);
    w += 16;
  }
  return out;
}

/**
 * A response to one query datagram, or undefined when it is too short to answer at all.
 * Malformed → FORMERR; not a standard query → NOTIMP; more or less than one question → FORMERR.
 * The common query is answered by a direct path (memoised answers, no decode or encode); the
 * rest through dns-packet ({@link respondGeneral}); both give the same response (decoded) to what both answer.
 * @param {RecordTable} table
 * @param {Buffer} message
 * @returns {Buffer | undefined}
 */
export function respond(table, message) {
  if (message.length < 12) return undefined;
  return respondFast(table, message) ?? respondGeneral(table, message);
}

/**
 * {@link respond} through dns-packet for every query (decode, answer, encode).
 * @param {RecordTable} table
 * @param {Buffer} message
 * @returns {Buffer | undefined}
 */
export function respondGeneral(table, message) {
  if (message.length < 12) return undefined;
  const id = message.readUInt16BE(0);
  const rd = message.readUInt16BE(2) & RECURSION_DESIRED;
  const bare = (rcode, questions = []) => dnsPacket.encode({ id, type: 'response', flags: AUTHORITATIVE_ANSWER | rd | rcode, questions });
  if (message.readUInt16BE(2) & 0x8000) return undefined; // a response: never answer one
  let query;
  try {
    query = dnsPacket.decode(message);
  } catch {
    return bare(RCODE.FORMERR);
  }
  if (query.opcode !== 'QUERY') return bare(RCODE.NOTIMP);
  if (!query.questions || query.questions.length !== 1) return bare(RCODE.FORMERR);
  const q = query.questions[0];
  const a = answer(table, q);
  const ttl = Number.isInteger(table.ttl) ? table.ttl : 5;
  const opt = (query.additionals ?? []).find((r) => r.type === 'OPT');
  const limit = Math.max(512, opt?.udpPayloadSize ?? 512);
  const response = {
    id,
    type: 'response',
    flags: AUTHORITATIVE_ANSWER | rd | RCODE[a.rcode],
    questions: [q],
    answers: a.addresses.map((data) => ({ name: q.name, type: 'A', class: 'IN', ttl, data })),
  };
  const out = dnsPacket.encode(response);
  if (out.length <= limit) return out;
  return dnsPacket.encode({ ...response, flags: response.flags | TRUNCATED_RESPONSE, answers: [] });
}

/**
 * Serves `table()` over UDP on `address:port`. Resolves once bound.
 * @param {{ address: string, port: number, table: () => RecordTable }} options
 * @returns {Promise<{ address: string, port: number, close(): Promise<void> }>}
 */
export function startDnsServer(options) {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  socket.on('message', (msg, rinfo) => {
    let out;
    try {
      out = respond(options.table(), msg);
    } catch {
      out = msg.length >= 12 ? dnsPacket.encode({ id: msg.readUInt16BE(0), type: 'response', flags: RCODE.SERVFAIL, questions: [] }) : undefined;
    }
    if (out) socket.send(out, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.port, options.address, () => {
      socket.off('error', reject);
      const bound = socket.address();
      resolve({
        address: bound.address,
        port: bound.port,
        close: () => new Promise((r) => socket.close(() => r())),
      });
    });
  });
}

/**
 * Reads a records file; throws with the reason when it is not a table.
 * @param {string} file
 * @returns {RecordTable}
 */
export function readRecords(file) {
  const t = JSON.parse(readFileSync(file, 'utf8'));
  if (typeof t !== 'object' || t === null || typeof t.domain !== 'string' || typeof t.records !== 'object' || t.records === null) throw new Error(`${file}: expected {domain, ttl, records}`);
  for (const [name, ips] of Object.entries(t.records)) {
    if (!Array.isArray(ips) || ips.some((ip) => typeof ip !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip))) throw new Error(`${file}: records[${JSON.stringify(name)}] must be a list of IPv4 addresses`);
  }
  return t;
}

/**
 * Keeps a table loaded from `file`, reloading it when the file is replaced (a rename into
 * place fires the directory watch; a half-second stat poll catches what a watch misses).
 * @param {string} file
 * @param {(message: string) => void} [log]
 */
export function watchRecords(file, log = () => undefined) {
  /** @type {RecordTable} */
  let table = { domain: '', records: {} };
  let seen = '';
  const load = () => {
    let st;
    try {
      st = statSync(file);
    } catch {
      return;
    }
    const stamp = `${st.ino}:${st.mtimeMs}:${st.size}`;
    if (stamp === seen) return;
    try {
      table = readRecords(file);
      seen = stamp;
      log(`loaded ${Object.keys(table.records).length} name(s) from ${file}`);
    } catch (e) {
      seen = stamp;
      log(`kept the previous records: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  load();
  const watcher = watch(dirname(file), (_event, name) => {
    if (name === null || name === basename(file)) load();
  });
  const timer = setInterval(load, 500);
  timer.unref();
  return {
    table: () => table,
    close() {
      watcher.close();
      clearInterval(timer);
    },
  };
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--listen' || a === '--records') out[a.slice(2)] = argv[++i];
    else throw new Error(`unknown argument ${a} (expected --listen ADDRESS:PORT --records FILE)`);
  }
  if (!out.listen || !out.records) throw new Error('usage: dns-server.mjs --listen ADDRESS:PORT --records FILE');
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(out.listen);
  if (!m) throw new Error(`--listen ${out.listen}: expected an IPv4 ADDRESS:PORT, e.g. 10.244.1.1:53`);
  return { address: m[1], port: Number(m[2]), records: out.records };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const log = (m) => process.stderr.write(`${new Date().toISOString()} dns: ${m}\n`);
  const records = watchRecords(args.records, log);
  const server = await startDnsServer({ address: args.address, port: args.port, table: records.table });
  log(`answering on ${server.address}:${server.port}`);
  const stop = () => {
    records.close();
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// run as its own script only: bundled into another program (flo's agent release is one file),
// import.meta.url is that program's, which is also process.argv[1]
if (process.argv[1] !== undefined && /(^|[\\/])dns-server\.mjs$/.test(process.argv[1]) && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    process.stderr.write(`dns: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
}
