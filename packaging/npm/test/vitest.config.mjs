import { defineConfig } from "vitest/config";

export default defineConfig({
  test: { globalSetup: ["bland-sms-sim/vitest"], include: ["**/*.vitest.test.mjs"] },
});
