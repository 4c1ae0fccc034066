import { execFileSync } from "node:child_process";

export default function setup(): void {
  execFileSync("make", ["--no-print-directory", "build"], { stdio: "inherit" });
}
