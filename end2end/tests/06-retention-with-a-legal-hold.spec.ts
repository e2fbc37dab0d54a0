import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { expect, test } from '@playwright/test';
import { auditstoreVerify, loadState, ownerContext, screenshot, waitForHydration, watchForErrors } from './support';

// Journey: a compliance officer places a legal hold on one actor and sees
// what it covers, sets a 30-day retention and archives now: the held
// actor's old events stay, the others become greyed tombstones whose
// inclusion proof still verifies in the browser (a tampered proof does
// not); the archive file downloads and the real `auditstore verify`
// accepts it (an altered copy is refused); releasing the hold lets the
// next run archive the rest.
test('retention archives old events into tombstones, except what a legal hold keeps', async ({ browser, request }) => {
  test.setTimeout(120_000);
  const state = loadState();
  const context = await ownerContext(browser);
  const page = await context.newPage();
  const problems = watchForErrors(page);

  // Events that happened in 2020: three by user_old, two by user_case.
  const old = [
    ['user_old', '2020-01-01'], ['user_case', '2020-01-02'], ['user_old', '2020-01-03'],
    ['user_case', '2020-01-04'], ['user_old', '2020-01-05'],
  ];
  for (const [actor, day] of old) {
    const appended = await request.post(`/v1/ledgers/${state.ledgerId}/events`, {
      headers: { authorization: `Bearer ${state.writeKey}` },
      data: { actor: { type: 'user', id: actor }, action: 'account.closed', resource: { type: 'account', id: `acc_${day}` }, occurred_at: `${day}T09:00:00Z` },
    });
    expect(appended.status()).toBe(201);
  }

  await page.goto(`/ledgers/${state.ledgerId}`);
  await waitForHydration(page);
  await page.locator('main').getByRole('link', { name: 'Legal holds' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Legal holds' })).toBeVisible();
  await waitForHydration(page);
  await page.getByLabel('Case').fill('CASE-7');
  await page.getByLabel('Reason', { exact: true }).fill('litigation hold of 1 Dec');
  await page.getByLabel('Only actor ID').fill('user_case');
  await page.getByRole('button', { name: 'Place the hold' }).click();
  const placed = page.getByRole('status').filter({ hasText: /Hold hold_\w+ placed/ });
  await expect(placed).toBeVisible();
  const holdId = (await placed.innerText()).match(/hold_\w+/)![0];
  const hold = page.locator(`tr[data-hold="${holdId}"]`);
  await expect(hold).toContainText('CASE-7');
  await expect(hold).toContainText('actor_id = user_case');
  await expect(hold.getByTestId('hold-covers')).toHaveText('2 events');
  await screenshot(page, 'legal-holds');

  await page.goto(`/ledgers/${state.ledgerId}/retention`);
  await waitForHydration(page);
  await expect(page.getByTestId('retention-policy')).toContainText('kept forever');
  await page.getByLabel('Keep events for (days)').fill('30');
  await page.getByLabel('Lock').selectOption('unlocked');
  await page.getByRole('button', { name: 'Save the policy' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Events are kept 30 days' })).toBeVisible();
  await expect(page.getByTestId('retention-policy')).toContainText('30 days');
  await page.getByRole('button', { name: 'Archive expired events now' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Archived 3 events into 1 archive file.' })).toContainText(
    `2 expired events are kept by legal holds (${holdId})`,
  );
  const archives = page.getByTestId('archives').locator('tbody tr');
  await expect(archives).toHaveCount(1);
  await expect(archives.first()).toContainText('3 events');
  await screenshot(page, 'retention');

  // The archive file is a verifiable export of what was removed.
  const sha256 = (await archives.first().getByTestId('archive-sha256').innerText()).trim();
  const [download] = await Promise.all([page.waitForEvent('download'), archives.first().getByTestId('archive-download').click()]);
  expect(download.suggestedFilename()).toMatch(new RegExp(`^${state.ledgerId}-arc_\\w+\\.zip$`));
  const bytes = fs.readFileSync((await download.path())!);
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(sha256);
  const key = (await request.get('/v1/checkpoint-key').then((r) => r.text())).trim();
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'archive-')), 'archive.zip');
  fs.writeFileSync(file, bytes);
  const verified = auditstoreVerify(file, key);
  expect(verified.status, verified.stdout).toBe(0);
  expect(verified.stdout).toContain('VERIFIED');
  const altered = Buffer.from(bytes);
  altered[Math.floor(altered.length / 2)] ^= 0x01;
  fs.writeFileSync(file, altered);
  expect(auditstoreVerify(file, key).status).toBe(1);

  // The explorer shows the three as greyed tombstones naming their archive.
  await page.goto(`/ledgers/${state.ledgerId}`);
  await waitForHydration(page);
  const tombstones = page.getByTestId('tombstone');
  await expect(tombstones).toHaveCount(3);
  await expect(tombstones.first()).toContainText(/content archived in arc_\w+/);
  await expect(page.locator('table.events')).toContainText('user:user_case');
  await tombstones.first().getByRole('link').click();
  await expect(page.getByRole('heading', { level: 1, name: /\(tombstone\)$/ })).toBeVisible();
  await expect(page.getByTestId('tombstone-note')).toContainText('arc_');
  await waitForHydration(page);
  await page.getByTestId('verify').click();
  await expect(page.getByTestId('verdict')).toContainText("leaf hash is in the ledger's signed tree");
  const steps = page.getByTestId('steps').locator('li');
  await expect(steps).toHaveCount(4);
  await expect(steps.nth(2)).toContainText('Content archived by retention');
  await screenshot(page, 'tombstone-verified');

  // Its tampered twin: a proof altered on the way fails, loudly.
  await page.route('**/api/event_proof', async (route) => {
    const response = await route.fetch();
    const bundle = await response.json();
    const flip = (h: string) => (h[0] === '0' ? '1' : '0') + h.slice(1);
    if (bundle.proof.length > 0) bundle.proof[0] = flip(bundle.proof[0]);
    else bundle.seq = bundle.seq + 1;
    await route.fulfill({ response, json: bundle });
  });
  await page.getByTestId('verify').click();
  await expect(page.getByTestId('verdict')).toContainText('VERIFICATION FAILED');
  await expect(steps.last()).toHaveAttribute('data-ok', 'false');
  await page.unroute('**/api/event_proof');

  // Released, the hold keeps nothing, and the next run archives the rest.
  await page.goto(`/ledgers/${state.ledgerId}/holds`);
  await waitForHydration(page);
  await hold.getByLabel('Reason for releasing').fill('case closed');
  await hold.getByRole('button', { name: 'Release' }).click();
  await expect(page.getByRole('status').filter({ hasText: `Hold ${holdId} (CASE-7) is released.` })).toBeVisible();
  await expect(hold).toContainText('released');
  await expect(hold.getByTestId('hold-covers')).toHaveText('nothing (released)');
  await page.goto(`/ledgers/${state.ledgerId}/retention`);
  await waitForHydration(page);
  await page.getByRole('button', { name: 'Archive expired events now' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Archived 2 events into 1 archive file.' })).toBeVisible();
  await expect(archives).toHaveCount(2);

  expect(problems).toEqual([]);
  await context.close();
});
