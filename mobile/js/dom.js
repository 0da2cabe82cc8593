// Building DOM without innerHTML: text from the API is always set as text, never parsed as markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(container, ...children) {
  container.replaceChildren();
  append(container, children);
}

export const byId = (id) => document.getElementById(id);

export function announce(message) {
  // Screen readers read a changed live region; clearing first makes a repeated message read again.
  const announcer = byId("announcer");
  announcer.textContent = "";
  setTimeout(() => { announcer.textContent = message; }, 50);
}

export function showScreen(id) {
  for (const screen of document.querySelectorAll(".screen, #screen-loading")) {
    screen.hidden = screen.id !== id;
  }
  const heading = byId(id).querySelector("h1");
  if (heading) heading.focus();
}

// Resolves with the button value that closed the dialog ("save", "cancel", "confirm").
export function openDialog(dialog) {
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}
