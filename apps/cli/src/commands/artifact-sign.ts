import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: 'sign --key KEY <artifact>',
  description:
    'Signs an artifact with an ssh private key in OpenSSH\'s signature format (ssh-keygen -Y sign, namespace flotilla-artifact) and writes <artifact>.sig. Hosts with ~/.flotilla/allowed_signers verify it before switching a release.',
  deployOptions: false,
  options: [{ name: 'key', type: 'string', value: 'KEY', description: 'private key file (e.g. ~/.ssh/id_ed25519)' }],
  async run(ctx) {
    const key = ctx.args.options.key;
    const [artifact, ...extra] = ctx.args.positionals;
    if (typeof key !== 'string') throw new UsageError('sign: --key KEY is required');
    if (!artifact || extra.length) throw new UsageError('sign: expected one <artifact>');
    const expand = (p: string): string => resolve(ctx.cwd, p.startsWith('~/') ? `${homedir()}/${p.slice(2)}` : p);
    const { signArtifact } = await import('@flotilla/deploy');
    const sig = await signArtifact(expand(artifact), { key: expand(key) });
    ctx.stdout.write(`${sig}\n`);
    return 0;
  },
};
