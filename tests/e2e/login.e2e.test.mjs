// airgate's browser login in a real browser: Debian's Chromium, headless, driven by
// playwright-core (never a downloaded browser). Real IdP, real upstream, real airgate.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { startIdp, startUpstream, startGate } from '../integration/login/lib.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const skip = fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (install Debian's chromium or set CHROMIUM)`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let idp;
let up;
let gate;
let chromium;
const dirs = [];

before(async () => {
  if (skip) return;
  ({ chromium } = await import('playwright-core'));
  idp = await startIdp(['--test-api']);
  up = await startUpstream(['--name', 'airflow-standin']);
  gate = await startGate(idp, up, {
    roles: {
      claims: ['resource_access.airflow.roles'],
      map: { airflow_admin: 'Admin', airflow_op: 'Op', airflow_user: 'User', airflow_viewer: 'Viewer', airflow_public: 'Public' },
      unmapped: 'deny',
    },
  });
});

after(async () => {
  await gate?.stop();
  await up?.stop();
  await idp?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

// A fresh browser profile each time, as the brief for these tests says.
async function freshBrowser() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airgate-e2e-'));
  dirs.push(dir);
  return chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: ARGS });
}

async function login(page, user) {
  await page.waitForSelector('form#kc-form-login');
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', user);
  await Promise.all([page.waitForNavigation(), page.click('#kc-login')]);
}

const header = (page, name) => page.locator(`tr:has(th:text-is("${name}")) td`).first().textContent();

test('each demo user signs in and their mapped roles reach the upstream', { skip, timeout: 120000 }, async () => {
  const want = { admin: 'Admin', op: 'Op', user: 'User', viewer: 'Viewer', public: 'Public' };
  for (const [user, role] of Object.entries(want)) {
    const ctx = await freshBrowser(); // eslint-disable-line no-await-in-loop
    try {
      const page = ctx.pages()[0] || await ctx.newPage(); // eslint-disable-line no-await-in-loop
      await page.goto(`${gate.url}/home?tab=dags`); // eslint-disable-line no-await-in-loop
      assert.ok(page.url().startsWith(idp.info.issuer), `${user}: not sent to the IdP (${page.url()})`);
      await login(page, user); // eslint-disable-line no-await-in-loop
      assert.equal(page.url(), `${gate.url}/home?tab=dags`, user);
      assert.equal((await header(page, 'x-airflow-roles')).trim(), role, user); // eslint-disable-line no-await-in-loop
      assert.equal((await header(page, 'x-forwarded-user')).trim(), user); // eslint-disable-line no-await-in-loop
      const cookies = await ctx.cookies(gate.url); // eslint-disable-line no-await-in-loop
      const sess = cookies.find((c) => c.name === '_airgate');
      assert.ok(sess && sess.httpOnly && sess.sameSite === 'Lax', `${user}: session cookie attributes`);
    } finally {
      await ctx.close(); // eslint-disable-line no-await-in-loop
    }
  }
});

test('a user without roles sees the 403 page', { skip, timeout: 60000 }, async () => {
  const ctx = await freshBrowser();
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    await page.goto(`${gate.url}/home`);
    await login(page, 'norole');
    assert.equal(await page.title(), 'Access denied');
    const text = await page.textContent('main');
    assert.match(text, /norole/);
    assert.match(text, /airflow_admin/);
    assert.equal(await page.getAttribute('a.button', 'href'), '/oauth2/logout');
  } finally {
    await ctx.close();
  }
});

test('sign-out ends the IdP session: the next visit asks for the password', { skip, timeout: 60000 }, async () => {
  const ctx = await freshBrowser();
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    await page.goto(`${gate.url}/home`);
    await login(page, 'admin');
    assert.equal((await header(page, 'x-airflow-roles')).trim(), 'Admin');
    await page.goto(`${gate.url}/logout/`);
    await page.waitForURL((u) => u.pathname === '/oauth2/signed-out');
    assert.equal(await page.title(), 'You have signed out');
    assert.ok(!(await ctx.cookies(gate.url)).some((c) => c.name.startsWith('_airgate') && !c.name.startsWith('_airgate_login_')));
    await page.goto(`${gate.url}/home`);
    assert.ok(page.url().startsWith(idp.info.issuer), 'not back at the IdP');
    await page.waitForSelector('input[name=password]'); // the password is asked again
  } finally {
    await ctx.close();
  }
});

test('a tampered session cookie leads back through login', { skip, timeout: 60000 }, async () => {
  const ctx = await freshBrowser();
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    await page.goto(`${gate.url}/home`);
    await login(page, 'viewer');
    const cookies = await ctx.cookies(gate.url);
    const sess = cookies.find((c) => c.name === '_airgate');
    const v = sess.value;
    const tampered = v.slice(0, 30) + (v[30] === 'A' ? 'B' : 'A') + v.slice(31);
    await ctx.addCookies([{ ...sess, value: tampered }]);
    const visited = [];
    page.on('request', (r) => visited.push(r.url()));
    await page.goto(`${gate.url}/home`);
    // the IdP session still exists, so the login completes without a password
    await page.waitForURL(`${gate.url}/home`);
    assert.ok(visited.some((u) => u.startsWith(`${idp.info.issuer}/protocol/openid-connect/auth`)), 'did not pass through the IdP');
    const after2 = (await ctx.cookies(gate.url)).find((c) => c.name === '_airgate');
    assert.ok(after2 && after2.value !== tampered, 'tampered cookie kept');
    assert.equal((await header(page, 'x-airflow-roles')).trim(), 'Viewer');
  } finally {
    await ctx.close();
  }
});
