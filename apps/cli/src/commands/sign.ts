/**
 * `flo sign --key KEY`: signs a release artifact or an image's manifest digest with
 * ssh-keygen.
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: 'sign --key KEY <artifact | image>',
  formats: ['text'], // prints no objects: -o is refused (exit 2)
  description:
    'Signs with an ssh private key in OpenSSH\'s signature format (ssh-keygen -Y sign) and writes <file>.sig. An artifact (e.g. app.tar.gz) is signed as a file, namespace flotilla-artifact; hosts with ~/.flotilla/allowed_signers verify it before switching a release. An image (an OCI layout directory, or an uncompressed oci-archive or docker-archive tar such as `flo image build` writes; --image to insist) is read and verified, and its manifest digest is signed, namespace flotilla-image; `flo image inspect` then shows signedBy.',
  deployOptions: false,
  options: [
    { name: 'key', type: 'string', value: 'KEY', description: 'private key file (e.g. ~/.ssh/id_ed25519)' },
    { name: 'image', type: 'boolean', description: 'sign as an image (manifest digest, namespace flotilla-image) even if it does not look like one' },
  ],
  async run(ctx) {
    const key = ctx.args.options.key;
    const [artifact, ...extra] = ctx.args.positionals;
    if (typeof key !== 'string') throw new UsageError('sign: --key KEY is required');
    if (!artifact || extra.length) throw new UsageError('sign: expected one <artifact>');
    const expand = (p: string): string => resolve(ctx.cwd, p.startsWith('~/') ? `${homedir()}/${p.slice(2)}` : p);
    const path = expand(artifact);
    const image = await import('@flotilla/deploy/image');
    if (ctx.args.options.image === true || (await image.looksLikeImage(path))) {
      const r = await image.signImage(path, { key: expand(key) });
      ctx.stderr.write(`flo: signed image ${r.digest} (namespace ${image.IMAGE_SIGNATURE_NAMESPACE})\n`);
      ctx.stdout.write(`${r.signature}\n`);
      return 0;
    }
    const { signArtifact } = await import('@flotilla/deploy');
    const sig = await signArtifact(path, { key: expand(key) });
    ctx.stdout.write(`${sig}\n`);
    return 0;
  },
};
