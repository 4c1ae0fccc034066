// Cockpit's dark theme, for PatternFly 6. The shell keeps the choice in localStorage
// "shell:style" (auto, dark or light) and, when it is changed there, sends each page a
// "cockpit-style" event; "auto" follows the system's prefers-color-scheme. Cockpit 287's pages
// (pkg/lib/cockpit-dark-theme.js) set PatternFly 4's class from these; PatternFly 6 reads
// pf-v6-theme-dark on <html>.
const DARK_CLASS = "pf-v6-theme-dark";

function storedStyle(): string {
  try {
    return localStorage.getItem("shell:style") ?? "auto";
  } catch {
    // Storage may be refused (privacy settings); Cockpit's default applies.
    return "auto";
  }
}

function apply(style: string): void {
  const systemDark = window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
  const dark = style === "dark" || (style === "auto" && systemDark);
  document.documentElement.classList.toggle(DARK_CLASS, dark);
}

export function followTheme(): void {
  window.addEventListener("storage", (event) => {
    if (event.key === "shell:style") apply(storedStyle());
  });
  window.addEventListener("cockpit-style", (event) => {
    const style = (event as CustomEvent<{ style?: string }>).detail?.style;
    apply(style ?? storedStyle());
  });
  window
    .matchMedia?.("(prefers-color-scheme: dark)")
    .addEventListener("change", () => apply(storedStyle()));
  apply(storedStyle());
}
