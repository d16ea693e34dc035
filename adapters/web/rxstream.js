// rxstream browser client: one stream over the best transport that works
// (WebSocket, then SSE, then long-poll, then short-poll), carrying one cursor
// across transports and reconnections so that no event is lost or repeated.
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
  onEvent: null, onGap: null, onOpen: null, onError: null, onClose: null,
};

// connect opens a stream at url (absolute or relative to the page).
export function connect(url, options = {}) {
  return new Stream(url, options);
}

export class Stream {
  constructor(url, options = {}) {
    this.options = { ...DEFAULTS };
    for (const [k, v] of Object.entries(options)) if (v !== undefined) this.options[k] = v;
    for (const t of this.options.transports) {
      if (!ALL.includes(t)) throw new Error(`rxstream: unknown transport ${t}`);
    }
    this.url = new URL(url, globalThis.location ? globalThis.location.href : undefined);
    this.cursor = this.options.cursor || '';
    this.transport = null;    // the transport in use, once open
    this.closed = false;
    this._index = 0;          // which transport is being tried
    this._failures = 0;       // consecutive failures of that transport
    this._worked = new Set(); // transports that opened at least once
    this._conn = null;        // {close()} of the current attempt
    this._timer = null;
    this._waiters = [];       // async iterator
    this._queue = [];
    this._start();
  }

