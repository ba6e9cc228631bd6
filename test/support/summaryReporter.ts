/**
 * Prints one plain closing line, `N passed, N failed, N skipped`, after vitest's own summary: CI reads that line
 * (it does not parse vitest's output), so a run that executed no test is visible as such.
 */
import type { Reporter, TestModule } from "vitest/node"

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0
    let failed = 0
    let skipped = 0
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === "passed") passed++
        else if (state === "failed") failed++
        else skipped++
      }
      // a file that failed to load (syntax error, failing hook) has no tests but is a failure
      if (module.state() === "failed" && [...module.children.allTests()].every((t) => t.result().state !== "failed")) {
        failed++
      }
    }
    failed += unhandledErrors.length
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`)
  }
}
