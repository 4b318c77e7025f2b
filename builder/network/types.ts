/**
 * The boundary between containers (builder/containers) and the network stack (builder/network).
 * A network is data (name, id, driver, subnet, gateway, internal, labels) kept in
 * $BUILDER_ROOT/networks/<name>.json; per-container state (netns, endpoints, published ports)
 * is set up and torn down through ContainerNetworking. Podman's netavark + aardvark-dns are the
 * reference implementation; nothing here is global mutable state.
 */

/** `-p [IP:][HOST:]CONTAINER[/tcp|udp]` after parsing. hostPort 0 means "pick a free port" (as `-p 80` and `-P`). */
export interface PortBinding {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /** Additive: `-p 8000-8010:80` — attach picks the first free host port in [hostPort, hostPortEnd], as docker. */
  hostPortEnd?: number;
}

/** One network a container joins, with its DNS aliases (`--network-alias`). The container's name is always resolvable too. */
export interface EndpointRequest {
  network: string;
  aliases: string[];
}

export interface AttachRequest {
  /** 64-hex container id. */
  containerId: string;
  /** Container name (without docker's leading '/'): resolvable by DNS on every user network it joins. */
  name: string;
  hostname: string;
  /** Bridge networks to join; empty for `--network none` (a netns with only lo). `host` is never passed here. */
  endpoints: EndpointRequest[];
  ports: PortBinding[];
  /** Additive: the process that owns this attachment (RUN steps); when it is dead, reapOrphans() tears it down. */
  ownerPid?: number;
}

/** One joined network, in the terms docker inspect's NetworkSettings.Networks uses. */
export interface Endpoint {
  network: string;
  networkId: string;
  endpointId: string;
  ipAddress: string;
  ipPrefixLen: number;
  gateway: string;
  macAddress: string;
  aliases: string[];
}

/** What attach set up; the container record keeps it, so teardown works after a crash. */
export interface Attachment {
  /** Bind-mounted network namespace file, for the runtime spec's `{ type: "network", path }`. */
  netnsPath: string;
  endpoints: Endpoint[];
  /** Published ports with hostPort resolved (never 0 here). */
  ports: PortBinding[];
  /** For the container's /etc/resolv.conf: the network's DNS server(s) on user networks, else the host's. */
  dnsServers: string[];
  searchDomains: string[];
}

/** TSDoc contract: every method is safe to call again after a crash half-way through. */
export interface ContainerNetworking {
  /**
   * Creates the container's netns, joins every requested network (address from the network's subnet,
   * allocation persisted, no duplicates under concurrent calls), registers DNS names and publishes the ports.
   * All or nothing: on failure nothing is left behind. A host port already taken → BuildError('PORT_IN_USE').
   * An unknown network → BuildError('NETWORK_NOT_FOUND').
   */
  attach(request: AttachRequest): Promise<Attachment>;
  /** Unpublishes ports, removes DNS names and endpoints, frees addresses, deletes the netns. Idempotent. */
  detach(containerId: string): Promise<void>;
  /** `network connect` of a running container. */
  connect(containerId: string, endpoint: EndpointRequest & { name: string }): Promise<Endpoint>;
  /** `network disconnect`. */
  disconnect(containerId: string, network: string): Promise<void>;
  /** The container's current attachment, if it has one (what inspect shows after a connect). */
  inspect(containerId: string): Promise<Attachment | undefined>;
}
