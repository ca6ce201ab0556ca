/** Jest runs the TypeScript sources through ts-jest in transpile-only mode; `tsc --noEmit` type-checks. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
  testTimeout: 30000,
  maxWorkers: 2,
};
