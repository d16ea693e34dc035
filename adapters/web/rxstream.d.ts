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
  /** The event's topic, on a stream of several topics ({@link Stream.subscribe}). */
  topic?: string;
}

/** A gap notice: events after `last` up to `next` were no longer retained. */
export interface Gap {
  /** The gap's topic, on a stream of several topics. */
  topic?: string;
  last: string;
  /** The first event after the gap; empty when it is not yet published. */
  next: string;
}

/** An error, with why the server ended a stream whose authorization ended. */
export interface AuthError extends Error {
  reason?: 'expired' | 'revoked';
  /** The revoked topic, when only one was. */
  topic?: string;
  status?: number;
}

/** A user present on a topic: an entry of {@link presence}, and a join or leave. */
export interface Member {
  user: string;
  /** What the server's authorization hook gave (adapters.SetInfo), or null. */
  info: unknown;
  /** The user's connections to the topic; 0 in a leave, and while a leave waits. */
  conns: number;
}

export type StreamItem = { type: 'event'; event: StreamEvent } | { type: 'gap'; gap: Gap };

export interface Options {
  /**
   * Transports to try, in order. Default: all four, WebSocket first. The
   * WebSocket asks for the subprotocol "rxstream.batch.v1", under which a
   * server sends a batch of events as one frame.
   */
  transports?: Transport[];
  /** Resume after this event ID; empty starts with live events. */
  cursor?: string;
  /**
   * Without a cursor, start with the topic's last `rewind` events (at most
   * 1000) before the live ones; on a stream of several topics, the default
   * of each {@link Stream.subscribe}. A cursor wins; asking for more than is
   * retained starts at the oldest retained event, without a gap notice.
   */
  rewind?: number;
  /**
   * Without a cursor, start with the events of the last `since`
   * milliseconds (or a duration such as "30s", "5m"; at most a week).
   * Give rewind or since, not both.
   */
  since?: number | string;
  /** Per-transport URLs; by default the one URL given to connect serves all. */
  urls?: Partial<Record<Transport, string>>;
  /** Event names other than "message" to listen for on SSE. */
  events?: string[];
  /** Milliseconds a transport may take to open before the next is tried. Default 5000. */
  openTimeout?: number;
  /**
   * Consecutive failures of a transport that once worked before falling back. Default 2.
   * A refusal that says when to try again (a 429 or 503 with Retry-After, a WebSocket
   * closed 1008 or 1013 "retry in Ns" over a limit) is retried on the same transport,
   * no sooner; a WebSocket closed at once, before any message, does not count as one that worked.
   */
  failuresBeforeFallback?: number;
  /** Reconnection backoff bounds in milliseconds (jittered). Defaults 250 and 30000. */
  minBackoff?: number;
  maxBackoff?: number;
  /** Milliseconds between short polls when the server suggests none. Default 1000. */
  pollInterval?: number;
  /** Long-poll timeout asked of the server, in milliseconds; 0 lets it decide. */
  longPollTimeout?: number;
  /**
   * A bearer token for the server's authorization hook, asked for before
   * every connection, and again before it expires: refreshMargin before a
   * JWT's exp (or the expiry the server gives in a WebSocket's refreshed
   * answer), and whenever the server ends a stream because its
   * authorization expired. It travels in the tokenParam query parameter on
   * WebSocket and SSE (which cannot send headers) and in the Authorization
   * header ("Bearer TOKEN") of polls. A WebSocket refreshes with a message
   * and stays open; SSE and polls reopen with the new token from the
   * cursor. Either way nothing is lost: a single-topic SSE stream or
   * WebSocket that reopens without a cursor (here, or after a failure,
   * with or without a token) first asks a short poll (urls.poll, or the
   * URL with ?transport=poll) where it stands, which neither tells before
   * its first event, and opens from there.
   */
  token?: () => Promise<string> | string;
  /** The query parameter of the token on WebSocket and SSE. Default "access_token". */
  tokenParam?: string;
  /** Milliseconds before a JWT's exp to refresh it (at most half its remaining life). Default 10000. */
  refreshMargin?: number;
  /**
   * Ask for the topics' join and leave events (presence=true), handed to
   * onJoin and onLeave rather than onEvent. They carry no ID and are not
   * replayed when the stream resumes: list the members with
   * {@link presence} in onOpen (each reconnection) and apply the events to
   * that list, keyed by user. A poll carries only those that happen while
   * it is held.
   */
  presence?: boolean;
  /** A user joined a topic (topic is "" on a single-topic stream). */
  onJoin?: (member: Member, topic: string) => void;
  /** A user left a topic, after the server's coalescing window. */
  onLeave?: (member: Member, topic: string) => void;
  onEvent?: (event: StreamEvent) => void;
  onGap?: (gap: Gap) => void;
  onOpen?: (transport: Transport) => void;
  /**
   * A failure, retried. When the server ended the stream because its
   * authorization ended, error.reason is "expired" (the stream reconnects
   * at once with a new token) or "revoked" (retried with backoff; a
   * revoked topic's subscriptions fail instead, see SubscribeOptions).
   */
  onError?: (error: AuthError, transport: Transport) => void;
  onClose?: () => void;
}

