#!/usr/bin/env node
// Launcher: Node >= 24 runs the TypeScript entry directly (type stripping), so there is no build step.
import { main } from "../src/cli/main.ts"

process.exit(await main(process.argv.slice(2)))
