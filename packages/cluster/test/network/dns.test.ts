// DNS: the record table (pure, from services and their status), the answer logic (pure),
// and the real resolver (host/dns-server.mjs) over UDP on loopback, queried by Node's own
// resolver (c-ares) — a client that shares no code with the server — and by raw packets for
// the edge cases; the records file is replaced atomically and reloaded.
import { Resolver } from 'node:dns/promises';
import dgram from 'node:dgram';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { respondGeneral } from '../../host/dns-server.mjs';
import { afterAll, describe, expect, it } from 'vitest';
import { answerDnsQuery, dnsHostProgram, dnsRecordTable, respondDnsQuery, startDnsServer, watchDnsRecords, type DnsRecordTable, type Service } from '../../src/index.js';

const svc = (name: string, status: Service['status'], hostnames?: string[]): Service => ({
  apiVersion: 'flotilla.dev/v1',
  kind: 'Service',
  metadata: { name },
  spec: { selector: 'app=web', ports: [{ port: 80 }], ...(hostnames ? { hostnames } : {}) },
  ...(status ? { status } : {}),
});

/** The response code dns-packet decodes (its types leave it out). */
const rcodeOf = (p: dnsPacket.DecodedPacket): string | undefined => (p as { rcode?: string }).rcode;

const TABLE: DnsRecordTable = dnsRecordTable({}, [
  svc('web', { clusterIP: '10.96.0.1', endpoints: [{ instance: 'web-abcde', address: '10.244.0.5', port: 8080 }, { instance: 'web-fghij', address: '10.244.1.7', port: 8080 }] }, ['example.com']),
  svc('beta', { clusterIP: '10.96.0.2', endpoints: [] }, ['beta.example.com']),
  // the port: form, no VIP: the name answers with the ready endpoints (a process: its host's address)
  svc('legacy', { endpoints: [{ instance: 'legacy-x1', address: '192.0.2.11', port: 31000 }, { instance: 'legacy-x2', address: '192.0.2.12', port: 31001 }, { instance: 'legacy-x3', address: '192.0.2.11', port: 31002 }] }),
  svc('pending', undefined),
]);

describe('the record table', () => {
  it('VIPs, hostnames, instances; headless for a service without a VIP; nothing for one with no address', () => {
    expect(TABLE).toEqual({
      domain: 'flotilla.local',
      ttl: 5,
      records: {
        'beta.example.com': ['10.96.0.2'],
        'beta.flotilla.local': ['10.96.0.2'],
        'example.com': ['10.96.0.1'],
        'legacy-x1.legacy.flotilla.local': ['192.0.2.11'],
        'legacy-x2.legacy.flotilla.local': ['192.0.2.12'],
        'legacy-x3.legacy.flotilla.local': ['192.0.2.11'],
        'legacy.flotilla.local': ['192.0.2.11', '192.0.2.12'],
        'web-abcde.web.flotilla.local': ['10.244.0.5'],
        'web-fghij.web.flotilla.local': ['10.244.1.7'],
        'web.flotilla.local': ['10.96.0.1'],
      },
    });
    expect(Object.keys(dnsRecordTable({ domain: 'corp.internal' }, [svc('a', { clusterIP: '10.96.0.9', endpoints: [] })]).records)).toEqual(['a.corp.internal']);
  });
});