/** What one subscription of a stream of several topics listens with. */
export interface SubscribeOptions {
  /**
   * Resume after this event ID of the topic; empty starts with its next live
   * event. Ignored when the stream already follows the topic.
   */
  cursor?: string;
  /** Without a cursor, start with the topic's last `rewind` events; default: the stream's. */
  rewind?: number;
  /** Without a cursor, start with the topic's events of the last `since` (ms, or "30s"); default: the stream's. */
  since?: number | string;
  /** A user joined the topic, on a stream with presence: true. */
  onJoin?: (member: Member, topic: string) => void;
  /** A user left the topic, on a stream with presence: true. */
  onLeave?: (member: Member, topic: string) => void;
  onEvent?: (event: StreamEvent) => void;
  onGap?: (gap: Gap) => void;
  /** The topic is live on a connection over transport (again after each reconnection). */
  onOpen?: (transport: Transport) => void;
  /**
   * The server refused the topic (status is HTTP's: 400, 401, 403), or
   * revoked it, or a refreshed token no longer grants it (403); the
   * subscription is then closed. A 503 is retried, and reported to the
   * stream's onError.
   */
  onError?: (error: Error & { status?: number }) => void;
  onClose?: () => void;
}

/**
 * A stream that survives reconnections and transport changes without loss.
 * It follows the one topic of its URL (`connect('/topics/chat')`), or, once
 * {@link Stream.subscribe} is called, several topics on one connection of a
 * URL that serves them (`connect('/topics').subscribe('chat')`).
 */
export declare class Stream implements AsyncIterable<StreamItem> {
  constructor(url: string | URL, options?: Options);
  /**
   * Where a reconnection resumes: the ID of the last event received; on a
   * stream of several topics, the composite of each topic's own
   * (":id1,id2,"), in subscription order.
   */
  readonly cursor: string;
  /** The transport in use, once one has opened. */
  readonly transport: Transport | null;
  readonly closed: boolean;
  /**
   * Follows topic on this stream's one connection. The first call makes the
   * stream one of several topics: call it in the tick of connect, so that
   * the URL is never opened as a single topic. Calls within one tick change
   * the connection once: on SSE and the polls a reopen from every topic's
   * cursor, on WebSocket subscribe messages. Subscriptions of one topic
   * share it. Throws on an invalid topic name or a closed stream.
   */
  subscribe(topic: string, options?: SubscribeOptions): Subscription;
  /** Ends the stream and its subscriptions. Idempotent. */
  close(): void;
  /** Every event and gap notice; on a stream of several topics, every subscription's. */
  [Symbol.asyncIterator](): AsyncIterator<StreamItem>;
}

/** One topic followed on a {@link Stream}. */
export declare class Subscription implements AsyncIterable<StreamItem> {
  readonly stream: Stream;
  readonly topic: string;
  /** The topic's own cursor: the last event ID received, or where it started. */
  readonly cursor: string;
  readonly closed: boolean;
  /** Ends the subscription; the topic is unsubscribed once no subscription follows it. Idempotent. */
  close(): void;
  /** The topic's events and gap notices; leaving the loop closes the subscription. */
  [Symbol.asyncIterator](): AsyncIterator<StreamItem>;
}

