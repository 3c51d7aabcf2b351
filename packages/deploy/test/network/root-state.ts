import { execFileSync } from 'node:child_process';

/** The root namespace's routes, rules, links and named namespaces: an e2e suite must leave them exactly as it found them. */
export function rootNetworkState(): string {
  return execFileSync('sh', ['-c', 'PATH=$PATH:/usr/sbin:/sbin; ip -4 route show table all; ip -6 route show table all; nft list ruleset; ip -o link | cut -d: -f2 | sort; ls /run/netns 2>/dev/null; true'], { encoding: 'utf8' });
}
