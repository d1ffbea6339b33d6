// Progressive enhancement only: every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const marks = Array.from(document.querySelectorAll(".document .text mark"));
  const links = document.querySelectorAll("[data-match]");
  if (!marks.length) return;
  let current = -1;
  const go = (step) => {
    if (current >= 0) marks[current].classList.remove("current");
    current = (current + step + marks.length) % marks.length;
    marks[current].classList.add("current");
    marks[current].scrollIntoView({ block: "center" });
  };
  links.forEach((link) => {
    link.hidden = false;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      go(link.dataset.match === "next" ? 1 : -1);
    });
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select")) return;
    if (event.key === "n") go(1);
    if (event.key === "p") go(-1);
  });
});
