/**
 * The containers.conf for a private podman peer (the run-side bench, test/peers-interop): runc (crun refuses hybrid
 * cgroups here), cgroupfs (no systemd), file events, and ulimits within our hard limits (podman's default nofile of
 * 1048576 needs CAP_SYS_RESOURCE, which is not in this machine's bounding set).
 */
export const PRIVATE_PODMAN_CONF = `[containers]
default_ulimits = ["nofile=1024:4096", "nproc=4096:8192"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
`;
