// What an assistive technology would miss on a page (`Chromium::accessibility_problems`):
// a list of problems, empty when all is well.
const problems = [];
let level = 0;
for (const heading of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
  const next = Number(heading.tagName[1]);
  if (next > level + 1) problems.push(`heading ${heading.tagName} after h${level}: ${heading.textContent}`);
  level = next;
}
for (const reordered of document.querySelectorAll("[tabindex]")) {
  if (reordered.tabIndex > 0) problems.push(`tabindex ${reordered.tabIndex} reorders the focus`);
}
for (const header of document.querySelectorAll("table th")) {
  if (!header.getAttribute("scope")) problems.push(`a table header without scope: ${header.textContent}`);
}
const headings = document.querySelectorAll("h1");
if (headings.length !== 1) problems.push(`${headings.length} h1 elements`);
if (!document.documentElement.lang) problems.push("no lang on <html>");
if (!document.title) problems.push("no <title>");
for (const field of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
  const label = field.id && document.querySelector(`label[for="${field.id}"]`);
  if (!(label && label.textContent.trim()) && !field.getAttribute("aria-label")) {
    problems.push(`unlabelled field ${field.outerHTML}`);
  }
  const described = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
  for (const id of described) {
    if (!document.getElementById(id)) problems.push(`${field.name} described by missing #${id}`);
  }
  if (field.getAttribute("aria-invalid") === "true" && described.length === 0) {
    problems.push(`${field.name} is invalid without saying why`);
  }
}
for (const button of document.querySelectorAll("button")) {
  if (!button.textContent.trim() && !button.getAttribute("aria-label")) problems.push("a nameless button");
}
for (const line of document.querySelectorAll(".problem:not([hidden])")) {
  if (line.getAttribute("role") !== "alert") problems.push(`an error not announced: ${line.textContent}`);
}
for (const line of document.querySelectorAll(".notice")) {
  if (line.getAttribute("role") !== "status") problems.push(`a notice not announced: ${line.textContent}`);
}
return problems;
