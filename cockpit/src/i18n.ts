// Every string shown goes through Cockpit's gettext, so that translations can be added as
// po.*.js files without touching the code. Looked up at call time: cockpit.js defines the global.

export const _ = (text: string): string => cockpit.gettext(text);

/** cockpit.format: "$0 of $1" with the arguments in place (translators may reorder them). */
export const format = (template: string, ...args: unknown[]): string =>
  cockpit.format(template, ...args);
