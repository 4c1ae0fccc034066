// Errors the CLI reports as `error: MESSAGE` with exit status 1, as virsh does.
export class CliError extends Error {}
