// rxstream browser client: streams over the best transport that works
// (WebSocket, then SSE, then long-poll, then short-poll), carrying cursors
// across transports and reconnections so that no event is lost or repeated.
// A stream follows one topic's URL (connect('/topics/chat')), or several
// topics on one connection (connect('/topics').subscribe('chat')); one
// without a cursor may first ask for the last events (rewind, since), and
// history() pages through a topic's past; presence: true brings a topic's
// joins and leaves (onJoin, onLeave) and presence() lists who is on it.
// publish(url, data) posts an
// event that is safe to retry: the same Idempotency-Key with every attempt.
// No dependencies; an ES module. Types: rxstream.d.ts.

const ALL = ['websocket', 'sse', 'longpoll', 'poll'];

const DEFAULTS = {
  transports: ALL,       // in order of preference
  cursor: '',            // resume after this event ID; '' starts with live events
  urls: null,            // per-transport URLs; default: one URL negotiated by transport
  openTimeout: 5000,     // ms a transport may take to open before the next is tried
  failuresBeforeFallback: 2, // consecutive failures of a transport that worked before falling back
  minBackoff: 250,       // ms
  maxBackoff: 30000,     // ms
  pollInterval: 1000,    // ms between short polls (the server may suggest another)
  longPollTimeout: 0,    // ms; 0 lets the server decide
  token: null,           // async () => string: a bearer token, asked for each connection and before it expires
  tokenParam: 'access_token', // the query parameter of the token on WebSocket and SSE (polls send Authorization)
  refreshMargin: 10000,  // ms before a JWT's exp to refresh (at most half its remaining life)
  presence: false,       // ask for the topics' join and leave events (onJoin, onLeave)
  onEvent: null, onGap: null, onOpen: null, onError: null, onClose: null,
  onJoin: null, onLeave: null, // (member {user, info, conns}, topic) of a presence event
};

// Presence events are named "join" and "leave", carry no ID and are not
// replayed when a connection resumes: a client lists the members again
// with presence() in onOpen (each (re)connection) and applies the events
// to that list, keyed by user. On long-poll and short-poll onOpen comes
// once for the loop of polls, which carry only the events of the time a
// poll is held (a short poll none): list the members again periodically
// there.
const PRESENCE = ['join', 'leave'];

// presenceEvent hands a join or leave to the handlers of the stream and of
// subs (the topic's subscriptions) and reports whether ev was one.
function presenceEvent(stream, ev, topic, subs) {
  if (!stream.options.presence || !PRESENCE.includes(ev.event)) return false;
  let m;
  try { m = JSON.parse(ev.data); } catch { return false; }
  const name = ev.event === 'join' ? 'onJoin' : 'onLeave';
  for (const sub of subs) if (!sub.closed && sub.options[name]) sub.options[name](m, topic);
  if (stream.options[name]) stream.options[name](m, topic);
  return true;
}

// tokenExpiry returns the exp of a JWT in ms, or 0 when token is not one
// (the server's expiry notices then tell when to renew it).
function tokenExpiry(token) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) return 0;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(b64 + '='.repeat((4 - b64.length % 4) % 4)));
    return typeof claims.exp === 'number' ? claims.exp * 1000 : 0;
  } catch {
    return 0;
  }
}

// authError is the error of a stream its server ended because its
// authorization expired or was revoked.
function authError(message, reason, topic) {
  const err = new Error(message);
  err.reason = reason;
  if (topic) err.topic = topic;
  return err;
}

// connect opens a stream at url (absolute or relative to the page).
export function connect(url, options = {}) {
  return new Stream(url, options);
}

const PUBLISH_DEFAULTS = {
  event: '',         // the event's name; '' for the default ("message")
  key: '',           // the idempotency key; '' draws a fresh one for this call
  headers: {},       // added to every attempt (Authorization, say)
  maxAttempts: 5,    // the first included
  minBackoff: 100,   // ms before the first retry, doubling, jittered to [d/2, d)
  maxBackoff: 5000,  // ms; a Retry-After may be longer, and is waited
  timeout: 10000,    // ms each attempt may take
  signal: null,      // an AbortSignal that ends the publish
};

// publish POSTs data to the topic at url (an Endpoint's topic URL) as one
// event and resolves to its ID. Every attempt carries the same
// Idempotency-Key, so that a retry after a lost answer (a network error, a
// timeout, a server that stored the event and died before answering) is
// answered with the same ID and publishes nothing more. It retries network
// errors, timeouts, 5xx (no sooner than a Retry-After), 408 and 429, and a
// 2xx whose body is not {"id": ...}; another answer (400, 401, 403, 413,
// 501) rejects at once with an Error whose status is the HTTP status.
export async function publish(url, data, options = {}) {
  const o = { ...PUBLISH_DEFAULTS };
  for (const [k, v] of Object.entries(options)) if (v !== undefined && v !== null) o[k] = v;
  const key = o.key || randomKey();
  if (!validKey(key)) throw new Error('rxstream: publish: invalid idempotency key (1 to 255 bytes of printable ASCII, space to tilde)');
  const u = new URL(url, globalThis.location ? globalThis.location.href : undefined);
  if (o.event) u.searchParams.set('event', o.event);
  let last = null;
  for (let attempt = 1; ; attempt++) {
    if (o.signal && o.signal.aborted) throw abortError(o.signal, last);
    let retryAfter = 0;
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; ctl.abort(); }, o.timeout);
    const onAbort = () => ctl.abort();
    if (o.signal) o.signal.addEventListener('abort', onAbort);
    try {
      const res = await fetch(u, {
        method: 'POST', body: data, cache: 'no-store', signal: ctl.signal,
        headers: { 'Content-Type': 'text/plain; charset=utf-8', ...o.headers, 'Idempotency-Key': key },
      });
      if (res.ok) {
        let body = null;
        try { body = await res.json(); } catch { /* retried below */ }
        if (body && typeof body.id === 'string' && body.id) return body.id;
        last = new Error(`rxstream: publish: ${res.status} answer without {"id": ...}`);
      } else {
        retryAfter = Number(res.headers.get('Retry-After')) * 1000 || 0;
        let message = '';
        try { message = (await res.json()).message || ''; } catch { /* not JSON */ }
        const err = new Error(`rxstream: publish: ${res.status} ${message || res.statusText}`);
        err.status = res.status;
        if (!retriedStatus(res.status)) throw err;
        last = err;
      }
    } catch (err) {
      if (err.status && !retriedStatus(err.status)) throw err;
      if (o.signal && o.signal.aborted) throw abortError(o.signal, last);
      last = timedOut ? new Error(`rxstream: publish: no answer within ${o.timeout} ms`) : err;
    } finally {
      clearTimeout(timer);
      if (o.signal) o.signal.removeEventListener('abort', onAbort);
    }
    if (attempt >= o.maxAttempts) {
      const err = new Error(`rxstream: publish: ${attempt} attempts failed, last: ${last.message}`);
      if (last.status) err.status = last.status;
      err.cause = last;
      throw err;
    }
    await sleep(backoff(attempt, o.minBackoff, o.maxBackoff, retryAfter), o.signal);
  }
}

