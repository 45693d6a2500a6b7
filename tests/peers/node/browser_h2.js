// A browser against an h2proto server over TLS: Chromium (its HTTP/2 is
// net/spdy's) or Firefox (Necko's), neither of them nghttp2. Both are
// Debian's packages, driven headless through puppeteer-core (npm): Chromium
// over the DevTools protocol, Firefox over WebDriver BiDi.
//
// node browser_h2.js --browser chromium|firefox URL [--pause-seconds S]
// Prints one JSON line of results and exits 0 only if every step held.
// --pause-seconds: one download is left unread that long (past the server's
// send-stall timer), then read to its end beside a new request.
'use strict';

const puppeteer = require('puppeteer-core');

const BROWSERS = {
  chromium: {
    browser: 'chrome',
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  },
  firefox: {
    browser: 'firefox',
    executablePath: '/usr/bin/firefox-esr',
    extraPrefsFirefox: { 'network.http.http3.enable': false },
  },
};

function args() {
  const a = { pause: 0, browser: 'chromium' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--pause-seconds') a.pause = Number(argv[++i]);
    else if (argv[i] === '--browser') a.browser = argv[++i];
    else a.url = argv[i];
  }
  if (!a.url || !BROWSERS[a.browser]) {
    throw new Error('usage: browser_h2.js --browser chromium|firefox URL [--pause-seconds S]');
  }
  return a;
}

// Everything runs in the page, with fetch(): same origin, one connection.
async function steps(pauseMs) {
  const out = {};
  const bytes = (r) => r.arrayBuffer().then((b) => b.byteLength);

  // Many downloads at once, of sizes around the frame and window edges.
  const sizes = [];
  for (let i = 0; i < 120; i++) sizes.push([0, 1, 100, 16384, 65535, 70000, 1 << 20, 3 << 20][i % 8]);
  const got = await Promise.all(sizes.map((n) => fetch('/bytes/' + n).then(bytes)));
  out.downloads = got.every((g, i) => g === sizes[i]) || got;

  // An upload echoed back (under Chromium's 6 MiB stream window: it reads
  // no response before its upload is sent).
  const big = new Uint8Array(4 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
  const echoed = new Uint8Array(await (await fetch('/echo', { method: 'POST', body: big })).arrayBuffer());
  out.upload = (echoed.length === big.length && echoed.every((b, i) => b === big[i])) || echoed.length;

  // Uploads at once.
  const ups = await Promise.all(
    [...Array(20)].map((_, k) =>
      fetch('/echo', { method: 'POST', body: big.subarray(0, 100000 * (k + 1)) }).then(bytes),
    ),
  );
  out.parallel_uploads = ups.every((n, k) => n === 100000 * (k + 1)) || ups;

  // Downloads cancelled after their first chunk (RST_STREAM CANCEL), then
  // the connection still serves.
  await Promise.all(
    [...Array(30)].map(() => {
      const c = new AbortController();
      return fetch('/bytes/' + (8 << 20), { signal: c.signal })
        .then((r) => r.body.getReader().read())
        .then(() => c.abort())
        .catch(() => {});
    }),
  );
  out.after_cancels = (await (await fetch('/bytes/5')).text()).length === 5;

  // A request body streamed from the page (fetch with duplex: 'half'),
  // where the browser can (Firefox cannot yet).
  let duplexAsked = false;
  const streams = !new Request('/', {
    method: 'POST',
    body: new ReadableStream(),
    get duplex() {
      duplexAsked = true;
      return 'half';
    },
  }).headers.has('content-type');
  let n = 0;
  const stream = new ReadableStream({
    pull(ctl) {
      if (n++ < 50) ctl.enqueue(new Uint8Array(10000).fill(n));
      else ctl.close();
    },
  });
  if (duplexAsked && streams) {
    const streamed = await fetch('/echo', { method: 'POST', body: stream, duplex: 'half' });
    out.streamed_upload = (await bytes(streamed)) === 500000;
  }

  // HEAD: the length, no body.
  const head = await fetch('/bytes/1000', { method: 'HEAD' });
  out.head = (head.status === 200 && head.headers.get('content-length') === '1000' && (await bytes(head)) === 0) || head.status;

  if (pauseMs > 0) {
    // A download the page stops reading: its stream window fills and stays
    // shut, the connection window stays open. The connection must live.
    const size = 16 << 20;
    const reader = (await fetch('/bytes/' + size)).body.getReader();
    let read = (await reader.read()).value.length;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const other = (await (await fetch('/bytes/10')).text()).length;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      read += value.length;
    }
    out.paused_download = (read === size && other === 10) || { read, other };
  }
  return out;
}

async function main() {
  const a = args();
  const browser = await puppeteer.launch({
    ...BROWSERS[a.browser],
    headless: true,
    // The test CA is in no browser's store; ALPN and HTTP/2 are as usual.
    acceptInsecureCerts: true,
  });
  try {
    const page = await browser.newPage();
    const first = await page.goto(a.url);
    const protocol = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
    const results = { navigate: first.status() === 200 || first.status(), protocol };
    Object.assign(results, await page.evaluate(steps, a.pause * 1000));
    console.log(JSON.stringify(results));
    const ok = Object.entries(results).every(([k, v]) => (k === 'protocol' ? v === 'h2' : v === true));
    return ok ? 0 : 1;
  } finally {
    await browser.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.log(`FAIL ${e && e.stack}`);
    process.exit(1);
  },
);
