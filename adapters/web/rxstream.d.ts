// Types of the rxstream browser client (rxstream.js).

export type Transport = 'websocket' | 'sse' | 'longpoll' | 'poll';

/** An event as every transport delivers it. */
export interface StreamEvent {
  /** The event's ID: the cursor to resume after it. Empty when it has none. */
  id: string;
  /** The event's type; "message" by default. */
  event: string;
  /** The payload: text, or bytes when the server sent non-UTF-8 data. */
  data: string | Uint8Array;
  /** The transport that delivered it. */
  transport: Transport;
}

/** A gap notice: events after `last` up to `next` were no longer retained. */
export interface Gap {
  last: string;
  /** The first event after the gap; empty when it is not yet published. */
  next: string;
}

export type StreamItem = { type: 'event'; event: StreamEvent } | { type: 'gap'; gap: Gap };

export interface Options {
  /** Transports to try, in order. Default: all four, WebSocket first. */
  transports?: Transport[];
  /** Resume after this event ID; empty starts with live events. */
  cursor?: string;
  /** Per-transport URLs; by default the one URL given to connect serves all. */
  urls?: Partial<Record<Transport, string>>;
  /** Event names other than "message" to listen for on SSE. */
  events?: string[];
  /** Milliseconds a transport may take to open before the next is tried. Default 5000. */
  openTimeout?: number;
  /** Consecutive failures of a transport that once worked before falling back. Default 2. */
  failuresBeforeFallback?: number;
  /** Reconnection backoff bounds in milliseconds (jittered). Defaults 250 and 30000. */
  minBackoff?: number;
  maxBackoff?: number;
  /** Milliseconds between short polls when the server suggests none. Default 1000. */
  pollInterval?: number;
  /** Long-poll timeout asked of the server, in milliseconds; 0 lets it decide. */
  longPollTimeout?: number;
  onEvent?: (event: StreamEvent) => void;
  onGap?: (gap: Gap) => void;
  onOpen?: (transport: Transport) => void;
  onError?: (error: Error, transport: Transport) => void;
  onClose?: () => void;
}

/** A stream that survives reconnections and transport changes without loss. */
export declare class Stream implements AsyncIterable<StreamItem> {
  constructor(url: string | URL, options?: Options);
  /** The ID of the last event received: where a reconnection resumes. */
  readonly cursor: string;
  /** The transport in use, once one has opened. */
  readonly transport: Transport | null;
  readonly closed: boolean;
  /** Ends the stream. Idempotent. */
  close(): void;
  [Symbol.asyncIterator](): AsyncIterator<StreamItem>;
}

/** Opens a stream at url (absolute, or relative to the page). */
export declare function connect(url: string | URL, options?: Options): Stream;