// retriedStatus reports whether an answer of that status may not have
// published, so that publish retries it with the same key.
function retriedStatus(status) {
  return status === 408 || status === 429 || (status >= 500 && status !== 501);
}

// validKey is the server's rule for idempotency keys (framework.CheckKey).
function validKey(key) {
  return typeof key === 'string' && /^[\x20-\x7e]{1,255}$/.test(key);
}

// randomKey draws 128 bits as 32 hex digits. crypto.getRandomValues works
// on plain-HTTP pages too, where crypto.randomUUID does not.
function randomKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function backoff(n, min, max, retryAfter) {
  let d = Math.max(min, retryAfter);
  for (let i = 1; i < n && d < max; i++) d *= 2;
  d = Math.min(d, Math.max(max, retryAfter));
  return Math.max(d / 2 + Math.random() * d / 2, retryAfter); // jitter: [d/2, d), never below Retry-After
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) { reject(abortError(signal)); return; }
    const t = setTimeout(() => { if (signal) signal.removeEventListener('abort', stop); resolve(); }, ms);
    const stop = () => { clearTimeout(t); reject(abortError(signal)); };
    if (signal) signal.addEventListener('abort', stop, { once: true });
  });
}

function abortError(signal, last) {
  const err = new Error('rxstream: publish: aborted' + (last ? `; last attempt: ${last.message}` : ''));
  err.name = 'AbortError';
  err.cause = signal.reason;
  return err;
}

// validTopic is the server's rule for topic names (framework.ValidTopic).
function validTopic(name) {
  return typeof name === 'string' && /^[A-Za-z0-9_.-]{1,128}$/.test(name) &&
    name[0] !== '.' && name[name.length - 1] !== '.' && !name.includes('..');
}

// compose builds the composite cursor of topics from each one's own
// position (":id1,id2,"); '' when no topic has one.
function compose(recs) {
  if (!recs.some((r) => r.pos)) return '';
  return ':' + recs.map((r) => r.pos).join(',');
}

// positions reads a composite cursor of n topics back into each topic's own
// cursor ('' for none), as the server does; null when it is not one.
function positions(cursor, n) {
  const i = cursor.indexOf(':');
  if (i < 0) return null;
  const epoch = cursor.slice(0, i), parts = cursor.slice(i + 1).split(',');
  if (parts.length !== n) return null;
  return parts.map((p) => (p && epoch && !p.includes('-') ? epoch + '-' + p : p));
}

// Items is the async iteration of a stream or a subscription. It queues
// only once iteration began, so that callback users hold nothing.
class Items {
  constructor() { this.iterating = false; this.queue = []; this.waiters = []; this.ended = false; }

  push(value) {
    if (this.ended) return;
    const w = this.waiters.shift();
    if (w) w({ done: false, value });
    else if (this.iterating) this.queue.push({ done: false, value });
  }

  end() {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w({ done: true, value: undefined });
  }

  iterator(close) {
    this.iterating = true;
    return {
      next: () => {
        if (this.queue.length) return Promise.resolve(this.queue.shift());
        if (this.ended) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: () => { close(); return Promise.resolve({ done: true, value: undefined }); },
      [Symbol.asyncIterator]() { return this; },
    };
  }
}

export class Stream {
  constructor(url, options = {}) {
    this.options = { ...DEFAULTS };
    for (const [k, v] of Object.entries(options)) if (v !== undefined) this.options[k] = v;
    for (const t of this.options.transports) {
      if (!ALL.includes(t)) throw new Error(`rxstream: unknown transport ${t}`);
    }
    this.url = new URL(url, globalThis.location ? globalThis.location.href : undefined);
    this._cursor = this.options.cursor || '';
    this.transport = null;    // the transport in use, once open
    this.closed = false;
    this._topics = null;      // once multiplexed: topic name -> {name, pos, subs}
    this._index = 0;          // which transport is being tried
    this._failures = 0;       // consecutive failures of that transport
    this._worked = new Set(); // transports that opened at least once
    this._reopen = false;     // a connection of this stream opened: the next ones reopen it
    this._attempt = 0;
    this._conn = null;        // {close(), send?} of the current attempt
    this._timer = null;       // the next attempt, after a failure
    this._sync = null;        // a pending change of the topic set
    this._token = '';         // the current token, when options.token is set
    this._asking = 0;         // the token request a connection waits for (0: none)
    this._asked = 0;          // token requests made
    this._refresh = null;     // the timer of the next refresh
    this._items = new Items();
    // A stream whose first subscribe comes in the same tick never opens
    // the URL as one topic.
    queueMicrotask(() => { if (!this._topics && !this._attempt) this._start(); });
  }

