import { describe, expect, it } from 'vitest';
import { assertNetworkTools, diffRoutes, parseNetworkTools, parseRoutes, syncRoutesScript, parseCidr, formatCidr, cidrsOverlap, subnetAddress } from '../../src/network/index.js';
import { syncRoutes } from '../../src/network/index.js';
import { Connection } from '../../src/index.js';

describe('routes (pure)', () => {
  it('parses ip route output, /32 routes and device routes included', () => {
    expect(parseRoutes('10.244.1.0/24 via 10.254.90.12 dev eth0 \n10.0.0.7 via 10.254.90.13 dev eth0\n10.96.0.0/16 dev eth0 scope link \n')).toEqual([
      { subnet: '10.244.1.0/24', via: '10.254.90.12' },
      { subnet: '10.0.0.7/32', via: '10.254.90.13' },
      { subnet: '10.96.0.0/16', dev: 'eth0' },
    ]);
  });

  it('diffs: a changed next hop is one removal and one addition', () => {
    const before = [{ subnet: '10.244.1.0/24', via: '10.0.0.2' }, { subnet: '10.244.2.0/24', via: '10.0.0.3' }];
    const after = [{ subnet: '10.244.1.0/24', via: '10.0.0.4' }, { subnet: '10.244.2.0/24', via: '10.0.0.3' }];
    expect(diffRoutes(before, after)).toEqual({ added: [after[0]], removed: [before[0]] });
  });

  it('replaces each wanted route and deletes only proto-73 routes it does not want', () => {
    const s = syncRoutesScript([{ subnet: '10.244.1.0/24', via: '10.0.0.2' }]);
    expect(s).toContain('ip route replace 10.244.1.0/24 via 10.0.0.2 proto $P');
    expect(s).toContain('ip -4 route show proto $P | while read -r dst rest');
    expect(s).toContain('want=" 10.244.1.0/24 "');
    expect(s).toMatch(/^P=73$/m);
  });

  it('refuses bad routes before touching the host', async () => {
    const never = new Connection('never', () => Promise.reject(new Error('must not connect')));
    await expect(syncRoutes(never, { routes: [{ subnet: '10.244.1.1/24', via: '10.0.0.2' }] })).rejects.toThrow(/routes\[0\]\.subnet.*10\.244\.1\.0\/24/);
    await expect(syncRoutes(never, { routes: [{ subnet: '10.244.1.0/24', via: 'host2' }] })).rejects.toThrow(/routes\[0\]\.via/);
    await expect(syncRoutes(never, { routes: [{ subnet: '10.244.0.0/16', via: '10.0.0.2' }, { subnet: '10.244.1.0/24', via: '10.0.0.3' }] })).rejects.toThrow(/overlap/);
    await expect(syncRoutes(never, { routes: [{ subnet: '10.244.1.0/24', via: '10.0.0.2' }, { subnet: '10.244.1.0/24', via: '10.0.0.3' }] })).rejects.toThrow(/one next hop per subnet/);
  });

  it('CIDR helpers', () => {
    expect(formatCidr(parseCidr('10.244.0.0/16')!)).toBe('10.244.0.0/16');
    expect(parseCidr('10.244.0.1/16')).toBeUndefined();
    expect(formatCidr(parseCidr('10.244.0.1/16', { strict: false })!)).toBe('10.244.0.0/16');
    expect(cidrsOverlap(parseCidr('10.96.0.0/16')!, parseCidr('10.0.0.0/8')!)).toBe(true);
    expect(cidrsOverlap(parseCidr('10.96.0.0/16')!, parseCidr('10.244.0.0/16')!)).toBe(false);
    expect(subnetAddress('10.244.3.0/24', 1)).toBe('10.244.3.1');
  });
});

describe('network tools', () => {
  it('lists everything missing, each with how to fix it', () => {
    const t = parseNetworkTools('h1', '/opt/cni', 'privilege none\npath ip /usr/sbin/ip\nplugin bridge\n', true);
    expect(t.firewall).toBeUndefined();
    expect(t.plugins).toEqual({ bridge: true, 'host-local': false, portmap: false, loopback: false });
    expect(() => assertNetworkTools(t)).toThrow(/h1 lacks what networking needs:\n {2}- root: .*NOPASSWD[\s\S]*CNI plugins host-local, portmap, loopback in \/opt\/cni: apt-get install -y containernetworking-plugins, or set the Host's spec.cniBinDir/);
  });

  it('prefers nft when it works, falls back to iptables', () => {
    const both = 'privilege root\npath nft /usr/sbin/nft\npath iptables /usr/sbin/iptables\npath iptables-save /usr/sbin/iptables-save\npath ip /usr/sbin/ip\nnftworks 1\niptablesworks 1\n';
    expect(parseNetworkTools('h', '/usr/lib/cni', both, false).firewall).toBe('nft');
    expect(parseNetworkTools('h', '/usr/lib/cni', both.replace('nftworks 1\n', ''), false).firewall).toBe('iptables');
    const none = parseNetworkTools('h', '/usr/lib/cni', 'privilege sudo\npath ip /sbin/ip\n', false);
    expect(none.missing).toEqual(['nftables or iptables: apt-get install -y nftables']);
  });
});
