// Whether this session has administrative access, as Cockpit's own pages decide it
// (pkg/lib/superuser.js): the shell's cockpit.Superuser object on the internal bus says which
// bridge is active ("none" without one, "root" for a root login); with no such object, the
// older cockpit.permission answers. The page only reads; the shell's "Administrative access"
// button changes it.
import type { Store } from "./state.js";

export function followSuperuser(store: Store): void {
  const proxy = cockpit.dbus(null, { bus: "internal" }).proxy("cockpit.Superuser", "/superuser");
  const update = () => {
    const current = proxy.data.Current;
    store.setAdmin(!proxy.valid || current === "init" ? null : current !== "none");
  };
  proxy.addEventListener("changed", update);
  proxy.wait().then(() => {
    if (proxy.valid) return update();
    const permission = cockpit.permission({ admin: true });
    const fallback = () => store.setAdmin(permission.allowed);
    permission.addEventListener("changed", fallback);
    fallback();
  });
}
