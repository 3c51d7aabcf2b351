/**
 * Errors of the image code: an {@link ImageError} is a {@link DeployError} that also names
 * the image, and the blob or layer entry, it concerns.
 */
import { DeployError, isDeployError, type DeployErrorCode } from '../errors.js';

/** The codes an {@link ImageError} carries. */
export type ImageErrorCode = Extract<
  DeployErrorCode,
  'image-reference' | 'image-invalid' | 'image-platform' | 'blob-digest' | 'blob-missing' | 'layer-unsafe'
>;

const CODES = new Set<string>(['image-reference', 'image-invalid', 'image-platform', 'blob-digest', 'blob-missing', 'layer-unsafe']);

/**
 * An image could not be read, verified or unpacked.
 * - `image-reference`: the reference (`oci:DIR[:tag]`, `oci-archive:FILE`, …) is malformed or names nothing.
 * - `image-invalid`: a manifest, index or config is not what the OCI image spec says.
 * - `image-platform`: no manifest for this machine's platform (`platforms` lists what there is).
 * - `blob-digest`: a blob's content does not hash to its digest, or its size differs (tampered, truncated).
 * - `blob-missing`: a blob the image needs is absent.
 * - `layer-unsafe`: a layer entry would escape the root or is not allowed (device node when rootless).
 */
export class ImageError extends DeployError {
  override name = 'ImageError';
  declare readonly code: ImageErrorCode;
  /** The image reference as the user gave it (or the path read). */
  readonly image: string | undefined;
  /** The blob's digest (`sha256:…`) or archive entry concerned. */
  readonly blob: string | undefined;
  /** The layer entry concerned (`layer-unsafe`). */
  readonly entry: string | undefined;
  /** The platforms the image has (`image-platform`). */
  readonly platforms: string[] | undefined;

  constructor(
    code: ImageErrorCode,
    message: string,
    data: { image?: string; blob?: string; entry?: string; platforms?: string[]; host?: string; cause?: unknown } = {},
  ) {
    super(code, message, { ...(data.cause === undefined ? {} : { cause: data.cause }), ...(data.host === undefined ? {} : { host: data.host }) });
    this.image = data.image;
    this.blob = data.blob;
    this.entry = data.entry;
    this.platforms = data.platforms;
  }
}

/** True for an {@link ImageError} (works across duplicate installs). */
export function isImageError(e: unknown): e is ImageError {
  return isDeployError(e) && CODES.has(e.code);
}
