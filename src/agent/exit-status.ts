// The agent's exit status when the domain cannot be served as configured (no metadata, or invalid
// metadata): EX_CONFIG of sysexits.h. Starting it again would fail the same way, so neither the
// supervisor nor systemd (RestartPreventExitStatus= in the unit) restarts it.
export const EXIT_CONFIG = 78;
