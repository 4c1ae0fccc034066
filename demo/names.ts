// What the demo's pair, its network and the installed command are called: shared by start, stop
// and the demo's test.
export const DOMAIN = "colo-hybrid-demo";
export const SECONDARY = `${DOMAIN}-secondary`;
export const COMMAND = "/usr/bin/colo-hybrid";
/** The lab bridge's tag: bridge cb-demo, client namespace colo-client-demo (test/lab/bridge.ts). */
export const BRIDGE_TAG = "demo";
