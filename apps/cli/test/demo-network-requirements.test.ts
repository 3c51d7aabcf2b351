// `flo demo --network`'s requirements (pure, from injected facts): each missing piece is named
// with its fix, all at once, and nothing is missing on a machine that has everything. The
// refusal itself, run by a real user who is not root, is in test/e2e/demo-network.test.ts.
import { describe, expect, it } from 'vitest';
import { networkDemoMissing, type NetworkDemoFacts } from '../src/commands/demo.js';

const ready: NetworkDemoFacts = { root: true, containerRuntime: true, busybox: true, firewall: true, cniPluginsMissing: [] };
const ROOT = 'root: it makes network namespaces, users and sshd servers (run it as root, e.g. sudo flo demo --network)';

describe('flo demo --network: what it needs', () => {
  it.each<[string, Partial<NetworkDemoFacts>, string[]]>([
    ['a machine with everything', {}, []],
    ['not root', { root: false }, [ROOT]],
    ['not root: what the fleet lacks as root is not guessed at', { root: false, fleetProblem: 'sshd is not installed (apt-get install -y openssh-server)' }, [ROOT]],
    ['root, but the fleet lacks a tool', { fleetProblem: 'nsenter is not installed' }, ['nsenter is not installed']],
    ['no runc or crun', { containerRuntime: false }, ['runc or crun (apt-get install -y runc)']],
    ['no static busybox', { busybox: false }, ['a static busybox at /bin/busybox for the sample image (apt-get install -y busybox-static)']],
    ['no firewall', { firewall: false }, ['nft or iptables (apt-get install -y nftables)']],
    ['CNI plugins missing', { cniPluginsMissing: ['host-local', 'portmap'] }, ['the CNI plugins host-local, portmap in /usr/lib/cni (apt-get install -y containernetworking-plugins)']],
    [
      'nothing at all: every piece, in one answer',
      { root: false, containerRuntime: false, busybox: false, firewall: false, cniPluginsMissing: ['bridge', 'host-local', 'portmap'] },
      [
        ROOT,
        'runc or crun (apt-get install -y runc)',
        'a static busybox at /bin/busybox for the sample image (apt-get install -y busybox-static)',
        'nft or iptables (apt-get install -y nftables)',
        'the CNI plugins bridge, host-local, portmap in /usr/lib/cni (apt-get install -y containernetworking-plugins)',
      ],
    ],
  ])('%s', (_what, facts, missing) => {
    expect(networkDemoMissing({ ...ready, ...facts })).toEqual(missing);
  });
});