  // cursor is where a reconnection resumes: the last event ID of a
  // single-topic stream; the composite of each topic's own of a
  // multiplexed one.
  get cursor() { return this._topics ? compose([...this._topics.values()]) : this._cursor; }

  // subscribe follows topic on this stream's one connection; the first call
  // makes the stream multiplexed (url then serves several topics, like
  // /topics). Calls within one tick open one connection for all of them.
  subscribe(topic, options = {}) {
    if (this.closed) throw new Error('rxstream: subscribe on a closed stream');
    if (!validTopic(topic)) throw new Error(`rxstream: invalid topic ${JSON.stringify(topic)} (1 to 128 letters, digits, "-", "_" and ".")`);
    if (!this._topics) {
      this._topics = new Map();
      if (this._attempt || this._asking) { // a single-topic attempt began before the first subscribe
        this._stop();
        this._index = 0; this._failures = 0; this._worked.clear();
      }
    }
    let rec = this._topics.get(topic);
    if (!rec) {
      rec = { name: topic, pos: options.cursor || '', subs: new Set(), rewind: rewindOf(options, this.options) };
      this._topics.set(topic, rec);
      this._changed();
    }
    const sub = new Subscription(this, rec, options);
    rec.subs.add(sub);
    return sub;
  }

  // close ends the stream and its subscriptions; it is idempotent.
  close() {
    if (this.closed) return;
    this.closed = true;
    this._stop();
    clearTimeout(this._sync);
    clearTimeout(this._refresh);
    for (const rec of this._topics ? this._topics.values() : []) {
      for (const sub of [...rec.subs]) sub._end();
    }
    this._items.end();
    if (this.options.onClose) this.options.onClose();
  }

  // Async iteration yields {type: 'event', event} and {type: 'gap', gap}:
  // of every subscription on a multiplexed stream.
  [Symbol.asyncIterator]() {
    return this._items.iterator(() => this.close());
  }

  _stop() {
    this._attempt++; // ignore whatever the connection still says
    this._asking = 0; // and the token it waits for
    clearTimeout(this._timer);
    this._timer = null;
    if (this._conn) this._conn.close();
    this._conn = null;
  }

  _unsubscribe(sub) {
    const rec = sub._rec;
    rec.subs.delete(sub);
    if (rec.subs.size || this.closed || this._topics.get(rec.name) !== rec) return;
    this._topics.delete(rec.name);
    this._changed();
  }

  // _changed applies a change of the topic set at the end of the tick, once
  // for however many calls made it.
  _changed() {
    if (this._sync === null) this._sync = setTimeout(() => { this._sync = null; this._reconcile(); }, 0);
  }

  _reconcile() {
    if (this.closed || !this._topics) return;
    const conn = this._conn;
    if (!this._topics.size) { this._stop(); return; }
    if (conn && conn.send) { // an open WebSocket: tell the server
      for (const [name, rec] of conn.topics) {
        if (this._topics.get(name) !== rec) { conn.topics.delete(name); conn.send({ type: 'unsubscribe', topic: name }); }
      }
      for (const [name, rec] of this._topics) {
        if (!conn.topics.has(name)) {
          conn.topics.set(name, rec);
          conn.send(subscribeMessage(rec));
        }
      }
      return;
    }
    if (conn && conn.topics.size === this._topics.size && [...this._topics].every(([n, r]) => conn.topics.get(n) === r)) return;
    if (!conn && this._timer) return; // the next attempt takes the new set
    // Reopen with the new set, from each topic's position.
    this._stop();
    this._start();
  }

  _event(ev, attempt) {
    if (attempt !== this._attempt || this.closed) return; // a superseded connection
    if (ev.id) this._cursor = ev.id;
    if (presenceEvent(this, ev, '', [])) return;
    if (ev.event === 'gap') {
      let gap;
      try { gap = JSON.parse(ev.data); } catch { gap = { last: '', next: '' }; }
      this._gap(gap, attempt);
      return;
    }
    const event = { id: ev.id || '', event: ev.event || 'message', data: ev.data, transport: this.transport };
    if (this.options.onEvent) this.options.onEvent(event);
    this._items.push({ type: 'event', event });
  }

  _gap(gap, attempt) {
    if (attempt !== this._attempt || this.closed) return;
    if (this.options.onGap) this.options.onGap(gap);
    this._items.push({ type: 'gap', gap });
  }

  // _rec returns the record of topic on conn, or null when the topic is no
  // longer followed (an event in flight when it was unsubscribed).
  _rec(conn, topic, attempt) {
    if (attempt !== this._attempt || this.closed) return null;
    const rec = conn.topics.get(topic);
    return rec && this._topics.get(topic) === rec ? rec : null;
  }

  _muxEvent(rec, ev, transport) {
    if (ev.id) rec.pos = ev.id;
    if (presenceEvent(this, ev, rec.name, [...rec.subs])) return;
    const event = { id: ev.id || '', event: ev.event || 'message', data: ev.data, transport: transport || this.transport, topic: rec.name };
    for (const sub of [...rec.subs]) sub._event(event);
    if (this.options.onEvent) this.options.onEvent(event);
    this._items.push({ type: 'event', event });
  }

  _muxGap(rec, gap) {
    gap = { topic: rec.name, last: gap.last || '', next: gap.next || '' };
    for (const sub of [...rec.subs]) sub._gap(gap);
    if (this.options.onGap) this.options.onGap(gap);
    this._items.push({ type: 'gap', gap });
  }

