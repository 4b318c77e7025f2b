/**
 * The API's JSON as the page reads it (GET /v1/builds, /v1/builds/:id, /v1/farm). It mirrors worker/build-records.ts's
 * BuildRecord on purpose: that module pulls in ioredis and Node types, which the page's DOM-typed build cannot import.
 */
export type BuildState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export type Trigger = { kind: 'api'; tokenName: string } | { kind: 'webhook'; provider: string; branch: string; tag?: string; sha: string };

export interface BuildSummary {
  id: string;
  state: BuildState;
  repository: string;
  ref?: string;
  tags: string[];
  trigger?: Trigger;
  worker?: string;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  cachedSteps?: number;
  runSteps?: number;
  error?: { code: string; message: string; line?: number };
}

export interface StepRecord {
  stepId: string;
  name: string;
  line?: number;
  state: 'running' | 'cached' | 'done' | 'failed';
  cached: boolean;
  startedAt: number;
  durationMs?: number;
}

export interface BuildDetail extends BuildSummary {
  request: { dockerfile: string; tags: string[]; context: { kind: string; url?: string; ref?: string }; trigger?: Trigger };
  steps: StepRecord[];
  imageDigest?: string;
  pushed: { reference: string; digest: string }[];
  error?: { code: string; message: string; file?: string; line?: number };
  cancelReason?: string;
  workers: string[];
  queuePosition?: number;
}

export interface FarmStatus {
  queue: string;
  depth: { waiting: number; active: number; delayed: number };
  workers: { name: string; address?: string; idleSeconds: number }[];
}

export function isFinished(state: BuildState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}
