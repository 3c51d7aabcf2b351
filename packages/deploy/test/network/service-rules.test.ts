import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIPv4, planServiceRules, renderIptablesRules, renderNftRules, iptablesApplyScript, type ServiceVip } from '../../src/network/index.js';

/** A small reader of the nft script renderNftRules writes: VIP:port/proto and a random number → the DNAT target. */
function nftModel(text: string): Map<string, { n: number; pick: (r: number) => string | undefined; hairpin: Map<string, boolean> }> {
  const chains = new Map<string, string[]>();
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^ {2}chain (\S+) \{$/.exec(line);
    if (m) current = m[1]!;
    else if (line === '  }') current = undefined;
    else if (current) chains.set(current, [...(chains.get(current) ?? []), line.trim()]);
  }
  const out = new Map<string, { n: number; pick: (r: number) => string | undefined; hairpin: Map<string, boolean> }>();
  const elements = /elements = \{ ([^}]*) \}/.exec(text.slice(text.indexOf('map service-ips'), text.indexOf('set no-endpoints')))?.[1] ?? '';
  for (const el of elements.split(',')) {
    const em = /(\S+) \. (tcp|udp) \. (\d+) : goto (\S+)/.exec(el.trim());
    if (!em) continue;
    const svc = chains.get(em[4]!)!;
    const vm = /numgen random mod (\d+) vmap \{ ([^}]*) \}/.exec(svc[0]!)!;
    const n = Number(vm[1]);
    const table = new Map<number, string>();
    for (const entry of vm[2]!.split(',')) {
      const parts = entry.trim().split(' ');
      const i = parts[0]!;
      const target = parts[parts.length - 1];
      table.set(Number(i), target!);
    }
    const hairpin = new Map<string, boolean>();
    const pick = (r: number): string | undefined => {
      const ep = chains.get(table.get(r) ?? '');
      const dnat = ep?.map((l) => /dnat to (\S+)$/.exec(l)?.[1]).find(Boolean);
      const ip = dnat?.split(':')[0];
      if (dnat && ip) hairpin.set(dnat, ep!.some((l) => l.startsWith(`ip saddr ${ip} meta mark set`)));
      return dnat;
    };
    out.set(`${em[1]!}:${em[3]!}/${em[2]!}`, { n, pick, hairpin });
  }
  return out;
}

/** Each endpoint's share of new connections under iptables' rules (exact products of the rendered probabilities). */
function iptablesShares(nat: string): Map<string, Map<string, number>> {
  const lines = nat.split('\n');
  const out = new Map<string, Map<string, number>>();
  for (const l of lines) {
    const m = /^-A FLO-SERVICES -d (\S+)\/32 -p (\w+) -m \w+ --dport (\d+) .* -j (\S+)$/.exec(l);
    if (!m) continue;
    const shares = new Map<string, number>();
    let reach = 1;
    for (const r of lines.filter((x) => x.startsWith(`-A ${m[4]!} `))) {
      const p = /--probability (\S+)/.exec(r);
      const sep = /-j (\S+)$/.exec(r)![1]!;
      const prob = p ? Number(p[1]) : 1;
      const dnat = lines.find((x) => x.startsWith(`-A ${sep} `) && x.includes('DNAT'))!;
      const target = /--to-destination (\S+)$/.exec(dnat)![1]!;
      shares.set(target, (shares.get(target) ?? 0) + reach * prob);
      reach *= 1 - prob;
    }
    out.set(`${m[1]!}:${m[3]!}/${m[2]!}`, shares);
  }
  return out;
}

const ip = fc.integer({ min: 0x0a000001, max: 0x0affffff }).map(formatIPv4);
const endpoint = fc.record({ ip, port: fc.integer({ min: 1, max: 65535 }) });
const services = fc
  .uniqueArray(fc.record({ vip: ip, port: fc.integer({ min: 1, max: 65535 }), protocol: fc.constantFrom('tcp' as const, 'udp' as const) }), {
    selector: (s) => `${s.vip} ${s.port} ${s.protocol}`,
    maxLength: 6,
  })
  .chain((keys) => fc.tuple(...keys.map((k) => fc.uniqueArray(endpoint, { selector: (e) => `${e.ip}:${e.port}`, maxLength: 7 }).map((endpoints): ServiceVip => ({ name: `svc ${k.vip}`, ...k, endpoints })))));

