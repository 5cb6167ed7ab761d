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

// Scripts are on: the busy state below takes over from the stylesheet's script-free one.
document.documentElement.classList.add('js');

// Busy state: a tapped button says that its form is on its way, and a second tap sends nothing more.
// The button is marked, not disabled: a disabled button would drop its name and value (`decision`).
function setBusy(form, button, busy) {
  if (busy) {
    form.dataset.busy = '1';
    form.setAttribute('aria-busy', 'true');
    if (button) button.classList.add('busy');
  } else {
    delete form.dataset.busy;
    form.removeAttribute('aria-busy');
    form.querySelectorAll('.busy').forEach((el) => el.classList.remove('busy'));
  }
}

function offlineNotice(show) {
  const notice = document.getElementById('offline');
  if (notice) notice.hidden = !show;
}

document.addEventListener('submit', (event) => {
  const form = event.target;
  // Recipient pages only (their <body data-busy-forms>): elsewhere a form may answer with a download
  // and no new page, which would leave it busy.
  if (!(form instanceof HTMLFormElement) || !form.closest('[data-busy-forms]')) return;
  if (form.dataset.busy || !navigator.onLine) {
    // Already on its way, or no network: nothing is sent, and an offline phone says so.
    event.preventDefault();
    event.stopImmediatePropagation();
    if (!navigator.onLine) offlineNotice(true);
    return;
  }
  offlineNotice(false);
  setBusy(form, event.submitter || form.querySelector('[type=submit]'), true);
}, true);

document.addEventListener('htmx:afterRequest', (event) => {
  const form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest('form');
  if (form) setBusy(form, null, false);
});

document.addEventListener('htmx:sendError', (event) => {
  offlineNotice(true);
  const form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest('form');
  if (form) setBusy(form, null, false);
});

window.addEventListener('offline', () => offlineNotice(true));
window.addEventListener('online', () => offlineNotice(false));
// Back to a page kept by the browser (back button): its forms are no longer on their way.
window.addEventListener('pageshow', () => {
  document.querySelectorAll('form[data-busy]').forEach((form) => setBusy(form, null, false));
});
