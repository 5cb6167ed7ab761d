// Wassit's service worker (rendered by webapp/web/pwa.py for each release).
// It keeps the app shell -- fingerprinted static files and the offline page -- and nothing else:
// no letter, no document, no answer from the API and nothing personal is ever stored.
'use strict';

const CACHE = {{ cache_name|tojson }};
const SHELL = {{ shell|tojson }};
const OFFLINE = {{ offline_pages|tojson }};
const DEFAULT_LANGUAGE = {{ default_language|tojson }};
// Letter pages and documents, the API, proofs, the portal: never stored, whatever their headers say.
const PRIVATE = {{ private_paths }};

function mayStore(request, response) {
  const url = new URL(request.url);
  const cacheControl = response.headers.get('Cache-Control') || '';
  return request.method === 'GET' && url.origin === self.location.origin && !PRIVATE.test(url.pathname) &&
    response.status === 200 && response.type === 'basic' && !/no-store|private/i.test(cacheControl);
}

self.addEventListener('install', (event) => {
  // Without cookies: the offline pages must not carry anything of the visitor's session.
  const urls = SHELL.concat(Object.values(OFFLINE));
  event.waitUntil(caches.open(CACHE).then((cache) => Promise.all(urls.map(async (url) => {
    const request = new Request(url, {credentials: 'omit'});
    const response = await fetch(request);
    if (!mayStore(request, response)) throw new Error('not storable: ' + url);
    await cache.put(request, response);
  }))).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  const preload = self.registration.navigationPreload;
  event.waitUntil(Promise.all([
    caches.keys().then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name)))),
    preload ? preload.enable() : null,
  ]).then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (request.mode === 'navigate') {
    event.respondWith(networkOrOfflinePage(event));
  } else if (url.pathname.startsWith('/static/') && url.searchParams.has('v')) {
    event.respondWith(cacheFirst(event));
  }
});

// Pages always come from the network; the offline page only when the network fails.
async function networkOrOfflinePage(event) {
  try {
    return (await event.preloadResponse) || await fetch(event.request);
  } catch (error) {
    return (await caches.match(offlinePage(event.request), {cacheName: CACHE})) || Response.error();
  }
}

// A fingerprinted file never changes: once stored, it is served without asking the network.
async function cacheFirst(event) {
  const cached = await caches.match(event.request, {cacheName: CACHE});
  if (cached) return cached;
  const response = await fetch(event.request);
  // Only what the server calls immutable: a stale fingerprint gets a short-lived answer, not stored.
  if (mayStore(event.request, response) && /immutable/.test(response.headers.get('Cache-Control') || '')) {
    const copy = response.clone();
    event.waitUntil(caches.open(CACHE).then((cache) => cache.put(event.request, copy)));
  }
  return response;
}

// The language asked for in the failed address, else the phone's, else the default.
function offlinePage(request) {
  const asked = new URL(request.url).searchParams.get('lang');
  const tags = [asked].concat(self.navigator.languages || [self.navigator.language]);
  const language = tags.map((tag) => String(tag || '').slice(0, 2).toLowerCase()).find((code) => OFFLINE[code]);
  return OFFLINE[language || DEFAULT_LANGUAGE];
}
