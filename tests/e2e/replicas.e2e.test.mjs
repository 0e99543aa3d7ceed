// Several replicas sharing state through a real redis-server, in a real browser (Debian's
// Chromium, headless): sign in on one replica, use the others, sign out on one, and every
// replica sends the browser back to the sign-in.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { startIdp, startUpstream, startGate, sleep } from '../integration/login/lib.mjs';
import { startRedis } from '../integration/state/lib.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const skip = !fs.existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM}`
  : !fs.existsSync('/usr/bin/redis-server') ? 'no /usr/bin/redis-server (Debian package redis-server)' : false;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const started = [];
const dirs = [];
after(async () => {
  for (const s of started.reverse()) await s.stop(); // eslint-disable-line no-await-in-loop
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('sign out on one replica signs the browser out on every replica', { skip, timeout: 120000 }, async () => {
  const { chromium } = await import('playwright-core');
  const redis = await startRedis();
  const idp = await startIdp(['--test-api']);
  const up = await startUpstream(['--name', 'airflow-standin']);
  started.push(redis, idp, up);
  const gates = [];
  for (let i = 0; i < 3; i += 1) {
    // eslint-disable-next-line no-await-in-loop
    const g = await startGate(idp, up, { state: { redis_url: redis.url }, log: { level: 'info' } });
    started.push(g);
    gates.push(g);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airgate-e2e-'));
  dirs.push(dir);
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    await page.goto(`${gates[0].url}/home`);
    await page.waitForSelector('form#kc-form-login');
    await page.fill('input[name=username]', 'admin');
    await page.fill('input[name=password]', 'admin');
    await Promise.all([page.waitForNavigation(), page.click('#kc-login')]);
    assert.equal(page.url(), `${gates[0].url}/home`);
    // cookies ignore the port: the same browser is signed in on the other replicas
    for (const g of gates.slice(1)) {
      await page.goto(`${g.url}/home`); // eslint-disable-line no-await-in-loop
      assert.equal(page.url(), `${g.url}/home`, 'served, not sent to the IdP');
    }
    const kept = (await ctx.cookies(gates[0].url)).filter((c) => c.name.startsWith('_airgate'));
    // sign out on replica 2; then put the old cookie back, as a copied cookie would be
    await page.goto(`${gates[1].url}/oauth2/logout`);
    await ctx.addCookies(kept);
    await sleep(200);
    for (const g of [gates[0], gates[2]]) {
      await page.goto(`${g.url}/home`); // eslint-disable-line no-await-in-loop
      assert.ok(page.url().startsWith(idp.info.issuer), `replica ${g.url} still served a signed-out cookie (${page.url()})`);
    }
  } finally {
    await ctx.close();
  }
});
