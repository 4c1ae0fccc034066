// The page's own routes, kept in Cockpit's location (the URL hash, so that the shell's back
// button and bookmarks work): [] is the overview, [uuid] a domain, [uuid, "parameters"] its form.
import { useSyncExternalStore } from "react";

function subscribe(listener: () => void): () => void {
  cockpit.addEventListener("locationchanged", listener);
  return () => cockpit.removeEventListener("locationchanged", listener);
}

// cockpit.location is a new object after every change: compare by content to keep React calm.
let lastPath: readonly string[] = [];
function snapshot(): readonly string[] {
  const path = cockpit.location.path;
  if (path.length !== lastPath.length || path.some((p, i) => p !== lastPath[i])) lastPath = path;
  return lastPath;
}

export function useLocationPath(): readonly string[] {
  return useSyncExternalStore(subscribe, snapshot);
}

export function navigate(path: readonly string[]): void {
  cockpit.location.go([...path]);
}
