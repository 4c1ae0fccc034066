// Where the harness keeps what it generates: the repository's build directory (gitignored),
// as absolute paths, since daemons read them after changing to /.
import { fileURLToPath } from "node:url";

export const BUILD_DIR = fileURLToPath(new URL("../../build/", import.meta.url));
