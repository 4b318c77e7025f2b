/** The network side's front door: what containers, the CLI and the daemon import. */
import { NetavarkNetworking } from './attach.js';

export type { AttachRequest, Attachment, ContainerNetworking, Endpoint, EndpointRequest, PortBinding } from './types.js';
export { NetavarkNetworking } from './attach.js';
export { parsePublish, publishAll, formatBinding, DEFAULT_HOST_IP } from './parse-publish.js';
export { renderHosts, renderResolvConf, hostDns } from './etc-files.js';
export { listNetworks, inspectNetwork, createNetwork, removeNetwork, pruneNetworks } from './network-api.js';
export type { DockerNetwork, DockerNetworkContainer, NetworkFilters } from './network-api.js';
export { DEFAULT_NETWORK, type CreateNetworkOptions } from './network-record.js';

/** ContainerNetworking for the store at `root` (netavark + aardvark-dns; needs root). */
export function openNetworking(root: string): NetavarkNetworking {
  return new NetavarkNetworking(root);
}