describe('service rules (pure)', () => {
  it('nft: every endpoint is reachable, each by exactly one of the N equally likely numbers (property)', () => {
    fc.assert(
      fc.property(services, fc.boolean(), (svcs, hairpin) => {
        const model = nftModel(renderNftRules({ services: svcs, hairpin }));
        for (const s of svcs) {
          const key = `${s.vip}:${s.port}/${s.protocol}`;
          if (s.endpoints.length === 0) {
            expect(model.has(key)).toBe(false);
            continue;
          }
          const m = model.get(key)!;
          expect(m.n).toBe(s.endpoints.length);
          const picked = Array.from({ length: m.n }, (_, r) => m.pick(r));
          // A bijection from 0..N-1 onto the endpoints: each gets 1/N of numgen's uniform draws.
          expect(picked.slice().sort()).toEqual(s.endpoints.map((e) => `${e.ip}:${e.port}`).sort());
          for (const v of m.hairpin.values()) expect(v).toBe(hairpin);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('iptables: every endpoint gets 1/n of the connections under the probability chain (property)', () => {
    fc.assert(
      fc.property(services, (svcs) => {
        const shares = iptablesShares(renderIptablesRules({ services: svcs }).nat);
        for (const s of svcs) {
          const key = `${s.vip}:${s.port}/${s.protocol}`;
          if (!s.endpoints.length) {
            expect(shares.has(key)).toBe(false);
            continue;
          }
          const got = shares.get(key)!;
          expect([...got.keys()].sort()).toEqual(s.endpoints.map((e) => `${e.ip}:${e.port}`).sort());
          for (const v of got.values()) expect(Math.abs(v - 1 / s.endpoints.length)).toBeLessThan(1e-8);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('renders the same text whatever the order of services and endpoints', () => {
    fc.assert(
      fc.property(services, fc.integer(), (svcs, seed) => {
        const shuffled = [...svcs].reverse().map((s) => ({ ...s, endpoints: seed % 2 ? [...s.endpoints].reverse() : s.endpoints }));
        expect(renderNftRules({ services: shuffled })).toBe(renderNftRules({ services: svcs }));
        expect(renderIptablesRules({ services: shuffled })).toEqual(renderIptablesRules({ services: svcs }));
      }),
    );
  });

  it('replaces the table in one transaction: the script declares, deletes and recreates it', () => {
    const text = renderNftRules({ services: [{ name: 'web', vip: '10.96.0.10', port: 80, endpoints: [{ ip: '10.244.0.5', port: 8080 }] }] });
    const lines = text.split('\n');
    expect(lines.slice(0, 3)).toEqual(['table ip flotilla {}', 'delete table ip flotilla', 'table ip flotilla {']);
    // Nothing outside our table is named.
    expect(lines.filter((l) => /^\S/.test(l) && !l.startsWith('table ip flotilla') && !l.startsWith('delete table ip flotilla') && l !== '}')).toEqual([]);
  });

  it('puts VIP ports without endpoints in the reject set, not the DNAT map', () => {
    const text = renderNftRules({ services: [{ name: 'empty', vip: '10.96.0.3', port: 80, endpoints: [] }] });
    expect(text).toContain('elements = { 10.96.0.3 . tcp . 80 }');
    expect(text).not.toContain('goto svc-');
    const ipt = renderIptablesRules({ services: [{ name: 'empty', vip: '10.96.0.3', port: 80, endpoints: [] }] });
    expect(ipt.filter).toContain('-A FLO-NOEP -d 10.96.0.3/32 -p tcp -m tcp --dport 80');
    expect(ipt.nat).not.toContain('FLO-SVC-');
  });

  it('iptables: stale FLO- chains are flushed and deleted in the same restore; the jumps are added once', () => {
    const script = iptablesApplyScript(renderIptablesRules({ services: [] }));
    expect(script).toContain("grep -vxF -e 'FLO-SERVICES' -e 'FLO-POSTROUTING'");
    expect(script).toContain('for c in $s; do echo ":$c - [0:0]"; done; for c in $s; do echo "-X $c"; done');
    expect(script).toContain('iptables -t nat -C PREROUTING -j FLO-SERVICES 2>/dev/null || iptables -t nat -I PREROUTING -j FLO-SERVICES');
  });

  it('reports every bad field at once, with where', () => {
    expect(() =>
      planServiceRules({
        services: [
          { name: 'a', vip: '10.96.0.300', port: 80, endpoints: [] },
          { name: 'b', vip: '10.96.0.1', port: 0, endpoints: [{ ip: 'x', port: 1 }] },
          { name: 'c', vip: '10.96.0.2', port: 80, endpoints: [] },
          { name: 'd', vip: '10.96.0.2', port: 80, endpoints: [] },
        ],
      }),
    ).toThrow(/services\[0\]\.vip: expected an IPv4 address, got "10.96.0.300"[\s\S]*services\[1\]\.port: expected 1..65535, got 0[\s\S]*services\[1\]\.endpoints\[0\]\.ip[\s\S]*services\[3\]: 10.96.0.2:80\/tcp is also c's/);
  });

  it('keeps quotes and shell characters of names out of the rules', () => {
    const text = renderNftRules({ services: [{ name: 'x"; flush ruleset; "', vip: '10.96.0.9', port: 1, endpoints: [{ ip: '10.0.0.1', port: 2 }] }] });
    expect(text).not.toContain('flush ruleset;');
    expect(text).toContain('comment "x___flush_ruleset___');
  });
});