  _urlFor(transport, topics) {
    const custom = this.options.urls && this.options.urls[transport];
    const u = new URL(custom || this.url.href, this.url);
    if (!custom && transport === 'longpoll') u.searchParams.set('transport', 'longpoll');
    if (!custom && transport === 'poll') u.searchParams.set('transport', 'poll');
    if (transport === 'websocket') u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.options.presence) u.searchParams.set('presence', 'true');
    for (const name of topics || []) u.searchParams.append('topic', name);
    return u;
  }

  // _start opens the next connection, once it has a token when
  // options.token is set: a fresh one for every connection.
  _start() {
    if (this.closed) return;
    this._timer = null;
    if (!this.options.token) { this._connect(); return; }
    const asking = this._asking = ++this._asked;
    Promise.resolve().then(() => this.options.token()).then((token) => {
      if (asking !== this._asking || this.closed) return;
      this._asking = 0;
      this._setToken(token);
      this._connect();
    }, (err) => {
      if (asking !== this._asking || this.closed) return;
      this._asking = 0;
      if (this.options.onError) this.options.onError(err, this.options.transports[this._index]);
      this._timer = setTimeout(() => this._start(), this._backoff(++this._failures));
    });
  }

  // _setToken keeps token and schedules its refresh before a JWT's exp:
  // refreshMargin before it, or at half its remaining life when that is
  // sooner (a page's timers may run a second late on a busy machine).
  _setToken(token, expires) {
    this._token = String(token || '');
    clearTimeout(this._refresh);
    this._refresh = null;
    const exp = tokenExpiry(this._token) || expires || 0;
    const left = exp - Date.now();
    if (!exp || left <= 0) return; // expired already: the server says so, and the stream reconnects
    this._refresh = setTimeout(() => this._renew(), left - Math.min(this.options.refreshMargin, left / 2));
  }

  // _renew replaces the token before it expires: on an open WebSocket with
  // a refresh message; on SSE and the polls by reopening with the new
  // token from the cursor.
  _renew() {
    this._refresh = null;
    if (this.closed) return;
    const conn = this._conn;
    if (!conn && (this._timer || this._asking)) return; // the next attempt asks for a token anyway
    if (!conn || !conn.refresh) { this._stop(); this._start(); return; }
    Promise.resolve().then(() => this.options.token()).then((token) => {
      if (this.closed || this._conn !== conn) return;
      this._setToken(token);
      conn.refresh(this._token);
    }, (err) => {
      if (this.closed || this._conn !== conn) return;
      if (this.options.onError) this.options.onError(err, this.transport);
      this._refresh = setTimeout(() => this._renew(), this._backoff(1)); // the connection holds until it expires
    });
  }

