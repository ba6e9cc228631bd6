#!/usr/bin/env node
// Launcher. In the repository Node >= 24 runs the TypeScript entry directly (type stripping); `npm run build`
// compiles this file and src/ into build/ with the imports rewritten to .js (the layout the images ship).
import { relaunchWithNodeFlags } from "../src/cli/nodeFlags.ts"

// before anything else is loaded: a data mover started without its V8 flags is replaced here by one with them
relaunchWithNodeFlags()
const { main } = await import("../src/cli/main.ts")

process.exit(await main(process.argv.slice(2)))