  // close ends the stream; it is idempotent.
  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this._timer);
    if (this._conn) this._conn.close();
    this._conn = null;
    this._push({ done: true });
    if (this.options.onClose) this.options.onClose();
  }

  // Async iteration yields {type: 'event', event} and {type: 'gap', gap}.
  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this._queue.length) return Promise.resolve(this._queue.shift());
        if (this.closed) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => this._waiters.push(resolve));
      },
      return: () => { this.close(); return Promise.resolve({ done: true, value: undefined }); },
    };
  }

  _push(item) {
    const w = this._waiters.shift();
    if (w) { w(item); return; }
    if (!item.done) this._queue.push(item);
    else for (const w2 of this._waiters.splice(0)) w2(item);
  }

  _emit(ev, attempt) {
    if (attempt !== this._attempt || this.closed) return; // a superseded connection
    if (ev.id) this.cursor = ev.id;
    if (ev.event === 'gap') {
      let gap;
      try { gap = JSON.parse(ev.data); } catch { gap = { last: '', next: '' }; }
      this._gap(gap, attempt);
      return;
    }
    const event = { id: ev.id || '', event: ev.event || 'message', data: ev.data, transport: this.transport };
    if (this.options.onEvent) this.options.onEvent(event);
    this._push({ done: false, value: { type: 'event', event } });
  }

  _gap(gap, attempt) {
    if (attempt !== this._attempt || this.closed) return;
    if (this.options.onGap) this.options.onGap(gap);
    this._push({ done: false, value: { type: 'gap', gap } });
  }

  _urlFor(transport) {
    const custom = this.options.urls && this.options.urls[transport];
    const u = new URL(custom || this.url.href, this.url);
    if (!custom && transport === 'longpoll') u.searchParams.set('transport', 'longpoll');
    if (!custom && transport === 'poll') u.searchParams.set('transport', 'poll');
    if (transport === 'websocket') u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u;
  }

  _start() {
    if (this.closed) return;
    const transport = this.options.transports[this._index];
    const attempt = this._attempt = (this._attempt || 0) + 1;
    let opened = false;
    const timer = setTimeout(() => { if (!opened) fail(new Error(`${transport}: did not open within ${this.options.openTimeout} ms`)); }, this.options.openTimeout);
    const open = () => {
      if (attempt !== this._attempt) return;
      opened = true;
      clearTimeout(timer);
      this._failures = 0;
      this._worked.add(transport);
      this.transport = transport;
      if (this.options.onOpen) this.options.onOpen(transport);
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
      if (this._failures >= limit && this._index < this.options.transports.length - 1) {
        this._index++; this._failures = 0; delay = 0; // fall back to the next transport at once
      } else if (this._failures >= limit && !opened && !this._worked.size) {
        this._index = 0; // nothing ever worked: go round again, with backoff
      }
      this._timer = setTimeout(() => this._start(), delay);
    };
    const h = { open, fail, event: (ev) => this._emit(ev, attempt), gap: (g) => this._gap(g, attempt), attempt };
    try {
      this._conn = TRANSPORTS[transport].call(this, this._urlFor(transport), h);
    } catch (err) {
      fail(err);
    }
  }

  _backoff(n, retryAfter) {
    let d = this.options.minBackoff;
    for (let i = 1; i < n && d < this.options.maxBackoff; i++) d *= 2;
    d = Math.min(d, this.options.maxBackoff);
    if (retryAfter) d = Math.max(d, retryAfter);
    return d / 2 + Math.random() * d / 2; // jitter: [d/2, d)
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

const TRANSPORTS = {
  websocket(url, h) {
    if (this.cursor) url.searchParams.set('cursor', this.cursor);
    const ws = new WebSocket(url);
    ws.onopen = () => h.open();
    ws.onmessage = (m) => {
      if (typeof m.data !== 'string') return; // envelopes are text frames
      let env;
      try { env = JSON.parse(m.data); } catch { h.fail(new Error('websocket: frame is not a JSON envelope')); return; }
      h.event(decodeEnvelope(env));
    };
    ws.onerror = () => {}; // onclose follows with the code
    ws.onclose = (e) => {
      if (this.closed) return;
      if (e.code === 1000) { h.fail(new Error('websocket: stream completed'), this.options.minBackoff); return; }
      h.fail(new Error(`websocket: closed ${e.code} ${e.reason}`));
    };
    return { close: () => { ws.onclose = null; ws.close(1000); } };
  },

  sse(url, h) {
    // Our reconnections (after a fallback or a failure) carry the cursor
    // in the query. Between them EventSource reconnects by itself, as the
    // spec says: it waits the server's retry: hint and resends
    // Last-Event-ID, which the server set even before the first event.
    if (this.cursor) url.searchParams.set('lastEventId', this.cursor);
    const es = new EventSource(url);
    let names = new Set(), wasOpen = false, errors = 0;
    const on = (name) => {
      if (names.has(name)) return;
      names.add(name);
      es.addEventListener(name, (m) => h.event({ id: m.lastEventId, event: name, data: m.data }));
    };
    es.onopen = () => { wasOpen = true; errors = 0; h.open(); };
    es.onmessage = (m) => h.event({ id: m.lastEventId, event: 'message', data: m.data });
    on('gap');
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
    return { close: () => es.close() };
  },

  longpoll(url, h) {
    return pollLoop.call(this, url, h, true);
  },

  poll(url, h) {
    return pollLoop.call(this, url, h, false);
  },
};

function pollLoop(url, h, long) {
  const ctl = new AbortController();
  let etag = '', stopped = false, opened = false, timer = null;
  const once = async () => {
    const u = new URL(url);
    if (this.cursor) u.searchParams.set('cursor', this.cursor);
    // A first long-poll without a cursor asks for its starting cursor at
    // once (timeout=0s) instead of waiting for the first event.
    if (long && !opened && !this.cursor) u.searchParams.set('timeout', '0s');
    else if (long && this.options.longPollTimeout) u.searchParams.set('timeout', String(this.options.longPollTimeout) + 'ms');
    const headers = { Accept: 'application/json' };
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
      if (c && !this.cursor) this.cursor = c;
      timer = setTimeout(once, long ? 0 : this.options.pollInterval);
      return;
    }
    if (!res.ok) { h.fail(new Error(`${long ? 'longpoll' : 'poll'}: HTTP ${res.status}`), retryAfter); return; }
    let body;
    try { body = await res.json(); } catch (err) { h.fail(err); return; }
    if (stopped) return;
    if (!opened) { opened = true; h.open(); }
    etag = res.headers.get('ETag') || '';
    if (body.gap) h.gap(body.gap);
    for (const env of body.events || []) h.event(decodeEnvelope(env));
    if (body.cursor) this.cursor = body.cursor;
    const wait = long ? 0 : (body.retry != null ? body.retry : this.options.pollInterval);
    timer = setTimeout(once, (body.events || []).length && !long ? 0 : wait);
  };
  once();
  return { close: () => { stopped = true; clearTimeout(timer); ctl.abort(); } };
}
