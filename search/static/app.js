// Progressive enhancement only: every page works without this file.
"use strict";

const DEFAULTS = { sort: "relevance" };
const SUGGEST_DELAY_MS = 120;

// Leave empty filters and defaults out of the URL, so shared links stay short.
function tidySubmittedForm(form) {
  form.addEventListener("formdata", (event) => {
    for (const [name, value] of Array.from(event.formData.entries())) {
      if (value === "" || DEFAULTS[name] === value) event.formData.delete(name);
    }
  });
}

// Step through the highlighted matches of a document, with a live "Match i of n".
function matchNavigation(nav) {
  const marks = Array.from(document.querySelectorAll(".document .text mark"));
  const status = nav.querySelector("[role=status]");
  const buttons = nav.querySelectorAll("button[data-match]");
  if (!marks.length || !status) return;
  let current = -1;
  const go = (step) => {
    if (current >= 0) marks[current].classList.remove("current");
    current = current < 0 ? (step > 0 ? 0 : marks.length - 1) : (current + step + marks.length) % marks.length;
    const mark = marks[current];
    mark.classList.add("current");
    mark.scrollIntoView({ block: "center" });
    status.textContent = `Match ${current + 1} of ${marks.length} for `;
    const query = document.createElement("strong");
    query.textContent = nav.dataset.query;
    status.append(query);
  };
  buttons.forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => go(button.dataset.match === "next" ? 1 : -1));
  });
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.target.closest("input, textarea, select, [contenteditable]")) return;
    if (event.key === "n") go(1);
    if (event.key === "p") go(-1);
  });
}

// Offer completions of the last word from the index vocabulary in the search box's datalist.
function suggestions(input, list) {
  let timer;
  let pending;
  input.setAttribute("list", list.id);
  const show = (words) => {
    list.replaceChildren(
      ...words.map((word) => {
        const option = document.createElement("option");
        option.value = word;
        return option;
      }),
    );
  };
  const fetchFor = async (text) => {
    pending?.abort();
    pending = new AbortController();
    try {
      const response = await fetch(`${input.dataset.suggest}?${new URLSearchParams({ q: text })}`, {
        signal: pending.signal,
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      const body = await response.json();
      if (input.value === text) show(body.suggestions);
    } catch {
      // Suggestions are a nicety: a failed or aborted request shows none.
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value;
    if (!/[\p{L}\p{N}_]{2,}$/u.test(text)) {
      show([]);
      return;
    }
    timer = setTimeout(() => fetchFor(text), SUGGEST_DELAY_MS);
  });
}

{
  const form = document.querySelector("form.search");
  if (form) tidySubmittedForm(form);
  const nav = document.querySelector(".match-nav");
  if (nav) matchNavigation(nav);
  const box = document.getElementById("q");
  const list = document.getElementById("q-suggestions");
  if (box && list && box.dataset.suggest && window.fetch) suggestions(box, list);
}
