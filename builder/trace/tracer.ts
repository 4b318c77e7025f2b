/**
 * A build's spans: where its time goes (plan, cache key, mount, runtime create/start, layer, commit, export, push).
 * One Tracer per build, carried by the BuildSession; nesting is explicit (a Span makes its children), not through
 * AsyncLocalStorage: that turns on promise hooks for the whole process, a cost every build would pay.
 * Spans are plain records; builder/trace/chrome.ts writes them as a Chrome/Perfetto trace, otlp.ts sends them out.
 */

export type SpanArgs = Record<string, string | number | boolean>;

/** A finished span. Times are µs since the Unix epoch (Chrome's Trace Event Format counts µs; any origin works). */
export interface SpanRecord {
  id: number;
  parentId?: number;
  name: string;
  /** Category: `build`, `stage`, `step` or `phase`. */
  cat: string;
  /** The stage the span belongs to (0: the build itself); Chrome shows one row per track. */
  track: number;
  startUs: number;
  durUs: number;
  args: SpanArgs;
}

/** Wall-clock µs with sub-ms resolution (performance.now() is monotonic; its origin is fixed for the process). */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** The row of work that does not hold up the steps (a stage's track is its index + 1). */
export const BACKGROUND_TRACK = 10_000;

export class Tracer {
  private readonly finished: SpanRecord[] = [];
  private readonly trackNames = new Map<number, string>();
  private lastId = 0;
  readonly root: Span;

  constructor(readonly name = 'builder build') {
    this.trackNames.set(0, 'build');
    this.root = new Span(this, ++this.lastId, undefined, name, 'build', 0, nowUs());
  }

  /** Spans finished so far, in the order they finished. */
  get spans(): readonly SpanRecord[] { return this.finished; }
  get tracks(): ReadonlyMap<number, string> { return this.trackNames; }

  /** Names a track (a stage), shown as the row's name. */
  nameTrack(track: number, name: string): void { this.trackNames.set(track, name); }

  /** Ends the root span (idempotent) and returns every span, root included. */
  finish(): readonly SpanRecord[] {
    this.root.end();
    return this.finished;
  }

  /** @internal */
  newId(): number { return ++this.lastId; }
  /** @internal */
  record(span: SpanRecord): void { this.finished.push(span); }
}

export class Span {
  private ended = false;
  private readonly args: SpanArgs = {};

  /** @internal use Tracer.root and Span.child */
  constructor(
    private readonly tracer: Tracer, readonly id: number, readonly parentId: number | undefined,
    readonly name: string, readonly cat: string, readonly track: number, readonly startUs: number,
  ) {}

  /** Adds arguments (step name, cache key, sizes); shown in the trace viewer's details pane. */
  set(args: SpanArgs): this {
    Object.assign(this.args, args);
    return this;
  }

  /** Starts a child span; end it with end(). A child on another track is a stage. */
  start(name: string, options: { cat?: string; track?: number; args?: SpanArgs } = {}): Span {
    const span = new Span(this.tracer, this.tracer.newId(), this.id, name, options.cat ?? 'phase', options.track ?? this.track, nowUs());
    if (options.args) span.set(options.args);
    return span;
  }

  /** Runs `work` inside a child span, which ends when the work settles (a failure is marked `error`). */
  async child<T>(name: string, work: (span: Span) => Promise<T>, options: { cat?: string; track?: number; args?: SpanArgs } = {}): Promise<T> {
    const span = this.start(name, options);
    try {
      return await work(span);
    } catch (err) {
      span.set({ error: err instanceof Error ? err.message.slice(0, 200) : String(err) });
      throw err;
    } finally {
      span.end();
    }
  }

  /**
   * Like child(), for work that runs beside the next steps (session.later): on the build's `after the step` row,
   * so it does not overlap the step rows' nesting in a viewer.
   */
  background<T>(name: string, work: (span: Span) => Promise<T>, args?: SpanArgs): Promise<T> {
    this.tracer.nameTrack(BACKGROUND_TRACK, 'after the step (not waited for)');
    return this.child(name, work, { track: BACKGROUND_TRACK, args: { ...args, after: this.name } });
  }

  /** A child measured by the caller (e.g. the runtime's create phase ends when its pid file appears). */
  mark(name: string, startUs: number, endUs: number, args: SpanArgs = {}): void {
    this.tracer.record({ id: this.tracer.newId(), parentId: this.id, name, cat: 'phase', track: this.track, startUs, durUs: Math.max(0, endUs - startUs), args });
  }

  end(endUs = nowUs()): void {
    if (this.ended) return;
    this.ended = true;
    this.tracer.record({
      id: this.id, parentId: this.parentId, name: this.name, cat: this.cat, track: this.track,
      startUs: this.startUs, durUs: Math.max(0, endUs - this.startUs), args: this.args,
    });
  }
}

/** `work` in a child span of `parent`, or just `work` when nobody traces this call (a caller outside a build). */
export function inSpan<T>(parent: Span | undefined, name: string, work: (span: Span | undefined) => Promise<T>, args?: SpanArgs): Promise<T> {
  return parent ? parent.child(name, work, { args }) : work(undefined);
}