  _connect() {
    let topics = null, order = null; // a multiplexed attempt's topics, in the request's order
    if (this._topics) {
      if (!this._topics.size) return; // nothing to follow: no connection
      topics = new Map(this._topics);
      order = [...topics.values()];
    }
    const transport = this.options.transports[this._index];
    const attempt = ++this._attempt;
    let opened = false;
    let before = null; // the failure count, and whether the transport had worked, before this connection opened
    const timer = setTimeout(() => { if (!opened) fail(new Error(`${transport}: did not open within ${this.options.openTimeout} ms`)); }, this.options.openTimeout);
    const open = () => {
      if (attempt !== this._attempt) return;
      opened = true;
      clearTimeout(timer);
      before = { failures: this._failures, worked: this._worked.has(transport) };
      this._failures = 0;
      this._worked.add(transport);
      this._reopen = true;
      this.transport = transport;
      if (this.options.onOpen) this.options.onOpen(transport);
      for (const rec of topics ? topics.values() : []) {
        if (transport !== 'websocket') for (const sub of [...rec.subs]) sub._open(transport);
      }
    };
    const fail = (err, retryAfter) => {
      if (attempt !== this._attempt || this.closed) return;
      this._attempt++; // ignore whatever the failed connection still says
      clearTimeout(timer);
      if (this._conn) this._conn.close();
      this._conn = null;
      if (this.options.onError) this.options.onError(err, transport);
      this._failures++;
      const limit = this._worked.has(transport) ? this.options.failuresBeforeFallback : 1;
      let delay = this._backoff(this._failures, retryAfter);
      if (retryAfter) {
        // The server answered and said when to try again (a limit, a
        // shutdown; a completed stream, after minBackoff): the transport
        // works, and another would be told the same.
      } else if (this._failures >= limit && this._index < this.options.transports.length - 1) {
        this._index++; this._failures = 0; delay = 0; // fall back to the next transport at once
      } else if (this._failures >= limit && !opened && !this._worked.size) {
        this._index = 0; // nothing ever worked: go round again, with backoff
      }
      this._timer = setTimeout(() => this._start(), delay);
    };
    // expired ends a connection that worked because its authorization
    // expired: a new token, at once, from the cursor.
    const expired = (err) => {
      if (attempt !== this._attempt || this.closed) return;
      this._attempt++;
      clearTimeout(timer);
      if (this._conn) this._conn.close();
      this._conn = null;
      if (this.options.onError) this.options.onError(err, transport);
      this._timer = setTimeout(() => this._start(), 0);
    };
    const h = {
      open, fail, expired, attempt,
      // unopened takes back the open of a connection that the server
      // closed at once, before any message (a refusal over a limit): it
      // was no success, and the failures before it still count.
      unopened: () => {
        if (!before || attempt !== this._attempt) return;
        this._failures = before.failures;
        if (!before.worked) this._worked.delete(transport);
      },
      token: () => this._token,
      // ended handles the server's end of a stream whose authorization
      // ended: reason 'expired' reconnects at once with a new token;
      // 'revoked' of one topic fails that topic's subscriptions and
      // reopens without it; 'revoked' otherwise is a failure, retried with
      // backoff (and a new token) as the server decides.
      ended: (reason, message, topic, via) => {
        const err = authError(`${via || transport}: ${message || 'authorization ' + reason}`, reason, topic);
        if (reason === 'expired') { expired(err); return; }
        if (topic && topics && h._rec(topic)) {
          const rec = topics.get(topic);
          topics.delete(topic);
          err.status = 403;
          for (const sub of [...rec.subs]) sub._fail(err);
          expired(err);
          return;
        }
        fail(err);
      },
      _rec: (topic) => this._rec(h, topic, attempt),
      current: () => attempt === this._attempt && !this.closed,
      // single topic
      event: (ev) => this._event(ev, attempt),
      gap: (g) => this._gap(g, attempt),
      // moved sets where a single-topic stream stands, as a poll answer says.
      moved: (cursor) => { if (cursor && h.current()) this._cursor = cursor; },
      // resume takes the cursor that the server's end of a stream carries
      // (a WebSocket's close reason, the data of SSE's expired and revoked
      // events): the one of a single-topic stream that has seen no event
      // yet, which would otherwise reopen live and lose what comes while
      // it reconnects; the composite of a multiplexed one.
      resume: (cursor) => {
        if (!cursor) return;
        if (topics) h.position(cursor);
        else if (!this._cursor) h.moved(cursor);
      },
      // several topics
      topics,
      cursor: () => (topics ? compose(order) : this._cursor),
      item: (topic, ev, via) => { const rec = this._rec(h, topic, attempt); if (rec) this._muxEvent(rec, ev, via); },
      topicGap: (topic, g, id) => {
        const rec = this._rec(h, topic, attempt);
        if (!rec) return;
        this._muxGap(rec, g);
        if (id) rec.pos = id;
      },
      // position reads a composite cursor of recs (the request's topics)
      // into each topic's own.
      position: (cursor, recs = order) => {
        if (attempt !== this._attempt || !cursor) return;
        const pos = positions(cursor, recs.length);
        if (pos) pos.forEach((p, i) => { if (p) recs[i].pos = p; });
      },
      subscribed: (topic, cursor) => {
        const rec = this._rec(h, topic, attempt);
        if (!rec) return;
        if (cursor) rec.pos = cursor;
        for (const sub of [...rec.subs]) sub._open(transport);
      },
      refused: (topic, status, message, retryAfter) => {
        const rec = this._rec(h, topic, attempt);
        if (!rec) return;
        const err = new Error(`${transport}: topic ${topic}: ${status} ${message}`);
        err.status = status;
        topics.delete(topic);
        if (status === 503) { // full or broker down: ask again later
          if (this.options.onError) this.options.onError(err, transport);
          setTimeout(() => { if (h.current()) this._reconcile(); }, this._backoff(1, retryAfter));
          return;
        }
        for (const sub of [...rec.subs]) sub._fail(err);
      },
    };
    try {
      const url = this._urlFor(transport, topics && topics.keys());
      if (this._token && (transport === 'websocket' || transport === 'sse')) url.searchParams.set(this.options.tokenParam, this._token);
      this._conn = TRANSPORTS[transport].call(this, url, h);
      if (this._conn && topics) this._conn.topics = topics;
    } catch (err) {
      fail(err);
    }
  }

  _backoff(n, retryAfter) {
    let d = this.options.minBackoff;
    for (let i = 1; i < n && d < this.options.maxBackoff; i++) d *= 2;
    d = Math.min(d, this.options.maxBackoff);
    if (retryAfter) d = Math.max(d, retryAfter);
    return Math.max(d / 2 + Math.random() * d / 2, retryAfter || 0); // jitter: [d/2, d), never below the server's retry delay (jittered already)
  }
}

// Subscription is one topic followed on a multiplexed stream. Several
// subscriptions of one topic on one stream share its one subscription on
// the wire; a later one gets the topic's events from then on.
export class Subscription {
  constructor(stream, rec, options) {
    this.stream = stream;
    this.topic = rec.name;
    this.options = options;
    this.closed = false;
    this._rec = rec;
    this._items = new Items();
  }

  // cursor is the topic's own position: the last event ID received, or
  // where it started.
  get cursor() { return this._rec.pos; }

  // close ends the subscription; the stream unsubscribes the topic when no
  // other subscription follows it. Idempotent.
  close() {
    if (this.closed) return;
    this.stream._unsubscribe(this);
    this._end();
  }

  [Symbol.asyncIterator]() {
    return this._items.iterator(() => this.close());
  }

  _end() {
    if (this.closed) return;
    this.closed = true;
    this._items.end();
    if (this.options.onClose) this.options.onClose();
  }

  _event(event) {
    if (this.closed) return;
    if (this.options.onEvent) this.options.onEvent(event);
    this._items.push({ type: 'event', event });
  }

  _gap(gap) {
    if (this.closed) return;
    if (this.options.onGap) this.options.onGap(gap);
    this._items.push({ type: 'gap', gap });
  }

  _open(transport) {
    if (!this.closed && this.options.onOpen) this.options.onOpen(transport);
  }

  _fail(err) {
    if (this.closed) return;
    if (this.options.onError) this.options.onError(err);
    this.close();
  }
}

function decodeEnvelope(env) {
  let data = env.data == null ? '' : env.data;
  if (env.base64) {
    const bin = atob(data);
    data = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) data[i] = bin.charCodeAt(i);
  }
  return { id: env.id || '', event: env.event || '', data };
}

function parseGap(data) {
  try { return JSON.parse(data); } catch { return { last: '', next: '' }; }
}

