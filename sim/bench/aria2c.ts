/** aria2c flags that keep it to the peers it is given: no DHT, no LPD, no PEX, quiet (the bench and the interop test). */
export const ARIA2C_BASE = [
  '--enable-dht=false',
  '--enable-dht6=false',
  '--bt-enable-lpd=false',
  '--enable-peer-exchange=false',
  '--bt-save-metadata=false',
  '--file-allocation=none',
  '--summary-interval=0',
  '--console-log-level=warn',
  '--bt-tracker-connect-timeout=5',
  '--bt-tracker-timeout=10',
  '--bt-stop-timeout=120',
]
