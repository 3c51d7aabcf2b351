/**
 * Artifact signing in OpenSSH's signature format (`ssh-keygen -Y sign`, namespace
 * `flotilla-artifact`). Hosts that have `~/.flotilla/allowed_signers` verify with
 * `ssh-keygen -Y verify` before a release is switched, and refuse unsigned or badly signed
 * artifacts; hosts need only sh and OpenSSH.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    throw new DeployError('signature', `ssh-keygen could not sign ${artifact} with ${options.key}: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim()}`, { cause: e });
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

function runWithInput(cmd: string, args: string[], input: string): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) resolve({ stdout, stderr, code: 0 });
      else if (typeof err.code === 'number') resolve({ stdout, stderr, code: err.code });
      else reject(new DeployError('signature', `could not run ${cmd}: ${err.message}`, { cause: err }));
    });
    // A program that exits without reading its input (find-principals) must not crash us with EPIPE:
    // its exit status says what happened.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

/**
 * Signs a message (not a file) with `ssh-keygen -Y sign` in `namespace`; resolves to the
 * armored signature. Used for images, whose signed message is their manifest digest.
 */
export async function signMessage(message: string, options: { key: string; namespace: string }): Promise<string> {
  const r = await runWithInput('ssh-keygen', ['-q', '-Y', 'sign', '-f', options.key, '-n', options.namespace], message);
  if (r.code !== 0 || !r.stdout.includes('BEGIN SSH SIGNATURE')) {
    throw new DeployError('signature', `ssh-keygen could not sign with ${options.key}: ${r.stderr.trim() || `exit code ${r.code}`}`);
  }
  return r.stdout;
}

/**
 * Checks a signature of `message` against an allowed_signers file (`ssh-keygen -Y
 * find-principals`, then `-Y verify` in `namespace`); resolves to the signer's principal.
 * Throws `signature` saying why when the signer is not listed or the signature is bad.
 */
export async function verifyMessage(message: string, signature: string, options: { allowedSigners: string; namespace: string; what?: string }): Promise<string> {
  const what = options.what ?? 'the message';
  const dir = await mkdtemp(join(tmpdir(), 'flo-sig-'));
  try {
    const sig = join(dir, 'message.sig');
    await writeFile(sig, signature);
    const found = await runWithInput('ssh-keygen', ['-Y', 'find-principals', '-s', sig, '-f', options.allowedSigners], '');
    const principal = found.code === 0 ? found.stdout.split('\n')[0]!.trim() : '';
    if (!principal) throw new DeployError('signature', `the signature on ${what} is not from a signer in ${options.allowedSigners}`);
    const v = await runWithInput('ssh-keygen', ['-Y', 'verify', '-f', options.allowedSigners, '-I', principal, '-n', options.namespace, '-s', sig], message);
    if (v.code !== 0) throw new DeployError('signature', `bad signature on ${what} (signer ${principal}, namespace ${options.namespace}): ${v.stderr.trim() || v.stdout.trim()}`);
    return principal;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