// muxEnvelope hands one envelope of a multiplexed poll answer or WebSocket
// frame to h: an event of its topic, or a gap notice.
function muxEnvelope(h, env, via) {
  if (env.event === 'gap') h.topicGap(env.topic, parseGap(env.data), env.id);
  else h.item(env.topic, decodeEnvelope(env), via);
}

// BATCH_PROTOCOL is the WebSocket subprotocol of batches.
const BATCH_PROTOCOL = 'rxstream.batch.v1';

const TRANSPORTS = {
  websocket(url, h) {
    let sock = null;
    const ctl = new AbortController();
    const conn = { close: () => { ctl.abort(); if (sock) { sock.onclose = null; sock.close(1000); } } };
    const open = () => {
      if (ctl.signal.aborted) return;
      const cursor = h.cursor();
      if (cursor) url.searchParams.set('cursor', cursor);
      addRewind(url, this.options, h.topics, cursor);
      // rxstream.batch.v1: a batch of events comes as one frame, a JSON
      // array of envelopes (see the websocket package); a server without it
      // sends one envelope per frame.
      const ws = sock = new WebSocket(url, [BATCH_PROTOCOL]);
      const send = (msg) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); };
      let openedAt = 0, received = false;
      ws.onopen = () => {
        openedAt = Date.now();
        // Changes of the topic set now go as messages.
        if (h.topics) conn.send = send;
        // A new token goes as a message too: the connection stays.
        if (h.token()) conn.refresh = (token) => send({ type: 'refresh', token });
        h.open();
      };
      const refreshed = (env) => {
        // A token that is not a JWT is refreshed before the expiry the server tells.
        const exp = Date.parse(env.expires || '');
        if (exp && !tokenExpiry(h.token()) && h.current()) this._setToken(h.token(), exp);
      };
      ws.onmessage = (m) => {
        received = true;
        if (typeof m.data !== 'string') return; // envelopes are text frames
        let msg;
        try { msg = JSON.parse(m.data); } catch { h.fail(new Error('websocket: frame is not a JSON envelope')); return; }
        if (Array.isArray(msg) && ws.protocol === BATCH_PROTOCOL) msg.forEach(envelope);
        else envelope(msg);
      };
      const envelope = (env) => {
        if (!h.topics) {
          // An envelope has no type; a refresh's answer has one.
          if (env.type === 'refreshed') refreshed(env);
          else if (env.type === 'error') { if (h.current() && this.options.onError) this.options.onError(new Error('websocket: ' + (env.message || 'refused a message')), 'websocket'); }
          else h.event(decodeEnvelope(env));
          return;
        }
        switch (env.type) {
          case 'subscribed': h.subscribed(env.topic, env.cursor); return;
          case 'unsubscribed': return;
          case 'refreshed': refreshed(env); return;
          case 'error':
            if (env.topic) h.refused(env.topic, env.status, env.message || '');
            else if (h.current() && this.options.onError) this.options.onError(new Error('websocket: ' + (env.message || 'refused a message')), 'websocket');
            return;
          default: muxEnvelope(h, env);
        }
      };
      ws.onerror = () => {}; // onclose follows with the code
      ws.onclose = (e) => {
        if (this.closed) return;
        if (e.code === 1000) { h.fail(new Error('websocket: stream completed'), this.options.minBackoff); return; }
        // Every close of a hub topic but 1000 starts its reason with the
        // cursor to resume from, "cursor=ID; " (see the websocket package).
        const m = /^cursor=([^;]*); /.exec(e.reason || '');
        if (m) h.resume(m[1]);
        const why = (e.reason || '').slice(m ? m[0].length : 0);
        // 4401: the authorization expired; 4403: revoked.
        if (e.code === 4401) { h.ended('expired', why); return; }
        if (e.code === 4403) { h.ended('revoked', why); return; }
        // A connection over a limit of the server is closed at once with
        // 1008 (the user's connections) or 1013 (the address's), and a
        // reason that says when to try again: "retry in 7s; ...".
        const retry = (e.code === 1008 || e.code === 1013) && /^retry in (\d+)s\b/.exec(why);
        if (!received && Date.now() - openedAt < this.options.openTimeout) h.unopened();
        h.fail(new Error(`websocket: closed ${e.code} ${e.reason}`), retry ? Number(retry[1]) * 1000 : 0);
      };
    };
    // A single-topic connection tells where it stands only with its events
    // and the reason of a close: one that reopens without a cursor after a
    // connection of it opened (cut off without a close, say) asks first.
    if (!h.topics && !h.cursor() && this._reopen) askPosition.call(this, h, null, ctl.signal).finally(open);
    else open();
    return conn;
  },

  sse(url, h) {
    // Our reconnections (after a fallback or a failure) carry the cursor
    // in the query. Between them EventSource reconnects by itself, as the
    // spec says: it waits the server's retry: hint and resends
    // Last-Event-ID, which the server set even before the first event.
    let es = null, stopped = false;
    const ctl = new AbortController();
    const start = () => {
      if (stopped || !h.current()) return;
      const cursor = h.cursor();
      if (cursor) url.searchParams.set('lastEventId', cursor);
      addRewind(url, this.options, h.topics, cursor);
      es = new EventSource(url);
      let wasOpen = false, errors = 0;
      const names = new Set();
      const on = (name) => {
        if (names.has(name)) return;
        names.add(name);
        es.addEventListener(name, (m) => dispatch(name, m));
      };
      const dispatch = (name, m) => {
        if (!h.topics) { h.event({ id: m.lastEventId, event: name, data: m.data }); return; }
        let d;
        try { d = JSON.parse(m.data); } catch { h.fail(new Error('sse: data of a multiplexed event is not JSON')); return; }
        if (name === 'gap') h.topicGap(d.topic, d);
        else h.item(d.topic, { id: d.id || '', event: name, data: d.data == null ? '' : d.data });
        h.position(m.lastEventId); // every topic's position
      };
      es.onopen = () => { wasOpen = true; errors = 0; h.open(); };
      es.onmessage = (m) => dispatch('message', m);
      // The server ends a stream whose authorization ended with one of
      // these, then ends the response: this client reopens with a new
      // token from its cursor, before EventSource would with the old one.
      for (const reason of ['expired', 'revoked']) {
        names.add(reason);
        es.addEventListener(reason, (m) => {
          let d = {};
          try { d = JSON.parse(m.data); } catch { /* a reason without details */ }
          es.close();
          h.resume(d.cursor);
          h.ended(reason, d.message, d.topic, 'sse');
        });
      }
      on('gap');
      if (this.options.presence) for (const name of PRESENCE) on(name);
      for (const name of this.options.events || []) on(name);
      es.addEventListener('error', (m) => {
        if (m.data !== undefined) { // the server's "error" event: the producer failed
          h.fail(new Error('sse: ' + m.data));
          return;
        }
        errors++;
        if (!wasOpen || es.readyState === EventSource.CLOSED || errors >= this.options.failuresBeforeFallback) {
          h.fail(new Error('sse: connection failed'));
        } else if (this.options.onError) {
          this.options.onError(new Error('sse: reconnecting'), 'sse');
        }
      });
    };
    const fresh = h.topics ? [...h.topics.values()].filter((r) => !r.pos) : null;
    // EventSource cannot read the opening id block that names where a
    // topic without a position starts: a single-topic stream without a
    // cursor that reopens (after a connection of it opened, or to renew
    // its token: see _renew) asks first, as a multiplexed one does for its
    // topics without a position.
    if (fresh ? fresh.length > 0 : !h.cursor() && (this._reopen || !!this.options.token)) {
      askPosition.call(this, h, fresh, ctl.signal).finally(start);
    } else start();
    return { close: () => { stopped = true; ctl.abort(); if (es) es.close(); } };
  },

  longpoll(url, h) {
    return pollLoop.call(this, url, h, true);
  },

  poll(url, h) {
    return pollLoop.call(this, url, h, false);
  },
};

