// The sender portal's own script, loaded with `defer`: every page works without it.
'use strict';

// "Copy" buttons: `data-copy` names the element whose text is copied. Hidden without JavaScript,
// where the secret is selected by a tap instead (`user-select: all`).
function enableCopyButtons(root) {
  root.querySelectorAll('button[data-copy]').forEach((button) => {
    const source = document.querySelector(button.dataset.copy);
    if (!source || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener('click', () => {
      navigator.clipboard.writeText(source.textContent.trim()).then(() => {
        const status = document.querySelector(button.dataset.copyStatus || '#copy-status');
        if (status) status.textContent = button.dataset.copied || '';
      });
    });
  });
}

document.addEventListener('DOMContentLoaded', () => enableCopyButtons(document));
document.addEventListener('htmx:afterSettle', (event) => enableCopyButtons(event.target));
