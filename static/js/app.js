// Wassit's own script, loaded with `defer`: every page works without it.
'use strict';

// The service worker keeps the app shell for offline use and shows an offline page (see /sw.js).
if ('serviceWorker' in navigator) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('/sw.js').catch(() => {});
  });
}

// A boosted link that fails for want of a network becomes a plain visit, which the service worker
// answers with the offline page, rather than a click that silently does nothing.
document.addEventListener('htmx:sendError', (event) => {
  const detail = event.detail;
  if (detail.boosted && detail.requestConfig && detail.requestConfig.verb === 'get') {
    window.location.assign(detail.pathInfo.finalRequestPath);
  }
});
