import assert from 'node:assert/strict';
import { BuildError } from '../errors.js';
import { parsePublish } from './parse-publish.js';

describe('parsePublish (docker -p)', () => {
  const valid: [string, object[]][] = [
    ['80', [{ hostIp: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: 'tcp' }]],
    ['8080:80', [{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]],
    ['127.0.0.1:8080:80', [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]],
    ['127.0.0.1::80', [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }]],
    ['53:53/udp', [{ hostIp: '0.0.0.0', hostPort: 53, containerPort: 53, protocol: 'udp' }]],
    ['8080:80/TCP', [{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]],
    ['80/', [{ hostIp: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: 'tcp' }]],
    ['8000-8001:80-81', [
      { hostIp: '0.0.0.0', hostPort: 8000, containerPort: 80, protocol: 'tcp' },
      { hostIp: '0.0.0.0', hostPort: 8001, containerPort: 81, protocol: 'tcp' },
    ]],
    ['80-81', [
      { hostIp: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: 'tcp' },
      { hostIp: '0.0.0.0', hostPort: 0, containerPort: 81, protocol: 'tcp' },
    ]],
    ['8000-8010:80', [{ hostIp: '0.0.0.0', hostPort: 8000, hostPortEnd: 8010, containerPort: 80, protocol: 'tcp' }]],
  ];
  for (const [spec, expected] of valid) {
    it(`parses ${spec}`, () => assert.deepEqual(parsePublish(spec), expected));
  }

  const invalid: [string, string, RegExp][] = [
    ['abc', 'INVALID_ARGUMENT', /^invalid containerPort: abc$/],
    ['8080:abc', 'INVALID_ARGUMENT', /^invalid containerPort: abc$/],
    ['x:80', 'INVALID_ARGUMENT', /^invalid hostPort: x$/],
    ['70000:80', 'INVALID_ARGUMENT', /^invalid hostPort: 70000$/],
    ['8080:0', 'INVALID_ARGUMENT', /^invalid containerPort: 0$/],
    ['1.2.3:8080:80', 'INVALID_ARGUMENT', /^invalid IP address: 1\.2\.3$/],
    ['8080:80/icmp', 'INVALID_ARGUMENT', /^invalid proto: icmp$/],
    ['8080:', 'INVALID_ARGUMENT', /^no port specified: 8080:<empty>$/],
    ['8000-8002:80-81', 'INVALID_ARGUMENT', /^invalid ranges specified for container and host Ports: 80-81 and 8000-8002$/],
    ['82-80', 'INVALID_ARGUMENT', /^invalid containerPort: 82-80$/],
    ['[::1]:8080:80', 'NOT_SUPPORTED', /cannot publish on IPv6 address \[::1\]: builder networks are IPv4 only/],
    ['80/sctp', 'NOT_SUPPORTED', /tcp and udp only/],
  ];
  for (const [spec, code, message] of invalid) {
    it(`refuses ${spec}`, () => {
      assert.throws(() => parsePublish(spec), (err: unknown) => err instanceof BuildError && err.code === code && message.test(err.message));
    });
  }
});
