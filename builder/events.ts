/** The one progress vocabulary: the CLI prints it, the worker publishes it, the API streams it. */
export type BuildEvent =
  | { type: 'step.start'; stepId: string; name: string; line?: number; time: number; /** why the cache could not be used */ reason?: string }
  | { type: 'step.cached'; stepId: string; name: string; line?: number; time: number; /** who made the record, when another worker did */ builtBy?: string }
  | { type: 'step.log'; stepId: string; stream: 'stdout' | 'stderr'; data: string; time: number }
  | TransferEvent
  | { type: 'step.done'; stepId: string; name: string; durationMs: number; time: number; reason?: string }
  | { type: 'step.error'; stepId: string; name: string; code: string; message: string; line?: number; time: number }
  /** Something the user should know that did not fail the build (a broken cache record, an unreachable cache). */
  | { type: 'warning'; message: string; stepId?: string; time: number }
  | { type: 'build.done'; imageDigest?: string; durationMs: number; time: number; error?: { code: string; message: string; line?: number } };

export type EventSink = (event: BuildEvent) => void;

/** Step logs are clipped at this many bytes; the rest is dropped with a note. */
export const STEP_LOG_LIMIT = 2 * 1024 * 1024;

/**
 * One blob of a pull or push (docker pull's per-layer line). `id` is the short digest (12 hex); `current`/`total`
 * are bytes. A FROM pull inside a build carries no stepId: it happens while the plan resolves its base images.
 */
export interface TransferEvent {
  type: 'transfer';
  direction: 'pull' | 'push';
  /** The image being pulled or pushed, as the user named it. */
  ref: string;
  id: string;
  status: TransferStatus;
  current?: number;
  total?: number;
  /** `mounted`: the repository the blob was mounted from. */
  from?: string;
  time: number;
}

/** pull: waiting → downloading → complete, or exists. push: waiting → uploading → pushed, or mounted / layer-exists. */
export type TransferStatus = 'waiting' | 'downloading' | 'complete' | 'exists' | 'uploading' | 'pushed' | 'mounted' | 'layer-exists';
