// What Tab reaches, in the page's order (`focusable()`), and how each is named in a report
// (`describe`): prepended to the scripts of `Chromium::focus_order_problems`.
const describe = (e) => `#${focusable().indexOf(e)} ${e.tagName.toLowerCase()} "${(e.getAttribute("aria-label") || e.textContent || e.id || e.name || "").trim().slice(0, 40)}"`;
const focusable = () => [...document.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea")]
  .filter((e) => !e.disabled && e.tabIndex >= 0 && e.getClientRects().length > 0);
