// The IdP's login page, SSO session and logout in a real browser (Debian's
// Chromium through playwright-core), the way airgate's browser tests use them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';

import { pkcePair } from './client.mjs';
import { startIdp, startUpstream } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const skip = fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (install Debian's chromium or set CHROMIUM)`;

let idp;
let up;
let browser;

before(async () => {
  if (skip) return;
  const { chromium } = await import('playwright-core');
  [idp, up] = await Promise.all([startIdp(['--test-api']), startUpstream(['--name', 'landing'])]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  if (browser) await browser.close();
  if (idp) await idp.stop();
  if (up) await up.stop();
});

function authUrl(redirect) {
  const u = new URL(`${idp.info.issuer}/protocol/openid-connect/auth`);
  const q = {
    response_type: 'code',
    client_id: idp.info.client_id,
    redirect_uri: redirect,
    scope: 'openid profile email',
    state: 'st',
    nonce: 'no',
    code_challenge: pkcePair().challenge,
    code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
  return u.href;
}

test('login form, wrong password, SSO session, logout in Chromium', { skip, timeout: 60000 }, async () => {
  const page = await browser.newPage();
  const landing = `http://127.0.0.1:${up.info.port}`;
  const redirect = `${landing}/oauth2/callback`;

  await page.goto(authUrl(redirect));
  assert.match(await page.title(), /Sign in to demo/);
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', 'wrong');
  await page.click('#kc-login');
  assert.equal(await page.textContent('#input-error'), 'Invalid username or password.');
  await page.fill('input[name=password]', 'admin');
  await page.click('#kc-login');
  await page.waitForURL((u) => u.href.startsWith(redirect));
  assert.ok(new URL(page.url()).searchParams.get('code'));

  // The IdP session cookie makes the next authorization silent.
  await page.goto(authUrl(redirect));
  assert.ok(page.url().startsWith(redirect), `no login form the second time, got ${page.url()}`);

  const logout = new URL(`${idp.info.issuer}/protocol/openid-connect/logout`);
  logout.searchParams.set('client_id', idp.info.client_id);
  logout.searchParams.set('post_logout_redirect_uri', `${landing}/after-logout`);
  await page.goto(logout.href);
  assert.equal(page.url(), `${landing}/after-logout`);

  await page.goto(authUrl(redirect));
  assert.ok(await page.isVisible('#kc-login'), 'login form again after logout');
  const s = await (await fetch(`${idp.url}/_test/stats`)).json();
  assert.equal(s.events.login_failed, 1);
  assert.equal(s.events.login_ok, 1);
  assert.equal(s.events.logout, 1);
});
