// Verbatim's page script: copy buttons in answers and the conversation export.
// The chat's sanitizer strips data-* attributes and inline handlers, so each answer carries its
// Markdown (made by app/present.py) as the text of hidden elements: .vb-pay-passage and
// .vb-pay-sentence beside the copy buttons, .vb-md once per reply. This script only moves that text.
(() => {
  if (window.verbatimExport) return;

  async function copyText(text) {
    // The Clipboard API needs a secure context (HTTPS or localhost); fall back to a selection copy.
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (err) { /* fall through */ }
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    let done = false;
    try { done = document.execCommand('copy'); } catch (err) { done = false; }
    area.remove();
    return done;
  }

  document.addEventListener('click', async (event) => {
    const button = event.target instanceof Element ? event.target.closest('button.vb-copy') : null;
    if (!button) return;
    event.preventDefault();
    const kind = button.classList.contains('vb-copy-sentence') ? 'sentence' : 'passage';
    const payload = button.closest('.vb-hit')?.querySelector('.vb-pay-' + kind);
    if (!payload) return;
    const text = payload.textContent;
    const done = await copyText(text);
    window.verbatimLastCopy = text;
    button.dataset.label = button.dataset.label || button.textContent;
    button.textContent = done ? 'Copied' : 'Copy failed';
    clearTimeout(button._vbTimer);
    button._vbTimer = setTimeout(() => { button.textContent = button.dataset.label; }, 1500);
  });

  function stamp(date) {
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }

  // Every reply's Markdown in order, under a heading, downloaded as a .md file.
  window.verbatimExport = () => {
    const replies = Array.from(document.querySelectorAll('#vb-chat .vb-md')).map((el) => el.textContent.trim());
    const now = new Date();
    const head = `# Verbatim conversation, ${stamp(now)}\n\n` +
      'Every quotation is verbatim from the source it cites; "Highlighted" quotes the sentence that answers.\n';
    const body = replies.length ? replies.join('\n\n---\n\n') : '*No questions asked yet.*';
    const blob = new Blob([head + '\n' + body + '\n'], {type: 'text/markdown;charset=utf-8'});
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `verbatim-conversation-${stamp(now).replace(/[ :]/g, '-')}.md`;
    document.body.appendChild(link);
    link.click();
    setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  };
})();
