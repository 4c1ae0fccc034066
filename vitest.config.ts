import { defineConfig } from "vitest/config";
import PlainSummary from "./test/support/plain-summary.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The CLI tests run the bundle that ships; build it once, fresh, before any test.
    globalSetup: ["test/support/build-bundle.ts"],
    setupFiles: ["test/support/fast-check-seed.ts"],
    reporters: ["default", new PlainSummary()],
    // The libvirt tests share one libvirtd, which some of them kill and restart: one file at a time.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