describe('the answer logic', () => {
  it('A records for known names (any case, with or without the final dot); NODATA for other types and empty non-terminals; NXDOMAIN otherwise; REFUSED for other classes', () => {
    expect(answerDnsQuery(TABLE, { name: 'web.flotilla.local', type: 'A' })).toEqual({ rcode: 'NOERROR', addresses: ['10.96.0.1'] });
    expect(answerDnsQuery(TABLE, { name: 'WEB.Flotilla.Local.', type: 'A' })).toEqual({ rcode: 'NOERROR', addresses: ['10.96.0.1'] });
    expect(answerDnsQuery(TABLE, { name: 'web.flotilla.local', type: 'AAAA' })).toEqual({ rcode: 'NOERROR', addresses: [] });
    expect(answerDnsQuery(TABLE, { name: 'flotilla.local', type: 'A' })).toEqual({ rcode: 'NOERROR', addresses: [] });
    expect(answerDnsQuery(TABLE, { name: 'web.flotilla.local', type: 'A', class: 'CH' })).toEqual({ rcode: 'REFUSED', addresses: [] });
    expect(answerDnsQuery(TABLE, { name: 'local', type: 'A' })).toEqual({ rcode: 'NOERROR', addresses: [] }); // above flotilla.local: exists, no records
    for (const name of ['nope.flotilla.local', 'www.example.com', 'google.com', 'lotilla.local', 'constructor', '__proto__', ''])
      expect(answerDnsQuery(TABLE, { name, type: 'A' }), name).toEqual({ rcode: 'NXDOMAIN', addresses: [] });
  });

  it('raw packets: the question echoed, authoritative, RD copied, no recursion offered; FORMERR, NOTIMP; responses and runts ignored', () => {
    const query = dnsPacket.encode({ id: 4242, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'example.com' }] });
    const r = dnsPacket.decode(respondDnsQuery(TABLE, query)!);
    expect([r.id, r.type, rcodeOf(r), r.flag_aa, r.flag_rd, r.flag_ra, r.questions, r.answers]).toEqual([
      4242, 'response', 'NOERROR', true, true, false, [{ name: 'example.com', type: 'A', class: 'IN' }], [{ name: 'example.com', type: 'A', class: 'IN', ttl: 5, data: '10.96.0.1', flush: false }],
    ]);
    const bad = Buffer.from(query);
    bad.writeUInt16BE(0x01ff, 4); // 511 questions, and no bytes for them
    expect(rcodeOf(dnsPacket.decode(respondDnsQuery(TABLE, bad)!))).toBe('FORMERR');
    const notify = dnsPacket.encode({ id: 7, type: 'query', flags: 4 << 11, questions: [{ type: 'SOA', name: 'flotilla.local' }] }); // opcode 4: NOTIFY
    expect(rcodeOf(dnsPacket.decode(respondDnsQuery(TABLE, notify)!))).toBe('NOTIMP');
    expect(respondDnsQuery(TABLE, Buffer.alloc(5))).toBeUndefined();
    expect(respondDnsQuery(TABLE, respondDnsQuery(TABLE, query)!)).toBeUndefined();
  });

  it('an answer larger than the client can take is truncated (TC) for a retry over TCP', () => {
    const many = { domain: 'flotilla.local', ttl: 5, records: { 'big.flotilla.local': Array.from({ length: 60 }, (_, i) => `10.244.0.${i + 1}`) } };
    const query = dnsPacket.encode({ id: 1, type: 'query', questions: [{ type: 'A', name: 'big.flotilla.local' }] });
    const r = dnsPacket.decode(respondDnsQuery(many, query)!);
    expect([r.flag_tc, r.answers?.length]).toEqual([true, 0]);
  });
});

describe('the direct path answers as dns-packet does', () => {
  it('property: for any query (names known, unknown, in any case; A, AAAA, ANY, other classes; RD; EDNS or not; a second question), respond decodes equal to the general path — or answers in full, within the size the client takes, where the general path (no name compression) truncated', () => {
    const many = { ...TABLE, records: { ...TABLE.records, 'big.flotilla.local': Array.from({ length: 40 }, (_, i) => `10.244.9.${i + 1}`) } };
    const known = Object.keys(many.records);
    const label = fc.stringMatching(/^[a-z0-9_-]{1,12}$/);
    const name = fc.oneof(
      fc.constantFrom(...known, 'flotilla.local', 'local', ''),
      fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.')),
      fc.tuple(fc.constantFrom(...known), label).map(([k, l]) => `${l}.${k}`),
    );
    const recase = (n: string, mask: number): string => [...n].map((ch, i) => ((mask >> i % 30) & 1 ? ch.toUpperCase() : ch)).join('');
    fc.assert(
      fc.property(name, fc.integer({ min: 0, max: 2 ** 30 }), fc.constantFrom('A', 'AAAA', 'ANY', 'TXT'), fc.constantFrom('IN', 'CH'), fc.boolean(), fc.option(fc.integer({ min: 0, max: 4096 })), fc.boolean(), fc.integer({ min: 0, max: 65535 }), (n, mask, type, klass, rd, edns, two, id) => {
        const q = { name: recase(n, mask), type, class: klass } as { name: string; type: 'A'; class: 'IN' };
        const message = dnsPacket.encode({
          id,
          type: 'query',
          flags: rd ? dnsPacket.RECURSION_DESIRED : 0,
          questions: two ? [q, { name: 'web.flotilla.local', type: 'A', class: 'IN' }] : [q],
          ...(edns !== null ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: edns }] } : {}),
        } as Parameters<typeof dnsPacket.encode>[0]);
        const fast = respondDnsQuery(many, message);
        const general = respondGeneral(many, message);
        expect(fast === undefined).toBe(general === undefined);
        if (!fast || !general) return;
        const [f, g] = [dnsPacket.decode(fast), dnsPacket.decode(general)];
        if (g.flag_tc && !f.flag_tc) {
          // the direct path compresses the answers' names: what the general path had to truncate may fit whole
          expect(fast.length).toBeLessThanOrEqual(Math.max(512, edns ?? 512));
          expect(f.answers!.map((a) => (a as { data: unknown }).data)).toEqual(answerDnsQuery(many, { name: n, type }).addresses);
          expect({ ...f, answers: [], flags: (f.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, flag_tc: true }).toEqual(g);
        } else expect(f).toEqual(g);
      }),
      { numRuns: 3000 },
    );
  });

  it('the question is echoed with the case the client sent (0x20), and the answers name it', () => {
    const query = dnsPacket.encode({ id: 9, type: 'query', questions: [{ type: 'A', name: 'WeB.fLoTiLlA.LoCaL' }] });
    const r = dnsPacket.decode(respondDnsQuery(TABLE, query)!);
    expect(r.questions).toEqual([{ name: 'WeB.fLoTiLlA.LoCaL', type: 'A', class: 'IN' }]);
    expect(r.answers?.map((a) => [a.name, (a as { data: unknown }).data])).toEqual([['WeB.fLoTiLlA.LoCaL', '10.96.0.1']]);
    // the direct path answered it: its answer names the question by a pointer (2 bytes, not the 20 of the name)
    expect(respondDnsQuery(TABLE, query)!.length).toBe(respondGeneral(TABLE, query)!.length - 18);
  });
});