// askPosition asks a short poll where the topics without a position stand
// (fresh: those records of a multiplexed stream; null: its single topic)
// and moves them there, so that a stream reopened without a cursor does
// not start live again and lose what came between. It never fails:
// without an answer the stream starts with live events.
function askPosition(h, fresh, signal) {
  const u = this._urlFor('poll', fresh && fresh.map((r) => r.name));
  addRewind(u, this.options, fresh && new Map(fresh.map((r) => [r.name, r])), '');
  return fetch(u, { headers: authHeaders(h, { Accept: 'application/json' }), signal, cache: 'no-store' })
    .then((res) => {
      if (res.ok && /json/.test(res.headers.get('Content-Type') || '')) return res.json();
      if (res.body) res.body.cancel(); // not a poll answer: a handler that ignores ?transport=poll, say
      return null;
    })
    .then((body) => { if (body && !signal.aborted) pollAnswer(h, body, fresh, 'poll'); })
    .catch(() => {});
}

// authHeaders adds the stream's token to the headers of a request that
// fetch makes.
function authHeaders(h, headers) {
  const token = h.token();
  if (token) headers.Authorization = 'Bearer ' + token;
  return headers;
}

// pollAnswer hands a poll answer to h: of a single topic when recs is
// null, else a multiplexed one of recs (the request's topics).
function pollAnswer(h, body, recs, via) {
  if (!recs) {
    if (body.gap) h.gap(body.gap);
    for (const env of body.events || []) h.event(decodeEnvelope(env));
    h.moved(body.cursor);
    return;
  }
  for (const env of body.events || []) muxEnvelope(h, env, via);
  h.position(body.cursor, recs);
}

function pollLoop(url, h, long) {
  const ctl = new AbortController();
  let etag = '', stopped = false, opened = false, timer = null;
  const recs = h.topics ? [...h.topics.values()] : null;
  const once = async () => {
    const u = new URL(url);
    const cursor = h.cursor();
    if (cursor) u.searchParams.set('cursor', cursor);
    addRewind(u, this.options, h.topics, cursor);
    // A first long-poll that lacks a position asks for its starting cursor
    // at once (timeout=0s) instead of waiting for the first event.
    const lacking = recs ? recs.some((r) => !r.pos) : !cursor;
    if (long && !opened && lacking) u.searchParams.set('timeout', '0s');
    else if (long && this.options.longPollTimeout) u.searchParams.set('timeout', String(this.options.longPollTimeout) + 'ms');
    const headers = authHeaders(h, { Accept: 'application/json' });
    if (etag) headers['If-None-Match'] = etag;
    let res;
    try {
      res = await fetch(u, { headers, signal: ctl.signal, cache: 'no-store' });
    } catch (err) {
      if (!stopped) h.fail(err);
      return;
    }
    if (stopped) return;
    const retryAfter = Number(res.headers.get('Retry-After')) * 1000 || 0;
    if (res.status === 204 || res.status === 304) {
      if (!opened) { opened = true; h.open(); }
      const c = res.headers.get('X-Cursor');
      if (recs) h.position(c, recs);
      else if (!this._cursor) h.moved(c);
      timer = setTimeout(once, long ? 0 : this.options.pollInterval);
      return;
    }
    const name = long ? 'longpoll' : 'poll';
    if ((res.status === 401 || res.status === 403) && h.token()) {
      // A held long-poll is answered 401 when the authorization expires, the
      // next poll too: a poll that worked reconnects at once with a new
      // token. 403 is a revocation (of one topic, when the answer names it).
      let body = {};
      try { body = await res.json(); } catch { /* no details */ }
      if (stopped) return;
      if (res.status === 401 && opened) { h.ended('expired', body.message, '', name); return; }
      if (res.status === 403) { h.ended('revoked', body.message, body.topic, name); return; }
    }
    if (!res.ok) { h.fail(new Error(`${name}: HTTP ${res.status}`), retryAfter); return; }
    let body;
    try { body = await res.json(); } catch (err) { h.fail(err); return; }
    if (stopped) return;
    if (!opened) { opened = true; h.open(); }
    etag = res.headers.get('ETag') || '';
    pollAnswer(h, body, recs);
    const wait = long ? 0 : (body.retry != null ? body.retry : this.options.pollInterval);
    timer = setTimeout(once, (body.events || []).length && !long ? 0 : wait);
  };
  once();
  return { close: () => { stopped = true; clearTimeout(timer); ctl.abort(); } };
}

