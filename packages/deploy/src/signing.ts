/**
 * Artifact signing in OpenSSH's signature format (`ssh-keygen -Y sign`, namespace
 * `flotilla-artifact`). Hosts that have `~/.flotilla/allowed_signers` verify with
 * `ssh-keygen -Y verify` before a release is switched, and refuse unsigned or badly signed
 * artifacts; hosts need only sh and OpenSSH.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { DeployError } from './errors.js';

/** The signature namespace of artifacts. */
export const SIGNATURE_NAMESPACE = 'flotilla-artifact';

function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err as Error, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

/** Signs `artifact` with a private key; writes and returns `artifact.sig`. */
export async function signArtifact(artifact: string, options: { key: string }): Promise<string> {
  const sig = `${artifact}.sig`;
  await rm(sig, { force: true });
  try {
    await run('ssh-keygen', ['-q', '-Y', 'sign', '-f', options.key, '-n', SIGNATURE_NAMESPACE, artifact]);
  } catch (e) {
    throw new DeployError('SIGNATURE', `ssh-keygen could not sign ${artifact} with ${options.key}: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim()}`, { cause: e });
  }
  return sig;
}

/**
 * The sh fragment run on a host before a release switch: with `~/.flotilla/allowed_signers`
 * present, the artifact must carry a signature by an allowed signer, else exit 65.
 * `$art` must hold the artifact's path.
 */
export const VERIFY_SNIPPET = `
signers="$HOME/.flotilla/allowed_signers"
if [ -f "$signers" ]; then
  if [ ! -f "$art.sig" ]; then echo "refused: $signers exists and the artifact has no signature" >&2; exit 65; fi
  principal=$(ssh-keygen -Y find-principals -s "$art.sig" -f "$signers" 2>/dev/null | head -n 1)
  if [ -z "$principal" ]; then echo "refused: the artifact's signature is not from a signer in $signers" >&2; exit 65; fi
  if ! ssh-keygen -Y verify -f "$signers" -I "$principal" -n ${SIGNATURE_NAMESPACE} -s "$art.sig" < "$art" >/dev/null 2>&1; then
    echo "refused: bad signature on the artifact (signer $principal, namespace ${SIGNATURE_NAMESPACE})" >&2; exit 65
  fi
fi
`;
