/**
 * `flo image build|inspect`: the command's entry, dispatching to image-build.ts and
 * image-inspect.ts.
 */
import { UsageError } from '../cli/args.js';
import type { CommandModule } from '../cli/registry.js';
import { imageBuild } from './image-build.js';
import { imageFormats, imageInspect } from './image-inspect.js';

export const command: CommandModule = {
  usage: [
    'image build DIR --out FILE [--base IMAGE] [--entrypoint CMD] [--cmd ARGS] [--env K=V]... [--workdir D] [--user U] [--tag NAME:TAG]... [-o json|yaml]',
    '       flo image inspect IMAGE [-o json|yaml] [--allowed-signers FILE]',
  ].join('\n'),
  description: [
    'OCI images without Docker (DESIGN.md, Containers).',
    'build: an image whose top layer is DIR (one layer on top of --base), written as an oci-archive. Reproducible: the same',
    '  contents, modes and options give the same digest (file times and owners do not count). Prints the manifest digest.',
    '  --entrypoint/--cmd take a JSON array or sh-like words; --entrypoint clears the base image\'s Cmd unless --cmd is given.',
    'inspect: digest, tags, layers and config of IMAGE: oci:DIR[:tag], oci-archive:FILE[:tag], docker-archive:FILE[:name:tag],',
    '  or a bare path. Every blob is checked against its digest. signedBy when IMAGE has a signature (<path>.sig, made by',
    '  `flo sign --key KEY IMAGE`) and an allowed_signers file is known: --allowed-signers FILE (a missing or bad signature',
    '  then fails), else $FLO_ALLOWED_SIGNERS, else ~/.flotilla/allowed_signers if present (a bad signature is a warning).',
  ].join('\n'),
  formats: imageFormats,
  subcommands: ['build', 'inspect'],
  deployOptions: false,
  options: [
    { name: 'out', type: 'string', value: 'FILE', description: 'build: the oci-archive to write (e.g. web.oci.tar)' },
    { name: 'base', type: 'string', value: 'IMAGE', description: 'build: base image (its layers come first)' },
    { name: 'entrypoint', type: 'string', value: 'CMD', description: 'build: Entrypoint (JSON array or words)' },
    { name: 'cmd', type: 'string', value: 'ARGS', description: 'build: Cmd (JSON array or words)' },
    { name: 'env', type: 'string', multiple: true, value: 'K=V', description: 'build: add to Env (repeatable; a key given again replaces it)' },
    { name: 'workdir', type: 'string', value: 'D', description: 'build: WorkingDir (absolute)' },
    { name: 'user', type: 'string', value: 'U', description: 'build: User (name, uid or uid:gid)' },
    { name: 'tag', type: 'string', multiple: true, value: 'NAME:TAG', description: 'build: name the image in the archive (repeatable)' },
    { name: 'allowed-signers', type: 'string', value: 'FILE', description: 'inspect: verify the signature against this allowed_signers file' },
  ],
  async run(ctx) {
    const verb = ctx.args.positionals[0];
    switch (verb) {
      case 'build':
        return imageBuild(ctx);
      case 'inspect':
        return imageInspect(ctx);
      default:
        throw new UsageError(verb === undefined ? 'image: expected a subcommand: build or inspect' : `image: unknown subcommand ${JSON.stringify(verb)} (expected build or inspect)`);
    }
  },
};
