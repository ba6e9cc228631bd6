#!/usr/bin/env node
// Launcher. In the repository Node >= 24 runs the TypeScript entry directly (type stripping); `npm run build`
// compiles this file and src/ into build/ with the import rewritten to .js (the layout the images ship).
import { main } from "../src/cli/main.ts"

process.exit(await main(process.argv.slice(2)))
