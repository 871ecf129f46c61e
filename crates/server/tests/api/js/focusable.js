// What Tab reaches, in the page's order (`focusable()`), and how each is named in a report
// (`describe`): prepended to the scripts of `Chromium::focus_order_problems`.
const describe = (e) => `#${focusable().indexOf(e)} ${e.tagName.toLowerCase()} "${(e.getAttribute("aria-label") || e.textContent || e.id || e.name || "").trim().slice(0, 40)}"`;
const focusable = () => [...document.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea")]
  .filter((e) => !e.disabled && e.tabIndex >= 0 && e.getClientRects().length > 0);
// Where Tab order and the page's look disagree: an element reached after another but
// shown wholly above it, or wholly to its left on the same row.
const visualOrderProblems = () => {
  const problems = [];
  const items = focusable();
  for (let i = 1; i < items.length; i++) {
    const a = items[i - 1].getBoundingClientRect();
    const b = items[i].getBoundingClientRect();
    const above = b.bottom <= a.top;
    const leftOnRow = b.top < a.bottom && a.top < b.bottom && b.right <= a.left;
    if (above || leftOnRow) {
      problems.push(`${describe(items[i])} is reached after ${describe(items[i - 1])} but shown before it`);
    }
  }
  return problems;
};
