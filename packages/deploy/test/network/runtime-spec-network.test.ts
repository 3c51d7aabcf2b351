import { describe, expect, it } from 'vitest';
import { runtimeSpec } from '../../src/image/index.js';

const image = { config: { Entrypoint: ['/bin/sh'] } };

describe('runtimeSpec with pod networking (pure)', () => {
  it('joins the pod namespace by path and binds resolv.conf read-only', () => {
    const { spec } = runtimeSpec({ image, hostname: 'web-1', rootless: false, network: { netns: '/run/netns/flo-web-1', resolvConf: '/home/u/.flotilla/cni/resolv/web-1.conf' } });
    expect(spec.linux.namespaces).toContainEqual({ type: 'network', path: '/run/netns/flo-web-1' });
    expect(spec.mounts).toContainEqual({ destination: '/etc/resolv.conf', type: 'none', source: '/home/u/.flotilla/cni/resolv/web-1.conf', options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  });

  it('without a network nothing changes: no network namespace (the host network), no resolv.conf mount', () => {
    const { spec } = runtimeSpec({ image, hostname: 'web-1', rootless: false });
    expect(spec.linux.namespaces.map((n) => n.type)).not.toContain('network');
    expect(spec.mounts.map((m) => m.destination)).not.toContain('/etc/resolv.conf');
  });
});
