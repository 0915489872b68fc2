import { main } from './main.js'

const code = await main(process.argv)
process.exitCode = code
// a command that failed has stopped what it started; should anything still hold the process open, exit anyway
if (code !== 0) setTimeout(() => process.exit(code), 5000).unref()
