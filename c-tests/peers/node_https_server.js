#!/usr/bin/env node
// Node's own https server, a peer of the client tests.
//
//   node node_https_server.js --cert FILE --key FILE [--port N] [--unix PATH]
//        [--ca FILE --request-cert] [--keep-alive-timeout MS]
//
// The first line on stdout is `listening PORT` (or `listening PATH`); then
// one line per event, which the tests count:
//   connection id=N open=K servername=NAME reused=yes|no authorized=yes|no cn=CN
//   request id=N method=M url=U bytes=B
//   tlserror CODE
// Every request is answered from the connection's facts:
//   /stats     `connections=N max_open=M requests=R`
//   /headers   the request's headers as JSON (raw names and order kept)
//   /chunked   a chunked body of three pieces with an X-Check trailer
//   /head      the echo with its Content-Length set (for HEAD: no body)
//   /slow      the echo, 30 ms later (/slow?ms=N: N ms later)
//   /status/N  status N and the echo
//   other      the echo: `METHOD URL ` then the request body, byte-exact
// with headers X-Connection-Id, X-Servername, X-Authorized, X-Peer-CN and
// X-Request-Framing (chunked, length or none: how the request body came).
// SIGTERM or SIGINT ends it.
'use strict';
const fs = require('fs');
const https = require('https');

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const flag = (name) => args.includes(name);

const options = {
  cert: fs.readFileSync(opt('--cert')),
  key: fs.readFileSync(opt('--key')),
};
if (opt('--ca')) options.ca = fs.readFileSync(opt('--ca'));
if (flag('--request-cert')) {
  options.requestCert = true;
  options.rejectUnauthorized = true;
}

let connections = 0;
let open = 0;
let maxOpen = 0;
let requests = 0;
const log = (line) => process.stdout.write(line + '\n');

const server = https.createServer(options, (req, res) => {
  requests++;
  const socket = req.socket;
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    log(`request id=${socket.nhttpsId} method=${req.method} url=${req.url} bytes=${body.length}`);
    const cert = socket.getPeerCertificate ? socket.getPeerCertificate() : null;
    res.setHeader('X-Connection-Id', String(socket.nhttpsId));
    res.setHeader('X-Servername', socket.servername || '-');
    res.setHeader('X-Authorized', socket.authorized ? 'yes' : 'no');
    res.setHeader('X-Peer-CN', (cert && cert.subject && cert.subject.CN) || '-');
    res.setHeader('X-Request-Framing', req.headers['transfer-encoding'] === 'chunked' ? 'chunked'
      : req.headers['content-length'] !== undefined ? 'length' : 'none');
    const echo = Buffer.concat([Buffer.from(`${req.method} ${req.url} `), body]);
    const status = /^\/status\/(\d{3})$/.exec(req.url);
    const slow = /^\/slow(?:\?ms=(\d+))?/.exec(req.url);
    if (req.url === '/stats') {
      res.end(`connections=${connections} max_open=${maxOpen} requests=${requests}`);
    } else if (req.url === '/headers') {
      const raw = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        raw.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      }
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(raw));
    } else if (req.url === '/chunked') {
      res.setHeader('Trailer', 'X-Check');
      res.write('first,');
      res.write('second,');
      res.write('third');
      res.addTrailers({ 'X-Check': 'done' });
      res.end();
    } else if (req.url === '/head') {
      res.setHeader('Content-Length', String(echo.length));
      res.end(echo);
    } else if (slow) {
      setTimeout(() => res.end(echo), slow[1] !== undefined ? Number(slow[1]) : 30);
    } else if (status) {
      res.statusCode = Number(status[1]);
      res.end(echo);
    } else {
      res.end(echo);
    }
  });
});

server.on('secureConnection', (socket) => {
  connections++;
  open++;
  maxOpen = Math.max(maxOpen, open);
  socket.nhttpsId = connections;
  const cert = socket.getPeerCertificate();
  log(`connection id=${connections} open=${open} servername=${socket.servername || '-'} ` +
      `reused=${socket.isSessionReused() ? 'yes' : 'no'} ` +
      `authorized=${socket.authorized ? 'yes' : 'no'} ` +
      `cn=${(cert && cert.subject && cert.subject.CN) || '-'}`);
  socket.on('close', () => { open--; });
});
server.on('tlsClientError', (err) => log(`tlserror ${err.code || err.message}`));

const keepAlive = opt('--keep-alive-timeout');
if (keepAlive) server.keepAliveTimeout = Number(keepAlive);

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

const unix = opt('--unix');
if (unix) {
  server.listen(unix, () => log(`listening ${unix}`));
} else {
  server.listen(Number(opt('--port') || 0), '127.0.0.1', () => log(`listening ${server.address().port}`));
}
