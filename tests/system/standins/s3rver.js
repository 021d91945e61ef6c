#!/usr/bin/env node
// s3rver.js: runs the S3 stand-in, @20minutes/s3rver 5.0.0, from its library (the package ships no CLI).
//
// Usage: node --openssl-legacy-provider tests/system/standins/s3rver.js \
//          --port N --directory DIR [--address 127.0.0.1] [--verbose]
// Credentials: access key S3RVER, secret S3RVER (SigV4 is verified). Objects are kept as files under
// DIR, so data survives a restart. Prints "s3rver listening on ADDRESS:PORT" once bound; exits on
// SIGTERM/SIGINT after closing the listener and finishing the requests in flight.
// --openssl-legacy-provider is needed: s3rver encrypts
// ListObjects continuation tokens with DES (legacy in OpenSSL 3), else truncated listings are 500s.
'use strict'

const fs = require('node:fs')
const path = require('node:path')

function usage(msg) {
  if (msg) process.stderr.write(`s3rver.js: ${msg}\n`)
  process.stderr.write(
    'usage: node --openssl-legacy-provider s3rver.js --port N --directory DIR [--address A] [--verbose]\n'
  )
  process.exit(2)
}

const opts = { address: '127.0.0.1', port: undefined, directory: undefined, verbose: false }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  if (a === '--port') opts.port = Number(argv[++i])
  else if (a === '--directory') opts.directory = argv[++i]
  else if (a === '--address') opts.address = argv[++i]
  else if (a === '--verbose') opts.verbose = true
  else usage(`unknown argument ${a}`)
}
if (!Number.isInteger(opts.port) || opts.port <= 0 || opts.port > 65535) usage('--port N is required')
if (!opts.directory) usage('--directory DIR is required')

// Fail early and clearly when the DES cipher (legacy provider) is unavailable.
try {
  require('node:crypto').createCipheriv('des-ecb', Buffer.alloc(8), null)
} catch (e) {
  process.stderr.write(
    `s3rver.js: DES is unavailable (${e.message}); run node with --openssl-legacy-provider\n`
  )
  process.exit(2)
}

let S3rver
try {
  S3rver = require('@20minutes/s3rver')
} catch (e) {
  process.stderr.write(`s3rver.js: cannot load @20minutes/s3rver (run npm ci): ${e.message}\n`)
  process.exit(2)
}

fs.mkdirSync(opts.directory, { recursive: true })
const server = new S3rver({
  address: opts.address,
  port: opts.port,
  directory: path.resolve(opts.directory),
  silent: !opts.verbose,
  resetOnClose: false,
})

server.on('error', (err, ctx) => {
  // Koa app errors. S3 errors (4xx: NoSuchKey, SignatureDoesNotMatch, ...) get one line when
  // --verbose; a 500 inside s3rver is always worth its stack in the log.
  const where = ctx ? `${ctx.method} ${ctx.url}` : ''
  const status = err && err.status ? err.status : 500
  if (status >= 500) {
    process.stderr.write(`s3rver error ${status} ${where}: ${err && err.stack ? err.stack : err}\n`)
  } else if (opts.verbose) {
    process.stderr.write(`s3rver ${status} ${err.code || ''} ${where}: ${err.message}\n`)
  }
})

server.run().then(
  (addr) => {
    process.stdout.write(`s3rver listening on ${addr.address}:${addr.port}\n`)
  },
  (err) => {
    process.stderr.write(`s3rver.js: cannot start on ${opts.address}:${opts.port}: ${err.message}\n`)
    process.exit(1)
  }
)

let closing = false
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    if (closing) process.exit(0)
    closing = true
    // Requests in flight finish first: s3rver writes an object as two files (data, then metadata),
    // and an exit between them leaves an object whose every GET is a 500 for good, which real S3
    // never does (a PUT or DELETE is atomic there). Idle keep-alive connections would hold close()
    // open: end them. scripts/standins sends KILL 5 s after TERM; give up a little before that.
    if (server.httpServer && server.httpServer.closeIdleConnections) {
      server.httpServer.closeIdleConnections()
    }
    server.close().then(
      () => process.exit(0),
      () => process.exit(0)
    )
    setTimeout(() => process.exit(0), 4000).unref()
  })
}