// Rewind and history.
//
// A stream or a topic without a cursor may ask for its last events before
// the live ones: options.rewind (a number of events) or options.since
// (milliseconds, or a duration such as '30s'). They are sent only while it
// has no position: a reconnection resumes from its cursor, which wins on
// the server too.

// rewindOf picks the rewind of a subscription's options, else the stream's;
// null for none.
function rewindOf(options, streamOptions) {
  for (const o of [options, streamOptions]) {
    if (o && o.rewind) return { rewind: o.rewind };
    if (o && o.since) return { since: o.since };
  }
  return null;
}

// sinceParam formats a since option for the server: a number is
// milliseconds.
function sinceParam(since) {
  return typeof since === 'number' ? `${Math.round(since)}ms` : String(since);
}

// addRewind sets u's rewind or since parameter for what has no position
// yet: the one topic of a stream without a cursor, or each topic of a
// multiplexed request's topics (a Map, in the request's order) without
// one, as a list with one value per topic.
function addRewind(u, options, topics, cursor) {
  if (!topics) {
    const rw = cursor ? null : rewindOf(options);
    if (rw && rw.rewind) u.searchParams.set('rewind', String(rw.rewind));
    else if (rw) u.searchParams.set('since', sinceParam(rw.since));
    return;
  }
  const recs = [...topics.values()];
  const asked = (r) => (r.pos ? null : r.rewind);
  const rewinds = recs.map((r) => (asked(r) && asked(r).rewind ? String(asked(r).rewind) : ''));
  const sinces = recs.map((r) => (asked(r) && asked(r).since ? sinceParam(asked(r).since) : ''));
  if (rewinds.some(Boolean)) u.searchParams.set('rewind', rewinds.join(','));
  if (sinces.some(Boolean)) u.searchParams.set('since', sinces.join(','));
}

// subscribeMessage is the WebSocket subscribe message of a topic: from its
// position, or, without one, with its rewind.
function subscribeMessage(rec) {
  if (rec.pos) return { type: 'subscribe', topic: rec.name, cursor: rec.pos };
  const msg = { type: 'subscribe', topic: rec.name };
  if (rec.rewind && rec.rewind.rewind) msg.rewind = rec.rewind.rewind;
  else if (rec.rewind) msg.since = sinceParam(rec.rewind.since);
  return msg;
}

// history reads one page of a topic's history from its history URL (such
// as '/topics/chat/history'): options.before (a cursor: the page before
// it, newest first; neither it nor after: from the newest), options.after
// (the page after it, oldest first), options.limit, options.headers
// (added to the request: Authorization, say). It resolves to
// {events, cursor, more, truncated, gap}: cursor is where the next page in
// the same direction starts, more says there is one, truncated that the
// page reached the start of what is retained and older events were
// discarded. It rejects with an Error carrying the status of a refusal.
export async function history(url, options = {}) {
  const u = new URL(url, globalThis.location ? globalThis.location.href : undefined);
  for (const k of ['before', 'after', 'limit']) {
    if (options[k] != null && options[k] !== '') u.searchParams.set(k, String(options[k]));
  }
  const headers = { ...(options.headers || {}), Accept: 'application/json' };
  const res = await fetch(u, { headers, cache: 'no-store', signal: options.signal });
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok || !body) {
    const err = new Error(`history: HTTP ${res.status}${body && body.message ? ' ' + body.message : ''}`);
    err.status = res.status;
    throw err;
  }
  const events = (body.events || []).map((env) => {
    const ev = decodeEnvelope(env);
    return { id: ev.id, event: ev.event || 'message', data: ev.data };
  });
  return { events, cursor: body.cursor || '', more: !!body.more, truncated: !!body.truncated, gap: body.gap || null };
}

// presence lists one page of a topic's members from its presence URL
// (such as '/topics/chat/presence'): options.after (the cursor of the
// previous page), options.limit, options.headers. It resolves to
// {members: [{user, info, conns}], anonymous, cursor, more}, members
// sorted by user; a member whose leave waits for the server's coalescing
// window has conns 0. It rejects with an Error carrying the status of a
// refusal.
export async function presence(url, options = {}) {
  const u = new URL(url, globalThis.location ? globalThis.location.href : undefined);
  for (const k of ['after', 'limit']) {
    if (options[k] != null && options[k] !== '') u.searchParams.set(k, String(options[k]));
  }
  const headers = { ...(options.headers || {}), Accept: 'application/json' };
  const res = await fetch(u, { headers, cache: 'no-store', signal: options.signal });
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok || !body) {
    const err = new Error(`presence: HTTP ${res.status}${body && body.message ? ' ' + body.message : ''}`);
    err.status = res.status;
    throw err;
  }
  return { members: body.members || [], anonymous: body.anonymous || 0, cursor: body.cursor || '', more: !!body.more };
}
