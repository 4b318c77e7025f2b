/** Where builder's CLI looks for a running `builder daemon` when BUILDER_HOST is unset (docker's /var/run/docker.sock). */
export const DEFAULT_DAEMON_SOCKET = '/run/builder/docker.sock';
