/**
 * The daemon's in-process event bus: endpoint groups publish what happened (image pull/tag/delete, container
 * start/die …) and `GET /events` streams it. The last events are kept so `--since` can replay them, as dockerd does.
 */
import { EventEmitter } from 'node:events';

export type DockerEventType = 'container' | 'image' | 'network' | 'volume' | 'builder' | 'daemon';

/** docker's events/message shape (Engine API EventMessage), with the legacy top-level fields the CLI still reads. */
export interface DockerEvent {
  Type: DockerEventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  status?: string;
  id?: string;
  from?: string;
}

const KEEP = 1024;

export class EventBus {
  private readonly emitter = new EventEmitter();
  private readonly recent: DockerEvent[] = [];
  private streams = 0;
  private readonly listenerCallbacks: ((count: number) => void)[] = [];

  constructor() {
    // One listener per `docker events` client; many may be attached.
    this.emitter.setMaxListeners(0);
  }

  publish(type: DockerEventType, action: string, id: string, attributes: Record<string, string> = {}): DockerEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    const event: DockerEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    if (type === 'container' || type === 'image') {
      event.status = action;
      event.id = id;
      if (attributes.image ?? attributes.name) event.from = attributes.image ?? attributes.name;
    }
    this.recent.push(event);
    if (this.recent.length > KEEP) this.recent.shift();
    this.emitter.emit('event', event);
    return event;
  }

  /** Events kept in memory with timeNano ≥ sinceNs. */
  since(sinceNs: number): DockerEvent[] {
    return this.recent.filter((event) => event.timeNano >= sinceNs);
  }

  /** For streams (`GET /events`): counted, so work done only for listeners can stop when the last one leaves. */
  subscribe(listener: (event: DockerEvent) => void, options: { stream?: boolean } = {}): () => void {
    this.emitter.on('event', listener);
    if (options.stream) this.changeListeners(+1);
    return () => {
      this.emitter.off('event', listener);
      if (options.stream) this.changeListeners(-1);
    };
  }

  onListeners(callback: (count: number) => void): void {
    this.listenerCallbacks.push(callback);
  }

  private changeListeners(delta: number): void {
    this.streams += delta;
    for (const callback of this.listenerCallbacks) callback(this.streams);
  }
}
