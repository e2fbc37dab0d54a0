import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { expect, test } from '@playwright/test';
import {
  auditstoreVerify, codeAt, currentStep, JourneyState, saveOwnerSession, saveState, screenshot, signIn, waitForHydration, watchForErrors,
} from './support';

// Journey: the operator opens the first-run link, creates the owner and
// enrols TOTP, signs in, creates a ledger and a write-only key, ingests an
// event with it over the API, finds it in the explorer with a filter, opens
// it, and verifies it in the browser step by step.
test('first run to a verified event', async ({ page, request }) => {
  test.setTimeout(120_000);
  const problems = watchForErrors(page);
  const setupPath = process.env.AUDITSTORE_SETUP_PATH;
  expect(setupPath, 'scripts/test.sh passes the printed setup link').toBeTruthy();
  const email = 'owner@example.com';
  const password = 'correct horse battery staple';

  await page.goto(setupPath!);
  await waitForHydration(page);
  await expect(page.getByRole('heading', { level: 1, name: 'Set up AuditStore' })).toBeVisible();
  await screenshot(page, 'setup');
  await page.getByLabel('Organisation name').fill('Acme');
  await page.getByLabel('Your email').fill(email);
  await page.getByLabel('Password (at least 12 characters)').fill(password);
  await page.getByRole('button', { name: 'Create the owner account' }).click();

  await expect(page).toHaveURL(/\/enrol$/);
  await waitForHydration(page);
  await page.getByRole('button', { name: 'Show the QR code' }).click();
  await expect(page.getByRole('img', { name: /QR code/ })).toBeVisible();
  const secret = (await page.getByTestId('totp-secret').innerText()).trim();
  await screenshot(page, 'enrol');
  // Enrol with the previous step's code, so the current one is left for signing in.
  const enrolStep = currentStep() - 1;
  await page.getByLabel('Code shown by the app').fill(codeAt(secret, enrolStep));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('recovery-codes').locator('li')).toHaveCount(10);
  await screenshot(page, 'recovery-codes');

  const state: JourneyState = {
    ownerEmail: email, password, ownerSecret: secret, ledgerId: '', eventId: '', writeKey: '',
    usedSteps: { [email]: enrolStep },
  };
  const step = currentStep();
  state.usedSteps[email] = step;
  saveState(state);
  // Confirming the enrolment signs the owner in.
  await page.getByRole('link', { name: 'Continue to your ledgers' }).click();
  await expect(page).toHaveURL(/\/ledgers$/);
  await waitForHydration(page);
  // Sign out, and back in through the form with the next code.
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/login$/);
  await signIn(page, email, password, codeAt(secret, step));
  await waitForHydration(page);
  await screenshot(page, 'ledgers-empty');

  await page.getByLabel('Name').fill('billing');
  await page.getByRole('button', { name: 'Create ledger' }).click();
  const created = page.getByRole('status').filter({ hasText: 'Ledger created' });
  await expect(created).toBeVisible();
  state.ledgerId = (await created.getByRole('link').innerText()).trim();
  await expect(page.getByRole('link', { name: 'billing' })).toBeVisible();

  await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'API keys' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'API keys' })).toBeVisible();
  await waitForHydration(page);
  await page.getByLabel('Name').fill('billing-service');
  await page.getByLabel('Permission').selectOption('write');
  await page.getByLabel('Scope').selectOption(state.ledgerId);
  await page.getByRole('button', { name: 'Create key' }).click();
  const secretShown = page.getByTestId('new-secret');
  await expect(secretShown).toBeVisible();
  state.writeKey = (await secretShown.innerText()).trim();
  await expect(page.locator('tr', { hasText: 'billing-service' })).toContainText('write');
  await screenshot(page, 'api-keys');
  saveState(state);

  // The application ingests over the REST API with the write-only key.
  const appended = await request.post(`/v1/ledgers/${state.ledgerId}/events`, {
    headers: { authorization: `Bearer ${state.writeKey}` },
    data: {
      actor: { type: 'user', id: 'user_42', name: 'Jane Doe' },
      action: 'invoice.paid',
      resource: { type: 'invoice', id: 'inv_1001' },
      occurred_at: new Date().toISOString(),
      metadata: { amount: 1250, currency: 'EUR' },
    },
  });
  expect(appended.status()).toBe(201);
  state.eventId = (await appended.json()).events[0].id;
  saveState(state);
  // A second event that the filter must leave out.
  await request.post(`/v1/ledgers/${state.ledgerId}/events`, {
    headers: { authorization: `Bearer ${state.writeKey}` },
    data: { actor: { type: 'user', id: 'user_7' }, action: 'invoice.created', resource: { type: 'invoice', id: 'inv_1002' }, occurred_at: new Date().toISOString() },
  });

  await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Ledgers' }).click();
  await page.getByRole('link', { name: 'billing' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Events' })).toBeVisible();
  // The filter index trails ingestion by a moment: retry until it finds it.
  await expect(async () => {
    await page.goto(`/ledgers/${state.ledgerId}?actor=user_42&range=24h`);
    await expect(page.locator('table.events tbody tr')).toHaveCount(1);
  }).toPass({ timeout: 20_000 });
  await expect(page.locator('table.events')).toContainText('invoice.paid');
  await expect(page.locator('table.events')).not.toContainText('invoice.created');
  await screenshot(page, 'explorer-filtered');
  // The filter lives in the URL: a reload shows the same page.
  await page.reload();
  await expect(page.locator('table.events tbody tr')).toHaveCount(1);
  await waitForHydration(page);

  await page.locator('table.events tbody tr').first().getByRole('link').click();
  await expect(page.getByRole('heading', { level: 1, name: /Event \d+/ })).toBeVisible();
  await expect(page.locator('dl.details')).toContainText('user:user_42 (Jane Doe)');
  await expect(page.locator('pre.json')).toContainText('"currency": "EUR"');
  await waitForHydration(page);
  await expect(page.getByTestId('server-fingerprint')).toBeVisible();
  await expect(page.getByTestId('pinned-fingerprint')).toHaveText(await page.getByTestId('server-fingerprint').innerText());
  await page.getByTestId('verify').click();
  await expect(page.getByTestId('verdict')).toContainText('Verified');
  const steps = page.getByTestId('steps').locator('li');
  await expect(steps).toHaveCount(4);
  for (let i = 0; i < 4; i++) await expect(steps.nth(i)).toHaveAttribute('data-ok', 'true');
  await screenshot(page, 'event-verified');

  // The evidence file downloads, and the real `auditstore verify` accepts it
  // offline with the key the page shows; the same file altered is refused.
  await page.getByTestId('evidence').click();
  const link = page.getByTestId('evidence-download');
  await expect(link).toBeVisible();
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  expect(download.suggestedFilename()).toBe(`${state.ledgerId}-${state.eventId}.tlog-proof`);
  const evidence = fs.readFileSync((await download.path())!, 'utf8');
  expect(evidence.startsWith('c2sp.org/tlog-proof@v1\nextra ')).toBe(true);
  const key = (await request.get('/v1/checkpoint-key').then((r) => r.text())).trim();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evidence-'));
  const file = path.join(dir, 'event.tlog-proof');
  fs.writeFileSync(file, evidence);
  const verified = auditstoreVerify(file, key);
  expect(verified.status, verified.stdout).toBe(0);
  expect(verified.stdout).toContain('VERIFIED');
  fs.writeFileSync(file, evidence.replace(/\nindex (\d+)\n/, (_, n) => `\nindex ${Number(n) + 1}\n`));
  const refused = auditstoreVerify(file, key);
  expect(refused.status, refused.stdout).toBe(1);
  expect(refused.stdout).toContain('NOT VERIFIED');

  await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'System log' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'System log' })).toBeVisible();
  await expect(page.locator('table.events')).toContainText('api_key.created');
  await expect(page.locator('table.events')).toContainText('user.signed_in');
  await screenshot(page, 'system-log');
  await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Users' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
  await screenshot(page, 'users');

  await saveOwnerSession(page.context());
  // Full page loads after signing in cancel the previous page's requests
  // still in flight (the browser reports them as aborted); nothing else may fail.
  expect(problems.filter((p) => !p.includes('net::ERR_ABORTED'))).toEqual([]);
});
