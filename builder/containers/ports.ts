import type { PortBinding } from '../network/types.js';
import type { ContainerRecord } from './record.js';

/** HostConfig.PortBindings (+ PublishAllPorts over ExposedPorts) as the network contract's bindings. */
export function portBindings(record: ContainerRecord): PortBinding[] {
  const bindings: PortBinding[] = [];
  const seen = new Set<string>();
  for (const [key, hosts] of Object.entries(record.hostConfig.PortBindings ?? {})) {
    const [port = '', proto = 'tcp'] = key.split('/');
    seen.add(`${port}/${proto}`);
    for (const host of hosts ?? [{}]) {
      bindings.push({
        hostIp: host.HostIp || '0.0.0.0', hostPort: Number(host.HostPort || 0), containerPort: Number(port),
        protocol: proto === 'udp' ? 'udp' : 'tcp',
      });
    }
  }
  if (record.hostConfig.PublishAllPorts) {
    for (const key of Object.keys(record.config.ExposedPorts ?? {})) {
      const [port = '', proto = 'tcp'] = key.split('/');
      if (seen.has(`${port}/${proto}`)) continue;
      bindings.push({ hostIp: '0.0.0.0', hostPort: 0, containerPort: Number(port), protocol: proto === 'udp' ? 'udp' : 'tcp' });
    }
  }
  return bindings;
}
