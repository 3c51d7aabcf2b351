/**
 * `@flotilla/deploy/image`: OCI images without Docker — read (OCI layout directory,
 * `oci-archive`, `docker-archive`), verify, store by digest, unpack, build and sign.
 * A sub-path of its own so that commands which do not touch images never load it.
 */
export { ImageError, isImageError } from './errors.js';
export type { ImageErrorCode } from './errors.js';
export { parseDigest, isDigest, sha256Digest, shortDigest, DigestCounter } from './digest.js';
export type { Digest } from './digest.js';
export { FileContentStore, verifyingTransform } from './content-store.js';
export type { ContentStore, BlobInfo, BlobContext, PutOptions, GcOptions } from './content-store.js';
export { parseImageReference, formatImageReference } from './reference.js';
export type { ImageReference, ImageTransport } from './reference.js';
export {
  MEDIA_TYPES,
  REF_NAME_ANNOTATION,
  hostPlatform,
  formatPlatform,
  platformMatches,
  layerCompression,
  parseManifest,
  parseIndex,
  parseImageConfig,
} from './oci.js';
export type { Descriptor, OciIndex, OciManifest, ImageConfig, ImageRuntimeConfig, Platform } from './oci.js';
export { loadImage, normalizeDockerName, singleImageIndex } from './load.js';
export type { Image, LoadImageOptions } from './load.js';
export { applyLayer, unpackImage, entryComponents, ownerLine } from './unpack.js';
export type { ApplyLayerOptions, AppliedLayer, UnpackImageOptions } from './unpack.js';
export { buildImage, mergeEnv } from './build.js';
export type { BuildImageOptions, BuiltImage } from './build.js';
export { signImage, verifyImageSignature, imageSignaturePath, looksLikeImage, IMAGE_SIGNATURE_NAMESPACE } from './sign.js';
export { LayerSnapshots, chainIds } from './snapshots.js';
export { pushImage, missingBlobs, commitBlobs, imageBlobs, checkImageSignatureOnHost, HOST_IMAGES_DIR, IMAGE_VERIFY_SNIPPET } from './distribute.js';
export type { PushImageOptions, PushResult, HostSignatureCheck } from './distribute.js';
export { runtimeSpec, containerArgs, containerEnv, parseImageUser, CPU_PERIOD_US } from './runtime-spec.js';
export type { RuntimeSpec, RuntimeSpecInput } from './runtime-spec.js';
export { runContainer, containerStatuses, stopContainer, restartContainer, execInContainer, containerLogs, gcImages, HOST_HELPER_IDLE_SECONDS } from './container.js';
export type { ContainerOptions, ContainerStatus, ContainerNetwork, StopContainerOptions, RunContainerResult } from './container.js';
export type { TaskContainerOptions } from './task-containers.js';