/** Opens a stream at url (absolute, or relative to the page). */
export declare function connect(url: string | URL, options?: Options): Stream;

/** What {@link publish} sends and how it retries. */
export interface PublishOptions {
  /** The event's name (the `event` query parameter); empty for the default, "message". */
  event?: string;
  /**
   * The idempotency key, sent as the Idempotency-Key header of every
   * attempt: 1 to 255 characters of printable ASCII (space to tilde). By
   * default a fresh random one for this call. Give your own to make a
   * publish idempotent beyond one call (the ID of the order it confirms,
   * say, or one stored with an outbox entry).
   */
  key?: string;
  /** Added to every attempt (Authorization, say). A cross-origin publish needs the server to allow Idempotency-Key. */
  headers?: Record<string, string>;
  /** Attempts, the first included. Default 5. */
  maxAttempts?: number;
  /** Backoff bounds in milliseconds (doubling, jittered); a Retry-After is honoured even when longer. Defaults 100 and 5000. */
  minBackoff?: number;
  maxBackoff?: number;
  /** Milliseconds each attempt may take before it is abandoned and retried. Default 10000. */
  timeout?: number;
  /** Ends the publish: the promise rejects with an AbortError. */
  signal?: AbortSignal;
}

/**
 * Publishes data as one event to the topic served at url (an Endpoint's
 * topic URL, POST enabled) and resolves to its ID. Every attempt carries the
 * same idempotency key, so a retry after a lost answer is answered with the
 * same ID and stores nothing: the event is published once. Network errors,
 * timeouts, 5xx (no sooner than Retry-After), 408 and 429 are retried with
 * jittered backoff; another answer (400, 401, 403, 413, 501) rejects at once
 * with an Error whose `status` is the HTTP status, as does the last failed
 * attempt. An invalid key rejects before any request.
 */
export declare function publish(
  url: string | URL,
  data: string | Blob | ArrayBuffer | ArrayBufferView,
  options?: PublishOptions,
): Promise<string>;

/** Which page {@link history} reads. */
export interface HistoryOptions {
  /** The page before this event ID, newest first. Neither before nor after: from the newest. */
  before?: string;
  /** The page after this event ID, oldest first ("0": from the oldest retained). */
  after?: string;
  /** Events per page: 1 to 1000, 50 by default. */
  limit?: number;
  /** Added to the request (Authorization, say). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A page of a topic's history. */
export interface HistoryPage {
  /** Newest first for a page read before a cursor, oldest first for one read after. */
  events: { id: string; event: string; data: string | Uint8Array }[];
  /** Where the next page in the same direction starts: pass it as before (or after) again. */
  cursor: string;
  /** Retained events lie beyond this page in its direction. */
  more: boolean;
  /**
   * Before: the page reached the start of what is retained, and older events
   * were discarded by the history limits. more and truncated both false: the
   * topic's first event.
   */
  truncated: boolean;
  /** After: events after the cursor were discarded before the first one here. */
  gap: Gap | null;
}

/**
 * Reads one page of a topic's history from its history URL (such as
 * "/topics/chat/history"). Rejects with an Error carrying the HTTP status of
 * a refusal (400 for a bad cursor or limit, 401 or 403, 503).
 */
export declare function history(url: string | URL, options?: HistoryOptions): Promise<HistoryPage>;

/** Which page {@link presence} lists. */
export interface PresenceOptions {
  /** The members after this cursor (the previous page's). */
  after?: string;
  /** Members per page: 1 to 1000, 100 by default. */
  limit?: number;
  /** Added to the request (Authorization, say). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A page of a topic's members, sorted by user. */
export interface PresencePage {
  members: Member[];
  /** The topic's connections without a user. */
  anonymous: number;
  /** Where the next page starts, when more: pass it as after. */
  cursor: string;
  more: boolean;
}

/**
 * Lists one page of a topic's members from its presence URL (such as
 * "/topics/chat/presence"). Rejects with an Error carrying the HTTP status
 * of a refusal (400 for a bad limit, 401 or 403, 503).
 */
export declare function presence(url: string | URL, options?: PresenceOptions): Promise<PresencePage>;
