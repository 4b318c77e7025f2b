/**
 * Which media types one manifest uses. A manifest's own type decides the family of its config and layer
 * types: an OCI manifest names OCI layers, a Docker v2 schema 2 manifest names Docker layers. Mixing them
 * (a Docker base's layers inside our OCI manifest) makes umoci refuse the image ("blob is not correct
 * mediatype"). The blobs are the same bytes in both families (a Docker gzip layer is an OCI tar+gzip
 * layer), so converting a descriptor changes its type only, never its digest — as BuildKit does with
 * `oci-mediatypes=true|false`.
 */
import { BuildError } from '../errors.js';
import { MEDIA_TYPES } from './types.js';

/** The family of media types an image is written with. */
export type ManifestFormat = 'oci' | 'docker';

/** Layer types of one family and their twin in the other. */
const LAYER_TWINS: readonly { oci: string; docker: string }[] = [
  { oci: MEDIA_TYPES.ociLayerGzip, docker: MEDIA_TYPES.dockerLayerGzip },
  { oci: MEDIA_TYPES.ociLayer, docker: MEDIA_TYPES.dockerLayer },
  { oci: MEDIA_TYPES.ociNondistributableLayerGzip, docker: MEDIA_TYPES.dockerForeignLayerGzip },
];

/** The manifest media type of a format. */
export function manifestMediaType(format: ManifestFormat): string {
  return format === 'oci' ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest;
}

/** The config media type of a format. */
export function configMediaType(format: ManifestFormat): string {
  return format === 'oci' ? MEDIA_TYPES.ociConfig : MEDIA_TYPES.dockerConfig;
}

/** The format a manifest media type belongs to (an absent type is OCI, as the image-spec allows). */
export function formatOfManifest(mediaType: string | undefined): ManifestFormat {
  return mediaType === MEDIA_TYPES.dockerManifest ? 'docker' : 'oci';
}

/**
 * A layer media type in `format`. zstd has no Docker twin (BuildKit refuses zstd with oci-mediatypes=false
 * as well), so asking for one is an error the user can act on.
 */
export function layerMediaType(mediaType: string, format: ManifestFormat): string {
  const twin = LAYER_TWINS.find((pair) => pair.oci === mediaType || pair.docker === mediaType);
  if (twin) return twin[format];
  if (mediaType === MEDIA_TYPES.ociLayerZstd && format === 'docker') {
    throw new BuildError('INVALID_ARGUMENT', 'a zstd-compressed layer cannot be written with Docker media types (use oci-mediatypes=true)');
  }
  // A type we do not know (zstd in OCI, a vendor type) is kept: its bytes are not ours to reinterpret.
  return mediaType;
}