const dir = mkdtempSync(join(tmpdir(), 'flotilla-dns-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the resolver over UDP on loopback', () => {
  it("answers Node's resolver (c-ares): VIPs, hostnames, instances; NXDOMAIN for the rest; reloads a replaced records file", async () => {
    const file = join(dir, 'records.json');
    writeFileSync(file, JSON.stringify(TABLE));
    const records = watchDnsRecords(file);
    const server = await startDnsServer({ address: '127.0.0.1', port: 0, table: records.table });
    try {
      const resolver = new Resolver({ timeout: 2000, tries: 1 });
      resolver.setServers([`127.0.0.1:${server.port}`]);
      expect(await resolver.resolve4('web.flotilla.local')).toEqual(['10.96.0.1']);
      expect(await resolver.resolve4('beta.example.com')).toEqual(['10.96.0.2']);
      expect(await resolver.resolve4('web-fghij.web.flotilla.local')).toEqual(['10.244.1.7']);
      expect((await resolver.resolve4('legacy.flotilla.local')).sort()).toEqual(['192.0.2.11', '192.0.2.12']);
      await expect(resolver.resolve4('nothing.flotilla.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
      await expect(resolver.resolve4('registry.npmjs.org')).rejects.toMatchObject({ code: 'ENOTFOUND' }); // no forwarding
      // the controller replaces the file (write + rename): the next answers come from the new one
      const next = { ...TABLE, records: { ...TABLE.records, 'web.flotilla.local': ['10.96.0.77'] } };
      writeFileSync(`${file}.tmp`, JSON.stringify(next));
      renameSync(`${file}.tmp`, file);
      await until('the new VIP', async () => (await resolver.resolve4('web.flotilla.local'))[0] === '10.96.0.77');
      // a broken file keeps the previous table
      writeFileSync(`${file}.tmp`, '{"domain": ');
      renameSync(`${file}.tmp`, file);
      await new Promise((r) => setTimeout(r, 700));
      expect(await resolver.resolve4('web.flotilla.local')).toEqual(['10.96.0.77']);
      // a raw client: the id comes back, and a garbage datagram gets FORMERR, not silence
      const sock = dgram.createSocket('udp4');
      const reply = new Promise<Buffer>((r) => sock.once('message', r));
      sock.send(Buffer.from([0x12, 0x34, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 1]), server.port, '127.0.0.1');
      const got = dnsPacket.decode(await reply);
      sock.close();
      expect([got.id, rcodeOf(got)]).toEqual([0x1234, 'FORMERR']);
    } finally {
      records.close();
      await server.close();
    }
  });

  it('runs as a program (what a host runs): node dns-server.mjs --listen … --records …, from the files dnsHostProgram names', async () => {
    const program = dnsHostProgram();
    expect(Object.keys(program.packages)).toEqual(['dns-packet', '@leichtgewicht/ip-codec']);
    const { spawn } = await import('node:child_process');
    const file = join(dir, 'program.json');
    writeFileSync(file, JSON.stringify(TABLE));
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const port = sock.address().port;
    sock.close(); // a port that was free a moment ago
    const child = spawn(process.execPath, [program.script, '--listen', `127.0.0.1:${port}`, '--records', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    try {
      await until('the program to answer', () => Promise.resolve(err.includes('answering on')));
      const resolver = new Resolver({ timeout: 2000, tries: 1 });
      resolver.setServers([`127.0.0.1:${port}`]);
      expect(await resolver.resolve4('example.com')).toEqual(['10.96.0.1']);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    const bad = spawn(process.execPath, [program.script, '--listen', 'localhost:53', '--records', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let badErr = '';
    bad.stderr.on('data', (c: Buffer) => (badErr += c.toString()));
    expect(await new Promise((r) => bad.once('exit', r))).toBe(2);
    expect(badErr).toContain('--listen localhost:53: expected an IPv4 ADDRESS:PORT, e.g. 10.244.1.1:53');
  });
});
