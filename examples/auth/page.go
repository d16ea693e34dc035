package main

import "net/http"

// page serves a page that follows a topic with the browser client, given
// a token in its URL (/?token=T&topic=news, and &transport=sse to use one
// transport only). Its token function gives that token first, then asks
// POST /token for a fresh one each time the client wants one: before the
// token's exp, and when the server says it expired. The events it shows
// are kept in window.received, the tokens asked for in window.tokens, the
// connections opened in window.opens, the client's errors in
// window.failures (each saying whether a connection had opened before),
// and what the client did when, shown on the page, in window.log, for the
// browser test.
func page(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The token is in the URL: keep it out of the Referer of anything the
	// page loads.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:")
	_, _ = w.Write([]byte(pageHTML))
}

const pageHTML = `<!doctype html>
<meta charset="utf-8">
<title>rxstream: tokens that expire</title>
<h1>Topic <span id="topic"></span> over <span id="transport">…</span></h1>
<p>Tokens asked for: <span id="tokens">0</span>. The stream survives each one's expiry.</p>
<ol id="events"></ol>
<h2>Tokens and connections</h2>
<ul id="log"></ul>
<script type="module">
import { connect } from '/_rxstream/rxstream.js';

const q = new URLSearchParams(location.search);
const topic = q.get('topic') || 'news';
let token = q.get('token') || '';
history.replaceState(null, '', location.pathname); // the token leaves the address bar
window.received = [];
window.tokens = 0;
window.opens = 0;
window.failures = [];
window.log = [];
document.getElementById('topic').textContent = topic;

// log notes what the client does, with the time, on the page.
function log(what) {
  const line = new Date().toISOString().slice(11, 23) + ' ' + what;
  window.log.push(line);
  const li = document.createElement('li');
  li.textContent = line;
  document.getElementById('log').append(li);
}
const expiry = (t) => {
  try { return new Date(JSON.parse(atob(t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp * 1000).toISOString().slice(11, 19); } catch { return '?'; }
};

// The first token is the page's; each later one is exchanged for the
// current one before it expires.
async function fresh() {
  if (window.tokens++ > 0) {
    const res = await fetch('/token', { method: 'POST', headers: { Authorization: 'Bearer ' + token } });
    if (!res.ok) throw new Error('POST /token: HTTP ' + res.status);
    token = (await res.json()).token;
    log('token renewed, valid until ' + expiry(token));
  }
  document.getElementById('tokens').textContent = window.tokens;
  return token;
}

const base = '/topics/' + encodeURIComponent(topic);
connect(base + '/sse', {
  transports: q.get('transport') ? [q.get('transport')] : undefined,
  urls: { websocket: base + '/ws', sse: base + '/sse', longpoll: base + '/longpoll', poll: base + '/poll' },
  pollInterval: 200,
  token: fresh,
  onOpen: (transport) => { window.opens++; log('open over ' + transport); document.getElementById('transport').textContent = transport; },
  onEvent: (ev) => {
    window.received.push(ev.id);
    const li = document.createElement('li');
    li.textContent = ev.data + ' (' + ev.transport + ')';
    document.getElementById('events').append(li);
  },
  onError: (err, transport) => { log(transport + ': ' + err.message); window.failures.push({ opened: window.opens > 0, what: transport + ': ' + (err.reason || '') + ' ' + err.message }); },
});
</script>
`
