/**
 * The k8s/ manifests parse as YAML, every workload's selector matches its pod labels, every Service
 * selects a workload, every referenced ConfigMap/Secret/PVC exists, and the worker's config parses.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { strict as assert } from 'node:assert';
import { parseAllDocuments } from 'yaml';
import { parse as parseToml } from 'smol-toml';
import { farmConfig } from '../api/farm-config.js';
import { repoRoot } from './helpers/cli.js';

type Doc = { kind: string; metadata: { name: string }; spec?: Record<string, any>; data?: Record<string, string>; stringData?: Record<string, string> };

describe('k8s manifests', () => {
  let docs: Doc[];
  before(async () => {
    const dir = path.join(repoRoot, 'k8s');
    docs = [];
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
      for (const document of parseAllDocuments(await readFile(path.join(dir, file), 'utf8'))) {
        assert.deepEqual(document.errors, [], `${file} parses`);
        const value = document.toJSON() as Doc | null;
        if (value) docs.push(value);
      }
    }
  });
  const named = (kind: string, name: string): Doc | undefined => docs.find((d) => d.kind === kind && d.metadata.name === name);
  const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
    Object.entries(selector).every(([key, value]) => labels[key] === value);

  it('has the api and worker Deployments, Redis, the registry, Services, a Secret and a ConfigMap', () => {
    for (const [kind, name] of [['Deployment', 'builder-api'], ['Deployment', 'builder-worker'], ['StatefulSet', 'redis'], ['Deployment', 'registry'],
      ['Service', 'builder-api'], ['Service', 'redis'], ['Service', 'registry'], ['Secret', 'builder-secrets'], ['ConfigMap', 'builder-config']]) {
      assert.ok(named(kind!, name!), `${kind} ${name}`);
    }
  });

  it('selectors match pod labels, Services select workloads, references exist', () => {
    const workloads = docs.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');
    for (const workload of workloads) {
      const spec = workload.spec!;
      assert.ok(matches(spec.selector.matchLabels, spec.template.metadata.labels), `${workload.metadata.name} selector`);
      const pod = spec.template.spec;
      for (const volume of pod.volumes ?? []) {
        if (volume.configMap) assert.ok(named('ConfigMap', volume.configMap.name), `${workload.metadata.name}: ConfigMap ${volume.configMap.name}`);
        if (volume.persistentVolumeClaim) assert.ok(named('PersistentVolumeClaim', volume.persistentVolumeClaim.claimName));
      }
      for (const container of pod.containers) {
        for (const source of container.envFrom ?? []) if (source.secretRef) assert.ok(named('Secret', source.secretRef.name));
        const mounts = new Set((pod.volumes ?? []).map((v: { name: string }) => v.name).concat((spec.volumeClaimTemplates ?? []).map((v: Doc) => v.metadata.name)));
        for (const mount of container.volumeMounts ?? []) assert.ok(mounts.has(mount.name), `${workload.metadata.name}: volume ${mount.name}`);
      }
    }
    for (const service of docs.filter((d) => d.kind === 'Service')) {
      const target = workloads.find((w) => matches(service.spec!.selector, w.spec!.template.metadata.labels));
      assert.ok(target, `Service ${service.metadata.name} selects a workload`);
      const ports = target.spec!.template.spec.containers.flatMap((c: { ports?: { name: string }[] }) => c.ports ?? []).map((p: { name: string }) => p.name);
      for (const port of service.spec!.ports) assert.ok(ports.includes(port.targetPort), `Service ${service.metadata.name} port ${port.targetPort}`);
    }
  });

  it('the worker runs privileged (runc inside the pod) and the config + secrets parse as farm config', () => {
    const worker = named('Deployment', 'builder-worker')!;
    assert.equal(worker.spec!.template.spec.containers[0].securityContext.privileged, true);
    const raw = parseToml(named('ConfigMap', 'builder-config')!.data!['builder.toml']!) as Record<string, unknown>;
    const farm = farmConfig(raw, named('Secret', 'builder-secrets')!.stringData!);
    assert.equal(farm.worker.concurrency, 2);
    assert.equal(farm.api.tokens.length, 2);
    assert.deepEqual(farm.api.tokens[1]!.scopes, ['read']);
    assert.equal(farm.webhooks.repositories[0]!.repository, 'org/app');
    assert.deepEqual(farm.webhooks.repositories[0]!.gitTags, ['v*']);
    assert.equal(farm.webhooks.giteaSecret, 'change-me');
    // The shared cache: repository from the ConfigMap, Redis from the Secret.
    assert.equal(farm.worker.cacheRepo, 'registry.builder.svc.cluster.local:5000/builder/cache');
    assert.equal(farm.redisUrl, 'redis://redis:6379');
    // SIGTERM's drain fits inside the pod's grace period, with room to requeue.
    const grace = worker.spec!.template.spec.terminationGracePeriodSeconds as number;
    assert.ok(grace >= farm.worker.gracePeriodMs / 1000 + 10, `terminationGracePeriodSeconds ${grace} vs grace_period_ms ${farm.worker.gracePeriodMs}`);
  });

  it('every manifest validates against the Kubernetes OpenAPI schemas; the ScaledObject against KEDA\'s CRD schema', async () => {
    const models: Record<string, Record<string, new (data: unknown) => { validate(): void }>> = {
      v1: (await import('kubernetes-models/v1')) as never,
      'apps/v1': (await import('kubernetes-models/apps/v1')) as never,
      'policy/v1': (await import('kubernetes-models/policy/v1')) as never,
      'keda.sh/v1alpha1': (await import('@kubernetes-models/keda/keda.sh/v1alpha1')) as never,
    };
    const raw = docs as unknown as { apiVersion: string; kind: string; metadata: { name: string } }[];
    for (const doc of raw) {
      const Model = models[doc.apiVersion]?.[doc.kind];
      if (doc.apiVersion === 'kustomize.config.k8s.io/v1beta1') continue;
      assert.ok(Model, `a schema for ${doc.apiVersion} ${doc.kind}`);
      assert.doesNotThrow(() => new Model(doc).validate(), `${doc.kind} ${doc.metadata.name} is valid`);
    }
    // The validator does catch mistakes (a test that cannot fail proves nothing).
    const Scaled = models['keda.sh/v1alpha1']!.ScaledObject!;
    assert.throws(() => new Scaled({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'x' }, spec: { triggers: 'none' } }).validate());
  });

  it('KEDA scales the worker Deployment on the API\'s /queue-depth; a PodDisruptionBudget covers the workers', () => {
    const scaled = named('ScaledObject', 'builder-worker')!;
    assert.equal(scaled.spec!.scaleTargetRef.name, 'builder-worker');
    assert.ok(named('Deployment', scaled.spec!.scaleTargetRef.name));
    assert.ok(scaled.spec!.minReplicaCount >= 1 && scaled.spec!.maxReplicaCount > scaled.spec!.minReplicaCount);
    const trigger = scaled.spec!.triggers[0];
    assert.equal(trigger.type, 'metrics-api');
    assert.match(trigger.metadata.url, /^http:\/\/builder-api\.builder\.svc\.cluster\.local:8080\/queue-depth$/);
    assert.equal(trigger.metadata.valueLocation, 'depth');
    const pdb = named('PodDisruptionBudget', 'builder-worker')!;
    const worker = named('Deployment', 'builder-worker')!;
    assert.ok(matches(pdb.spec!.selector.matchLabels, worker.spec!.template.metadata.labels));
  });
});
