import { expect, test } from '@playwright/test';
import { codeAt, currentStep, loadState, ownerContext, screenshot, signIn, waitForHydration } from './support';

// Journey: the owner invites an auditor; the auditor joins, enrols TOTP and
// signs in; the keys page offers them no way to create a key, and calling
// the server function directly is refused by the server.
test('an auditor cannot create API keys, in the UI or by calling the server', async ({ browser }) => {
  test.setTimeout(120_000);
  const state = loadState();
  const owner = await ownerContext(browser);
  const ownerPage = await owner.newPage();
  await ownerPage.goto('/users');
  await waitForHydration(ownerPage);
  await ownerPage.getByLabel('Email').fill('auditor@example.com');
  await ownerPage.getByLabel('Role').last().selectOption('auditor');
  await ownerPage.getByRole('button', { name: 'Create invite link' }).click();
  const link = (await ownerPage.getByTestId('invite-link').innerText()).trim();
  await screenshot(ownerPage, 'users-invite');
  const invitePath = new URL(link).pathname + new URL(link).search;

  const auditor = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await auditor.newPage();
  await page.goto(invitePath);
  await waitForHydration(page);
  await expect(page.getByText('with the auditor role')).toBeVisible();
  await screenshot(page, 'invite');
  await page.getByLabel(/Choose a password/).fill(state.password);
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page).toHaveURL(/\/enrol$/);
  await waitForHydration(page);
  await page.getByRole('button', { name: 'Show the QR code' }).click();
  const secret = (await page.getByTestId('totp-secret').innerText()).trim();
  await page.getByLabel('Code shown by the app').fill(codeAt(secret, currentStep() - 1));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('recovery-codes').locator('li')).toHaveCount(10);
  await signIn(page, 'auditor@example.com', state.password, codeAt(secret, currentStep()));

  // The UI: no form to create keys, no rotate or revoke buttons.
  await page.goto('/keys');
  await waitForHydration(page);
  await expect(page.getByRole('heading', { level: 1, name: 'API keys' })).toBeVisible();
  await expect(page.getByText('Only admins and owners can create, rotate or revoke keys.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Create key' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Rotate' })).toHaveCount(0);
  await screenshot(page, 'api-keys-auditor');

  // The server: a direct call with the auditor's own valid session and
  // CSRF token is refused, and no key appears.
  const session = await (await page.request.post('/api/session_info')).json();
  const direct = await page.request.post('/api/create_key', {
    form: { csrf: session.csrf, name: 'sneaky', permission: 'read', ledger: '' },
  });
  expect(direct.status()).toBe(403);
  const keys = await (await page.request.post('/api/list_keys')).json();
  expect(keys.map((k: { name: string }) => k.name)).not.toContain('sneaky');
  // Legal holds, retention and deletion: auditors read them, and nothing more.
  await page.goto('/holds');
  await waitForHydration(page);
  await expect(page.getByRole('heading', { level: 1, name: 'Legal holds' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Place the hold' })).toHaveCount(0);
  await page.goto(`/ledgers/${state.ledgerId}/retention`);
  await waitForHydration(page);
  await expect(page.getByTestId('retention-policy')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Save the policy' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Delete this ledger' })).toHaveCount(0);
  const refused = [
    ['/api/place_hold', { case: 'sneaky', reason: 'r', ledger: '', from: '', to: '', actor: '', resource: '' }],
    ['/api/set_retention', { ledger: state.ledgerId, days: '1', lock: 'unlocked' }],
    ['/api/run_retention_now', { ledger: state.ledgerId }],
    ['/api/schedule_ledger_deletion', { ledger: state.ledgerId, confirm: 'billing' }],
  ] as const;
  for (const [path, form] of refused) {
    const answer = await page.request.post(path, { form: { csrf: session.csrf, ...form } });
    expect(answer.status(), path).toBe(403);
  }
  const lifecycle = await (await page.request.post('/api/ledger_lifecycle', { form: { ledger: state.ledgerId } })).json();
  expect(lifecycle.policy).toBeNull();
  expect(lifecycle.deletion).toBeNull();
  const holds = await (await page.request.post('/api/list_holds', { form: { ledger: '' } })).json();
  expect(holds).toEqual([]);
  // Nor may an auditor see the users page.
  const users = await page.goto('/users');
  expect(users?.status()).toBe(403);
  await owner.close();
  await auditor.close();
});
